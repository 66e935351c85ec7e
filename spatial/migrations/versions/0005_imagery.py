"""imagery: the scene table of multi-scene, time-enabled imagery layers

Imagery layers published before this revision have no scene rows: readers treat such a layer
as one scene (its catalog row's file, time and extent), and the first scene added to it
records the existing file as a scene of its own.

Revision ID: 0005_imagery
Revises: 0001
Create Date: 2026-11-23 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0005_imagery"
down_revision = "0001"
branch_labels = ("imagery",)
depends_on = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS imagery")
    op.create_geospatial_table(
        "scene",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("layer_id", sa.String(length=63), nullable=False),
        sa.Column("scene_id", sa.String(length=63), nullable=False),
        sa.Column("acquired", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sensor", sa.Text(), nullable=True),
        sa.Column("cloud_percent", sa.Float(), nullable=True),
        sa.Column("quality", sa.Text(), nullable=False),
        sa.Column("crs", sa.Text(), nullable=False),
        sa.Column("resolution", sa.Float(), nullable=False),
        sa.Column("resolution_unit", sa.String(length=16), nullable=False),
        sa.Column("band_count", sa.Integer(), nullable=False),
        sa.Column("bands", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "footprint",
            Geometry(geometry_type="MULTIPOLYGON", srid=4326, dimension=2, spatial_index=False,
                     from_text="ST_GeomFromEWKT", name="geometry", nullable=False),
            nullable=False,
        ),  # fmt: skip
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("attributes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),  # fmt: skip
        sa.CheckConstraint("scene_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'", name=op.f("ck_scene_scene_slug")),
        sa.CheckConstraint(
            "cloud_percent IS NULL OR (cloud_percent >= 0 AND cloud_percent <= 100)",
            name=op.f("ck_scene_cloud_range"),
        ),
        sa.ForeignKeyConstraint(["layer_id"], ["catalog.layer.id"], name=op.f("fk_scene_layer_id"),
                                ondelete="CASCADE"),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scene")),
        sa.UniqueConstraint("layer_id", "scene_id", name="uq_scene_layer_scene"),
        schema="imagery",
    )
    op.create_index("ix_scene_footprint_gist", "scene", ["footprint"], unique=False,
                    schema="imagery", postgresql_using="gist")  # fmt: skip
    op.create_index("ix_scene_layer_acquired", "scene", ["layer_id", "acquired"], unique=False,
                    schema="imagery")  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_scene_layer_acquired", table_name="scene", schema="imagery")
    op.drop_index("ix_scene_footprint_gist", table_name="scene", schema="imagery",
                  postgresql_using="gist")  # fmt: skip
    op.drop_geospatial_table("scene", schema="imagery")
    op.execute("DROP SCHEMA IF EXISTS imagery")
