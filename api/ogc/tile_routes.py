"""The vector tile door of OGC API Tiles (``/ogc/collections/{id}/tiles/{set}/{z}/{y}/{x}``), served thin.

pygeoapi's path for one tile costs more than cutting most tiles: the view's API object, a
request object, a provider built per request (with its table description), two thread hops.
Catalogued vector layers are answered here instead, with the same bytes and headers: THE read
check on the catalog row (kept per layer version), the table description kept per version
(``api.ogc.feature_tables``), one statement on a read connection (``layers.vector_tiles``), one
thread hop, and the tile cache (``layers.tile_cache``) in front. Anything else (collections not
in the catalog, hidden or missing ones, layers without a table) takes pygeoapi's path as before,
so those answers do not change.

Tiles carry a strong ETag (from the cache key: layer, version, set, z/x/y) and Cache-Control
(``public`` for public layers, ``private`` otherwise; ``api.security`` keeps credentialed answers
out of shared caches); ``If-None-Match`` with the current ETag is a 304 without drawing.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pygeoapi
from pygeoapi.api import FORMAT_TYPES
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.auth import principal_of
from api.ogc import feature_tables
from layers import features, tile_cache, vector_tiles
from layers.catalog import find_layer
from spatial.access.policy import LayerRef, can_read
from spatial.params import TileAddress

MVT = "application/vnd.mapbox-vector-tile"
FORMAT_MIMES = frozenset(FORMAT_TYPES.values())
T = TypeVar("T")
BASE_HEADERS = {"X-Powered-By": f"pygeoapi {pygeoapi.__version__}", "Content-Language": "en-US"}


@dataclass
class _TileSource:
    """What ``feature_tables.read_current`` needs: engine, description, how to describe again."""

    engine: Engine
    feature_table: features.FeatureTable
    describe_key: tuple[Any, ...]


async def in_thread(func: Callable[[], T]) -> T:
    """``func()`` in the event loop's thread pool with this request's context (read-your-writes, client gone).

    Leaner than Starlette's ``run_in_threadpool`` (anyio's limiter and backend look-ups cost a
    noticeable part of a small tile's time); the pool is the one pygeoapi's calls use.
    """
    return await asyncio.get_running_loop().run_in_executor(None, contextvars.copy_context().run, func)


def names_format(request: Request) -> bool:
    """pygeoapi's format rule for tiles: an ``f=`` of any value, or an Accept naming a type it knows."""
    if (request.query_params.get("f") or "").strip():
        return True
    accept = request.headers.get("accept", "")
    return any(part.split(";")[0].strip() in FORMAT_MIMES for part in accept.split(","))


def invalid_format() -> Response:
    body = {"code": "InvalidParameterValue", "type": "InvalidParameterValue", "description": "Invalid format requested"}
    return JSONResponse(body, status_code=400, headers=BASE_HEADERS)


async def catalog_row(request: Request, layer_id: str, version: int | None) -> dict[str, Any] | None:
    """The layer's catalog row, kept per layer version (read again when the version moved or is unknown)."""
    state = request.app.state
    kept: dict[str, tuple[int, dict[str, Any] | None]] | None = getattr(state, "vector_tile_rows", None)
    if kept is None:
        kept = state.vector_tile_rows = {}
    entry = kept.get(layer_id)
    if version is not None and entry is not None and entry[0] == version:
        return entry[1]
    row = await in_thread(lambda: find_layer(state.engine, layer_id))
    if version is not None:
        if len(kept) > 4096:
            kept.clear()
        kept[layer_id] = (version, row)
    return row


def draw(engine: Engine, row: dict[str, Any], matrix_set: str, tile: TileAddress) -> tuple[bytes, int]:
    """The tile and the version it shows, with the table described as kept for the layer's version."""
    key = (engine, row["storage_schema"], row["storage_table"], row.get("id_field") or "id",
           row.get("geom_field") or "geom", row.get("time_field"), f"{row.get('version')}:{row.get('updated_at')}")  # fmt: skip
    source = _TileSource(engine, feature_tables.describe(*key), key)
    result: tuple[bytes, int] = feature_tables.read_current(
        source, vector_tiles.mvt_tile_versioned, tile.z, tile.x, tile.y, layer=row["id"], layer_id=row["id"],
        matrix_set=matrix_set,
    )
    return result


def tile_response(request: Request, served: tile_cache.Served | None, key: tile_cache.TileKey | None,
                  public: bool) -> Response:  # fmt: skip
    """200 with the tile, 204 for an empty one, 304 when ``served`` is None (the ETag matched)."""
    headers = dict(BASE_HEADERS)
    key = served.key if served is not None else key
    headers["Cache-Control"] = tile_cache.cache_control(request.app.state.settings, public)
    if key is not None:
        headers["ETag"] = key.etag
    if served is None:
        return Response(status_code=304, headers=headers)
    if not served.data:
        return Response(status_code=204, headers=headers)
    return Response(served.data, media_type=MVT, headers=headers)


async def vector_tile(request: Request, layer_id: str, matrix_set: str, tile: TileAddress) -> Response | None:
    """The tile of a catalogued vector layer the caller may read; None: pygeoapi answers instead."""
    state = request.app.state
    engine: Engine = state.engine
    versions = tile_cache.layer_versions(engine)
    version = versions.get(layer_id)
    row = await catalog_row(request, layer_id, version)
    if row is None or not row.get("storage_table") or not can_read(principal_of(request), LayerRef.from_row(row)):
        return None  # not ours, or hidden: pygeoapi's 404 (hidden looks exactly like missing)
    if not names_format(request):
        return invalid_format()
    public = row.get("visibility") == "public"
    key = tile_cache.mvt_key(layer_id, version, matrix_set, tile.z, tile.x, tile.y) if version is not None else None
    if key is not None and tile_cache.etag_matches(request.headers.get("if-none-match"), key.etag):
        return tile_response(request, None, key, public)
    cache = tile_cache.tile_cache(state.settings)
    looked = key is not None and cache.name == "disk"
    if key is not None and looked:  # a local file read: no thread hop for a hit
        found = cache.get(key)
        if found is not None:
            return tile_response(request, tile_cache.Served(found, key, True), key, public)
    served = await in_thread(
        lambda: tile_cache.cached_tile(cache, key, lambda: draw(engine, row, matrix_set, tile), looked=looked)
    )
    return tile_response(request, served, key, public)
