"""Units (车辆/队伍): add, list, and the status changes their crews report.

Status moves (``available`` → ``en_route`` only by a dispatch, ``spatial.dispatch.calls``)::

    en_route ──on_scene──▶ on_scene ──returning──▶ returning ──available──▶ available
        └────────returning (turned back)──▲                    (back at base)
    available / returning ◀──▶ out_of_service   (the owning department only)

A move from any other status is a Conflict (409): the unit moved on meanwhile. Arrival and
clearing stamp the unit's open assignment. Rows are locked (``FOR NO KEY UPDATE``) while they change.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from spatial.access.principal import Principal
from spatial.dispatch.events import log_event
from spatial.dispatch.models import SERVICES, UNIT_STATUSES, UNIT_TYPES
from spatial.dispatch.roles import require_owner
from spatial.errors import Conflict, InvalidInput, NotFound
from spatial.params import parse_choices, parse_number

CALL_SIGN = re.compile(r"[\w\u4e00-\u9fff][\w\u4e00-\u9fff ./-]{0,31}")
SERVICE_OF_TYPE = {"engine": "119", "ladder": "119", "rescue": "119", "tanker": "119", "ambulance": "120",
                   "police": "110"}  # fmt: skip
# status → the statuses a report may move it to (en_route is reached by dispatch only)
MOVES = {
    "en_route": ("on_scene", "returning"),
    "on_scene": ("returning",),
    "returning": ("available", "out_of_service"),
    "available": ("out_of_service",),
    "out_of_service": ("available",),
}
RELAYED = ("on_scene", "returning", "available")  # what a dispatcher may pass on for the crew
CLOCK_SKEW = dt.timedelta(minutes=2)

UNIT_COLUMNS = """
u.id, u.call_sign, u.unit_type, u.service, u.department_code, d.name_zh AS department_name_zh,
d.name_en AS department_name_en, u.station, u.status, u.updated_at,
ST_X(u.position) AS lon, ST_Y(u.position) AS lat, ST_X(u.base) AS base_lon, ST_Y(u.base) AS base_lat,
(SELECT a.call_id FROM emergency.assignment a WHERE a.unit_id = u.id AND a.cleared_at IS NULL
 ORDER BY a.dispatched_at DESC LIMIT 1) AS call_id
"""
LIST_SQL = f"""
SELECT {UNIT_COLUMNS}
FROM emergency.unit u JOIN catalog.department d ON d.code = u.department_code
WHERE (CAST(:services AS text[]) IS NULL OR u.service = ANY(CAST(:services AS text[])))
  AND (CAST(:statuses AS text[]) IS NULL OR u.status = ANY(CAST(:statuses AS text[])))
  AND (CAST(:department AS text) IS NULL OR u.department_code = :department)
ORDER BY u.service, u.call_sign
"""
ONE_SQL = f"SELECT {UNIT_COLUMNS} FROM emergency.unit u JOIN catalog.department d ON d.code = u.department_code WHERE u.id = :id"  # noqa: E501
INSERT_SQL = text(
    """
    INSERT INTO emergency.unit (call_sign, unit_type, service, department_code, station, base, position, status)
    VALUES (:call_sign, :unit_type, :service, :department, :station,
            ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :status)
    ON CONFLICT (call_sign) DO NOTHING RETURNING id
    """
)


@dataclass(frozen=True)
class NewUnit:
    """A unit to add: call sign, type, owning department, base (lon/lat) and station name."""

    call_sign: str
    unit_type: str
    department_code: str
    lon: float
    lat: float
    station: str | None = None
    service: str | None = None  # derived from the type when absent
    status: str = "available"

    def checked(self) -> NewUnit:
        """The same unit with its service filled, or InvalidInput naming what is wrong."""
        if not isinstance(self.call_sign, str) or not CALL_SIGN.fullmatch(self.call_sign.strip()):
            raise InvalidInput("call_sign: 1-32 letters, digits, spaces or . / - _ (no markup)")
        if self.unit_type not in UNIT_TYPES:
            raise InvalidInput(f"unit_type {self.unit_type!r} unknown: one of {', '.join(UNIT_TYPES)}")
        service = self.service or SERVICE_OF_TYPE[self.unit_type]
        if service not in SERVICES or service != SERVICE_OF_TYPE[self.unit_type]:
            raise InvalidInput(f"a {self.unit_type} serves {SERVICE_OF_TYPE[self.unit_type]}, not {service!r}")
        if self.status not in ("available", "out_of_service"):
            raise InvalidInput("a new unit is available or out_of_service")
        if self.station is not None and (len(self.station) > 100 or re.search(r"[<>\x00-\x1f]", self.station)):
            raise InvalidInput("station: at most 100 characters, no markup")
        lon = parse_number(self.lon, name="lon", minimum=-180, maximum=180)
        lat = parse_number(self.lat, name="lat", minimum=-90, maximum=90)
        return NewUnit(self.call_sign.strip(), self.unit_type, self.department_code, lon, lat, self.station,
                       service, self.status)  # fmt: skip


def add_unit(conn: Connection, unit: NewUnit, *, principal: Principal | None) -> dict[str, Any]:
    """Add a unit of the caller's department (admins: any); Conflict when the call sign is taken."""
    unit = unit.checked()
    actor = require_owner(principal, unit.department_code, "add a unit")
    if conn.execute(text("SELECT 1 FROM catalog.department WHERE code = :c"), {"c": unit.department_code}).first() is None:
        raise NotFound(f"department {unit.department_code!r} does not exist")
    new_id = conn.execute(INSERT_SQL, {"call_sign": unit.call_sign, "unit_type": unit.unit_type,
                                       "service": unit.service, "department": unit.department_code,
                                       "station": unit.station, "lon": unit.lon, "lat": unit.lat,
                                       "status": unit.status}).scalar()  # fmt: skip
    if new_id is None:
        raise Conflict(f"call sign {unit.call_sign!r} is taken")
    log_event(conn, "unit.added", actor, _now(), unit_id=new_id, to_status=unit.status,
              detail={"call_sign": unit.call_sign, "unit_type": unit.unit_type})  # fmt: skip
    return get_unit(conn, new_id)


def list_units(conn: Connection, *, services: tuple[str, ...] = (), statuses: tuple[str, ...] = (),
               department: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Units, by service and call sign; filtered by services, statuses, department."""
    params = {"services": list(services) or None, "statuses": list(statuses) or None, "department": department}
    return [dict(row) for row in conn.execute(text(LIST_SQL), params).mappings()]


def get_unit(conn: Connection, unit_id: int) -> dict[str, Any]:
    """One unit; NotFound when there is none."""
    row = conn.execute(text(ONE_SQL), {"id": unit_id}).mappings().first()
    if row is None:
        raise NotFound(f"no unit {unit_id}")
    return dict(row)


def report_status(conn: Connection, unit_id: int, status: str, *, principal: Principal | None,
                  at: dt.datetime | None = None, lon: float | None = None, lat: float | None = None) -> dict[str, Any]:  # fmt: skip
    """A crew's status report (or a dispatcher relaying it); stamps the unit's open assignment."""
    parse_choices(status, UNIT_STATUSES, name="status")
    row = conn.execute(text("SELECT id, department_code, status FROM emergency.unit WHERE id = :id "
                            "FOR NO KEY UPDATE"), {"id": unit_id}).first()  # fmt: skip
    if row is None:
        raise NotFound(f"no unit {unit_id}")
    actor = require_owner(principal, row.department_code, f"report {status}", relay=status in RELAYED)
    if status not in MOVES[row.status]:
        raise Conflict(f"unit {unit_id} is {row.status}: it cannot become {status} "
                       f"(from {row.status}: {', '.join(MOVES[row.status]) or 'nothing'})")  # fmt: skip
    moment = _moment(at)
    _stamp_assignment(conn, unit_id, status, moment)
    _move(conn, unit_id, status, lon, lat)
    log_event(conn, f"unit.{status}", actor, moment, unit_id=unit_id, from_status=row.status, to_status=status,
              call_id=_open_call(conn, unit_id) if status in RELAYED else None)  # fmt: skip
    return get_unit(conn, unit_id)


def _stamp_assignment(conn: Connection, unit_id: int, status: str, moment: dt.datetime) -> None:
    """Arrival stamps on_scene_at; turning back or leaving the scene clears the assignment."""
    assignment = conn.execute(text("SELECT id, dispatched_at, on_scene_at FROM emergency.assignment "
                                   "WHERE unit_id = :u AND cleared_at IS NULL FOR NO KEY UPDATE"), {"u": unit_id}).first()  # fmt: skip
    if assignment is None:
        return
    earliest = assignment.on_scene_at or assignment.dispatched_at
    if moment < earliest:
        raise InvalidInput(f"at {moment.isoformat()} is before the unit was dispatched or arrived "
                           f"({earliest.isoformat()})")  # fmt: skip
    column = "on_scene_at" if status == "on_scene" else "cleared_at"
    conn.execute(text(f"UPDATE emergency.assignment SET {column} = :at WHERE id = :id"),
                 {"at": moment, "id": assignment.id})  # fmt: skip


def _move(conn: Connection, unit_id: int, status: str, lon: float | None, lat: float | None) -> None:
    """The new status; back at base when available again, else where the crew says it is."""
    x: float | None = None
    y: float | None = None
    if lon is not None and lat is not None:
        x = parse_number(lon, name="lon", minimum=-180, maximum=180)
        y = parse_number(lat, name="lat", minimum=-90, maximum=90)
        position = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)"
    else:
        position = "base" if status == "available" else "position"
    conn.execute(text(f"UPDATE emergency.unit SET status = :status, position = {position}, updated_at = now() "
                      "WHERE id = :id"), {"status": status, "id": unit_id, "lon": x, "lat": y})  # fmt: skip


def _open_call(conn: Connection, unit_id: int) -> int | None:
    return conn.execute(text("SELECT call_id FROM emergency.assignment WHERE unit_id = :u "
                             "ORDER BY dispatched_at DESC LIMIT 1"), {"u": unit_id}).scalar()  # fmt: skip


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _moment(at: dt.datetime | None) -> dt.datetime:
    """When it happened: now, or an earlier time the crew reported (never in the future)."""
    now = _now()
    if at is None:
        return now
    if at.tzinfo is None:
        raise InvalidInput("at needs a time zone offset (e.g. 2026-12-05T14:03:00+08:00)")
    if at > now + CLOCK_SKEW:
        raise InvalidInput(f"at {at.isoformat()} lies in the future")
    return at
