"""Writing a vector layer (or part of it) to a file in a GIS format, with GDAL, within a budget.

The rows come from PostGIS a batch at a time (``layers.export_rows``) and GDAL (pyogrio's Arrow
writer) writes each batch as it comes, so memory stays flat however big the layer. The file is
written into ``folder``, which the caller made and removes. Budgets: the feature count is
checked before anything is written (``max_features``), the file's size while it is written
(``max_bytes``), and every statement is held to ``statement_timeout_s``; over a budget the
answer is ``BudgetExceeded`` (400: ask for a bbox or a filter).

A Shapefile is written with field names of at most 10 bytes (``layers.export_fields``), its
encoding in a ``.cpg``, and zipped with a ``fields.txt`` naming every field in full.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import DataError, InternalError, OperationalError, ProgrammingError

from layers.client.query import cql_filter
from layers.download import DownloadOptions, file_name
from layers.export_fields import fields_text, short_field_names
from layers.export_rows import GEOMETRY, Geometry, arrow_schema, export_statement, record_batches
from layers.features import FeatureQuery, FeatureTable, describe_table, where_clause
from spatial.crs import parse_crs
from spatial.errors import BudgetExceeded, DatabaseUnavailable, InvalidInput

GEOMETRY_TYPES = {
    "POINT": "Point", "LINESTRING": "LineString", "POLYGON": "Polygon", "MULTIPOINT": "MultiPoint",
    "MULTILINESTRING": "MultiLineString", "MULTIPOLYGON": "MultiPolygon", "GEOMETRYCOLLECTION": "GeometryCollection",
}  # fmt: skip
"""PostGIS geometry_columns types as GDAL names them; any other (GEOMETRY, …Z, …M) is Unknown."""
ENCODING_NAMES = {"UTF-8": "utf-8", "GBK": "gbk"}
NAME_FIELDS = ("name", "name_zh", "title", "title_zh", "name_en")


@dataclass(frozen=True)
class ExportBudget:
    """What one download may cost: features, bytes written, seconds per SQL statement."""

    max_features: int
    max_bytes: int
    statement_timeout_s: float | None = None


@dataclass(frozen=True)
class ExportedFile:
    """A written download: where it is, the name and media type to send it with, how many features."""

    path: Path
    filename: str
    media_type: str
    features: int


def export_layer(engine: Engine, row: dict[str, Any], options: DownloadOptions, folder: Path,
                 budget: ExportBudget) -> ExportedFile:  # fmt: skip
    """Write the features ``options`` select from the catalog row's table into ``folder``."""
    ft = describe_table(engine, row["storage_schema"], row["storage_table"], id_field=row["id_field"] or "id",
                        geom_field=row["geom_field"] or "geom", time_field=row.get("time_field"))  # fmt: skip
    geometry, where = output_geometry(ft, row, options), where_of(ft, options)
    try:
        with engine.connect() as conn, conn.begin():
            prepare(conn, options.srid, budget)
            count = conn.execute(select(func.count()).select_from(ft.sa_table).where(where)).scalar_one()
            if count > budget.max_features:
                raise BudgetExceeded(
                    f"{count:,} features match: a download holds at most {budget.max_features:,} "
                    "(ONEMAP_MAX_DOWNLOAD_FEATURES); ask for a bbox or a filter"
                )
            statement = export_statement(ft, where, geometry)
            return write_file(conn, statement, ft, row, options, geometry, folder, budget, count)
    except (DataError, InternalError, ProgrammingError) as err:
        raise InvalidInput(f"the download cannot be made: {_reason(err)}") from None
    except OperationalError as err:  # driver errors do not cross to the server process: ours do
        if getattr(getattr(err, "orig", None), "sqlstate", None) == "57014":
            raise BudgetExceeded(f"reading the features took longer than {budget.statement_timeout_s:g} s "
                                 "(ONEMAP_STATEMENT_TIMEOUT_S): ask for a bbox or a filter") from None  # fmt: skip
        raise DatabaseUnavailable("the database is not reachable at the moment: try again shortly",
                                  retry_after=5) from None  # fmt: skip


def _reason(err: Exception) -> str:
    """The first line of the database's message."""
    lines = str(getattr(err, "orig", None) or err).strip().splitlines()
    return lines[0][:200] if lines else "database error"


def output_geometry(ft: FeatureTable, row: dict[str, Any], options: DownloadOptions) -> Geometry:
    """How geometries are written; lon/lat columns only for a layer of points."""
    if options.geometry != "lonlat":
        return Geometry(srid=options.srid)
    if (row.get("geometry_type") or "").upper() != "POINT":
        raise InvalidInput(f"geometry=lonlat is for layers of points; {row['id']!r} holds "
                           f"{row.get('geometry_type') or 'mixed geometries'}: use geometry=wkt")  # fmt: skip
    x, y = ("lon", "lat") if parse_crs(f"EPSG:{options.srid}").is_geographic else ("x", "y")
    x, y = (name if name not in ft.columns else f"_{name}" for name in (x, y))  # a property of that name stays
    return Geometry(srid=options.srid, as_coordinates=True, coordinate_names=(x, y))


def prepare(conn: Connection, srid: int, budget: ExportBudget) -> None:
    """The transaction's statement time budget; the output CRS must be one PostGIS knows."""
    if budget.statement_timeout_s:
        conn.execute(text("SELECT set_config('statement_timeout', :ms, true)"),
                     {"ms": str(int(budget.statement_timeout_s * 1000))})  # fmt: skip
    known = conn.execute(text("SELECT 1 FROM spatial_ref_sys WHERE srid = :srid"), {"srid": srid}).first()
    if known is None:
        raise InvalidInput(f"crs EPSG:{srid} is not one this database can transform to")


def write_file(conn: Connection, statement: Any, ft: FeatureTable, row: dict[str, Any], options: DownloadOptions,
               geometry: Geometry, folder: Path, budget: ExportBudget, count: int) -> ExportedFile:  # fmt: skip
    """Stream the rows into the format's file; a Shapefile is then zipped with its field list."""
    fmt = options.file_format
    shapefile = options.format == "shp"
    encoding = ENCODING_NAMES[options.encoding]
    names = short_field_names(list(ft.columns), encoding) if shapefile else {c: c for c in ft.columns}
    schema = arrow_schema(ft, names, geometry)
    target = file_name(row["id"], fmt.extension)
    path = (folder / "shp" / target.removesuffix(".zip")) if shapefile else folder / target
    path.parent.mkdir(parents=True, exist_ok=True)
    batches = GuardedBatches(record_batches(conn, statement, schema), path.parent, budget.max_bytes)
    reader = pa.RecordBatchReader.from_batches(schema, iter(batches))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # GDAL's notes (e.g. characters GBK cannot hold)
        write_arrow(reader, path, row, options, geometry)
    batches.check()
    if shapefile:
        path = zip_shapefile(path, folder / target, fields_text(names, layer=row["id"], encoding=options.encoding))
    return ExportedFile(path=path, filename=target, media_type=fmt.media_type, features=count)


def where_of(ft: FeatureTable, options: DownloadOptions) -> Any:
    """The WHERE of the download: bbox, time and CQL2 filter, as the OGC API items door builds it."""
    query = FeatureQuery(bbox=list(options.bbox or []), datetime_=options.datetime,
                         filter_ast=cql_filter(options.filter, ft.geom_field) if options.filter else None)  # fmt: skip
    return where_clause(ft, query)


def write_arrow(reader: pa.RecordBatchReader, path: Path, row: dict[str, Any], options: DownloadOptions,
                geometry: Geometry) -> None:  # fmt: skip
    """GDAL writes the batches as they come, with the format's options."""
    from pyogrio.raw import write_arrow as gdal_write_arrow

    spatial: dict[str, Any] = {}
    if not geometry.as_coordinates:
        spatial = {"geometry_name": GEOMETRY, "crs": f"EPSG:{options.srid}",
                   "geometry_type": GEOMETRY_TYPES.get((row.get("geometry_type") or "").upper(), "Unknown")}  # fmt: skip
    gdal_write_arrow(
        reader, str(path), layer=row["id"], driver=options.file_format.driver,
        encoding=options.encoding if options.format == "shp" else None,
        layer_options=layer_options(row, options, path.parent), dataset_options=dataset_options(reader.schema, options),
        **spatial,
    )  # fmt: skip


def layer_options(row: dict[str, Any], options: DownloadOptions, folder: Path) -> dict[str, str]:
    """GDAL layer creation options of the format."""
    if options.format == "gpkg":
        return {"IDENTIFIER": row.get("title_zh") or row["id"], "DESCRIPTION": row.get("description") or ""}
    if options.format == "csv":
        return {"GEOMETRY": "AS_WKT"} if options.geometry == "wkt" else {}
    if options.format == "geojson":
        return {"RFC7946": "YES"} if options.srid == 4326 else {}
    if options.format == "fgb":
        return {"TEMPORARY_DIR": str(folder)}  # the spatial index's scratch file stays in the folder
    return {}


def dataset_options(schema: pa.Schema, options: DownloadOptions) -> dict[str, str]:
    """GDAL dataset creation options of the format (KML: which field names the placemarks)."""
    names = [name for name in NAME_FIELDS if name in schema.names]
    return {"NameField": names[0]} if options.format == "kml" and names else {}


class GuardedBatches:
    """The batches handed to GDAL, stopped at the byte budget or a database error.

    An exception raised inside the Arrow stream would reach Python again only as GDAL's
    message; so the stream ends there instead, and ``check`` raises the real error after GDAL
    returns.
    """

    def __init__(self, batches: Iterator[pa.RecordBatch], folder: Path, max_bytes: int) -> None:
        self.batches, self.folder, self.max_bytes = batches, folder, max_bytes
        self.error: BaseException | None = None

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        try:
            for batch in self.batches:
                if folder_bytes(self.folder) > self.max_bytes:
                    self.error = self._too_big()
                    return
                yield batch
        except Exception as err:  # carried over GDAL's C stream, raised by check()
            self.error = err

    def check(self) -> None:
        """Raise what stopped the stream, or BudgetExceeded when the finished file is too big."""
        if self.error is None and folder_bytes(self.folder) > self.max_bytes:
            self.error = self._too_big()
        if self.error is not None:
            raise self.error

    def _too_big(self) -> BudgetExceeded:
        return BudgetExceeded(f"the file grew past {self.max_bytes:,} bytes (ONEMAP_MAX_DOWNLOAD_BYTES): "
                              "ask for a bbox or a filter")  # fmt: skip


def folder_bytes(folder: Path) -> int:
    """Bytes of the files directly in ``folder``."""
    with os.scandir(folder) as entries:
        return sum(entry.stat().st_size for entry in entries if entry.is_file())


def zip_shapefile(shp: Path, target: Path, fields: str) -> Path:
    """The Shapefile's parts (.shp, .shx, .dbf, .prj, .cpg) and ``fields.txt`` in one zip."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for part in sorted(shp.parent.iterdir()):
            archive.write(part, part.name)
        archive.writestr("fields.txt", fields)
    return target
