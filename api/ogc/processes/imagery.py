"""OGC API Processes ``zonal-statistics`` and ``imagery-change``: pygeoapi processors over layers.imagery.

Inputs name the imagery ``layer`` and the polygon ``collection``: ``api.ogc.routes`` puts both
through THE read check before the process runs (a hidden layer is a 404, as everywhere), and
the processor checks again as the caller (from ``api.ogc.calls``). ``save_as`` keeps the
result as a new overlay layer of the caller's department. Bad input is a domain error (api.ogc.errors)
with the user's message (pygeoapi answers 400).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from api.ogc.calls import CURRENT_CALL
from api.ogc.processes.geocode import LINKS, DatabaseProcessor
from api.workers import run_at
from layers.imagery.arguments import change_arguments, statistics_arguments
from layers.imagery.change import change_statistics
from layers.imagery.overlay import save_as_layer
from layers.imagery.zonal import statistics_at, zonal_statistics
from layers.imagery.zonal_result import ZonalResult
from layers.saved_results import SaveAs, check_save, save_arguments
from spatial.access.principal import Principal
from spatial.errors import InvalidInput

TEXT = {"type": "string"}
ONE = {"minOccurs": 0, "maxOccurs": 1}
COMMON_INPUTS: dict[str, Any] = {
    "layer": {"title": "Imagery layer", "description": "id of an imagery layer, e.g. demo_imagery",
              "schema": TEXT, "minOccurs": 1, "maxOccurs": 1},
    "collection": {"title": "Polygon layer", "description": "id of a polygon layer, e.g. unit_grid",
                   "schema": TEXT, "minOccurs": 1, "maxOccurs": 1},
    "band": {"title": "Band", "description": "band number (or give an expression)",
             "schema": {"type": "integer"}, **ONE},
    "expression": {"title": "Expression", "description": "band maths, e.g. (b4-b3)/(b4+b3)",
                   "schema": TEXT, **ONE},
    "percentiles": {"title": "Percentiles", "description": "e.g. [10, 50, 90]",
                    "schema": {"type": "array", "items": {"type": "number"}}, **ONE},
    "all_touched": {"title": "All touched", "description": "count every pixel a polygon touches "
                    "(default: pixels whose centre is inside)", "schema": {"type": "boolean"}, **ONE},
    "properties": {"title": "Properties", "description": "polygon attributes to copy, e.g. [\"code\"]",
                   "schema": {"type": "array", "items": TEXT}, **ONE},
    "bbox": {"title": "Bounding box", "description": "only polygons in [minlon, minlat, maxlon, maxlat]",
             "schema": {"type": "array", "items": {"type": "number"}}, **ONE},
    "f": {"title": "Format", "description": "json (default) or geojson (with the polygons)",
          "schema": TEXT, **ONE},
    "save_as": {"title": "Save as layer", "description": "name (or {name, title, title_en, "
                "visibility}) of a new overlay layer of your department", "schema": {}, **ONE},
}  # fmt: skip
OUTPUTS = {
    "statistics": {
        "title": "Statistics per polygon",
        "description": "count, nodata, mean, min, max, std and percentiles per polygon",
        "schema": {"type": "object", "contentMediaType": "application/json"},
    }
}

ZONAL_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "zonal-statistics",
    "title": {"en": "Zonal statistics of imagery", "zh": "影像分区统计"},
    "description": {
        "en": "Statistics of a band or band expression (e.g. NDVI) over each polygon of a layer",
        "zh": "按面图层（如单元网格）统计波段或波段运算（如 NDVI）的计数、均值、极值、标准差与分位数",
    },
    "jobControlOptions": ["sync-execute"],
    "keywords": ["imagery", "zonal statistics", "NDVI", "影像", "分区统计"],
    "links": LINKS,
    "inputs": {
        **COMMON_INPUTS,
        "datetime": {"title": "Datetime", "description": "which scenes: an instant, a date or "
                     "an interval (../2024-06-30)", "schema": TEXT, **ONE},
        "scene": {"title": "Scene", "description": "one scene by id", "schema": TEXT, **ONE},
    },  # fmt: skip
    "outputs": OUTPUTS,
    "example": {"inputs": {"layer": "demo_imagery", "collection": "unit_grid",
                           "expression": "(b4-b3)/(b4+b3)", "percentiles": [50]}},  # fmt: skip
}

CHANGE_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "imagery-change",
    "title": {"en": "Change between two scenes", "zh": "两期影像变化统计"},
    "description": {
        "en": "Per polygon statistics of (after − before) of a band or expression, with both means",
        "zh": "按面图层统计两期影像（后期 − 前期）差值的统计量及前后期均值",
    },
    "jobControlOptions": ["sync-execute"],
    "keywords": ["imagery", "change detection", "变化检测"],
    "links": LINKS,
    "inputs": {
        **COMMON_INPUTS,
        "before": {"title": "Before", "description": "scene id, or a datetime (its latest scene)",
                   "schema": TEXT, "minOccurs": 1, "maxOccurs": 1},
        "after": {"title": "After", "description": "scene id, or a datetime (its latest scene)",
                  "schema": TEXT, "minOccurs": 1, "maxOccurs": 1},
    },  # fmt: skip
    "outputs": OUTPUTS,
    "example": {"inputs": {"layer": "demo_imagery", "collection": "unit_grid", "band": 4,
                           "before": "2024-05-01", "after": "2024-09-01"}},  # fmt: skip
}


class _ImageryProcessor(DatabaseProcessor):
    """Runs a statistic for the calling principal; keeps it as a layer when asked."""

    compute: Any = None
    arguments: Any = None

    def execute(self, data: dict, outputs: dict | None = None) -> tuple[str, Any]:
        principal = _caller()
        given = {**data, "zones": data.get("collection")}
        kwargs = type(self).arguments(given)
        save = save_arguments(data.get("save_as"))
        check_save(save, principal)  # refused before any layer is looked at
        result = _in_worker(self.engine(), type(self).compute, _text(data.get("layer"), "layer"),
                            principal=principal, **kwargs)  # fmt: skip
        if save is not None:
            save_as_layer(self.engine(), result, principal=principal, door="ogc", **save)
        return "application/json", _output(result, data.get("f"), save)


class ZonalStatisticsProcessor(_ImageryProcessor):
    """Statistics of a band or expression over each polygon of a layer."""

    compute = staticmethod(zonal_statistics)
    arguments = staticmethod(statistics_arguments)

    def __init__(self, processor_def: dict) -> None:
        super().__init__(processor_def, ZONAL_METADATA)


class ImageryChangeProcessor(_ImageryProcessor):
    """Statistics of the change between two scenes over each polygon of a layer."""

    compute = staticmethod(change_statistics)
    arguments = staticmethod(change_arguments)

    def __init__(self, processor_def: dict) -> None:
        super().__init__(processor_def, CHANGE_METADATA)


def _in_worker(engine: Engine, compute: Any, layer: str, **kwargs: Any) -> ZonalResult:
    """The statistic in a render worker (``api.workers``): memory cap, ONEMAP_PROCESS_TIMEOUT_S,
    cancelled when the client leaves; in this process only outside the OGC routes (no call)."""
    call = CURRENT_CALL.get()
    if call is None:
        return compute(engine, layer, **kwargs)
    return run_at(call.settings, engine, statistics_at, compute, layer, **kwargs)


def _caller() -> Principal | None:
    call = CURRENT_CALL.get()
    return call.principal if call is not None else None


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"input {name} is required (a layer id)")
    return value


def _output(result: ZonalResult, fmt: Any, save: SaveAs | None) -> dict[str, Any]:
    body = result.feature_collection() if fmt == "geojson" else {**result.describe(), "results": result.records()}
    if save is not None:
        body["layer_saved"] = save["name"]
    return body
