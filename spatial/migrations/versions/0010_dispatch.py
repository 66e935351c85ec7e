"""dispatch (119/120/110): units, calls, assignments and the append-only dispatch event log

Schema ``emergency`` (shared with the other emergency modules: created if missing, dropped on
the way down only when empty). ``dispatch_event`` rows are facts: a trigger refuses UPDATE,
DELETE and TRUNCATE.

Revision ID: 0010_dispatch
Revises: 0009_network
Create Date: 2026-12-05 14:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0010_dispatch"
down_revision = "0009_network"
branch_labels = None
depends_on = None

SCHEMA = "emergency"
SERVICES = "('119', '120', '110')"

IMMUTABLE_EVENTS = """
CREATE FUNCTION emergency.refuse_dispatch_event_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'dispatch events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER dispatch_event_immutable BEFORE UPDATE OR DELETE ON emergency.dispatch_event
    FOR EACH ROW EXECUTE FUNCTION emergency.refuse_dispatch_event_change();
CREATE TRIGGER dispatch_event_no_truncate BEFORE TRUNCATE ON emergency.dispatch_event
    FOR EACH STATEMENT EXECUTE FUNCTION emergency.refuse_dispatch_event_change();
"""
DROP_SCHEMA_IF_EMPTY = """
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = 'emergency') THEN
        DROP SCHEMA IF EXISTS emergency;
    END IF;
END $$;
"""


def _point() -> Geometry:
    return Geometry(geometry_type="POINT", srid=4326, dimension=2, spatial_index=False,
                    from_text="ST_GeomFromEWKT", name="geometry")  # fmt: skip


def _now() -> sa.Column:
    return sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False)


def upgrade() -> None:
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    op.create_geospatial_table(
        "unit",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("call_sign", sa.String(length=32), nullable=False),
        sa.Column("unit_type", sa.String(length=16), nullable=False),
        sa.Column("service", sa.String(length=3), nullable=False),
        sa.Column("department_code", sa.String(length=32), nullable=False),
        sa.Column("station", sa.Text(), nullable=True),
        sa.Column("base", _point(), nullable=False),
        sa.Column("position", _point(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _now(),
        sa.CheckConstraint(f"service IN {SERVICES}", name=op.f("ck_unit_service")),
        sa.CheckConstraint("unit_type IN ('engine', 'ladder', 'rescue', 'tanker', 'ambulance', 'police')",
                           name=op.f("ck_unit_unit_type")),  # fmt: skip
        sa.CheckConstraint("status IN ('available', 'en_route', 'on_scene', 'returning', 'out_of_service')",
                           name=op.f("ck_unit_status")),  # fmt: skip
        sa.ForeignKeyConstraint(["department_code"], ["catalog.department.code"],
                                name=op.f("fk_unit_department_code")),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unit")),
        sa.UniqueConstraint("call_sign", name=op.f("uq_unit_call_sign")),
        schema=SCHEMA,
    )
    op.create_index("ix_unit_base_gist", "unit", ["base"], schema=SCHEMA, postgresql_using="gist")
    op.create_index("ix_unit_position_gist", "unit", ["position"], schema=SCHEMA, postgresql_using="gist")
    op.create_index(op.f("ix_unit_department_code"), "unit", ["department_code"], schema=SCHEMA)
    op.create_geospatial_table(
        "call",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("service", sa.String(length=3), nullable=False),
        sa.Column("call_type", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("geom", _point(), nullable=False),
        sa.Column("located_by", sa.String(length=16), nullable=False),
        sa.Column("given_text", sa.Text(), nullable=False),
        sa.Column("place", sa.Text(), nullable=True),
        sa.Column("cell_code", sa.String(length=15), nullable=True),
        sa.Column("street_code", sa.String(length=12), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_by", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"service IN {SERVICES}", name=op.f("ck_call_service")),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_call_status")),
        sa.CheckConstraint("located_by IN ('address', 'coordinates', 'grid_cell', 'location_code')",
                           name=op.f("ck_call_located_by")),  # fmt: skip
        sa.CheckConstraint("priority BETWEEN 1 AND 5", name=op.f("ck_call_priority")),
        sa.CheckConstraint("outcome IS NULL OR outcome IN ('resolved', 'cancelled')", name=op.f("ck_call_outcome")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call")),
        schema=SCHEMA,
    )
    op.create_index("ix_call_geom_gist", "call", ["geom"], schema=SCHEMA, postgresql_using="gist")
    op.create_index("ix_call_received_at", "call", ["received_at"], schema=SCHEMA)
    op.create_table(
        "assignment",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("call_id", sa.BigInteger(), nullable=False),
        sa.Column("unit_id", sa.BigInteger(), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("on_scene_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("eta_seconds", sa.Float(), nullable=True),
        sa.Column("distance_m", sa.Float(), nullable=True),
        sa.Column("dispatched_by", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["emergency.call.id"], name=op.f("fk_assignment_call_id")),
        sa.ForeignKeyConstraint(["unit_id"], ["emergency.unit.id"], name=op.f("fk_assignment_unit_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignment")),
        schema=SCHEMA,
    )
    op.create_index(op.f("ix_assignment_call_id"), "assignment", ["call_id"], schema=SCHEMA)
    op.create_index(op.f("ix_assignment_unit_id"), "assignment", ["unit_id"], schema=SCHEMA)
    op.create_table(
        "dispatch_event",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("call_id", sa.BigInteger(), nullable=True),
        sa.Column("unit_id", sa.BigInteger(), nullable=True),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(["call_id"], ["emergency.call.id"], name=op.f("fk_dispatch_event_call_id")),
        sa.ForeignKeyConstraint(["unit_id"], ["emergency.unit.id"], name=op.f("fk_dispatch_event_unit_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_event")),
        schema=SCHEMA,
    )
    op.create_index(op.f("ix_dispatch_event_call_id"), "dispatch_event", ["call_id"], schema=SCHEMA)
    op.create_index(op.f("ix_dispatch_event_unit_id"), "dispatch_event", ["unit_id"], schema=SCHEMA)
    op.execute(IMMUTABLE_EVENTS)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS emergency.dispatch_event, emergency.assignment, emergency.call, emergency.unit")
    op.execute("DROP FUNCTION IF EXISTS emergency.refuse_dispatch_event_change()")
    op.execute(DROP_SCHEMA_IF_EMPTY)
