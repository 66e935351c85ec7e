"""Store a checked vector layer in PostGIS: COPY into a staging table, then swap or refill.

A new layer (or one whose schema the caller chose to change) is built in a staging table and
swapped in: old table renamed away and dropped, staging renamed to ``thematic.<name>`` with
stable index and constraint names. Replacing the contents of an existing layer keeps its
table: the staging table has the table's own column types, and the rows are swapped with
DELETE and INSERT, so the table's NOT NULL and CHECK constraints judge every new row.

Everything happens in the caller's ONE transaction, with the catalog row and the history row.
A failure anywhere, including a killed process (PostgreSQL rolls back a transaction whose
connection drops), leaves the previous version and its catalog row as they were and no
staging table behind.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
from sqlalchemy import Connection, text

from layers.bulk import copy_frame
from layers.catalog import LayerSpec, layer_uid, lock_layer, register_layer
from layers.overlay_table import OverlayTable
from spatial.access.principal import Principal
from spatial.crs import STORAGE_SRID
from spatial.errors import Conflict, InvalidInput, NotFound
from spatial.history.changes import Change, record_change

SCHEMA = "thematic"
CHECKSUM_BELOW = 1_000_000  # history keeps a checksum of layers up to this many features
STAGE_PREFIX = "_stage_"
STAGE_NAME_CHARS = 40  # room for the random suffix and "_pkey" within 63 bytes
LOCK_TIMEOUT = "15s"

Progress = Callable[[int, int], None]


@dataclass
class PreparedLayer:
    """Rows ready for COPY: sanitised attribute columns and ``geom`` in storage lon/lat."""

    frame: gpd.GeoDataFrame
    columns: dict[str, str]  # attribute column → PostgreSQL type
    geometry_type: str  # PostGIS type modifier, e.g. MultiPolygon or PointZ


def quote(name: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def qualified(table: str) -> str:
    return f"{SCHEMA}.{quote(table)}"


def stable_name(text_: str) -> str:
    """An identifier cut to PostgreSQL's 63 bytes, as PostgreSQL itself would cut it."""
    return text_.encode("utf-8")[:63].decode("utf-8", errors="ignore")


# ----------------------------------------------------------------------------------- checks
def check_target(conn: Connection, spec: LayerSpec) -> None:
    """Refuse a load that cannot end well, before reading the file."""
    spec.validate()
    if conn.execute(text("SELECT to_regclass('catalog.layer')")).scalar() is None:
        raise InvalidInput("the database schema is not set up: run `onemap db upgrade` first")
    _check_department(conn, spec.department_code)
    existing = conn.execute(
        text("SELECT storage_schema, storage_table, kind FROM catalog.layer WHERE id = :id"),
        {"id": spec.id},
    ).first()
    if existing is not None and (existing.storage_schema != SCHEMA or existing.kind != "vector"):
        raise InvalidInput(
            f"layer {spec.id!r} already exists as a {existing.kind} layer in "
            f"{existing.storage_schema or 'files'}; choose another name"
        )
    if existing is None and _table_exists(conn, spec.id):
        raise InvalidInput(
            f"table {SCHEMA}.{spec.id} exists but is not a catalogued layer; choose another name"
        )


def _check_department(conn: Connection, code: str) -> None:
    known = [
        row[0] for row in conn.execute(text("SELECT code FROM catalog.department ORDER BY code"))
    ]
    if code not in known:
        listed = ", ".join(known) if known else "none yet"
        raise InvalidInput(f"department {code!r} does not exist; known departments: {listed}")


def _table_exists(conn: Connection, table: str) -> bool:
    return (
        conn.execute(text("SELECT to_regclass(:t)"), {"t": qualified(table)}).scalar() is not None
    )


# ------------------------------------------------------------------------------------ store
@dataclass(frozen=True)
class StoreContext:
    """Who stores the layer, through which door, from which file (for the history row)."""

    principal: Principal
    path: str
    source: str


def store_layer(
    conn: Connection,
    spec: LayerSpec,
    layer: PreparedLayer,
    progress: Progress | None = None,
    *,
    target: OverlayTable | None = None,
    context: StoreContext | None = None,
) -> int:
    """Store ``layer`` as ``thematic.<spec.id>``: refill ``target`` if given, else stage and swap.

    Returns the new catalog version; with a ``context``, the replace is recorded in history.
    Runs under the layer's write lock (``layers.catalog.lock_layer``): feature edits wait for
    it, and the layer must still be the one the load was planned for (``spec.replaces``).
    """
    conn.execute(text("SET LOCAL TimeZone = 'UTC'"))  # naive times in files are read as UTC
    lock_layer(conn, spec.id)
    check_still_planned(conn, spec)
    drop_stale_staging(conn, spec.id)
    table = spec.storage_table or spec.id
    before = layer_summary(conn, table) if _table_exists(conn, table) else None
    stage = f"{STAGE_PREFIX}{spec.id[:STAGE_NAME_CHARS]}_{secrets.token_hex(4)}"
    if target is None:
        create_staging(conn, stage, layer)
        copy_rows(conn, stage, layer, progress)
        conn.execute(
            text(f"CREATE INDEX {quote(stage + '_gist')} ON {qualified(stage)} USING gist (geom)")
        )
        conn.execute(text(f"ANALYZE {qualified(stage)}"))
        swap_in(conn, stage, spec.id)
    else:
        create_staging_like(conn, stage, target, layer)
        copy_rows(conn, stage, layer, progress)
        refill(conn, stage, target, layer)
    register_layer(conn, spec)
    version = int(
        conn.execute(
            text("SELECT version FROM catalog.layer WHERE id = :id"), {"id": spec.id}
        ).scalar_one()
    )
    if context is not None:
        after = {**layer_summary(conn, table), "version": version, "source": context.source}
        change = Change(spec.id, None, "replace", before, after)
        record_change(conn, change, principal=context.principal, path=context.path)
    return version


def layer_summary(conn: Connection, table: str) -> dict[str, object]:
    """Feature count and an md5 over the rows in id order (omitted for very big layers)."""
    count = int(conn.execute(text(f"SELECT count(*) FROM {qualified(table)}")).scalar_one())
    summary: dict[str, object] = {"features": count}
    if count < CHECKSUM_BELOW:
        summary["checksum"] = conn.execute(
            text(f"SELECT md5(string_agg(md5(t::text), '' ORDER BY t.id)) FROM {qualified(table)} t")
        ).scalar()
    return summary


def check_still_planned(conn: Connection, spec: LayerSpec) -> None:
    """Conflict when another session created, replaced-with-new-identity or removed the layer
    between the load's plan (permission check, schema read) and its store (under the lock)."""
    current = layer_uid(conn, spec.id)
    if current == spec.replaces:
        return
    if spec.replaces is None:
        raise Conflict(f"layer {spec.id!r} was created by someone else while your file was being read; "
                       "nothing was stored: load it again to replace theirs")  # fmt: skip
    raise Conflict(f"layer {spec.id!r} was removed or re-created while your file was being read; "
                   "nothing was stored: load it again")  # fmt: skip


def drop_stale_staging(conn: Connection, name: str) -> list[str]:
    """Drop staging tables an earlier, interrupted load of this layer left behind."""
    stale = [
        row[0]
        for row in conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = :s AND tablename ~ :pattern"),
            {"s": SCHEMA, "pattern": f"^{STAGE_PREFIX}{name[:STAGE_NAME_CHARS]}_[0-9a-f]{{8}}$"},
        )
    ]
    for table in stale:
        conn.execute(text(f"DROP TABLE {qualified(table)}"))
    return stale


def create_staging(conn: Connection, stage: str, layer: PreparedLayer) -> None:
    """The staging table: identity id, the attribute columns, a typed 4326 geometry."""
    attributes = "".join(f"{quote(name)} {pg_type}, " for name, pg_type in layer.columns.items())
    conn.execute(
        text(
            f"CREATE TABLE {qualified(stage)} ("
            "id bigint GENERATED BY DEFAULT AS IDENTITY, "
            f"{attributes}geom geometry({layer.geometry_type}, {STORAGE_SRID}) NOT NULL, "
            f"CONSTRAINT {quote(stage + '_pkey')} PRIMARY KEY (id))"
        )
    )


def create_staging_like(
    conn: Connection, stage: str, target: OverlayTable, layer: PreparedLayer
) -> None:
    """A staging table with the target's own types for the file's columns, and ``geom``."""
    columns = "".join(f"{quote(name)}, " for name in layer.columns)
    conn.execute(
        text(
            f"CREATE TABLE {qualified(stage)} AS SELECT {columns}{quote(target.geom_field)} AS geom "
            f"FROM {target.qualified} WITH NO DATA"
        )
    )


def refill(conn: Connection, stage: str, target: OverlayTable, layer: PreparedLayer) -> None:
    """Replace the target's rows by the staged ones (constraints checked), then drop the stage."""
    conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    columns = "".join(f"{quote(name)}, " for name in layer.columns)
    conn.execute(text(f"DELETE FROM {target.qualified}"))
    conn.execute(
        text(
            f"INSERT INTO {target.qualified} ({columns}{quote(target.geom_field)}) "
            f"SELECT {columns}geom FROM {qualified(stage)}"
        )
    )
    conn.execute(text(f"DROP TABLE {qualified(stage)}"))
    conn.execute(text(f"ANALYZE {target.qualified}"))


def copy_rows(
    conn: Connection, stage: str, layer: PreparedLayer, progress: Progress | None
) -> None:
    """COPY every row into the staging table (layers.bulk), inside the open transaction."""
    total, done = len(layer.frame), 0

    def rows_written(count: int) -> None:
        nonlocal done
        done += count
        if progress:
            progress(done, total)

    if progress:
        progress(0, total)
    copy_frame(
        conn,
        SCHEMA,
        stage,
        layer.frame,
        [*layer.columns, "geom"],
        srid=STORAGE_SRID,
        on_rows=rows_written,
    )


def swap_in(conn: Connection, stage: str, name: str) -> None:
    """Replace ``thematic.<name>`` by the staging table; stable names for its index, key, sequence."""
    conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    if _table_exists(conn, name):
        old = f"_old_{name[:48]}_{secrets.token_hex(4)}"
        conn.execute(text(f"ALTER TABLE {qualified(name)} RENAME TO {quote(old)}"))
        # index and sequence names are unique per schema: the old ones must go before ours take them
        conn.execute(text(f"DROP TABLE {qualified(old)}"))
    sequence = conn.execute(
        text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": qualified(stage)}
    ).scalar_one()
    conn.execute(text(f"ALTER TABLE {qualified(stage)} RENAME TO {quote(name)}"))
    conn.execute(
        text(
            f"ALTER TABLE {qualified(name)} RENAME CONSTRAINT {quote(stage + '_pkey')} "
            f"TO {quote(stable_name('pk_' + name))}"
        )
    )
    conn.execute(
        text(
            f"ALTER INDEX {SCHEMA}.{quote(stage + '_gist')} RENAME TO {quote(stable_name(f'ix_{name}_geom_gist'))}"
        )
    )
    conn.execute(
        text(f"ALTER SEQUENCE {sequence} RENAME TO {quote(stable_name(name + '_id_seq'))}")
    )


# ----------------------------------------------------------------------------------- remove
def drop_layer(conn: Connection, name: str) -> None:
    """Drop a thematic layer's table and its catalog row; base-map layers are refused."""
    lock_layer(conn, name)
    row = conn.execute(
        text("SELECT storage_schema, storage_table FROM catalog.layer WHERE id = :id"), {"id": name}
    ).first()
    if row is None:
        raise NotFound(f"layer {name!r} is not in the catalog")
    if row.storage_schema == "basemap":
        raise InvalidInput(
            f"layer {name!r} is part of the base map (basemap.{row.storage_table}) and cannot be removed"
        )
    if row.storage_schema != SCHEMA:
        raise InvalidInput(
            f"layer {name!r} is not a thematic vector layer; only those can be removed here"
        )
    conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    conn.execute(text(f"DROP TABLE IF EXISTS {qualified(row.storage_table)}"))
    conn.execute(text("DELETE FROM catalog.layer WHERE id = :id"), {"id": name})
