"""The OpenAPI document tells clients about bearer tokens, PATCH and preconditions.

pygeoapi 0.21 documents POST, PUT and DELETE of editable collections; onemap adds PATCH (merge
the body onto the stored feature), the If-Match precondition (412) and the bearer scheme,
with 401/403 on writes. Reads stay open (security is optional), as public layers are.
"""

from __future__ import annotations

import copy
from typing import Any

BEARER = {"type": "http", "scheme": "bearer", "description": "a token from `onemap tokens create`"}
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "the ETag read with the feature: the write fails with 412 if it changed since",
    "schema": {"type": "string"},
}
WRITE_RESPONSES = {
    "401": {"description": "no valid token"},
    "403": {"description": "the token's holder may not change this collection"},
    "404": {"description": "no such feature"},
    "412": {"description": "the feature changed since it was read (If-Match)"},
}


def with_access(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with the bearer scheme, and PATCH and If-Match on editable items."""
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearer"] = BEARER
    document["security"] = [{}, {"bearer": []}]
    for path, operations in document.get("paths", {}).items():
        if "put" in operations and path.endswith("/items/{featureId}"):
            operations["patch"] = _patch_of(operations["put"])
        for method in ("post", "put", "patch", "delete"):
            if method in operations and "/items" in path:
                _protect(operations[method], precondition=method != "post")
    return document


def _patch_of(put: dict[str, Any]) -> dict[str, Any]:
    patch = copy.deepcopy(put)
    patch["summary"] = put.get("summary", "").replace("Update", "Patch", 1) or "Patch an item"
    patch["operationId"] = put.get("operationId", "update").replace("update", "patch", 1)
    patch["requestBody"]["description"] = "a GeoJSON Feature with the properties (null clears) and/or geometry to change"
    return patch


def _protect(operation: dict[str, Any], *, precondition: bool) -> None:
    operation["security"] = [{"bearer": []}]
    responses = operation.setdefault("responses", {})
    for status, response in WRITE_RESPONSES.items():
        if precondition or status in ("401", "403"):
            responses.setdefault(status, response)
    if precondition:
        parameters = operation.setdefault("parameters", [])
        if IF_MATCH not in parameters:
            parameters.append(IF_MATCH)
