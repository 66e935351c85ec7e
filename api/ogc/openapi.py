"""A self-contained OpenAPI document: pygeoapi's references to schemas.opengis.net made local.

pygeoapi 0.21 points many ``$ref`` at schemas.opengis.net and raw.githubusercontent.com. Tools
(Swagger UI, schemathesis, code generators) then need the internet to read our API. We replace
each remote reference with a local component of the same meaning, written here from the OGC API
Features/Tiles/Processes Part 1 specifications; any remote reference we do not know becomes a
permissive local schema, so the document never leaves the machine.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

log = logging.getLogger(__name__)

_EXCEPTION = {
    "type": "object",
    "required": ["code"],
    "properties": {
        "code": {"type": "string"},
        "type": {"type": "string"},
        "description": {"type": "string"},
    },
}
_LINK = {
    "type": "object",
    "required": ["href"],
    "properties": {
        "href": {"type": "string"},
        "rel": {"type": "string"},
        "type": {"type": "string"},
        "hreflang": {"type": "string"},
        "title": {"type": "string"},
        "length": {"type": "integer"},
    },
}
_GEOJSON_FEATURE = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"type": "string", "enum": ["Feature"]},
        "geometry": {"nullable": True},
        "properties": {"type": "object", "nullable": True},
        "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
        "links": {"type": "array", "items": {"$ref": "#/components/schemas/ogc-link"}},
    },
}
_FEATURE_COLLECTION = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": {"type": "array", "items": {"$ref": "#/components/schemas/ogc-feature"}},
        "links": {"type": "array", "items": {"$ref": "#/components/schemas/ogc-link"}},
        "timeStamp": {"type": "string"},
        "numberMatched": {"type": "integer", "minimum": 0},
        "numberReturned": {"type": "integer", "minimum": 0},
    },
}


def _json_response(description: str, schema_ref: str, media: str = "application/json") -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": {"$ref": schema_ref}}}}


def _path_parameter(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


LOCAL_COMPONENTS: dict[str, dict[str, Any]] = {
    "schemas": {
        "ogc-exception": _EXCEPTION,
        "ogc-link": _LINK,
        "ogc-feature": _GEOJSON_FEATURE,
        "ogc-featureCollection": _FEATURE_COLLECTION,
        "ogc-object": {"type": "object"},
    },
    "parameters": {
        "ogc-featureId": _path_parameter("featureId", {"type": "string"}, "local identifier of a feature"),
        "ogc-tileMatrixSetId": _path_parameter(
            "tileMatrixSetId", {"type": "string", "enum": ["WebMercatorQuad"]}, "tile matrix set"
        ),
        "ogc-tileMatrix": _path_parameter("tileMatrix", {"type": "string"}, "zoom level (tile matrix)"),
        "ogc-tileRow": _path_parameter("tileRow", {"type": "integer", "minimum": 0}, "tile row"),
        "ogc-tileCol": _path_parameter("tileCol", {"type": "integer", "minimum": 0}, "tile column"),
        "ogc-sortby": {
            "name": "sortby",
            "in": "query",
            "required": False,
            "style": "form",
            "explode": False,
            "description": "properties to sort by, each optionally prefixed with + or -",
            "schema": {"type": "array", "items": {"type": "string", "pattern": "[+|-]?[A-Za-z_].*"}},
        },
    },
    "responses": {
        "ogc-LandingPage": _json_response("the landing page", "#/components/schemas/ogc-object"),
        "ogc-Collection": _json_response("a collection", "#/components/schemas/ogc-object"),
        "ogc-Features": _json_response(
            "a page of features", "#/components/schemas/ogc-featureCollection", "application/geo+json"
        ),
        "ogc-Feature": _json_response("a feature", "#/components/schemas/ogc-feature", "application/geo+json"),
        "ogc-InvalidParameter": _json_response("a query parameter has an invalid value", "#/components/schemas/ogc-exception"),
        "ogc-NotFound": _json_response("the requested resource does not exist", "#/components/schemas/ogc-exception"),
        "ogc-ServerError": _json_response("a server error occurred", "#/components/schemas/ogc-exception"),
    },
}

# pygeoapi 0.21's own components that its answers do not follow, as the answers are (and as the
# OGC API Tiles 1.0 tileset list defines them): /collections/{id}/tiles lists ``tilesets``, not
# the draft's ``tileMatrixSetLinks`` (found by schemathesis' schema-conformance check)
CORRECTED_SCHEMAS: dict[str, dict[str, Any]] = {
    "tiles": {
        "type": "object",
        "required": ["links", "tilesets"],
        "properties": {
            "links": {"type": "array", "items": {"$ref": "#/components/schemas/ogc-link"}},
            "tilesets": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["links", "crs", "dataType"],
                    "properties": {
                        "title": {"type": "string"},
                        "tileMatrixSetURI": {"type": "string"},
                        "crs": {"type": "string"},
                        "dataType": {"type": "string", "enum": ["map", "vector", "coverage"]},
                        "links": {"type": "array", "items": {"$ref": "#/components/schemas/ogc-link"}},
                    },
                },
            },
        },
    },
}

# remote file (without fragment) -> local reference, for references to whole files
WHOLE_FILE_REFS = {
    "sortby.yaml": "#/components/parameters/ogc-sortby",
    "NotFound.yaml": "#/components/responses/ogc-NotFound",
    "exception.yaml": "#/components/schemas/ogc-exception",
}


def local_ref(remote: str) -> str:
    """The local component standing for a remote ``$ref``."""
    document, _, fragment = remote.partition("#")
    if fragment:
        kind, _, name = fragment.strip("/").removeprefix("components/").partition("/")
        candidate = f"ogc-{name}"
        if candidate in LOCAL_COMPONENTS.get(kind, {}):
            return f"#/components/{kind}/{candidate}"
    filename = document.rsplit("/", 1)[-1]
    if filename in WHOLE_FILE_REFS:
        return WHOLE_FILE_REFS[filename]
    log.warning("OpenAPI: unknown remote reference %s replaced by a permissive schema", remote)
    return "#/components/schemas/ogc-object"


def _localise(node: Any) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(("http://", "https://")):
            return {**{k: _localise(v) for k, v in node.items() if k != "$ref"}, "$ref": local_ref(ref)}
        return {k: _localise(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_localise(v) for v in node]
    return node


def self_contained(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``document`` whose every ``$ref`` is local."""
    result = _localise(copy.deepcopy(document))
    components = result.setdefault("components", {})
    for kind, entries in LOCAL_COMPONENTS.items():
        components.setdefault(kind, {}).update(copy.deepcopy(entries))
    schemas = components.setdefault("schemas", {})
    for name, schema in CORRECTED_SCHEMAS.items():
        if name in schemas:
            schemas[name] = copy.deepcopy(schema)
    return result
