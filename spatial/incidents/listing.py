"""The incident queue (案卷列表): many incidents with their names and traffic light, filtered and paged.

One query joins the category, street, community and department names and counts the matches
(``numberMatched``); the light is ``spatial.incidents.supervision.light``, the same rule as the
overdue list. A filter on yellow or green (which depend on the working calendar) reads the
candidates whose clock runs, colours them and pages in Python; red is a plain SQL condition.

Who sees what: staff (any signed-in principal, as every staff view decides) see the whole queue;
``mine=reported`` narrows it to what the caller filed, ``mine=verify`` to the handled incidents
whose 核查 is assigned to the caller. Anonymous callers see nothing here (the public map and
Open311 are theirs).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from spatial.access.principal import Principal
from spatial.errors import BudgetExceeded, InvalidInput, Unauthorized
from spatial.incidents.calendar import WorkingCalendar, default_calendar
from spatial.incidents.models import STATES
from spatial.incidents.supervision import HORIZON, LIMIT_MINUTES_SQL, light
from spatial.params import LonLatBox

STAGES = ("register", "dispatch", "handle", "verify", "close")
LIGHTS = ("red", "yellow", "green")
MINE = ("reported", "verify")
SORTS = {
    "due": "i.stage_due_at ASC NULLS LAST, i.id ASC",
    "-due": "i.stage_due_at DESC NULLS LAST, i.id DESC",
    "reported": "i.reported_at ASC, i.id ASC",
    "-reported": "i.reported_at DESC, i.id DESC",
}  # fmt: skip
MAX_LIMIT = 500
MAX_COLOURED = 20_000  # rows a yellow/green filter may colour in one request (narrow the filters beyond)

LIST_SQL = """
SELECT i.id, i.state, i.stage, i.category_code, c.name_zh AS category_name_zh, c.name_en AS category_name_en,
       c.kind, i.description, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat, i.address,
       i.street_code, s.name_zh AS street_name, i.community_code, m.name_zh AS community_name, i.cell_code,
       i.department_code AS department, d.name_zh AS department_name_zh, i.reported_at,
       i.stage_due_at AS due_at, i.version, i.source, i.reported_by AS reporter, i.verifier, i.handled_by,
       (SELECT count(*) FROM incidents.photo p WHERE p.incident_id = i.id) AS photo_count,
       {limit_minutes} AS limit_minutes, count(*) OVER () AS number_matched
FROM incidents.incident i
JOIN incidents.category c ON c.code = i.category_code
LEFT JOIN basemap.admin_division s ON s.code = i.street_code
LEFT JOIN basemap.admin_division m ON m.code = i.community_code
LEFT JOIN catalog.department d ON d.code = i.department_code
WHERE {where}
ORDER BY {order}
{page}
"""
COUNT_SQL = "SELECT count(*) FROM incidents.incident i JOIN incidents.category c ON c.code = i.category_code WHERE {where}"
HIDDEN = ("limit_minutes", "number_matched")


@dataclass(frozen=True)
class QueueFilter:
    """What the queue is narrowed to; every field empty = everything. Lists mean 'any of'."""

    states: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    streets: tuple[str, ...] = ()
    communities: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()  # a 4-digit subclass or a 2-digit major class
    lights: tuple[str, ...] = ()
    mine: str | None = None
    bbox: LonLatBox | None = None
    q: str | None = None
    sort: str = "-reported"

    def __post_init__(self) -> None:
        for name, values, allowed in (("state", self.states, STATES), ("stage", self.stages, STAGES),
                                      ("light", self.lights, LIGHTS)):  # fmt: skip
            bad = [v for v in values if v not in allowed]
            if bad:
                raise InvalidInput(f"{name} {bad[0]!r} unknown: one of {', '.join(allowed)}")
        if self.mine is not None and self.mine not in MINE:
            raise InvalidInput(f"mine {self.mine!r} unknown: one of {', '.join(MINE)}")
        if self.sort not in SORTS:
            raise InvalidInput(f"sort {self.sort!r} unknown: one of {', '.join(SORTS)}")


def list_incidents(
    conn: Connection, queue: QueueFilter, *, principal: Principal | None, limit: int = 50, offset: int = 0,
    now: dt.datetime | None = None, calendar: WorkingCalendar | None = None,
) -> dict[str, Any]:
    """``{"incidents": [...], "numberMatched": n, "limit", "offset"}`` for ``principal``."""
    if principal is None:
        raise Unauthorized("the incident queue is for staff: sign in (send Authorization: Bearer <token>)")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must lie between 1 and {MAX_LIMIT}, not {limit}")
    if offset < 0:
        raise InvalidInput(f"offset must not be negative, not {offset}")
    now = now or dt.datetime.now(dt.UTC)
    calendar = calendar or default_calendar()
    where, params = _where(queue, principal, now)
    order = SORTS[queue.sort]
    coloured = bool(queue.lights) and set(queue.lights) != {"red"}
    if not coloured:
        sql = LIST_SQL.format(limit_minutes=LIMIT_MINUTES_SQL, where=where, order=order,
                              page="LIMIT :limit OFFSET :offset")  # fmt: skip
        rows = [dict(r) for r in conn.execute(text(sql), params | {"limit": limit, "offset": offset}).mappings()]
        if rows:
            matched = int(rows[0]["number_matched"])
        else:
            matched = int(conn.execute(text(COUNT_SQL.format(where=where)), params).scalar_one())
        items = [_row(r, now, calendar) for r in rows]
    else:
        sql = LIST_SQL.format(limit_minutes=LIMIT_MINUTES_SQL, where=where, order=order, page="LIMIT :cap")
        rows = [dict(r) for r in conn.execute(text(sql), params | {"cap": MAX_COLOURED + 1}).mappings()]
        if len(rows) > MAX_COLOURED:
            raise BudgetExceeded(f"more than {MAX_COLOURED:,} incidents to colour: narrow the filters "
                                 "(state, department, street, bbox…) or ask for light=red")  # fmt: skip
        every = [item for item in (_row(r, now, calendar) for r in rows) if item["light"] in queue.lights]
        matched, items = len(every), every[offset : offset + limit]
    return {"incidents": items, "numberMatched": matched, "limit": limit, "offset": offset}


def _row(row: dict[str, Any], now: dt.datetime, calendar: WorkingCalendar) -> dict[str, Any]:
    colour, _ = light(row["due_at"] if row["stage"] else None, row["limit_minutes"], now, calendar)
    out = {k: v for k, v in row.items() if k not in HIDDEN}
    out["light"] = colour
    out["photo_count"] = int(out["photo_count"])
    return out


def _where(queue: QueueFilter, principal: Principal, now: dt.datetime) -> tuple[str, dict[str, Any]]:
    """The WHERE clause (over ``i``, the incident) and its bound values."""
    clauses: list[str] = ["true"]
    params: dict[str, Any] = {}
    for column, name, values in (("i.state", "states", queue.states), ("i.stage", "stages", queue.stages),
                                 ("i.street_code", "streets", queue.streets),
                                 ("i.community_code", "communities", queue.communities),
                                 ("i.department_code", "departments", queue.departments)):  # fmt: skip
        if values:
            clauses.append(f"{column} = ANY(:{name})")
            params[name] = list(values)
    if queue.categories:
        clauses.append("(i.category_code = ANY(:categories) OR left(i.category_code, 2) = ANY(:categories))")
        params["categories"] = list(queue.categories)
    if queue.mine == "reported":
        clauses.append("i.reported_by = :me")
        params["me"] = principal.name
    elif queue.mine == "verify":
        clauses.append("i.state = 'handled' AND i.verifier = :me")
        params["me"] = principal.name
    if queue.bbox is not None:
        clauses.append("i.geom && ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326)")
        params.update(minx=queue.bbox.minx, miny=queue.bbox.miny, maxx=queue.bbox.maxx, maxy=queue.bbox.maxy)
    if queue.q:
        words = queue.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        match = "(i.description ILIKE :q OR i.address ILIKE :q OR c.name_zh ILIKE :q OR c.name_en ILIKE :q"
        match += " OR i.id::text = :q_exact)" if queue.q.isdigit() and queue.q.isascii() else ")"
        clauses.append(match)
        params.update(q=f"%{words}%", q_exact=queue.q)
    if queue.lights:
        clauses.append("i.stage IS NOT NULL AND i.stage_due_at IS NOT NULL")
        if set(queue.lights) == {"red"}:
            clauses.append("i.stage_due_at < :now")
        else:
            if "red" not in queue.lights:
                clauses.append("i.stage_due_at >= :now")
            if "green" not in queue.lights:
                clauses.append("i.stage_due_at < :horizon")
        params.update(now=now, horizon=now + HORIZON)
    return " AND ".join(clauses), params
