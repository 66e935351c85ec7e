"""The SQL of the 3D analyses (PostGIS): footprints with heights, and the height-limit check (控高).

Tables are named by the caller (``layers.analysis3d`` resolves catalog layers and checks that the
caller may read them); names are validated identifiers, quoted here, and every value is a bound
parameter. Given geometries (a proposed footprint, in-memory zones) travel as one JSON array
parameter and become rows with ``jsonb_array_elements``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from spatial.errors import BudgetExceeded, InvalidInput

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
STOREY_M = 3.0
"""Storey height when a building has floors but no height (the tiles' LoD1 rule)."""


def quoted(name: str) -> str:
    """A validated SQL identifier in double quotes."""
    if not IDENTIFIER.match(name):
        raise InvalidInput(f"{name[:40]!r} is not a column or table name")
    return '"' + name + '"'


@dataclass(frozen=True)
class TableSource:
    """A table of polygons: its id and geometry columns and the value column (height or limit)."""

    schema: str
    table: str
    id_field: str
    geom_field: str
    value_field: str | None
    floors_field: str | None = None

    def relation(self) -> str:
        return f"{quoted(self.schema)}.{quoted(self.table)}"

    def value_sql(self, alias: str) -> str:
        """The value (height_m or the limit) as float8; for buildings, floors × storey when no height."""
        parts = [f"{alias}.{quoted(self.value_field)}::float8"] if self.value_field else []
        if self.floors_field:
            parts.append(f"{alias}.{quoted(self.floors_field)}::float8 * {STOREY_M}")
        if not parts:
            raise InvalidInput("the layer has neither a height nor a floors field")
        return parts[0] if len(parts) == 1 else f"COALESCE({', '.join(parts)})"


@dataclass(frozen=True)
class GivenShapes:
    """Polygons given in the request: [{"id", "value", "geometry" (GeoJSON)}]."""

    rows: Sequence[Mapping[str, Any]]

    def parameter(self) -> str:
        return json.dumps([{"id": str(r["id"]), "value": float(r["value"]), "geometry": r["geometry"]}
                           for r in self.rows])  # fmt: skip


Source = TableSource | GivenShapes


def _cte(source: Source, name: str, value: str, parameter: str) -> str:
    if isinstance(source, GivenShapes):
        return (f"{name} AS (SELECT f->>'id' AS fid, (f->>'value')::float8 AS {value}, "
                f"ST_MakeValid(ST_SetSRID(ST_GeomFromGeoJSON(f->>'geometry'), 4326)) AS geom "
                f"FROM jsonb_array_elements(CAST(:{parameter} AS jsonb)) AS f)")  # fmt: skip
    return (f"{name} AS (SELECT t.{quoted(source.id_field)} AS fid, {source.value_sql('t')} AS {value}, "
            f"t.{quoted(source.geom_field)} AS geom FROM {source.relation()} AS t "
            f"WHERE t.{quoted(source.geom_field)} IS NOT NULL)")  # fmt: skip


def _bind(params: dict[str, Any], source: Source, parameter: str) -> None:
    if isinstance(source, GivenShapes):
        params[parameter] = source.parameter()


@dataclass(frozen=True)
class Violation:
    """A building above the strictest limit of the zones it stands in."""

    building_id: Any
    height_m: float
    limit_m: float
    excess_m: float
    zone_id: Any
    zones: int
    geometry: dict[str, Any]


@dataclass(frozen=True)
class HeightCheck:
    checked: int  # buildings standing in at least one zone
    violations: list[Violation]


def height_check(conn: Connection, buildings: Source, zones: Source, *, limit: int = 10_000) -> HeightCheck:
    """Buildings above the strictest limit among the zones their footprint overlaps (touching
    along an edge is not standing in a zone); their excess in metres, largest first."""
    params: dict[str, Any] = {"limit": limit + 1}
    _bind(params, buildings, "buildings")
    _bind(params, zones, "zones")
    sql = f"""
        WITH {_cte(buildings, "b", "height_m", "buildings")}, {_cte(zones, "z", "limit_m", "zones")},
        strictest AS (
            SELECT b.fid, b.height_m, min(z.limit_m) AS limit_m, count(*) AS zones,
                   (array_agg(z.fid::text ORDER BY z.limit_m, z.fid::text))[1] AS zone_id
            FROM b JOIN z ON b.geom && z.geom AND ST_Intersects(b.geom, z.geom) AND NOT ST_Touches(b.geom, z.geom)
            WHERE z.limit_m IS NOT NULL AND b.height_m IS NOT NULL
            GROUP BY b.fid, b.height_m
        )
        SELECT s.fid, s.height_m, s.limit_m, s.height_m - s.limit_m AS excess_m, s.zone_id, s.zones,
               ST_AsGeoJSON(b.geom, 7) AS geometry, count(*) OVER () AS checked
        FROM strictest AS s JOIN b ON b.fid = s.fid
        ORDER BY (s.height_m > s.limit_m) DESC, s.height_m - s.limit_m DESC, s.fid::text
    """  # noqa: S608 — identifiers are validated and quoted, values bound
    rows = conn.execute(text(sql + " LIMIT :limit"), params).all()
    checked = int(rows[0].checked) if rows else 0
    over = [r for r in rows if r.height_m > r.limit_m]
    if len(over) > limit:
        raise BudgetExceeded(f"more than {limit:,} buildings exceed the limits: narrow the zones")
    return HeightCheck(checked, [
        Violation(r.fid, float(r.height_m), float(r.limit_m), round(float(r.excess_m), 3), r.zone_id, int(r.zones),
                  json.loads(r.geometry))
        for r in over
    ])  # fmt: skip


def buildings_in_box(
    conn: Connection, source: TableSource, box: tuple[float, float, float, float], *, maximum: int
) -> list[tuple[Any, float, bytes]]:
    """(id, height, WKB footprint) of the buildings meeting a lon/lat box; BudgetExceeded past ``maximum``."""
    geom = quoted(source.geom_field)
    sql = (f"SELECT t.{quoted(source.id_field)}, {source.value_sql('t')}, ST_AsBinary(t.{geom}) "
           f"FROM {source.relation()} AS t WHERE t.{geom} && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326) "
           f"ORDER BY 1 LIMIT :limit")  # fmt: skip
    rows = conn.execute(text(sql), {"x0": box[0], "y0": box[1], "x1": box[2], "y1": box[3],
                                    "limit": maximum + 1}).all()  # fmt: skip
    if len(rows) > maximum:
        raise BudgetExceeded(f"more than {maximum:,} buildings within reach: fewer or closer points, or a smaller radius")
    return [(r[0], float(r[1] or 0.0), bytes(r[2])) for r in rows if r[2] is not None]
