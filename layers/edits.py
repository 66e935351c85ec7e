"""Feature edits on department overlays (OGC API Features Part 4): create, replace, patch, delete.

Each edit is one transaction: THE permission check (``spatial.access.policy``), the quality
gate (``layers.feature_gate``), the row locked ``FOR UPDATE`` so concurrent editors queue
instead of overwriting each other unseen, an optional ``If-Match`` check against the row's
ETag (md5 of the stored row), the write, and the history row with before and after.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine

from layers.feature_gate import (
    FeatureProblems,
    checked_geometry,
    checked_properties,
    declared_crs,
    feature_parts,
)
from layers.feature_rows import (
    current_feature,
    delete_row,
    edit_transaction,
    insert_row,
    locked_feature,
    row_etag,
    update_row,
    writable_table,
)
from layers.overlay_table import OverlayTable, layer_row
from spatial.access.policy import LayerRef, require_read
from spatial.access.principal import Principal
from spatial.errors import NotFound, PreconditionFailed
from spatial.extent import ExtentRule
from spatial.history.changes import Change, record_change


@dataclass(frozen=True)
class EditResult:
    """The feature's id and its new ETag (None after a delete)."""

    feature_id: str
    etag: str | None


@dataclass(frozen=True)
class WriteOptions:
    """How the edit came: through which door, with which Content-Crs and If-Match headers."""

    path: str = "ogc"
    content_crs: str | None = None
    if_match: str | None = None
    extent: ExtentRule = field(default_factory=ExtentRule)


def create_feature(
    engine: Engine, layer_id: str, body: Any, *, principal: Principal | None, options: WriteOptions
) -> EditResult:
    """Add a feature (its id is assigned by the table); returns the new id and ETag."""
    with edit_transaction(engine) as conn:
        table = writable_table(conn, layer_id, principal)
        geometry, properties = _gated(conn, table, body, options, label="the new feature")
        feature_id, etag = insert_row(conn, table, properties, geometry)
        _record(conn, table, feature_id, "create", None, principal, options)
    return EditResult(str(feature_id), etag)


def replace_feature(
    engine: Engine, layer_id: str, identifier: str, body: Any, *, principal: Principal | None,
    options: WriteOptions,
) -> EditResult:
    """PUT: the feature becomes ``body`` (absent attributes become null)."""
    with edit_transaction(engine) as conn:
        table = writable_table(conn, layer_id, principal)
        geometry, properties = _gated(conn, table, body, options, label=f"feature {identifier}")
        before = _locked(conn, table, identifier, options.if_match)
        full = {name: properties.get(name) for name in table.columns}
        etag = update_row(conn, table, identifier, full, geometry)
        _record(conn, table, identifier, "update", before, principal, options)
    return EditResult(str(identifier), etag)


def patch_feature(
    engine: Engine, layer_id: str, identifier: str, body: Any, *, principal: Principal | None,
    options: WriteOptions,
) -> EditResult:
    """PATCH: the given attributes (null clears one) and geometry merged onto the stored feature."""
    with edit_transaction(engine) as conn:
        table = writable_table(conn, layer_id, principal)
        label = f"feature {identifier}"
        geometry_json, patch = feature_parts(body, label)
        before = _locked(conn, table, identifier, options.if_match)
        problems = FeatureProblems(label)
        merged = {**before["properties"], **(patch or {})}
        properties = checked_properties(merged, table, complete=True, problems=problems)
        geometry = None
        if geometry_json is not None:
            geometry = checked_geometry(
                geometry_json, table, crs=declared_crs(body, options.content_crs),
                extent=options.extent.resolve(conn), problems=problems,
            )
        problems.raise_if_any()
        full = {name: properties.get(name) for name in table.columns}
        etag = update_row(conn, table, identifier, full, geometry)
        _record(conn, table, identifier, "update", before, principal, options)
    return EditResult(str(identifier), etag)


def delete_feature(
    engine: Engine, layer_id: str, identifier: str, *, principal: Principal | None,
    options: WriteOptions,
) -> None:
    """Remove a feature (its last state stays in the history)."""
    with edit_transaction(engine) as conn:
        table = writable_table(conn, layer_id, principal)
        before = _locked(conn, table, identifier, options.if_match)
        delete_row(conn, table, identifier)
        _record(conn, table, identifier, "delete", before, principal, options)


def feature_etag(engine: Engine, layer_id: str, identifier: str, principal: Principal | None) -> str | None:
    """The current ETag of a feature the principal may read; None when it does not exist."""
    with engine.connect() as conn:
        row = layer_row(conn, layer_id)
        require_read(principal, LayerRef.from_row(row) if row else None, layer_id)
        assert row is not None
        return row_etag(conn, row, identifier)


def quoted_etag(etag: str) -> str:
    """The ETag header value of a row hash."""
    return f'"{etag}"'


def if_match_allows(header: str | None, etag: str) -> bool:
    """Whether an If-Match header (None, '*', or a list of tags, weak or strong) lets a write go."""
    if header is None or header.strip() == "*":
        return True
    tags = {tag.strip().removeprefix("W/").strip('"') for tag in header.split(",")}
    return etag in tags


def _gated(
    conn: Connection, table: OverlayTable, body: Any, options: WriteOptions, *, label: str
) -> tuple[Any, dict[str, Any]]:
    """Geometry and properties of a whole feature through the quality gate."""
    geometry_json, properties = feature_parts(body, label)
    problems = FeatureProblems(label)
    geometry = checked_geometry(
        geometry_json, table, crs=declared_crs(body, options.content_crs),
        extent=options.extent.resolve(conn), problems=problems,
    )
    checked = checked_properties(properties or {}, table, complete=True, problems=problems)
    problems.raise_if_any()
    return geometry, checked


def _locked(conn: Connection, table: OverlayTable, identifier: str, if_match: str | None) -> dict[str, Any]:
    """The stored feature, locked; NotFound when absent, PreconditionFailed when If-Match is stale."""
    found = locked_feature(conn, table, identifier)
    if found is None:
        raise NotFound(f"no feature {identifier!r} in layer {table.layer.id!r}")
    etag, feature = found
    if not if_match_allows(if_match, etag):
        raise PreconditionFailed(
            f"feature {identifier} changed since you read it (If-Match {if_match} is not the "
            f"current {quoted_etag(etag)}): read it again and re-apply your change"
        )
    return feature


def _record(
    conn: Connection, table: OverlayTable, feature_id: Any, operation: str,
    before: dict[str, Any] | None, principal: Principal | None, options: WriteOptions,
) -> None:
    """History row with the state after the write, read back as stored."""
    assert principal is not None  # writable_table refused anonymous callers already
    after = current_feature(conn, table, feature_id) if operation != "delete" else None
    change = Change(table.layer.id, str(feature_id), operation, before, after)
    record_change(conn, change, principal=principal, path=options.path)
