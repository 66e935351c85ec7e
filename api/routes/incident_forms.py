"""Reading incident requests: JSON or multipart bodies (with photos) into domain objects."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import orjson
from fastapi import Header
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from api.limits import read_limited, refuse_declared
from api.uploads import disk_full, limited_stream
from spatial.errors import InvalidInput
from spatial.incidents.filing import IncidentReport
from spatial.incidents.photos import MAX_PHOTO_BYTES, MAX_PHOTOS, check_photos
from spatial.incidents.workflow import ACTIONS
from spatial.params import inline_schema, parse_instant, parse_number

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200, description=(
    "a key made once per report (a UUID): sent again with the same report, the answer is the first "
    "incident (Idempotent-Replayed: true), never a second one; with another report, 409"))]  # fmt: skip

MAX_BODY = MAX_PHOTOS * MAX_PHOTO_BYTES + 1024 * 1024


async def read_body(request: Request, photo_fields: tuple[str, ...] = ("photo", "photos", "media")) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
    """(fields, photos) of a JSON, urlencoded or multipart body, within the size limit."""
    refuse_declared(request, MAX_BODY, f"the request is larger than {MAX_BODY // 1048576} MiB")
    kind = request.headers.get("content-type", "")
    if kind.startswith("multipart/form-data"):
        parser = MultiPartParser(request.headers, limited_stream(request, MAX_BODY),
                                 max_files=MAX_PHOTOS + 1, max_fields=100)  # fmt: skip
        try:
            form = await parser.parse()
        except MultiPartException as err:
            raise InvalidInput(f"the form is not readable: {err.message}") from None
        except OSError as err:  # big parts are spooled to the temporary folder
            raise disk_full(err) from None
        try:
            fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
            photos = []
            for key, value in form.multi_items():
                if isinstance(value, UploadFile) and key in photo_fields:
                    photos.append((value.filename or key, await value.read()))
        finally:
            await form.close()
        return fields, photos
    body = await read_limited(request, MAX_BODY, "the request")
    if kind.startswith("application/x-www-form-urlencoded"):
        from urllib.parse import parse_qsl

        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)), []
    try:
        data = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError:
        raise InvalidInput("the body is not JSON (or send multipart/form-data)") from None
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    return data, []


def number(fields: dict[str, Any], *names: str) -> float | None:
    """The first of ``names`` present, as a number; InvalidInput when it is not one."""
    for name in names:
        value = fields.get(name)
        if value is None or value == "":
            continue
        return parse_number(value, name=name)
    return None


def instant(value: Any, name: str) -> dt.datetime | None:
    """An ISO 8601 / W3C datetime, or None."""
    if value in (None, ""):
        return None
    return parse_instant(value, name=name)


def text_field(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    return None if value is None else str(value)


def report_from(fields: dict[str, Any], photos: list[tuple[str, bytes]], default_source: str = "public") -> IncidentReport:
    """An IncidentReport from the fields of POST /api/v1/incidents."""
    given = fields.get("location")
    location: dict[str, Any] = given if isinstance(given, dict) else {}
    merged = {**fields, **location}
    return IncidentReport(
        category_code=str(fields.get("category_code") or fields.get("category") or ""),
        description=str(fields.get("description") or ""),
        lon=number(merged, "lon", "longitude", "long"),
        lat=number(merged, "lat", "latitude"),
        address=text_field(merged, "address"),
        source=str(fields.get("source") or default_source),
        reporter_name=text_field(fields, "reporter_name") or text_field(fields, "reporter"),
        reporter_contact=text_field(fields, "reporter_contact"),
        reported_at=instant(fields.get("reported_at"), "reported_at"),
        external_id=text_field(fields, "external_id"),
        photos=check_photos(photos),
    )


# ----------------------------------------------------------------- the bodies, as documented
class ReportBody(BaseModel):
    """POST /api/v1/incidents: a report (JSON, urlencoded, or multipart with ``photo`` parts)."""

    category_code: str = Field(max_length=16, description="the category's code (GET /incidents/categories)")
    description: str | None = Field(default=None, max_length=4000)
    lon: float | None = Field(default=None, ge=-180, le=180, description="CRS84 longitude")
    lat: float | None = Field(default=None, ge=-90, le=90, description="CRS84 latitude")
    address: str | None = Field(default=None, max_length=500, description="instead of lon/lat: geocoded")
    source: Literal["inspector", "hotline", "public", "video"] = "public"
    reporter_name: str | None = Field(default=None, max_length=200)
    reporter_contact: str | None = Field(default=None, max_length=200, description="never published")
    reported_at: dt.datetime | None = None
    external_id: str | None = Field(default=None, max_length=200)


class TransitionBody(BaseModel):
    """POST /api/v1/incidents/{id}/transitions (multipart with ``photo`` parts for 处置反馈)."""

    action: Literal[tuple(ACTIONS)]  # type: ignore[valid-type]
    reason: str | None = Field(default=None, max_length=4000)
    department: str | None = Field(default=None, max_length=64, description="dispatch: the handling department")
    extension_minutes: int | None = Field(default=None, ge=1, description="extend: working minutes")
    version: int | None = Field(default=None, ge=1, description="the version you saw (409 if it moved on)")
    into: int | None = Field(default=None, ge=1, description="merge: the incident this one duplicates")
    verifier: str | None = Field(default=None, max_length=200,
                                 description="assign_verifier: the principal name of the inspector who does 核查")


class MergeBody(BaseModel):
    """POST /api/v1/incidents/{id}/merge."""

    into: int = Field(ge=1, description="the incident this one duplicates")
    reason: str | None = Field(default=None, max_length=4000)


def body_doc(model: type[BaseModel], photos: bool = True) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads ``model`` as JSON, a urlencoded or a multipart form."""
    schema = inline_schema(model)
    form = {"type": "object", "properties": {**schema["properties"]}, "required": schema.get("required", [])}
    if photos:
        form["properties"]["photo"] = {"type": "array", "items": {"type": "string", "format": "binary"}}
    content = {"application/json": {"schema": schema}, "application/x-www-form-urlencoded": {"schema": form},
               "multipart/form-data": {"schema": form}}  # fmt: skip
    return {"requestBody": {"required": True, "content": content}}
