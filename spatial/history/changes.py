"""Write and read feature history rows (``audit.feature_change``), on the caller's connection.

Rows are written in the same transaction as the change they describe, so a change and its
history commit together or not at all. ``before`` and ``after`` are GeoJSON Features (or, for
a whole-layer replace, a small summary: feature count and checksum).

History belongs to the layer's identity (``catalog.layer.uid``), not its name: a layer removed
and a new one published under the same name do not share rows. Each row's ``at`` is the
moment it is written (``clock_timestamp()``), inside the writer's hold of the layer's write
lock, so the order of ``at`` is the order in which the changes were applied.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, or_, select, text

from spatial.access.principal import Principal
from spatial.errors import InvalidInput, NotFound
from spatial.history.models import OPERATIONS, PATHS, FeatureChange
from spatial.models import Layer

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
    uids = _uids(conn, {change.layer_id for change in changes})
    rows = []
    for change in changes:
        if change.operation not in OPERATIONS:
            raise ValueError(f"history operation {change.operation!r} unknown")
        rows.append(
            {
                "at": func.clock_timestamp(),
                "layer_id": change.layer_id,
                "layer_uid": uids[change.layer_id],
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
    conn.execute(insert(FeatureChange).values(rows))


def _uids(conn: Connection, names: set[str]) -> dict[str, str]:
    """The identity of each named layer; NotFound when one is not in the catalog."""
    found = {
        str(name): str(uid)
        for name, uid in conn.execute(
            text("SELECT id, uid FROM catalog.layer WHERE id = ANY(:names)"), {"names": sorted(names)}
        )
    }
    missing = names - set(found)
    if missing:
        raise NotFound(f"no layer named {sorted(missing)[0]!r}: its history cannot be written")
    return found


def _current(layer_id: str) -> Any:
    """The identity of the layer now named ``layer_id`` (NULL when there is none), as SQL."""
    return select(Layer.uid).where(Layer.id == layer_id).scalar_subquery()


def list_changes(
    engine: Engine,
    layer_id: str,
    *,
    feature: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """History rows of the layer now named ``layer_id``, oldest first, filtered by feature and
    time (inclusive); rows of an earlier layer of the same name are not its history."""
    if not 1 <= limit <= MAX_ROWS:
        raise InvalidInput(f"limit must be between 1 and {MAX_ROWS}")
    if since and until and since > until:
        raise InvalidInput("since is after until")
    table = FeatureChange.__table__
    query = select(table).where(table.c.layer_uid == _current(layer_id))
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
    query = select(table).where(table.c.layer_uid == _current(layer_id), table.c.at > since)
    if feature is not None:
        query = query.where(or_(table.c.feature_id == feature, table.c.feature_id.is_(None)))
    return [dict(row) for row in conn.execute(query.order_by(table.c.at, table.c.id)).mappings()]
