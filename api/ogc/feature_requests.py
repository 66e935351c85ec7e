"""OGC API Features requests held to the standard where pygeoapi 0.21 is lenient, around its calls.

- A query parameter the API does not define is refused with 400 (``/req/core/query-param-unknown``),
  through the one error table; defined are the Features parameters below and the collection's
  queryable properties. Only the collections of the caller's view are checked, so a hidden
  collection is still the same 404 as a missing one.
- ``crs``, ``bbox-crs`` and ``filter-crs`` take any spelling ``spatial.crs.parse_crs_uri`` reads
  (``EPSG:4326`` as the README writes it, a URN, the OGC URI) and reach pygeoapi as the URI.
- ``datetime`` is read by ``spatial.params.parse_interval`` (a bare date is its whole UTC day, as
  for imagery); a time outside the layer's extent is an empty page, not a 400.
- GeoJSON answers say ``application/geo+json`` (unless the client accepts only ``application/json``),
  and carry their links as ``Link`` headers too (``/rec/core/link-header``), pages also the link
  to the collection's queryables (Features Part 3, ``/req/queryables/get-queryables-uris``).
- ``next`` links ask for pages of at least ``NEXT_PAGE_ITEMS`` features (within the server's
  maximum): clients that page by following them, such as GDAL's OAPIF driver before 3.8 (which
  asks for 10 at a time), read a layer in a few dozen requests instead of thousands.
- Collections without items (imagery: coverages and maps) say so: ``dataType`` (OGC API Common
  Part 2, Tiles) and ``layerDataType``, the key GDAL's OAPIF driver skips collections by (it lists
  every other collection as a vector layer, whatever ``itemType`` says); their ``/items`` is a 404.

``install`` puts these functions in the place of pygeoapi's (``api.ogc.compat.install``), so every
route and wrapper that calls pygeoapi's items, item or collections function goes through them.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import orjson
import pygeoapi.api as core_api
import pygeoapi.api.itemtypes as itemtypes_api
from pygeoapi.api import API, APIRequest
from pygeoapi.plugin import load_plugin
from pygeoapi.provider.base import ProviderGenericError
from pygeoapi.util import get_provider_by_type
from starlette.datastructures import QueryParams

from spatial.crs import parse_crs_uri
from spatial.errors import InvalidInput, NotFound
from spatial.params import parse_int, parse_interval

GEOJSON = "application/geo+json"
ITEMS_PARAMETERS = frozenset({
    "f", "lang", "bbox", "bbox-crs", "crs", "limit", "offset", "datetime", "resulttype", "sortby",
    "properties", "skipGeometry", "filter", "filter-lang", "filter-crs",
})  # fmt: skip
ITEM_PARAMETERS = frozenset({"f", "lang", "crs"})
CRS_PARAMETERS = ("crs", "bbox-crs", "filter-crs")
NEXT_PAGE_ITEMS = 1000  # GDAL 3.8+'s own default page size
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
LINK_RELS = ("self", "alternate", "next", "prev", "collection", QUERYABLES_REL)
COVERAGE_REL = "http://www.opengis.net/def/rel/ogc/1.0/coverage"
MAP_REL = "http://www.opengis.net/def/rel/ogc/1.0/map"


@dataclass
class FeatureAnswer:
    """What the serialiser is asked to do for one items/item answer, and the links it saw."""

    page_items: int | None = None
    links: list[dict[str, Any]] = field(default_factory=list)


FEATURE_ANSWER: ContextVar[FeatureAnswer | None] = ContextVar("onemap_feature_answer", default=None)


def _original(function: Any) -> Any:
    """pygeoapi's own function, also when ours were installed before this module was (re)loaded."""
    return getattr(function, "pygeoapi_original", function)


PYGEOAPI_ITEMS = _original(itemtypes_api.get_collection_items)
PYGEOAPI_ITEM = _original(itemtypes_api.get_collection_item)
PYGEOAPI_COLLECTIONS = _original(core_api.describe_collections)


# ------------------------------------------------------------------------------ the door
def get_items(api: API, request: APIRequest, collection_id: str) -> tuple[dict, int, Any]:
    """``…/items``: pygeoapi's answer to a request checked and normalised here."""
    resource = _feature_resource(api, collection_id)
    names = None if resource is None else queryable_names(resource)
    if resource is None or names is None:  # not ours to check, or pygeoapi will say what failed
        return PYGEOAPI_ITEMS(api, request, collection_id)
    _check(request, ITEMS_PARAMETERS | names, collection_id)
    answer = FeatureAnswer(page_items=next_page_items(api.config, resource))
    token = FEATURE_ANSWER.set(answer)
    try:
        headers, status, content = PYGEOAPI_ITEMS(api, request, collection_id)
    finally:
        FEATURE_ANSWER.reset(token)
    answer.links.append({"rel": QUERYABLES_REL, "type": "application/schema+json",
                         "href": f"{api.get_collections_url()}/{collection_id}/queryables"})  # fmt: skip
    return _as_geojson(request, headers, status, answer), status, content


def get_item(api: API, request: APIRequest, collection_id: str, item_id: str) -> tuple[dict, int, Any]:
    """``…/items/{id}``: pygeoapi's answer to a request checked and normalised here."""
    if _feature_resource(api, collection_id) is None:
        return PYGEOAPI_ITEM(api, request, collection_id, item_id)
    _check(request, ITEM_PARAMETERS, collection_id)
    answer = FeatureAnswer()
    token = FEATURE_ANSWER.set(answer)
    try:
        headers, status, content = PYGEOAPI_ITEM(api, request, collection_id, item_id)
    finally:
        FEATURE_ANSWER.reset(token)
    return _as_geojson(request, headers, status, answer), status, content


def _feature_resource(api: API, collection_id: str) -> dict[str, Any] | None:
    """The view's resource of a feature collection; None when the view has no such collection.

    A collection of the view without features (imagery) has no items: NotFound, with where to go.
    """
    resource = api.config.get("resources", {}).get(collection_id)
    if resource is None or resource.get("type") != "collection":
        return None
    types = {provider.get("type") for provider in resource.get("providers", [])}
    if "feature" in types:
        return resource
    offered = ", ".join(sorted(t for t in types if t in ("coverage", "map", "tile")))
    raise NotFound(f"collection {collection_id!r} has no items: it is offered as {offered or 'other data'}")


def queryable_names(resource: dict[str, Any]) -> set[str] | None:
    """The property names a feature collection may be filtered by (``?name=value``); None when
    its provider cannot be loaded (pygeoapi then answers with the provider's own error)."""
    try:
        provider = load_plugin("provider", get_provider_by_type(resource["providers"], "feature"))
    except ProviderGenericError:
        return None
    return set(provider.get_fields())


def _check(request: APIRequest, names: frozenset[str] | set[str], collection_id: str) -> None:
    """Unknown parameters refused (InvalidInput); CRS parameters written as their URIs."""
    unknown = sorted(key for key in request.params if key not in names)
    if unknown:
        shown = ", ".join(repr(key[:40]) for key in unknown[:5])
        raise InvalidInput(
            f"unknown query parameter {shown} for {collection_id!r}: parameters are "
            f"{', '.join(sorted(ITEMS_PARAMETERS & names))} and the queryables"
        )
    pairs = [(key, _normalised(key, value)) for key, value in request.params.multi_items()]
    request._args = QueryParams(pairs)  # pygeoapi reads the query from here


def _normalised(key: str, value: str) -> str:
    """A CRS parameter as its OGC URI; a datetime checked by the one interval parser."""
    if key in CRS_PARAMETERS:
        return parse_crs_uri(value, name=key)
    if key == "datetime":
        parse_interval(value, name=key)
    return value


# ------------------------------------------------------------------------------ answers
def _as_geojson(request: APIRequest, headers: dict, status: int, answer: FeatureAnswer) -> dict:
    """GeoJSON answers named as such, their links also as ``Link`` headers."""
    if status != HTTPStatus.OK or request.format not in (None, "json"):
        return headers
    if wants_geojson(request.headers.get("Accept") or request.headers.get("accept")):
        headers["Content-Type"] = GEOJSON
    link = link_header(answer.links)
    if link:
        headers["Link"] = link
    return headers


def wants_geojson(accept: str | None) -> bool:
    """Whether a JSON answer may be labelled GeoJSON: yes, unless only plain JSON is accepted.

    >>> wants_geojson(None), wants_geojson("application/geo+json"), wants_geojson("application/json")
    (True, True, False)
    """
    types = {part.split(";")[0].strip().lower() for part in (accept or "").split(",")}
    return not ("application/json" in types and GEOJSON not in types)


def link_header(links: list[dict[str, Any]]) -> str:
    """An RFC 8288 ``Link`` header of the links a client follows (self, alternate, next…)."""
    values = [f'<{link["href"]}>; rel="{link["rel"]}"; type="{link.get("type", "")}"'
              for link in links if link.get("rel") in LINK_RELS and link.get("href")]  # fmt: skip
    return ", ".join(values)


def next_page_items(config: dict[str, Any], resource: dict[str, Any]) -> int:
    """The page size ``next`` links ask for: ``NEXT_PAGE_ITEMS`` within the configured maximum."""
    limits = {**config.get("server", {}).get("limits", {}), **resource.get("limits", {})}
    return min(NEXT_PAGE_ITEMS, int(limits.get("max_items") or NEXT_PAGE_ITEMS))


def prepare_for_json(content: Any) -> None:
    """Called by the serialiser (``api.ogc.compat.to_json``): enlarge ``next``, collect the links."""
    answer = FEATURE_ANSWER.get()
    if answer is None or not isinstance(content, dict):
        return
    links = content.get("links") or []
    for link in links:
        if link.get("rel") == "next" and answer.page_items and link.get("href"):
            link["href"] = with_page_size(str(link["href"]), answer.page_items)
    answer.links = [link for link in links if isinstance(link, dict)]


def with_page_size(href: str, page_items: int) -> str:
    """``href`` asking for at least ``page_items`` features per page.

    >>> with_page_size("http://h/items?offset=10&limit=10&bbox=1,2,3,4", 1000)
    'http://h/items?offset=10&bbox=1,2,3,4&limit=1000'
    """
    url = urlsplit(href)
    pairs = parse_qsl(url.query, keep_blank_values=True)
    asked = [value for key, value in pairs if key == "limit"]
    try:
        current = parse_int(asked[-1], name="limit") if asked else 0
    except InvalidInput:
        current = 0
    if current >= page_items:
        return href
    pairs = [(key, value) for key, value in pairs if key != "limit"] + [("limit", str(page_items))]
    return urlunsplit(url._replace(query=urlencode(pairs, safe=",", quote_via=quote)))


# ------------------------------------------------------------------------------ collections
def describe_collections(api: API, request: APIRequest, collection_id: str | None = None) -> tuple[dict, int, Any]:
    """``/collections`` and ``/collections/{id}``, collections without items marked as such."""
    headers, status, content = PYGEOAPI_COLLECTIONS(api, request, collection_id)
    if status != HTTPStatus.OK or request.format not in (None, "json") or not isinstance(content, str | bytes):
        return headers, status, content
    document = orjson.loads(content)
    for collection in document.get("collections", [document]):
        mark_data_type(collection)
    return headers, status, orjson.dumps(document).decode()


def mark_data_type(collection: dict[str, Any]) -> None:
    """A collection without items: ``dataType`` coverage or map, and GDAL's ``layerDataType``."""
    if collection.get("itemType") or not isinstance(collection.get("links"), list):
        return
    rels = {link.get("rel") for link in collection["links"] if isinstance(link, dict)}
    if COVERAGE_REL in rels:
        collection.update(dataType="coverage", layerDataType="Coverage")
    elif MAP_REL in rels:
        collection.update(dataType="map", layerDataType="Raster")


# ------------------------------------------------------------------------------ the API document
def _query_parameter(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "style": "form", "explode": False,
            "description": description, "schema": schema}  # fmt: skip


DOCUMENTED_PARAMETERS = (
    _query_parameter("datetime", "an instant, a date (that whole UTC day) or an interval (start/end, '..' open); "
                     "features without a time always match", {"type": "string"}),
    _query_parameter("filter", "a CQL2 text (or ECQL) filter expression over the queryables", {"type": "string"}),
    _query_parameter("filter-lang", "the language of filter", {"type": "string", "enum": ["cql2-text", "cql-text"]}),
    _query_parameter("filter-crs", "the CRS of the filter's geometries (a URI or EPSG:<code>)", {"type": "string"}),
    _query_parameter("resulttype", "hits: only count the matching features",
                     {"type": "string", "enum": ["results", "hits"], "default": "results"}),
)  # fmt: skip
FREE_FORM = "#/components/parameters/vendorSpecificParameters"


def document_items_parameters(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document saying what ``…/items`` accepts: the parameters above, nothing free-form."""
    for path, operations in document.get("paths", {}).items():
        get = operations.get("get") if path.endswith("/items") else None
        if not isinstance(get, dict):
            continue
        parameters = [p for p in get.get("parameters", []) if p.get("$ref") != FREE_FORM]
        present = {p.get("name") for p in parameters}
        get["parameters"] = parameters + [p for p in DOCUMENTED_PARAMETERS if p["name"] not in present]
    return document


# ------------------------------------------------------------------------------ pygeoapi hooks
def feature_datetime(resource_def: dict[str, Any], datetime_: str | None = None) -> str | None:
    """pygeoapi's ``validate_datetime`` for items: syntax only (the one parser), no extent check."""
    if datetime_ is not None:
        parse_interval(datetime_, name="datetime")
    return datetime_


def install() -> None:
    """Our items, item and collections functions and datetime reading in pygeoapi's place (idempotent).

    pygeoapi's ``validate_datetime`` stays for coverages and maps (their scenes, their words).
    """
    pairs: tuple[tuple[Any, Any], ...] = ((get_items, PYGEOAPI_ITEMS), (get_item, PYGEOAPI_ITEM),
                                          (describe_collections, PYGEOAPI_COLLECTIONS))  # fmt: skip
    for function, original in pairs:
        function.pygeoapi_original = original
    itemtypes_api.validate_datetime = feature_datetime
    itemtypes_api.get_collection_items = get_items
    itemtypes_api.get_collection_item = get_item
    core_api.describe_collections = describe_collections

