"""Reading incidents: one (staff or public view), many (Open311 filters), events, photos."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, text

from spatial.errors import InvalidInput, NotFound

STAFF_SQL = text(
    """
    SELECT i.*, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat, c.name_zh AS category_zh,
           c.name_en AS category_en, c.kind AS category_kind,
           (SELECT coalesce(array_agg(p.id ORDER BY p.id), '{}') FROM incidents.photo p
            WHERE p.incident_id = i.id) AS photo_ids,
           (SELECT coalesce(array_agg(p.stage ORDER BY p.id), '{}') FROM incidents.photo p
            WHERE p.incident_id = i.id) AS photo_stages
    FROM incidents.incident i JOIN incidents.category c ON c.code = i.category_code
    WHERE i.id = :id
    """
)
PUBLIC_SQL = """
    SELECT p.*, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat,
           (SELECT coalesce(array_agg(f.id ORDER BY f.id), '{{}}') FROM incidents.photo f
            WHERE f.incident_id = p.id AND f.stage = 'report') AS photo_ids
    FROM incidents.incident_public p
    WHERE {where}
    ORDER BY p.reported_at DESC, p.id DESC
    LIMIT :limit
"""
EVENTS_SQL = text(
    "SELECT id, at, action, from_state, to_state, actor, actor_role, actor_department, department_code, "
    "reason, due_at, detail FROM incidents.incident_event WHERE incident_id = :id ORDER BY at, id"
)


def incident(conn: Connection, incident_id: int) -> dict[str, Any]:
    """The full (staff) record of one incident; NotFound when missing."""
    row = conn.execute(STAFF_SQL, {"id": incident_id}).mappings().first()
    if row is None:
        raise NotFound(f"no incident {incident_id}")
    out = dict(row)
    out.pop("geom", None)
    return out


def public_incidents(
    conn: Connection, *, ids: list[int] | None = None, categories: list[str] | None = None,
    statuses: list[str] | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Public records (no personal data) matching Open311's filters, newest first."""
    clauses: list[str] = ["true"]
    params: dict[str, Any] = {"limit": limit}
    if ids is not None:
        clauses.append("p.id = ANY(:ids)")
        params["ids"] = ids
    if categories:
        clauses.append("p.category_code = ANY(:categories)")
        params["categories"] = categories
    if statuses:
        bad = set(statuses) - {"open", "closed"}
        if bad:
            raise InvalidInput(f"status must be open or closed, not {', '.join(sorted(bad))}")
        clauses.append("p.status = ANY(:statuses)")
        params["statuses"] = statuses
    if since is not None:
        clauses.append("p.reported_at >= :since")
        params["since"] = since
    if until is not None:
        clauses.append("p.reported_at <= :until")
        params["until"] = until
    rows = conn.execute(text(PUBLIC_SQL.format(where=" AND ".join(clauses))), params).mappings()
    return [{k: v for k, v in row.items() if k != "geom"} for row in rows]


def events(conn: Connection, incident_id: int) -> list[dict[str, Any]]:
    """The incident's event log, oldest first."""
    return [dict(r) for r in conn.execute(EVENTS_SQL, {"id": incident_id}).mappings()]


def count_incidents(conn: Connection) -> int:
    return int(conn.execute(text("SELECT count(*) FROM incidents.incident")).scalar_one())
