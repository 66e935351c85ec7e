"""Plates by code and nearest a point (``basemap.plate``): what the geocoder asks.

``resolve_code`` turns what a caller read off a plate into that plate: a code of the right shape
whose check character does not match is refused (InvalidInput) with the plates one misread
character away, when there are any; a right code that no plate carries is a ``NotFound``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from spatial.errors import InvalidInput, NotFound
from spatial.plates.scheme import parse_plate_code, single_substitutions

PLATE_COLUMNS_SQL = (
    "id, code, road_code, pole, side, road_name_zh, road_name_en, road_id, district_code, "
    "source, ST_X(geom) AS lon, ST_Y(geom) AS lat"
)
BY_CODE_SQL = text(
    f"SELECT {PLATE_COLUMNS_SQL} FROM basemap.plate WHERE code = ANY(:codes) ORDER BY code"
)
NEAREST_SQL = text(
    f"""
    WITH here AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g)
    SELECT * FROM (
        SELECT {PLATE_COLUMNS_SQL}, ST_Distance(p.geom::geography, here.g::geography) AS metres
        FROM here, LATERAL (SELECT * FROM basemap.plate ORDER BY geom <-> here.g LIMIT :k) p
    ) near WHERE metres <= :radius ORDER BY metres, code LIMIT :limit
    """
)
NEAREST_CANDIDATES = 8


@dataclass(frozen=True)
class PlateRow:
    """One plate as stored."""

    id: int
    code: str
    road_code: str
    pole: int
    side: str
    road_name_zh: str
    road_name_en: str
    road_id: int | None
    district_code: str | None
    source: str
    lon: float
    lat: float
    distance_m: float | None = None

    def as_dict(self) -> dict[str, object]:
        """The plate for JSON."""
        return dict(self.__dict__)


def plates_by_code(conn: Connection, codes: list[str]) -> list[PlateRow]:
    """The stored plates whose codes are among ``codes``."""
    if not codes:
        return []
    return [PlateRow(**row) for row in conn.execute(BY_CODE_SQL, {"codes": codes}).mappings()]


def resolve_code(conn: Connection, written: str) -> PlateRow:
    """The plate a written code names; InvalidInput (bad check, with suggestions) or NotFound."""
    code = parse_plate_code(written)
    if not code.valid:
        near = plates_by_code(conn, [c.text for c in single_substitutions(code)])
        hint = (
            f": did you mean {' or '.join(p.code for p in near[:5])}?"
            if near
            else " (no plate of the city is one character away from it)"
        )
        raise InvalidInput(f"{code.text}: check character does not match{hint}")
    found = plates_by_code(conn, [code.text])
    if not found:
        raise NotFound(f"no plate has the code {code.text}")
    return found[0]


def nearest_plates(
    conn: Connection, lon: float, lat: float, *, radius_m: float, limit: int = 1
) -> list[PlateRow]:
    """The plates nearest (lon, lat) within ``radius_m`` metres, nearest first, with distances."""
    rows = conn.execute(NEAREST_SQL, {"lon": lon, "lat": lat, "radius": radius_m,
                                      "k": max(NEAREST_CANDIDATES, limit), "limit": limit}).mappings()  # fmt: skip
    return [PlateRow(**{k: v for k, v in row.items() if k != "metres"}, distance_m=round(float(row["metres"]), 2))
            for row in rows]  # fmt: skip
