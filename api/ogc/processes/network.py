"""OGC API Processes over the road network: ``route``, ``closest-facility``, ``service-area``,
``coverage`` and ``od-matrix`` (pygeoapi processors over layers.network_layers).

Inputs are those of the REST doors (/api/v1/network, see layers.network_layers). A facility
``layer`` goes through THE read check in ``api.ogc.routes`` before the process runs (a hidden
layer is a 404) and again here as the caller (``api.ogc.calls``). ``save_as`` (route,
service-area) keeps the result as an overlay layer of the caller's department. Bad input is a
domain error (api.ogc.errors) with the user's message.
"""

from __future__ import annotations

from typing import Any

from api.ogc.calls import CURRENT_CALL
from api.ogc.processes.geocode import LINKS, DatabaseProcessor
from api.workers import run_at
from layers.network_layers import (
    HEAVY,
    check_save,
    run_network,
    run_network_at,
    save_network_result,
)
from layers.saved_results import save_arguments
from spatial.access.principal import Principal
from spatial.network import services

ONE = {"minOccurs": 0, "maxOccurs": 1}
POINT = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
POINTS = {"type": "array", "items": POINT}
HOUR = {"title": "Hour", "description": "hour of the day (0-23): its speed factors apply",
        "schema": {"type": "integer", "minimum": 0, "maximum": 23}, **ONE}  # fmt: skip
FACILITY_INPUTS: dict[str, Any] = {
    "layer": {"title": "Facility layer", "description": "id of a point layer, e.g. emergency_facilities",
              "schema": {"type": "string"}, **ONE},
    "where": {"title": "Filter", "description": 'fields the facilities must have, e.g. {"status": "available"}',
              "schema": {"type": "object"}, **ONE},
    "facilities": {"title": "Facilities", "description": "instead of a layer: [{id, lon, lat}]",
                   "schema": {"type": "array", "items": {"type": "object"}}, **ONE},
}  # fmt: skip
SAVE = {"title": "Save as layer", "description": "name (or {name, title, title_en, visibility}) of a new "
        "overlay layer of your department", "schema": {"oneOf": [{"type": "string"}, {"type": "object"}]}, **ONE}  # fmt: skip
GEOJSON_OUTPUT = {"result": {"title": "Result", "description": "GeoJSON FeatureCollection",
                             "schema": {"type": "object", "contentMediaType": "application/geo+json"}}}  # fmt: skip


def _metadata(identifier: str, en: str, zh: str, description: str, inputs: dict[str, Any],
              example: dict[str, Any], outputs: dict[str, Any] = GEOJSON_OUTPUT) -> dict[str, Any]:  # fmt: skip
    return {
        "version": "1.0.0", "id": identifier, "title": {"en": en, "zh": zh},
        "description": {"en": description, "zh": zh}, "jobControlOptions": ["sync-execute"],
        "keywords": ["network analysis", "路网分析", "pgRouting"], "links": LINKS,
        "inputs": {**inputs, "hour": HOUR}, "outputs": outputs, "example": {"inputs": example},
    }  # fmt: skip


ROUTE = _metadata(
    "route", "Route from A to B", "最短路径", "the fastest path over the city's roads (seconds, metres, line)",
    {"a": {"title": "From", "description": "[lon, lat]", "schema": POINT, "minOccurs": 1, "maxOccurs": 1},
     "b": {"title": "To", "description": "[lon, lat]", "schema": POINT, "minOccurs": 1, "maxOccurs": 1},
     "save_as": SAVE},
    {"a": [108.94, 34.26], "b": [108.96, 34.27]},
)  # fmt: skip
CLOSEST = _metadata(
    "closest-facility", "Closest facilities", "最近设施", "the k facilities fastest to reach a point (or from it)",
    {"target": {"title": "Target", "description": "[lon, lat]", "schema": POINT, "minOccurs": 1, "maxOccurs": 1},
     **FACILITY_INPUTS,
     "k": {"title": "k", "description": f"how many (1..{services.MAX_K}, default 5)",
           "schema": {"type": "integer"}, **ONE},
     "max_minutes": {"title": "Time limit", "description": "minutes (0 < T <= 60)",
                     "schema": {"type": "number"}, **ONE},
     "direction": {"title": "Direction", "description": "to_target (default) or from_target",
                   "schema": {"type": "string", "enum": ["to_target", "from_target"]}, **ONE}},
    {"target": [108.94, 34.26], "layer": "emergency_facilities", "k": 3},
)  # fmt: skip
SERVICE_AREA = _metadata(
    "service-area", "Service area", "服务区（等时圈）", "isochrone polygons reached within each time",
    {"origin": {"title": "Origin", "description": "[lon, lat]", "schema": POINT, "minOccurs": 1, "maxOccurs": 1},
     "minutes": {"title": "Times", "description": "minutes per band, default [4, 8, 15]",
                 "schema": {"type": "array", "items": {"type": "number"}}, **ONE},
     "direction": {"title": "Direction", "description": "from_origin (default) or to_origin",
                   "schema": {"type": "string", "enum": ["from_origin", "to_origin"]}, **ONE},
     "save_as": SAVE},
    {"origin": [108.94, 34.26], "minutes": [4, 8, 15]},
)  # fmt: skip
COVERAGE = _metadata(
    "coverage", "Coverage of residents", "覆盖率分析", "share of residents within a time of any facility, per division",
    {**FACILITY_INPUTS,
     "minutes": {"title": "Time", "description": "minutes (0 < T <= 60, default 8)",
                 "schema": {"type": "number"}, **ONE},
     "level": {"title": "Level", "description": "district, street (default) or community",
               "schema": {"type": "string"}, **ONE},
     "source": {"title": "Residents", "description": "buildings (floors x footprint x density) or divisions "
                "(their population)", "schema": {"type": "string"}, **ONE},
     "density": {"title": "Density", "description": "residents per m2 of floor (default 1/35)",
                 "schema": {"type": "number"}, **ONE}},
    {"layer": "emergency_facilities", "where": {"kind": "fire_station"}, "minutes": 8},
)  # fmt: skip
OD_MATRIX = _metadata(
    "od-matrix", "Origin-destination matrix", "OD 矩阵", "seconds from every origin to every destination",
    {"origins": {"title": "Origins", "description": "[[lon, lat], ...]", "schema": POINTS, "minOccurs": 1, "maxOccurs": 1},
     "destinations": {"title": "Destinations", "description": "[[lon, lat], ...]", "schema": POINTS,
                      "minOccurs": 1, "maxOccurs": 1}},
    {"origins": [[108.94, 34.26]], "destinations": [[108.96, 34.27], [108.95, 34.25]]},
    {"result": {"title": "Matrix", "description": "seconds[origin][destination], null: unreachable",
                "schema": {"type": "object", "contentMediaType": "application/json"}}},
)  # fmt: skip


class _NetworkProcessor(DatabaseProcessor):
    """Runs one network operation for the calling principal; keeps it as a layer when asked."""

    operation = ""

    def execute(self, data: dict, outputs: dict | None = None) -> tuple[str, Any]:
        call = CURRENT_CALL.get()
        principal: Principal | None = call.principal if call is not None else None
        settings = call.settings if call is not None else None
        save = save_arguments(data.get("save_as")) if isinstance(data, dict) else None
        check_save(self.operation, save, principal)
        tolerance_m = settings.network_snap_tolerance_m if settings else services.DEFAULT_TOLERANCE_M
        max_od_cells = settings.network_max_od_cells if settings else services.MAX_OD_CELLS
        if settings is not None and self.operation in HEAVY:  # a render worker: memory cap, time budget, cancellable
            answer = run_at(settings, self.engine(), run_network_at, self.operation, data, caller=principal,
                            tolerance_m=tolerance_m, max_od_cells=max_od_cells)  # fmt: skip
        else:
            answer = run_network(self.engine(), self.operation, data, caller=principal, tolerance_m=tolerance_m,
                                 max_od_cells=max_od_cells)  # fmt: skip
        if save is not None:
            save_network_result(self.engine(), answer, principal=principal, door="ogc", **save)
            answer = {**answer, "layer_saved": save["name"]}
        return "application/json", answer


class RouteProcessor(_NetworkProcessor):
    operation = "route"

    def __init__(self, processor_def: dict) -> None:
        super().__init__(processor_def, ROUTE)


class ClosestFacilityProcessor(_NetworkProcessor):
    operation = "closest"

    def __init__(self, processor_def: dict) -> None:
        super().__init__(processor_def, CLOSEST)


class ServiceAreaProcessor(_NetworkProcessor):
    operation = "service-area"

    def __init__(self, processor_def: dict) -> None:
        super().__init__(processor_def, SERVICE_AREA)


class CoverageProcessor(_NetworkProcessor):
    operation = "coverage"

    def __init__(self, processor_def: dict) -> None:
        super().__init__(processor_def, COVERAGE)


class OdMatrixProcessor(_NetworkProcessor):
    operation = "od-matrix"

    def __init__(self, processor_def: dict) -> None:
        super().__init__(processor_def, OD_MATRIX)
