"""The layer catalog: one row per layer of the one map (owner, visibility, storage, extent).

Everything that serves layers (pygeoapi resources, the web map, downloads) reads this table;
loaders write it. Functions take an Engine or a Session explicitly: nothing global.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, select, text, update
from sqlalchemy.dialects.postgresql import insert

from spatial.errors import InvalidInput, NotFound
from spatial.models import LAYER_KINDS, VISIBILITIES, Department, Layer


@dataclass
class LayerSpec:
    """What a loader knows about a layer it is registering."""

    id: str
    title_zh: str
    title_en: str
    department_code: str
    kind: str = "vector"
    visibility: str = "public"
    description: str = ""
    storage_schema: str | None = None
    storage_table: str | None = None
    storage_path: str | None = None
    id_field: str = "id"
    geom_field: str = "geom"
    time_field: str | None = None
    keywords: list[str] = field(default_factory=list)
    licence: str = "CC-BY-4.0"
    style: dict[str, Any] = field(default_factory=dict)
    # a loader's expectation, not a column: the identity (``catalog.layer.uid``) of the layer
    # this load replaces, None for a new layer; checked under the layer's write lock
    replaces: str | None = None

    def validate(self) -> None:
        import re

        if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", self.id):
            raise InvalidInput(
                f"layer name {self.id!r} is not allowed: use 1-63 lowercase letters, digits and "
                "underscores, starting with a letter"
            )
        if self.kind not in LAYER_KINDS:
            raise InvalidInput(f"layer kind {self.kind!r} unknown; one of {', '.join(LAYER_KINDS)}")
        if self.visibility not in VISIBILITIES:
            raise InvalidInput(
                f"visibility {self.visibility!r} unknown; one of {', '.join(VISIBILITIES)}"
            )


def upsert_department(conn: Connection, code: str, name_zh: str, name_en: str) -> None:
    stmt = insert(Department).values(code=code, name_zh=name_zh, name_en=name_en)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Department.code], set_={"name_zh": name_zh, "name_en": name_en}
    )
    conn.execute(stmt)


def list_departments(conn: Connection) -> list[dict[str, str]]:
    """Every department, ``[{"code", "name_zh", "name_en"}]`` ordered by code, byte order (tens to hundreds)."""
    query = select(Department.code, Department.name_zh, Department.name_en).order_by(Department.code.collate("C"))
    return [dict(row) for row in conn.execute(query).mappings()]


def register_layer(conn: Connection, spec: LayerSpec) -> None:
    """Insert or update the catalog row, then refresh its extent, count and attribute list."""
    spec.validate()
    exists = conn.execute(
        select(Department.code).where(Department.code == spec.department_code)
    ).first()
    if not exists:
        raise InvalidInput(f"department {spec.department_code!r} does not exist")
    values = {k: v for k, v in spec.__dict__.items() if k != "replaces"}
    stmt = insert(Layer).values(**values)
    changes = {k: v for k, v in values.items() if k != "id"}
    changes["updated_at"] = dt.datetime.now(dt.UTC)
    changes["version"] = Layer.version + 1
    conn.execute(stmt.on_conflict_do_update(index_elements=[Layer.id], set_=changes))
    if spec.storage_table:
        refresh_layer_stats(conn, spec.id)


LOCK_NAMESPACE = "onemap.layer"


def lock_layer(conn: Connection, name: str, *, shared: bool = False) -> None:
    """THE write lock of one layer, held until the caller's transaction ends.

    Every write takes it: feature edits (create, replace, patch, delete) share it, so they run
    side by side (rows are locked one by one); whole-layer writes (upload-replace, removal,
    rollback) take it alone, so an edit arriving meanwhile waits and then applies to the new
    version (or is refused when its wait passes the transaction's ``lock_timeout``). Keyed on
    the name, the one thing a creator, a replacer and an editor all know before they look.
    """
    kind = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    conn.execute(text(f"SELECT {kind}(hashtext(:ns), hashtext(:n))"), {"ns": LOCK_NAMESPACE, "n": name})


def layer_uid(conn: Connection, layer_id: str) -> str | None:
    """The identity of the layer now named ``layer_id`` (None: no such layer)."""
    uid = conn.execute(text("SELECT uid FROM catalog.layer WHERE id = :id"), {"id": layer_id}).scalar()
    return None if uid is None else str(uid)


def refresh_layer_stats(conn: Connection, layer_id: str) -> None:
    """Recompute extent, time range, feature count (estimate for big tables) and attributes."""
    layer = conn.execute(select(Layer).where(Layer.id == layer_id)).scalar_one_or_none()
    if layer is None:
        raise NotFound(f"layer {layer_id!r} is not in the catalog")
    row = conn.execute(select(Layer.__table__).where(Layer.id == layer_id)).mappings().one()
    qualified = f'"{row["storage_schema"]}"."{row["storage_table"]}"'
    geom = row["geom_field"]
    extent = conn.execute(
        text(f'SELECT ST_AsEWKT(ST_Envelope(ST_Extent("{geom}")::geometry)) FROM {qualified}')
    ).scalar()
    time_range = (None, None)
    if row["time_field"]:
        time_range = tuple(
            conn.execute(
                text(f'SELECT min("{row["time_field"]}"), max("{row["time_field"]}") FROM {qualified}')
            ).one()
        )
    geometry_type = conn.execute(
        text(
            "SELECT type FROM geometry_columns WHERE f_table_schema = :s "
            "AND f_table_name = :t AND f_geometry_column = :g"
        ),
        {"s": row["storage_schema"], "t": row["storage_table"], "g": geom},
    ).scalar()
    attributes = {
        name: dtype
        for name, dtype in conn.execute(
            text(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = :s AND table_name = :t ORDER BY ordinal_position"
            ),
            {"s": row["storage_schema"], "t": row["storage_table"]},
        )
        if name != geom
    }
    conn.execute(
        update(Layer)
        .where(Layer.id == layer_id)
        .values(
            extent=text(f"ST_GeomFromEWKT('{extent}')") if extent else None,
            time_start=time_range[0],
            time_end=time_range[1],
            geometry_type=geometry_type,
            attributes=attributes,
            feature_count=count_features(conn, row["storage_schema"], row["storage_table"]),
        )
    )


def count_features(conn: Connection, schema: str, table: str, *, exact_below: int = 100_000) -> int:
    """Exact count for small tables, the planner's estimate for big ones (no full scan)."""
    estimate = conn.execute(
        text("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(:name)"),
        {"name": f'"{schema}"."{table}"'},
    ).scalar()
    if estimate is None or estimate < exact_below:
        return int(conn.execute(text(f'SELECT count(*) FROM "{schema}"."{table}"')).scalar_one())
    return int(estimate)


LAYER_ROWS_SQL = (
    "SELECT l.*, d.name_zh AS department_name_zh, d.name_en AS department_name_en, "
    "CASE WHEN l.extent IS NULL THEN NULL ELSE ARRAY[ST_XMin(l.extent), ST_YMin(l.extent), "
    "ST_XMax(l.extent), ST_YMax(l.extent)] END AS bbox "
    "FROM catalog.layer l JOIN catalog.department d ON d.code = l.department_code "
)


def list_layers(engine: Engine) -> list[dict[str, Any]]:
    """Every catalog row, ordered by department then id, with the extent as a bbox list."""
    query = text(LAYER_ROWS_SQL + "ORDER BY l.department_code, l.id")
    with engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(query).mappings()]
    for row in rows:
        row.pop("extent", None)
        row["uid"] = str(row["uid"])
    return rows


def find_layer(engine: Engine, layer_id: str) -> dict[str, Any] | None:
    """One catalog row as ``list_layers`` gives it, or None."""
    with engine.connect() as conn:
        row = conn.execute(text(LAYER_ROWS_SQL + "WHERE l.id = :id"), {"id": layer_id}).mappings().first()
    if row is None:
        return None
    found = dict(row)
    found.pop("extent", None)
    found["uid"] = str(found["uid"])
    return found


def catalog_version(engine: Engine) -> str:
    """A token that changes whenever any layer is added, changed or removed."""
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT count(*), coalesce(max(updated_at)::text, '') FROM catalog.layer")
        ).one()
    return f"{row[0]}:{row[1]}"
