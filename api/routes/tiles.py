"""XYZ tiles and TileJSON of imagery layers: GET /tiles/{layer}/{z}/{x}/{y}.{png|webp|jpg}.

Query: ``bands=4,3,2`` or ``expression=(b4-b3)/(b4+b3)``, ``rescale=min,max`` (once, or per
output), ``colormap_name=rdylgn`` (one output), ``datetime=`` and ``scene=`` (which scenes;
default: every scene, the latest on top). Thin: the catalog look-up and the rendering live in
``layers.imagery``. The cheap checks (address, style, read check, which scenes) run in the
thread pool; the pixel work runs in the render worker pool (``api.workers``: memory cap, time
budget, cancelled when the client leaves, 503 when full) with the source-pixel budget checked
before a pixel is read. A tile outside the layer's extent is a 404 with a message; one inside
it where the picked scenes have no pixels is 204 No Content.
Every request passes THE read check: a layer hidden from the caller is a 404 like a missing one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from morecantile import Tile
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.auth import principal_of
from api.errors import error_response
from api.workers import ClientGone, WorkerPool, pool_of
from layers.imagery.budget import RenderBudget
from layers.imagery.readers import ImageryFileMissing
from layers.imagery.selection import select_scenes
from layers.imagery.store import ImagerySource, SourceCache
from layers.imagery.tiles import (
    TileStyle,
    parse_style,
    parse_tile_address,
    render_tile,
    tile_paths,
    tilejson,
)
from spatial.access.policy import LayerRef, require_read
from spatial.errors import NotFound, OnemapError

CACHE_CONTROL = "public, max-age=60"
STYLE_PARAMS = ("bands", "rescale", "expression", "colormap_name", "datetime", "scene")


def sources(request: Request) -> SourceCache:
    """The app's cache of imagery catalog rows, made on first use."""
    state = request.app.state
    cache = getattr(state, "imagery_sources", None)
    if cache is None:
        cache = state.imagery_sources = SourceCache(state.engine)
    return cache


def readable(request: Request, layer: str) -> ImagerySource:
    """The imagery source of a layer the caller may read (NotFound otherwise)."""
    source = sources(request).get(layer)
    ref = LayerRef(source.layer_id, source.department_code, source.visibility)
    try:
        require_read(principal_of(request), ref, layer)
    except NotFound:  # hidden looks exactly like missing, message included
        raise NotFound(f"no imagery layer named {layer!r}") from None
    return source


def _style(request: Request, image_format: str) -> TileStyle:
    query = request.query_params
    return parse_style(
        image_format, query.get("bands"), query.getlist("rescale"), query.get("expression"),
        query.get("colormap_name"),
    )  # fmt: skip


def _plan(
    request: Request, layer: str, z: str, x: str, y: str, image_format: str
) -> tuple[list[Path], Tile, TileStyle]:
    """The checks that need no pixels: address, style, read check, the files to read."""
    tile = parse_tile_address(z, x, y)
    style = _style(request, image_format)
    when = {k: request.query_params.get(k) for k in ("datetime", "scene")}
    try:
        return tile_paths(readable(request, layer), tile, style, **when), tile, style
    except ImageryFileMissing:  # the layer may have been re-published a moment ago
        sources(request).forget(layer)
        return tile_paths(readable(request, layer), tile, style, **when), tile, style


def render_pool(request: Request) -> WorkerPool:
    """The app's render worker pool."""
    return pool_of(request.app.state.settings)


async def tile(request: Request) -> Response:
    """One 256-px WebMercatorQuad tile."""
    p = request.path_params
    y, _, image_format = p["y_format"].partition(".")
    budget = RenderBudget.from_settings(request.app.state.settings)
    for attempt in (1, 2):
        try:
            paths, address, style = await run_in_threadpool(
                _plan, request, p["layer"], p["z"], p["x"], y, image_format
            )
            body = await render_pool(request).run(render_tile, paths, address, style, budget) if paths else None
            break
        except ClientGone:
            return Response(status_code=499)  # nobody is listening
        except ImageryFileMissing as err:  # re-published while drawing: look the scenes up again
            sources(request).forget(p["layer"])
            if attempt == 2:
                return error_response(err)
        except OnemapError as err:
            return error_response(err)
    if body is None:
        return Response(status_code=204, headers={"Cache-Control": CACHE_CONTROL})
    return Response(body, media_type=style.media_type, headers={"Cache-Control": CACHE_CONTROL})


def _tilejson(request: Request, layer: str) -> dict[str, Any]:
    source = readable(request, layer)
    style = [(k, v) for k, v in request.query_params.multi_items() if k in STYLE_PARAMS]
    _style(request, "png")
    query = request.query_params
    scenes = select_scenes(
        source.scenes, layer_id=layer, datetime=query.get("datetime"), scene=query.get("scene")
    )
    suffix = f"?{urlencode(style)}" if style else ""
    base = request.app.state.settings.base_url
    return tilejson(
        [s.path for s in scenes],
        name=source.title_en,
        description=source.title_zh,
        tiles_url=f"{base}/tiles/{layer}/{{z}}/{{x}}/{{y}}.png{suffix}",
        bounds=source.bbox if len(scenes) > 1 else None,
    )


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
