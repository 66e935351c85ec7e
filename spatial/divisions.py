"""Administrative divisions: which district, street and community a point lies in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text

from spatial.errors import InvalidInput

LEVEL_DEPTH = "CASE level WHEN 'community' THEN 3 WHEN 'street' THEN 2 ELSE 1 END"
LOCATE_SQL = text(
    f"""
    SELECT p.ord, d.code, d.level, d.street_code, d.district_code
    FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[])) WITH ORDINALITY AS p(lon, lat, ord)
    LEFT JOIN LATERAL (
        SELECT code, level, street_code, district_code FROM basemap.admin_division
        WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326))
        ORDER BY {LEVEL_DEPTH} DESC, code LIMIT 1
    ) d ON true
    ORDER BY p.ord
    """
)
"""The deepest division holding each point; its ancestors are columns of the division itself
(a city may load one, two or three levels, with codes of any length)."""


@dataclass(frozen=True)
class Placement:
    """Where a point sits in the administrative hierarchy (None where no division of a level holds it)."""

    community_code: str | None
    street_code: str | None
    district_code: str | None


def check_lon_lat(lon: float, lat: float) -> None:
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise InvalidInput(
            f"coordinates out of range: lon {lon}, lat {lat} (lon must be within ±180, lat within ±90; "
            "are the axes swapped?)"
        )


def locate(conn: Connection, points: Sequence[tuple[float, float]]) -> list[Placement]:
    """Community, street and district of each (lon, lat) point, in one indexed query."""
    for lon, lat in points:
        check_lon_lat(lon, lat)
    if not points:
        return []
    rows = conn.execute(
        LOCATE_SQL, {"lons": [p[0] for p in points], "lats": [p[1] for p in points]}
    ).all()
    return [placement(r[1], r[2], r[3], r[4]) for r in rows]


def placement(
    code: str | None, level: str | None, street: str | None, district: str | None
) -> Placement:
    """The placement of a point in division ``code`` of ``level`` (its ancestors given)."""
    return Placement(
        community_code=code if level == "community" else None,
        street_code=code if level == "street" else street,
        district_code=code if level == "district" else district,
    )
