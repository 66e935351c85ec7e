"""Roll an overlay back to an earlier time, whole or one feature, using its history.

The state of a feature at time T is the ``before`` of its first change after T (no change
after T: it is as it was). Restoring writes that state back, each restoration recorded in the
history itself (path ``rollback``), so a rollback can be rolled back too. A whole-layer
replace after T stops the rollback: the features before it cannot be restored one by one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from shapely.geometry import shape
from sqlalchemy import Connection, Engine

from layers.feature_rows import (
    delete_row,
    edit_transaction,
    insert_row,
    locked_feature,
    update_row,
    writable_table,
)
from layers.overlay_table import OverlayTable
from spatial.access.principal import Principal
from spatial.audit import record_audit
from spatial.errors import Conflict
from spatial.history.changes import Change, changes_since, record_changes


@dataclass
class RollbackReport:
    """What a rollback did, feature by feature."""

    layer: str
    to: dt.datetime
    updated: list[str] = field(default_factory=list)
    recreated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return len(self.updated) + len(self.recreated) + len(self.deleted)

    def summary(self) -> str:
        if not self.changed:
            return f"layer {self.layer} is already as it was at {self.to.isoformat()}; nothing to do"
        return (
            f"layer {self.layer} rolled back to {self.to.isoformat()}: {len(self.updated)} "
            f"restored, {len(self.recreated)} re-created, {len(self.deleted)} removed"
        )


def rollback_layer(
    engine: Engine, layer_id: str, to: dt.datetime, *, principal: Principal,
    feature: str | None = None,
) -> RollbackReport:
    """Restore ``layer_id`` (or one ``feature``) to its state at ``to``; recorded as history."""
    if to.tzinfo is None:
        raise ValueError("rollback time must carry a time zone")
    report = RollbackReport(layer_id, to)
    with edit_transaction(engine) as conn:
        # the layer's lock alone: no upload, edit or other rollback of this layer meanwhile
        table = writable_table(conn, layer_id, principal, whole_layer=True)
        states = states_at(conn, layer_id, to, feature)
        changes = [restore(conn, table, fid, state, report) for fid, state in states.items()]
        record_changes(conn, [c for c in changes if c], principal=principal, path="rollback")
        record_audit(conn, "layer.rollback", f"layer {layer_id}", principal=principal,
                     detail={"to": to.isoformat(), "feature": feature, "changed": sum(1 for c in changes if c)})  # fmt: skip
    return report


def states_at(
    conn: Connection, layer_id: str, to: dt.datetime, feature: str | None
) -> dict[str, dict[str, Any] | None]:
    """Feature id → its state at ``to`` (None: it did not exist), for features changed since."""
    states: dict[str, dict[str, Any] | None] = {}
    for change in changes_since(conn, layer_id, to, feature):
        if change["feature_id"] is None:
            raise Conflict(
                f"layer {layer_id!r} was replaced as a whole on {change['at']:%Y-%m-%d %H:%M:%S %Z} "
                f"({change['path']}, by {change['actor']}): features before that cannot be "
                "restored one by one; load the earlier file again instead"
            )
        states.setdefault(change["feature_id"], change["before"])
    return states


def restore(
    conn: Connection, table: OverlayTable, feature_id: str, state: dict[str, Any] | None,
    report: RollbackReport,
) -> Change | None:
    """Write one feature's earlier state back; the history entry for it (None: no change)."""
    found = locked_feature(conn, table, feature_id)
    current = found[1] if found else None
    if state is None:
        if current is None:
            return None
        delete_row(conn, table, feature_id)
        report.deleted.append(feature_id)
        return Change(table.layer.id, feature_id, "delete", current, None)
    if current is not None and _same(current, state):
        return None
    properties = {k: v for k, v in state["properties"].items() if k in table.columns}
    geometry = shape(state["geometry"])
    if current is None:
        insert_row(conn, table, properties, geometry, feature_id=feature_id)
        report.recreated.append(feature_id)
        return Change(table.layer.id, feature_id, "create", None, state)
    full = {name: properties.get(name) for name in table.columns}
    update_row(conn, table, feature_id, full, geometry)
    report.updated.append(feature_id)
    return Change(table.layer.id, feature_id, "update", current, state)


def _same(current: dict[str, Any], state: dict[str, Any]) -> bool:
    """Whether the stored feature already is the earlier state."""
    return current["properties"] == state["properties"] and current["geometry"] == state["geometry"]
