"""Administrative divisions: which district, street and community a point lies in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text

from spatial.errors import InvalidInput

LOCATE_SQL = text(
    """
    SELECT p.ord, c.code, c.parent_code, s.parent_code
    FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[])) WITH ORDINALITY AS p(lon, lat, ord)
    LEFT JOIN LATERAL (
        SELECT code, parent_code FROM basemap.admin_division d
        WHERE d.level = 'community'
          AND ST_Intersects(d.geom, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326))
        ORDER BY code LIMIT 1
    ) c ON true
    LEFT JOIN basemap.admin_division s ON s.code = c.parent_code
    ORDER BY p.ord
    """
)


@dataclass(frozen=True)
class Placement:
    """Where a point sits in the administrative hierarchy (None outside every community)."""

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
    return [Placement(community_code=r[1], street_code=r[2], district_code=r[3]) for r in rows]
