"""What a download is: its formats, its options, its file name.

A vector layer (or a bbox, time slice or CQL2 filter of it) comes as GeoPackage, zipped
Shapefile, CSV, GeoJSON, FlatGeobuf or KML, in CRS84 or any EPSG CRS; an imagery layer as its
Cloud-Optimized GeoTIFF. The caller checks permission first (``spatial.access.policy.require_read``);
``layers.export`` writes the file. Each option is parsed once here, with the shared parsers
(``spatial.params`` for bbox and time, ``layers.client.query`` for CRS and CQL2), and refused
with a 400 that says what is offered.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from layers.client.query import OutputCrs, cql_filter
from spatial.crs import parse_crs
from spatial.errors import InvalidInput, NotFound
from spatial.params import parse_interval, parse_lonlat_bbox


@dataclass(frozen=True)
class DownloadFormat:
    """A file format: its GDAL driver, file name ending and media type."""

    driver: str
    extension: str
    media_type: str


FORMATS: dict[str, DownloadFormat] = {
    "gpkg": DownloadFormat("GPKG", "gpkg", "application/geopackage+sqlite3"),
    "shp": DownloadFormat("ESRI Shapefile", "shp.zip", "application/zip"),
    "csv": DownloadFormat("CSV", "csv", "text/csv; charset=utf-8"),
    "geojson": DownloadFormat("GeoJSON", "geojson", "application/geo+json"),
    "fgb": DownloadFormat("FlatGeobuf", "fgb", "application/flatgeobuf"),
    "kml": DownloadFormat("KML", "kml", "application/vnd.google-earth.kml+xml"),
}
IMAGERY = DownloadFormat("GTiff", "tif", "image/tiff; application=geotiff")
IMAGERY_FORMATS = ("tif", "geotiff", "cog")
ENCODINGS = {"utf-8": "UTF-8", "utf8": "UTF-8", "gbk": "GBK", "cp936": "GBK"}
GEOMETRY_MODES = ("wkt", "lonlat")
FILTER_LANGUAGES = ("cql-text", "cql2-text", "ecql")
CRS84_NAMES = ("CRS84", "OGC:CRS84", "HTTP://WWW.OPENGIS.NET/DEF/CRS/OGC/1.3/CRS84")


class DownloadOptions(BaseModel):
    """A checked download request: format, output CRS, what to include, Shapefile encoding, CSV geometry."""

    model_config = ConfigDict(frozen=True)

    format: str = "geojson"
    srid: int = 4326
    bbox: tuple[float, float, float, float] | None = None
    filter: str | None = None
    datetime: str | None = None
    encoding: str = "UTF-8"
    geometry: str = "wkt"

    @property
    def file_format(self) -> DownloadFormat:
        return FORMATS[self.format]


def parse_format(value: Any) -> str | None:
    """``f``: one of the download formats (``tif`` for imagery); None when absent."""
    if value is None or value == "":
        return None
    text = str(value).strip().lower()
    if text not in FORMATS and text not in IMAGERY_FORMATS:
        raise InvalidInput(f"f={str(value)[:40]!r} is not a download format: vector layers come as "
                           f"{', '.join(FORMATS)}; imagery as tif")  # fmt: skip
    return "tif" if text in IMAGERY_FORMATS else text


def parse_srid(value: Any) -> int:
    """``crs``: CRS84 (the default), EPSG:4490, EPSG:3857 or any EPSG code of a 2D CRS (its SRID)."""
    if value is None or value == "":
        return 4326
    epsg = OutputCrs.parse(str(value)).epsg
    crs = parse_crs(f"EPSG:{epsg}")
    if not (crs.is_geographic or crs.is_projected) or len(crs.axis_info) != 2:
        raise InvalidInput(f"crs {str(value)[:60]!r} ({crs.name}) is not a 2D geographic or projected CRS")
    return epsg


def parse_encoding(value: Any) -> str:
    """``encoding`` of a Shapefile's text: UTF-8 (the default) or GBK."""
    if value is None or value == "":
        return "UTF-8"
    found = ENCODINGS.get(str(value).strip().lower())
    if found is None:
        raise InvalidInput(f"encoding={str(value)[:40]!r}: Shapefiles are written in utf-8 (the default) or gbk")
    return found


def parse_geometry_mode(value: Any) -> str:
    """``geometry`` of a CSV: wkt (the default, any geometry) or lonlat (points as two columns)."""
    if value is None or value == "":
        return "wkt"
    text = str(value).strip().lower()
    if text not in GEOMETRY_MODES:
        raise InvalidInput(f"geometry={str(value)[:40]!r}: a CSV writes geometries as wkt or lonlat (points)")
    return text


def parse_bbox_crs(value: Any) -> None:
    """``bbox-crs``: downloads take lon/lat boxes only."""
    if value not in (None, "") and str(value).strip().upper() not in CRS84_NAMES:
        raise InvalidInput("bbox-crs: downloads take lon/lat boxes (CRS84): minlon,minlat,maxlon,maxlat")


def parse_filter(text: str | None, language: str | None) -> str | None:
    """``filter`` (CQL2 text, or ECQL as the OGC API door reads it), checked once; None when absent."""
    if language not in (None, "") and str(language).strip().lower() not in FILTER_LANGUAGES:
        raise InvalidInput(f"filter-lang={str(language)[:40]!r}: downloads read cql2-text filters")
    if text is None or not text.strip():
        return None
    cql_filter(text, "geometry")  # refused here with the OGC door's words; applied by the writer
    return text


def download_options(
    *, f: str | None = None, crs: Any = None, bbox: Any = None, bbox_crs: Any = None,
    filter_: str | None = None, filter_lang: str | None = None, datetime_: str | None = None,
    encoding: Any = None, geometry: Any = None,
) -> DownloadOptions:
    """A vector download's options from query values, each parsed once; the rules between them checked."""
    fmt = parse_format(f) or "geojson"
    srid, charset, mode = parse_srid(crs), parse_encoding(encoding), parse_geometry_mode(geometry)
    parse_bbox_crs(bbox_crs)
    if fmt == "kml" and srid != 4326:
        raise InvalidInput("KML is always WGS 84 longitude/latitude (OGC KML 2.2): leave crs out, or give CRS84")
    if charset != "UTF-8" and fmt != "shp":
        raise InvalidInput(f"encoding= applies to Shapefiles (f=shp) only: {fmt} files are UTF-8")
    if mode != "wkt" and fmt != "csv":
        raise InvalidInput(f"geometry={mode} applies to CSV (f=csv) only")
    if datetime_:
        parse_interval(datetime_, whole_days=False)
    box = parse_lonlat_bbox(bbox).as_tuple() if bbox not in (None, "") else None
    return DownloadOptions(format=fmt, srid=srid, bbox=box, filter=parse_filter(filter_, filter_lang),
                           datetime=datetime_ or None, encoding=charset, geometry=mode)  # fmt: skip


def file_name(layer_id: str, extension: str, day: dt.date | None = None) -> str:
    """``<layer>_YYYYMMDD.<ext>``: the day the file was made (the server's local date)."""
    return f"{layer_id}_{(day or dt.date.today()):%Y%m%d}.{extension}"


def imagery_file(row: dict[str, Any], fmt: str | None) -> Path:
    """An imagery layer's GeoTIFF; vector formats are refused."""
    path = Path(row["storage_path"]) if row.get("storage_path") else None
    if path is None or not path.is_file():
        raise NotFound(f"layer {row['id']!r} has nothing to download")
    if fmt not in (None, "tif"):
        raise InvalidInput(f"layer {row['id']!r} is imagery: it downloads as GeoTIFF (f=tif), not {fmt}")
    return path
