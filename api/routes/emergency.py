"""REST for emergency scenarios under /api/v1/emergency.

- ``GET …/earthquake``: the relations (with their source), the exposure and shelter rules, the inputs;
- ``POST …/earthquake`` with a JSON object: ``lon``, ``lat`` (epicentre, CRS84), ``magnitude``
  (3.0–9.5), ``depth_km`` (0–700), optional ``strike`` (degrees: elliptical zones), ``region``
  (east/west attenuation relation), ``distance`` (epicentral/hypocentral R), ``max_walk_m`` and
  ``save_as`` (a name, or {name, title, title_en, visibility}: keep the zones as a new overlay
  layer of the caller's department, 201). The answer is a GeoJSON FeatureCollection of the
  intensity zones with their exposure, plus communities, assignments, shelters and totals.

Thin: inputs, read check and saving in ``layers.emergency``; the scenario runs in the render worker
pool (``api.workers``: memory cap, ONEMAP_PROCESS_TIMEOUT_S, cancelled when the client leaves).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.auth import principal_of
from api.limits import read_json_object
from api.saved_answers import kept
from api.workers import run_at
from layers.emergency import earthquake_at, parameters_json, save_zones_as_layer, scenario_inputs
from layers.saved_results import check_save
from spatial.emergency import Scenario
from spatial.params import inline_schema

MAX_BODY = 16 * 1024
router = APIRouter(prefix="/api/v1/emergency", tags=["emergency"])


class EarthquakeBody(BaseModel):
    """An earthquake scenario's inputs."""

    model_config = ConfigDict(extra="forbid")
    lon: float = Field(ge=-180, le=180, description="epicentre longitude, degrees (CRS84)")
    lat: float = Field(ge=-90, le=90, description="epicentre latitude, degrees (CRS84)")
    magnitude: float = Field(ge=3.0, le=9.5, description="surface-wave magnitude Ms")
    depth_km: float = Field(ge=0, le=700, description="focal depth, km")
    strike: float | None = Field(None, ge=0, le=360, description="long axis, degrees from north: elliptical zones")
    region: str | None = Field(None, max_length=20, description="attenuation relation: east (default) or west")
    distance: str | None = Field(None, max_length=20, description="R of the relation: epicentral or hypocentral")
    max_walk_m: float | None = Field(None, gt=0, description="farthest shelter a community may be sent to, metres")
    save_as: str | dict[str, Any] | None = Field(None, description="keep the zones as a layer: a name, or "
                                                 "{name, title, title_en, visibility}")  # fmt: skip


@router.get("/earthquake", summary="the earthquake scenario's relation, parameters and inputs")
async def earthquake_parameters() -> Response:
    """What a scenario uses: the attenuation relations with their source, exposure and shelter rules."""
    return Response(orjson.dumps(parameters_json()), media_type="application/json")


@router.post("/earthquake", summary="earthquake scenario: intensity zones, exposure, shelters (save_as: 201)",
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": inline_schema(EarthquakeBody)}}}})  # fmt: skip
async def earthquake_endpoint(request: Request) -> Response:
    """An earthquake scenario on the city's base map."""
    given = await _inputs(request)

    def body() -> Response:
        event, max_walk, save = scenario_inputs(given)
        principal = principal_of(request)
        check_save(save, principal)  # before any work
        scenario: Scenario = run_at(request.app.state.settings, request.app.state.engine, earthquake_at, event,
                                    principal=principal, max_walk_m=max_walk)  # fmt: skip
        answer = scenario.as_json()
        if save is None:
            return Response(orjson.dumps(answer), media_type="application/geo+json")
        report = save_zones_as_layer(request.app.state.engine, scenario, principal=principal, door="rest", **save)
        return kept(request, answer, report, save, "application/geo+json")

    return await run_in_threadpool(body)


async def _inputs(request: Request) -> dict[str, Any]:
    """The JSON object of inputs, read within MAX_BODY."""
    return await read_json_object(request, MAX_BODY)
