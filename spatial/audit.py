"""The audit log of administrative actions (``audit.event``): who did what to which thing, when.

Written on the caller's connection, inside the transaction of the action itself, so an action
that is rolled back leaves no audit row and one that commits always has its row. Actions:
``token.create``, ``token.revoke``, ``department.add``, ``department.rename``,
``layer.publish``, ``layer.replace``, ``layer.remove``, ``layer.rollback``,
``categories.load``, ``grid.build``. Details never hold secrets (a token's hash neither).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import Connection, Engine, text

from spatial.access.principal import Principal

INSERT = text(
    "INSERT INTO audit.event (actor, department_code, action, target, detail) "
    "VALUES (:actor, :department, :action, :target, CAST(:detail AS jsonb)) RETURNING id"
)


def record_audit(
    conn: Connection, action: str, target: str, *, principal: Principal,
    detail: dict[str, Any] | None = None,
) -> int:
    """Append one audit row for ``principal`` (the CLI passes its operator explicitly)."""
    who = principal
    values = {
        "actor": who.name, "department": who.department_code, "action": action, "target": target,
        "detail": json.dumps(detail or {}, ensure_ascii=False, default=str),
    }  # fmt: skip
    return int(conn.execute(INSERT, values).scalar_one())


def list_audit(
    engine: Engine, *, action: str | None = None, since: dt.datetime | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """Audit rows, newest first, optionally of one action (or prefix ``layer.``) and since a time."""
    query = (
        "SELECT id, at, actor, department_code, action, target, detail FROM audit.event "
        "WHERE (CAST(:action AS text) IS NULL OR action = :action OR action LIKE :prefix) "
        "AND (CAST(:since AS timestamptz) IS NULL OR at >= :since) ORDER BY id DESC LIMIT :limit"
    )
    prefix = action if action and action.endswith(".") else None
    params = {"action": action, "prefix": f"{prefix}%" if prefix else None, "since": since, "limit": limit}
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(text(query), params).mappings()]
