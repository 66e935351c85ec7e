"""Read a department's vector file (GeoJSON, GeoPackage, zipped Shapefile, FlatGeobuf, CSV).

Reading only: the frame comes back as the file holds it (source CRS, every feature in file
order); checking and reprojecting are ``layers.vector_validate``'s job.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from spatial.errors import InvalidInput, PayloadTooLarge

FORMATS = {
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".gpkg": "GeoPackage",
    ".zip": "zipped Shapefile",
    ".shp": "Shapefile",
    ".fgb": "FlatGeobuf",
    ".csv": "CSV",
}
LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度")
LAT_NAMES = ("lat", "latitude", "y", "纬度")
# Column names that say the values are geographic degrees (so a CSV needs no --crs).
DEGREE_NAMES = frozenset({"lon", "lng", "long", "longitude", "经度"})
CSV_OPTIONS = {"AUTODETECT_TYPE": "YES", "EMPTY_STRING_AS_NULL": "YES"}
ZIP_MAX_ENTRIES = 1000
ZIP_MIN_UNPACKED = 256 * 1024 * 1024
ZIP_MAX_RATIO = 100


@dataclass(frozen=True)
class FeatureIssue:
    """A feature (1 = first in the file) and what was wrong with it."""

    feature: int
    reason: str


@dataclass
class SourceData:
    """A file's features as read: geometry in the file's CRS, attributes, and where they came from."""

    frame: gpd.GeoDataFrame
    crs: str | None
    layer: str | None
    format: str
    warnings: list[str] = field(default_factory=list)
    unreadable: list[FeatureIssue] = field(default_factory=list)


def read_vector_file(
    path: str | Path,
    *,
    source_layer: str | None = None,
    lon_field: str | None = None,
    lat_field: str | None = None,
) -> SourceData:
    """Read every feature of ``path``; InvalidInput when the file cannot be read or holds nothing."""
    path = Path(path)
    kind = file_format(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        if kind == "CSV":
            source = read_csv(path, lon_field=lon_field, lat_field=lat_field)
        else:
            layer = choose_layer(path, source_layer)
            frame = _read_frame(path, layer=layer)
            source = SourceData(frame, crs_text(frame.crs), layer, kind)
            source.unreadable = unreadable_geometries(path, layer, frame)
    # GDAL's remarks go into the report instead of stderr
    source.warnings = sorted({f"GDAL: {w.message}" for w in caught})
    if len(source.frame) == 0:
        where = f" (layer {source.layer!r})" if source.layer else ""
        raise InvalidInput(f"{path.name}{where} holds no features: nothing to load")
    return source


def file_format(path: Path) -> str:
    """The format name for a file's suffix, after checking the file is there."""
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}")
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        known = ", ".join(sorted(set(FORMATS.values())))
        raise InvalidInput(
            f"{path.name}: unsupported file type {path.suffix!r}; onemap reads {known}"
        )
    if kind == "zipped Shapefile":
        check_zip(path)
    return kind


def check_zip(path: Path) -> None:
    """Refuse zip bombs before GDAL opens the archive: too many entries, or unpacking too far.

    An archive may unpack to 256 MiB, or to 100 times its own size when that is more.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError) as err:
        raise InvalidInput(f"{path.name} is not a readable zip archive: {err}") from None
    if len(entries) > ZIP_MAX_ENTRIES:
        raise PayloadTooLarge(
            f"{path.name} holds {len(entries):,} files; at most {ZIP_MAX_ENTRIES:,} are read"
        )
    unpacked = sum(entry.file_size for entry in entries)
    limit = max(ZIP_MIN_UNPACKED, ZIP_MAX_RATIO * path.stat().st_size)
    if unpacked > limit:
        raise PayloadTooLarge(
            f"{path.name} unpacks to {unpacked / 1048576:,.0f} MiB, more than the {limit / 1048576:,.0f} MiB "
            "accepted from an archive of its size (a zip bomb?)"
        )


def unreadable_geometries(path: Path, layer: str, frame: gpd.GeoDataFrame) -> list[FeatureIssue]:
    """Features whose stored geometry GEOS cannot even build (e.g. a two-point ring)."""
    missing = np.flatnonzero(frame.geometry.isna().to_numpy())
    if missing.size == 0:
        return []
    wkb = guard(path, lambda: pyogrio.raw.read(path, layer=layer, columns=[])[2])
    issues = []
    for position in missing:
        if wkb[position] is not None:
            issues.append(FeatureIssue(int(position) + 1, wkb_error(wkb[position])))
    return issues


def wkb_error(wkb: bytes) -> str:
    """Why GEOS refuses a WKB geometry."""
    try:
        shapely.from_wkb(wkb)
    except Exception as err:  # shapely.errors.GEOSException
        return f"unreadable geometry: {str(err).split(': ', 1)[-1]}"
    return "unreadable geometry"


def choose_layer(path: Path, requested: str | None) -> str:
    """The layer to read: the one asked for, or the file's only layer with geometry."""
    listed = guard(path, lambda: pyogrio.list_layers(path))
    names = [str(name) for name, _ in listed]
    spatial = [str(name) for name, geometry_type in listed if geometry_type]
    if requested is not None:
        if requested not in names:
            raise InvalidInput(
                f"{path.name} has no layer {requested!r}; its layers are: {', '.join(names)}"
            )
        return requested
    if len(spatial) == 1:
        return spatial[0]
    if not spatial:
        raise InvalidInput(f"{path.name} holds no layer with geometries")
    raise InvalidInput(
        f"{path.name} holds several layers ({', '.join(spatial)}): choose one with --layer NAME"
    )


def read_csv(path: Path, *, lon_field: str | None, lat_field: str | None) -> SourceData:
    """Points from a CSV with longitude/latitude columns (found by name unless given)."""
    _require_utf8(path)
    table = _read_frame(path, layer=None, **CSV_OPTIONS)
    lon = lon_field or coordinate_column(table.columns, LON_NAMES, "longitude", "--lon-field")
    lat = lat_field or coordinate_column(table.columns, LAT_NAMES, "latitude", "--lat-field")
    for name in (lon, lat):
        if name not in table.columns:
            raise InvalidInput(
                f"{path.name} has no column {name!r}; its columns are: {', '.join(map(str, table.columns))}"
            )
    points = csv_points(table[lon], table[lat])
    degrees = lon.strip().lower() in DEGREE_NAMES or lon_field is not None
    frame = gpd.GeoDataFrame(table.drop(columns=[lon, lat]), geometry=points)
    return SourceData(frame, "EPSG:4326" if degrees else None, None, "CSV")


def csv_points(lon: pd.Series, lat: pd.Series, rows: np.ndarray | None = None) -> np.ndarray:
    """Points from two coordinate columns; blank pairs give empty points, text is refused.

    ``rows`` numbers the values in messages (1 = first data row when absent).
    """
    x = pd.to_numeric(lon, errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(lat, errors="coerce").to_numpy(dtype=float)
    unreadable = (np.isnan(x) & lon.notna().to_numpy()) | (np.isnan(y) & lat.notna().to_numpy())
    if unreadable.any():
        positions = np.flatnonzero(unreadable)
        numbers = (positions + 1 if rows is None else np.asarray(rows)[positions]).tolist()
        raise InvalidInput(
            f"coordinates that are not numbers in row(s) {number_list(numbers)} (row 1 = first data row)",
            details=[
                f"row {n}: lon={lon.iloc[i]!r} lat={lat.iloc[i]!r}"
                for n, i in zip(numbers, positions, strict=True)
            ],
        )
    points = shapely.points(x, y)
    points[np.isnan(x) | np.isnan(y)] = shapely.from_wkt("POINT EMPTY")
    return points


def coordinate_column(
    columns: pd.Index, candidates: tuple[str, ...], what: str, option: str
) -> str:
    """The first column whose name, trimmed and lowercased, is one of ``candidates``."""
    by_name = {str(c).strip().lower(): str(c) for c in columns}
    for name in candidates:
        if name in by_name:
            return by_name[name]
    raise InvalidInput(
        f"no {what} column found (looked for {', '.join(candidates)}); name it with {option}"
    )


def _read_frame(path: Path, *, layer: str | None, **options: str) -> Any:
    """pyogrio's frame of one layer, integer columns with gaps kept as integers."""
    info = guard(path, lambda: pyogrio.read_info(path, layer=layer, **options))
    encoding = native_encoding(info)
    # unbuildable geometries come back as None; unreadable_geometries says which and why
    frame = guard(
        path,
        lambda: pyogrio.read_dataframe(
            path,
            layer=layer,
            encoding=encoding,
            use_arrow=has_arrow(),
            on_invalid="ignore",
            **options,
        ),
    )
    if encoding is not None:
        refuse_garbled(path, frame, encoding)
    return restore_integers(frame, info)


def native_encoding(info: dict[str, Any]) -> str | None:
    """The layer's text encoding when it is not UTF-8 (a Shapefile without .cpg: ISO-8859-1).

    Named to pyogrio explicitly: its Arrow reader would otherwise hand the bytes on undecoded,
    and they fail later as invalid UTF-8 (an ArrowException instead of a 400).
    """
    encoding = info.get("encoding")
    if not encoding or _codec(encoding) == "utf-8":
        return None
    return str(encoding)


def _codec(encoding: str) -> str | None:
    """Python's name of an encoding ('ISO-8859-1' → 'iso8859-1'); None when Python has none."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        return None


def refuse_garbled(path: Path, frame: Any, encoding: str) -> None:
    """Refuse Chinese text read as Latin-1 (GBK/GB18030 without a .cpg) instead of storing it."""
    from layers.city.mojibake import garbled_fields

    if _codec(encoding) != "iso8859-1":
        return
    for found in garbled_fields(frame):
        example = f"{found.example!r} = {found.meant!r}" if found.meant else repr(found.example)
        raise InvalidInput(
            f"{path.name}: field {found.field} looks like GBK/GB18030 text read as Latin-1 "
            f"(e.g. {example}) in feature(s) {number_list([r + 1 for r in found.rows])}: add a "
            ".cpg file holding GBK (or GB18030) beside the .shp, inside the zip, and load it again"
        )


@dataclass
class LayerRead:
    """One pass over a layer: its features, GDAL's feature ids and the geometries GEOS refused.

    ``frame`` has a row per feature in the order read (a GeoDataFrame when the layer has
    geometries, None where a feature has none or GEOS cannot build it); ``unbuildable`` holds
    the rows whose stored geometry GEOS refused, ``refused_wkb`` their stored WKB.
    """

    frame: Any
    fids: np.ndarray
    unbuildable: np.ndarray
    refused_wkb: list[bytes]


def read_layer(
    dataset: str | Path, *, layer: str | None, where: str | None = None,
    encoding: str | None = None, use_arrow: bool = False, **options: str,
) -> LayerRead:  # fmt: skip
    """Read a layer once: attributes, feature ids and WKB together (integers with gaps kept).

    ``pyogrio.read_dataframe`` plus ``read_info`` (for the declared integer types) plus a
    second read for the WKB of unbuildable geometries would parse the file three times, which
    for an OSM extract is most of its reading time. Datetimes come back as pyarrow/numpy
    convert them (not re-parsed from text as read_dataframe does).
    """
    read = pyogrio.raw.read_arrow if use_arrow else pyogrio.raw.read
    result = read(dataset, layer=layer, where=where, encoding=encoding, return_fids=True, **options)
    if use_arrow:
        meta, fids, wkb, frame = _arrow_parts(*result)
    else:
        meta, fids, wkb, field_data = result
        names = [str(name) for name in meta["fields"]]
        frame = pd.DataFrame(dict(zip(names, field_data, strict=True)), columns=names)
    frame = restore_integers(_json_fields(frame, meta), meta)
    if wkb is None:
        return LayerRead(frame, np.asarray(fids), np.zeros(0, np.intp), [])
    geometries = shapely.from_wkb(wkb, on_invalid="ignore")
    unbuildable = np.flatnonzero(shapely.is_missing(geometries) & pd.notna(wkb))
    frame["geometry"] = geometries  # replaces a field of that name, as read_dataframe does
    frame = gpd.GeoDataFrame(frame, geometry="geometry", crs=meta["crs"])
    return LayerRead(frame, np.asarray(fids), unbuildable, [wkb[i] for i in unbuildable])


def _arrow_parts(meta: dict[str, Any], table: Any) -> tuple[Any, np.ndarray, Any, pd.DataFrame]:
    """Meta, feature ids, WKB (None without geometries) and attributes of an Arrow read."""
    fid_column, geometry_column = meta["fid_column"], meta["geometry_name"] or "wkb_geometry"
    fids = table.column(fid_column).to_numpy()
    wkb = None
    if geometry_column in table.column_names:
        wkb = table.column(geometry_column).to_numpy(zero_copy_only=False)
    attributes = table.drop_columns([c for c in (fid_column, geometry_column)
                                     if c in table.column_names])  # fmt: skip
    return meta, fids, wkb, attributes.to_pandas()


def _json_fields(frame: pd.DataFrame, meta: dict[str, Any]) -> pd.DataFrame:
    """JSON text fields parsed as pyogrio.read_dataframe does (left as text when not JSON)."""
    for subtype, name in zip(meta["ogr_subtypes"], meta["fields"], strict=True):
        if subtype == "OFSTJSON" and pd.api.types.infer_dtype(frame[name]) == "string":
            with contextlib.suppress(ValueError):  # not JSON after all: kept as text
                frame[name] = frame[name].map(json.loads, na_action="ignore")
    return frame


def restore_integers(frame: Any, info: dict[str, Any]) -> Any:
    """Integer fields that came back as floats (because of gaps) turned back into integers."""
    for name, dtype in zip(info["fields"], info["dtypes"], strict=True):
        if str(dtype).startswith("int") and name in frame and frame[name].dtype.kind == "f":
            frame[name] = frame[name].astype("Int64")
    return frame


def guard(path: Path, read: Any) -> Any:
    """Run a GDAL read, turning any failure into InvalidInput naming the file."""
    try:
        return read()
    except InvalidInput:
        raise
    except Exception as err:  # GDAL raises many classes; all mean "this file cannot be read"
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InvalidInput(f"cannot read {path.name}: {reason}") from None


def _require_utf8(path: Path) -> None:
    """Refuse CSVs that are not UTF-8 (GBK exports are common) rather than load mojibake."""
    if not is_utf8(path):
        raise InvalidInput(
            f"{path.name} is not UTF-8 text (a GBK/GB18030 export?): save it as UTF-8 and retry"
        )


def is_utf8(path: Path) -> bool:
    """Whether the whole file decodes as UTF-8 (read in 1 MiB chunks)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as fh:
        try:
            while chunk := fh.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def has_arrow() -> bool:
    """Whether pyarrow is installed, so pyogrio can read through Arrow (faster)."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def crs_text(crs: Any) -> str | None:
    """The file's CRS as 'AUTH:CODE' when it has one, else its WKT; None when absent."""
    if crs is None:
        return None
    authority = crs.to_authority()
    return ":".join(authority) if authority else str(crs.to_wkt())


def number_list(numbers: list[int], limit: int = 10) -> str:
    """'1, 4, 7' or '1, 4, 7, … (25 in all)' for messages."""
    shown = ", ".join(str(n) for n in numbers[:limit])
    return shown if len(numbers) <= limit else f"{shown}, … ({len(numbers)} in all)"
