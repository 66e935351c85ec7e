"""Write and read feature history rows (``audit.feature_change``), on the caller's connection.

Rows are written in the same transaction as the change they describe, so a change and its
history commit together or not at all. ``before`` and ``after`` are GeoJSON Features (or, for
a whole-layer replace, a small summary: feature count and checksum).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, insert, or_, select

from spatial.access.principal import Principal
from spatial.errors import InvalidInput
from spatial.history.models import OPERATIONS, PATHS, FeatureChange

MAX_ROWS = 10_000


@dataclass(frozen=True)
class Change:
    """What happened to one feature (``feature_id`` None: the whole layer)."""

    layer_id: str
    feature_id: str | None
    operation: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def record_change(conn: Connection, change: Change, *, principal: Principal, path: str) -> None:
    """Append one history row for ``change``, made by ``principal`` through ``path``."""
    record_changes(conn, [change], principal=principal, path=path)


def record_changes(
    conn: Connection, changes: list[Change], *, principal: Principal, path: str
) -> None:
    """Append history rows in one statement."""
    if path not in PATHS:
        raise ValueError(f"history path {path!r} unknown; one of {PATHS}")
    if not changes:
        return
    rows = []
    for change in changes:
        if change.operation not in OPERATIONS:
            raise ValueError(f"history operation {change.operation!r} unknown")
        rows.append(
            {
                "layer_id": change.layer_id,
                "feature_id": change.feature_id,
                "operation": change.operation,
                "path": path,
                "actor": principal.name,
                "department_code": principal.department_code,
                "token_id": principal.token_id,
                "before": change.before,
                "after": change.after,
            }
        )
    conn.execute(insert(FeatureChange), rows)


def list_changes(
    engine: Engine,
    layer_id: str,
    *,
    feature: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """History rows of a layer, oldest first, filtered by feature and time (inclusive)."""
    if not 1 <= limit <= MAX_ROWS:
        raise InvalidInput(f"limit must be between 1 and {MAX_ROWS}")
    if since and until and since > until:
        raise InvalidInput("since is after until")
    table = FeatureChange.__table__
    query = select(table).where(table.c.layer_id == layer_id)
    if feature is not None:
        query = query.where(table.c.feature_id == feature)
    if since is not None:
        query = query.where(table.c.at >= since)
    if until is not None:
        query = query.where(table.c.at <= until)
    query = query.order_by(table.c.at, table.c.id).limit(limit)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def changes_since(conn: Connection, layer_id: str, since: dt.datetime, feature: str | None) -> list[dict[str, Any]]:
    """History rows after ``since`` (exclusive), oldest first; what a rollback undoes.

    Whole-layer replaces (``feature_id`` NULL) are always included: nothing before one can be
    restored feature by feature.
    """
    table = FeatureChange.__table__
    query = select(table).where(table.c.layer_id == layer_id, table.c.at > since)
    if feature is not None:
        query = query.where(or_(table.c.feature_id == feature, table.c.feature_id.is_(None)))
    return [dict(row) for row in conn.execute(query.order_by(table.c.at, table.c.id)).mappings()]
