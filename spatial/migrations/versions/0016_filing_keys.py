"""filing keys: a filing sent again with the same Idempotency-Key gives the same incident

The inspector's phone keeps a report in its outbox until it sees the 201; when the answer is
lost on the way (the network drops after the commit) it sends the report again. Each report
carries a key made on the phone; ``incidents.filing_key`` remembers, per caller, the key, a
fingerprint of the report and the answer, so the second send is answered with the first
incident instead of filing a second one (``spatial.incidents.filing_keys``).

Revision ID: 0016_filing_keys
Revises: 0015_token_notify
Create Date: 2026-12-05 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0016_filing_keys"
down_revision = "0015_token_notify"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "filing_key",
        sa.Column("caller", sa.Text(), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("incident_id", sa.BigInteger(), nullable=True),
        sa.Column("answer", JSONB(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("caller", "key"),
        schema="incidents",
    )


def downgrade() -> None:
    op.drop_table("filing_key", schema="incidents")
