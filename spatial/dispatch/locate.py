"""Where a call is: from an address, coordinates, a grid-cell code or a location code.

    >>> where = locate(conn, "address", "兴福东路18号")            # doctest: +SKIP
    >>> where.lon, where.lat, where.place                           # doctest: +SKIP

- ``address``: the city's geocoder (``spatial.geocoding``), its best match;
- ``coordinates``: 'lon,lat' (or the numbers given apart) in WGS84/CGCS2000, or in a Chinese
  web datum (GCJ-02, BD-09: ``spatial.webdatum``) converted to WGS84;
- ``grid_cell``: a 15-digit unit-cell code of the current grid (its inner point), or a
  GB/T 12409-style geographic grid code (``spatial.grid.codes``: the centre of its cell);
- ``location_code``: a lamp-post plate code or a plus code, resolved by ``spatial.location_codes``.

A code or address that names nothing is NotFound (404) naming it; malformed input InvalidInput.
Every located point is also placed in the unit grid (cell, street) when the city has one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection, text

from spatial.dispatch.models import LOCATED_BY
from spatial.errors import InvalidInput, NotFound
from spatial.grid.codes import GEO_LEVELS
from spatial.grid.lookup import cell_at
from spatial.params import parse_number, parse_words
from spatial.webdatum import to_wgs84, web_datum

MAX_TEXT = 200
UNIT_CELL = re.compile(r"[0-9]{15}")
GEO_GRID = re.compile(r"[1-4][0-9]{5}(?:[0-9]{2}){0,4}")
DATUMS = ("wgs84", "cgcs2000", "gcj02", "bd09")
CELL_POINT_SQL = text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p "
                      "FROM grid.current_cell WHERE code = :code LIMIT 1) AS c")  # fmt: skip


@dataclass(frozen=True)
class Located:
    """A call's point (lon/lat, WGS84) and how it was found."""

    lon: float
    lat: float
    located_by: str
    given_text: str
    place: str | None = None
    cell_code: str | None = None
    street_code: str | None = None


def locate(conn: Connection, by: str, given: str | None, *, lon: float | None = None, lat: float | None = None,
           datum: str | None = None) -> Located:  # fmt: skip
    """The point of a call located ``by`` one of LOCATED_BY from the caller's words ``given``."""
    if by not in LOCATED_BY:
        raise InvalidInput(f"located_by {by!r} unknown: one of {', '.join(LOCATED_BY)}")
    words = parse_words(given, name="text", max_length=MAX_TEXT)
    if by == "coordinates":
        x, y = coordinates(words, lon, lat, datum)
        return _placed(conn, Located(x, y, by, words or f"{lon},{lat}", place=None))
    if not words:
        raise InvalidInput(f"a call located by {by} needs the text the caller gave (text)")
    if by == "address":
        return _placed(conn, by_address(conn, words))
    if by == "grid_cell":
        return _placed(conn, by_grid_code(conn, words))
    return _placed(conn, by_location_code(conn, words))


def coordinates(words: str | None, lon: float | None, lat: float | None, datum: str | None) -> tuple[float, float]:
    """WGS84 lon/lat from 'lon,lat' text or the numbers, converted from a web datum if named."""
    if lon is None or lat is None:
        parts = re.split(r"[,\s，]+", words or "")
        if len(parts) != 2:
            raise InvalidInput("coordinates are 'lon,lat' (text) or the numbers lon and lat")
        lon, lat = parts[0], parts[1]  # type: ignore[assignment]
    x = parse_number(lon, name="lon", minimum=-180, maximum=180)
    y = parse_number(lat, name="lat", minimum=-90, maximum=90)
    name = (datum or "wgs84").strip().lower()
    if name in ("wgs84", "cgcs2000", "epsg:4326", "epsg:4490", "crs84"):
        return x, y
    if web_datum(name) is None:
        raise InvalidInput(f"datum {datum!r} unknown: one of {', '.join(DATUMS)}")
    gx, gy = to_wgs84(x, y, name)
    return float(gx), float(gy)


def by_address(conn: Connection, words: str) -> Located:
    """The geocoder's best match for an address."""
    from spatial.geocoding import geocode

    matches = geocode(conn, words, limit=1)
    if not matches:
        raise NotFound(f"address {words!r} not found in the city's address register: give coordinates or a code")
    best = matches[0]
    return Located(best.lon, best.lat, "address", words, place=best.label)


def by_grid_code(conn: Connection, words: str) -> Located:
    """A unit cell's inner point, or the centre of a geographic grid cell."""
    code = words.replace(" ", "")
    if UNIT_CELL.fullmatch(code):
        row = conn.execute(CELL_POINT_SQL, {"code": code}).first()
        if row is None:
            raise NotFound(f"grid cell {code} does not exist in the current unit grid")
        return Located(float(row[0]), float(row[1]), "grid_cell", words, place=code)
    if GEO_GRID.fullmatch(code):
        west, south, east, north = geo_grid_bounds(code)
        return Located((west + east) / 2, (south + north) / 2, "grid_cell", words, place=code)
    raise InvalidInput(f"{code!r} is not a grid code: a 15-digit unit-cell code or a geographic grid code "
                       "(quadrant, 3+2 degree digits, then two digits per level, 6 to 14 digits)")  # fmt: skip


def geo_grid_bounds(code: str) -> tuple[float, float, float, float]:
    """West, south, east, north of a geographic grid code (the inverse of ``geo_grid_code``).

    >>> [round(v, 4) for v in geo_grid_bounds('1108345165')]
    [108.9333, 34.25, 108.95, 34.2667]
    """
    quadrant, sx, sy = int(code[0]), int(code[1:4]) * 3600, int(code[4:6]) * 3600
    side = 3600
    pairs = [code[i : i + 2] for i in range(6, len(code), 2)]
    for (name, (level_side, per_parent)), pair in zip(list(GEO_LEVELS.items())[1:], pairs, strict=False):
        dx, dy = int(pair[0]), int(pair[1])
        if dx >= per_parent or dy >= per_parent:
            raise InvalidInput(f"grid code {code}: digits {pair} do not exist at level {name} (0-{per_parent - 1})")
        sx, sy, side = sx + dx * level_side, sy + dy * level_side, level_side
    if sx >= 180 * 3600 or sy >= 90 * 3600:
        raise InvalidInput(f"grid code {code} lies off the globe")
    west, south, east, north = sx / 3600, sy / 3600, (sx + side) / 3600, (sy + side) / 3600
    if quadrant in (2, 3):
        west, east = -east, -west
    if quadrant in (3, 4):
        south, north = -north, -south
    return west, south, east, north


def by_location_code(conn: Connection, words: str) -> Located:
    """A lamp-post plate code or a plus code (``spatial.location_codes``): 404 for a code no plate carries."""
    from spatial.location_codes import resolve

    point = resolve(conn, words.strip())
    return Located(point.lon, point.lat, "location_code", words, place=f"{point.code} {point.label}".strip())


def _placed(conn: Connection, where: Located) -> Located:
    """The same point with its unit cell and street, when the city has a grid there."""
    hit = cell_at(conn, where.lon, where.lat)
    if hit is None:
        return where
    return Located(where.lon, where.lat, where.located_by, where.given_text, where.place, hit.code, hit.street_code)
