"""REST: supervision (电子监察) and the unit grid.

- ``GET /supervision/overdue?department=&warnings=true``: incidents past or near their deadline;
- ``GET /supervision/kpis?by=department|district|street|community|cell|inspector&since=&until=``;
- ``GET /supervision/trend?since=&until=&interval=day``: reported, closed and overdue-open per day;
- ``GET /supervision/stream``: server-sent events, one per new event-log row (``Accept:
  text/event-stream``), keep-alive comments, resumable with ``Last-Event-ID``, budgeted;
- ``GET /grid/code?lon=&lat=&level=1s``: the GB/T 12409-style geographic grid code and the unit cell.

Supervision is for staff (any authenticated caller); the grid look-up is public.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections import deque
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from api.auth import presented_credentials, principal_of, still_valid
from api.errors import ProtocolRefusal
from api.limits import ConcurrencyBudget
from api.params import From, Lat, Lon, Since, To, Until
from api.routes.incidents import plain
from spatial.db import database_url, libpq_url, replica_read
from spatial.errors import DatabaseUnavailable, InvalidInput, Unauthorized
from spatial.grid.codes import geo_grid_code
from spatial.grid.lookup import cell_at
from spatial.incidents.feed import RESYNC, EventFeed, Subscription, events_after, last_event_id
from spatial.incidents.kpis import inspector_work, kpis, trend
from spatial.incidents.supervision import due_incidents
from spatial.params import MAX_ID, parse_int


def staff_only(request: Request) -> None:
    if principal_of(request) is None:
        raise Unauthorized("supervision is for staff: send Authorization: Bearer <token>")


router = APIRouter(prefix="/api/v1", tags=["supervision"])
KpiGrouping = Literal["department", "district", "street", "community", "cell", "inspector"]


@router.get("/supervision/overdue", summary="incidents past or near their deadline (staff)")
async def overdue(
    request: Request,
    department: Annotated[str | None, Query(max_length=64, description="one department's code")] = None,
    warnings: Annotated[bool, Query(description="include those near their deadline")] = True,
) -> Response:
    staff_only(request)

    def run() -> list[dict[str, Any]]:
        with request.app.state.engine.connect() as conn:
            return due_incidents(conn, department=department or None, include_warnings=warnings)

    items = await run_in_threadpool(run)
    return JSONResponse({"count": len(items), "incidents": items})


KPI_DOC = """For the incidents registered (立案) in the period [since, until): per group `registered`, `due`
(应结案数), `closed` (结案数), `closed_on_time` (按期结案数), `handled`, `reworked`, `closure_rate` (结案率),
`on_time_closure_rate` (按期结案率), `rework_rate` (返工率) and `mean_handling_hours`; `formulas` says how.
With `by=inspector` (groups: who filed, source inspector) the answer also has `work`: `[{"inspector",
"filed", "verified", "rework_ordered"}]`, each inspector's filings and 核查 (verify/rework) in the period. `from`/`to` are accepted as `since`/`until`."""


@router.get("/supervision/kpis", summary="closure, on-time closure, rework and handling time per group (staff)",
            description=KPI_DOC)  # fmt: skip
async def kpi_endpoint(request: Request, by: KpiGrouping = "department", since: Since = None,
                       until: Until = None, from_: From = None, to: To = None) -> Response:  # fmt: skip
    staff_only(request)
    start, end = _period(since, from_, until, to)

    def run() -> dict[str, Any]:
        with replica_read(request.app.state.engine) as conn:
            out: dict[str, Any] = {"groups": kpis(conn, by, since=start, until=end)}
            if by == "inspector":
                out["work"] = inspector_work(conn, since=start, until=end)
            return out

    answer = {"by": by, "since": start, "until": end, "formulas": FORMULAS} | await run_in_threadpool(run)
    return JSONResponse(plain(answer))


@router.get("/supervision/trend", summary="incidents reported, closed and open-overdue per day (staff)",
            description="Per local day (the working calendar's time zone) of [since, until] (default: the last "
                        "30 days; at most 366 days, 400 beyond): `reported`, `closed` and `overdue_open` (open at "
                        "the day's end and past the stage deadline in force then, from the event log). Answer: "
                        "`{\"interval\": \"day\", \"days\": [{\"day\", \"reported\", \"closed\", "
                        "\"overdue_open\"}]}`.")  # fmt: skip
async def trend_endpoint(
    request: Request, since: Since = None, until: Until = None, from_: From = None, to: To = None,
    interval: Annotated[Literal["day"], Query(description="the bucket: day")] = "day",
) -> Response:
    staff_only(request)
    start, end = _period(since, from_, until, to)

    def run() -> list[dict[str, Any]]:
        with request.app.state.engine.connect() as conn:
            return trend(conn, since=start, until=end)

    return JSONResponse({"interval": interval, "days": await run_in_threadpool(run)})


def _period(since: dt.datetime | None, from_: dt.datetime | None, until: dt.datetime | None,
            to: dt.datetime | None) -> tuple[dt.datetime | None, dt.datetime | None]:  # fmt: skip
    """The period asked for, by since/until or their aliases from/to (not both of a pair)."""
    if since is not None and from_ is not None:
        raise InvalidInput("give since or from, not both")
    if until is not None and to is not None:
        raise InvalidInput("give until or to, not both")
    start, end = since or from_, until or to
    if start is not None and end is not None and end < start:
        raise InvalidInput("until is before since: the period ends before it starts")
    return start, end


STREAM_DOC = """Server-sent events (`text/event-stream`) for staff: for each new row of the incidents' event log
`event: incident`, `id: <event id>` and `data: {"incident_id", "action", "state", "at", "event_id"}`; a
`: keepalive` comment every 15 s (`ONEMAP_STREAM_KEEPALIVE_S`). Send `Accept: text/event-stream` (EventSource
does; anything else is 406: a crawler must not hold a stream). Reconnecting with `Last-Event-ID` first
replays what was missed. Budgets: at most `ONEMAP_MAX_STREAMS` streams at once per server process (429
with Retry-After beyond); each ends after `ONEMAP_STREAM_MAX_S` (10 min) and EventSource reconnects; the
caller's token is checked again at every keep-alive and a revoked or expired one ends the stream."""


@router.get("/supervision/stream", summary="live incident events as server-sent events (staff)",
            description=STREAM_DOC, response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "the event stream"}})  # fmt: skip
async def stream(
    request: Request,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=40,
                                                description="resume after this event id")] = None,  # fmt: skip
) -> Response:
    staff_only(request)
    if "text/event-stream" not in request.headers.get("accept", ""):
        raise ProtocolRefusal(406, "this is an event stream: send Accept: text/event-stream (EventSource does)")
    resume = None if not last_event_id else parse_int(last_event_id, name="Last-Event-ID", minimum=0, maximum=MAX_ID)
    app, settings = request.app, request.app.state.settings
    budget = _stream_budget(app)
    budget.acquire()
    try:
        feed = _feed(app)
        try:
            subscription = await feed.subscribe()
        except TimeoutError:
            raise DatabaseUnavailable("the event feed cannot listen to the database: try again shortly",
                                      retry_after=5) from None  # fmt: skip
        try:
            start = resume if resume is not None else await run_in_threadpool(_last_event_id, app)
        except BaseException:
            feed.unsubscribe(subscription)
            raise
    except BaseException:
        budget.release()
        raise
    events = _events(app, subscription, start, resume is not None, presented_credentials(request),
                     settings.stream_keepalive_s, settings.stream_max_s)  # fmt: skip
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events, media_type="text/event-stream", headers=headers)


async def _events(app: Any, subscription: Subscription, last: int, catch_up: bool, credentials: str | None,
                  keepalive_s: float, max_s: float) -> AsyncIterator[str]:  # fmt: skip
    """The stream's text: catch-up, then notifications as they come, keep-alives, until the budget ends it."""
    loop = asyncio.get_running_loop()
    sent: deque[int] = deque(maxlen=4096)  # ids already sent: a notification may follow its catch-up
    ends = loop.time() + max_s
    check_at = loop.time() + keepalive_s
    try:
        yield f"retry: 3000\n: stream of incident events; ends after {max_s:g} s\n\n"
        pending: list[dict[str, Any]] = await run_in_threadpool(_after, app, last) if catch_up else []
        while True:
            for item in pending:
                event_id = int(item["event_id"])
                if event_id in sent:
                    continue
                sent.append(event_id)
                last = max(last, event_id)
                yield _frame(item)
            pending = []
            now = loop.time()
            if now >= ends:
                return
            if now >= check_at:
                if not await _holds(app, credentials):
                    yield "event: end\ndata: {\"reason\": \"credentials no longer valid\"}\n\n"
                    return
                yield ": keepalive\n\n"
                check_at = now + keepalive_s
            try:
                item = await asyncio.wait_for(subscription.queue.get(), max(0.0, min(check_at, ends) - now))
            except TimeoutError:
                continue
            pending = await run_in_threadpool(_after, app, last) if item is RESYNC else [item]
    finally:
        _feed(app).unsubscribe(subscription)
        _stream_budget(app).release()


async def _holds(app: Any, credentials: str | None) -> bool:
    """Whether the stream's credentials still hold (a database outage ends the stream too: the client
    reconnects and is answered 503 like any request)."""
    if credentials is None:
        return False
    try:
        return await run_in_threadpool(still_valid, app.state.engine, credentials)
    except Exception:
        return False


def _frame(item: dict[str, Any]) -> str:
    data = {k: item.get(k) for k in ("incident_id", "action", "state", "at", "event_id")}
    return f"event: incident\nid: {int(item['event_id'])}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _after(app: Any, last: int) -> list[dict[str, Any]]:
    with app.state.engine.connect() as conn:
        return events_after(conn, last)


def _last_event_id(app: Any) -> int:
    with app.state.engine.connect() as conn:
        return last_event_id(conn)


def _stream_budget(app: Any) -> ConcurrencyBudget:
    """The process's stream budget (``ONEMAP_MAX_STREAMS``), made on first use."""
    budget = getattr(app.state, "stream_budget", None)
    if budget is None:
        budget = app.state.stream_budget = ConcurrencyBudget(app.state.settings.max_streams, "event streams")
    return budget


def _feed(app: Any) -> EventFeed:
    """The process's one listening feed, made on first use."""
    feed = getattr(app.state, "incident_feed", None)
    if feed is None:
        feed = app.state.incident_feed = EventFeed(libpq_url(database_url(app.state.settings)))
    return feed


@router.get("/grid/code", summary="the GB/T 12409-style grid code of a point, and its unit cell")
async def grid_code(
    request: Request, lon: Lon, lat: Lat,
    level: Annotated[Literal["1d", "10m", "1m", "10s", "1s"], Query(description="grid level")] = "1s",
) -> Response:
    geo = geo_grid_code(lon, lat, level)

    def run() -> Any:
        with request.app.state.engine.connect() as conn:
            return cell_at(conn, lon, lat)

    hit = await run_in_threadpool(run)
    cell = None if hit is None else {"code": hit.code, "community_code": hit.community_code,
                                     "street_code": hit.street_code, "district_code": hit.district_code,
                                     "grid_version": hit.version_id}  # fmt: skip
    return JSONResponse({"lon": lon, "lat": lat, "geo_grid": {"code": geo.code, "level": geo.level,
                         "bounds": list(geo.bounds), "standard": "GB/T 12409-2009 style"}, "unit_cell": cell})  # fmt: skip


FORMULAS = {
    "closure_rate": "closed / due (结案数 / 应结案数)",
    "on_time_closure_rate": "closed on time / due (按期结案数 / 应结案数)",
    "rework_rate": "reworked / handled (返工案件数 / 处置案件数)",
    "mean_handling_hours": "mean working hours from first dispatch to last handling feedback, over closed",
    "due": "registered in the period and closed, or past the handling deadline (not suspended or merged)",
}
