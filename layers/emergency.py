"""The earthquake scenario for every door (REST, OGC API process, notebooks): inputs, read check, save.

``earthquake(engine, inputs, principal=…)`` parses the inputs once (``scenario_inputs``), checks
that the caller may read the layers the scenario reads (buildings, divisions, emergency
facilities: hidden = NotFound, as everywhere) and runs ``spatial.emergency``. ``save_as`` keeps
the zones with their exposure as a new overlay layer of the caller's department through THE
write gate every upload takes (``layers.vector.load_vector_file``: publish check, quality gate,
history row, catalog entry).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any, Unpack

import geopandas as gpd
from sqlalchemy import Engine, text

from layers.saved_results import About, SaveAs, save_arguments, save_frame
from layers.vector import LoadReport
from spatial.access.policy import LayerRef, require_read
from spatial.access.principal import Principal
from spatial.db import shared_engine
from spatial.emergency import Event, Scenario, earthquake_scenario, load_parameters
from spatial.emergency.earthquake import DEPTHS_KM, MAGNITUDES
from spatial.errors import InvalidInput
from spatial.params import parse_number

INPUTS = ("lon", "lat", "magnitude", "depth_km", "strike", "region", "distance", "max_walk_m", "save_as")
SOURCES = ("building", "admin_division", "emergency_facility")
SOURCE_ROWS = text("SELECT * FROM catalog.layer WHERE storage_table = ANY(:tables) "
                   "AND storage_schema IN ('basemap', 'thematic')")  # fmt: skip


def parameters_json() -> dict[str, Any]:
    """The parameter file's content and the inputs' ranges (for people and clients)."""
    params = asdict(load_parameters())
    return {"parameters": params, "inputs": {
        "lon": "epicentre longitude (CRS84)", "lat": "epicentre latitude (CRS84)",
        "magnitude": f"{MAGNITUDES[0]}–{MAGNITUDES[1]} (Ms)", "depth_km": f"{DEPTHS_KM[0]:g}–{DEPTHS_KM[1]:g}",
        "strike": "optional, degrees from north: elliptical zones", "region": ", ".join(params["relations"]),
        "distance": "epicentral or hypocentral", "max_walk_m": f"up to {params['max_walk_limit_m']:g}",
        "save_as": "a layer name, or {name, title, title_en, visibility}"}}  # fmt: skip


def scenario_inputs(given: Mapping[str, Any]) -> tuple[Event, float | None, SaveAs | None]:
    """(event, max_walk_m, save_as) from a request's inputs; InvalidInput naming the first bad one."""
    unknown = [key for key in given if key not in INPUTS]
    if unknown:
        raise InvalidInput(f"unknown input {str(unknown[0])[:40]!r}; known: {', '.join(INPUTS)}")
    walk = given.get("max_walk_m")
    max_walk = None if walk in (None, "") else parse_number(walk, name="max_walk_m", minimum=1, maximum=1e9)
    return Event.parse(dict(given)), max_walk, save_arguments(given.get("save_as"))


def earthquake(engine: Engine, event: Event, *, principal: Principal | None, max_walk_m: float | None = None) -> Scenario:
    """The scenario of ``event`` as ``principal`` sees the city."""
    with engine.connect() as conn:
        rows = conn.execute(SOURCE_ROWS, {"tables": list(SOURCES)}).mappings().all()
    for row in rows:
        require_read(principal, LayerRef.from_row(dict(row)), str(row["id"]))
    return earthquake_scenario(engine, event, max_walk_m=max_walk_m)


def earthquake_at(url: str, event: Event, *, principal: Principal | None, max_walk_m: float | None = None) -> Scenario:
    """``earthquake`` against the database at ``url`` (for a render worker process, ``api.workers``)."""
    return earthquake(shared_engine(url, pool_size=2), event, principal=principal, max_walk_m=max_walk_m)


def save_zones_as_layer(engine: Engine, scenario: Scenario, *, principal: Principal | None, door: str = "cli",
                        **save: Unpack[SaveAs]) -> LoadReport:  # fmt: skip
    """Publish the scenario's zones (with exposure) as a new overlay layer (``save``: ``save_arguments``)."""
    event = scenario.event
    what = f"M{event['magnitude']:g} at ({event['lon']:g}, {event['lat']:g}), depth {event['depth_km']:g} km"
    about = About(
        title_zh=f"地震烈度分区 {what}", title_en=f"Earthquake intensity zones, {what}",
        description=f"Intensity zones of an earthquake scenario, {what}; relation: {scenario.relation['source']} "
                    f"({scenario.relation['region']}, R {scenario.relation['distance']}).",
        keywords=["earthquake scenario", "地震烈度", "emergency", "应急"],
        nothing="the scenario has no intensity zone in the city: there is nothing to save",
    )  # fmt: skip
    frame = (gpd.GeoDataFrame.from_features(scenario.zones, crs="EPSG:4326") if scenario.zones
             else gpd.GeoDataFrame(geometry=[], crs="EPSG:4326"))  # fmt: skip
    return save_frame(engine, frame, about, save, principal=principal, door=door)
