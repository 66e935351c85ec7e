"""Row-level SQL on an overlay table: lock, read as GeoJSON, insert, update, delete.

Shared by feature edits (``layers.edits``) and rollbacks (``layers.rollback``); each function
runs on the caller's connection, inside the caller's transaction. Geometries are always
written with SRID 4326, whatever the request's CRS was.
"""

from __future__ import annotations

from typing import Any

import orjson
import psycopg
import shapely
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DataError, DBAPIError

from layers.catalog import lock_layer
from layers.overlay_table import OverlayTable, describe_overlay, layer_row
from spatial.access.policy import LayerRef, require_write
from spatial.access.principal import Principal
from spatial.errors import Conflict, InvalidInput

LOCK_TIMEOUT = "10s"


class edit_transaction:  # noqa: N801  (used like engine.begin())
    """``engine.begin()`` with a lock timeout, database refusals turned into 4xx errors."""

    def __init__(self, engine: Engine) -> None:
        self._context = engine.begin()

    def __enter__(self) -> Connection:
        conn = self._context.__enter__()
        conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        return conn

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        self._context.__exit__(kind, error, trace)
        if isinstance(error, DBAPIError):
            raise refusal(error) from None


def refusal(error: DBAPIError) -> Exception:
    """A database refusal as the user's error: constraint or value → 400, lock wait → 409."""
    orig = error.orig
    if isinstance(orig, psycopg.errors.LockNotAvailable):
        return Conflict(
            "the feature or its layer is being changed by someone else right now (an edit of the "
            "same feature, or a replace of the whole layer); nothing was stored: try again"
        )
    if isinstance(orig, psycopg.errors.IntegrityError | psycopg.errors.DataError):
        first = str(orig).strip().splitlines()[0]
        return InvalidInput(f"the database refused the feature, nothing was stored: {first}")
    return error


def writable_table(
    conn: Connection, layer_id: str, principal: Principal | None, *, whole_layer: bool = False
) -> OverlayTable:
    """The overlay's table, after the layer's write lock and THE permission check for writing.

    The lock (``layers.catalog.lock_layer``) comes first, so the table described here is the
    one the write will change: an upload-replace cannot swap it meanwhile. Feature edits share
    it; ``whole_layer`` (a rollback) takes it alone.
    """
    if principal is None:
        require_write(principal, None, layer_id)  # Unauthorized, before waiting for any lock
    lock_layer(conn, layer_id, shared=not whole_layer)
    row = layer_row(conn, layer_id)
    require_write(principal, LayerRef.from_row(row) if row else None, layer_id)
    assert row is not None
    return describe_overlay(conn, row)


def feature_json_sql(table: OverlayTable) -> str:
    """A row of ``t`` as a GeoJSON Feature (jsonb), the form history keeps."""
    return (
        f"jsonb_build_object('type', 'Feature', 'id', t.\"{table.id_field}\", "
        f"'geometry', ST_AsGeoJSON(t.\"{table.geom_field}\")::jsonb, "
        f"'properties', to_jsonb(t) - '{table.id_field}' - '{table.geom_field}')"
    )


def locked_feature(conn: Connection, table: OverlayTable, identifier: Any) -> tuple[str, dict[str, Any]] | None:
    """(ETag, Feature) of a row, locked until the transaction ends; None when absent."""
    row = conn.execute(
        text(
            f"SELECT md5(t::text), {feature_json_sql(table)} FROM {table.qualified} t "
            f'WHERE t."{table.id_field}" = :id FOR UPDATE'
        ),
        {"id": table.feature_id(identifier)},
    ).first()
    return (str(row[0]), dict(row[1])) if row else None


def current_feature(conn: Connection, table: OverlayTable, identifier: Any) -> dict[str, Any] | None:
    """The stored Feature, or None."""
    row = conn.execute(
        text(f'SELECT {feature_json_sql(table)} FROM {table.qualified} t WHERE t."{table.id_field}" = :id'),
        {"id": table.feature_id(identifier)},
    ).scalar()
    return dict(row) if row is not None else None


def row_etag(conn: Connection, row: dict[str, Any], identifier: str) -> str | None:
    """md5 of the stored row (every column, geometry included) of a catalog row's table.

    The id is bound untyped, so PostgreSQL reads it as the id column's type and uses the
    primary key; an id that cannot be of that type is simply absent (None).
    """
    id_field = row["id_field"] or "id"
    statement = text(
        f'SELECT md5(t::text) FROM "{row["storage_schema"]}"."{row["storage_table"]}" t '
        f'WHERE t."{id_field}" = :id'
    )
    try:
        with conn.begin_nested():
            return conn.execute(statement, {"id": str(identifier)}).scalar()
    except DataError:
        return None


def insert_row(
    conn: Connection, table: OverlayTable, properties: dict[str, Any], geometry: Any,
    *, feature_id: Any = None,
) -> tuple[Any, str]:
    """Insert a row (id from the table unless given); its id and ETag."""
    names = list(properties)
    values = {**properties}
    if feature_id is not None:
        names.insert(0, table.id_field)
        values[table.id_field] = table.feature_id(feature_id)
    columns = "".join(f'"{n}", ' for n in names)
    selected = "".join(f'r."{n}", ' for n in names)
    row = conn.execute(
        text(
            f"INSERT INTO {table.qualified} AS t ({columns}\"{table.geom_field}\") "
            f"SELECT {selected}ST_GeomFromWKB(:wkb, 4326) "
            f"FROM jsonb_populate_record(NULL::{table.qualified}, CAST(:props AS jsonb)) r "
            f'RETURNING t."{table.id_field}", md5(t::text)'
        ),
        {"wkb": shapely.to_wkb(geometry), "props": orjson.dumps(values).decode()},
    ).one()
    return row[0], str(row[1])


def update_row(
    conn: Connection, table: OverlayTable, identifier: Any, properties: dict[str, Any], geometry: Any
) -> str:
    """Set the given attributes (and the geometry when not None); the new ETag."""
    assignments = [f'"{n}" = r."{n}"' for n in properties]
    if geometry is not None:
        assignments.append(f'"{table.geom_field}" = ST_GeomFromWKB(:wkb, 4326)')
    if not assignments:
        assignments.append(f'"{table.id_field}" = t."{table.id_field}"')
    params: dict[str, Any] = {
        "id": table.feature_id(identifier),
        "props": orjson.dumps(properties).decode(),
    }
    if geometry is not None:
        params["wkb"] = shapely.to_wkb(geometry)
    statement = text(
        f"UPDATE {table.qualified} AS t SET {', '.join(assignments)} "
        f"FROM jsonb_populate_record(NULL::{table.qualified}, CAST(:props AS jsonb)) r "
        f'WHERE t."{table.id_field}" = :id RETURNING md5(t::text)'
    )
    return str(conn.execute(statement, params).scalar_one())


def delete_row(conn: Connection, table: OverlayTable, identifier: Any) -> None:
    conn.execute(
        text(f'DELETE FROM {table.qualified} WHERE "{table.id_field}" = :id'),
        {"id": table.feature_id(identifier)},
    )
