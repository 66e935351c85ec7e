"""A layer's features as Arrow record batches, read from PostGIS through a server-side cursor.

The rows a download asks for (bbox, time, CQL2 filter: ``layers.features.where_clause``, the
same WHERE as the OGC API items) leave PostgreSQL a batch at a time, geometry as WKB already
transformed to the output CRS (or as lon/lat numbers for a CSV of points), and become one
``pyarrow.RecordBatch`` per batch: a big layer never sits whole in memory, and GDAL writes
each batch as it comes (``layers.export``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, Float, Text, cast, func, select
from sqlalchemy.sql.elements import ColumnElement

from layers.features import FeatureTable

BATCH = 5_000
MEMORY = pa.system_memory_pool()
"""malloc, not Arrow's default mimalloc, whose address-space reservations (about 1 GB) would count
against any RLIMIT_AS of the process writing (a render worker's, ``ONEMAP_RENDER_MEMORY_MB``)."""
GEOMETRY = "geometry"
ARROW_TYPES: dict[str, pa.DataType] = {
    "bigint": pa.int64(),
    "integer": pa.int32(),
    "smallint": pa.int32(),
    "double precision": pa.float64(),
    "real": pa.float64(),
    "numeric": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "timestamp without time zone": pa.timestamp("us"),
    "date": pa.date32(),
}
"""PostgreSQL data types kept as such; any other (text, json, arrays, uuid…) leaves as text."""


@dataclass(frozen=True)
class Geometry:
    """How geometries leave: in which SRID, as WKB or (points in a CSV) as two number columns."""

    srid: int = 4326
    as_coordinates: bool = False
    coordinate_names: tuple[str, str] = ("lon", "lat")


def arrow_schema(ft: FeatureTable, names: Mapping[str, str], geometry: Geometry) -> pa.Schema:
    """The batches' schema: property columns renamed by ``names`` (all kept), then the geometry."""
    fields = [pa.field(names[column], ARROW_TYPES.get(dtype, pa.string())) for column, dtype in ft.columns.items()]
    if geometry.as_coordinates:
        x, y = geometry.coordinate_names
        return pa.schema([pa.field(x, pa.float64()), pa.field(y, pa.float64()), *fields])
    return pa.schema([*fields, pa.field(GEOMETRY, pa.binary())])


def _column(ft: FeatureTable, column: str) -> Any:
    """A property column as the Arrow type expects it (numeric as float, the rest as text)."""
    dtype, expression = ft.columns[column], ft.sa_table.c[column]
    if dtype == "numeric":
        return cast(expression, Float)
    return expression if dtype in ARROW_TYPES else cast(expression, Text)


def export_statement(ft: FeatureTable, where: ColumnElement[bool], geometry: Geometry) -> Any:
    """SELECT of the rows in id order, columns in ``arrow_schema``'s order."""
    geom: Any = ft.sa_table.c[ft.geom_field]
    if geometry.srid != 4326:
        geom = func.ST_Transform(geom, geometry.srid)
    properties = [_column(ft, column) for column in ft.columns]
    if geometry.as_coordinates:
        shown = [func.ST_X(geom), func.ST_Y(geom), *properties]
    else:
        shown = [*properties, func.ST_AsBinary(geom)]
    return select(*shown).where(where).order_by(ft.sa_table.c[ft.id_field])


def record_batches(conn: Connection, statement: Any, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The statement's rows, ``BATCH`` at a time, each batch one RecordBatch of ``schema``."""
    result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(statement)
    for rows in result.partitions(BATCH):
        columns = list(zip(*rows, strict=True))  # partitions are never empty
        arrays = [pa.array(values, type=field.type, memory_pool=MEMORY) for values, field in zip(columns, schema, strict=True)]
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)
