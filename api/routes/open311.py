"""Open311 GeoReport v2 at /open311/v2, so existing 311 clients file and follow incidents.

- ``GET services.{json,xml}``: our categories as services (service_code = the 4-digit code);
- ``GET services/{code}.{json,xml}``: a service definition (no extra attributes);
- ``GET requests.{json,xml}``: public records (service_request_id, service_code, start_date,
  end_date, status filters; the last 90 days by default);
- ``POST requests.{json,xml}``: file one (form fields as the specification lists them;
  ``api_key`` is one of our bearer tokens; a multipart ``media`` part is kept as a photo);
- ``GET requests/{id}.{json,xml}``.

Errors use the specification's format (a list of ``code``/``description``) with the HTTP status.
Nothing personal leaves through GET. XML is written with ElementTree and any XML that comes in
is read with defusedxml (no entities, no DTDs).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from xml.etree import ElementTree

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.errors import DRIVER_ERRORS, as_domain_error, error_headers, open311_body
from api.limits import read_limited
from api.params import instant_parser
from api.routes.incident_forms import IdempotencyKey, body_doc, instant, number, read_body
from spatial.access.principal import Principal
from spatial.access.tokens import authenticate, token_cache
from spatial.errors import InvalidInput, NotFound, OnemapError, Unauthorized
from spatial.extent import ExtentRule
from spatial.incidents import queries
from spatial.incidents.categories import list_categories
from spatial.incidents.filing import IncidentReport, file_incident
from spatial.incidents.filing_keys import file_once, parse_key
from spatial.incidents.photos import check_photos
from spatial.params import parse_id

DEFAULT_WINDOW = dt.timedelta(days=90)
FORMATS = ("json", "xml")

MAX_XML_BYTES = 1024 * 1024  # an Open311 request in XML is a few fields: 1 MiB is generous


def fmt_of(request: Request) -> str:
    value = request.path_params.get("fmt", "json")
    if value not in FORMATS:
        raise NotFound(f"format {value!r} unknown: use .json or .xml")
    return str(value)


def answer(request: Request, root: str, item: str, rows: list[dict[str, Any]], status: int = 200) -> Response:
    """A JSON list, or XML ``<root><item>…</item></root>``."""
    if request.path_params.get("fmt", "json") == "xml":
        return Response(to_xml(root, item, rows), status_code=status, media_type="text/xml; charset=utf-8")
    return JSONResponse(rows, status_code=status)


def to_xml(root: str, item: str, rows: list[dict[str, Any]]) -> bytes:
    top = ElementTree.Element(root)
    for row in rows:
        element = ElementTree.SubElement(top, item)
        for key, value in row.items():
            child = ElementTree.SubElement(element, key)
            if isinstance(value, list):
                child.text = None
            elif value is not None:
                child.text = str(value).lower() if isinstance(value, bool) else str(value)
    return b'<?xml version="1.0" encoding="utf-8"?>' + ElementTree.tostring(top, encoding="utf-8")


def open311(handler: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
    """Domain errors in Open311's error format (JSON or XML, as the path asks), with their HTTP status."""

    @functools.wraps(handler)  # FastAPI reads the handler's own parameters through this
    async def wrapped(request: Request, **params: Any) -> Response:
        try:
            return await handler(request, **params)
        except (OnemapError, *DRIVER_ERRORS) as caught:
            err = as_domain_error(caught)
            assert err is not None
            status, rows, headers = err.status, open311_body(err), error_headers(err)
            if request.path_params.get("fmt") == "xml":
                return Response(to_xml("errors", "error", rows), status_code=status, headers=headers,
                                media_type="text/xml; charset=utf-8")  # fmt: skip
            return JSONResponse(rows, status_code=status, headers=headers)

    return wrapped


def w3c(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


# ------------------------------------------------------------------------------------- services
def service_of(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "service_code": row["code"], "service_name": f"{row['name_zh']} {row['name_en']}",
        "description": f"{row['major_name_zh']} / {row['name_zh']} ({row['kind']})", "metadata": False,
        "type": "realtime", "keywords": f"{row['kind']},{row['major_name_en']}",
        "group": f"{row['major_name_zh']} {row['major_name_en']}",
    }  # fmt: skip


async def _categories(request: Request) -> list[dict[str, Any]]:
    def run() -> list[dict[str, Any]]:
        with request.app.state.engine.connect() as conn:
            return list_categories(conn)

    return await run_in_threadpool(run)


class Open311Error(BaseModel):
    """One error in GeoReport v2's format; the answer is a list of them (in XML: <errors><error>…)."""

    code: int
    description: str


OPEN311_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": list[Open311Error], "description": what,
             "content": {"text/xml": {"schema": {"type": "string"}}}}
    for status, what in {400: "bad input", 401: "api_key missing or refused", 403: "not allowed",
                         404: "no such service, request or format", 413: "the body is over its budget",
                         429: "over the rate limit", 503: "busy or down: see Retry-After"}.items()
}  # fmt: skip
OPEN311_OK: dict[int | str, dict[str, Any]] = {200: {"content": {"application/json": {}, "text/xml": {"schema": {"type": "string"}}}}}
router = APIRouter(prefix="/open311/v2", tags=["Open311 GeoReport v2"], responses={**OPEN311_ERRORS, **OPEN311_OK})
Format = Annotated[str, Path(description="json or xml")]
Codes = Annotated[str | None, Query(max_length=2000, description="comma-separated")]
StartDate = Annotated[dt.datetime | None, Query(description="W3C date-time: requested since (default: 90 days)"),
                      instant_parser("start_date")]  # fmt: skip
EndDate = Annotated[dt.datetime | None, Query(description="W3C date-time: requested until"), instant_parser("end_date")]


class Open311Body(BaseModel):
    """POST requests.{json,xml}: the fields GeoReport v2 lists (form-encoded, multipart with ``media``, or XML)."""

    api_key: str = Field(max_length=200, description="a bearer token of ours")
    service_code: str = Field(max_length=16)
    lat: float | None = Field(default=None, ge=-90, le=90)
    long: float | None = Field(default=None, ge=-180, le=180)
    address_string: str | None = Field(default=None, max_length=500)
    description: str | None = Field(default=None, max_length=4000)
    email: str | None = Field(default=None, max_length=200)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=50)
    device_id: str | None = Field(default=None, max_length=200)
    media_url: str | None = Field(default=None, max_length=2000)


@router.get("/services.{fmt}", summary="the categories as Open311 services")
@open311
async def services(request: Request, fmt: Format) -> Response:
    fmt_of(request)
    return answer(request, "services", "service", [service_of(r) for r in await _categories(request)])


@router.get("/services/{code}.{fmt}", summary="a service definition (no extra attributes)")
@open311
async def service_definition(request: Request, code: Annotated[str, Path(max_length=16)], fmt: Format) -> Response:
    fmt_of(request)
    if code not in {r["code"] for r in await _categories(request)}:
        raise NotFound(f"no service {code!r}")
    if request.path_params.get("fmt") == "xml":
        body = to_xml("service_definition", "attributes", [{"service_code": code}])
        return Response(body, media_type="text/xml; charset=utf-8")
    return JSONResponse({"service_code": code, "attributes": []})


# ------------------------------------------------------------------------------------- requests
def request_of(row: dict[str, Any], base: str) -> dict[str, Any]:
    media = f"{base}/api/v1/incidents/{row['id']}/photos/{row['photo_ids'][0]}" if row.get("photo_ids") else None
    return {
        "service_request_id": str(row["id"]), "status": row["status"], "status_notes": row["state"],
        "service_name": row["category_zh"], "service_code": row["category_code"],
        "description": row["description"], "agency_responsible": row["department_code"],
        "service_notice": f"unit cell {row['cell_code']}" if row.get("cell_code") else None,
        "requested_datetime": w3c(row["reported_at"]), "updated_datetime": w3c(row["updated_at"]),
        "expected_datetime": None, "address": row["address"], "address_id": row.get("cell_code"),
        "zipcode": None, "lat": row["lat"], "long": row["lon"], "media_url": media,
    }  # fmt: skip


@router.get("/requests.{fmt}", summary="public service requests (nothing personal)")
@open311
async def list_requests(request: Request, fmt: Format, service_request_id: Codes = None, service_code: Codes = None,
                        start_date: StartDate = None, end_date: EndDate = None,
                        status: Annotated[str | None, Query(max_length=100, description="open, closed")] = None,
                        ) -> Response:  # fmt: skip
    fmt_of(request)
    ids = _ids(service_request_id)
    end, start = end_date, start_date
    if ids is None and start is None:
        start = (end or dt.datetime.now(dt.UTC)) - DEFAULT_WINDOW
    codes = [c for c in (service_code or "").split(",") if c] or None
    statuses = [s for s in (status or "").split(",") if s] or None

    def run() -> list[dict[str, Any]]:
        with request.app.state.engine.connect() as conn:
            return queries.public_incidents(conn, ids=ids, categories=codes, statuses=statuses,
                                            since=None if ids else start, until=None if ids else end)  # fmt: skip

    base = request.app.state.settings.base_url
    return answer(request, "service_requests", "request", [request_of(r, base) for r in await run_in_threadpool(run)])


@router.get("/requests/{id}.{fmt}", summary="one service request")
@open311
async def one_request(request: Request, id: Annotated[str, Path(max_length=200)], fmt: Format) -> Response:  # noqa: A002
    fmt_of(request)
    raw = id
    try:
        ids = _ids(raw)
    except InvalidInput:  # a path that names no request
        raise NotFound(f"no service request {raw[:40]!r}") from None

    def run() -> list[dict[str, Any]]:
        with request.app.state.engine.connect() as conn:
            return queries.public_incidents(conn, ids=ids)

    rows = await run_in_threadpool(run)
    if not rows:
        raise NotFound(f"no service request {raw!r}")
    base = request.app.state.settings.base_url
    return answer(request, "service_requests", "request", [request_of(r, base) for r in rows])


@router.post("/requests.{fmt}", status_code=201, summary="file a service request (api_key: a bearer token of ours)",
             openapi_extra=body_doc(Open311Body, photos=False),
             responses={201: {"content": {"application/json": {}, "text/xml": {"schema": {"type": "string"}}}}})  # fmt: skip
@open311
async def post_request(request: Request, fmt: Format, idempotency_key: IdempotencyKey = None) -> Response:
    fmt_of(request)
    key = parse_key(idempotency_key)
    if request.headers.get("content-type", "").split(";")[0].strip() in ("application/xml", "text/xml"):
        fields, photos = xml_fields(await read_limited(request, MAX_XML_BYTES, "the XML body")), []  # type: ignore[var-annotated]
    else:
        fields, photos = await read_body(request, photo_fields=("media",))
    principal = await run_in_threadpool(_principal, request, fields.get("api_key"))
    request.app.state.rate_limiter.check_token(principal)
    report = report_of(fields, photos, principal)
    engine, extent = request.app.state.engine, ExtentRule.from_settings(request.app.state.settings)
    if key is None:
        filed = (await run_in_threadpool(file_incident, engine, report, principal=principal, extent=extent)).as_dict()
    else:  # sent again with the same key: the request already filed, not a second one
        filed, _ = await run_in_threadpool(file_once, engine, report, key, principal=principal, extent=extent)
    cell = f", unit cell {filed['cell_code']}" if filed["cell_code"] else ""
    row = {"service_request_id": str(filed["id"]), "service_notice": f"routed to {filed['department_code']}{cell}",
           "account_id": None}  # fmt: skip
    return answer(request, "service_requests", "request", [row], status=201)


def report_of(fields: dict[str, Any], photos: list[tuple[str, bytes]], principal: Principal) -> IncidentReport:
    """GeoReport fields → our report (reporter = first/last name, contact = email or phone)."""
    name = " ".join(p for p in (fields.get("first_name"), fields.get("last_name")) if p) or None
    contact = fields.get("email") or fields.get("phone") or None
    description = str(fields.get("description") or "")
    if fields.get("media_url"):
        description += f"\nmedia: {fields['media_url']}"
    return IncidentReport(
        category_code=str(fields.get("service_code") or ""), description=description,
        lon=number(fields, "long", "lon"), lat=number(fields, "lat"),
        address=fields.get("address_string") or None,
        source="inspector" if principal.role == "inspector" else "public",
        reporter_name=name, reporter_contact=contact,
        reported_at=instant(fields.get("requested_datetime"), "requested_datetime"),
        external_id=fields.get("device_id") or fields.get("account_id") or None, photos=check_photos(photos),
    )  # fmt: skip


def _principal(request: Request, api_key: Any) -> Principal:
    """Whoever holds ``api_key`` (a bearer token of ours); Open311 requires one to POST."""
    if not api_key:
        raise Unauthorized("api_key is required to submit a service request")
    engine = request.app.state.engine
    return authenticate(engine, f"Bearer {api_key}", token_cache(engine))  # the same cache as bearer headers


def xml_fields(body: bytes) -> dict[str, str]:
    """Fields of an XML body (``<request><service_code>…``), read safely: no DTD, no entities."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        root = fromstring(body, forbid_dtd=True)
    except (DefusedXmlException, ParseError) as err:
        raise InvalidInput(f"the XML body was refused: {type(err).__name__}") from None
    return {child.tag: (child.text or "") for child in root}


def _ids(value: str | None) -> list[int] | None:
    if value is None:
        return None
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not parts:
        raise InvalidInput("service_request_id must be numbers separated by commas")
    return [parse_id(p, name="service_request_id") for p in parts]


