"""network: the prepared road graph (schema ``network``), built once per road-network version

- ``network.node`` / ``network.edge``: the graph of ``basemap.road`` (end points → nodes, one
  directed, timed edge per segment), built by ``spatial.network.prepared.ensure_graph``.
- ``network.graph``: the one row describing the built graph (road version and stamp, size).
- ``network.road_stamp``: bumped by a statement trigger on every INSERT/UPDATE/DELETE/TRUNCATE
  of ``basemap.road`` (a city load or a rollback), in the writer's transaction: the graph is
  rebuilt on the next request after such a write commits.
- ``network.speed_factor``: optional time-of-day speed factors (road class or '*', hour, factor).

Revision ID: 0009_network
Revises: 0008_incident_verifier
Create Date: 2026-12-05 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0009_network"
down_revision = "0008_incident_verifier"
branch_labels = None
depends_on = None

STAMP_TRIGGER = """
CREATE FUNCTION network.bump_road_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE network.road_stamp SET stamp = stamp + 1 WHERE id = 1;
    RETURN NULL;
END $$;
CREATE TRIGGER road_stamp_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON basemap.road
    FOR EACH STATEMENT EXECUTE FUNCTION network.bump_road_stamp();
"""


def geometry(kind: str) -> Geometry:
    return Geometry(geometry_type=kind, srid=4326, dimension=2, spatial_index=False,
                    from_text="ST_GeomFromEWKT", name="geometry", nullable=False)  # fmt: skip


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS network")
    op.create_geospatial_table(
        "node",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("geom", geometry("POINT"), nullable=False),
        sa.Column("routable", sa.Boolean(), server_default="false", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_node")),
        schema="network",
    )
    op.create_index("ix_node_geom_gist", "node", ["geom"], unique=False, schema="network",
                    postgresql_using="gist")  # fmt: skip
    op.create_geospatial_table(
        "edge",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("road_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.BigInteger(), nullable=False),
        sa.Column("target", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("reverse_cost", sa.Float(), nullable=False),
        sa.Column("length_m", sa.Float(), nullable=False),
        sa.Column("road_class", sa.String(length=16), nullable=False),
        sa.Column("geom", geometry("LINESTRING"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edge")),
        schema="network",
    )
    op.create_index("ix_edge_geom_gist", "edge", ["geom"], unique=False, schema="network",
                    postgresql_using="gist")  # fmt: skip
    op.create_index("ix_edge_source", "edge", ["source"], unique=False, schema="network")
    op.create_index("ix_edge_target", "edge", ["target"], unique=False, schema="network")
    op.create_table(
        "graph",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("road_version", sa.Integer(), nullable=True),
        sa.Column("road_stamp", sa.BigInteger(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),  # fmt: skip
        sa.Column("nodes", sa.Integer(), nullable=False),
        sa.Column("edges", sa.Integer(), nullable=False),
        sa.Column("routable_nodes", sa.Integer(), nullable=False),
        sa.Column("build_seconds", sa.Float(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_graph_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_graph")),
        schema="network",
    )
    op.create_table(
        "road_stamp",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("stamp", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_road_stamp_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_road_stamp")),
        schema="network",
    )
    op.execute("INSERT INTO network.road_stamp (id, stamp) VALUES (1, 1)")
    op.create_table(
        "speed_factor",
        sa.Column("road_class", sa.String(length=16), nullable=False),
        sa.Column("hour", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("factor", sa.Float(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint("hour BETWEEN 0 AND 23", name=op.f("ck_speed_factor_hour_range")),
        sa.CheckConstraint("factor > 0 AND factor <= 4", name=op.f("ck_speed_factor_factor_range")),
        sa.PrimaryKeyConstraint("road_class", "hour", name=op.f("pk_speed_factor")),
        schema="network",
    )
    op.execute(STAMP_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS road_stamp_bump ON basemap.road")
    op.execute("DROP FUNCTION IF EXISTS network.bump_road_stamp()")
    for table in ("speed_factor", "road_stamp", "graph"):
        op.drop_table(table, schema="network")
    op.drop_index("ix_edge_target", table_name="edge", schema="network")
    op.drop_index("ix_edge_source", table_name="edge", schema="network")
    op.drop_geospatial_table("edge", schema="network")
    op.drop_geospatial_table("node", schema="network")
    op.execute("DROP SCHEMA IF EXISTS network CASCADE")
