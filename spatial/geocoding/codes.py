"""Location codes in the geocoder: a plate code (``XFDL-012-L-7``) or a plus code as the query.

``code_matches`` is asked before any address parsing: None when the text is neither, else the
plate or the plus code's cell centre as a Match. A plate code with a wrong check character is
an InvalidInput naming the plates one misread character away; a right code that no plate
carries is a NotFound (the geocoder's ``geocode`` turns it into "no match").
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from spatial.geocoding.result import Match
from spatial.plates import plus_codes
from spatial.plates.lookup import PlateRow, resolve_code
from spatial.plates.scheme import looks_like_plate_code

PLATE_LEVEL = "plate"
PLUS_CODE_LEVEL = "plus_code"
CITY_CENTRE_SQL = text(
    """
    SELECT coalesce(
        (SELECT ARRAY[(view->'center'->>0)::float8, (view->'center'->>1)::float8]
         FROM basemap.version WHERE is_current AND jsonb_typeof(view->'center') = 'array'),
        (SELECT ARRAY[ST_X(c), ST_Y(c)] FROM (
            SELECT ST_Centroid(ST_Extent(geom)::geometry) AS c FROM basemap.admin_division) e
         WHERE c IS NOT NULL))
    """
)


def is_location_code(query: str) -> bool:
    """Whether the query is written as a plate code or a plus code."""
    return looks_like_plate_code(query) or plus_codes.looks_like_plus_code(query)


def code_matches(conn: Connection, query: str) -> list[Match] | None:
    """The plate or plus-code cell the query names; None when it is no location code."""
    if looks_like_plate_code(query):
        return [plate_match(resolve_code(conn, query))]
    if plus_codes.looks_like_plus_code(query):
        return [plus_code_match(plus_codes.decode(query, reference=city_centre(conn)))]
    return None


def plate_match(plate: PlateRow) -> Match:
    """A plate as a geocoder answer (its code as the label)."""
    road = plate.road_name_zh or plate.road_name_en
    return Match(
        level=PLATE_LEVEL, confidence=1.0, lon=plate.lon, lat=plate.lat,
        label=f"{plate.code} {road} {plate.pole}号杆 {'左' if plate.side == 'L' else '右'}侧".strip(),
        label_en=f"{plate.code} {plate.road_name_en or road}, pole {plate.pole}, "
                 f"{'left' if plate.side == 'L' else 'right'} side",
        district_code=plate.district_code, road=road, source="plate", location_code=plate.code,
        distance_m=plate.distance_m,
    )  # fmt: skip


def plus_code_match(code: plus_codes.PlusCode) -> Match:
    """The centre of a plus code's cell as a geocoder answer."""
    note = f" (from {code.recovered_from} near the city centre)" if code.recovered_from else ""
    return Match(
        level=PLUS_CODE_LEVEL, confidence=1.0, lon=code.lon, lat=code.lat, label=code.code + note,
        source="plus code", location_code=code.code,
    )  # fmt: skip


def city_centre(conn: Connection) -> tuple[float, float] | None:
    """The current city's centre (its view's, else its divisions'), None without a city."""
    centre = conn.execute(CITY_CENTRE_SQL).scalar()
    return None if centre is None else (float(centre[0]), float(centre[1]))
