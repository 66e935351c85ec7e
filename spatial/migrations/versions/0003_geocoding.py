"""geocoding: searchable forms of the address layer (address_search, place_search) with pg_trgm

Revision ID: 0003_geocoding
Revises: 0001
Create Date: 2026-11-22 15:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0003_geocoding"
down_revision = "0001"
branch_labels = ("geocoding",)
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "address_search",
        sa.Column("address_id", sa.BigInteger(), nullable=False),
        sa.Column("lang", sa.String(length=2), nullable=False),
        sa.Column("road_key", sa.Text(), nullable=False),
        sa.Column("number_key", sa.String(length=32), nullable=False),
        sa.Column("number_int", sa.Integer(), nullable=True),
        sa.Column("building", sa.String(length=16), nullable=True),
        sa.Column("unit", sa.String(length=32), nullable=True),
        sa.Column("postcode", sa.String(length=16), nullable=True),
        sa.Column("locality_key", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["address_id"], ["basemap.address.id"], name=op.f("fk_address_search_address_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("address_id", "lang", name=op.f("pk_address_search")),
        schema="basemap",
    )
    op.create_index(
        "ix_address_search_road_key_number_int", "address_search", ["road_key", "number_int"],
        schema="basemap",
    )
    op.create_geospatial_table(
        "place_search",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("lang", sa.String(length=2), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("fuzzy_key", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("ref", sa.Text(), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=True),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column(
            "geom",
            Geometry(geometry_type="POINT", srid=4326, dimension=2, spatial_index=False,
                     from_text="ST_GeomFromEWKT", name="geometry", nullable=False),
            nullable=False,
        ),
        sa.CheckConstraint(
            "level IN ('road', 'district', 'subdistrict', 'community', 'poi')",
            name=op.f("ck_place_search_level"),
        ),
        sa.CheckConstraint("kind IN ('name', 'alias', 'former')", name=op.f("ck_place_search_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_place_search")),
        schema="basemap",
    )
    op.create_index(
        "ix_place_search_fuzzy_key_trgm", "place_search", ["fuzzy_key"], schema="basemap",
        postgresql_using="gin", postgresql_ops={"fuzzy_key": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_place_search_key_prefix", "place_search", ["key"], schema="basemap",
        postgresql_ops={"key": "text_pattern_ops"},
    )
    op.create_index(
        "ix_place_search_geom_gist", "place_search", ["geom"], schema="basemap",
        postgresql_using="gist",
    )


def downgrade() -> None:
    op.drop_index("ix_place_search_geom_gist", table_name="place_search", schema="basemap")
    op.drop_index("ix_place_search_key_prefix", table_name="place_search", schema="basemap")
    op.drop_index("ix_place_search_fuzzy_key_trgm", table_name="place_search", schema="basemap")
    op.drop_geospatial_table("place_search", schema="basemap")
    op.drop_index("ix_address_search_road_key_number_int", table_name="address_search", schema="basemap")
    op.drop_table("address_search", schema="basemap")
