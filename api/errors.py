"""One table from domain exception to HTTP status, installed on the app by one function.

Bodies have the shape of an OGC API exception document (``code``, ``type``, ``description``)
plus ``details`` (e.g. every offending feature), so /ogc and /api/v1 answer errors alike.
A 401 carries ``WWW-Authenticate: Bearer`` (RFC 6750), a 429 ``Retry-After``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from spatial.access.tokens import InvalidToken
from spatial.errors import (
    Conflict,
    DatabaseUnavailable,
    Forbidden,
    InvalidInput,
    NotFound,
    OnemapError,
    PayloadTooLarge,
    PreconditionFailed,
    TooManyRequests,
    Unauthorized,
)

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
    if isinstance(err, TooManyRequests):
        return {"Retry-After": str(err.retry_after)}
    return {}


def www_authenticate(err: OnemapError) -> str:
    """The challenge: plain for missing credentials, invalid_token when one was refused."""
    if not isinstance(err, InvalidToken):
        return 'Bearer realm="onemap"'
    reason = err.message.encode("ascii", "replace").decode().replace('"', "'")
    return f'Bearer realm="onemap", error="invalid_token", error_description="{reason}"'


async def _handle(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OnemapError)
    return error_response(exc)


def install(app: Starlette) -> None:
    """Answer every uncaught domain error with its status and message."""
    app.add_exception_handler(OnemapError, _handle)
