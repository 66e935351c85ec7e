"""The one error contract: a domain exception becomes a status, an OGC code and a body here.

Every door maps through this module: Starlette routes (the handlers installed by
``install``), the REST and Open311 routes (``error_response`` / ``open311_body``), WMTS (an OWS
ExceptionReport, ``ows_error_response``, with the same status and code), the pygeoapi
providers and processes (``api.ogc.errors`` derives pygeoapi's exception classes from the same
two attributes), and the notebooks' client (``layers.client.remote`` maps statuses back to the
same classes). Status and code live on the exception class itself (``spatial.errors``).

Bodies have the shape of an OGC API exception document (``code``, ``type``, ``description``)
plus ``details`` (e.g. every offending feature), so /ogc and /api/v1 answer errors alike.
A 401 carries ``WWW-Authenticate: Bearer`` (RFC 6750), a 429 or 503 ``Retry-After``. Anything
that is not a domain error is a real fault: a 500 whose body carries only a request id, logged
with its traceback under that id.
"""

from __future__ import annotations

import logging
import re
import uuid
from http import HTTPStatus

from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from spatial.access.tokens import InvalidToken
from spatial.errors import DatabaseUnavailable, InvalidInput, NotFound, OnemapError, Unauthorized

log = logging.getLogger(__name__)
DATABASE_DOWN = (OperationalError, InterfaceError)  # connection refused, dropped, server shutting down
DRIVER_ERRORS = (*DATABASE_DOWN, DataError)  # DataError: a value PostgreSQL refuses (SQLSTATE 22…)
OWS_NS = "http://www.opengis.net/ows/1.1"
OWS_PATHS = re.compile(r"^/wmts(/|$)")  # doors whose clients read OWS exception reports
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")  # characters XML 1.0 cannot carry


def status_of(err: OnemapError) -> int:
    """The HTTP status of a domain error (carried by its class)."""
    return err.status


def error_body(err: OnemapError) -> dict[str, object]:
    """The OGC-API-shaped exception document of a domain error."""
    body: dict[str, object] = {"code": err.code, "type": type(err).__name__, "description": err.message}
    if err.details:
        body["details"] = err.details
    return body


def error_response(err: OnemapError) -> JSONResponse:
    """The JSON answer for a domain error."""
    return JSONResponse(error_body(err), status_code=err.status, headers=error_headers(err))


def ows_exception_report(err: OnemapError) -> bytes:
    """The same error as an OWS 1.1 ExceptionReport (WMTS): the class's code, its locator if any."""
    import xml.etree.ElementTree as ET

    ET.register_namespace("ows", OWS_NS)
    report = ET.Element(f"{{{OWS_NS}}}ExceptionReport", {"version": "1.1.0", "{http://www.w3.org/XML/1998/namespace}lang": "en"})
    attributes = {"exceptionCode": err.code}
    locator = getattr(err, "locator", None)
    if locator:
        attributes["locator"] = str(locator)
    exception = ET.SubElement(report, f"{{{OWS_NS}}}Exception", attributes)
    ET.SubElement(exception, f"{{{OWS_NS}}}ExceptionText").text = NOT_XML.sub("", err.message)
    return bytes(ET.tostring(report, encoding="utf-8", xml_declaration=True))


def ows_error_response(err: OnemapError) -> Response:
    """The XML answer for a domain error at an OWS door (WMTS), with the status of its class."""
    return Response(ows_exception_report(err), status_code=err.status, media_type="application/xml",
                    headers=error_headers(err))  # fmt: skip


def open311_body(err: OnemapError) -> list[dict[str, object]]:
    """The same error in GeoReport v2's list format."""
    return [{"code": err.status, "description": err.message}]


def error_headers(err: OnemapError) -> dict[str, str]:
    """Headers an error needs: the Bearer challenge of a 401, Retry-After of a 429 or 503."""
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


def as_domain_error(exc: BaseException) -> OnemapError | None:
    """``exc`` as a domain error: itself, a driver error translated, or None (a real fault)."""
    if isinstance(exc, OnemapError):
        return exc
    if isinstance(exc, DRIVER_ERRORS):
        return from_driver(exc)
    return None


def fault_response(exc: BaseException, path: str) -> JSONResponse:
    """A real fault: logged with its traceback under a new request id, which the answer carries."""
    request_id = uuid.uuid4().hex[:16]
    log.error("fault %s on %s", request_id, path[:200], exc_info=exc)
    body = {"code": "ServerError", "type": "ServerError", "request_id": request_id,
            "description": f"an internal error occurred; quote request id {request_id}"}  # fmt: skip
    return JSONResponse(body, status_code=500, headers={"X-Request-Id": request_id})


def response_for(exc: BaseException, path: str) -> JSONResponse:
    """The answer for any exception: the domain error's, or a logged 500 with a request id."""
    err = as_domain_error(exc)
    return error_response(err) if err is not None else fault_response(exc, path)


async def handle(request: Request, exc: Exception) -> Response:
    """The answer for an exception at any door (Open311's list format under /open311, OWS XML under /wmts)."""
    err = as_domain_error(exc)
    if err is not None and request.url.path.startswith("/open311/"):
        return JSONResponse(open311_body(err), status_code=err.status, headers=error_headers(err))
    if err is not None and OWS_PATHS.match(request.url.path):
        return ows_error_response(err)
    return response_for(exc, request.url.path)


async def _handle_not_found(request: Request, exc: Exception) -> Response:
    """No route matched: the error document (Open311's format under /open311) instead of plain text."""
    return await handle(request, NotFound(f"no such resource: {request.url.path[:200]}"))


class ProtocolRefusal(OnemapError):
    """A refusal raised by the framework itself (405 method, malformed multipart…), with its status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = HTTPStatus(status).phrase.replace(" ", "") if status in HTTPStatus._value2member_map_ else "Refused"


async def _handle_http(request: Request, exc: Exception) -> Response:
    """Starlette's and FastAPI's own HTTPExceptions, answered in the one error shape."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return await _handle_not_found(request, exc)
    answer = await handle(request, ProtocolRefusal(exc.status_code, str(exc.detail)[:300]))
    answer.headers.update(exc.headers or {})
    return answer


async def _handle_fault(request: Request, exc: Exception) -> Response:
    return fault_response(exc, request.url.path)


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
    """Answer domain errors with their status, outages with 503, and real faults with a logged 500."""
    app.add_exception_handler(OnemapError, handle)
    app.add_exception_handler(404, _handle_not_found)
    app.add_exception_handler(HTTPException, _handle_http)
    for driver_error in DRIVER_ERRORS:
        app.add_exception_handler(driver_error, handle)
    app.add_exception_handler(Exception, _handle_fault)
