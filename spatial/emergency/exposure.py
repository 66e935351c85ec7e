"""Buildings, floor area and residents per intensity zone, and the residents who may need shelter.

One SQL statement over the base map: a building is in the zone (the city-clipped ring between two
isoseismals, as sent) covering its representative point (``ST_PointOnSurface``), counted once; its floor area is
floors × geodesic footprint. Residents (``data/attenuation.yaml``, ``exposure``): where the
building's community has a population, that population is shared among the community's
residential buildings by floor area; otherwise floor area × persons per m². Non-residential
buildings have no residents. The city is the union of the top-level divisions.
"""

from __future__ import annotations

from typing import Any

import shapely
from sqlalchemy import Connection, text

from spatial.emergency.earthquake import Event, roman
from spatial.emergency.parameters import Parameters
from spatial.errors import InvalidInput

CITY = "SELECT ST_Union(geom) AS geom FROM basemap.admin_division WHERE parent_code IS NULL"

REACH_SQL = text(f"""
WITH city AS ({CITY}), epicentre AS (SELECT ST_SetSRID(ST_Point(:lon, :lat), 4326) AS geom)
SELECT city.geom IS NULL AS no_city,
       COALESCE(ST_Covers(city.geom, e.geom), false) AS inside,
       COALESCE(ST_Intersects(city.geom, ST_GeomFromText(:reach, 4326)), false) AS reached,
       ST_Distance(city.geom::geography, e.geom::geography) AS distance_m
FROM city, epicentre e
""")

EXPOSURE_SQL = text(f"""
WITH outline AS (
    SELECT o.intensity, ST_GeomFromText(o.wkt, 4326) AS geom
    FROM unnest(CAST(:intensities AS int[]), CAST(:wkts AS text[])) AS o(intensity, wkt)
), city AS ({CITY}
), disk AS MATERIALIZED (
    SELECT o.intensity, COALESCE(ST_Intersection(o.geom, city.geom), o.geom) AS geom FROM outline o, city
), zone AS MATERIALIZED (
    -- on the 1e-7° grid of the GeoJSON answer, valid, polygons only: what is sent is what is counted
    SELECT d.intensity, d.geom AS disk, ST_CollectionExtract(ST_MakeValid(ST_ReducePrecision(ST_Difference(
               d.geom, COALESCE(
                   (SELECT n.geom FROM disk n WHERE n.intensity > d.intensity ORDER BY n.intensity LIMIT 1),
                   ST_GeomFromText('POLYGON EMPTY', 4326))), 1e-7)), 3) AS ring
    FROM disk d
), reach AS (
    SELECT disk FROM zone ORDER BY intensity LIMIT 1
), building AS MATERIALIZED (
    -- the buildings near the zones and every building of their communities: geodesic floor area once
    SELECT b.id, b.use, b.community_code, b.geom && reach.disk AS near,
           CASE WHEN b.geom && reach.disk THEN ST_PointOnSurface(b.geom) END AS spot,
           b.floors * ST_Area(b.geom::geography) AS floor_area
    FROM basemap.building b, reach
    WHERE b.geom && reach.disk OR b.community_code IN (
        SELECT DISTINCT n.community_code FROM basemap.building n, reach r WHERE n.geom && r.disk)
), placed AS MATERIALIZED (
    SELECT bl.*, (SELECT max(z.intensity) FROM zone z WHERE ST_Covers(z.ring, bl.spot)) AS intensity
    FROM building bl WHERE bl.near
), community_area AS (
    SELECT community_code, sum(floor_area) AS floor_area FROM building
    WHERE use = ANY(CAST(:residential AS text[]))
      AND community_code IN (SELECT community_code FROM placed WHERE intensity IS NOT NULL)
    GROUP BY community_code
), resident AS MATERIALIZED (
    SELECT p.intensity, p.spot, p.floor_area,
           COALESCE(p.community_code, (
               SELECT d.code FROM basemap.admin_division d WHERE ST_Covers(d.geom, p.spot)
               ORDER BY (d.level = 'community') DESC, (d.level = 'street') DESC LIMIT 1)) AS community,
           CASE WHEN NOT p.use = ANY(CAST(:residential AS text[])) THEN 0.0
                WHEN d.population IS NOT NULL AND ca.floor_area > 0 THEN d.population * p.floor_area / ca.floor_area
                ELSE p.floor_area * :persons_per_m2 END AS residents
    FROM placed p
    LEFT JOIN community_area ca ON ca.community_code = p.community_code
    LEFT JOIN basemap.admin_division d ON d.code = p.community_code
    WHERE p.intensity IS NOT NULL
), exposure AS (
    SELECT intensity, count(*) AS buildings, sum(floor_area) AS floor_area, sum(residents) AS residents
    FROM resident GROUP BY intensity
), need AS (
    SELECT community, sum(residents) AS residents,
           sum(residents * ST_X(spot)) / sum(residents) AS lon, sum(residents * ST_Y(spot)) / sum(residents) AS lat
    FROM resident WHERE intensity >= :min_intensity AND residents > 0 AND community IS NOT NULL
    GROUP BY community
)
SELECT json_build_object(
    'zones', (SELECT COALESCE(json_agg(json_build_object(
                  'intensity', z.intensity, 'geometry', ST_AsGeoJSON(z.ring, 7)::json,
                  'empty', ST_IsEmpty(z.ring), 'area_km2', ST_Area(z.ring::geography) / 1e6,
                  'buildings', COALESCE(e.buildings, 0), 'floor_area_m2', COALESCE(e.floor_area, 0),
                  'residents', COALESCE(e.residents, 0)) ORDER BY z.intensity DESC), '[]')
              FROM zone z LEFT JOIN exposure e ON e.intensity = z.intensity),
    'need', (SELECT COALESCE(json_agg(json_build_object(
                  'code', n.community, 'name', d.name_zh, 'name_en', d.name_en, 'residents', n.residents,
                  'lon', n.lon, 'lat', n.lat) ORDER BY n.community), '[]')
             FROM need n LEFT JOIN basemap.admin_division d ON d.code = n.community))
""")


def city_reach(conn: Connection, event: Event, outlines: dict[int, shapely.Polygon]) -> None:
    """InvalidInput when the epicentre lies outside the city and no zone reaches it (most often
    lon/lat swapped or in another CRS); an epicentre in the city may have no zone at all."""
    reach = outlines[min(outlines)].wkt if outlines else "POLYGON EMPTY"
    row = conn.execute(REACH_SQL, {"lon": event.lon, "lat": event.lat, "reach": reach}).mappings().one()
    if row["no_city"] or row["inside"] or row["reached"]:
        return
    lowest = roman(min(outlines)) if outlines else "VI"
    raise InvalidInput(
        f"the epicentre ({event.lon:g}, {event.lat:g}) is {row['distance_m'] / 1000:,.1f} km from the city and "
        f"no zone of intensity {lowest} or more reaches it: check lon/lat (swapped? another CRS?)"
    )


def zone_exposure(
    conn: Connection, outlines: dict[int, shapely.Polygon], params: Parameters
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(zones as GeoJSON features with exposure, highest first; residents in zones ≥ the shelter
    intensity per community with their residents-weighted centre)."""
    if not outlines:
        return [], []
    found = conn.execute(EXPOSURE_SQL, {
        "intensities": list(outlines), "wkts": [o.wkt for o in outlines.values()],
        "residential": list(params.residential_uses), "persons_per_m2": params.persons_per_m2,
        "min_intensity": params.shelter_min_intensity,
    }).scalar_one()  # fmt: skip
    zones = [_feature(zone) for zone in found["zones"] if not zone["empty"]]
    return zones, found["need"]


def _feature(zone: dict[str, Any]) -> dict[str, Any]:
    properties = {
        "intensity": zone["intensity"], "degree": roman(zone["intensity"]),
        "area_km2": round(zone["area_km2"], 4), "buildings": zone["buildings"],
        "floor_area_m2": round(zone["floor_area_m2"], 1), "residents": round(zone["residents"], 1),
    }  # fmt: skip
    return {"type": "Feature", "id": zone["intensity"], "geometry": zone["geometry"], "properties": properties}
