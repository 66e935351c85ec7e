"""location codes: ``basemap.plate``, coded plates on street furniture (路灯贴牌)

One row per plate of the current base map: its code (``XFDL-012-L-7``: road code, pole
number, side, ISO 7064 MOD 37,36 check character; ``spatial.plates.scheme``), the road it
stands on, the pole number and side, and its point. Rebuilt with each city load.

Revision ID: 0011_plates
Revises: 0010_dispatch
Create Date: 2026-12-05 14:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0011_plates"
down_revision = "0010_dispatch"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_geospatial_table(
        "plate",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("road_code", sa.String(length=8), nullable=False),
        sa.Column("pole", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=1), nullable=False),
        sa.Column("road_name_zh", sa.Text(), nullable=False),
        sa.Column("road_name_en", sa.Text(), nullable=False),
        sa.Column("road_id", sa.BigInteger(), nullable=True),
        sa.Column("district_code", sa.String(length=12), nullable=True),
        sa.Column("offset_m", sa.Float(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),  # fmt: skip
        sa.CheckConstraint("side IN ('L', 'R')", name=op.f("ck_plate_side")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plate")),
        sa.UniqueConstraint("code", name=op.f("uq_plate_code")),
        schema="basemap",
    )
    op.create_index(op.f("ix_plate_road_code"), "plate", ["road_code"], schema="basemap")
    op.execute("CREATE INDEX ix_plate_geom_gist ON basemap.plate USING gist (geom)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS basemap.ix_plate_geom_gist")
    op.drop_index(op.f("ix_plate_road_code"), table_name="plate", schema="basemap")
    op.drop_geospatial_table("plate", schema="basemap")
