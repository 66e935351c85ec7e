"""REST: filing and moving incidents (/api/v1/incidents).

- ``GET /incidents?state=&stage=&street=&community=&department=&category=&light=&mine=&bbox=&q=&limit=&offset=&sort=``:
  the queue (staff), names joined, traffic light, ``numberMatched``;
- ``GET /incidents/categories``: the catalogue (the inspector page's picker);
- ``GET /incidents/inspectors``: who 核查 may be assigned to (``assign_verifier``; staff);
- ``POST /incidents``: file (JSON, or multipart with ``photo`` parts); 201 with routing,
  deadline and possible duplicates;
- ``GET /incidents/{id}``: the record (staff: everything; others: the public view);
- ``GET /incidents/{id}/events``: the event log (staff);
- ``POST /incidents/{id}/transitions``: ``{"action": "register", "reason": …, "version": …}``
  (multipart with ``photo`` for 处置反馈); 409 when the state moved on;
- ``POST /incidents/{id}/merge``: ``{"into": other_id}`` (supervision centre);
- ``GET /incidents/{id}/photos/{photo}``: a photo.

Thin: checks, routing and SQL live in ``spatial.incidents``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.auth import principal_of
from api.params import BboxText, IncidentId, Offset, PhotoId, Words, limit_parser
from api.routes.incident_forms import (
    IdempotencyKey,
    MergeBody,
    ReportBody,
    TransitionBody,
    body_doc,
    number,
    read_body,
    report_from,
)
from spatial.errors import InvalidInput, NotFound, Unauthorized
from spatial.extent import ExtentRule
from spatial.incidents import queries
from spatial.incidents.categories import list_categories
from spatial.incidents.filing import file_incident
from spatial.incidents.filing_keys import file_once, parse_key
from spatial.incidents.listing import (
    LIGHTS,
    MAX_LIMIT,
    MINE,
    SORTS,
    STAGES,
    QueueFilter,
    list_incidents,
)
from spatial.incidents.models import STATES
from spatial.incidents.photos import check_photos, read_photo, visible_photo_ids
from spatial.incidents.store import active_inspectors
from spatial.incidents.workflow import TransitionRequest, transition
from spatial.params import parse_choices, parse_codes, parse_int, parse_lonlat_bbox

PUBLIC_FIELDS = ("id", "category_code", "category_zh", "category_en", "state", "description", "address",
                 "department_code", "cell_code", "community_code", "street_code", "district_code",
                 "reported_at", "updated_at", "closed_at", "lon", "lat")  # fmt: skip


def plain(value: Any) -> Any:
    """JSON-ready values: datetimes as ISO 8601."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value




router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])


def _text(description: str, max_length: int = 2000) -> Any:
    return Query(max_length=max_length, description=description)


QUEUE_DOC = """The incident queue (案卷列表) for staff: every filter narrows it, a comma-separated list means
"any of". Each row carries the category, street, community and department names, the stage deadline
(`due_at`) and its traffic light (`light`: red = past due, yellow = the last 20 % of the stage's working
time, green otherwise, null when no clock runs: ended or suspended), the reporter (`reporter`: the
principal who filed it) and the assigned inspector of 核查 (`verifier`). `numberMatched` counts all
matches; page with `limit` (1-500) and `offset`. `mine=reported`: what the caller filed;
`mine=verify`: handled incidents whose 核查 is assigned to the caller. Anonymous callers: 401."""


@router.get("", summary="the incident queue: filtered, paged, names joined, traffic light (staff)",
            description=QUEUE_DOC)  # fmt: skip
async def incident_queue(
    request: Request,
    state: Annotated[str | None, _text(f"workflow states (comma-separated): {', '.join(STATES)}")] = None,
    stage: Annotated[str | None, _text(f"running stage clocks (comma-separated): {', '.join(STAGES)}")] = None,
    light: Annotated[str | None, _text(f"traffic lights (comma-separated): {', '.join(LIGHTS)}")] = None,
    street: Annotated[str | None, _text("street (街道) codes, comma-separated")] = None,
    community: Annotated[str | None, _text("community (社区) codes, comma-separated")] = None,
    department: Annotated[str | None, _text("handling department codes, comma-separated")] = None,
    category: Annotated[str | None, _text("category codes (4-digit subclass or 2-digit major class)")] = None,
    mine: Annotated[str | None, _text(f"only mine: {' | '.join(MINE)}", 20)] = None,
    bbox: BboxText = None,
    q: Words = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="most incidents per page (default 50)"),
                     limit_parser(50, MAX_LIMIT)] = 50,  # fmt: skip
    offset: Offset = 0,
    sort: Annotated[str | None, _text(f"order: {' | '.join(SORTS)} (default -reported)", 20)] = None,
) -> Response:
    principal = principal_of(request)
    queue = QueueFilter(
        states=parse_choices(state, STATES, name="state"), stages=parse_choices(stage, STAGES, name="stage"),
        lights=parse_choices(light, LIGHTS, name="light"), streets=parse_codes(street, name="street"),
        communities=parse_codes(community, name="community"), departments=parse_codes(department, name="department"),
        categories=parse_codes(category, name="category"), mine=_one(mine, MINE, "mine"),
        bbox=None if not bbox else parse_lonlat_bbox(bbox), q=q, sort=_one(sort, tuple(SORTS), "sort") or "-reported",
    )  # fmt: skip

    def run() -> dict[str, Any]:
        with request.app.state.engine.connect() as conn:
            return list_incidents(conn, queue, principal=principal, limit=limit, offset=offset)

    return JSONResponse(plain(await run_in_threadpool(run)))


def _one(value: str | None, allowed: tuple[str, ...], name: str) -> str | None:
    """One value out of ``allowed`` (None when absent)."""
    values = parse_choices(value, allowed, name=name)
    if len(values) > 1:
        raise InvalidInput(f"{name} takes one value, not {len(values)}")
    return values[0] if values else None


@router.get("/categories", summary="the category catalogue (部件/事件 classes and subclasses)")
async def categories_index(request: Request) -> Response:
    def run() -> list[dict[str, Any]]:
        with request.app.state.engine.connect() as conn:
            return list_categories(conn)

    rows = await run_in_threadpool(run)
    return JSONResponse({"categories": [plain(r) for r in rows]})



@router.post("", status_code=201, summary="file an incident (anonymous callers may: the public's reports)",
             openapi_extra=body_doc(ReportBody))  # fmt: skip
async def file_endpoint(request: Request, idempotency_key: IdempotencyKey = None) -> Response:
    """POST /incidents: file a report; 201 with routing, deadline and possible duplicates."""
    key = parse_key(idempotency_key)
    fields, photos = await read_body(request)
    report = report_from(fields, photos)
    settings = request.app.state.settings
    engine, principal, extent = request.app.state.engine, principal_of(request), ExtentRule.from_settings(settings)
    headers = {}
    if key is None:
        answer = (await run_in_threadpool(file_incident, engine, report, principal=principal, extent=extent)).as_dict()
    else:  # sent again with the same key (the answer was lost on the way): the first incident, not a second
        answer, replayed = await run_in_threadpool(file_once, engine, report, key, principal=principal, extent=extent)
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
    location = f"{settings.base_url}/api/v1/incidents/{answer['id']}"
    body = orjson.dumps(answer | {"links": {"self": location}})
    return Response(body, status_code=201, media_type="application/json", headers={"Location": location, **headers})


@router.get("/inspectors", summary="the inspectors 核查 may be assigned to (staff)",
            description="Active principals of role inspector (a valid token): `{\"inspectors\": [{\"name\", "
                        "\"department\"}]}`; a name is what `assign_verifier` takes as `verifier`.")  # fmt: skip
async def inspectors_index(request: Request) -> Response:
    if principal_of(request) is None:
        raise Unauthorized("the list of inspectors is for staff: sign in (send Authorization: Bearer <token>)")

    def run() -> list[dict[str, Any]]:
        with request.app.state.engine.connect() as conn:
            return active_inspectors(conn)

    return JSONResponse({"inspectors": await run_in_threadpool(run)})


@router.get("/{incident}", summary="an incident (staff: the whole record; others: the public view)")
async def incident_detail(request: Request, incident: IncidentId) -> Response:
    the_id = incident

    def run() -> dict[str, Any]:
        with request.app.state.engine.connect() as conn:
            return queries.incident(conn, the_id)

    record = await run_in_threadpool(run)
    principal = principal_of(request)
    if principal is None:
        record = {k: record[k] for k in PUBLIC_FIELDS if k in record}
    else:  # a photo the caller may not open is not listed either
        record["photo_ids"] = visible_photo_ids(record, principal)
        record.pop("photo_stages", None)
    return JSONResponse(plain(record))


@router.get("/{incident}/events", summary="the incident's immutable event log (staff)")
async def incident_events(request: Request, incident: IncidentId) -> Response:
    the_id = incident
    if principal_of(request) is None:
        raise NotFound(f"no incident {the_id} events for anonymous callers: sign in")

    def run() -> list[dict[str, Any]]:
        with request.app.state.engine.connect() as conn:
            queries.incident(conn, the_id)
            return queries.events(conn, the_id)

    return JSONResponse({"incident": the_id, "events": plain(await run_in_threadpool(run))})


@router.post("/{incident}/transitions", summary="a workflow action by the role that may take it (409: moved on)",
             openapi_extra=body_doc(TransitionBody))  # fmt: skip
async def transition_endpoint(request: Request, incident: IncidentId) -> Response:
    """POST /incidents/{id}/transitions."""
    the_id = incident
    fields, photos = await read_body(request)
    change = TransitionRequest(
        action=str(fields.get("action") or ""),
        reason=fields.get("reason"),
        photos=check_photos(photos),
        department=fields.get("department"),
        extension_minutes=_int(number(fields, "extension_minutes")),
        merge_into=_int(number(fields, "merge_into", "into")),
        expected_version=_int(number(fields, "version", "expected_version")),
        verifier=_name(fields.get("verifier"), "verifier"),
    )
    result = await run_in_threadpool(
        transition, request.app.state.engine, the_id, change, principal=principal_of(request)
    )
    return JSONResponse(result.as_dict())


@router.post("/{incident}/merge", summary="mark this incident a duplicate of another (supervision centre)",
             openapi_extra=body_doc(MergeBody, photos=False))  # fmt: skip
async def merge_endpoint(request: Request, incident: IncidentId) -> Response:
    """POST /incidents/{id}/merge {"into": other}: this one is a duplicate of the other."""
    the_id = incident
    fields, _ = await read_body(request)
    change = TransitionRequest(action="merge", merge_into=_int(number(fields, "into", "merge_into")),
                               reason=fields.get("reason"))  # fmt: skip
    result = await run_in_threadpool(
        transition, request.app.state.engine, the_id, change, principal=principal_of(request)
    )
    return JSONResponse(result.as_dict())


@router.get("/{incident}/photos/{photo}", summary="a photo of the incident (handling-stage photos: staff)",
            response_class=Response, responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}})  # fmt: skip
async def photo_endpoint(request: Request, incident: IncidentId, photo: PhotoId) -> Response:
    the_id, photo_id = incident, photo

    principal = principal_of(request)

    def run() -> tuple[str, bytes]:
        with request.app.state.engine.connect() as conn:
            return read_photo(conn, the_id, photo_id, principal)  # hidden = missing (404)

    content_type, data = await run_in_threadpool(run)
    headers = {"Cache-Control": "private, max-age=3600", "Vary": "Authorization"}
    return Response(data, media_type=content_type, headers=headers)


def _name(value: Any, field: str) -> str | None:
    """A principal's name from a body field (text of at most 200 characters)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 200:
        raise InvalidInput(f"{field} must be a principal's name (text, at most 200 characters)")
    return value


def _int(value: float | None) -> int | None:
    return None if value is None else parse_int(value, name="a count or id")


