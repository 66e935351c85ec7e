"""Read one source of a city profile into lon/lat features of one geometry family, checked.

``read_source`` is the city loader's one reader: GeoJSON, GeoPackage, Shapefile (zipped or
not), FlatGeobuf, CSV and OpenStreetMap extracts (``.osm.pbf``, through GDAL's OSM driver with
``osmconf.ini`` beside this module), all through pyogrio, each in one pass over the file.
Features are numbered as the file holds them (``feature_no``, 1 = first; an OSM extract's
features are named by OSM element instead, see ``source_geometry``), text read in the wrong
encoding is refused, coordinates are converted to WGS84 lon/lat (EPSG codes, GCJ-02, BD-09)
and only valid geometries of the asked family come back. Every problem is recorded in the
report; nothing raises for bad data.
"""

from __future__ import annotations

import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from layers import vector_read
from layers.city.mojibake import garbled_fields
from layers.city.profile import CityProfile, Source
from layers.city.report import CityReport
from layers.city.source_geometry import (
    OSM_LAYER,
    Family,
    counted,
    drop_empty,
    feature_labels,
    keep_family,
    repair,
)
from spatial.crs import STORAGE_SRID, parse_crs, to_storage_lonlat, web_datum
from spatial.errors import InvalidInput, OnemapError

OSM_CONFIG = Path(__file__).with_name("osmconf.ini")
OSM_LAYERS: dict[str, str] = {"line": "lines", "polygon": "multipolygons", "point": "points"}
OSM_DRIVER_LAYERS = ("points", "lines", "multilinestrings", "multipolygons", "other_relations")
"""The layers GDAL's OSM driver builds from any extract (so they need not be listed from it)."""
FORMATS = {**vector_read.FORMATS, ".pbf": "OSM", ".osm": "OSM"}
ARCHIVED = (".shp", ".gpkg", ".geojson", ".json", ".fgb")
"""What a zip archive may hold (one of them, or several chosen between by ``layer:``)."""
ENCODED = ("Shapefile", "CSV")
"""Formats whose text encoding varies (the others are UTF-8 by their specification)."""
GUESSED_ENCODING = ("Shapefile",)
"""Formats whose text GDAL may decode in a guessed encoding (Latin-1 without .cpg), so that it
can arrive garbled; a CSV without ``encoding:`` must be UTF-8, and ``encoding: GBK`` is no cure
for text that was already garbled in a UTF-8 file."""
SINGLE_LAYER = ("GeoJSON", "Shapefile", "FlatGeobuf", "CSV")
"""Formats of one layer, read without listing layers first (a GeoJSON is parsed to list them)."""
POSITIONAL_FIDS = {"Shapefile": 1, "FlatGeobuf": 1, "CSV": 0}
"""Formats whose feature ids are positions in the file, with what makes them count from 1
(GeoJSON ids and GeoPackage keys are the file's own; OSM ids are OSM's)."""
WEB_DATUM_NAMES = {"gcj02": "GCJ-02", "bd09": "BD-09"}
METRES_PER_DEGREE = 111_320.0
STRICT_SECTIONS = ("divisions",)
"""Sections whose every feature matters: a geometry that cannot be built or repaired is an
error there; elsewhere (roads, buildings, POIs: bulk data, OSM extracts cut at their edge) it is
left out with a warning."""
CRS_UNKNOWN = "CRS unknown: give `crs:` (EPSG code, gcj02 or bd09)"


class Refused(InvalidInput):
    """A source that cannot be loaded as it is, with the features and field to name."""

    def __init__(self, message: str, *, features: list[str] | None = None,
                 field: str | None = None) -> None:  # fmt: skip
        super().__init__(message)
        self.features = features or []
        self.field = field


@dataclass(frozen=True)
class Opened:
    """Where GDAL reads a source: the file, the dataset path, its layer, format and options."""

    path: Path
    dataset: str
    layer: str | None
    kind: str
    encoding: str | None = None
    options: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The file as messages name it."""
        return self.path.name


def read_source(
    profile: CityProfile, source: Source, section: str, report: CityReport, *, geometry: Family
) -> gpd.GeoDataFrame | None:
    """The source's features of the asked family in EPSG:4326, or None after recording an error."""
    path = profile.path_of(source.path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)  # GDAL's remarks, for the report
        try:
            frame = _read_checked(path, profile.crs_of(source), source, section, report, geometry)
        except OnemapError as err:
            report.error(section, err.message, features=getattr(err, "features", []),
                         field=getattr(err, "field", None))  # fmt: skip
            frame = None
    remarks = sorted({str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)})
    if remarks:
        report.note(section, f"{path.name}: GDAL said: " + "; ".join(remarks[:3]))
    for other in (w for w in caught if not issubclass(w.category, RuntimeWarning)):
        warnings.warn_explicit(other.message, other.category, other.filename, other.lineno)
    return frame


def _read_checked(
    path: Path, declared: str | None, source: Source, section: str, report: CityReport,
    geometry: Family,
) -> gpd.GeoDataFrame | None:  # fmt: skip
    """read_source's steps: open, read, refuse mojibake, keep the family, convert, repair."""
    lenient = section.split(".")[0] not in STRICT_SECTIONS
    opened = open_source(path, source, geometry, report, section)
    frame = read_features(opened, source, report, section, lenient=lenient)
    refuse_garbled(frame, opened, source)
    kept = keep_family(drop_empty(frame, report, section, opened.name), geometry, report,
                       section, opened.name)  # fmt: skip
    if kept is None:
        return None
    crs = source_crs(declared, kept, opened, report, section)
    lonlat = to_lonlat(kept, crs, opened, report, section)
    valid = repair(lonlat, geometry, report, section, opened.name, lenient=lenient)
    return None if valid is None else valid.reset_index(drop=True)


def open_source(
    path: Path, source: Source, geometry: Family, report: CityReport, section: str
) -> Opened:
    """The dataset and layer to read, after checking the file is there and of a known kind."""
    if not path.is_file():
        raise Refused(f"no such file: {path}")
    kind = FORMATS.get(".pbf" if path.name.lower().endswith(".osm.pbf") else path.suffix.lower())
    if kind is None:
        known = ", ".join(sorted(set(FORMATS.values()) - {"zipped Shapefile"}))
        raise Refused(f"{path.name}: unsupported file type {path.suffix!r}; onemap reads {known}")
    dataset = str(path)
    if kind == "zipped Shapefile":
        vector_read.check_zip(path)
        member = archive_member(path, source.layer)
        dataset, kind = f"/vsizip/{path}/{member}", FORMATS[PurePosixPath(member).suffix.lower()]
    encoding = source.encoding
    if encoding and kind not in ENCODED:
        report.warning(section, f"{path.name}: `encoding: {encoding}` ignored ({kind} is UTF-8)")
        encoding = None
    if kind == "OSM":
        layer = osm_layer(path, source.layer or OSM_LAYERS[geometry])
        return Opened(path, dataset, layer, kind, None, {"CONFIG_FILE": str(OSM_CONFIG)})
    opened = Opened(path, dataset, None, kind, encoding)
    if kind in SINGLE_LAYER and source.layer is None:
        return opened  # its one layer (layer=None): nothing to choose
    return replace(opened, layer=choose_layer(opened, source.layer))


def osm_layer(path: Path, requested: str) -> str:
    """The OSM driver's layer asked for (it builds the same five from every extract)."""
    if requested not in OSM_DRIVER_LAYERS:
        raise Refused(f"{path.name} has no {requested!r} features: it has no such layer "
                      f"(its layers: {', '.join(OSM_DRIVER_LAYERS)})")  # fmt: skip
    return requested


def archive_member(path: Path, layer: str | None) -> str:
    """The one data file inside a zip archive (or the one named like ``layer:``)."""
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if not n.startswith("__MACOSX/")]
    members = [n for n in names if PurePosixPath(n).suffix.lower() in ARCHIVED]
    members = [n for n in members if n.lower().endswith(".shp")] or members  # not metadata.json
    if layer is not None:
        named = [n for n in members if PurePosixPath(n).stem == layer]
        members = named or members
    if len(members) == 1:
        return members[0]
    if not members:
        raise Refused(f"{path.name} holds no Shapefile (nor GeoPackage, GeoJSON, FlatGeobuf)")
    raise Refused(f"{path.name} holds several data files ({', '.join(members)}): "
                  "name one with `layer:` (its name without the suffix)")  # fmt: skip


def choose_layer(opened: Opened, requested: str | None) -> str | None:
    """The layer asked for, or the file's only layer with geometries (CSV: its only layer)."""
    listed = _gdal(opened, lambda: pyogrio.list_layers(opened.dataset))
    names = [str(name) for name, _ in listed]
    if requested is not None:
        if requested not in names:
            raise Refused(f"{opened.name} has no {requested!r} features: it has no such layer "
                          f"(its layers: {', '.join(names) or 'none'})")  # fmt: skip
        return requested
    spatial = [str(name) for name, kind in listed if kind]
    if len(names) == 1:  # a CSV, or a file whose only layer is empty (then: "no features")
        return names[0]
    if len(spatial) == 1:
        return spatial[0]
    if not spatial:
        raise Refused(f"{opened.name} holds no layer with geometries")
    raise Refused(f"{opened.name} holds several layers ({', '.join(spatial)}): "
                  "choose one with `layer:`")  # fmt: skip


def read_features(
    opened: Opened, source: Source, report: CityReport, section: str, *, lenient: bool
) -> gpd.GeoDataFrame:
    """Every feature (matching ``where:``) with its attributes as spelt and its ``feature_no``."""
    if opened.kind == "CSV" and not opened.encoding and not vector_read.is_utf8(opened.path):
        raise Refused(f"{opened.name} is not UTF-8 text (a GBK/GB18030 export?): "
                      "add `encoding: GBK` (or GB18030) to the source")  # fmt: skip
    options = {**opened.options, **(vector_read.CSV_OPTIONS if opened.kind == "CSV" else {})}
    read = numbered_layer(opened, source.where, options, report, section)
    if opened.kind == "CSV":
        return csv_features(read.frame, source, opened)
    return unreadable_geometries(read, opened, report, section, lenient=lenient)


def numbered_layer(
    opened: Opened, where: str | None, options: dict[str, str], report: CityReport, section: str
) -> vector_read.LayerRead:
    """The layer's features (matching ``where``), numbered; refused when there are none."""
    read = _read_layer(opened, where, options)
    frame = read.frame
    if len(frame) == 0:
        condition = f" where {where}" if where else ""
        layer = f" {opened.layer!r}" if opened.layer else ""
        raise Refused(f"{opened.name} has no{layer} features{condition}")
    if "feature_no" in frame:
        report.warning(section, f"{opened.name}: its own feature_no column is replaced by the "
                       "feature's number in the file")  # fmt: skip
    frame["feature_no"] = feature_numbers(opened, where, read.fids, options)
    if opened.kind == "OSM":
        frame.attrs[OSM_LAYER] = opened.layer  # its features are named by OSM element
    return read


def _read_layer(
    opened: Opened, where: str | None, options: dict[str, str]
) -> vector_read.LayerRead:
    """One pass over the layer: attributes, feature ids and stored geometries together."""
    # Arrow takes text as UTF-8 only: a Shapefile's Latin-1 (or undeclared GBK) would arrive
    # as invalid strings instead of being decoded (and then recognised as mojibake)
    arrow = vector_read.has_arrow() and opened.encoding is None and opened.kind != "Shapefile"

    def read() -> vector_read.LayerRead:
        return vector_read.read_layer(opened.dataset, layer=opened.layer, where=where,
                                      encoding=opened.encoding, use_arrow=arrow, **options)  # fmt: skip

    if not where:
        return _gdal(opened, read)
    try:
        return read()
    except Exception as err:  # GDAL's SQL parser raises several classes
        # an unreadable file is said to be so, not blamed on the filter
        _gdal(opened, lambda: pyogrio.read_info(opened.dataset, layer=opened.layer, **options))
        raise Refused(f"{opened.name}: cannot apply `where: {where}`: {_reason(err)}") from None


def feature_numbers(
    opened: Opened, where: str | None, fids: np.ndarray, options: dict[str, str]
) -> np.ndarray:
    """1-based positions in the layer: the order read, or (filtered) each feature id's place.

    An OSM layer is built by GDAL, not stored in the file: its features are numbered in the
    order read (after ``where``) and named in messages by their OSM element instead.
    """
    if not where or opened.kind == "OSM":
        return np.arange(1, len(fids) + 1)
    if opened.kind in POSITIONAL_FIDS:
        return np.asarray(fids, dtype=np.int64) + POSITIONAL_FIDS[opened.kind]
    every = _gdal(opened, lambda: pyogrio.raw.read(
        opened.dataset, layer=opened.layer, encoding=opened.encoding, columns=[],
        read_geometry=False, return_fids=True, **options)[1])  # fmt: skip
    ids = pd.Index(every)
    if not ids.is_unique:  # ids repeat: positions cannot be known, number the rows read
        return np.arange(1, len(fids) + 1)
    return np.asarray(ids.get_indexer(fids)) + 1


def unreadable_geometries(
    read: vector_read.LayerRead, opened: Opened, report: CityReport, section: str,
    *, lenient: bool,
) -> gpd.GeoDataFrame:  # fmt: skip
    """Geometries stored but unbuildable (a two-point ring): an error, or dropped when lenient."""
    frame = read.frame
    if read.unbuildable.size == 0:
        return frame
    stored = np.zeros(len(frame), dtype=bool)
    stored[read.unbuildable] = True
    labels = feature_labels(frame, stored)
    reason = vector_read.wkb_error(read.refused_wkb[0])
    message = (
        f"{opened.name}: {counted(int(stored.sum()), 'geometry')} GEOS cannot build ({reason})"
    )
    if not lenient:
        raise Refused(message, features=labels)
    report.warning(section, f"{message}: left out", features=labels)
    return frame[~stored]


def csv_features(table: pd.DataFrame, source: Source, opened: Opened) -> gpd.GeoDataFrame:
    """Points from a CSV's longitude/latitude columns (named by ``lon:``/``lat:`` or found)."""
    columns = table.columns
    lon = source.lon or vector_read.coordinate_column(
        columns, vector_read.LON_NAMES, "longitude", "`lon:`")  # fmt: skip
    lat = source.lat or vector_read.coordinate_column(
        columns, vector_read.LAT_NAMES, "latitude", "`lat:`")  # fmt: skip
    for name in (lon, lat):
        if name not in columns:
            raise Refused(f"{opened.name} has no column {name!r}; its columns are: "
                          f"{', '.join(map(str, columns))}", field=name)  # fmt: skip
    points = vector_read.csv_points(table[lon], table[lat], table["feature_no"].to_numpy())
    degrees = lon.strip().lower() in vector_read.DEGREE_NAMES  # lon/lng/经度: WGS84 degrees
    return gpd.GeoDataFrame(table, geometry=points, crs=STORAGE_SRID if degrees else None)


def refuse_garbled(frame: pd.DataFrame, opened: Opened, source: Source) -> None:
    """Refuse text fields that look like GBK/GB18030 read as Latin-1 (no .cpg, no encoding:)."""
    if source.encoding or opened.kind not in GUESSED_ENCODING:
        return
    for found in garbled_fields(frame):
        example = f"{found.example!r} = {found.meant!r}" if found.meant else repr(found.example)
        raise Refused(
            f"{opened.name}: field {found.field} looks like GBK/GB18030 text read as Latin-1 "
            f"(e.g. {example}): add `encoding: GBK` to the source or a .cpg file",
            features=feature_labels(frame, np.isin(np.arange(len(frame)), found.rows)),
            field=found.field,
        )


def source_crs(
    declared: str | None, frame: gpd.GeoDataFrame, opened: Opened, report: CityReport,
    section: str,
) -> str:  # fmt: skip
    """The CRS the coordinates are in: the profile's, else the file's, else degrees by name."""
    own = vector_read.crs_text(frame.crs)
    if declared is None:
        if own is None:
            raise Refused(f"{opened.name}: {CRS_UNKNOWN}")
        return own
    # a CSV's own CRS comes from its column names, not from the file
    if (
        own
        and opened.kind != "CSV"
        and web_datum(declared) is None
        and not _same_crs(own, declared)
    ):
        report.note(section, f"{opened.name} says its CRS is {_crs_label(own)}; "
                    f"the profile's `crs: {declared}` is used")  # fmt: skip
    return declared


def to_lonlat(
    frame: gpd.GeoDataFrame, crs: str, opened: Opened, report: CityReport, section: str
) -> gpd.GeoDataFrame:
    """Geometries in 2D WGS84 lon/lat; coordinates off the globe afterwards are refused."""
    frame = frame.reset_index(drop=True)
    raw = frame.geometry.to_numpy()
    raw = shapely.force_2d(raw) if shapely.has_z(raw).any() else raw  # a copy only when needed
    stored = raw if _same_crs(crs, f"EPSG:{STORAGE_SRID}") else _converted(raw, crs)
    bounds = shapely.bounds(stored)
    off = ~np.isfinite(bounds).all(axis=1) | (np.abs(bounds[:, [0, 2]]) > 180).any(axis=1)
    off |= (np.abs(bounds[:, [1, 3]]) > 90).any(axis=1)
    if off.any():
        raise Refused(f"{opened.name}: {counted(int(off.sum()), 'feature')} off the globe once read "
                      f"as {_crs_label(crs)}: is the CRS right?",
                      features=feature_labels(frame, off))  # fmt: skip
    if stored is not raw:
        report.note(section, f"{opened.name}: {conversion_remark(raw, crs)}")
    return gpd.GeoDataFrame(frame.drop(columns="geometry"), geometry=stored, crs=STORAGE_SRID)


def _converted(geometries: np.ndarray, crs: str) -> np.ndarray:
    """The geometries' coordinates moved from ``crs`` to storage lon/lat, all at once."""

    def move(xy: np.ndarray) -> np.ndarray:
        lon, lat = to_storage_lonlat(xy[:, 0], xy[:, 1], crs)
        return np.column_stack([lon, lat])

    try:
        return np.asarray(shapely.transform(geometries, move))
    except Exception as err:  # pyproj refuses a CRS it parsed but cannot transform
        raise Refused(
            f"cannot convert coordinates from {_crs_label(crs)}: {_reason(err)}"
        ) from None


def conversion_remark(raw: np.ndarray, crs: str) -> str:
    """'converted from GCJ-02 to WGS84: median shift 512 m' (reprojected, for projected CRSs)."""
    label = _crs_label(crs)
    if web_datum(crs) is None and not parse_crs(crs).is_geographic:
        return f"reprojected from {label} to WGS84 lon/lat"
    shift = median_shift_m(raw, crs)
    remark = f"converted from {label} to WGS84: median shift {shift:,.0f} m"
    if web_datum(crs) is not None and shift < 1:
        remark += f" (the features lie outside China, where {label} is WGS84)"
    return remark


def median_shift_m(raw: np.ndarray, crs: str) -> float:
    """Median distance in metres between each feature's bbox centre and its converted place."""
    bounds = shapely.bounds(raw)
    lon, lat = (bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2
    to_lon, to_lat = to_storage_lonlat(lon, lat, crs)
    dx = (np.asarray(to_lon) - lon) * METRES_PER_DEGREE * np.cos(np.radians(lat))
    dy = (np.asarray(to_lat) - lat) * METRES_PER_DEGREE
    return float(np.median(np.hypot(dx, dy)))


def _same_crs(one: str, other: str) -> bool:
    """Whether two CRS texts (neither a web datum) mean the same lon/lat (axis order aside)."""
    if web_datum(one) is not None or web_datum(other) is not None:
        return False
    return bool(parse_crs(one).equals(parse_crs(other), ignore_axis_order=True))


def _crs_label(crs: str) -> str:
    """'GCJ-02', 'EPSG:2263' or a WKT's name, for messages."""
    datum = web_datum(crs)
    if datum is not None:
        return WEB_DATUM_NAMES[datum]
    return crs if len(crs) < 40 else str(parse_crs(crs).name)


def _gdal(opened: Opened, read: Callable[[], Any]) -> Any:
    """A GDAL read whose failure becomes a refusal naming the file."""
    return vector_read.guard(opened.path, read)


def _reason(err: Exception) -> str:
    """The first line of an exception's message (GDAL's are long)."""
    text_value = str(err).strip()
    return text_value.splitlines()[0] if text_value else type(err).__name__
