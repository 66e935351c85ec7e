"""The OpenAPI 3.0 document of the REST API (/api/v1) and Open311 GeoReport v2 (/open311/v2).

Hand-written next to the routes it describes (``api/routes``): each path, parameter, body and
answer here is one those routes accept or give. It is served at ``/api/v1/openapi.json`` and
fuzzed with schemathesis by the test suite, so a route and its description cannot drift apart
without a failing test. Error answers are described once (``Error``, ``Open311Errors``); a
database that is down is a 503 everywhere.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

JSON = "application/json"
Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def query(name: str, schema: Schema, description: str, required: bool = False) -> Schema:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def path_param(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


def answers(ok: dict[str, Schema], *errors: str, secured: bool = False) -> dict[str, Schema]:
    """Responses: the successes given, the error statuses listed; 401 and 503 always.

    401 everywhere: a malformed, unknown, revoked or expired bearer token is refused on every
    path, even where anonymous callers are welcome (``secured`` is kept for readers).
    """
    out: dict[str, Schema] = dict(ok)
    for status in sorted({*errors, "401", "503"}):
        out[status] = {"description": ERRORS.get(status, "refused"), "content": {JSON: {"schema": ref("Error")}}}
    return out


def json_ok(schema: Schema, description: str = "done", media: str = JSON) -> Schema:
    return {"description": description, "content": {media: {"schema": schema}}}


ERRORS = {"400": "bad input: a message says what", "401": "credentials missing or refused", "403": "not allowed",
          "404": "no such thing (or hidden from the caller)", "409": "the state moved on", "413": "too large",
          "429": "over the rate limit (Retry-After)", "503": "the database is not reachable: try again"}  # fmt: skip

LON = {"type": "number", "minimum": -180, "maximum": 180}
LAT = {"type": "number", "minimum": -90, "maximum": 90}
TIME = {"type": "string", "format": "date-time"}
LAYER = path_param("layer", {"type": "string"}, "layer id")
INCIDENT = path_param("incident", {"type": "integer", "minimum": 1}, "incident id")
CRS = query("crs", {"type": "string", "enum": ["CRS84", "EPSG:4326", "EPSG:4490", "gcj02", "bd09"]}, "output CRS")
GEOCODE_LIMIT = query("limit", {"type": "integer", "minimum": 1, "maximum": 50}, "most matches")
STRUCTURED = ("house_number", "street", "building", "unit", "city", "district", "postcode", "state", "name")

SCHEMAS: dict[str, Schema] = {
    "Error": {"type": "object", "required": ["code", "description"],
              "properties": {"code": {"type": "string"}, "type": {"type": "string"},
                             "description": {"type": "string"}, "details": {"type": "array"}}},
    "Layer": {"type": "object", "required": ["id", "kind", "visibility", "links"],
              "properties": {"id": {"type": "string"}, "kind": {"type": "string"}, "visibility": {"type": "string"},
                             "links": {"type": "object"}}},
    "Layers": {"type": "object", "required": ["layers"], "properties": {"layers": {"type": "array", "items": ref("Layer")}}},
    "History": {"type": "object", "required": ["layer", "changes", "count"],
                "properties": {"layer": {"type": "string"}, "changes": {"type": "array"}, "count": {"type": "integer"}}},
    "Published": {"type": "object", "required": ["report", "summary", "layer"],
                  "properties": {"report": {"type": "object"}, "summary": {"type": "array"}, "layer": {"type": "string"}}},
    "Matches": {"type": "object", "required": ["type", "features"],
                "properties": {"type": {"enum": ["FeatureCollection"]}, "features": {"type": "array"}}},
    "Batch": {"type": "object", "required": ["count", "matched", "results"],
              "properties": {"count": {"type": "integer"}, "matched": {"type": "integer"}, "results": {"type": "array"}}},
    "Categories": {"type": "object", "required": ["categories"], "properties": {"categories": {"type": "array"}}},
    "Report": {"type": "object", "required": ["category_code"],
               "properties": {"category_code": {"type": "string"}, "description": {"type": "string"},
                              "location": {"type": "object", "properties": {"lon": LON, "lat": LAT}},
                              "address": {"type": "string"},
                              "source": {"type": "string", "enum": ["inspector", "hotline", "public", "video"]},
                              "reporter_name": {"type": "string"}, "reporter_contact": {"type": "string"},
                              "reported_at": TIME, "external_id": {"type": "string"}}},
    "Filed": {"type": "object", "required": ["id", "state", "department_code", "register_due_at"],
              "properties": {"id": {"type": "integer"}, "state": {"type": "string"},
                             "department_code": {"type": "string"}, "register_due_at": {"type": "string"}}},
    "Incident": {"type": "object", "required": ["id", "state", "category_code"],
                 "properties": {"id": {"type": "integer"}, "state": {"type": "string"}, "category_code": {"type": "string"}}},
    "Events": {"type": "object", "required": ["incident", "events"],
               "properties": {"incident": {"type": "integer"}, "events": {"type": "array"}}},
    "Transition": {"type": "object", "required": ["action"],
                   "properties": {"action": {"type": "string", "enum": [
                       "register", "not_register", "merge", "dispatch", "accept", "return", "handled", "verify",
                       "rework", "close", "suspend", "resume", "request_extension", "approve_extension",
                       "deny_extension"]},
                       "reason": {"type": "string"}, "department": {"type": "string"},
                       "extension_minutes": {"type": "integer"}, "merge_into": {"type": "integer"},
                       "version": {"type": "integer"}}},
    "Transitioned": {"type": "object", "required": ["incident_id", "action", "from_state", "state", "version"],
                     "properties": {"incident_id": {"type": "integer"}, "action": {"type": "string"},
                                    "from_state": {"type": "string"}, "state": {"type": "string"},
                                    "version": {"type": "integer"}}},
    "Overdue": {"type": "object", "required": ["count", "incidents"],
                "properties": {"count": {"type": "integer"}, "incidents": {"type": "array"}}},
    "Kpis": {"type": "object", "required": ["by", "formulas", "groups"],
             "properties": {"by": {"type": "string"}, "formulas": {"type": "object"}, "groups": {"type": "array"}}},
    "GridCode": {"type": "object", "required": ["lon", "lat", "geo_grid", "unit_cell"],
                 "properties": {"geo_grid": {"type": "object"}, "unit_cell": {"type": "object", "nullable": True}}},
    "Open311Errors": {"type": "array", "items": {"type": "object", "required": ["code", "description"],
                      "properties": {"code": {"type": "integer"}, "description": {"type": "string"}}}},
    "Open311List": {"type": "array", "items": {"type": "object"}},
}  # fmt: skip


def rest_paths() -> dict[str, Schema]:
    """The /api/v1 operations."""
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    return {
        "/api/v1/layers": {
            "get": {"summary": "layers the caller may see", "responses": answers({"200": json_ok(ref("Layers"))})},
            "post": {"summary": "publish or replace a layer from a file", "security": bearer,
                     "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                         "type": "object", "required": ["file", "name"],
                         "properties": {"file": {"type": "string", "format": "binary"}, "name": {"type": "string"},
                                        "title": {"type": "string"}, "title_en": {"type": "string"},
                                        "visibility": {"type": "string", "enum": ["public", "internal", "department"]},
                                        "crs": {"type": "string"}, "invalid": {"type": "string", "enum": ["repair", "reject"]},
                                        "new_schema": {"type": "string", "enum": ["true", "false"]}}}}}},
                     "responses": answers({"200": json_ok(ref("Published"), "replaced"), "201": json_ok(ref("Published"), "created")},
                                          "400", "403", "409", "413", "429", secured=True)},  # fmt: skip
        },
        "/api/v1/layers/{layer}": {"get": {"summary": "one layer", "parameters": [LAYER],
                                           "responses": answers({"200": json_ok(ref("Layer"))}, "404")}},
        "/api/v1/layers/{layer}/history": {"get": {
            "summary": "the layer's feature history", "parameters": [
                LAYER, query("feature", {"type": "string"}, "one feature"), query("since", TIME, "from"),
                query("until", TIME, "until"), query("limit", {"type": "integer", "minimum": 1, "maximum": 10000}, "rows")],
            "responses": answers({"200": json_ok(ref("History"))}, "400", "404")}},
        "/api/v1/layers/{layer}/download": {"get": {
            "summary": "the whole layer", "parameters": [LAYER],
            "responses": answers({"200": {"description": "GeoJSON or GeoTIFF", "content": {
                "application/geo+json": {"schema": {"type": "object"}},
                "image/tiff": {"schema": {"type": "string", "format": "binary"}}}}}, "404")}},
        "/api/v1/geocode": {"get": {
            "summary": "forward geocoding", "parameters": [
                query("q", {"type": "string", "minLength": 1, "maxLength": 200}, "free text"), GEOCODE_LIMIT, CRS,
                *[query(name, {"type": "string", "minLength": 1, "maxLength": 100}, name) for name in STRUCTURED]],
            "responses": answers({"200": json_ok(ref("Matches"))}, "400")}},
        "/api/v1/geocode/batch": {"post": {
            "summary": "geocode a list", "requestBody": {"required": True, "content": {
                JSON: {"schema": {"type": "array", "maxItems": 20, "items": {"oneOf": [
                    {"type": "string", "minLength": 1, "maxLength": 100},
                    {"type": "object", "required": ["q"], "properties": {"id": {"type": "string"}, "q": {"type": "string"}}}]}}},
                "text/csv": {"schema": {"type": "string"}}}},
            "responses": answers({"200": json_ok(ref("Batch"))}, "400", "413")}},
        "/api/v1/reverse": {"get": {
            "summary": "reverse geocoding", "parameters": [
                query("lon", LON, "longitude", required=True), query("lat", LAT, "latitude", required=True),
                query("radius", {"type": "number", "minimum": 0, "maximum": 5000}, "metres"), GEOCODE_LIMIT, CRS],
            "responses": answers({"200": json_ok(ref("Matches"))}, "400")}},
        "/api/v1/suggest": {"get": {
            "summary": "autocomplete", "parameters": [
                query("q", {"type": "string", "minLength": 1, "maxLength": 100}, "what is typed", required=True),
                GEOCODE_LIMIT, CRS],
            "responses": answers({"200": json_ok(ref("Matches"))}, "400")}},
        **incident_paths(bearer),
        "/api/v1/supervision/overdue": {"get": {
            "summary": "incidents past or near their deadline", "security": bearer, "parameters": [
                query("department", {"type": "string"}, "department code"),
                query("warnings", {"type": "string", "enum": ["true", "false"]}, "include warnings")],
            "responses": answers({"200": json_ok(ref("Overdue"))}, secured=True)}},
        "/api/v1/supervision/kpis": {"get": {
            "summary": "KPIs per group", "security": bearer, "parameters": [
                query("by", {"type": "string", "enum": ["department", "district", "street", "community", "cell",
                                                         "inspector"]}, "group"),
                query("since", TIME, "from"), query("until", TIME, "until")],
            "responses": answers({"200": json_ok(ref("Kpis"))}, "400", secured=True)}},
        "/api/v1/grid/code": {"get": {
            "summary": "geographic grid code and unit cell of a point", "parameters": [
                query("lon", LON, "longitude", required=True), query("lat", LAT, "latitude", required=True),
                query("level", {"type": "string", "enum": ["1d", "10m", "1m", "10s", "1s"]}, "grid level")],
            "responses": answers({"200": json_ok(ref("GridCode"))}, "400")}},
    }  # fmt: skip


def incident_paths(bearer: list[Schema]) -> dict[str, Schema]:
    """Filing and moving incidents."""
    transition_body = {"required": True, "content": {JSON: {"schema": ref("Transition")}}}
    return {
        "/api/v1/incidents/categories": {"get": {"summary": "the category catalogue",
                                                 "responses": answers({"200": json_ok(ref("Categories"))})}},
        "/api/v1/incidents": {"post": {
            "summary": "file a report", "requestBody": {"required": True, "content": {JSON: {"schema": ref("Report")}}},
            "responses": answers({"201": json_ok(ref("Filed"), "filed")}, "400", "401", "403", "413", "429")}},
        "/api/v1/incidents/{incident}": {"get": {"summary": "one incident (the public view for anonymous callers)",
                                                 "parameters": [INCIDENT],
                                                 "responses": answers({"200": json_ok(ref("Incident"))}, "404")}},
        "/api/v1/incidents/{incident}/events": {"get": {
            "summary": "the event log (staff)", "security": bearer, "parameters": [INCIDENT],
            "responses": answers({"200": json_ok(ref("Events"))}, "404")}},
        "/api/v1/incidents/{incident}/transitions": {"post": {
            "summary": "move an incident", "security": bearer, "parameters": [INCIDENT], "requestBody": transition_body,
            "responses": answers({"200": json_ok(ref("Transitioned"))}, "400", "403", "404", "409", "413", "429",
                                 secured=True)}},
        "/api/v1/incidents/{incident}/merge": {"post": {
            "summary": "mark as a duplicate of another", "security": bearer, "parameters": [INCIDENT],
            "requestBody": {"required": True, "content": {JSON: {"schema": {
                "type": "object", "required": ["into"], "properties": {"into": {"type": "integer"}, "reason": {"type": "string"}}}}}},
            "responses": answers({"200": json_ok(ref("Transitioned"))}, "400", "403", "404", "409", "413", "429",
                                 secured=True)}},
        "/api/v1/incidents/{incident}/photos/{photo}": {"get": {
            "summary": "a photo", "parameters": [INCIDENT, path_param("photo", {"type": "integer", "minimum": 1}, "photo id")],
            "responses": answers({"200": {"description": "the image", "content": {
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/webp": {"schema": {"type": "string", "format": "binary"}}}}}, "404")}},
    }  # fmt: skip


def open311_answers(ok: dict[str, Schema], *errors: str) -> dict[str, Schema]:
    """Open311 answers: JSON or XML, errors as the specification's list."""
    out = dict(ok)
    for status in sorted({*errors, "401", "503"}):
        # a refused bearer header is answered before Open311's own format applies
        schema = {"anyOf": [ref("Open311Errors"), ref("Error")]} if status == "401" else ref("Open311Errors")
        out[status] = {"description": ERRORS[status], "content": {
            JSON: {"schema": schema}, "text/xml": {"schema": {"type": "string"}}}}
    return out


def open311_paths() -> dict[str, Schema]:
    """The Open311 GeoReport v2 operations."""
    fmt = path_param("fmt", {"type": "string", "enum": ["json", "xml"]}, "answer format")
    listing = {"200": {"description": "the list", "content": {JSON: {"schema": ref("Open311List")},
                                                              "text/xml": {"schema": {"type": "string"}}}}}
    created = {"201": {"description": "filed", "content": {JSON: {"schema": ref("Open311List")},
                                                           "text/xml": {"schema": {"type": "string"}}}}}
    form = {"type": "object", "required": ["api_key", "service_code"], "properties": {
        "api_key": {"type": "string"}, "service_code": {"type": "string"}, "lat": LAT, "long": LON,
        "address_string": {"type": "string"}, "description": {"type": "string", "maxLength": 4000},
        "first_name": {"type": "string"}, "last_name": {"type": "string"}, "email": {"type": "string"},
        "phone": {"type": "string"}, "device_id": {"type": "string"}, "requested_datetime": TIME}}
    return {
        "/open311/v2/services.{fmt}": {"get": {"summary": "the services (categories)", "parameters": [fmt],
                                               "responses": open311_answers(listing, "404")}},
        "/open311/v2/services/{code}.{fmt}": {"get": {
            "summary": "a service definition", "parameters": [path_param("code", {"type": "string"}, "service code"), fmt],
            "responses": open311_answers({"200": {"description": "the definition", "content": {
                JSON: {"schema": {"type": "object"}}, "text/xml": {"schema": {"type": "string"}}}}}, "404")}},
        "/open311/v2/requests.{fmt}": {
            "get": {"summary": "public service requests", "parameters": [
                fmt, query("service_request_id", {"type": "string", "pattern": "^[0-9]+(,[0-9]+)*$"}, "ids"),
                query("service_code", {"type": "string"}, "codes"), query("start_date", TIME, "from"),
                query("end_date", TIME, "until"), query("status", {"type": "string", "enum": ["open", "closed"]}, "status")],
                "responses": open311_answers(listing, "400", "404")},
            "post": {"summary": "file a service request", "parameters": [fmt], "requestBody": {"required": True, "content": {
                "application/x-www-form-urlencoded": {"schema": form}}},
                "responses": open311_answers(created, "400", "401", "403", "404", "413", "429")},
        },
        "/open311/v2/requests/{id}.{fmt}": {"get": {
            "summary": "one service request", "parameters": [path_param("id", {"type": "string"}, "id"), fmt],
            "responses": open311_answers(listing, "400", "404")}},
    }  # fmt: skip


def document(base_url: str) -> Schema:
    """The whole OpenAPI document."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "onemap REST API and Open311 GeoReport v2", "version": "1",
                 "description": "OGC API is described separately at /ogc/openapi."},
        "servers": [{"url": base_url}],
        "paths": rest_paths() | open311_paths(),
        "components": {"schemas": SCHEMAS, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


async def openapi_endpoint(request: Request) -> Response:
    """GET /api/v1/openapi.json."""
    return JSONResponse(document(request.app.state.settings.base_url))
