"""Coordinate reference systems: what we store, what we accept and serve, and axis order.

Storage is lon/lat on WGS84 (SRID 4326, always x = longitude), served as OGC CRS84.
CGCS2000 (EPSG:4490, China's national datum; within centimetres of WGS84 for web purposes)
and Web Mercator (EPSG:3857) are accepted on input and offered on output. The Chinese web-map
datums GCJ-02 and BD-09 (spatial/webdatum.py, re-exported here) are accepted on input.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pyproj import CRS, Transformer

from spatial.errors import InvalidInput
from spatial.webdatum import WEB_DATUMS, from_wgs84, to_wgs84, web_datum

STORAGE_SRID = 4326
CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
STORAGE_CRS_URI = CRS84_URI

EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{code}"
OUTPUT_CRS_URIS = (
    CRS84_URI,
    EPSG_URI.format(code=4326),
    EPSG_URI.format(code=4490),
    EPSG_URI.format(code=3857),
)
SUPPORTED_INPUT_EPSG = (4326, 4490, 3857)


@lru_cache(maxsize=64)
def parse_crs(value: str | int) -> CRS:
    """A CRS from 'EPSG:4490', 4490, a CRS URI or 'CRS84'; InvalidInput if it is not one."""
    text = str(value).strip()
    if text.upper() in ("CRS84", "OGC:CRS84", CRS84_URI.upper()):
        return CRS.from_user_input("OGC:CRS84")
    try:
        return CRS.from_user_input(int(text) if text.isdigit() else text)
    except Exception:
        raise InvalidInput(
            f"unknown coordinate reference system {text!r}: give it as EPSG:<code>, e.g. EPSG:4490"
        ) from None


def parse_crs_uri(value: str, *, name: str = "crs") -> str:
    """A CRS parameter as the OGC URI that names it: 'EPSG:4490', '4490', a URN or a URI alike.

    >>> parse_crs_uri("EPSG:4326")
    'http://www.opengis.net/def/crs/EPSG/0/4326'
    >>> parse_crs_uri("CRS84")
    'http://www.opengis.net/def/crs/OGC/1.3/CRS84'

    A URI of the OGC register is kept as written once it names a CRS (``…/OGC/0/CRS84h`` has
    no EPSG code); anything else must be a CRS with an EPSG code (InvalidInput naming ``name``).
    """
    text = str(value).strip()
    try:
        crs = parse_crs(text)
    except InvalidInput:
        raise InvalidInput(f"{name}: unknown coordinate reference system {text[:80]!r}; give it as "
                           f"EPSG:<code> or {EPSG_URI.format(code='<code>')}") from None  # fmt: skip
    if text.upper() in ("CRS84", "OGC:CRS84"):
        return CRS84_URI
    if text.startswith("http://www.opengis.net/def/crs/"):
        return text
    epsg = crs.to_epsg()
    if epsg is None:
        raise InvalidInput(f"{name}: {text[:80]!r} has no EPSG code; give it as EPSG:<code>")
    return EPSG_URI.format(code=epsg)


@lru_cache(maxsize=64)
def to_storage(source: str | int) -> Transformer:
    """Transformer from ``source`` to storage lon/lat (always_xy: x = longitude)."""
    return Transformer.from_crs(parse_crs(source), CRS.from_epsg(STORAGE_SRID), always_xy=True)


def epsg_code(value: str | int) -> int | None:
    return parse_crs(value).to_epsg()


def to_storage_lonlat(lon: Any, lat: Any, source: str | int) -> tuple[Any, Any]:
    """Coordinates in ``source`` (an EPSG code or URI, or 'gcj02'/'bd09') → storage lon/lat."""
    datum = web_datum(source)
    if datum is not None:
        return to_wgs84(lon, lat, datum)
    return to_storage(source).transform(lon, lat)


__all__ = [
    "CRS84_URI", "EPSG_URI", "OUTPUT_CRS_URIS", "STORAGE_CRS_URI", "STORAGE_SRID",
    "SUPPORTED_INPUT_EPSG", "WEB_DATUMS", "epsg_code", "from_wgs84", "parse_crs", "parse_crs_uri", "to_storage",
    "to_storage_lonlat", "to_wgs84", "web_datum",
]  # fmt: skip
