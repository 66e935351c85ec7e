"""Starlette routes of OGC API at /ogc, each handing the request to pygeoapi's core functions.

We do not import ``pygeoapi.starlette_app``: it builds its API from environment variables at
import time. Here the API object comes from the app's gateway (see gateway.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pygeoapi.api as core_api
import pygeoapi.api.coverages as coverages_api
import pygeoapi.api.itemtypes as itemtypes_api
import pygeoapi.api.processes as processes_api
import pygeoapi.api.tiles as tiles_api
from pygeoapi.api import API, APIRequest, validate_bbox
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from api.ogc.gateway import PygeoapiGateway

ApiFunction = Callable[..., tuple[dict, int, Any]]


def _gateway(request: Request) -> PygeoapiGateway:
    return request.app.state.ogc_gateway


def _call_in_thread(loop: asyncio.AbstractEventLoop, func: ApiFunction, *args: Any) -> Any:
    # pygeoapi's process manager looks for an event loop in the calling thread
    asyncio.set_event_loop(loop)
    return func(*args)


async def execute(request: Request, func: ApiFunction, *args: Any, check_format: bool = True) -> Response:
    """Run one pygeoapi API function for this request and wrap its result as a response."""
    loop = asyncio.get_running_loop()
    gateway = _gateway(request)
    api: API = await loop.run_in_executor(None, gateway.current)
    api_request = await APIRequest.from_starlette(request, api.locales)
    if check_format and not api_request.is_valid():
        headers, status, content = api.get_format_exception(api_request)
    else:
        headers, status, content = await loop.run_in_executor(
            None, _call_in_thread, loop, func, api, api_request, *args
        )
    return to_response(headers, status, content)


def to_response(headers: dict, status: int, content: Any) -> Response:
    if headers.get("Content-Type") == "text/html":
        response: Response = HTMLResponse(content=content, status_code=status)
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
    api = await loop.run_in_executor(None, gateway.current)
    await loop.run_in_executor(None, gateway.openapi, api)
    return await execute(request, core_api.openapi_)


async def conformance(request: Request) -> Response:
    return await execute(request, core_api.conformance)


async def collections(request: Request) -> Response:
    return await execute(request, core_api.describe_collections, _param(request, "collection_id"))


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
    return None


async def collection_items(request: Request) -> Response:
    collection_id = _param(request, "collection_id")
    problem = check_items_query(request)
    if problem is not None:
        return problem
    if request.method == "POST":
        content_type = (request.headers.get("content-type") or "").split(";")[0].strip()
        if content_type in ("application/geo+json", "application/json"):
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


async def collection_item(request: Request) -> Response:
    collection_id = _param(request, "collection_id")
    item_id = _param(request, "item_id")
    actions = {"DELETE": "delete", "PUT": "update", "OPTIONS": "options"}
    if request.method in actions:
        return await execute(
            request, itemtypes_api.manage_collection_item, actions[request.method],
            collection_id, item_id, check_format=False,
        )
    return await execute(request, itemtypes_api.get_collection_item, collection_id, item_id)


async def collection_coverage(request: Request) -> Response:
    bbox = request.query_params.get("bbox")
    if bbox is not None:
        try:
            validate_bbox(bbox)  # pygeoapi 0.21 turns a malformed bbox into a 500 here
        except ValueError as err:
            return invalid_parameter(str(err))
    return await execute(
        request, coverages_api.get_collection_coverage, _param(request, "collection_id"),
        check_format=False,
    )


async def tilematrixsets(request: Request) -> Response:
    tms = _param(request, "tileMatrixSetId")
    if tms:
        return await execute(request, tiles_api.tilematrixset, tms)
    return await execute(request, tiles_api.tilematrixsets)


async def collection_tiles(request: Request) -> Response:
    return await execute(request, tiles_api.get_collection_tiles, _param(request, "collection_id"))


async def collection_tiles_metadata(request: Request) -> Response:
    return await execute(
        request, tiles_api.get_collection_tiles_metadata,
        _param(request, "collection_id"), _param(request, "tileMatrixSetId"),
        check_format=False,
    )


async def collection_tile(request: Request) -> Response:
    p = request.path_params
    return await execute(
        request, tiles_api.get_collection_tiles_data,
        p["collection_id"], p["tileMatrixSetId"], p["tileMatrix"], p["tileRow"], p["tileCol"],
        check_format=False,
    )


async def processes(request: Request) -> Response:
    return await execute(request, processes_api.describe_processes, _param(request, "process_id"))


async def execute_process(request: Request) -> Response:
    return await execute(
        request, processes_api.execute_process, _param(request, "process_id"), check_format=False
    )


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
        Route("/TileMatrixSets", tilematrixsets),
        Route("/TileMatrixSets/{tileMatrixSetId}", tilematrixsets),
        Route("/collections", collections),
        Route(COLLECTION, collections),
        Route(f"{COLLECTION}/schema", collection_schema),
        Route(f"{COLLECTION}/queryables", collection_queryables),
        Route(f"{COLLECTION}/items", collection_items, methods=["GET", "POST", "OPTIONS"]),
        Route(
            f"{COLLECTION}/items/{{item_id}}",
            collection_item,
            methods=["GET", "PUT", "DELETE", "OPTIONS"],
        ),
        Route(f"{COLLECTION}/coverage", collection_coverage),
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
