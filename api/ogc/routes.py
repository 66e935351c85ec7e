"""Starlette routes of OGC API at /ogc, each handing the request to pygeoapi's core functions.

We do not import ``pygeoapi.starlette_app``: it builds its API from environment variables at
import time. Here the API object comes from the app's gateway (see gateway.py): the one of the
caller's view, so collections hidden from the caller do not exist for them. Writes (POST, PUT,
PATCH, DELETE on items) pass THE permission check first, so refusals are 401/403/404 before
pygeoapi reads the body; the caller and the transaction headers reach our provider through
``api.ogc.calls``.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import Any

import orjson
import pygeoapi.api as core_api
import pygeoapi.api.coverages as coverages_api
import pygeoapi.api.itemtypes as itemtypes_api
import pygeoapi.api.maps as maps_api
import pygeoapi.api.processes as processes_api
import pygeoapi.api.tiles as tiles_api
from pygeoapi.api import API, APIRequest
from pygeoapi.models.provider.base import TileMatrixSetEnum
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from api.auth import principal_of
from api.limits import read_limited
from api.ogc import coverage_routes, tile_routes, tiles3d_routes
from api.ogc.calls import CURRENT_CALL, OgcCall
from api.ogc.gateway import PygeoapiGateway
from api.ogc.providers import MAX_VECTOR_ZOOM, tile_columns_at_zero
from layers.catalog import find_layer
from layers.edits import feature_etag, quoted_etag
from spatial.access.policy import LayerRef, require_read, require_write
from spatial.errors import InvalidInput, NotFound
from spatial.params import bbox_numbers, parse_int, parse_lonlat_bbox, parse_tile

ApiFunction = Callable[..., tuple[dict, int, Any]]
PROCESS_LAYER_INPUTS = ("collection", "collections", "collection_id", "layer", "layers")
MAP_CRS = "http://www.opengis.net/def/crs/EPSG/0/4326"
MAX_MAP_SIDE = 4096
BOOLEANS = ("true", "false", "yes", "no", "1", "0", "on", "off")
TILESET_FORMATS = ("json", "tilejson", "html", "jsonld")
FILE_FORMATS = ("gpkg", "shp", "csv", "fgb", "kml")
"""``items?f=`` values answered by the layer's download (``/api/v1/layers/{id}/download``)."""


def _gateway(request: Request) -> PygeoapiGateway:
    return request.app.state.ogc_gateway


def _call_in_thread(
    loop: asyncio.AbstractEventLoop, call: OgcCall, func: ApiFunction, *args: Any
) -> Any:
    # pygeoapi's process manager looks for an event loop in the calling thread
    asyncio.set_event_loop(loop)
    token = CURRENT_CALL.set(call)
    try:
        return func(*args)
    finally:
        CURRENT_CALL.reset(token)


def ogc_call(request: Request, *, merge: bool = False) -> OgcCall:
    """The caller and the transaction headers of this request."""
    return OgcCall(
        principal=principal_of(request),
        settings=request.app.state.settings,
        content_crs=request.headers.get("content-crs"),
        if_match=request.headers.get("if-match"),
        merge=merge,
    )


async def execute(
    request: Request, func: ApiFunction, *args: Any, check_format: bool = True,
    call: OgcCall | None = None,
) -> Response:
    """Run one pygeoapi API function for this request and wrap its result as a response."""
    loop = asyncio.get_running_loop()
    gateway = _gateway(request)
    call = call or ogc_call(request)
    api: API = gateway.fresh(call.principal) or await loop.run_in_executor(None, gateway.current, call.principal)
    api_request = await APIRequest.from_starlette(request, api.locales)
    if check_format and not api_request.is_valid():
        headers, status, content = api.get_format_exception(api_request)
    else:
        # the request's context (e.g. api.workers.CLIENT_GONE) goes along into the thread
        headers, status, content = await loop.run_in_executor(
            None, contextvars.copy_context().run, _call_in_thread, loop, call, func, api, api_request, *args
        )
    response = to_response(headers, status, content)
    if status == 503:  # the database is down (our provider's ProviderDatabaseUnavailable)
        response.headers.setdefault("Retry-After", "5")
    if call.etag and status < 300:
        response.headers["ETag"] = quoted_etag(call.etag)
    return response


async def _layer(request: Request, layer_id: str | None) -> LayerRef | None:
    """The catalog's access fields of ``layer_id`` (None when there is no such layer)."""
    row = await asyncio.get_running_loop().run_in_executor(
        None, find_layer, request.app.state.engine, layer_id or ""
    )
    return LayerRef.from_row(row) if row else None


async def check_write(request: Request, layer_id: str | None) -> None:
    """THE permission check for writing, then the body read within its limit, before pygeoapi."""
    require_write(principal_of(request), await _layer(request, layer_id), layer_id or "")
    await read_limited_body(request, request.app.state.settings.max_feature_bytes)


async def read_limited_body(request: Request, limit: int) -> None:
    """Read the body, refused with 413 past ``limit`` bytes, and keep it for pygeoapi to parse."""
    body = await read_limited(request, limit, "the feature (ONEMAP_MAX_FEATURE_BYTES)")
    request._body = body  # Starlette's cache of the body: APIRequest reads it from there

def to_response(headers: dict, status: int, content: Any) -> Response:
    if status in (204, 304):  # no body, whatever pygeoapi put in it (an empty tile came with one)
        response: Response = Response(status_code=status)
        response.headers.update({k: str(v) for k, v in headers.items() if k.lower() not in ("content-length", "content-type")})
        return response
    if headers.get("Content-Type") == "text/html":
        response = HTMLResponse(content=content, status_code=status)
    elif isinstance(content, dict):
        response = JSONResponse(content, status_code=status)
    else:
        response = Response(content, status_code=status)
    # the body is re-encoded here, so a length pygeoapi computed would be wrong
    response.headers.update({k: str(v) for k, v in headers.items() if k.lower() != "content-length"})
    return response


def _param(request: Request, name: str) -> str | None:
    return request.path_params.get(name)


async def landing_page(request: Request) -> Response:
    return await execute(request, core_api.landing_page)


async def openapi(request: Request) -> Response:
    loop = asyncio.get_running_loop()
    gateway = _gateway(request)
    api = await loop.run_in_executor(None, gateway.current, principal_of(request))
    await loop.run_in_executor(None, gateway.openapi, api)
    return await execute(request, core_api.openapi_)


async def conformance(request: Request) -> Response:
    return await execute(request, core_api.conformance)


async def collections(request: Request) -> Response:
    collection_id = _param(request, "collection_id")
    response = await execute(request, coverage_routes.describe_collection, collection_id)
    return await tiles3d_routes.with_3dtiles_link(request, collection_id, response)


async def collection_schema(request: Request) -> Response:
    return await execute(request, core_api.get_collection_schema, _param(request, "collection_id"))


async def collection_queryables(request: Request) -> Response:
    return await execute(
        request, itemtypes_api.get_collection_queryables, _param(request, "collection_id")
    )


def invalid_parameter(description: str) -> Response:
    """An OGC exception document with status 400."""
    return JSONResponse(
        {"code": "InvalidParameterValue", "type": "InvalidParameterValue", "description": description},
        status_code=400,
    )


def check_items_query(request: Request) -> Response | None:
    """Parameters pygeoapi 0.21 would turn into a 500 instead of a 400."""
    sortby = request.query_params.get("sortby")
    if sortby is not None and any(not key.strip("+- ") for key in sortby.split(",")):
        return invalid_parameter("sortby must list property names, each optionally prefixed with + or -")
    skip = request.query_params.get("skipGeometry")
    if skip is not None and skip.lower() not in BOOLEANS:
        return invalid_parameter(f"skipGeometry must be true or false, not {skip[:40]!r}")
    return None


async def collection_items(request: Request) -> Response:
    collection_id = _param(request, "collection_id")
    problem = check_items_query(request)
    if problem is not None:
        return problem
    if request.method == "GET" and (request.query_params.get("f") or "").lower() in FILE_FORMATS:
        return await download_redirect(request, collection_id)
    if request.method == "POST":
        content_type = (request.headers.get("content-type") or "").split(";")[0].strip()
        if content_type in ("application/geo+json", "application/json"):
            await check_write(request, collection_id)
            return await execute(
                request, itemtypes_api.manage_collection_item, "create", collection_id,
                check_format=False,
            )
        return await execute(request, itemtypes_api.get_collection_items, collection_id, check_format=False)
    if request.method == "OPTIONS":
        return await execute(
            request, itemtypes_api.manage_collection_item, "options", collection_id, check_format=False
        )
    return await execute(request, itemtypes_api.get_collection_items, collection_id, check_format=False)


async def download_redirect(request: Request, collection_id: str | None) -> Response:
    """``items?f=gpkg|shp|csv|fgb|kml``: 303 to the layer's download, same query, after THE read check."""
    require_read(principal_of(request), await _layer(request, collection_id), collection_id or "")
    download = f"{request.app.state.settings.base_url}/api/v1/layers/{collection_id}/download"
    return RedirectResponse(f"{download}?{request.url.query}", status_code=303)


async def collection_item(request: Request) -> Response:
    collection_id = _param(request, "collection_id")
    item_id = _param(request, "item_id")
    actions = {"DELETE": "delete", "PUT": "update", "PATCH": "update", "OPTIONS": "options"}
    if request.method in actions:
        if request.method != "OPTIONS":
            await check_write(request, collection_id)
        response = await execute(
            request, itemtypes_api.manage_collection_item, actions[request.method],
            collection_id, item_id, check_format=False,
            call=ogc_call(request, merge=request.method == "PATCH"),
        )
        if "PUT" in response.headers.get("Allow", ""):
            response.headers["Allow"] += ", PATCH"  # pygeoapi 0.21 knows no PATCH; we do
        return response
    return await item_with_etag(request, collection_id, item_id)


async def item_with_etag(request: Request, collection_id: str | None, item_id: str | None) -> Response:
    """GET an item with the ETag of exactly the state it shows.

    The body (pygeoapi) and the ETag (our row hash) are two reads; a write landing between
    them would pair an old body with the new ETag, and a client's If-Match write based on that
    body would then silently undo the other write (a lost update). So the ETag is read before
    and after the body and only sent when both agree (the body is re-read, up to 3 times).
    """
    loop = asyncio.get_running_loop()
    response: Response = Response(status_code=500)
    for _ in range(3):
        before = await loop.run_in_executor(None, _etag_or_none, request, collection_id, item_id)
        response = await execute(request, itemtypes_api.get_collection_item, collection_id, item_id)
        if response.status_code != 200 or before is None:
            return response
        after = await loop.run_in_executor(None, _etag_or_none, request, collection_id, item_id)
        if after == before:
            response.headers["ETag"] = quoted_etag(before)
            return response
    return response  # still changing under us: no ETag rather than a wrong one


def _etag_or_none(request: Request, collection_id: str | None, item_id: str | None) -> str | None:
    """The item's ETag, or None for collections outside the catalog."""
    try:
        return feature_etag(
            request.app.state.engine, collection_id or "", item_id or "", principal_of(request)
        )
    except NotFound:
        return None


async def collection_coverage(request: Request) -> Response:
    bbox = request.query_params.get("bbox")
    if bbox is not None:
        try:  # pygeoapi 0.21 turns a malformed bbox into a 500 here; any bbox-crs is fine
            bbox_numbers(bbox)
        except InvalidInput as err:
            return invalid_parameter(err.message)
    call = ogc_call(request)
    call.coverage = coverage_routes.coverage_query(request)  # subset, subset-crs, scaleSize…
    return await execute(
        request, coverages_api.get_collection_coverage, _param(request, "collection_id"),
        check_format=False, call=call,
    )


async def coverage_domainset(request: Request) -> Response:
    return await execute(request, coverage_routes.coverage_domainset, _param(request, "collection_id"))


async def coverage_rangetype(request: Request) -> Response:
    return await execute(request, coverage_routes.coverage_rangetype, _param(request, "collection_id"))


async def collection_map(request: Request) -> Response:
    """OGC API Maps: a picture of the collection for a bbox (imagery layers)."""
    problem = check_map_query(request)
    if problem is not None:
        return problem
    return await execute(
        request, maps_api.get_collection_map, _param(request, "collection_id"), check_format=False
    )


def check_map_query(request: Request) -> Response | None:
    """Parameters pygeoapi 0.21's maps would turn into a 500: bbox, bbox-crs, width, height."""
    query = request.query_params
    if query.get("bbox") is not None:
        try:
            parse_lonlat_bbox(query["bbox"])
        except InvalidInput as err:
            return invalid_parameter(err.message)
    if query.get("bbox-crs") not in (None, MAP_CRS):
        return invalid_parameter(f"bbox-crs: maps take lon/lat boxes ({MAP_CRS})")
    for name in ("width", "height"):
        value = query.get(name)
        if value is not None:
            try:
                parse_int(value, name=name, minimum=1, maximum=MAX_MAP_SIDE)
            except InvalidInput:
                return invalid_parameter(f"{name} must be a whole number of pixels, 1 to {MAX_MAP_SIDE}")
    return None


def tile_matrix_set(request: Request) -> str:
    """The path's tile matrix set, one pygeoapi knows (NotFound otherwise: pygeoapi fails on others)."""
    name = request.path_params["tileMatrixSetId"]
    known = [tms.value.tileMatrixSet for tms in TileMatrixSetEnum]
    if name not in known:
        raise NotFound(f"no tile matrix set {name[:40]!r}; known: {', '.join(known)}")
    return name


async def tilematrixsets(request: Request) -> Response:
    if _param(request, "tileMatrixSetId"):
        return await execute(request, tiles_api.tilematrixset, tile_matrix_set(request))
    return await execute(request, tiles_api.tilematrixsets)


async def collection_tiles(request: Request) -> Response:
    return await execute(request, tiles_api.get_collection_tiles, _param(request, "collection_id"))


async def collection_tiles_metadata(request: Request) -> Response:
    f = request.query_params.get("f")
    if f is not None and f.lower() not in TILESET_FORMATS:  # pygeoapi 0.21: f=mvt here was a 500
        return invalid_parameter(f"f={f[:20]!r}: a tile set is described as {', '.join(TILESET_FORMATS)}")
    return await execute(
        request, tiles_api.get_collection_tiles_metadata,
        _param(request, "collection_id"), tile_matrix_set(request),
        check_format=False,
    )


async def collection_tile(request: Request) -> Response:
    p = request.path_params
    matrix_set = tile_matrix_set(request)
    tile = parse_tile(p["tileMatrix"], p["tileCol"], p["tileRow"], max_zoom=MAX_VECTOR_ZOOM,
                      columns_at_zero=tile_columns_at_zero(matrix_set))  # fmt: skip
    served = await tile_routes.vector_tile(request, p["collection_id"], matrix_set, tile)
    if served is not None:  # a catalogued vector layer the caller may read: the thin path
        return served
    return await execute(
        request, tiles_api.get_collection_tiles_data,
        p["collection_id"], matrix_set, str(tile.z), str(tile.y), str(tile.x),
        check_format=False,
    )


async def processes(request: Request) -> Response:
    return await execute(request, processes_api.describe_processes, _param(request, "process_id"))


async def execute_process(request: Request) -> Response:
    await check_process_inputs(request)
    return await execute(
        request, processes_api.execute_process, _param(request, "process_id"), check_format=False
    )


async def check_process_inputs(request: Request) -> None:
    """A process is no side door: layers it is asked to read pass THE read check."""
    try:
        document = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError as err:
        # pygeoapi parses with json.loads, whose recursion on deep nesting would be a 500
        raise InvalidInput(f"the request body is not JSON: {err.msg}") from None
    if not isinstance(document, dict):  # pygeoapi 0.21 calls .get on it: a 500
        raise InvalidInput('the request body must be a JSON object: {"inputs": {…}}')
    inputs = document.get("inputs") or {}
    if not isinstance(inputs, dict):
        return
    for key in PROCESS_LAYER_INPUTS:
        names = inputs.get(key)
        for name in names if isinstance(names, list) else [names]:
            if isinstance(name, str):
                layer = await _layer(request, name)
                if layer is not None:
                    require_read(principal_of(request), layer, name)


async def jobs(request: Request) -> Response:
    job_id = _param(request, "job_id")
    if request.method == "DELETE":
        return await execute(request, processes_api.delete_job, job_id, check_format=False)
    return await execute(request, processes_api.get_jobs, job_id)


async def job_results(request: Request) -> Response:
    return await execute(request, processes_api.get_job_result, _param(request, "job_id"))


COLLECTION = "/collections/{collection_id}"


def ogc_routes() -> list[BaseRoute]:
    """The OGC API routes, relative to the /ogc mount."""
    return [
        Route("/", landing_page),
        Route("/openapi", openapi),
        Route("/conformance", conformance),
        Route("/tileMatrixSets", tilematrixsets),  # OGC API Tiles' spelling
        Route("/tileMatrixSets/{tileMatrixSetId}", tilematrixsets),
        Route("/TileMatrixSets", tilematrixsets),  # pygeoapi's, kept for links already given out
        Route("/TileMatrixSets/{tileMatrixSetId}", tilematrixsets),
        Route("/collections", collections),
        Route(COLLECTION, collections),
        Route(f"{COLLECTION}/schema", collection_schema),
        Route(f"{COLLECTION}/queryables", collection_queryables),
        Route(f"{COLLECTION}/items", collection_items, methods=["GET", "POST", "OPTIONS"]),
        Route(
            f"{COLLECTION}/items/{{item_id}}",
            collection_item,
            methods=["GET", "PUT", "PATCH", "DELETE", "OPTIONS"],
        ),
        Route(f"{COLLECTION}/coverage", collection_coverage),
        Route(f"{COLLECTION}/coverage/domainset", coverage_domainset),
        Route(f"{COLLECTION}/coverage/rangetype", coverage_rangetype),
        Route(f"{COLLECTION}/map", collection_map),
        Route(f"{COLLECTION}/3dtiles/tileset.json", tiles3d_routes.collection_3dtiles),
        Route(f"{COLLECTION}/3dtiles/{{path:path}}", tiles3d_routes.collection_3dtiles),
        Route(f"{COLLECTION}/tiles", collection_tiles),
        Route(f"{COLLECTION}/tiles/{{tileMatrixSetId}}", collection_tiles_metadata),
        Route(f"{COLLECTION}/tiles/{{tileMatrixSetId}}/metadata", collection_tiles_metadata),
        Route(
            f"{COLLECTION}/tiles/{{tileMatrixSetId}}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}",
            collection_tile,
        ),
        Route("/processes", processes),
        Route("/processes/{process_id}", processes),
        Route("/processes/{process_id}/execution", execute_process, methods=["POST"]),
        Route("/jobs", jobs),
        Route("/jobs/{job_id}", jobs, methods=["GET", "DELETE"]),
        Route("/jobs/{job_id}/results", job_results),
    ]
