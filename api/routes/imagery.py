"""REST for imagery analytics under /api/v1/imagery/{layer}: scenes, point values, statistics.

- ``GET …/scenes``: the layer's scenes, latest first;
- ``GET …/point?lon=&lat=[&bands=|&expression=][&datetime=&scene=&every=true]``;
- ``GET …/statistics?zones=LAYER[&band=|&expression=][&percentiles=10,50,90&datetime=&scene=
  &all_touched=&properties=&bbox=&f=json|geojson|csv]``; ``POST`` with the same fields as JSON,
  plus ``save_as`` (a name, or {name, title, title_en, visibility}) to keep the result as a
  new overlay layer of the caller's department (201);
- ``GET|POST …/change?zones=&before=&after=…``: per polygon statistics of (after − before).

Thin: everything happens in ``layers.imagery``; statistics are computed in the render worker
pool (``api.workers``); every door passes THE read check on the imagery and on the polygon
layer (hidden = 404), saving passes the publish check.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.auth import principal_of
from api.limits import read_json_object
from api.params import Lat, Lon
from api.saved_answers import kept
from api.workers import run_at
from layers.imagery.access import readable_imagery
from layers.imagery.arguments import (
    ChangeBody,
    ChangeQuery,
    StatisticsBody,
    StatisticsQuery,
    change_arguments,
    flag,
    statistics_arguments,
)
from layers.imagery.change import change_statistics
from layers.imagery.overlay import save_as_layer
from layers.imagery.point import point_values
from layers.imagery.zonal import statistics_at, zonal_statistics
from layers.imagery.zonal_result import ZonalResult
from layers.saved_results import SaveAs, check_save, save_arguments
from spatial.errors import InvalidInput
from spatial.params import inline_schema

FORMATS = ("json", "geojson", "csv")
MAX_BODY = 64 * 1024


router = APIRouter(prefix="/api/v1/imagery", tags=["imagery"])
Layer = Annotated[str, Path(max_length=63, description="an imagery layer's id")]


def _body_doc(model: type[BaseModel]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": inline_schema(model)}}}}


async def _answer(func: Callable[[], Response]) -> Response:
    """Run a blocking handler body in the thread pool (errors go to the one table)."""
    return await run_in_threadpool(func)


@router.get("/{layer}/scenes", summary="the layer's scenes, latest first")
async def scenes(request: Request, layer: Layer) -> Response:
    """The scenes of a readable imagery layer."""

    def body() -> Response:
        source = readable_imagery(request.app.state.engine, layer, principal_of(request))
        return JSONResponse({"layer": layer, "scenes": [s.as_json() for s in source.scenes]})

    return await _answer(body)


@router.get("/{layer}/point", summary="pixel values at a point (every scene with every=true)")
async def point(
    request: Request, layer: Layer, lon: Lon, lat: Lat,
    bands: Annotated[str | None, Query(max_length=100, description="band numbers, e.g. 4,3,2")] = None,
    expression: Annotated[str | None, Query(max_length=1000, description="band maths")] = None,
    datetime: Annotated[str | None, Query(max_length=100, description="which scenes")] = None,
    scene: Annotated[str | None, Query(max_length=200)] = None,
    every: Annotated[str | None, Query(max_length=5, description="true: a time series over every scene")] = None,
) -> Response:
    """Values at a lon/lat point."""

    def body() -> Response:
        source = readable_imagery(request.app.state.engine, layer, principal_of(request))
        found = point_values(
            source, lon, lat, bands=bands, expression=expression, datetime=datetime, scene=scene,
            every=flag(every, "every"),
        )  # fmt: skip
        return JSONResponse({"layer": layer, "lon": lon, "lat": lat,
                             "results": [f.as_json() for f in found]})  # fmt: skip

    return await _answer(body)


@router.get("/{layer}/statistics", summary="zonal statistics of a band or expression over each polygon of a layer")
async def statistics(request: Request, layer: Layer, inputs: Annotated[StatisticsQuery, Query()]) -> Response:
    """Zonal statistics over a polygon layer."""
    return await _analysis(request, layer, zonal_statistics, statistics_arguments)


@router.post("/{layer}/statistics", summary="zonal statistics from a JSON body; save_as keeps them as a layer (201)",
             openapi_extra=_body_doc(StatisticsBody))  # fmt: skip
async def statistics_post(request: Request, layer: Layer) -> Response:
    return await _analysis(request, layer, zonal_statistics, statistics_arguments)


@router.get("/{layer}/change", summary="statistics of the change between two scenes over each polygon")
async def change(request: Request, layer: Layer, inputs: Annotated[ChangeQuery, Query()]) -> Response:
    """Change statistics between two scenes over a polygon layer."""
    return await _analysis(request, layer, change_statistics, change_arguments)


@router.post("/{layer}/change", summary="change statistics from a JSON body; save_as keeps them as a layer (201)",
             openapi_extra=_body_doc(ChangeBody))  # fmt: skip
async def change_post(request: Request, layer: Layer) -> Response:
    return await _analysis(request, layer, change_statistics, change_arguments)


async def _analysis(
    request: Request,
    layer: str,
    compute: Callable[..., ZonalResult],
    arguments: Callable[[Mapping[str, Any]], dict[str, Any]],
) -> Response:
    given = await _inputs(request)

    def body() -> Response:
        kwargs = arguments(given)
        fmt = str(given.get("f") or "json").lower()
        if fmt not in FORMATS:
            raise InvalidInput(f"f={fmt!r}: one of {', '.join(FORMATS)}")
        save = save_arguments(given.get("save_as")) if request.method == "POST" else None
        check_save(save, principal_of(request))  # before any work
        result = heavy(request, compute, layer, principal=principal_of(request), **kwargs)
        if save is None:
            return _render(result, fmt)
        return _saved(request, result, save)

    return await _answer(body)


def heavy(request: Request, compute: Callable[..., ZonalResult], layer: str, **kwargs: Any) -> ZonalResult:
    """A statistic computed in a render worker (``api.workers``): memory cap, time budget
    (ONEMAP_PROCESS_TIMEOUT_S), cancelled when the client leaves, 503 when the pool is full."""
    return run_at(request.app.state.settings, request.app.state.engine, statistics_at, compute, layer, **kwargs)


async def _inputs(request: Request) -> dict[str, Any]:
    """Query parameters (GET) or a JSON object (POST), read within MAX_BODY."""
    if request.method != "POST":
        return dict(request.query_params)
    given = await read_json_object(request, MAX_BODY)
    return {**dict(request.query_params), **given}


def _render(result: ZonalResult, fmt: str) -> Response:
    if fmt == "geojson":
        return Response(orjson.dumps(result.feature_collection()), media_type="application/geo+json")
    if fmt == "csv":
        return Response(_csv(result.records()), media_type="text/csv; charset=utf-8")
    return Response(orjson.dumps({**result.describe(), "results": result.records()}),
                    media_type="application/json")  # fmt: skip


def _saved(request: Request, result: ZonalResult, save: SaveAs) -> Response:
    """Publish the result as a layer and answer 201 with where it is."""
    report = save_as_layer(request.app.state.engine, result, principal=principal_of(request),
                           door="rest", **save)  # fmt: skip
    return kept(request, result.describe(), report, save, "application/json")


def _csv(records: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    if records:
        writer = csv.DictWriter(out, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    return out.getvalue()


