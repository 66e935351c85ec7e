"""REST geocoding: /api/v1/geocode, /reverse, /geocode/batch and /suggest (public for now).

Thin: parsing, matching and SQL live in ``spatial.geocoding``; blocking work runs in the
thread pool. Bad input is a 400 (a batch over the limit a 413) with a message; no match is a
200 with an empty result, except for a location code: a plate code (路灯贴牌) no plate carries
is a 404, one whose check character does not match a 400 naming the plates one character away.
Answers are GeoJSON FeatureCollections with the query, what the
parser understood and the output CRS.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.limits import read_limited, refuse_declared
from api.params import Crs, Lat, Lon, RadiusM, limit_parser, limit_query
from spatial.errors import InvalidInput, PayloadTooLarge
from spatial.geocoding import geocode_parsed, parse, parse_structured
from spatial.geocoding.batch import geocode_batch, read_batch
from spatial.geocoding.codes import is_location_code
from spatial.geocoding.match import MAX_LIMIT, location_matches
from spatial.geocoding.result import Match
from spatial.geocoding.reverse import DEFAULT_RADIUS_M, reverse
from spatial.geocoding.suggest import suggest

CSV_FIELDS = ("id", "query", "lon", "lat", "level", "confidence", "label", "district_code",
              "subdistrict_code", "community_code", "error")  # fmt: skip


router = APIRouter(prefix="/api/v1", tags=["geocoding"])
GeocodeLimit = Annotated[int, limit_query(5, MAX_LIMIT, "matches"), limit_parser(5, MAX_LIMIT)]
ReverseLimit = Annotated[int, limit_query(1, MAX_LIMIT, "matches"), limit_parser(1, MAX_LIMIT)]
SuggestLimit = Annotated[int, limit_query(10, MAX_LIMIT, "suggestions"), limit_parser(10, MAX_LIMIT)]
Text = Annotated[str | None, Query(max_length=500)]


def collection(matches: list[Match], **members: Any) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of matches, with extra top-level members."""
    return {"type": "FeatureCollection", **members, "features": [m.as_feature() for m in matches]}


# ---------------------------------------------------------------------------------- forward
@router.get("/geocode", summary="address, plate code (XFDL-012-L-7) or plus code → places: free text (q) or structured fields")
async def geocode_endpoint(
    request: Request, q: Annotated[str | None, Query(max_length=500, description="the address as written")] = None,
    limit: GeocodeLimit = 5, crs: Crs = None, house_number: Text = None, street: Text = None,
    building: Text = None, unit: Text = None, city: Text = None, district: Text = None,
    postcode: Text = None, state: Text = None, name: Text = None,
) -> Response:
    engine = request.app.state.engine
    given = {"house_number": house_number, "street": street, "building": building, "unit": unit, "city": city,
             "district": district, "postcode": postcode, "state": state, "name": name}  # fmt: skip
    fields = {k: v for k, v in given.items() if v is not None}

    def run() -> Response:
        if q is not None and is_location_code(q):  # a plate code (路灯贴牌) or a plus code
            found = location_matches(engine, q, crs=crs, missing_ok=False)
            return JSONResponse(collection(found, query=q, parsed={"location_code": found[0].location_code},
                                           crs=found[0].crs))  # fmt: skip
        query = parse(q) if q is not None else parse_structured(fields)
        matches = geocode_parsed(engine, [query], limit=limit, crs=crs)[0]
        crs_uri = matches[0].crs if matches else crs or "CRS84"
        return JSONResponse(collection(matches, query=q or fields, parsed=query.as_dict(), crs=crs_uri))

    return await run_in_threadpool(run)


@router.get("/reverse", summary="point → nearest door plates and places, with division codes, unit cell, plus code and nearest location plate")
async def reverse_endpoint(request: Request, lon: Lon, lat: Lat, limit: ReverseLimit = 1,
                           radius: RadiusM = DEFAULT_RADIUS_M, crs: Crs = None) -> Response:  # fmt: skip
    engine = request.app.state.engine

    def run() -> Response:
        location, matches = reverse(engine, lon, lat, limit=limit, radius_m=radius, crs=crs)
        return JSONResponse(collection(matches, location=location.__dict__))

    return await run_in_threadpool(run)


@router.get("/suggest", summary="completions of the start of an address or a place name")
async def suggest_endpoint(request: Request, q: Annotated[str, Query(max_length=200)], limit: SuggestLimit = 10,
                           crs: Crs = None) -> Response:  # fmt: skip
    engine = request.app.state.engine

    def run() -> Response:
        matches = suggest(engine, q, limit=limit, crs=crs)
        return JSONResponse(collection(matches, query=q))

    return await run_in_threadpool(run)


# ------------------------------------------------------------------------------------ batch
BATCH_BODY = {"content": {
    "application/json": {"schema": {"type": "array", "items": {"type": "object", "properties": {
        "id": {"type": "string"}, "q": {"type": "string"}}}}},
    "text/csv": {"schema": {"type": "string", "description": "a header row with an id and a q (or address) column"}},
    "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}},
}}  # fmt: skip


@router.post("/geocode/batch", summary="many addresses at once: a JSON list, a CSV body or an uploaded CSV",
             openapi_extra={"requestBody": BATCH_BODY},
             responses={200: {"content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}}}})  # fmt: skip
async def batch_endpoint(request: Request, crs: Crs = None,
                         f: Annotated[Literal["json", "csv"] | None, Query(description="answer format")] = None) -> Response:  # fmt: skip
    """Each address gets a result or an error of its own; CSV answers with Accept: text/csv or f=csv."""
    settings = request.app.state.settings
    engine = request.app.state.engine
    body, content_type = await batch_body(request, settings.geocode_batch_max_bytes)

    def run() -> Response:
        items = read_batch(body, content_type, max_items=settings.geocode_batch_max_items)
        results = geocode_batch(engine, items, crs=crs)
        if f == "csv" or "text/csv" in request.headers.get("accept", ""):
            return Response(batch_csv(results), media_type="text/csv; charset=utf-8")
        rows = [r.as_dict() for r in results]
        matched = sum(1 for r in results if r.match is not None)
        return JSONResponse({"count": len(rows), "matched": matched, "results": rows})

    return await run_in_threadpool(run)


async def batch_body(request: Request, max_bytes: int) -> tuple[bytes, str]:
    """The batch's bytes and content type, read no further than ``max_bytes``."""
    refuse_declared(request, max_bytes, f"the batch is larger than {max_bytes:,} bytes (ONEMAP_GEOCODE_BATCH_MAX_BYTES)")
    content_type = request.headers.get("content-type", "application/json")
    if content_type.startswith("multipart/form-data"):
        return await uploaded_file(request, max_bytes)
    return await read_limited(request, max_bytes, "the batch"), content_type


async def uploaded_file(request: Request, max_bytes: int) -> tuple[bytes, str]:
    """The first uploaded file of a multipart form (a CSV or JSON file)."""
    form = await request.form(max_files=1, max_fields=10)
    upload = next((v for v in form.values() if hasattr(v, "read")), None)
    if upload is None:
        raise InvalidInput("the form holds no file: upload the CSV as a file field")
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"the uploaded file is over {max_bytes:,} bytes: split it")
    name = (getattr(upload, "filename", "") or "").lower()
    return data, "application/json" if name.endswith(".json") else "text/csv"


def batch_csv(results: list[Any]) -> str:
    """Batch results as CSV: one line per address."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for result in results:
        match = result.match
        row = {"id": result.item.id, "query": result.item.query, "error": result.error or ""}
        if match is not None:
            row |= {k: getattr(match, k) for k in CSV_FIELDS if hasattr(match, k)}
        writer.writerow(row)
    return out.getvalue()


