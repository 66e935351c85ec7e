"""network: the prepared road graph (schema ``network``), built once per road-network version

- ``network.node`` / ``network.edge``: the graph of ``basemap.road`` (end points → nodes, one
  directed, timed edge per segment), built by ``spatial.network.prepared.ensure_graph``.
- ``network.graph``: the one row describing the built graph (road version and stamp, size).
- ``network.road_stamp``: bumped by a statement trigger on every INSERT/UPDATE/DELETE/TRUNCATE
  of ``basemap.road`` (a city load or a rollback), in the writer's transaction.
- ``network.rebuild_graph()``: builds the graph from ``basemap.road`` (one SQL function, used by
  ``spatial.network.prepared``); a deferred constraint trigger on ``basemap.road`` calls it once
  at the commit of any transaction that wrote roads (when pgRouting is installed), so a city load,
  a rollback or an edit commits with its graph. A graph left stale (roads truncated and nothing
  written after, pgRouting added later) is rebuilt by the next request.
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
REBUILD = """
CREATE FUNCTION network.rebuild_graph() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    started timestamptz := clock_timestamp();
    n_nodes integer;
    n_edges integer;
    n_routable integer := 0;
BEGIN
    DELETE FROM network.edge;
    DELETE FROM network.node;
    INSERT INTO network.node (id, geom, routable)
    SELECT row_number() OVER (ORDER BY x, y), ST_SetSRID(ST_MakePoint(x, y), 4326), false
    FROM (SELECT ST_X(ST_StartPoint(geom)) AS x, ST_Y(ST_StartPoint(geom)) AS y FROM basemap.road
          UNION SELECT ST_X(ST_EndPoint(geom)), ST_Y(ST_EndPoint(geom)) FROM basemap.road) AS ends;
    ANALYZE network.node;
    INSERT INTO network.edge (id, road_id, source, target, cost, reverse_cost, length_m, road_class, geom)
    SELECT r.id, r.id, a.id, b.id,
           CASE WHEN r.oneway = -1 THEN -1 ELSE r.seconds END,
           CASE WHEN r.oneway = 1 THEN -1 ELSE r.seconds END,
           r.length_m, r.road_class, r.geom
    FROM (
        SELECT id, oneway, road_class, geom, length_m,
               length_m / (greatest(speed_kmh, 1) / 3.6) AS seconds,
               ST_X(ST_StartPoint(geom)) AS x0, ST_Y(ST_StartPoint(geom)) AS y0,
               ST_X(ST_EndPoint(geom)) AS x1, ST_Y(ST_EndPoint(geom)) AS y1
        FROM (SELECT *, ST_Length(geom::geography) AS length_m FROM basemap.road) AS measured
    ) AS r
    JOIN network.node a ON ST_X(a.geom) = r.x0 AND ST_Y(a.geom) = r.y0
    JOIN network.node b ON ST_X(b.geom) = r.x1 AND ST_Y(b.geom) = r.y1;
    SELECT count(*) INTO n_edges FROM network.edge;
    IF n_edges > 0 THEN
        WITH c AS (SELECT component, node FROM pgr_strongComponents(
            'SELECT id, source, target, cost, reverse_cost FROM network.edge'))
        UPDATE network.node n SET routable = true FROM c
        WHERE c.node = n.id AND c.component = (
            SELECT component FROM c GROUP BY component ORDER BY count(*) DESC, component LIMIT 1);
    END IF;
    ANALYZE network.node;
    ANALYZE network.edge;
    SELECT count(*), count(*) FILTER (WHERE routable) INTO n_nodes, n_routable FROM network.node;
    INSERT INTO network.graph (id, road_version, road_stamp, built_at, nodes, edges, routable_nodes,
                               build_seconds)
    VALUES (1, (SELECT id FROM basemap.version WHERE is_current),
            (SELECT stamp FROM network.road_stamp WHERE id = 1), now(), n_nodes, n_edges, n_routable,
            extract(epoch FROM clock_timestamp() - started))
    ON CONFLICT (id) DO UPDATE SET road_version = EXCLUDED.road_version,
        road_stamp = EXCLUDED.road_stamp, built_at = EXCLUDED.built_at, nodes = EXCLUDED.nodes,
        edges = EXCLUDED.edges, routable_nodes = EXCLUDED.routable_nodes,
        build_seconds = EXCLUDED.build_seconds;
END $$;
CREATE FUNCTION network.rebuild_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('onemap.network_built', true) = txid_current()::text THEN
        RETURN NULL;  -- once per transaction: the first of the deferred row events rebuilds
    END IF;
    PERFORM set_config('onemap.network_built', txid_current()::text, true);
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pgrouting') THEN
        PERFORM pg_advisory_xact_lock(hashtext('onemap-network-graph'));
        PERFORM network.rebuild_graph();
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER road_graph_rebuild AFTER INSERT OR UPDATE OR DELETE ON basemap.road
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION network.rebuild_at_commit();
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
    op.execute(REBUILD)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS road_graph_rebuild ON basemap.road")
    op.execute("DROP TRIGGER IF EXISTS road_stamp_bump ON basemap.road")
    op.execute("DROP FUNCTION IF EXISTS network.rebuild_at_commit()")
    op.execute("DROP FUNCTION IF EXISTS network.rebuild_graph()")
    op.execute("DROP FUNCTION IF EXISTS network.bump_road_stamp()")
    for table in ("speed_factor", "road_stamp", "graph"):
        op.drop_table(table, schema="network")
    op.drop_index("ix_edge_target", table_name="edge", schema="network")
    op.drop_index("ix_edge_source", table_name="edge", schema="network")
    op.drop_geospatial_table("edge", schema="network")
    op.drop_geospatial_table("node", schema="network")
    op.execute("DROP SCHEMA IF EXISTS network CASCADE")
