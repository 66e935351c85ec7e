"""An earthquake scenario: epicentre, magnitude and depth → intensity zones, exposure, shelters.

The zones come from an elliptical intensity attenuation relation (``parameters.Axis``: one
relation per axis, coefficients and source in ``data/attenuation.yaml``). Without a strike the
zones are circles of the mean axis (the circle of the ellipse's area, radius sqrt(Ra·Rb)); with
one they are the ellipses, long axis along the strike. Outlines are geodesic (pyproj ``Geod``).
Zone I covers the ground where I ≤ intensity < I+1 and is clipped to the city.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import shapely
from pyproj import Geod
from sqlalchemy import Engine

from spatial.emergency.parameters import DISTANCES, Parameters, Relation, load_parameters
from spatial.errors import InvalidInput
from spatial.params import parse_number

GEOD = Geod(ellps="WGS84")
MAGNITUDES = (3.0, 9.5)
DEPTHS_KM = (0.0, 700.0)
ROMAN = {5: "V", 6: "VI", 7: "VII", 8: "VIII", 9: "IX", 10: "X", 11: "XI", 12: "XII"}


@dataclass(frozen=True)
class Event:
    """The scenario's earthquake: epicentre (lon/lat, CRS84), magnitude, focal depth, strike."""

    lon: float
    lat: float
    magnitude: float
    depth_km: float
    strike: float | None = None  # degrees from north of the long axis; None: circular zones
    region: str | None = None  # the attenuation relation's region; None: the file's default
    distance: str | None = None  # "epicentral" or "hypocentral" R; None: the file's choice

    @classmethod
    def parse(cls, given: dict[str, Any]) -> Event:
        """From user inputs (text or numbers); InvalidInput naming the first bad one."""
        for name in ("lon", "lat", "magnitude", "depth_km"):
            if given.get(name) in (None, ""):
                raise InvalidInput(f"{name} is required")
        strike, region, distance = given.get("strike"), given.get("region"), given.get("distance")
        if region is not None and not isinstance(region, str):
            raise InvalidInput("region must be text")
        if distance not in (None, "", *DISTANCES):
            raise InvalidInput(f"distance: one of {', '.join(DISTANCES)}")
        return cls(
            lon=parse_number(given["lon"], name="lon", minimum=-180, maximum=180),
            lat=parse_number(given["lat"], name="lat", minimum=-90, maximum=90),
            magnitude=parse_number(given["magnitude"], name="magnitude", minimum=MAGNITUDES[0], maximum=MAGNITUDES[1]),
            depth_km=parse_number(given["depth_km"], name="depth_km", minimum=DEPTHS_KM[0], maximum=DEPTHS_KM[1]),
            strike=None if strike in (None, "") else parse_number(strike, name="strike", minimum=0, maximum=360) % 180,
            region=region or None, distance=distance or None,
        )  # fmt: skip


@dataclass(frozen=True)
class Attenuation:
    """An event under a relation: the intensity at a distance, the radius of an intensity."""

    event: Event
    relation: Relation
    distance: str  # "hypocentral" or "epicentral" (parameters.DISTANCES)

    def r_of(self, epicentral_km: float) -> float:
        """The relation's distance R for an epicentral distance Δ."""
        if self.distance == "hypocentral":
            return math.hypot(epicentral_km, self.event.depth_km)
        return epicentral_km

    def epicentral_of(self, r_km: float) -> float:
        """Δ for the relation's distance R; 0 when R is not reached at the surface."""
        if self.distance == "hypocentral":
            return math.sqrt(r_km * r_km - self.event.depth_km**2) if r_km > self.event.depth_km else 0.0
        return max(r_km, 0.0)

    def axis_intensity(self, epicentral_km: float, axis: str = "long") -> float:
        """The relation's intensity along ``axis`` ("long" or "short") at epicentral distance Δ."""
        relation = self.relation.long if axis == "long" else self.relation.short
        return relation.intensity(self.event.magnitude, self.r_of(epicentral_km))

    def radii_km(self, intensity: float) -> tuple[float, float]:
        """Epicentral radii (long, short) of the isoseismal of ``intensity`` (0: not reached)."""
        m = self.event.magnitude
        return (self.epicentral_of(self.relation.long.distance_km(m, intensity)),
                self.epicentral_of(self.relation.short.distance_km(m, intensity)))  # fmt: skip

    def radius_km(self, intensity: float, bearing: float | None = None) -> float:
        """Epicentral radius of the isoseismal of ``intensity`` towards ``bearing`` (degrees)."""
        long_km, short_km = self.radii_km(intensity)
        if long_km <= 0 or short_km <= 0:
            return 0.0
        if self.event.strike is None or bearing is None:
            return math.sqrt(long_km * short_km)  # the mean axis: the circle of the ellipse's area
        phi = math.radians(bearing - self.event.strike)
        return long_km * short_km / math.hypot(short_km * math.cos(phi), long_km * math.sin(phi))

    def intensity_at(self, epicentral_km: float, bearing: float | None = None) -> float:
        """The intensity at Δ towards ``bearing``: where the isoseismal passes (bisection)."""
        low, high = -10.0, 20.0
        for _ in range(80):
            middle = (low + high) / 2
            if self.radius_km(middle, bearing) > epicentral_km:
                low = middle
            else:
                high = middle
        return (low + high) / 2

    @property
    def epicentral_intensity(self) -> float:
        """I0: the highest intensity whose isoseismal encloses any ground."""
        return self.intensity_at(0.0)


def zone_outlines(attenuation: Attenuation, intensities: tuple[int, ...], vertices: int) -> dict[int, shapely.Polygon]:
    """Geodesic isoseismals (lon/lat polygons) of the intensities the event reaches."""
    event = attenuation.event
    bearings = np.linspace(0.0, 360.0, vertices, endpoint=False)
    outlines = {}
    for intensity in intensities:
        radii_m = np.array([attenuation.radius_km(intensity, b) for b in bearings]) * 1000.0
        if not (radii_m > 0).all():
            continue
        lons, lats, _ = GEOD.fwd(np.full(vertices, event.lon), np.full(vertices, event.lat), bearings, radii_m)
        outlines[intensity] = shapely.Polygon(np.column_stack([lons, lats]))
    return outlines


@dataclass
class Scenario:
    """What an earthquake scenario found: zones with exposure, shelter assignment, unassigned."""

    event: dict[str, Any]
    relation: dict[str, Any]
    zones: list[dict[str, Any]]  # GeoJSON features (ring polygons) with exposure, highest intensity first
    communities: list[dict[str, Any]] = field(default_factory=list)
    assignments: list[dict[str, Any]] = field(default_factory=list)
    shelters: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def totals(self) -> dict[str, Any]:
        """Buildings, residents, shelter demand, assigned and unassigned people."""
        props = [z["properties"] for z in self.zones]
        return {
            "buildings": sum(p["buildings"] for p in props),
            "floor_area_m2": round(sum(p["floor_area_m2"] for p in props), 1),
            "residents": round(sum(p["residents"] for p in props), 1),
            "shelter_demand": sum(c["demand"] for c in self.communities),
            "assigned": sum(c["assigned"] for c in self.communities),
            "unassigned": sum(c["unassigned"] for c in self.communities),
        }

    def as_json(self) -> dict[str, Any]:
        """The whole answer: a GeoJSON FeatureCollection of the zones with the rest as members."""
        return {"type": "FeatureCollection", "event": self.event, "relation": self.relation,
                "totals": self.totals(), "features": self.zones, "communities": self.communities,
                "assignments": self.assignments, "shelters": self.shelters, "notes": self.notes}  # fmt: skip


def earthquake_scenario(
    engine: Engine, event: Event, *, parameters: Parameters | None = None, max_walk_m: float | None = None
) -> Scenario:
    """Zones, exposure per zone and shelters assigned to communities for ``event``."""
    from spatial.emergency.exposure import city_reach, zone_exposure
    from spatial.emergency.shelters import assign_shelters

    params = parameters or load_parameters()
    walk = params.max_walk_m if max_walk_m is None else max_walk_m
    if not 0 < walk <= params.max_walk_limit_m:
        raise InvalidInput(f"max_walk_m must lie between 0 and {params.max_walk_limit_m:g}, not {walk:g}")
    attenuation = Attenuation(event, params.relation(event.region), event.distance or params.distance)
    outlines = zone_outlines(attenuation, params.intensities, params.vertices)
    with engine.connect() as conn:
        city_reach(conn, event, outlines)
        zones, demand = zone_exposure(conn, outlines, params)
        assignment = assign_shelters(conn, demand, params, max_walk_m=walk)
    return Scenario(
        event={**asdict(event), "region": attenuation.relation.region,
               "epicentral_intensity": round(attenuation.epicentral_intensity, 2)},
        relation=_relation_json(params, attenuation, walk),
        zones=zones, communities=assignment.communities, assignments=assignment.assignments,
        shelters=assignment.shelters, notes=assignment.notes,
    )  # fmt: skip


def _relation_json(params: Parameters, attenuation: Attenuation, walk: float) -> dict[str, Any]:
    relation = attenuation.relation
    return {
        "form": "I = a + b·M − c·ln(R + R0)", "source": params.source, "region": relation.title,
        "long": asdict(relation.long), "short": asdict(relation.short), "distance": attenuation.distance,
        "zones": "ellipse along the strike" if attenuation.event.strike is not None else "circle of the mean axis sqrt(Ra·Rb)",
        "persons_per_m2": params.persons_per_m2, "shelter_share": params.shelter_share,
        "shelter_min_intensity": params.shelter_min_intensity, "max_walk_m": walk,
    }  # fmt: skip


def roman(intensity: int) -> str:
    """VI for 6 (the Chinese seismic intensity scale's degrees are written in Roman numerals)."""
    return ROMAN.get(intensity, str(intensity))
