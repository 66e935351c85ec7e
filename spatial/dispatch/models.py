"""Tables of dispatch (schema ``emergency``): units, calls, assignments and the event log.

- ``unit``: a vehicle or crew (消防车, 救护车, 警车) of one department, with its base and current
  position and its status;
- ``call``: an emergency call (接警) of one service (119 fire, 120 ambulance, 110 police), where it
  is and how that was found (address, coordinates, grid cell or location code) and the words given;
- ``assignment``: a unit sent to a call, with the times of dispatch, arrival and clearing and the
  road-network ETA estimated when it was sent;
- ``dispatch_event``: every change, who made it and when; rows are inserted, never changed or
  deleted (a trigger refuses it).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from spatial.models import Base, geometry, gist

SCHEMA = "emergency"
SERVICES = ("119", "120", "110")
UNIT_TYPES = ("engine", "ladder", "rescue", "tanker", "ambulance", "police")
UNIT_STATUSES = ("available", "en_route", "on_scene", "returning", "out_of_service")
CALL_STATUSES = ("open", "closed")
OUTCOMES = ("resolved", "cancelled")
LOCATED_BY = ("address", "coordinates", "grid_cell", "location_code")


def _moment(nullable: bool = True) -> Any:
    return mapped_column(DateTime(timezone=True), nullable=nullable)


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Unit(Base):
    """A unit (车辆/队伍) of a department: call sign, type, service, base, position, status."""

    __tablename__ = "unit"
    __table_args__ = (
        CheckConstraint(f"service IN {SERVICES}", name="service"),
        CheckConstraint(f"unit_type IN {UNIT_TYPES}", name="unit_type"),
        CheckConstraint(f"status IN {UNIT_STATUSES}", name="status"),
        gist("unit", "base"),
        gist("unit", "position"),
        {"schema": SCHEMA},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    call_sign: Mapped[str] = mapped_column(String(32), unique=True)
    unit_type: Mapped[str] = mapped_column(String(16))
    service: Mapped[str] = mapped_column(String(3))
    department_code: Mapped[str] = mapped_column(ForeignKey("catalog.department.code"), index=True)
    station: Mapped[str | None] = mapped_column(Text)
    base: Mapped[Any] = mapped_column(geometry("POINT"))
    position: Mapped[Any] = mapped_column(geometry("POINT"))
    status: Mapped[str] = mapped_column(String(16), default="available")
    updated_at: Mapped[dt.datetime] = _now()


class Call(Base):
    """An emergency call: service, type, priority, the point and how it was located."""

    __tablename__ = "call"
    __table_args__ = (
        CheckConstraint(f"service IN {SERVICES}", name="service"),
        CheckConstraint(f"status IN {CALL_STATUSES}", name="status"),
        CheckConstraint(f"located_by IN {LOCATED_BY}", name="located_by"),
        CheckConstraint("priority BETWEEN 1 AND 5", name="priority"),
        CheckConstraint(f"outcome IS NULL OR outcome IN {OUTCOMES}", name="outcome"),
        gist("call"),
        Index("ix_call_received_at", "received_at"),
        {"schema": SCHEMA},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    service: Mapped[str] = mapped_column(String(3))
    call_type: Mapped[str] = mapped_column(String(32))
    priority: Mapped[int] = mapped_column(SmallInteger)
    geom: Mapped[Any] = mapped_column(geometry("POINT"))
    located_by: Mapped[str] = mapped_column(String(16))
    given_text: Mapped[str] = mapped_column(Text)
    place: Mapped[str | None] = mapped_column(Text)  # what the locator found (address label, cell code)
    cell_code: Mapped[str | None] = mapped_column(String(15))
    street_code: Mapped[str | None] = mapped_column(String(12))
    received_at: Mapped[dt.datetime] = _moment(nullable=False)
    received_by: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8), default="open")
    outcome: Mapped[str | None] = mapped_column(String(16))
    closed_at: Mapped[dt.datetime | None] = _moment()


class Assignment(Base):
    """A unit sent to a call: dispatched, on scene, cleared; the ETA and distance when sent."""

    __tablename__ = "assignment"
    __table_args__ = ({"schema": SCHEMA},)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey(f"{SCHEMA}.call.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey(f"{SCHEMA}.unit.id"), index=True)
    dispatched_at: Mapped[dt.datetime] = _moment(nullable=False)
    on_scene_at: Mapped[dt.datetime | None] = _moment()
    cleared_at: Mapped[dt.datetime | None] = _moment()
    eta_seconds: Mapped[float | None] = mapped_column(Float)
    distance_m: Mapped[float | None] = mapped_column(Float)
    dispatched_by: Mapped[str] = mapped_column(Text)


class DispatchEvent(Base):
    """One change (a call received, a unit sent, a status reported): who, when, from what to what."""

    __tablename__ = "dispatch_event"
    __table_args__ = ({"schema": SCHEMA},)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = _moment(nullable=False)
    recorded_at: Mapped[dt.datetime] = _now()
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(32))
    call_id: Mapped[int | None] = mapped_column(ForeignKey(f"{SCHEMA}.call.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey(f"{SCHEMA}.unit.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[dict | None] = mapped_column(JSONB)
