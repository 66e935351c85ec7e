"""XYZ tiles and TileJSON of imagery layers: GET /tiles/{layer}/{z}/{x}/{y}.{png|webp|jpg}.

Thin: the catalog look-up and the rendering live in ``layers.imagery``; blocking work runs in
the thread pool. A tile outside the layer's bounds is 204 No Content (for every format). Every
request passes THE read check: a layer hidden from the caller is a 404 like a missing one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.auth import principal_of
from api.errors import error_response
from layers.imagery.store import ImagerySource, SourceCache
from layers.imagery.tiles import parse_style, parse_tile_address, render_tile, tilejson
from spatial.access.policy import LayerRef, require_read
from spatial.errors import NotFound, OnemapError

CACHE_CONTROL = "public, max-age=60"
STYLE_PARAMS = ("bands", "rescale")


def _sources(request: Request) -> SourceCache:
    """The app's cache of imagery catalog rows, made on first use."""
    state = request.app.state
    cache = getattr(state, "imagery_sources", None)
    if cache is None:
        cache = state.imagery_sources = SourceCache(state.engine)
    return cache


def _readable(request: Request, layer: str) -> ImagerySource:
    """The imagery source of a layer the caller may read (NotFound otherwise)."""
    source = _sources(request).get(layer)
    ref = LayerRef(source.layer_id, source.department_code, source.visibility)
    require_read(principal_of(request), ref, layer)
    return source


def _render(
    request: Request, layer: str, z: str, x: str, y: str, image_format: str
) -> bytes | None:
    tile = parse_tile_address(z, x, y)
    style = parse_style(
        image_format, request.query_params.get("bands"), request.query_params.getlist("rescale")
    )
    path = _readable(request, layer).path
    try:
        return render_tile(path, tile, style)
    except NotFound:  # the layer may have been re-published under a new scene file just now
        _sources(request).forget(layer)
        return render_tile(_readable(request, layer).path, tile, style)


async def tile(request: Request) -> Response:
    """One 256-px WebMercatorQuad tile."""
    p = request.path_params
    y, _, image_format = p["y_format"].partition(".")
    try:
        body = await run_in_threadpool(
            _render, request, p["layer"], p["z"], p["x"], y, image_format
        )
    except OnemapError as err:
        return error_response(err)
    if body is None:
        return Response(status_code=204, headers={"Cache-Control": CACHE_CONTROL})
    media_type = parse_style(image_format).media_type
    return Response(body, media_type=media_type, headers={"Cache-Control": CACHE_CONTROL})


def _tilejson(request: Request, layer: str) -> dict[str, Any]:
    source = _readable(request, layer)
    style = [(k, v) for k, v in request.query_params.multi_items() if k in STYLE_PARAMS]
    parse_style("png", request.query_params.get("bands"), request.query_params.getlist("rescale"))
    query = f"?{urlencode(style)}" if style else ""
    base = request.app.state.settings.base_url
    url = f"{base}/tiles/{layer}/{{z}}/{{x}}/{{y}}.png{query}"
    return tilejson(source.path, name=source.title_en, description=source.title_zh, tiles_url=url)


async def tilejson_document(request: Request) -> Response:
    """TileJSON 3.0 for QGIS, Leaflet or MapLibre."""
    try:
        body = await run_in_threadpool(_tilejson, request, request.path_params["layer"])
    except OnemapError as err:
        return error_response(err)
    return JSONResponse(body)


routes = [
    Route("/{layer}/tilejson.json", tilejson_document),
    Route("/{layer}/{z}/{x}/{y_format}", tile),
]
