"""REST: filing and moving incidents (/api/v1/incidents).

- ``GET /incidents/categories``: the catalogue (the inspector page's picker);
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
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.auth import principal_of
from api.routes.incident_forms import number, read_body, report_from
from spatial.errors import NotFound
from spatial.extent import ExtentRule
from spatial.incidents import queries
from spatial.incidents.categories import list_categories
from spatial.incidents.filing import file_incident
from spatial.incidents.photos import check_photos, read_photo
from spatial.incidents.workflow import TransitionRequest, transition
from spatial.params import parse_int, parse_path_id

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


def incident_id(request: Request) -> int:
    return parse_path_id(request.path_params["incident"], what="incident")


async def categories_index(request: Request) -> Response:
    def run() -> list[dict[str, Any]]:
        with request.app.state.engine.connect() as conn:
            return list_categories(conn)

    rows = await run_in_threadpool(run)
    return JSONResponse({"categories": [plain(r) for r in rows]})


async def file_endpoint(request: Request) -> Response:
    """POST /incidents: file a report."""
    fields, photos = await read_body(request)
    report = report_from(fields, photos)
    settings = request.app.state.settings
    filed = await run_in_threadpool(
        file_incident, request.app.state.engine, report, principal=principal_of(request),
        extent=ExtentRule.from_settings(settings),
    )  # fmt: skip
    location = f"{settings.base_url}/api/v1/incidents/{filed.id}"
    return JSONResponse(filed.as_dict() | {"links": {"self": location}}, status_code=201, headers={"Location": location})


async def incident_detail(request: Request) -> Response:
    the_id = incident_id(request)

    def run() -> dict[str, Any]:
        with request.app.state.engine.connect() as conn:
            return queries.incident(conn, the_id)

    record = await run_in_threadpool(run)
    if principal_of(request) is None:
        record = {k: record[k] for k in PUBLIC_FIELDS if k in record}
    return JSONResponse(plain(record))


async def incident_events(request: Request) -> Response:
    the_id = incident_id(request)
    if principal_of(request) is None:
        raise NotFound(f"no incident {the_id} events for anonymous callers: sign in")

    def run() -> list[dict[str, Any]]:
        with request.app.state.engine.connect() as conn:
            queries.incident(conn, the_id)
            return queries.events(conn, the_id)

    return JSONResponse({"incident": the_id, "events": plain(await run_in_threadpool(run))})


async def transition_endpoint(request: Request) -> Response:
    """POST /incidents/{id}/transitions."""
    the_id = incident_id(request)
    fields, photos = await read_body(request)
    change = TransitionRequest(
        action=str(fields.get("action") or ""),
        reason=fields.get("reason"),
        photos=check_photos(photos),
        department=fields.get("department"),
        extension_minutes=_int(number(fields, "extension_minutes")),
        merge_into=_int(number(fields, "merge_into", "into")),
        expected_version=_int(number(fields, "version", "expected_version")),
    )
    result = await run_in_threadpool(
        transition, request.app.state.engine, the_id, change, principal=principal_of(request)
    )
    return JSONResponse(result.as_dict())


async def merge_endpoint(request: Request) -> Response:
    """POST /incidents/{id}/merge {"into": other}: this one is a duplicate of the other."""
    the_id = incident_id(request)
    fields, _ = await read_body(request)
    change = TransitionRequest(action="merge", merge_into=_int(number(fields, "into", "merge_into")),
                               reason=fields.get("reason"))  # fmt: skip
    result = await run_in_threadpool(
        transition, request.app.state.engine, the_id, change, principal=principal_of(request)
    )
    return JSONResponse(result.as_dict())


async def photo_endpoint(request: Request) -> Response:
    the_id = incident_id(request)
    photo_id = parse_path_id(request.path_params["photo"], what="photo")

    principal = principal_of(request)

    def run() -> tuple[str, bytes]:
        with request.app.state.engine.connect() as conn:
            return read_photo(conn, the_id, photo_id, principal)  # hidden = missing (404)

    content_type, data = await run_in_threadpool(run)
    headers = {"Cache-Control": "private, max-age=3600", "Vary": "Authorization"}
    return Response(data, media_type=content_type, headers=headers)


def _int(value: float | None) -> int | None:
    return None if value is None else parse_int(value, name="a count or id")


routes = [
    Route("/incidents/categories", categories_index, methods=["GET"]),
    Route("/incidents", file_endpoint, methods=["POST"]),
    Route("/incidents/{incident}", incident_detail, methods=["GET"]),
    Route("/incidents/{incident}/events", incident_events, methods=["GET"]),
    Route("/incidents/{incident}/transitions", transition_endpoint, methods=["POST"]),
    Route("/incidents/{incident}/merge", merge_endpoint, methods=["POST"]),
    Route("/incidents/{incident}/photos/{photo}", photo_endpoint, methods=["GET"]),
]
