"""The buildings of a catalogued polygon layer with heights, read from PostGIS for the 3D model.

A layer has a 3D model when it is a vector layer of polygons whose table has a height field
(``height_m`` or ``height``) or a floors field (``floors``, ``storeys`` or ``levels``). A
building's height is its height field, else floors × ``STOREY_M`` (3 m), else one storey.
Its ground level comes from the city's DEM when it has one (``layers.tiles3d.ground``), else 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Engine, text

from spatial.errors import NotFound
from spatial.tiles3d.mesh import FLOORS_NO_DATA, Buildings

STOREY_M = 3.0
HEIGHT_FIELDS = ("height_m", "height")
FLOORS_FIELDS = ("floors", "storeys", "levels")
USE_FIELDS = ("use", "building_use", "category")
NAME_FIELDS = ("name", "name_zh", "name_en")
POLYGON_TYPES = ("POLYGON", "MULTIPOLYGON")
BATCH = 20_000
ID_TYPES = {t: t for t in ("bigint", "integer", "smallint", "text", "uuid")} | {"character varying": "varchar"}


@dataclass(frozen=True)
class Source:
    """Where a layer's buildings are and which of its fields the model reads."""

    layer_id: str
    uid: str
    version: int
    table: str  # quoted schema.table
    id_field: str
    id_type: str  # the id column's SQL type, so a look-up by ids uses its index
    geom_field: str
    height_field: str | None
    floors_field: str | None
    use_field: str | None
    name_field: str | None

    def select_sql(self, where: str = "") -> str:
        g = f't."{self.geom_field}"'
        height = f'nullif(t."{self.height_field}", 0)::float8' if self.height_field else "NULL::float8"
        floors = f't."{self.floors_field}"::int' if self.floors_field else "NULL::int"
        text_of = (lambda f: f't."{f}"::text' if f else "NULL::text")  # noqa: E731
        return (
            f'SELECT t."{self.id_field}"::text, ST_AsBinary(ST_Force2D(ST_Transform({g}, 4326))), '
            f"ST_X(p), ST_Y(p), {height}, {floors}, {text_of(self.use_field)}, {text_of(self.name_field)} "
            f"FROM {self.table} t CROSS JOIN LATERAL ST_Transform(ST_PointOnSurface({g}), 4326) p "
            f"WHERE {g} IS NOT NULL AND NOT ST_IsEmpty({g}) {where}"
        )


def has_model(row: dict[str, Any]) -> bool:
    """Whether the catalog row is a polygon layer with a height or floors field."""
    attributes = row.get("attributes") or {}
    return (
        row.get("kind") == "vector"
        and str(row.get("geometry_type") or "").upper() in POLYGON_TYPES
        and any(f in attributes for f in (*HEIGHT_FIELDS, *FLOORS_FIELDS))
    )


def source_of(row: dict[str, Any] | None, layer_id: str) -> Source:
    """The model's reading of a catalog row; NotFound when the layer has no 3D model."""
    if row is None or not has_model(row):
        raise NotFound(f"layer {layer_id!r} has no 3D model (a polygon layer with a height or floors field)")
    attributes = row["attributes"]
    first = (lambda names: next((n for n in names if n in attributes), None))  # noqa: E731
    return Source(
        layer_id=row["id"], uid=str(row["uid"]), version=int(row["version"]),
        table=f'"{row["storage_schema"]}"."{row["storage_table"]}"',
        id_field=row["id_field"] or "id", geom_field=row["geom_field"] or "geom",
        id_type=ID_TYPES.get(attributes.get(row["id_field"] or "id", ""), "text"),
        height_field=first(HEIGHT_FIELDS), floors_field=first(FLOORS_FIELDS),
        use_field=first(USE_FIELDS), name_field=first(NAME_FIELDS),
    )  # fmt: skip


@dataclass
class Rows:
    """Buildings as read, with their representative points (lon, lat)."""

    ids: list[str]
    wkb: list[bytes]
    lon: np.ndarray
    lat: np.ndarray
    height: np.ndarray
    floors: np.ndarray
    use: list[str]
    name: list[str]

    @classmethod
    def of(cls, rows: list[Any]) -> Rows:
        floors = np.array([FLOORS_NO_DATA if r[5] is None else r[5] for r in rows], dtype=np.int64)
        given = np.array([np.nan if r[4] is None else r[4] for r in rows], dtype=np.float64)
        height = np.where(np.isnan(given), np.where(floors > 0, floors, 1) * STOREY_M, given)
        return cls(
            ids=[r[0] for r in rows], wkb=[bytes(r[1]) for r in rows],
            lon=np.array([r[2] for r in rows], dtype=np.float64), lat=np.array([r[3] for r in rows], dtype=np.float64),
            height=height, floors=floors, use=[r[6] or "" for r in rows], name=[r[7] or "" for r in rows],
        )  # fmt: skip

    def take(self, index: np.ndarray, ground: np.ndarray) -> Buildings:
        """The buildings at ``index`` (positions in these rows) with their ground levels."""
        picked = index.tolist()
        return Buildings(
            footprints=shapely.from_wkb(np.array([self.wkb[i] for i in picked], dtype=object)),
            height_m=self.height[index], ground_m=ground, floors=self.floors[index],
            ids=[self.ids[i] for i in picked], use=[self.use[i] for i in picked], name=[self.name[i] for i in picked],
        )  # fmt: skip


def read_all(engine: Engine, source: Source) -> Rows:
    """Every building of the layer."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(source.select_sql()).fetchall()
    return Rows.of(list(rows))


def read_ids(engine: Engine, source: Source, ids: list[str]) -> Rows:
    """The buildings whose ids are given (absent ones: deleted)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(source.select_sql(f'AND t."{source.id_field}" = ANY(CAST(:ids AS {source.id_type}[]))')),
            {"ids": ids},
        ).fetchall()
    return Rows.of(list(rows))


def history_mark(engine: Engine, source: Source) -> tuple[int, int]:
    """(last history row id, number of history rows) of the layer: changes since a mark are what to redo."""
    with engine.connect() as conn:
        last, count = conn.execute(
            text("SELECT coalesce(max(id), 0), count(*) FROM audit.feature_change WHERE layer_uid = :uid"),
            {"uid": source.uid},
        ).one()
    return int(last), int(count)


def changed_since(engine: Engine, source: Source, last: int) -> tuple[list[str | None], int]:
    """Ids of the features changed after history row ``last`` (None: a whole-layer change), and the rows' count."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT feature_id FROM audit.feature_change WHERE layer_uid = :uid AND id > :last"),
            {"uid": source.uid, "last": last},
        ).fetchall()
    return sorted({r[0] for r in rows}, key=lambda v: (v is None, v or "")), len(rows)


def batches(items: list[str], size: int = BATCH) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
