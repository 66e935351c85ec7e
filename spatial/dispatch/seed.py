"""Units for a city from its emergency facilities: fire stations → engines (and a ladder),
hospitals → ambulances, police stations (POIs) → patrol cars.

The owning departments (消防救援支队 ``fire``, 120急救中心 ``ems``, 公安局 ``police``) are added
when missing. Call signs are derived from the facility ids, so seeding again adds nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, text

from spatial.access.principal import Principal
from spatial.dispatch.units import NewUnit, add_unit
from spatial.errors import Conflict, Forbidden

DEPARTMENTS = {
    "fire": ("消防救援支队", "Fire and Rescue Brigade"),
    "ems": ("120急救中心", "Emergency Medical Centre (120)"),
    "police": ("公安局", "Public Security Bureau"),
}
# facility kind → [(unit type, call-sign prefix)], one unit per entry
FACILITY_UNITS = {
    "fire_station": [("engine", "E"), ("engine", "E2-"), ("ladder", "L")],
    "hospital": [("ambulance", "A"), ("ambulance", "A2-")],
}
DEPARTMENT_OF_TYPE = {"engine": "fire", "ladder": "fire", "ambulance": "ems", "police": "police"}
FACILITIES_SQL = text("SELECT id, kind, name_zh, ST_X(geom), ST_Y(geom) FROM thematic.emergency_facility "
                      "WHERE kind = ANY(:kinds) ORDER BY id")  # fmt: skip
POLICE_SQL = text("SELECT id, name_zh, ST_X(geom), ST_Y(geom) FROM basemap.poi WHERE category = 'police' ORDER BY id")


@dataclass(frozen=True)
class Station:
    """A place units are based at: an id for call signs, a name, lon/lat."""

    key: str
    name: str
    lon: float
    lat: float


def ensure_departments(conn: Connection, codes: Iterable[str] = DEPARTMENTS) -> None:
    """The dispatch departments, added when missing (names kept when present)."""
    for code in codes:
        name_zh, name_en = DEPARTMENTS[code]
        conn.execute(text("INSERT INTO catalog.department (code, name_zh, name_en) VALUES (:c, :zh, :en) "
                          "ON CONFLICT (code) DO NOTHING"), {"c": code, "zh": name_zh, "en": name_en})  # fmt: skip


def units_at_stations(conn: Connection, stations: Iterable[Station], types: list[tuple[str, str]], *,
                      principal: Principal) -> int:  # fmt: skip
    """One unit per (type, call-sign prefix) at each station; how many were new."""
    added = 0
    for station in stations:
        for unit_type, prefix in types:
            unit = NewUnit(f"{prefix}{station.key}", unit_type, DEPARTMENT_OF_TYPE[unit_type], station.lon,
                           station.lat, station=station.name[:100])  # fmt: skip
            try:
                with conn.begin_nested():
                    add_unit(conn, unit, principal=principal)
                added += 1
            except Conflict:
                continue  # seeded before
    return added


def seed_city_units(conn: Connection, *, principal: Principal) -> dict[str, int]:
    """Units at the city's fire stations, hospitals and police stations (admins only)."""
    if not principal.is_admin:
        raise Forbidden(f"{principal.label} may not seed units: admins only")
    ensure_departments(conn)
    counts: dict[str, int] = {}
    for kind, types in FACILITY_UNITS.items():
        rows = conn.execute(FACILITIES_SQL, {"kinds": [kind]}).all()
        stations = [Station(f"{row[0]:03d}", row[2], row[3], row[4]) for row in rows]
        counts[kind] = units_at_stations(conn, stations, types, principal=principal)
    police = [Station(f"{row[0]:04d}", row[1], row[2], row[3]) for row in conn.execute(POLICE_SQL)]
    counts["police"] = units_at_stations(conn, police, [("police", "P")], principal=principal)
    return counts
