"""REST geocoding: /api/v1/geocode, /reverse, /geocode/batch and /suggest (public for now).

Thin: parsing, matching and SQL live in ``spatial.geocoding``; blocking work runs in the
thread pool. Bad input is a 400 (a batch over the limit a 413) with a message; no match is a
200 with an empty result. Answers are GeoJSON FeatureCollections with the query, what the
parser understood and the output CRS.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.errors import error_response
from api.limits import refuse_declared
from spatial.errors import InvalidInput, OnemapError, PayloadTooLarge
from spatial.geocoding import geocode_parsed, parse, parse_structured
from spatial.geocoding.batch import geocode_batch, read_batch
from spatial.geocoding.match import MAX_LIMIT
from spatial.geocoding.parse import STRUCTURED_FIELDS
from spatial.geocoding.result import Match
from spatial.geocoding.reverse import DEFAULT_RADIUS_M, reverse
from spatial.geocoding.suggest import suggest
from spatial.params import parse_limit, parse_number

CSV_FIELDS = ("id", "query", "lon", "lat", "level", "confidence", "label", "district_code",
              "subdistrict_code", "community_code", "error")  # fmt: skip


async def answer(func: Callable[[], Response]) -> Response:
    """Run a blocking handler body in the thread pool, domain errors as 4xx."""
    try:
        return await run_in_threadpool(func)
    except OnemapError as err:
        return error_response(err)


def number(request: Request, name: str, default: float | None = None) -> float:
    """A numeric query parameter, or InvalidInput naming it."""
    raw = request.query_params.get(name)
    if raw is None or raw.strip() == "":
        if default is None:
            raise InvalidInput(f"the {name} parameter is required")
        return default
    return parse_number(raw, name=name)


def limit_of(request: Request, default: int) -> int:
    """``limit``: 1 … MAX_LIMIT matches (the shared parser)."""
    return parse_limit(request.query_params.get("limit"), default=default, maximum=MAX_LIMIT)


def collection(matches: list[Match], **members: Any) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of matches, with extra top-level members."""
    return {"type": "FeatureCollection", **members, "features": [m.as_feature() for m in matches]}


# ---------------------------------------------------------------------------------- forward
async def geocode_endpoint(request: Request) -> Response:
    """GET /geocode?q=… or structured fields (house_number, street, city, postcode…)."""
    params = request.query_params
    engine = request.app.state.engine

    def run() -> Response:
        limit = limit_of(request, 5)
        crs = params.get("crs")
        if "q" in params:
            query = parse(params["q"])
        else:
            query = parse_structured({k: params.get(k) for k in STRUCTURED_FIELDS if k in params})
        matches = geocode_parsed(engine, [query], limit=limit, crs=crs)[0]
        crs_uri = matches[0].crs if matches else crs or "CRS84"
        return JSONResponse(collection(matches, query=params.get("q") or dict(params),
                                       parsed=query.as_dict(), crs=crs_uri))  # fmt: skip

    return await answer(run)


async def reverse_endpoint(request: Request) -> Response:
    """GET /reverse?lon=&lat=[&limit=&radius=&crs=]."""
    engine = request.app.state.engine

    def run() -> Response:
        location, matches = reverse(
            engine,
            number(request, "lon"),
            number(request, "lat"),
            limit=limit_of(request, 1),
            radius_m=number(request, "radius", DEFAULT_RADIUS_M),
            crs=request.query_params.get("crs"),
        )
        return JSONResponse(collection(matches, location=location.__dict__))

    return await answer(run)


async def suggest_endpoint(request: Request) -> Response:
    """GET /suggest?q=[&limit=&crs=]."""
    engine = request.app.state.engine

    def run() -> Response:
        if "q" not in request.query_params:
            raise InvalidInput("the q parameter is required: the start of an address or name")
        matches = suggest(engine, request.query_params["q"], limit=limit_of(request, 10),
                          crs=request.query_params.get("crs"))  # fmt: skip
        return JSONResponse(collection(matches, query=request.query_params["q"]))

    return await answer(run)


# ------------------------------------------------------------------------------------ batch
async def batch_endpoint(request: Request) -> Response:
    """POST /geocode/batch: a JSON list, a CSV body or a multipart CSV upload."""
    settings = request.app.state.settings
    engine = request.app.state.engine
    try:
        body, content_type = await batch_body(request, settings.geocode_batch_max_bytes)
    except OnemapError as err:
        return error_response(err)

    def run() -> Response:
        items = read_batch(body, content_type, max_items=settings.geocode_batch_max_items)
        results = geocode_batch(engine, items, crs=request.query_params.get("crs"))
        if wants_csv(request):
            return Response(batch_csv(results), media_type="text/csv; charset=utf-8")
        rows = [r.as_dict() for r in results]
        matched = sum(1 for r in results if r.match is not None)
        return JSONResponse({"count": len(rows), "matched": matched, "results": rows})

    return await answer(run)


async def batch_body(request: Request, max_bytes: int) -> tuple[bytes, str]:
    """The batch's bytes and content type, read no further than ``max_bytes``."""
    refuse_declared(request, max_bytes, f"the batch is larger than {max_bytes:,} bytes (ONEMAP_GEOCODE_BATCH_MAX_BYTES)")
    content_type = request.headers.get("content-type", "application/json")
    if content_type.startswith("multipart/form-data"):
        return await uploaded_file(request, max_bytes)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise PayloadTooLarge(f"the batch is over {max_bytes:,} bytes: split it")
    return bytes(body), content_type


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


def wants_csv(request: Request) -> bool:
    """Whether the client asked for CSV (Accept: text/csv or f=csv)."""
    return request.query_params.get("f") == "csv" or "text/csv" in request.headers.get("accept", "")


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


routes = [
    Route("/geocode", geocode_endpoint),
    Route("/geocode/batch", batch_endpoint, methods=["POST"]),
    Route("/reverse", reverse_endpoint),
    Route("/suggest", suggest_endpoint),
]
