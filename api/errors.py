"""One table from domain exception to HTTP status, installed on the app by one function.

Bodies have the shape of an OGC API exception document (``code``, ``type``, ``description``)
plus ``details`` (e.g. every offending feature), so /ogc and /api/v1 answer errors alike.
A 401 carries ``WWW-Authenticate: Bearer`` (RFC 6750), a 429 ``Retry-After``.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from spatial.access.tokens import InvalidToken
from spatial.errors import (
    Conflict,
    DatabaseUnavailable,
    Forbidden,
    InsufficientStorage,
    InvalidInput,
    NotFound,
    OnemapError,
    PayloadTooLarge,
    PreconditionFailed,
    TooManyRequests,
    Unauthorized,
)

log = logging.getLogger(__name__)
DATABASE_DOWN = (OperationalError, InterfaceError)  # connection refused, dropped, server shutting down
DRIVER_ERRORS = (*DATABASE_DOWN, DataError)  # DataError: a value PostgreSQL refuses (SQLSTATE 22…)
STATUS: dict[type[OnemapError], int] = {
    PayloadTooLarge: 413,
    InvalidInput: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    PreconditionFailed: 412,
    Conflict: 409,
    TooManyRequests: 429,
    DatabaseUnavailable: 503,
    InsufficientStorage: 507,
}


def status_of(err: OnemapError) -> int:
    """The status of the most specific class of ``err`` in the table (500 if none)."""
    for cls in type(err).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_response(err: OnemapError) -> JSONResponse:
    """The JSON answer for a domain error."""
    status = status_of(err)
    body: dict[str, object] = {"code": type(err).__name__, "type": type(err).__name__, "description": err.message}
    if err.details:
        body["details"] = err.details
    return JSONResponse(body, status_code=status, headers=error_headers(err))


def error_headers(err: OnemapError) -> dict[str, str]:
    """Headers an error needs: the Bearer challenge of a 401, Retry-After of a 429."""
    if isinstance(err, Unauthorized):
        return {"WWW-Authenticate": www_authenticate(err)}
    retry = getattr(err, "retry_after", None)
    return {"Retry-After": str(retry)} if retry else {}


def www_authenticate(err: OnemapError) -> str:
    """The challenge: plain for missing credentials, invalid_token when one was refused."""
    if not isinstance(err, InvalidToken):
        return 'Bearer realm="onemap"'
    reason = err.message.encode("ascii", "replace").decode().replace('"', "'")
    return f'Bearer realm="onemap", error="invalid_token", error_description="{reason}"'


async def _handle(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OnemapError)
    return error_response(exc)


async def _handle_database(request: Request, exc: Exception) -> Response:
    return error_response(from_driver(exc))


async def _handle_not_found(request: Request, exc: Exception) -> Response:
    """No route matched: the error document (Open311's format under /open311) instead of plain text."""
    err = NotFound(f"no such resource: {request.url.path[:200]}")
    if request.url.path.startswith("/open311/"):
        return JSONResponse([{"code": 404, "description": err.message}], status_code=404)
    return error_response(err)


def from_driver(exc: Exception) -> OnemapError:
    """A database driver's error as a domain error: refused values 400, outages 503."""
    if isinstance(exc, DataError):
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        # the reason may quote the value (personal data?): only its SQLSTATE goes to the log
        log.warning("the database refused a request value (SQLSTATE %s)", getattr(exc.orig, "sqlstate", None))
        return InvalidInput(f"a value of the request was refused: {reason[:200]}")
    return database_error(exc)


def database_error(exc: Exception) -> DatabaseUnavailable:
    """A driver's connection or availability error as a 503 the client may retry."""
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None) or ""
    if sqlstate.startswith(("57014", "55P03")):  # statement timeout, lock not available
        return DatabaseUnavailable("the database is busy: try again in a moment", retry_after=2)
    return DatabaseUnavailable("the database is not reachable at the moment: try again shortly", retry_after=5)


def install(app: Starlette) -> None:
    """Answer every uncaught domain error with its status and message; database outages with 503."""
    app.add_exception_handler(OnemapError, _handle)
    app.add_exception_handler(404, _handle_not_found)
    for driver_error in DRIVER_ERRORS:
        app.add_exception_handler(driver_error, _handle_database)
