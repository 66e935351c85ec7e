"""REST for the planners' 3D analyses under /api/v1/3d: height-check, sunlight, line-of-sight, viewshed.

- ``GET /api/v1/3d/height-check?zones=LAYER[&limit_field=max_height_m][&layer=buildings]``: buildings
  above the strictest height limit (控高) of the zones they stand in, with the excess in metres.
- ``GET /api/v1/3d/sunlight?points=lon,lat;lon,lat[&day=dahan|dongzhi][&year=][&step=1][&rule=total]``:
  sunlight hours (日照) in the GB 50180 / GB/T 50947 effective window, pass/fail per point.
- ``GET /api/v1/3d/line-of-sight?a=lon,lat,z&b=lon,lat,z``: visible or not, the blocking buildings.
- ``GET /api/v1/3d/viewshed?observer=lon,lat[&observer_height=1.6][&radius=300][&resolution=10]``.
- ``POST`` on each takes the same inputs as a JSON object (or OGC ``{"inputs": …}``), plus GeoJSON:
  ``proposed`` buildings (footprint + height_m), in-memory ``zones``, façade ``points`` with
  ``facing``; and ``save_as`` (a name or {name, title, title_en, visibility}) keeps the answer as
  an overlay layer of the caller's department (201, Location).

Thin: parsing, the read check, the analysis and saving live in ``layers.analysis3d``; the work
runs in the thread pool. Bad input and budgets over are a 400 with a message.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from starlette.requests import Request
from starlette.responses import Response

from api.auth import principal_of
from api.saved_answers import GEOJSON, analysis_answer, posted_inputs
from api.workers import run_at
from layers.analysis3d import OPERATIONS, check_save, run_analysis_at, save_result
from layers.saved_results import Caller, SaveAs

router = APIRouter(prefix="/api/v1/3d", tags=["3D analysis"])
MAX_BODY = 4 * 1024 * 1024
Text = Annotated[str | None, Query(max_length=500)]
PointsText = Annotated[str | None, Query(max_length=20_000, description="points 'lon,lat[,z];lon,lat[,z]' (CRS84)")]
PointText = Annotated[str | None, Query(max_length=100, description="a point 'lon,lat[,z]' (CRS84, z in metres)")]
Operation = Annotated[str, Path(description=f"one of {', '.join(OPERATIONS)}", max_length=20)]
ANSWER: dict[int | str, dict[str, Any]] = {200: {"content": {GEOJSON: {}}, "description": "a GeoJSON FeatureCollection"}}
POSTED: dict[int | str, dict[str, Any]] = {200: {"content": {GEOJSON: {}}, "description": "a GeoJSON FeatureCollection"},
          201: {"content": {GEOJSON: {}}, "description": "saved as a layer (save_as): Location names it"}}
BODY_DOC = {"requestBody": {"content": {"application/json": {"schema": {"type": "object", "description":
            "the analysis' inputs (see GET and layers.analysis3d), GeoJSON as objects, and save_as"}}}}}  # fmt: skip


@router.get("/height-check", response_class=Response, responses=ANSWER,
            summary="控高: buildings above the height limit of the zones they stand in")  # fmt: skip
async def height_check(request: Request, zones: Text = None, limit_field: Text = None, layer: Text = None,
                       height_field: Text = None) -> Response:  # fmt: skip
    return await _answer(request, "height-check", {"zones": zones, "limit_field": limit_field, "layer": layer,
                                                   "height_field": height_field})  # fmt: skip


@router.get("/sunlight", response_class=Response, responses=ANSWER,
            summary="日照: sunlight hours at points on 大寒日/冬至日 in true solar time, pass/fail")  # fmt: skip
async def sunlight(
    request: Request, points: PointsText = None, day: Text = None, year: Text = None, date: Text = None,
    step: Text = None, radius: Text = None, rule: Text = None, min_hours: Text = None,
    min_spell_minutes: Text = None, layer: Text = None, height_field: Text = None,
) -> Response:  # fmt: skip
    return await _answer(request, "sunlight", {
        "points": points, "day": day, "year": year, "date": date, "step": step, "radius": radius, "rule": rule,
        "min_hours": min_hours, "min_spell_minutes": min_spell_minutes, "layer": layer, "height_field": height_field})  # fmt: skip


@router.get("/line-of-sight", response_class=Response, responses=ANSWER,
            summary="通视: whether b is visible from a over the buildings, and what blocks it")  # fmt: skip
async def line_of_sight(request: Request, a: PointText = None, b: PointText = None, layer: Text = None,
                        height_field: Text = None) -> Response:  # fmt: skip
    return await _answer(request, "line-of-sight", {"a": a, "b": b, "layer": layer, "height_field": height_field})


@router.get("/viewshed", response_class=Response, responses=ANSWER,
            summary="可视域: the cells around an observer visible over the buildings")  # fmt: skip
async def viewshed(
    request: Request, observer: PointText = None, observer_height: Text = None, target_height: Text = None,
    radius: Text = None, resolution: Text = None, layer: Text = None, height_field: Text = None,
) -> Response:  # fmt: skip
    return await _answer(request, "viewshed", {
        "observer": observer, "observer_height": observer_height, "target_height": target_height,
        "radius": radius, "resolution": resolution, "layer": layer, "height_field": height_field})  # fmt: skip


@router.post("/{operation}", response_class=Response, responses=POSTED, summary="any 3D analysis from a JSON "
             "body; save_as keeps the answer as a layer (201)", openapi_extra=BODY_DOC)  # fmt: skip
async def run_posted(request: Request, operation: Operation) -> Response:
    given, save = await posted_inputs(request, operation, OPERATIONS, "3D analysis", MAX_BODY)
    return await _answer(request, operation, given, save)


async def _answer(request: Request, operation: str, inputs: dict[str, Any], save: SaveAs | None = None) -> Response:
    check_save(save, principal_of(request))  # before any work

    def run(caller: Caller) -> dict[str, Any]:  # in a render worker: memory cap, time budget, cancelled if the client leaves
        return run_at(request.app.state.settings, request.app.state.engine, run_analysis_at, operation,
                      {k: v for k, v in inputs.items() if v is not None}, caller=caller)  # fmt: skip

    return await analysis_answer(request, run, save_result, save)
