"""The REST API (/api/v1) and Open311 GeoReport v2 (/open311/v2) as FastAPI routers in one app.

The routers live beside their domain (``api/routes``); here they are put together in one FastAPI
app, mounted by ``create_app`` behind the same middleware as every other door (caller, budgets,
headers, rate limits) and sharing its state (engine, settings). Its OpenAPI document, served at
``/api/v1/openapi.json``, is derived from the routes' typed parameters (``api.params``) and body
models: nothing is written by hand, so nothing drifts. Errors go through the one table
(``api.errors``); FastAPI's own validation errors are answered in the same shape, 400.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api import errors
from spatial.errors import InvalidInput

TITLE = "onemap REST API and Open311 GeoReport v2"
OPENAPI_URL = "/api/v1/openapi.json"
_BUILDING = threading.Lock()


class ErrorDocument(BaseModel):
    """Every refusal: an OGC-API-style exception document."""

    code: str
    type: str
    description: str
    details: list[str] | None = None
    request_id: str | None = None


ERROR_ANSWERS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorDocument, "description": what}
    for status, what in {
        400: "bad input: the description says which parameter and why",
        401: "credentials missing or refused (a refused bearer token is 401 on every path)",
        403: "the caller may not do this",
        404: "no such thing, or hidden from the caller (the two look alike)",
        406: "the answer cannot be given in the media type the Accept header asks for",
        409: "the state moved on (a concurrent change)",
        413: "the body is over its budget",
        429: "over the rate limit: see Retry-After",
        431: "the request line and headers are over their budget (a query string too long)",
        503: "the database or the render workers are busy or down: see Retry-After",
    }.items()
}  # fmt: skip


async def _validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's validation errors in the one error shape (400, naming the parameter)."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("query", "path", "body"))
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    return await errors.handle(request, InvalidInput(f"{where or 'the request'}: {message}"))


def rest_app(state: State, routers: list[Any]) -> FastAPI:
    """One FastAPI app holding ``routers``, sharing ``state`` with the platform's app."""
    app = FastAPI(title=TITLE, version="1", openapi_url=None, docs_url=None, redoc_url=None,
                  responses=ERROR_ANSWERS)  # fmt: skip
    app.state = state
    for router in routers:
        app.include_router(router)
    errors.install(app)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.openapi = lambda: _document(app)  # type: ignore[method-assign]
    app.add_route(OPENAPI_URL, _openapi_route, include_in_schema=False)
    return app


async def _openapi_route(request: Request) -> Response:
    """``/api/v1/openapi.json``, built once in a thread, not on the event loop as FastAPI's own route
    does: the first build takes a few hundred ms of CPU, which on the loop stalled every other
    request (``/health`` included) while it ran."""
    app = request.app
    return JSONResponse(await run_in_threadpool(app.openapi))


def _document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, less its 422 answers: validation errors are 400 here, like every refusal."""
    with _BUILDING:  # built once, however many ask at first
        return _build(app)


def _build(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        document = FastAPI.openapi(app)
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        for name in ("HTTPValidationError", "ValidationError"):
            document.get("components", {}).get("schemas", {}).pop(name, None)
        document.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "a token from `onemap tokens create`"}}
        document["security"] = [{}, {"bearer": []}]
        app.openapi_schema = document
    return app.openapi_schema
