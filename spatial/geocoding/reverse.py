"""Reverse geocoding: the door plates and POIs nearest a point, with the point's division codes
and unit-grid cell (单元网格) code, plus code and nearest location plate (路灯贴牌).

Nearest neighbours come from the GiST indexes (``<->``), distances are geodesic metres.
``Location`` describes the point itself: the community/street/district polygons it falls in,
the current grid's cell containing it (None while no grid has been built), its plus code and
the nearest plate within the radius (code, road, pole, side, distance; None when none is).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, text

from spatial.db import replica_read
from spatial.divisions import check_lon_lat, locate
from spatial.errors import InvalidInput
from spatial.geocoding.result import Match, in_crs, output_crs
from spatial.plates.lookup import nearest_plates
from spatial.plates.plus_codes import encode
from spatial.webdatum import to_wgs84

DEFAULT_RADIUS_M = 250.0
MAX_RADIUS_M = 5_000.0
NEAREST_CANDIDATES = 10

NEAREST_SQL = text(
    """
    WITH here AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g)
    SELECT * FROM (
        SELECT 'address' AS kind, a.id, a.full_zh, a.full_en, a.road_zh, a.road_en,
               a.house_number, a.building, a.unit, a.postcode, a.source, a.district_code,
               a.street_code, a.community_code, ST_X(a.geom) AS lon, ST_Y(a.geom) AS lat,
               ST_Distance(a.geom::geography, here.g::geography) AS metres
        FROM here, LATERAL (
            SELECT * FROM basemap.address ORDER BY geom <-> here.g LIMIT :k
        ) a
        UNION ALL
        SELECT 'poi', p.id, p.name_zh, p.name_en, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               NULL, NULL, NULL, ST_X(p.geom), ST_Y(p.geom),
               ST_Distance(p.geom::geography, here.g::geography)
        FROM here, LATERAL (
            SELECT * FROM basemap.poi ORDER BY geom <-> here.g LIMIT :k
        ) p
    ) near
    WHERE metres <= :radius
    ORDER BY metres
    """
)
CELL_SQL = text(
    """
    SELECT u.code FROM grid.unit_cell u JOIN grid.grid_version v ON v.id = u.version_id
    WHERE v.is_current AND ST_Intersects(u.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
    ORDER BY u.code LIMIT 1
    """
)


@dataclass(frozen=True)
class Location:
    """Where the asked point itself lies: division codes and grid cell (None where unknown)."""

    lon: float
    lat: float
    district_code: str | None
    subdistrict_code: str | None
    community_code: str | None
    cell_code: str | None
    plus_code: str | None = None
    nearest_plate: dict[str, Any] | None = None


def reverse(
    conn_or_engine: Connection | Engine,
    lon: float,
    lat: float,
    *,
    limit: int = 1,
    radius_m: float = DEFAULT_RADIUS_M,
    crs: str | None = None,
) -> tuple[Location, list[Match]]:
    """The point's location and the nearest plates/POIs within ``radius_m``, nearest first.

    ``crs`` names both the input point's CRS and the output's (CRS84, EPSG:4490, gcj02, bd09).
    """
    target = output_crs(crs)
    asked = (lon, lat)
    lon, lat = storage_point(lon, lat, target)
    if not 0 < radius_m <= MAX_RADIUS_M:
        raise InvalidInput(f"radius must be between 0 and {MAX_RADIUS_M:g} metres, not {radius_m:g}")
    limit = max(1, min(int(limit), 50))
    if isinstance(conn_or_engine, Engine):
        with replica_read(conn_or_engine) as conn:
            conn.execution_options(isolation_level="READ COMMITTED")  # one transaction: SET LOCAL
            location, matches = _reverse(conn, lon, lat, limit, radius_m)
            conn.rollback()
    else:
        location, matches = _reverse(conn_or_engine, lon, lat, limit, radius_m)
    plate = location.nearest_plate
    if plate is not None:  # its point in the output CRS, like the matches'
        moved = in_crs(plate_match_of(plate), target)
        plate = {**plate, "lon": moved.lon, "lat": moved.lat}
    location = replace(location, lon=float(asked[0]), lat=float(asked[1]), nearest_plate=plate)
    return location, [in_crs(m, target) for m in matches]


def plate_match_of(plate: dict[str, Any]) -> Match:
    """A stored plate's dict as a Match (to convert its point)."""
    return Match(level="plate", confidence=1.0, lon=plate["lon"], lat=plate["lat"], label=plate["code"])


def storage_point(lon: float, lat: float, crs: str) -> tuple[float, float]:
    """The asked point in storage lon/lat, after range checks."""
    try:
        lon, lat = float(lon), float(lat)
    except (TypeError, ValueError):
        raise InvalidInput("lon and lat must be numbers") from None
    if lon != lon or lat != lat:  # NaN
        raise InvalidInput("lon and lat must be numbers, not NaN")
    check_lon_lat(lon, lat)
    if crs in ("gcj02", "bd09"):
        wgs_lon, wgs_lat = to_wgs84(lon, lat, crs)
        return float(wgs_lon), float(wgs_lat)
    return lon, lat


def _reverse(
    conn: Connection, lon: float, lat: float, limit: int, radius_m: float
) -> tuple[Location, list[Match]]:
    """Locate the point, then fetch and convert its nearest neighbours."""
    placement = locate(conn, [(lon, lat)])[0]
    cell = conn.execute(CELL_SQL, {"lon": lon, "lat": lat}).scalar()
    plates = nearest_plates(conn, lon, lat, radius_m=radius_m)
    location = Location(lon, lat, placement.district_code, placement.street_code,
                        placement.community_code, cell, encode(lon, lat),
                        plates[0].as_dict() if plates else None)  # fmt: skip
    rows = conn.execute(
        NEAREST_SQL, {"lon": lon, "lat": lat, "k": NEAREST_CANDIDATES, "radius": radius_m}
    ).mappings()
    matches = [neighbour_match(row, location, radius_m) for row in rows]
    return location, matches[:limit]


def neighbour_match(row: RowMapping, location: Location, radius_m: float) -> Match:
    """A Match for one neighbour; confidence falls with distance."""
    is_address = row["kind"] == "address"
    level = "poi"
    if is_address:
        level = "unit" if row["unit"] else "building" if row["building"] else "door_plate"
    match = Match(
        level=level,
        confidence=round(max(0.0, 1.0 - float(row["metres"]) / radius_m) * 0.5 + 0.5, 3),
        lon=float(row["lon"]),
        lat=float(row["lat"]),
        label=row["full_zh"] or row["full_en"],
        label_en=row["full_en"] if row["full_zh"] else None,
        address_id=int(row["id"]) if is_address else None,
        poi_id=None if is_address else int(row["id"]),
        road=row["road_zh"] or row["road_en"],
        house_number=row["house_number"],
        building=row["building"],
        unit=row["unit"],
        postcode=row["postcode"],
        source=row["source"],
        distance_m=round(float(row["metres"]), 1),
        cell_code=location.cell_code,
    )
    codes = (row["district_code"], row["street_code"], row["community_code"])
    if not any(codes):
        codes = (location.district_code, location.subdistrict_code, location.community_code)
    return replace(match, district_code=codes[0], subdistrict_code=codes[1], community_code=codes[2])
