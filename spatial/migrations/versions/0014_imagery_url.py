"""imagery by URL: a scene's COG may live behind HTTP or in S3-style object storage

``imagery.scene.url`` (http://, https:// or s3://; NULL for a file under the imagery folder)
and ``etag`` (the object's ETag at registration). For a remote scene ``path`` holds GDAL's
name for the object (``/vsicurl/<url>``, ``/vsis3/<bucket>/<key>``).

Revision ID: 0014_imagery_url
Revises: 0013_incident_partitions
Create Date: 2026-12-05 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_imagery_url"
down_revision = "0013_incident_partitions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("scene", sa.Column("url", sa.Text(), nullable=True), schema="imagery")
    op.add_column("scene", sa.Column("etag", sa.Text(), nullable=True), schema="imagery")
    op.create_check_constraint(
        op.f("ck_scene_url_scheme"), "scene", "url IS NULL OR url ~ '^(https?|s3)://'", schema="imagery"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_scene_url_scheme"), "scene", schema="imagery", type_="check")
    op.drop_column("scene", "etag", schema="imagery")
    op.drop_column("scene", "url", schema="imagery")
