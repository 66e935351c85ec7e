"""The dispatch event log: one row per change, appended in the changing transaction."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import Connection, text

from spatial.access.principal import Principal

INSERT_SQL = text(
    """
    INSERT INTO emergency.dispatch_event (at, actor, action, call_id, unit_id, from_status, to_status, detail)
    VALUES (:at, :actor, :action, :call_id, :unit_id, :from_status, :to_status, CAST(:detail AS jsonb))
    """
)
LIST_SQL = """
SELECT e.id, e.at, e.recorded_at, e.actor, e.action, e.call_id, e.unit_id, u.call_sign,
       e.from_status, e.to_status, e.detail
FROM emergency.dispatch_event e LEFT JOIN emergency.unit u ON u.id = e.unit_id
WHERE {where} ORDER BY e.at, e.id LIMIT :limit
"""


def log_event(conn: Connection, action: str, principal: Principal, at: dt.datetime, *, call_id: int | None = None,
              unit_id: int | None = None, from_status: str | None = None, to_status: str | None = None,
              detail: dict[str, Any] | None = None) -> None:  # fmt: skip
    """Append one event (who: the principal's label)."""
    conn.execute(INSERT_SQL, {"at": at, "actor": principal.label, "action": action, "call_id": call_id,
                              "unit_id": unit_id, "from_status": from_status, "to_status": to_status,
                              "detail": json.dumps(detail, ensure_ascii=False) if detail else None})  # fmt: skip


def list_events(conn: Connection, *, call_id: int | None = None, unit_id: int | None = None,
                limit: int = 500) -> list[dict[str, Any]]:  # fmt: skip
    """Events of a call or a unit, oldest first."""
    where = "e.call_id = :call_id" if call_id is not None else "e.unit_id = :unit_id"
    rows = conn.execute(text(LIST_SQL.format(where=where)), {"call_id": call_id, "unit_id": unit_id, "limit": limit})
    return [dict(row) for row in rows.mappings()]
