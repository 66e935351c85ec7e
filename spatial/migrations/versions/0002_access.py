"""access: bearer tokens (schema access) and feature history (audit.feature_change)

Revision ID: 0002_access
Revises: 0001
Create Date: 2026-11-22 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002_access"
down_revision = "0001"
branch_labels = ("access",)
depends_on = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS access")
    op.create_table(
        "token",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("department_code", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('admin', 'editor', 'inspector', 'viewer')", name=op.f("ck_token_role")
        ),
        sa.ForeignKeyConstraint(
            ["department_code"], ["catalog.department.code"], name=op.f("fk_token_department_code")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_token")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_token_secret_hash")),
        schema="access",
    )
    op.create_index(op.f("ix_token_name"), "token", ["name"], unique=False, schema="access")
    op.create_index(
        op.f("ix_token_department_code"), "token", ["department_code"], unique=False, schema="access"
    )
    op.create_table(
        "feature_change",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("layer_id", sa.String(length=63), nullable=False),
        sa.Column("feature_id", sa.Text(), nullable=True),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("department_code", sa.String(length=32), nullable=True),
        sa.Column("token_id", sa.BigInteger(), nullable=True),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.CheckConstraint(
            "operation IN ('create', 'update', 'delete', 'replace')",
            name=op.f("ck_feature_change_operation"),
        ),
        sa.CheckConstraint(
            "path IN ('ogc', 'rest', 'cli', 'rollback')", name=op.f("ck_feature_change_path")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_change")),
        schema="audit",
    )
    op.create_index(
        "ix_feature_change_layer_at", "feature_change", ["layer_id", "at"], schema="audit"
    )
    op.create_index(
        "ix_feature_change_layer_feature",
        "feature_change",
        ["layer_id", "feature_id", "at"],
        schema="audit",
    )


def downgrade() -> None:
    op.drop_index("ix_feature_change_layer_feature", table_name="feature_change", schema="audit")
    op.drop_index("ix_feature_change_layer_at", table_name="feature_change", schema="audit")
    op.drop_table("feature_change", schema="audit")
    op.drop_index(op.f("ix_token_department_code"), table_name="token", schema="access")
    op.drop_index(op.f("ix_token_name"), table_name="token", schema="access")
    op.drop_table("token", schema="access")
    op.execute("DROP SCHEMA IF EXISTS access CASCADE")
