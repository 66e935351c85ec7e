"""OGC API Processes for the planners' 3D analyses: ``height-check`` (控高), ``sunlight`` (日照),
``line-of-sight`` and ``viewshed`` (pygeoapi processors over layers.analysis3d).

Inputs are those of the REST doors (/api/v1/3d, see layers.analysis3d). Layers named (buildings,
zones) go through THE read check as the caller (``api.ogc.calls``). ``save_as`` keeps the answer
as an overlay layer of the caller's department. Bad input is a domain error (api.ogc.errors).
"""

from __future__ import annotations

from typing import Any

from api.ogc.calls import CURRENT_CALL
from api.ogc.processes.geocode import LINKS, DatabaseProcessor
from api.workers import run_at
from layers.analysis3d import check_save, run_analysis, run_analysis_at, save_result
from layers.saved_results import save_arguments
from spatial.access.principal import Principal

ONE = {"minOccurs": 0, "maxOccurs": 1}
REQUIRED = {"minOccurs": 1, "maxOccurs": 1}
POINT3 = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 3}
TEXT = {"type": "string"}
NUMBER = {"type": "number"}
OBJECT = {"type": "object"}
BUILDINGS: dict[str, Any] = {
    "layer": {"title": "Buildings layer", "description": "id of a polygon layer with heights (default buildings)",
              "schema": TEXT, **ONE},
    "height_field": {"title": "Height field", "description": "its height in metres (default height_m; floors x 3 m "
                     "where empty)", "schema": TEXT, **ONE},
    "proposed": {"title": "Proposed buildings", "description": "GeoJSON Feature(s) or FeatureCollection of "
                 "footprints with properties.height_m", "schema": OBJECT, **ONE},
}  # fmt: skip
SAVE = {"title": "Save as layer", "description": "name (or {name, title, title_en, visibility}) of a new "
        "overlay layer of your department", "schema": {"oneOf": [TEXT, OBJECT]}, **ONE}  # fmt: skip
GEOJSON_OUTPUT = {"result": {"title": "Result", "description": "GeoJSON FeatureCollection",
                             "schema": {"type": "object", "contentMediaType": "application/geo+json"}}}  # fmt: skip
ZONE = {"type": "Polygon", "coordinates": [[[108.93, 34.25], [108.95, 34.25], [108.95, 34.27], [108.93, 34.27],
                                            [108.93, 34.25]]]}  # fmt: skip


def _metadata(identifier: str, en: str, zh: str, description: str, inputs: dict[str, Any],
              example: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    return {
        "version": "1.0.0", "id": identifier, "title": {"en": en, "zh": zh},
        "description": {"en": description, "zh": zh}, "jobControlOptions": ["sync-execute"],
        "keywords": ["3D analysis", "三维分析", "LoD1"], "links": LINKS,
        "inputs": {**inputs, **BUILDINGS, "save_as": SAVE}, "outputs": GEOJSON_OUTPUT, "example": {"inputs": example},
    }  # fmt: skip


HEIGHT_CHECK = _metadata(
    "height-check", "Height-limit check", "控高分析",
    "buildings (or proposed ones) above the strictest height limit of the zones they stand in, excess in metres",
    {"zones": {"title": "Zones", "description": "id of a polygon layer with a limit field, or a GeoJSON "
               "FeatureCollection", "schema": {"oneOf": [TEXT, OBJECT]}, **REQUIRED},
     "limit_field": {"title": "Limit field", "description": "the zones' limit in metres (default max_height_m)",
                     "schema": TEXT, **ONE}},
    {"zones": {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": ZONE,
                                                          "properties": {"max_height_m": 60}}]}},
)  # fmt: skip
SUNLIGHT = _metadata(
    "sunlight", "Sunlight hours", "日照分析",
    "sunlight hours at points on 大寒日 (8-16 h) or 冬至日 (9-15 h) true solar time, GB 50180 / GB/T 50947",
    {"points": {"title": "Points", "description": "[[lon, lat(, z)], ...] or [{lon, lat, z, facing, id}]",
                "schema": {"type": "array", "items": {"oneOf": [POINT3, OBJECT]}}, **REQUIRED},
     "day": {"title": "Day", "description": "dahan (大寒, default) or dongzhi (冬至)",
             "schema": {"type": "string", "enum": ["dahan", "dongzhi"]}, **ONE},
     "year": {"title": "Year", "description": "1900-2100 (default this year)", "schema": {"type": "integer"}, **ONE},
     "date": {"title": "Date", "description": "YYYY-MM-DD instead of the solar term's day", "schema": TEXT, **ONE},
     "step": {"title": "Step", "description": "minutes (default 1; must divide the window)", "schema": NUMBER, **ONE},
     "radius": {"title": "Radius", "description": "buildings within this many metres cast shadows (default 500)",
                "schema": NUMBER, **ONE},
     "rule": {"title": "Rule", "description": "total (累计, default) or continuous (longest spell)",
              "schema": {"type": "string", "enum": ["total", "continuous"]}, **ONE},
     "min_hours": {"title": "Required hours", "description": "default 2 (大寒) or 1 (冬至)", "schema": NUMBER, **ONE},
     "min_spell_minutes": {"title": "Shortest spell", "description": "spells shorter are not counted (default 0)",
                           "schema": NUMBER, **ONE}},
    {"points": [[108.94, 34.26], {"lon": 108.941, "lat": 34.261, "z": 0.9, "facing": 180}], "day": "dahan",
     "year": 2025, "step": 5},
)  # fmt: skip
LINE_OF_SIGHT = _metadata(
    "line-of-sight", "Line of sight", "通视分析", "whether b is visible from a over the buildings, and what blocks it",
    {"a": {"title": "From", "description": "[lon, lat, z] (z above ground, default 1.6)", "schema": POINT3, **REQUIRED},
     "b": {"title": "To", "description": "[lon, lat, z]", "schema": POINT3, **REQUIRED}},
    {"a": [108.94, 34.26, 1.6], "b": [108.945, 34.262, 1.6]},
)  # fmt: skip
VIEWSHED = _metadata(
    "viewshed", "Viewshed", "可视域分析", "cells around an observer visible over the buildings (two polygons)",
    {"observer": {"title": "Observer", "description": "[lon, lat]", "schema": POINT3, **REQUIRED},
     "observer_height": {"title": "Eye height", "description": "metres above ground (default 1.6)",
                         "schema": NUMBER, **ONE},
     "target_height": {"title": "Target height", "description": "metres above ground or roof (default 0)",
                       "schema": NUMBER, **ONE},
     "radius": {"title": "Radius", "description": "metres (default 300, at most 1000)", "schema": NUMBER, **ONE},
     "resolution": {"title": "Cell size", "description": "metres (default 10)", "schema": NUMBER, **ONE}},
    {"observer": [108.94, 34.26], "radius": 300, "resolution": 10},
)  # fmt: skip


class _Analysis3dProcessor(DatabaseProcessor):
    """Runs one 3D analysis for the calling principal; keeps it as a layer when asked."""

    operation = ""

    def execute(self, data: dict, outputs: dict | None = None) -> tuple[str, Any]:
        call = CURRENT_CALL.get()
        principal: Principal | None = call.principal if call is not None else None
        save = save_arguments(data.get("save_as")) if isinstance(data, dict) else None
        check_save(save, principal)
        if call is None:  # outside the OGC routes (no worker pool to hand)
            answer = run_analysis(self.engine(), self.operation, data, caller=principal)
        else:  # in a render worker: memory cap, time budget, cancelled if the client leaves
            answer = run_at(call.settings, self.engine(), run_analysis_at, self.operation, data, caller=principal)
        if save is not None:
            save_result(self.engine(), answer, principal=principal, door="ogc", **save)
            answer = {**answer, "layer_saved": save["name"]}
        return "application/json", answer


class HeightCheckProcessor(_Analysis3dProcessor):
    operation = "height-check"

    def __init__(self, processor_def: dict) -> None:
        super().__init__(processor_def, HEIGHT_CHECK)


class SunlightProcessor(_Analysis3dProcessor):
    operation = "sunlight"

    def __init__(self, processor_def: dict) -> None:
        super().__init__(processor_def, SUNLIGHT)


class LineOfSightProcessor(_Analysis3dProcessor):
    operation = "line-of-sight"

    def __init__(self, processor_def: dict) -> None:
        super().__init__(processor_def, LINE_OF_SIGHT)


class ViewshedProcessor(_Analysis3dProcessor):
    operation = "viewshed"

    def __init__(self, processor_def: dict) -> None:
        super().__init__(processor_def, VIEWSHED)
