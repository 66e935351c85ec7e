"""layer identity: catalog.layer.uid, and feature history keyed by it (audit.feature_change.layer_uid)

A layer's name can be reused once the layer is removed; its history must not be. Every layer
gets a ``uid`` (a new one per created layer, kept by replaces), and history rows reference it.

Backfill: a history row belongs to the layer now carrying its name only when it was written
at or after that layer's creation (``catalog.layer.created_at``); older rows were written for a
layer since removed, and keep ``layer_uid`` NULL: nobody's history.

Revision ID: 0006_layer_identity
Revises: 0002_access
Create Date: 2026-12-05 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006_layer_identity"
down_revision = "0002_access"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "layer",
        sa.Column("uid", postgresql.UUID(as_uuid=False), server_default=sa.text("gen_random_uuid()"),
                  nullable=False),  # fmt: skip
        schema="catalog",
    )
    op.create_unique_constraint(op.f("uq_layer_uid"), "layer", ["uid"], schema="catalog")
    op.add_column(
        "feature_change", sa.Column("layer_uid", postgresql.UUID(as_uuid=False), nullable=True),
        schema="audit",
    )
    op.execute(
        "UPDATE audit.feature_change f SET layer_uid = l.uid FROM catalog.layer l "
        "WHERE l.id = f.layer_id AND f.at >= l.created_at"
    )
    op.create_index("ix_feature_change_uid_at", "feature_change", ["layer_uid", "at"], schema="audit")
    op.create_index("ix_feature_change_uid_feature", "feature_change", ["layer_uid", "feature_id", "at"],
                    schema="audit")  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_feature_change_uid_feature", table_name="feature_change", schema="audit")
    op.drop_index("ix_feature_change_uid_at", table_name="feature_change", schema="audit")
    op.drop_column("feature_change", "layer_uid", schema="audit")
    op.drop_constraint(op.f("uq_layer_uid"), "layer", schema="catalog", type_="unique")
    op.drop_column("layer", "uid", schema="catalog")
