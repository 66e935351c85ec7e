"""OGC API – Records at /records: the catalogue of the layers the caller may see.

- ``GET /records``, ``/records/conformance``, ``/records/collections``: landing page, the classes
  implemented, the one collection;
- ``GET /records/collections/catalog``: the catalogue (``itemType: record``);
- ``GET /records/collections/catalog/items?q=&bbox=&datetime=&department=&kind=&limit=&offset=&f=``:
  a search, as GeoJSON record features or HTML;
- ``GET /records/collections/catalog/items/{layer}?f=json|html|xml``: one record; ``f=xml`` its ISO
  19139 metadata.

Thin: the search and the records are ``layers.records``, the ISO XML ``layers.iso19139``, the HTML
``api.web.records``; a hidden layer's record is answered as a missing one (THE read check).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from api.auth import principal_of
from api.params import limit_parser, limit_query
from api.web import records as html
from layers.iso19139 import iso_metadata
from layers.records import (
    COLLECTION,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    RecordQuery,
    parse_record_query,
    readable_row,
    readable_rows,
    record,
    search,
)
from spatial.errors import InvalidInput

PREFIX = "/records"
GEOJSON = "application/geo+json"
SEARCH_PARAMETERS = ("f", "q", "bbox", "datetime", "department", "kind", "limit", "offset")
TITLE = "一张图图层目录 onemap layer catalogue"
DESCRIPTION = "每个图层一条记录：标题、部门、关键词、范围、许可、字段与全部服务和下载链接 / one record per layer"
CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
    "http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/record-core",
    "http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/html",
)

router = APIRouter(prefix=PREFIX, tags=["records"])
RecordId = Annotated[str, Path(max_length=63, description="a layer's id")]
Format = Annotated[str | None, Query(max_length=10, description="json (default), html; xml (ISO 19139) for a record")]
RecordLimit = Annotated[int, limit_query(DEFAULT_LIMIT, MAX_LIMIT, "records"), limit_parser(DEFAULT_LIMIT, MAX_LIMIT)]


def _base(request: Request) -> str:
    return str(request.app.state.settings.base_url)


def _format(request: Request, f: str | None, allowed: tuple[str, ...] = ("json", "html")) -> str:
    """The answer's format: ``f`` when given, else HTML for browsers, else JSON."""
    if f:
        if f.lower() not in allowed:
            raise InvalidInput(f"f {f[:20]!r} unsupported here; one of {', '.join(allowed)}")
        return f.lower()
    return "html" if "text/html" in request.headers.get("accept", "") else "json"


def _refuse_unknown(request: Request, known: tuple[str, ...]) -> None:
    """Parameters this door does not implement are refused, not silently ignored."""
    unknown = sorted({name for name in request.query_params if name not in known})
    if unknown:
        raise InvalidInput(f"unknown parameter {unknown[0][:40]!r}; this door takes {', '.join(known)}")


@router.get("", summary="the catalogue's landing page", response_class=Response,
            responses={200: {"content": {"application/json": {}, "text/html": {}}}})  # fmt: skip
async def landing(request: Request, f: Format = None) -> Response:
    base = _base(request) + PREFIX
    links = [
        {"href": base, "rel": "self", "type": "application/json", "title": "this document"},
        {"href": f"{base}/conformance", "rel": "conformance", "type": "application/json", "title": "conformance"},
        {"href": f"{base}/collections", "rel": "data", "type": "application/json", "title": "collections"},
        {"href": f"{_base(request)}/api/v1/openapi.json", "rel": "service-desc",
         "type": "application/vnd.oai.openapi+json;version=3.0", "title": "OpenAPI"},
    ]  # fmt: skip
    document = {"title": TITLE, "description": DESCRIPTION, "links": links}
    if _format(request, f) == "html":
        return HTMLResponse(html.landing_page(TITLE, links))
    return JSONResponse(document)


@router.get("/conformance", summary="the conformance classes implemented")
async def conformance(request: Request, f: Format = None) -> Response:
    _format(request, f, ("json",))
    return JSONResponse({"conformsTo": list(CONFORMANCE)})


@router.get("/collections", summary="the catalogue collections (one: the layer catalog)")
async def collections(request: Request, f: Format = None) -> Response:
    _format(request, f, ("json",))
    rows = await run_in_threadpool(readable_rows, request.app.state.engine, principal_of(request))
    base = _base(request) + PREFIX
    return JSONResponse({"collections": [collection_document(rows, base)],
                         "links": [{"href": f"{base}/collections", "rel": "self", "type": "application/json"}]})  # fmt: skip


@router.get(f"/collections/{COLLECTION}", summary="the catalogue: one record per layer the caller may see")
async def collection(request: Request, f: Format = None) -> Response:
    _format(request, f, ("json",))
    rows = await run_in_threadpool(readable_rows, request.app.state.engine, principal_of(request))
    return JSONResponse(collection_document(rows, _base(request) + PREFIX))


def collection_document(rows: list[dict[str, Any]], base: str) -> dict[str, Any]:
    """The catalogue collection, its extent the union of the visible layers' extents."""
    url = f"{base}/collections/{COLLECTION}"
    boxes = [row["bbox"] for row in rows if row.get("bbox") and all(v is not None for v in row["bbox"])]
    extent: dict[str, Any] = {"spatial": {"bbox": [[min(b[0] for b in boxes), min(b[1] for b in boxes),
                                                     max(b[2] for b in boxes), max(b[3] for b in boxes)]] if boxes
                                          else [[-180.0, -90.0, 180.0, 90.0]],
                                          "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}}  # fmt: skip
    return {
        "id": COLLECTION, "type": "Catalog", "itemType": "record", "title": TITLE, "description": DESCRIPTION,
        "extent": extent, "crs": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"],
        "links": [
            {"href": url, "rel": "self", "type": "application/json", "title": "the catalogue"},
            {"href": f"{url}/items", "rel": "items", "type": GEOJSON, "title": "records"},
            {"href": f"{url}/items?f=html", "rel": "items", "type": "text/html", "title": "records (HTML)"},
        ],
    }  # fmt: skip


@router.get(f"/collections/{COLLECTION}/items", summary="search the catalogue: q, bbox, datetime, department, kind",
            response_class=Response, responses={200: {"content": {GEOJSON: {}, "text/html": {}}}})  # fmt: skip
async def items(
    request: Request, f: Format = None,
    q: Annotated[str | None, Query(max_length=200, description="words in titles, description, keywords (zh or "
                                   "en), any of them; separated by commas or spaces")] = None,
    bbox: Annotated[str | None, Query(max_length=200, description="lon/lat box minlon,minlat,maxlon,maxlat")] = None,
    datetime_: Annotated[str | None, Query(alias="datetime", max_length=100,
                                           description="instant or start/end (.. open): the layers' time extent")] = None,
    department: Annotated[str | None, Query(max_length=64, description="owning department's code")] = None,
    kind: Annotated[str | None, Query(max_length=16, description="vector, imagery, address, grid, incidents")] = None,
    limit: RecordLimit = DEFAULT_LIMIT,
    offset: Annotated[str | None, Query(max_length=20, description="records to skip")] = None,
) -> Response:
    """A page of the records matching the search, among the layers the caller may read."""
    _refuse_unknown(request, SEARCH_PARAMETERS)
    fmt = _format(request, f)
    query = parse_record_query(q=q, bbox=bbox, datetime_=datetime_, department=department, kind=kind,
                               limit=limit, offset=offset)  # fmt: skip
    rows = await run_in_threadpool(readable_rows, request.app.state.engine, principal_of(request))
    page, matched = search(rows, query)
    base = _base(request)
    answer = {
        "type": "FeatureCollection", "features": [record(row, base) for row in page],
        "numberMatched": matched, "numberReturned": len(page),
        "timeStamp": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
        "links": _page_links(request, base + PREFIX, query, matched),
    }  # fmt: skip
    if fmt == "html":
        given = {name: value for name, value in request.query_params.items() if name != "f"}
        return HTMLResponse(html.search_page(collection_document(rows, base + PREFIX), answer, given))
    return JSONResponse(answer, media_type=GEOJSON)


def _page_links(request: Request, base: str, query: RecordQuery, matched: int) -> list[dict[str, Any]]:
    """self, alternate (HTML), collection, and prev/next when there are such pages."""
    url = f"{base}/collections/{COLLECTION}/items"
    given = {name: value for name, value in request.query_params.items() if name not in ("f", "offset")}

    def at(offset: int, f: str = "json") -> str:
        return f"{url}?{urlencode({**given, 'offset': offset, 'f': f})}"

    links = [{"href": at(query.offset), "rel": "self", "type": GEOJSON, "title": "this page"},
             {"href": at(query.offset, "html"), "rel": "alternate", "type": "text/html", "title": "this page (HTML)"},
             {"href": f"{base}/collections/{COLLECTION}", "rel": "collection", "type": "application/json",
              "title": "the catalogue"}]  # fmt: skip
    if query.offset > 0:
        links.append({"href": at(max(0, query.offset - query.limit)), "rel": "prev", "type": GEOJSON, "title": "previous"})
    if query.offset + query.limit < matched:
        links.append({"href": at(query.offset + query.limit), "rel": "next", "type": GEOJSON, "title": "next"})
    return links


@router.get(f"/collections/{COLLECTION}/items/{{layer}}", summary="one record; f=xml: its ISO 19139 metadata",
            response_class=Response,
            responses={200: {"content": {GEOJSON: {}, "text/html": {}, "application/xml": {}}}})  # fmt: skip
async def item(request: Request, layer: RecordId, f: Format = None) -> Response:
    """The record of a layer the caller may read (404 when hidden or missing)."""
    fmt = _format(request, f, ("json", "html", "xml"))
    row = await run_in_threadpool(readable_row, request.app.state.engine, principal_of(request), layer)
    feature = record(row, _base(request))
    if fmt == "xml":
        return Response(iso_metadata(feature), media_type="application/xml")
    if fmt == "html":
        return HTMLResponse(html.record_page(feature))
    return JSONResponse(feature, media_type=GEOJSON)
