"""OGC API Process ``earthquake-scenario``: pygeoapi processor over layers.emergency.

Same inputs and answer as ``POST /api/v1/emergency/earthquake``: epicentre, magnitude and depth →
intensity zones with buildings and residents, shelters assigned to communities under their
capacities (min-cost flow), the unassigned remainder. The scenario runs in a render worker
(``api.workers``) as the caller (from ``api.ogc.calls``); ``save_as`` keeps the zones as a new
overlay layer of the caller's department. Bad input is a domain error (pygeoapi answers 400).
"""

from __future__ import annotations

from typing import Any

from api.ogc.calls import CURRENT_CALL
from api.ogc.processes.geocode import LINKS, DatabaseProcessor
from api.workers import run_at
from layers.emergency import earthquake, earthquake_at, save_zones_as_layer, scenario_inputs
from layers.saved_results import check_save
from spatial.emergency import Scenario

NUMBER = {"type": "number"}
ONE = {"minOccurs": 0, "maxOccurs": 1}
REQUIRED = {"minOccurs": 1, "maxOccurs": 1}

EARTHQUAKE_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "earthquake-scenario",
    "title": {"en": "Earthquake scenario", "zh": "地震情景推演"},
    "description": {
        "en": "Epicentre, magnitude and depth → intensity zones (attenuation relation of 汪素云 et al. 2000), "
              "buildings and residents per zone, shelters assigned to communities under their capacities",
        "zh": "震中、震级、震源深度 → 烈度分区（汪素云等 2000 衰减关系）、各区建筑与人口、"
              "按容量把社区分配到应急避难场所（最小费用流），报告未能安置的人数",
    },
    "jobControlOptions": ["sync-execute"],
    "keywords": ["earthquake", "seismic intensity", "shelter", "地震", "烈度", "应急避难场所"],
    "links": LINKS,
    "inputs": {
        "lon": {"title": "Longitude", "description": "epicentre, degrees (CRS84)", "schema": NUMBER, **REQUIRED},
        "lat": {"title": "Latitude", "description": "epicentre, degrees (CRS84)", "schema": NUMBER, **REQUIRED},
        "magnitude": {"title": "Magnitude", "description": "surface-wave magnitude Ms, 3.0–9.5",
                      "schema": {"type": "number", "minimum": 3.0, "maximum": 9.5}, **REQUIRED},
        "depth_km": {"title": "Focal depth", "description": "km, 0–700",
                     "schema": {"type": "number", "minimum": 0, "maximum": 700}, **REQUIRED},
        "strike": {"title": "Strike", "description": "long axis, degrees from north (elliptical zones)",
                   "schema": NUMBER, **ONE},
        "region": {"title": "Region", "description": "attenuation relation: east (default) or west",
                   "schema": {"type": "string", "enum": ["east", "west"]}, **ONE},
        "distance": {"title": "Distance", "description": "R of the relation: epicentral (default) or hypocentral",
                     "schema": {"type": "string", "enum": ["epicentral", "hypocentral"]}, **ONE},
        "max_walk_m": {"title": "Walking limit", "description": "farthest shelter for a community, metres",
                       "schema": NUMBER, **ONE},
        "save_as": {"title": "Save as layer", "description": "name (or {name, title, title_en, visibility}) "
                    "of a new overlay layer of your department", "schema": {}, **ONE},
    },  # fmt: skip
    "outputs": {
        "scenario": {
            "title": "Scenario",
            "description": "GeoJSON FeatureCollection of the zones with exposure; communities, assignments, "
                           "shelters, totals as members",
            "schema": {"type": "object", "contentMediaType": "application/geo+json"},
        }
    },
    "example": {"inputs": {"lon": 108.94, "lat": 34.26, "magnitude": 6.0, "depth_km": 10}},
}


class EarthquakeProcessor(DatabaseProcessor):
    """An earthquake scenario for the calling principal; keeps the zones as a layer when asked."""

    def __init__(self, processor_def: dict) -> None:
        super().__init__(processor_def, EARTHQUAKE_METADATA)

    def execute(self, data: dict, outputs: dict | None = None) -> tuple[str, Any]:
        call = CURRENT_CALL.get()
        principal = call.principal if call is not None else None
        event, max_walk, save = scenario_inputs(data)
        check_save(save, principal)  # refused before anything is computed
        engine = self.engine()
        if call is None:  # outside the OGC routes (no worker pool to hand)
            scenario: Scenario = earthquake(engine, event, principal=principal, max_walk_m=max_walk)
        else:
            scenario = run_at(call.settings, engine, earthquake_at, event, principal=principal, max_walk_m=max_walk)
        answer = scenario.as_json()
        if save is not None:
            report = save_zones_as_layer(engine, scenario, principal=principal, door="ogc", **save)
            answer["summary"] = report.summary()
        return "application/json", answer
