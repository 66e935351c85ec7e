"""Calls (接警): take one, list them, send units (派车), close or cancel.

Dispatch locks the units asked for (``FOR UPDATE``, in id order so two dispatchers never wait
on each other crosswise; every writer locks call, then units, then assignments, ``FOR NO KEY
UPDATE``: the event log's foreign keys only share-lock the keys, so they never wait on these): a unit no longer ``available`` when its row is locked is a Conflict
(409) naming it, and nothing is sent. Each assignment keeps the road-network ETA and distance
of its unit at the moment it was sent (the KPIs' travel time), when the network can tell.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from spatial.access.principal import Principal
from spatial.dispatch.events import list_events, log_event
from spatial.dispatch.locate import locate
from spatial.dispatch.models import CALL_STATUSES, OUTCOMES, SERVICES
from spatial.dispatch.roles import require_dispatcher
from spatial.dispatch.units import _moment
from spatial.errors import Conflict, InvalidInput, NotFound
from spatial.params import MAX_ID, parse_choices, parse_int, parse_words

MAX_UNITS_PER_DISPATCH = 20
CALL_COLUMNS = """
c.id, c.service, c.call_type, c.priority, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat, c.located_by,
c.given_text, c.place, c.cell_code, c.street_code, c.received_at, c.received_by, c.status, c.outcome,
c.closed_at,
(SELECT count(*) FROM emergency.assignment a WHERE a.call_id = c.id AND a.cleared_at IS NULL) AS active_units
"""
INSERT_SQL = text(
    """
    INSERT INTO emergency.call (service, call_type, priority, geom, located_by, given_text, place, cell_code,
                                street_code, received_at, received_by, status)
    VALUES (:service, :call_type, :priority, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :located_by, :given_text,
            :place, :cell_code, :street_code, :received_at, :received_by, 'open')
    RETURNING id
    """
)
ASSIGNMENTS_SQL = text(
    """
    SELECT a.id, a.unit_id, u.call_sign, u.unit_type, u.department_code, u.status AS unit_status,
           a.dispatched_at, a.on_scene_at, a.cleared_at, a.eta_seconds, a.distance_m, a.dispatched_by
    FROM emergency.assignment a JOIN emergency.unit u ON u.id = a.unit_id
    WHERE a.call_id = :call ORDER BY a.dispatched_at, a.id
    """
)


@dataclass(frozen=True)
class NewCall:
    """A call as taken: service, type, priority and where (how located, the caller's words)."""

    service: str
    call_type: str
    located_by: str
    text: str | None = None
    priority: int = 2
    lon: float | None = None
    lat: float | None = None
    datum: str | None = None
    received_at: dt.datetime | None = None


def take_call(conn: Connection, call: NewCall, *, principal: Principal | None) -> dict[str, Any]:
    """Record a call located from what the caller said (dispatchers only)."""
    actor = require_dispatcher(principal, "take a call")
    parse_choices(call.service, SERVICES, name="service")
    call_type = parse_words(call.call_type, name="call_type", max_length=32)
    if not call_type:
        raise InvalidInput("call_type is required (e.g. fire, medical, traffic, crime)")
    priority = parse_int(call.priority, name="priority", minimum=1, maximum=5)
    where = locate(conn, call.located_by, call.text, lon=call.lon, lat=call.lat, datum=call.datum)
    received = _moment(call.received_at)
    new_id = conn.execute(INSERT_SQL, {
        "service": call.service, "call_type": call_type, "priority": priority, "lon": where.lon, "lat": where.lat,
        "located_by": where.located_by, "given_text": where.given_text, "place": where.place,
        "cell_code": where.cell_code, "street_code": where.street_code, "received_at": received,
        "received_by": actor.label,
    }).scalar_one()  # fmt: skip
    log_event(conn, "call.received", actor, received, call_id=new_id, to_status="open",
              detail={"located_by": where.located_by, "text": where.given_text})  # fmt: skip
    return get_call(conn, new_id)


def list_calls(conn: Connection, *, statuses: tuple[str, ...] = (), services: tuple[str, ...] = (),
               limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:  # fmt: skip
    """Calls, newest first."""
    parse_choices(list(statuses), CALL_STATUSES, name="status")
    sql = f"""SELECT {CALL_COLUMNS} FROM emergency.call c
              WHERE (CAST(:statuses AS text[]) IS NULL OR c.status = ANY(CAST(:statuses AS text[])))
                AND (CAST(:services AS text[]) IS NULL OR c.service = ANY(CAST(:services AS text[])))
              ORDER BY c.received_at DESC, c.id DESC LIMIT :limit OFFSET :offset"""
    params = {"statuses": list(statuses) or None, "services": list(services) or None, "limit": limit,
              "offset": offset}  # fmt: skip
    return [dict(row) for row in conn.execute(text(sql), params).mappings()]


def get_call(conn: Connection, call_id: int, *, lock: bool = False) -> dict[str, Any]:
    """A call with its assignments and events; NotFound when there is none."""
    sql = f"SELECT {CALL_COLUMNS} FROM emergency.call c WHERE c.id = :id" + (" FOR NO KEY UPDATE" if lock else "")
    row = conn.execute(text(sql), {"id": call_id}).mappings().first()
    if row is None:
        raise NotFound(f"no call {call_id}")
    call = dict(row)
    call["assignments"] = [dict(a) for a in conn.execute(ASSIGNMENTS_SQL, {"call": call_id}).mappings()]
    call["events"] = list_events(conn, call_id=call_id)
    return call


def dispatch(conn: Connection, call_id: int, unit_ids: Sequence[int], *, principal: Principal | None,
             at: dt.datetime | None = None) -> dict[str, Any]:  # fmt: skip
    """Send units to an open call: each becomes en_route; Conflict if any is no longer available."""
    actor = require_dispatcher(principal, "dispatch")
    wanted = _unit_ids(unit_ids)
    call = get_call(conn, call_id, lock=True)
    if call["status"] != "open":
        raise Conflict(f"call {call_id} is {call['status']}: nothing can be sent to it")
    rows = conn.execute(text("SELECT id, call_sign, status, ST_X(position) AS lon, ST_Y(position) AS lat "
                             "FROM emergency.unit WHERE id = ANY(:ids) ORDER BY id FOR NO KEY UPDATE"),
                        {"ids": wanted}).all()  # fmt: skip
    missing = sorted(set(wanted) - {row.id for row in rows})
    if missing:
        raise NotFound(f"no unit {', '.join(map(str, missing))}")
    busy = [f"{row.call_sign} ({row.status})" for row in rows if row.status != "available"]
    if busy:
        raise Conflict(f"no longer available: {', '.join(busy)}; ask for a new recommendation")
    moment = _moment(at)
    if moment < call["received_at"]:
        raise InvalidInput("at lies before the call was received")
    estimates = _estimates(conn, call, rows)
    for row in rows:
        eta, metres = estimates.get(row.id, (None, None))
        conn.execute(text("INSERT INTO emergency.assignment (call_id, unit_id, dispatched_at, eta_seconds, distance_m, "
                          "dispatched_by) VALUES (:call, :unit, :at, :eta, :m, :by)"),
                     {"call": call_id, "unit": row.id, "at": moment, "eta": eta, "m": metres, "by": actor.label})  # fmt: skip
        conn.execute(text("UPDATE emergency.unit SET status = 'en_route', updated_at = now() WHERE id = :id"),
                     {"id": row.id})  # fmt: skip
        log_event(conn, "unit.dispatched", actor, moment, call_id=call_id, unit_id=row.id, from_status="available",
                  to_status="en_route", detail={"eta_seconds": eta, "distance_m": metres})  # fmt: skip
    return get_call(conn, call_id)


def close_call(conn: Connection, call_id: int, outcome: str, *, principal: Principal | None,
               at: dt.datetime | None = None) -> dict[str, Any]:  # fmt: skip
    """Close (resolved) or cancel an open call; its units still out are released to returning."""
    actor = require_dispatcher(principal, "close a call")
    parse_choices(outcome, OUTCOMES, name="outcome")
    call = get_call(conn, call_id, lock=True)
    if call["status"] != "open":
        raise Conflict(f"call {call_id} is already {call['status']}")
    moment = _moment(at)
    # locks in the one order every writer takes: call, units (by id), assignments
    conn.execute(text("SELECT id FROM emergency.unit WHERE id IN (SELECT unit_id FROM emergency.assignment "
                      "WHERE call_id = :c AND cleared_at IS NULL) ORDER BY id FOR NO KEY UPDATE"), {"c": call_id})  # fmt: skip
    out = conn.execute(text("SELECT a.id, a.unit_id, u.status FROM emergency.assignment a JOIN emergency.unit u "
                            "ON u.id = a.unit_id WHERE a.call_id = :c AND a.cleared_at IS NULL ORDER BY u.id "
                            "FOR NO KEY UPDATE OF a"), {"c": call_id}).all()  # fmt: skip
    for row in out:
        conn.execute(text("UPDATE emergency.assignment SET cleared_at = :at WHERE id = :id"), {"at": moment, "id": row.id})
        conn.execute(text("UPDATE emergency.unit SET status = 'returning', updated_at = now() WHERE id = :id"),
                     {"id": row.unit_id})  # fmt: skip
        log_event(conn, "unit.returning", actor, moment, call_id=call_id, unit_id=row.unit_id,
                  from_status=row.status, to_status="returning", detail={"released_by": "call closed"})  # fmt: skip
    conn.execute(text("UPDATE emergency.call SET status = 'closed', outcome = :o, closed_at = :at WHERE id = :id"),
                 {"o": outcome, "at": moment, "id": call_id})  # fmt: skip
    log_event(conn, f"call.{outcome}", actor, moment, call_id=call_id, from_status="open", to_status="closed")
    return get_call(conn, call_id)


def _unit_ids(unit_ids: Sequence[int]) -> list[int]:
    if isinstance(unit_ids, str | bytes) or not isinstance(unit_ids, Sequence) or not unit_ids:
        raise InvalidInput("units: a list of unit ids (at least one)")
    if len(unit_ids) > MAX_UNITS_PER_DISPATCH:
        raise InvalidInput(f"units: at most {MAX_UNITS_PER_DISPATCH} per dispatch")
    return sorted({parse_int(u, name="units", minimum=1, maximum=MAX_ID) for u in unit_ids})


def _estimates(conn: Connection, call: dict[str, Any], rows: Sequence[Any]) -> dict[int, tuple[float, float]]:
    """Road-network ETA and distance of each unit to the call, when the network can route them."""
    from spatial.dispatch.recommend import network_estimates

    found = network_estimates(conn, (call["lon"], call["lat"]), [(row.id, row.lon, row.lat) for row in rows])
    return {key: value for key, value in found.items() if math.isfinite(value[0])}
