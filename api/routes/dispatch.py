"""REST: dispatch of emergency units, 119/120/110 (/api/v1/dispatch).

- ``GET /dispatch/units?service=&status=&department=``: the unit board (staff);
- ``POST /dispatch/units``: add a unit of the caller's department (201; 409: call sign taken);
- ``GET /dispatch/units/{unit_id}``; ``POST /dispatch/units/{unit_id}/status`` ``{"status", "at", "lon", "lat"}``:
  a crew's report (on_scene, returning, available, out_of_service; 409: the unit moved on);
- ``GET /dispatch/calls?status=&service=&limit=&offset=``; ``POST /dispatch/calls``: take a call located by
  address, coordinates, grid_cell or location_code (dispatchers, 201);
- ``GET /dispatch/calls/{call_id}``: the call, its assignments and event log;
- ``GET /dispatch/calls/{call_id}/recommend?k=&max_seconds=&types=``: nearest available units by road ETA;
- ``POST /dispatch/calls/{call_id}/dispatch`` ``{"units": [ids]}``: send them (409: one is no longer available);
- ``POST /dispatch/calls/{call_id}/close`` ``{"outcome": "resolved"|"cancelled"}``;
- ``GET /dispatch/kpis?by=service|department|street&since=&until=``: share of calls meeting the response
  standards (``spatial/dispatch/standards.yaml``), per call and per group.

Thin: rules, locks and SQL live in ``spatial.dispatch``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.auth import principal_of
from api.params import From, Offset, Since, To, Until, instant_parser, limit_parser
from api.routes.incidents import plain
from spatial.dispatch import calls, kpis, recommend, units
from spatial.dispatch.models import (
    CALL_STATUSES,
    LOCATED_BY,
    OUTCOMES,
    SERVICES,
    UNIT_STATUSES,
    UNIT_TYPES,
)
from spatial.dispatch.roles import require_staff
from spatial.errors import InvalidInput
from spatial.params import (
    MAX_ID,
    parse_choices,
    parse_codes,
    parse_int,
    parse_number,
    parse_path_id,
)

router = APIRouter(prefix="/api/v1/dispatch", tags=["dispatch"])
T = TypeVar("T")

UnitId = Annotated[int, Path(ge=1, le=MAX_ID, description="unit id"),
                   BeforeValidator(lambda v: parse_path_id(v, what="unit"))]  # fmt: skip
CallId = Annotated[int, Path(ge=1, le=MAX_ID, description="call id"),
                   BeforeValidator(lambda v: parse_path_id(v, what="call"))]  # fmt: skip
Services = Annotated[str | None, Query(max_length=20, description="services, comma-separated: 119,120,110")]
UnitStatuses = Annotated[str | None, Query(max_length=100, description=f"unit statuses, comma-separated: "
                                                                          f"{', '.join(UNIT_STATUSES)}")]  # fmt: skip
CallStatuses = Annotated[str | None, Query(max_length=20, description="open, closed (comma-separated)")]
UnitTypes = Annotated[str | None, Query(max_length=100, description=f"unit types, comma-separated: "
                                                                       f"{', '.join(UNIT_TYPES)}")]  # fmt: skip
Department = Annotated[str | None, Query(max_length=64, description="one department's code"),
                       BeforeValidator(lambda v: (parse_codes(v, name="department") or (None,))[0])]  # fmt: skip
K = Annotated[int, Query(ge=1, le=recommend.MAX_K, description=f"how many units (1-{recommend.MAX_K}, default 3)"),
              BeforeValidator(lambda v: parse_int(v, name="k", minimum=1, maximum=recommend.MAX_K))]  # fmt: skip
MaxSeconds = Annotated[float | None, Query(ge=1, le=recommend.MAX_SECONDS, description="only units within this ETA"),
                       BeforeValidator(lambda v: parse_number(v, name="max_seconds", minimum=1,
                                                              maximum=recommend.MAX_SECONDS))]  # fmt: skip
CallLimit = Annotated[int, limit_parser(50, 500), Query(ge=1, le=500, description="most calls (default 50)")]
At = Annotated[dt.datetime | None, Field(default=None, description="when it happened (RFC 3339; default: now)"),
               instant_parser("at")]  # fmt: skip
Coordinate = Annotated[float | None, Field(default=None, allow_inf_nan=False)]


class UnitBody(BaseModel):
    """A unit to add (its department: the caller's own unless an admin names another)."""

    model_config = ConfigDict(extra="forbid")
    call_sign: str = Field(max_length=32, description="e.g. 归义消防1号, E001")
    unit_type: Literal[UNIT_TYPES] = Field(description="engine, ladder, rescue, tanker, ambulance, police")  # type: ignore[valid-type]
    lon: float = Field(description="base longitude (CRS84)")
    lat: float = Field(description="base latitude (CRS84)")
    department: str | None = Field(default=None, max_length=32, description="owning department (default: caller's)")
    station: str | None = Field(default=None, max_length=100)
    status: Literal["available", "out_of_service"] = "available"


class StatusBody(BaseModel):
    """A crew's status report."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["on_scene", "returning", "available", "out_of_service"]
    at: At = None
    lon: Coordinate = None
    lat: Coordinate = None


class CallBody(BaseModel):
    """A call: service, type, priority, and where: how it was located and what the caller said."""

    model_config = ConfigDict(extra="forbid")
    service: Literal[SERVICES]  # type: ignore[valid-type]
    call_type: str = Field(max_length=32, description="fire, medical, traffic, crime…")
    priority: int = Field(default=2, ge=1, le=5, description="1 most urgent … 5")
    located_by: Literal[LOCATED_BY] = Field(description="address, coordinates, grid_cell, location_code")  # type: ignore[valid-type]
    text: str | None = Field(default=None, max_length=200, description="the address, 'lon,lat', grid or location code")
    lon: Coordinate = None
    lat: Coordinate = None
    datum: str | None = Field(default=None, max_length=16, description="wgs84 (default), cgcs2000, gcj02, bd09")
    received_at: At = None


class DispatchBody(BaseModel):
    """The units to send."""

    model_config = ConfigDict(extra="forbid")
    units: list[int] = Field(min_length=1, max_length=calls.MAX_UNITS_PER_DISPATCH)
    at: At = None


class CloseBody(BaseModel):
    """How the call ends."""

    model_config = ConfigDict(extra="forbid")
    outcome: Literal[OUTCOMES] = "resolved"  # type: ignore[valid-type]
    at: At = None


async def _read(request: Request, work: Callable[[Any], T]) -> T:
    def run() -> T:
        with request.app.state.engine.connect() as conn:
            return work(conn)

    return await run_in_threadpool(run)


async def _write(request: Request, work: Callable[[Any], T]) -> T:
    def run() -> T:
        with request.app.state.engine.begin() as conn:
            return work(conn)

    return await run_in_threadpool(run)


def _answer(value: Any, status: int = 200) -> Response:
    return JSONResponse(plain(value), status_code=status)


@router.get("/units", summary="the unit board: units with status and position (staff)")
async def unit_index(request: Request, service: Services = None, status: UnitStatuses = None,
                     department: Department = None) -> Response:  # fmt: skip
    require_staff(principal_of(request), "the unit board")
    services = parse_choices(service, SERVICES, name="service")
    statuses = parse_choices(status, UNIT_STATUSES, name="status")
    found = await _read(request, lambda conn: units.list_units(conn, services=services, statuses=statuses,
                                                               department=department))  # fmt: skip
    return _answer({"count": len(found), "units": found})


@router.post("/units", status_code=201, summary="add a unit (editors of its department)")
async def unit_create(request: Request, body: UnitBody) -> Response:
    principal = principal_of(request)
    department = body.department or (principal.department_code if principal else None)
    if not department:
        raise InvalidInput("department: name the unit's department")
    unit = units.NewUnit(body.call_sign, body.unit_type, department, body.lon, body.lat, body.station,
                         status=body.status)  # fmt: skip
    return _answer(await _write(request, lambda conn: units.add_unit(conn, unit, principal=principal)), 201)


@router.get("/units/{unit_id}", summary="one unit (staff)")
async def unit_record(request: Request, unit_id: UnitId) -> Response:
    require_staff(principal_of(request), "the unit board")
    return _answer(await _read(request, lambda conn: units.get_unit(conn, unit_id)))


@router.post("/units/{unit_id}/status", summary="a crew's status report (its department; dispatchers relay)")
async def unit_status(request: Request, unit_id: UnitId, body: StatusBody) -> Response:
    principal = principal_of(request)
    return _answer(await _write(request, lambda conn: units.report_status(
        conn, unit_id, body.status, principal=principal, at=body.at, lon=body.lon, lat=body.lat)))


@router.get("/calls", summary="calls, newest first (staff)")
async def call_index(request: Request, status: CallStatuses = None, service: Services = None,
                     limit: CallLimit = 50, offset: Offset = 0) -> Response:  # fmt: skip
    require_staff(principal_of(request), "the calls")
    statuses = parse_choices(status, CALL_STATUSES, name="status")
    services = parse_choices(service, SERVICES, name="service")
    found = await _read(request, lambda conn: calls.list_calls(conn, statuses=statuses, services=services, limit=limit,
                                                               offset=offset))  # fmt: skip
    return _answer({"count": len(found), "calls": found, "limit": limit, "offset": offset})


@router.post("/calls", status_code=201, summary="take a call (dispatchers: editors of 'command')")
async def call_create(request: Request, body: CallBody) -> Response:
    principal = principal_of(request)
    call = calls.NewCall(body.service, body.call_type, body.located_by, body.text, body.priority, body.lon, body.lat,
                         body.datum, body.received_at)  # fmt: skip
    return _answer(await _write(request, lambda conn: calls.take_call(conn, call, principal=principal)), 201)


@router.get("/calls/{call_id}", summary="a call with its assignments and event log (staff)")
async def call_record(request: Request, call_id: CallId) -> Response:
    require_staff(principal_of(request), "the calls")
    return _answer(await _read(request, lambda conn: calls.get_call(conn, call_id)))


@router.get("/calls/{call_id}/recommend", summary="the nearest available units by road ETA (staff)")
async def call_recommend(request: Request, call_id: CallId, k: K = 3, max_seconds: MaxSeconds = None,
                         types: UnitTypes = None) -> Response:  # fmt: skip
    principal = principal_of(request)
    wanted = parse_choices(types, UNIT_TYPES, name="types")
    # in a transaction: the first request after a road change (re)builds the prepared graph, kept for the next
    return _answer(await _write(request, lambda conn: recommend.recommend(
        conn, call_id, principal=principal, k=k, max_seconds=max_seconds, unit_types=wanted)))


@router.post("/calls/{call_id}/dispatch", summary="send units to the call (dispatchers; 409: no longer available)")
async def call_dispatch(request: Request, call_id: CallId, body: DispatchBody) -> Response:
    principal = principal_of(request)
    return _answer(await _write(request, lambda conn: calls.dispatch(conn, call_id, body.units, principal=principal,
                                                                     at=body.at)))  # fmt: skip


@router.post("/calls/{call_id}/close", summary="close or cancel the call (dispatchers)")
async def call_close(request: Request, call_id: CallId, body: CloseBody) -> Response:
    principal = principal_of(request)
    return _answer(await _write(request, lambda conn: calls.close_call(conn, call_id, body.outcome,
                                                                       principal=principal, at=body.at)))  # fmt: skip


@router.get("/kpis", summary="response times against the standards, per call and per group (staff)")
async def dispatch_kpis(request: Request, by: Literal["service", "department", "street"] = "service",
                        since: Since = None, until: Until = None, from_: From = None, to: To = None) -> Response:  # fmt: skip
    require_staff(principal_of(request), "the KPIs")
    if (since and from_) or (until and to):
        raise InvalidInput("give since or from, until or to, not both")
    start, end = since or from_, until or to
    if start and end and end < start:
        raise InvalidInput("until lies before since")
    standards = kpis.read_standards()
    answer = await _read(request, lambda conn: kpis.response_kpis(conn, standards, by=by, since=start, until=end))
    rules = {s.service: {"unit_types": s.unit_types, "criteria": s.criteria, "combine": s.combine,
                         "name_zh": s.name_zh, "name_en": s.name_en} for s in standards.values()}  # fmt: skip
    return _answer(answer | {"since": start, "until": end, "standards": rules})
