"""Tables of the incidents module (schema ``incidents``): categories, routing rules, incidents,
their photos and the immutable event log, and the public copy without personal data.

``incident_event`` rows can be inserted, never changed or deleted (a trigger refuses it);
``incident_public`` is kept by a trigger on ``incident`` and carries nothing about the reporter.

``incident``, ``incident_public`` (by ``reported_at``) and ``incident_event`` (by ``at``) are
partitioned by month (migration 0013; partitions in schema ``incidents_part``, see
``spatial.incidents.partitions``): their primary keys hold the partition key, and the references
into them are kept by triggers, not foreign keys. ``kpi_rollup`` holds the KPI counters the event
log keeps up to date (``spatial.incidents.rollups``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, DOUBLE_PRECISION, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from spatial.models import Base, geometry, gist
from spatial.models import created_at as stamped_now

SCHEMA = "incidents"
KINDS = ("component", "event")
SOURCES = ("inspector", "hotline", "public", "video")
STATES = (
    "reported", "registered", "not_registered", "dispatched", "handling", "returned", "handled",
    "verified", "closed", "suspended", "merged",
)  # fmt: skip


def timestamp(nullable: bool = True) -> Any:
    return mapped_column(DateTime(timezone=True), nullable=nullable)


class Category(Base):
    """A 部件/事件 subclass: 4-digit code (大类 + 小类), names, department, stage time limits."""

    __tablename__ = "category"
    __table_args__ = (
        CheckConstraint("code ~ '^[0-9]{4}$'", name="code_digits"),
        CheckConstraint(f"kind IN {KINDS}", name="kind"),
        {"schema": SCHEMA},
    )

    code: Mapped[str] = mapped_column(String(4), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    major_code: Mapped[str] = mapped_column(String(2))
    major_name_zh: Mapped[str] = mapped_column(Text)
    major_name_en: Mapped[str] = mapped_column(Text)
    name_zh: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    department_code: Mapped[str] = mapped_column(ForeignKey("catalog.department.code"))
    time_limits: Mapped[dict] = mapped_column(JSONB)  # stage -> working minutes
    catalogue_version: Mapped[str] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class RoutingRule(Base):
    """An override of category → department, for some districts or streets (most specific wins)."""

    __tablename__ = "routing_rule"
    __table_args__ = ({"schema": SCHEMA},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    category_pattern: Mapped[str] = mapped_column(String(4))  # '0101', '01' (a major class) or '*'
    district_code: Mapped[str | None] = mapped_column(String(12))
    street_code: Mapped[str | None] = mapped_column(String(12))
    target: Mapped[str] = mapped_column(String(32))  # a department code, or 'street_office'
    priority: Mapped[int] = mapped_column(Integer, default=0)
    catalogue_version: Mapped[str] = mapped_column(String(32))


class Incident(Base):
    """A filed 案卷: what, where (point, cell, divisions), who reported, routing and workflow state."""

    __tablename__ = "incident"
    __table_args__ = (
        gist("incident"),
        CheckConstraint(f"source IN {SOURCES}", name="source"),
        CheckConstraint(f"state IN {STATES}", name="state"),
        Index("ix_incident_state_due", "state", "stage_due_at"),
        Index("ix_incident_category_reported", "category_code", "reported_at"),
        {"schema": SCHEMA, "postgresql_partition_by": "RANGE (reported_at)"},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    category_code: Mapped[str] = mapped_column(ForeignKey("incidents.category.code"))
    description: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))
    reporter_name: Mapped[str | None] = mapped_column(Text)
    reporter_contact: Mapped[str | None] = mapped_column(Text)
    reported_by: Mapped[str | None] = mapped_column(Text)  # the principal who filed it
    reporter_token_id: Mapped[int | None] = mapped_column(BigInteger)
    external_id: Mapped[str | None] = mapped_column(Text)  # the client's own id (Open311 token)
    reported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    created_at: Mapped[dt.datetime] = stamped_now()
    updated_at: Mapped[dt.datetime] = stamped_now()
    location_source: Mapped[str] = mapped_column(String(16))  # 'point' or 'address'
    geocode_confidence: Mapped[float | None] = mapped_column(Float)
    grid_version_id: Mapped[int | None] = mapped_column(Integer)
    cell_id: Mapped[int | None] = mapped_column(ForeignKey("grid.unit_cell.id"))
    cell_code: Mapped[str | None] = mapped_column(String(15), index=True)
    community_code: Mapped[str | None] = mapped_column(String(12))
    street_code: Mapped[str | None] = mapped_column(String(12))
    district_code: Mapped[str | None] = mapped_column(String(12))
    department_code: Mapped[str] = mapped_column(ForeignKey("catalog.department.code"), index=True)
    routing: Mapped[dict] = mapped_column(JSONB)  # the rule that fired and why
    routing_flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16), default="reported")
    version: Mapped[int] = mapped_column(Integer, default=1)
    suspended_from: Mapped[str | None] = mapped_column(String(16))
    stage: Mapped[str | None] = mapped_column(String(16))
    stage_started_at: Mapped[dt.datetime | None] = timestamp()
    stage_due_at: Mapped[dt.datetime | None] = timestamp()
    handle_due_at: Mapped[dt.datetime | None] = timestamp()
    extension_minutes: Mapped[int] = mapped_column(Integer, default=0)
    extension_request: Mapped[dict | None] = mapped_column(JSONB)
    rework_count: Mapped[int] = mapped_column(Integer, default=0)
    handled_by: Mapped[str | None] = mapped_column(Text)
    verifier: Mapped[str | None] = mapped_column(Text)  # the inspector 核查 is assigned to (None: any)
    merged_into: Mapped[int | None] = mapped_column(BigInteger)  # an incident (checked by a trigger)
    closed_at: Mapped[dt.datetime | None] = timestamp()
    geom: Mapped[Any] = mapped_column(geometry("POINT"))


class IncidentEvent(Base):
    """One transition of one incident: who, in which role, from which state to which, why."""

    __tablename__ = "incident_event"
    __table_args__ = (
        Index("ix_incident_event_incident_at", "incident_id", "at"),
        {"schema": SCHEMA, "postgresql_partition_by": "RANGE (at)"},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(BigInteger)  # an incident (checked by a trigger)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), primary_key=True, server_default=func.now())
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(Text)
    actor_role: Mapped[str | None] = mapped_column(String(16))
    actor_department: Mapped[str | None] = mapped_column(String(32))
    token_id: Mapped[int | None] = mapped_column(BigInteger)
    department_code: Mapped[str | None] = mapped_column(String(32))  # the incident's, then
    reason: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[dt.datetime | None] = timestamp()  # the deadline of the stage this starts
    detail: Mapped[dict] = mapped_column(JSONB, default=dict)


class IncidentPhoto(Base):
    """A photo attached when filing or with the handling feedback (处置反馈)."""

    __tablename__ = "photo"
    __table_args__ = ({"schema": SCHEMA},)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(BigInteger, index=True)  # checked by a trigger
    event_id: Mapped[int | None] = mapped_column(BigInteger)  # an event of that incident (trigger)
    stage: Mapped[str] = mapped_column(String(16))  # 'report' or 'handled'
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = stamped_now()


class IncidentPublic(Base):
    """The public face of an incident (no reporter, no staff names), kept by a trigger."""

    __tablename__ = "incident_public"
    __table_args__ = (gist("incident_public"), {"schema": SCHEMA, "postgresql_partition_by": "RANGE (reported_at)"})

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    category_code: Mapped[str] = mapped_column(String(4))
    category_zh: Mapped[str] = mapped_column(Text)
    category_en: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8))  # 'open' or 'closed' (Open311)
    state: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    department_code: Mapped[str] = mapped_column(String(32))
    cell_code: Mapped[str | None] = mapped_column(String(15))
    community_code: Mapped[str | None] = mapped_column(String(12))
    street_code: Mapped[str | None] = mapped_column(String(12))
    district_code: Mapped[str | None] = mapped_column(String(12))
    reported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    updated_at: Mapped[dt.datetime] = timestamp(False)
    closed_at: Mapped[dt.datetime | None] = timestamp()
    geom: Mapped[Any] = mapped_column(geometry("POINT"))


class KpiCalendar(Base):
    """The working calendar the rollup's handling minutes were counted with (one row)."""

    __tablename__ = "kpi_calendar"
    __table_args__ = (CheckConstraint("id = 1", name="single"), {"schema": SCHEMA})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    timezone: Mapped[str] = mapped_column(Text)
    begin_minutes: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    end_minutes: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    fingerprint: Mapped[str] = mapped_column(Text)
    first_day: Mapped[dt.date] = mapped_column(Date)
    last_day: Mapped[dt.date] = mapped_column(Date)


class KpiCalendarDay(Base):
    """One day of the working calendar: worked or not, working minutes of the days before it."""

    __tablename__ = "kpi_calendar_day"
    __table_args__ = ({"schema": SCHEMA},)

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    working: Mapped[bool] = mapped_column(Boolean)
    minutes_before: Mapped[float] = mapped_column(DOUBLE_PRECISION)


# KPI counters per grouping, group key, registration day and counting day (kept by triggers; no
# primary key: the unique index treats a NULL group key as a key like any other)
kpi_rollup = Table(
    "kpi_rollup", Base.metadata,
    Column("grouping", String(16), nullable=False), Column("key", Text), Column("reg_day", Date, nullable=False),
    Column("day", Date, nullable=False),
    *(Column(name, Integer, nullable=False, server_default="0") for name in (
        "registered", "due", "closed", "closed_on_time", "handled", "reworked", "handling_n")),
    Column("handling_minutes", DOUBLE_PRECISION, nullable=False, server_default="0"),
    Column("handling_unknown", Integer, nullable=False, server_default="0"),
    Index("uq_kpi_rollup_key", "grouping", "key", "reg_day", "day", unique=True, postgresql_nulls_not_distinct=True),
    schema=SCHEMA, postgresql_partition_by="RANGE (reg_day)",
)  # fmt: skip


class FilingKey(Base):
    """An ``Idempotency-Key`` a caller filed with, and the answer it got (``spatial.incidents.filing_keys``):
    the same key again gives the same incident, never a second one."""

    __tablename__ = "filing_key"
    __table_args__ = ({"schema": SCHEMA},)

    caller: Mapped[str] = mapped_column(Text, primary_key=True)  # the principal's name, or '' for anonymous
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of the report as sent
    incident_id: Mapped[int | None] = mapped_column(BigInteger)  # NULL while the filing is in flight
    answer: Mapped[dict | None] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = stamped_now()
