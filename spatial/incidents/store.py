"""Writing incidents: the row, its immutable events and its photos (SQL in one place)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import Connection, text

from spatial.access.principal import Principal
from spatial.errors import InvalidInput, NotFound
from spatial.incidents.photos import Photo

INSERT_EVENT = text(
    """
    INSERT INTO incidents.incident_event (incident_id, at, action, from_state, to_state, actor,
        actor_role, actor_department, token_id, department_code, reason, due_at, detail)
    VALUES (:incident, :at, :action, :from_state, :to_state, :actor, :role, :actor_department,
        :token, :department, :reason, :due, CAST(:detail AS jsonb))
    RETURNING id
    """
)
INSERT_PHOTO = text(
    "INSERT INTO incidents.photo (incident_id, event_id, stage, content_type, size_bytes, width, "
    "height, data) VALUES (:incident, :event, :stage, :type, :size, :w, :h, :data) RETURNING id"
)


def category_row(conn: Connection, code: str | None) -> dict[str, Any]:
    """An active category by code; InvalidInput naming the code when unknown."""
    text_code = (code or "").strip()
    row = conn.execute(
        text("SELECT * FROM incidents.category WHERE code = :c AND active"), {"c": text_code}
    ).mappings().first()
    if row is None:
        raise unknown_category(text_code)
    return dict(row)


def unknown_category(code: str) -> InvalidInput:
    return InvalidInput(f"unknown category {code!r}: see GET /api/v1/incidents/categories")


def event_parameters(
    *, at: dt.datetime, action: str, from_state: str | None, to_state: str,
    principal: Principal | None, department: str | None, reason: str | None = None,
    due: dt.datetime | None = None, detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The bound values of an event row (all but the incident)."""
    return {
        "at": at, "action": action, "from_state": from_state, "to_state": to_state,
        "actor": principal.name if principal else "anonymous",
        "role": principal.role if principal else None,
        "actor_department": principal.department_code if principal else None,
        "token": principal.token_id if principal else None, "department": department,
        "reason": reason, "due": due, "detail": json.dumps(detail or {}, default=str, ensure_ascii=False),
    }  # fmt: skip


def add_event(
    conn: Connection, incident_id: int, *, at: dt.datetime, action: str, from_state: str | None,
    to_state: str, principal: Principal | None, department: str | None, reason: str | None = None,
    due: dt.datetime | None = None, detail: dict[str, Any] | None = None,
) -> int:
    """Append one event; the id."""
    values = event_parameters(
        at=at, action=action, from_state=from_state, to_state=to_state, principal=principal,
        department=department, reason=reason, due=due, detail=detail,
    )
    return int(conn.execute(INSERT_EVENT, {"incident": incident_id, **values}).scalar_one())


def add_photos(conn: Connection, incident_id: int, event_id: int, stage: str, photos: list[Photo]) -> list[int]:
    """Store photos taken at ``stage`` ('report' or 'handled'); their ids."""
    return [
        int(conn.execute(INSERT_PHOTO, {
            "incident": incident_id, "event": event_id, "stage": stage, "type": p.content_type,
            "size": len(p.data), "w": p.width, "h": p.height, "data": p.data,
        }).scalar_one())  # fmt: skip
        for p in photos
    ]


def lock_incident(conn: Connection, incident_id: int) -> dict[str, Any]:
    """The incident row, locked until the transaction ends (concurrent changes wait, then see ours)."""
    row = conn.execute(
        text("SELECT * FROM incidents.incident WHERE id = :id FOR UPDATE"), {"id": incident_id}
    ).mappings().first()
    if row is None:
        raise NotFound(f"no incident {incident_id}")
    return dict(row)


def update_incident(conn: Connection, incident_id: int, changes: dict[str, Any]) -> None:
    """Apply column changes, bump the version and updated_at."""
    changes = dict(changes)
    now = changes.pop("updated_at", None) or dt.datetime.now(dt.UTC)
    assignments = ", ".join(f"{column} = :{column}" for column in changes)
    for column in ("extension_request",):
        if column in changes and changes[column] is not None:
            changes[column] = json.dumps(changes[column], default=str)
            assignments = assignments.replace(f"{column} = :{column}", f"{column} = CAST(:{column} AS jsonb)")
    conn.execute(
        text(
            f"UPDATE incidents.incident SET {assignments}, version = version + 1, updated_at = :now "
            "WHERE id = :id"
        ),
        {**changes, "id": incident_id, "now": now},
    )


ACTIVE_INSPECTOR = text(
    "SELECT 1 FROM access.token WHERE name = :name AND role = 'inspector' AND revoked_at IS NULL "
    "AND (expires_at IS NULL OR expires_at > now()) LIMIT 1"
)
ACTIVE_INSPECTORS = text(
    "SELECT name, min(department_code) AS department FROM access.token WHERE role = 'inspector' "
    "AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) GROUP BY name ORDER BY name"
)


def is_active_inspector(conn: Connection, name: str) -> bool:
    """Whether ``name`` holds a valid (not revoked, not expired) token of role inspector."""
    return conn.execute(ACTIVE_INSPECTOR, {"name": name}).first() is not None


def active_inspectors(conn: Connection) -> list[dict[str, Any]]:
    """The inspectors 核查 may be assigned to: ``[{"name", "department"}]``, by name."""
    return [dict(r) for r in conn.execute(ACTIVE_INSPECTORS).mappings()]
