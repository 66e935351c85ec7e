"""REST for network analysis under /api/v1/network: route, closest, service-area, coverage, od-matrix.

- ``GET /api/v1/network/route?a=lon,lat&b=lon,lat[&hour=]``: the fastest path (GeoJSON LineString,
  seconds, metres, snap distances).
- ``GET /api/v1/network/closest?target=lon,lat&layer=ID[&where=field:value][&k=5][&max_minutes=]
  [&direction=to_target|from_target]``: the k facilities fastest to reach the target.
- ``GET /api/v1/network/service-area?origin=lon,lat[&minutes=4,8,15][&direction=]``: polygons per band
  and the reached node ids.
- ``GET /api/v1/network/coverage?layer=ID&minutes=8[&level=street][&source=buildings]``: share of
  residents within the time of any facility, per division.
- ``POST`` on each (and ``/od-matrix``) takes the same inputs as a JSON object, plus lists:
  ``facilities`` [{id, lon, lat}], ``origins``/``destinations`` [[lon, lat], …], and ``save_as``
  (route, service-area: a name or {name, title, title_en, visibility}) keeps the result as an
  overlay layer of the caller's department (201, Location).

Thin: parsing, reading facilities (THE read check), the analysis and saving live in
``layers.network_layers``; blocking work runs in the thread pool. Bad input is a 400 with a message.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from starlette.requests import Request
from starlette.responses import Response

from api.auth import principal_of
from api.saved_answers import GEOJSON, analysis_answer, posted_inputs
from api.workers import run_at
from layers.network_layers import (
    HEAVY,
    OPERATIONS,
    check_save,
    run_network,
    run_network_at,
    save_network_result,
)
from layers.saved_results import Caller, SaveAs

router = APIRouter(prefix="/api/v1/network", tags=["network analysis"])
MAX_BODY = 2 * 1024 * 1024
PointText = Annotated[str | None, Query(max_length=100, description="a point 'lon,lat' (CRS84)")]
Text = Annotated[str | None, Query(max_length=500)]
Operation = Annotated[str, Path(description=f"one of {', '.join(OPERATIONS)}", max_length=20)]
ANSWER: dict[int | str, dict[str, Any]] = {200: {"content": {GEOJSON: {}}, "description": "a GeoJSON FeatureCollection"}}
POSTED: dict[int | str, dict[str, Any]] = {200: {"content": {GEOJSON: {}, "application/json": {}},
                "description": "GeoJSON FeatureCollection (od-matrix: a JSON object)"},
          201: {"content": {GEOJSON: {}}, "description": "saved as a layer (save_as): Location names it"}}
BODY_DOC = {"requestBody": {"content": {"application/json": {"schema": {"type": "object", "description":
            "the operation's inputs (see GET), lists as JSON, and save_as for route/service-area"}}}}}  # fmt: skip


@router.get("/route", response_class=Response, responses=ANSWER, summary="the fastest path from a to b over the city's roads")
async def route(request: Request, a: PointText = None, b: PointText = None, hour: Text = None) -> Response:
    return await _answer(request, "route", {"a": a, "b": b, "hour": hour})


@router.get("/closest", response_class=Response, responses=ANSWER, summary="the k facilities of a layer fastest to reach a point (or from it)")
async def closest(
    request: Request, target: PointText = None, layer: Text = None, where: Text = None, k: Text = None,
    max_minutes: Text = None, direction: Text = None, hour: Text = None,
) -> Response:  # fmt: skip
    return await _answer(request, "closest", {"target": target, "layer": layer, "where": where, "k": k,
                                              "max_minutes": max_minutes, "direction": direction, "hour": hour})  # fmt: skip


@router.get("/service-area", response_class=Response, responses=ANSWER, summary="isochrones: the area reached from a point within each time")
async def service_area(
    request: Request, origin: PointText = None, minutes: Text = None, direction: Text = None, hour: Text = None
) -> Response:
    return await _answer(request, "service-area", {"origin": origin, "minutes": minutes, "direction": direction,
                                                   "hour": hour})  # fmt: skip


@router.get("/coverage", response_class=Response, responses=ANSWER, summary="share of residents within a time of any facility, per division")
async def coverage(
    request: Request, layer: Text = None, where: Text = None, minutes: Text = None, level: Text = None,
    source: Text = None, density: Text = None, hour: Text = None,
) -> Response:  # fmt: skip
    return await _answer(request, "coverage", {"layer": layer, "where": where, "minutes": minutes, "level": level,
                                               "source": source, "density": density, "hour": hour})  # fmt: skip


@router.post("/{operation}", response_class=Response, responses=POSTED, summary="any network analysis from a JSON body; save_as keeps a route or "
             "service area as a layer (201)", openapi_extra=BODY_DOC)  # fmt: skip
async def run_posted(request: Request, operation: Operation) -> Response:
    given, save = await posted_inputs(request, operation, OPERATIONS, "network operation", MAX_BODY)
    return await _answer(request, operation, given, save)


async def _answer(request: Request, operation: str, inputs: dict[str, Any], save: SaveAs | None = None) -> Response:
    settings = request.app.state.settings
    check_save(operation, save, principal_of(request))  # before any work

    def run(caller: Caller) -> dict[str, Any]:
        given = {k: v for k, v in inputs.items() if v is not None}
        tolerance_m, max_od_cells = settings.network_snap_tolerance_m, settings.network_max_od_cells
        if operation in HEAVY:  # in a render worker: memory cap, time budget, cancelled if the client leaves
            return run_at(settings, request.app.state.engine, run_network_at, operation, given, caller=caller,
                          tolerance_m=tolerance_m, max_od_cells=max_od_cells)  # fmt: skip
        return run_network(request.app.state.engine, operation, given, caller=caller, tolerance_m=tolerance_m,
                           max_od_cells=max_od_cells)  # fmt: skip

    media = "application/json" if operation == "od-matrix" else GEOJSON
    return await analysis_answer(request, run, save_network_result, save, media)
