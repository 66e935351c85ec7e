"""REST: the layer catalog, publishing files as layers, and feature history (/api/v1/layers).

- ``GET /layers``: the layers the caller may see (the web map's layer list);
- ``GET /layers/{id}``: one of them (404 when hidden or missing);
- ``POST /layers``: multipart upload (``file``, ``name``, optional ``title``, ``title_en``,
  ``department``, ``visibility``, ``crs``, ``invalid``, ``new_schema``): create a layer or
  replace an existing one's contents through the same quality gate as the command line;
- ``GET /layers/{id}/history?feature=&since=&until=&limit=``: who changed what, when;
- ``GET /layers/{id}/download?f=&crs=&bbox=&filter=&datetime=&encoding=&geometry=``: the layer (or a
  bbox/filter of it) as GeoPackage, zipped Shapefile, CSV, GeoJSON, FlatGeobuf or KML, or the
  imagery's GeoTIFF (``layers.download``; written by ``layers.export`` in a thread, ``api.downloads``).

Thin: permission in ``spatial.access.policy``, loading in ``layers.vector``, history in
``spatial.history``; blocking work runs in the thread pool.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from api.auth import principal_of
from api.downloads import attachment, layer_file
from api.params import Since, Until, limit_parser, limit_query
from api.uploads import SavedUpload, save_upload
from layers.catalog import LayerSpec, find_layer, list_layers
from layers.download import (
    FORMATS,
    IMAGERY,
    download_options,
    file_name,
    imagery_file,
    parse_format,
)
from layers.field_aliases import layer_fields
from layers.vector import load_vector_file
from spatial.access.policy import LayerRef, can_read, require_read
from spatial.access.principal import Principal
from spatial.errors import InvalidInput, Unauthorized
from spatial.extent import ExtentRule
from spatial.history.changes import list_changes

PUBLIC_FIELDS = (
    "id", "title_zh", "title_en", "description", "department_code", "department_name_zh",
    "department_name_en", "kind", "visibility", "geometry_type", "bbox", "time_start",
    "time_end", "keywords", "licence", "style", "feature_count", "updated_at",
)
HISTORY_FIELDS = ("id", "at", "layer_id", "feature_id", "operation", "path", "actor", "department_code", "before", "after")


def layer_view(row: dict[str, Any], base_url: str) -> dict[str, Any]:
    view: dict[str, Any] = {key: row.get(key) for key in PUBLIC_FIELDS}
    for key in ("time_start", "time_end", "updated_at"):
        if view[key] is not None:
            view[key] = view[key].isoformat()
    view["fields"] = layer_fields(row.get("attributes"), row.get("style"))  # aliases and units for people
    view["links"] = {
        "collection": f"{base_url}/ogc/collections/{row['id']}",
        "download": f"{base_url}/api/v1/layers/{row['id']}/download",
    }
    if row.get("storage_table"):
        view["links"]["items"] = f"{base_url}/ogc/collections/{row['id']}/items"
        view["links"]["history"] = f"{base_url}/api/v1/layers/{row['id']}/history"
    return view


router = APIRouter(prefix="/api/v1/layers", tags=["layers"])
LayerName = Annotated[str, Path(max_length=63, description="a layer's id")]
HistoryLimit = Annotated[int, limit_query(1000, 10_000, "changes"), limit_parser(1000, 10_000)]


class PublishForm(BaseModel):
    """POST /api/v1/layers: a multipart form with the file and its catalog entry."""

    file: bytes = Field(description="GeoJSON, GeoPackage, zipped Shapefile, FlatGeobuf or CSV with lon/lat")
    name: str = Field(max_length=63, description="the layer's id (lower case, digits, underscores)")
    title: str | None = Field(default=None, max_length=200, description="required for a new layer")
    title_en: str | None = Field(default=None, max_length=200)
    department: str | None = Field(default=None, max_length=64, description="default: the caller's")
    visibility: Literal["public", "internal", "department"] | None = None
    description: str | None = Field(default=None, max_length=4000)
    crs: str | None = Field(default=None, max_length=100, description="when the file does not say")
    invalid: Literal["repair", "reject"] | None = None
    new_schema: bool | None = Field(default=None, description="replace with a file whose columns differ")


def _form_doc() -> dict[str, Any]:
    schema = PublishForm.model_json_schema()
    schema["properties"]["file"] = {"type": "string", "format": "binary"}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


@router.get("", summary="the layers the caller may see (the web map's layer list)")
async def layers_index(request: Request) -> Response:
    """The layers the caller may see, by THE read check."""
    engine = request.app.state.engine
    rows = await asyncio.get_running_loop().run_in_executor(None, list_layers, engine)
    principal = principal_of(request)
    base = request.app.state.settings.base_url
    visible = [row for row in rows if can_read(principal, LayerRef.from_row(row))]
    return JSONResponse({"layers": [layer_view(row, base) for row in visible]})


async def _readable(request: Request, layer_id: str) -> dict[str, Any]:
    """The catalog row of a layer the caller may read; NotFound otherwise."""
    row = await run_in_threadpool(find_layer, request.app.state.engine, layer_id)
    require_read(principal_of(request), LayerRef.from_row(row) if row else None, layer_id)
    assert row is not None
    return row


@router.get("/{layer}", summary="one layer's catalog entry (404 when hidden or missing)")
async def layer_detail(request: Request, layer: LayerName) -> Response:
    row = await _readable(request, layer)
    return JSONResponse(layer_view(row, request.app.state.settings.base_url))


@router.get("/{layer}/history", summary="who changed which feature, when, by which door (before/after)")
async def layer_history(
    request: Request, layer: LayerName,
    feature: Annotated[str | None, Query(max_length=200, description="one feature's id")] = None,
    since: Since = None, until: Until = None, limit: HistoryLimit = 1000,
) -> Response:
    """History rows of a readable layer, filtered by feature and time."""
    layer_id = layer
    await _readable(request, layer_id)
    rows = await run_in_threadpool(
        list_changes, request.app.state.engine, layer_id, feature=feature, since=since, until=until, limit=limit,
    )
    changes = [{k: _plain(row[k]) for k in HISTORY_FIELDS} for row in rows]
    return JSONResponse({"layer": layer_id, "changes": changes, "count": len(changes)})


DOWNLOAD_TYPES: dict[str, dict[str, Any]] = {fmt.media_type.split(";")[0]: {} for fmt in (*FORMATS.values(), IMAGERY)}


def _text(description: str, alias: str | None = None, max_length: int = 100) -> Any:
    return Query(alias=alias, max_length=max_length, description=description)


@router.get("/{layer}/download", summary="the layer as a file: GeoPackage, Shapefile, CSV, GeoJSON, FlatGeobuf, "
            "KML (vector, whole or a bbox/filter of it) or GeoTIFF (imagery)",
            response_class=Response, responses={200: {"content": DOWNLOAD_TYPES}})  # fmt: skip
async def download(
    request: Request, layer: LayerName,
    f: Annotated[str | None, _text("gpkg, shp (zipped, with fields.txt), csv, geojson (default), fgb, kml; "
                                   "tif for imagery", max_length=20)] = None,
    crs: Annotated[str | None, _text("output CRS: CRS84 (default), EPSG:4490, EPSG:3857 or any EPSG:<code>; "
                                     "KML is always CRS84")] = None,
    bbox: Annotated[str | None, _text("lon/lat box minlon,minlat,maxlon,maxlat: the features it touches")] = None,
    bbox_crs: Annotated[str | None, _text("CRS84 only", alias="bbox-crs")] = None,
    filter_: Annotated[str | None, _text("CQL2 text, as the OGC API items take it", "filter", 4000)] = None,
    filter_lang: Annotated[str | None, _text("cql2-text (default)", alias="filter-lang", max_length=20)] = None,
    datetime_: Annotated[str | None, _text("instant or start/end, on layers with time", "datetime")] = None,
    encoding: Annotated[str | None, _text("Shapefile text: utf-8 (default) or gbk", max_length=20)] = None,
    geometry: Annotated[str | None, _text("CSV geometry: wkt (default) or lonlat (points)", max_length=20)] = None,
) -> Response:
    """The layer as a file, after THE read check; named ``<layer>_YYYYMMDD.<ext>``."""
    fmt = parse_format(f)
    options = None if fmt == "tif" else download_options(  # refused alike whatever the caller may see
        f=fmt, crs=crs, bbox=bbox, bbox_crs=bbox_crs, filter_=filter_, filter_lang=filter_lang,
        datetime_=datetime_, encoding=encoding, geometry=geometry,
    )
    row = await _readable(request, layer)
    if not row.get("storage_table"):
        path = imagery_file(row, fmt)
        return FileResponse(path, media_type=IMAGERY.media_type, headers=attachment(file_name(row["id"], "tif")))
    if options is None:
        raise InvalidInput(f"layer {layer!r} is a vector layer: f=tif is for imagery; one of {', '.join(FORMATS)}")
    return await layer_file(request, row, options)


@router.post("", status_code=201, summary="create (201) or replace (200) a layer from an uploaded file",
             openapi_extra=_form_doc())  # fmt: skip
async def publish_layer(request: Request) -> Response:
    """Create or replace a layer from an uploaded file (multipart/form-data)."""
    principal = principal_of(request)
    if principal is None:
        raise Unauthorized("publishing a layer needs credentials: send Authorization: Bearer <token>")
    settings = request.app.state.settings
    async with save_upload(request, settings.max_upload_bytes) as upload:
        name = upload.field("name")
        existing = await run_in_threadpool(find_layer, request.app.state.engine, name)
        spec, keep = _spec(upload, principal, existing)
        report = await run_in_threadpool(
            load_vector_file,
            request.app.state.engine,
            upload.path,
            spec,
            crs=upload.fields.get("crs") or None,
            invalid=upload.fields.get("invalid") or "repair",
            principal=principal,
            door="rest",
            keep=keep,
            new_schema=upload.fields.get("new_schema", "").lower() in ("1", "true", "yes"),
            extent=ExtentRule.from_settings(settings),
        )
    request.app.state.ogc_gateway.recheck()  # the new version is served from the next request on
    body: dict[str, Any] = {"report": report.as_dict(), "summary": report.summary()}
    body["layer"] = f"{settings.base_url}/api/v1/layers/{spec.id}"
    return JSONResponse(body, status_code=200 if existing else 201, headers={"Location": body["layer"]})


def _spec(
    upload: SavedUpload, principal: Principal, existing: dict[str, Any] | None
) -> tuple[LayerSpec, tuple[str, ...]]:
    """The catalog entry the form asks for; fields not given are kept from an existing layer."""
    fields = upload.fields
    title = fields.get("title") or (existing["title_zh"] if existing else upload.field("title"))
    department = fields.get("department") or (
        existing["department_code"] if existing else principal.department_code or ""
    )
    keep = tuple(
        name for name, given in (("title_zh", "title"), ("title_en", "title_en"), ("visibility", "visibility"))
        if existing and not fields.get(given)
    )
    spec = LayerSpec(
        id=upload.field("name"),
        title_zh=title,
        title_en=fields.get("title_en") or title,
        department_code=department,
        visibility=fields.get("visibility") or "public",
        description=fields.get("description") or "",
    )
    return spec, keep


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


