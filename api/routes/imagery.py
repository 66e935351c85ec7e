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
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.auth import principal_of
from api.errors import error_response
from api.workers import pool_of
from layers.imagery.access import readable_imagery
from layers.imagery.arguments import change_arguments, flag, save_arguments, statistics_arguments
from layers.imagery.change import change_statistics
from layers.imagery.overlay import save_as_layer
from layers.imagery.point import check_lonlat, point_values
from layers.imagery.zonal import statistics_at, zonal_statistics
from layers.imagery.zonal_result import ZonalResult
from spatial.errors import InvalidInput, OnemapError, Unauthorized

FORMATS = ("json", "geojson", "csv")
MAX_BODY = 64 * 1024


async def _answer(func: Callable[[], Response]) -> Response:
    """Run a blocking handler body in the thread pool; domain errors by the one table."""
    try:
        return await run_in_threadpool(func)
    except OnemapError as err:
        return error_response(err)


async def scenes(request: Request) -> Response:
    """The scenes of a readable imagery layer."""
    layer = request.path_params["layer"]

    def body() -> Response:
        source = readable_imagery(request.app.state.engine, layer, principal_of(request))
        return JSONResponse({"layer": layer, "scenes": [s.as_json() for s in source.scenes]})

    return await _answer(body)


async def point(request: Request) -> Response:
    """Values at a lon/lat point."""
    layer, query = request.path_params["layer"], request.query_params

    def body() -> Response:
        lon, lat = check_lonlat(query.get("lon"), query.get("lat"))
        source = readable_imagery(request.app.state.engine, layer, principal_of(request))
        found = point_values(
            source, lon, lat, bands=query.get("bands"), expression=query.get("expression"),
            datetime=query.get("datetime"), scene=query.get("scene"),
            every=flag(query.get("every"), "every"),
        )  # fmt: skip
        return JSONResponse({"layer": layer, "lon": lon, "lat": lat,
                             "results": [f.as_json() for f in found]})  # fmt: skip

    return await _answer(body)


async def statistics(request: Request) -> Response:
    """Zonal statistics over a polygon layer (POST may save them as a layer)."""
    return await _analysis(request, zonal_statistics, statistics_arguments)


async def change(request: Request) -> Response:
    """Change statistics between two scenes over a polygon layer."""
    return await _analysis(request, change_statistics, change_arguments)


async def _analysis(
    request: Request,
    compute: Callable[..., ZonalResult],
    arguments: Callable[[Mapping[str, Any]], dict[str, Any]],
) -> Response:
    layer = request.path_params["layer"]
    given = await _inputs(request)
    if isinstance(given, Response):
        return given

    def body() -> Response:
        kwargs = arguments(given)
        fmt = str(given.get("f") or "json").lower()
        if fmt not in FORMATS:
            raise InvalidInput(f"f={fmt!r}: one of {', '.join(FORMATS)}")
        save = save_arguments(given.get("save_as")) if request.method == "POST" else None
        if save is not None and principal_of(request) is None:
            raise Unauthorized("saving a layer needs credentials: send Authorization: Bearer <token>")
        result = heavy(request, compute, layer, principal=principal_of(request), **kwargs)
        if save is None:
            return _render(result, fmt)
        return _saved(request, result, save)

    return await _answer(body)


def heavy(request: Request, compute: Callable[..., ZonalResult], layer: str, **kwargs: Any) -> ZonalResult:
    """A statistic computed in a render worker (``api.workers``): memory cap, time budget
    (ONEMAP_PROCESS_TIMEOUT_S), cancelled when the client leaves, 503 when the pool is full."""
    settings = request.app.state.settings
    url = request.app.state.engine.url.render_as_string(hide_password=False)
    return pool_of(settings).run_sync(statistics_at, url, compute, layer,
                                      timeout=settings.process_timeout_s, **kwargs)  # fmt: skip


async def _inputs(request: Request) -> dict[str, Any] | Response:
    """Query parameters (GET) or a JSON object (POST)."""
    if request.method != "POST":
        return dict(request.query_params)
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return error_response(InvalidInput(f"the request body is over {MAX_BODY} bytes"))
    try:
        given = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError:
        return error_response(InvalidInput("the body is not JSON: send an object of inputs"))
    if not isinstance(given, dict):
        return error_response(InvalidInput("the body must be a JSON object of inputs"))
    return {**dict(request.query_params), **given}


def _render(result: ZonalResult, fmt: str) -> Response:
    if fmt == "geojson":
        return Response(orjson.dumps(result.feature_collection()), media_type="application/geo+json")
    if fmt == "csv":
        return Response(_csv(result.records()), media_type="text/csv; charset=utf-8")
    return Response(orjson.dumps({**result.describe(), "results": result.records()}),
                    media_type="application/json")  # fmt: skip


def _saved(request: Request, result: ZonalResult, save: dict[str, Any]) -> Response:
    """Publish the result as a layer and answer 201 with where it is."""
    report = save_as_layer(request.app.state.engine, result, principal=principal_of(request),
                           door="rest", **save)  # fmt: skip
    request.app.state.ogc_gateway.recheck()
    base = request.app.state.settings.base_url
    location = f"{base}/api/v1/layers/{save['name']}"
    body = {**result.describe(), "layer_saved": location, "summary": report.summary()}
    return Response(orjson.dumps(body), status_code=201, media_type="application/json",
                    headers={"Location": location})  # fmt: skip


def _csv(records: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    if records:
        writer = csv.DictWriter(out, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    return out.getvalue()


routes = [
    Route("/imagery/{layer}/scenes", scenes),
    Route("/imagery/{layer}/point", point),
    Route("/imagery/{layer}/statistics", statistics, methods=["GET", "POST"]),
    Route("/imagery/{layer}/change", change, methods=["GET", "POST"]),
]
