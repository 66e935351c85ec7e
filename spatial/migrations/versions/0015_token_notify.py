"""token caches hear every change of access.token, plain SQL included

The API processes keep the tokens they have looked up (``spatial.access.tokens.TokenCache``).
``revoke_tokens`` tells them itself and waits for their acknowledgement; this statement-level
trigger also tells them when an operator revokes, re-roles or deletes tokens with plain SQL,
so such a change reaches every cache as soon as it commits (the caches clear on any notice).

Revision ID: 0015_token_notify
Revises: 0014_imagery_url
Create Date: 2026-12-05 17:45:00
"""

from __future__ import annotations

from alembic import op

revision = "0015_token_notify"
down_revision = "0014_imagery_url"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION access.token_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('onemap_token', 'table:' || TG_OP);
            RETURN NULL;
        END $$;
        CREATE TRIGGER token_changed AFTER UPDATE OR DELETE OR TRUNCATE ON access.token
            FOR EACH STATEMENT EXECUTE FUNCTION access.token_changed();
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER token_changed ON access.token; DROP FUNCTION access.token_changed()")
