"""What a department overlay's table demands of a write: columns, types, required ones, geometry.

Read from PostgreSQL's own catalogs (information_schema and geometry_columns), so the rules are
the table's rules: a column is required when it is NOT NULL and has no default. The geometry
rule (``fit_geometries``) is written once here for both write doors: the feature gate
(``layers.feature_gate``, one GeoJSON feature) and the file gate (``layers.vector_conform``, a
whole file replacing a layer's contents); each words its refusals for its own audience.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Connection, text

from spatial.access.policy import LayerRef
from spatial.errors import InvalidInput, NotFound
from spatial.params import MAX_ID, parse_int


@dataclass(frozen=True)
class Column:
    """One attribute column as the gate checks it."""

    name: str
    data_type: str
    nullable: bool
    has_default: bool
    max_length: int | None = None

    @property
    def required(self) -> bool:
        return not self.nullable and not self.has_default


@dataclass(frozen=True)
class OverlayTable:
    """A catalogued overlay layer and the table behind it."""

    layer: LayerRef
    schema: str
    table: str
    id_field: str
    geom_field: str
    geometry_type: str  # PostGIS type name in upper case: POINT, MULTIPOLYGON, GEOMETRY…
    has_z: bool
    columns: dict[str, Column]  # attribute columns (neither the id nor the geometry)
    id_type: str

    @property
    def qualified(self) -> str:
        return f'"{self.schema}"."{self.table}"'

    @property
    def required(self) -> list[str]:
        """Attributes a feature must carry (NOT NULL without a default)."""
        return [name for name, column in self.columns.items() if column.required]

    def feature_id(self, identifier: Any) -> Any:
        """The id as the id column's type; NotFound when it cannot be one."""
        if self.id_type in ("bigint", "integer", "smallint"):
            try:  # ASCII digits only: int() would read '١٢' as 12
                return parse_int(str(identifier), name="feature id", minimum=-MAX_ID, maximum=MAX_ID)
            except InvalidInput:
                raise NotFound(f"no feature {str(identifier)[:40]!r} in layer {self.layer.id!r}") from None
        return str(identifier)


LAYER_SQL = text(
    "SELECT id, department_code, visibility, storage_schema, storage_table, id_field, geom_field "
    "FROM catalog.layer WHERE id = :id"
)
COLUMNS_SQL = text(
    "SELECT column_name, data_type, is_nullable = 'YES' AS nullable, "
    "(column_default IS NOT NULL OR is_identity = 'YES' OR is_generated = 'ALWAYS') AS has_default, "
    "character_maximum_length FROM information_schema.columns "
    "WHERE table_schema = :s AND table_name = :t ORDER BY ordinal_position"
)
GEOMETRY_SQL = text(
    "SELECT upper(type), coord_dimension FROM geometry_columns "
    "WHERE f_table_schema = :s AND f_table_name = :t AND f_geometry_column = :g"
)


def layer_row(conn: Connection, layer_id: str) -> dict[str, Any] | None:
    """The catalog fields writes need, or None when there is no such layer."""
    row = conn.execute(LAYER_SQL, {"id": layer_id}).mappings().first()
    return dict(row) if row else None


def describe_overlay(conn: Connection, row: dict[str, Any]) -> OverlayTable:
    """The table behind a catalog row, with its columns and geometry type."""
    schema, table = row["storage_schema"], row["storage_table"]
    id_field, geom_field = row["id_field"] or "id", row["geom_field"] or "geom"
    columns = {
        r.column_name: Column(r.column_name, r.data_type, r.nullable, r.has_default, r.character_maximum_length)
        for r in conn.execute(COLUMNS_SQL, {"s": schema, "t": table})
    }
    if not columns:
        raise NotFound(f"the table of layer {row['id']!r} does not exist")
    geometry = conn.execute(GEOMETRY_SQL, {"s": schema, "t": table, "g": geom_field}).first()
    id_column = columns.pop(id_field)
    columns.pop(geom_field, None)
    return OverlayTable(
        layer=LayerRef.from_row(row),
        schema=schema,
        table=table,
        id_field=id_field,
        geom_field=geom_field,
        geometry_type=geometry[0] if geometry else "GEOMETRY",
        has_z=bool(geometry and geometry[1] and int(geometry[1]) > 2),
        columns=columns,
        id_type=id_column.data_type,
    )


@dataclass(frozen=True)
class GeometryFit:
    """Geometries as ``table`` stores them, and which of them it cannot store."""

    geometries: np.ndarray  # the stored form where they fit (Multi* wrapped, one part unwrapped, Z dropped)
    wrong: np.ndarray  # bool: of another kind than the layer holds
    several: np.ndarray  # bool: several parts for a layer of single-part geometries
    wanted: str  # the table's type without Z/M: POINT, MULTIPOLYGON, GEOMETRY…
    family: str  # Point, LineString or Polygon ('' for a GEOMETRY column)


def fit_geometries(values: np.ndarray, table: OverlayTable) -> GeometryFit:
    """THE geometry rule of a write to an overlay: same family as the column (any for GEOMETRY),
    single parts wrapped for Multi* columns, one-part Multi* unwrapped for single columns,
    Z dropped for 2D columns."""
    values = np.asarray(values, dtype=object).copy()
    if not table.has_z:
        values = shapely.force_2d(values)
    wanted = table.geometry_type.removesuffix("Z").removesuffix("M")
    none = np.zeros(len(values), dtype=bool)
    if wanted == "GEOMETRY":
        return GeometryFit(values, none, none.copy(), wanted, "")
    family = wanted.removeprefix("MULTI").title().replace("string", "String")
    kinds = np.array([g.geom_type for g in values], dtype=object)
    wrong = ~np.isin(kinds, [family, f"Multi{family}"])
    if wanted.startswith("MULTI"):
        single = ~wrong & (kinds == family)
        if single.any():
            values[single] = [getattr(shapely.geometry, f"Multi{family}")([g]) for g in values[single]]
        return GeometryFit(values, wrong, none, wanted, family)
    multi = ~wrong & (kinds != family)
    several = multi & (shapely.get_num_geometries(values) > 1)
    unwrap = multi & ~several
    if unwrap.any():
        values[unwrap] = shapely.get_geometry(values[unwrap], 0)
    return GeometryFit(values, wrong, several, wanted, family)
