"""OGC API Coverages beyond pygeoapi 0.21: the domain set and range type, the CRSs, subset and scale parameters.

pygeoapi 0.21 has no ``/coverage/domainset`` or ``/coverage/rangetype`` and says nothing of a
coverage's axes or CRS, so GDAL's OGCAPI driver guessed one float band at a nanodegree grid.
The functions here take pygeoapi's calling convention (``api``, ``request``, collection id) so
they run in the caller's view like every other OGC route: a hidden collection is a 404 here too.
The documents come from ``layers.imagery.coverage_description``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import pygeoapi.api as core_api
from pygeoapi.api import API, APIRequest
from pygeoapi.plugin import load_plugin
from pygeoapi.provider.base import ProviderGenericError, ProviderTypeError
from pygeoapi.util import get_provider_by_type, to_json
from starlette.requests import Request

from layers.imagery.coverage import CoverageGrid
from layers.imagery.coverage_description import collection_members, domain_set, range_type
from spatial.coverage_params import CoverageQuery, parse_coverage_query

OGC_REL = "http://www.opengis.net/def/rel/ogc/1.0"
Answer = tuple[dict, int, Any]


def coverage_query(request: Request) -> CoverageQuery:
    """The subset and scale parameters of a coverage request (InvalidInput, 400, when malformed)."""
    query = request.query_params
    return parse_coverage_query(
        subset=query.getlist("subset"),
        subset_crs=query.get("subset-crs"),
        scale_size=query.get("scaleSize"),
        scale_axes=query.get("scaleAxes"),
        scale_factor=query.get("scaleFactor"),
    )


def _parameter(name: str, description: str, schema: dict[str, Any], array: bool = False) -> dict[str, Any]:
    if array:
        schema = {"type": "array", "items": schema}
    return {"name": name, "in": "query", "required": False, "style": "form", "explode": array,
            "description": description, "schema": schema}  # fmt: skip


COVERAGE_PARAMETERS = (
    _parameter("subset", "a range on one axis: Lon(lo:hi), Lat(lo:hi) (with subset-crs) or the stored x/y axes; "
               "'*' leaves an end open; repeat for several axes", {"type": "string"}, array=True),
    _parameter("subset-crs", "the CRS of subset's Lon/Lat values (a URI or EPSG:<code>; CRS84 by default)",
               {"type": "string"}),
    _parameter("scaleSize", "the output size per axis, e.g. Lon(512),Lat(512)", {"type": "string"}),
    _parameter("scaleAxes", "a scale factor per axis, e.g. Lon(2),Lat(2) (output = input / factor)", {"type": "string"}),
    _parameter("scaleFactor", "one scale factor for every axis (output = input / factor)",
               {"type": "number", "minimum": 0.000001}),
    _parameter("properties", "the bands to return (names or 1-based numbers), comma-separated", {"type": "string"}),
    _parameter("datetime", "which scene: an instant, a date or an interval; the latest scene in it", {"type": "string"}),
)  # fmt: skip


def document_coverage_parameters(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document saying what ``…/coverage`` accepts beyond pygeoapi's own parameters."""
    for path, operations in document.get("paths", {}).items():
        get = operations.get("get") if path.endswith("/coverage") else None
        if not isinstance(get, dict):
            continue
        parameters = list(get.get("parameters", []))
        present = {p.get("name") for p in parameters}
        get["parameters"] = parameters + [p for p in COVERAGE_PARAMETERS if p["name"] not in present]
    return document


def describe_collection(api: API, request: APIRequest, dataset: str | None = None) -> Answer:
    """pygeoapi's collection document(s); a coverage's also names its CRSs and its domain and range."""
    headers, status, content = core_api.describe_collections(api, request, dataset)
    if dataset is None or status != HTTPStatus.OK or "json" not in str(headers.get("Content-Type", "")):
        return headers, status, content
    try:
        grid = coverage_grid_of(api, dataset)
    except ProviderGenericError:  # pygeoapi has just loaded it: this would be a race with a re-ingest
        grid = None
    if grid is None:
        return headers, status, content
    document = json.loads(content)
    document.update(collection_members(grid))
    url = f"{api.get_collections_url()}/{dataset}/coverage"
    document["links"] = [*document.get("links", []), *(
        {"rel": f"{OGC_REL}/coverage-{part}", "type": "application/json", "title": f"The coverage's {part}",
         "href": f"{url}/{part}?f=json"}
        for part in ("domainset", "rangetype")
    )]  # fmt: skip
    return headers, status, to_json(document, api.pretty_print)


def coverage_domainset(api: API, request: APIRequest, dataset: str) -> Answer:
    """``/collections/{id}/coverage/domainset``: the CIS domain set (Lon/Lat grid)."""
    return _document(api, request, dataset, domain_set)


def coverage_rangetype(api: API, request: APIRequest, dataset: str) -> Answer:
    """``/collections/{id}/coverage/rangetype``: one field per band."""
    return _document(api, request, dataset, range_type)


def coverage_grid_of(api: API, dataset: str) -> CoverageGrid | None:
    """The grid of the collection's coverage provider in this view; None when it has none."""
    resource = api.config["resources"].get(dataset)
    if resource is None:
        return None
    try:
        definition = get_provider_by_type(resource.get("providers", []), "coverage")
    except ProviderTypeError:
        return None
    return getattr(load_plugin("provider", definition), "grid", None)


def _document(api: API, request: APIRequest, dataset: str, describe: Callable[[CoverageGrid], dict]) -> Answer:
    headers = request.get_response_headers(**api.api_headers)
    try:
        grid = coverage_grid_of(api, dataset)
    except ProviderGenericError as err:
        return api.get_exception(err.http_status_code, headers, request.format, err.ogc_exception_code, err.message)
    if grid is None:
        return api.get_exception(
            HTTPStatus.NOT_FOUND, headers, request.format, "NotFound", f"no coverage {dataset[:60]!r}"
        )
    headers["Content-Type"] = "application/json"
    return headers, HTTPStatus.OK, to_json(describe(grid), api.pretty_print)
