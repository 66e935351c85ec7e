"""incidents: the named inspector of 核查 (``incident.verifier``), and a notification per event

- ``incidents.incident.verifier``: the principal name of the inspector the supervision centre
  assigned the verification to (``assign_verifier``); NULL: any inspector may verify.
- every new ``incidents.incident_event`` row sends ``NOTIFY onemap_incident_event`` with
  ``{"event_id", "incident_id", "action", "state", "at"}`` from a trigger: it goes out when the
  transaction commits (never for one rolled back), whichever code path appended the event
  (filing or a transition). ``GET /api/v1/supervision/stream`` listens to it.

Revision ID: 0008_incident_verifier
Revises: 0007_city
Create Date: 2026-12-05 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_incident_verifier"
down_revision = "0007_city"
branch_labels = None
depends_on = None

NOTIFY = """
CREATE FUNCTION incidents.notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('onemap_incident_event', json_build_object(
        'event_id', NEW.id, 'incident_id', NEW.incident_id, 'action', NEW.action,
        'state', NEW.to_state, 'at', NEW.at)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER incident_event_notify AFTER INSERT ON incidents.incident_event
    FOR EACH ROW EXECUTE FUNCTION incidents.notify_event();
"""


def upgrade() -> None:
    op.add_column("incident", sa.Column("verifier", sa.Text(), nullable=True), schema="incidents")
    op.execute(NOTIFY)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS incident_event_notify ON incidents.incident_event")
    op.execute("DROP FUNCTION IF EXISTS incidents.notify_event()")
    op.drop_column("incident", "verifier", schema="incidents")
