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
Then the tile cache (``layers.tile_cache``): tiles are kept under the layer's version (which moves
when a scene is added, changed or removed, or the layer re-published), the address, format and the
parsed style; they carry a strong ETag (``If-None-Match`` → 304 without drawing) and Cache-Control
(``public`` for public layers, ``private`` otherwise, ``max-age=ONEMAP_TILE_MAX_AGE_S``).
"""

from __future__ import annotations

from dataclasses import dataclass
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
from layers import tile_cache
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

CACHE_CONTROL = "public, max-age=60"  # capabilities documents (tiles: ``tile_headers``)
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
    return readable_versioned(request, layer)[0]


def readable_versioned(request: Request, layer: str) -> tuple[ImagerySource, int | None]:
    """``readable`` and the layer's version (None: unknown, tiles uncached); the source is the one
    kept for that version (``SourceCache``)."""
    version = tile_cache.layer_versions(request.app.state.engine).get(layer)
    source = sources(request).get(layer, version)
    ref = LayerRef(source.layer_id, source.department_code, source.visibility)
    try:
        require_read(principal_of(request), ref, layer)
    except NotFound:  # hidden looks exactly like missing, message included
        raise NotFound(f"no imagery layer named {layer!r}") from None
    return source, version


def forget(request: Request, layer: str) -> None:
    """Read the layer's source afresh next time (its files moved)."""
    sources(request).forget(layer)


def _style(request: Request, image_format: str) -> TileStyle:
    query = request.query_params
    return parse_style(
        image_format, query.get("bands"), query.getlist("rescale"), query.get("expression"),
        query.get("colormap_name"),
    )  # fmt: skip


@dataclass
class Prepared:
    """A tile request past its cheap checks: address, style, the readable source, the cache key."""

    address: Tile
    style: TileStyle
    source: ImagerySource
    when: dict[str, str | None]
    key: tile_cache.TileKey | None


def _prepare(request: Request, layer: str, z: str, x: str, y: str, image_format: str) -> Prepared:
    """The checks that need no pixels: address, style, read check; the key the tile is kept under."""
    address = parse_tile_address(z, x, y)
    style = _style(request, image_format)
    when = {k: request.query_params.get(k) for k in ("datetime", "scene")}
    source, version = readable_versioned(request, layer)
    key = None
    if version is not None:
        key = tile_cache.xyz_key(layer, version, address.z, address.x, address.y, image_format, style, when)
    return Prepared(address, style, source, when, key)


def render_pool(request: Request) -> WorkerPool:
    """The app's render worker pool."""
    return pool_of(request.app.state.settings)


def tile_headers(request: Request, key: tile_cache.TileKey | None, public: bool) -> dict[str, str]:
    """ETag (when the tile has a key) and Cache-Control of a tile."""
    headers = {"Cache-Control": tile_cache.cache_control(request.app.state.settings, public)}
    if key is not None:
        headers["ETag"] = key.etag
    return headers


async def cached(request: Request, key: tile_cache.TileKey | None) -> bytes | None:
    """The kept tile of ``key`` (None: a miss, or no key); a disk hit costs no thread hop."""
    if key is None:
        return None
    cache = tile_cache.tile_cache(request.app.state.settings)
    if cache.name == "disk":
        return cache.get(key)
    return await run_in_threadpool(cache.get, key)


async def keep(request: Request, key: tile_cache.TileKey | None, body: bytes) -> None:
    if key is not None:
        await run_in_threadpool(tile_cache.tile_cache(request.app.state.settings).put, key, body)


def image_response(request: Request, body: bytes | None, media_type: str, key: tile_cache.TileKey | None,
                   public: bool) -> Response:  # fmt: skip
    """200 with the picture, 204 when nothing was drawn (b"" or None)."""
    headers = tile_headers(request, key, public)
    if not body:
        return Response(status_code=204, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


async def tile(request: Request) -> Response:
    """One 256-px WebMercatorQuad tile (kept in the tile cache under the layer's version)."""
    p = request.path_params
    y, _, image_format = p["y_format"].partition(".")
    budget = RenderBudget.from_settings(request.app.state.settings)
    for attempt in (1, 2):
        try:
            plan = await run_in_threadpool(_prepare, request, p["layer"], p["z"], p["x"], y, image_format)
            public = plan.source.visibility == "public"
            if plan.key is not None and tile_cache.etag_matches(request.headers.get("if-none-match"), plan.key.etag):
                return Response(status_code=304, headers=tile_headers(request, plan.key, public))
            found = await cached(request, plan.key)
            if found is not None:
                return image_response(request, found, plan.style.media_type, plan.key, public)
            paths = await run_in_threadpool(tile_paths, plan.source, plan.address, plan.style, **plan.when)
            body = await render_pool(request).run(render_tile, paths, plan.address, plan.style, budget) if paths else None
            break
        except ClientGone:
            return Response(status_code=499)  # nobody is listening
        except ImageryFileMissing as err:  # re-published while drawing: look the scenes up again
            forget(request, p["layer"])
            if attempt == 2:
                return error_response(err)
        except OnemapError as err:
            return error_response(err)
    await keep(request, plan.key, body or b"")
    return image_response(request, body, plan.style.media_type, plan.key, public)


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
