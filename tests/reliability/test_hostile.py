"""The hostile-input corpus: every case gets a clear 4xx (never a 5xx) and leaves the database as it
was, checked with a fingerprint of the tables a request could touch (row counts and md5 of the
ordered rows, plus the list of tables).

Request cases live in ``tests/reliability/hostile/*.json`` (SQL injection in CQL2 filters, sortby,
properties and every query parameter; path traversal; XML entities); payloads too big to keep in
the repository (zip bombs, millions of vertices, deep nesting) are generated below. A few
injection strings are *data* in a valid request (a feature id, a department code): those are a
200 that finds nothing, marked ``"expect": [200]`` in the corpus.
"""

from __future__ import annotations

import io
import json
import math
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.fingerprint import fingerprint, table_names
from tests.live import live_server
from tests.reliability.conftest import CENTRE, OVERLAY, ReliableCity

CORPUS = Path(__file__).parent / "hostile"
LIMIT = 1024 * 1024  # upload and feature limits of the hostile server
WATCHED = ["access.token", "audit.event", "audit.feature_change", "catalog.department", "catalog.layer",
           "incidents.incident", "incidents.incident_event", "incidents.incident_public", "incidents.photo",
           f"thematic.{OVERLAY}"]  # fmt: skip


@dataclass
class Case:
    """One hostile request and the statuses it may get."""

    id: str
    method: str = "GET"
    path: str = "/"
    query: dict[str, str] = field(default_factory=dict)
    role: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Callable[[], bytes | Iterator[bytes]] | None = None
    form: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes]] | Callable[[], dict[str, tuple[str, bytes]]] | None = None
    expect: tuple[int, ...] = (400,)
    empty: str | None = None  # a 200 whose member (or whole list, "") must be empty


def corpus_cases(name: str) -> list[Case]:
    cases = []
    for raw in json.loads((CORPUS / name).read_text(encoding="utf-8")):
        raw["expect"] = tuple(raw["expect"])
        cases.append(Case(**raw))
    return cases


def xml_cases() -> list[Case]:
    cases = []
    for raw in json.loads((CORPUS / "xml_entities.json").read_text(encoding="utf-8")):
        text = raw["body"]
        if text == "GENERATED_DEEP":
            text = "<request>" + "<a>" * 100_000 + "</a>" * 100_000 + "</request>"
        for fmt in ("json", "xml"):
            cases.append(Case(f"{raw['id']}-{fmt}", "POST", f"/open311/v2/requests.{fmt}", body=text.encode(),
                              headers={"Content-Type": "application/xml"}, expect=(400, 401)))  # fmt: skip
    return cases


# ---------------------------------------------------------------------------------- payloads
def feature_json(geometry_json: str, properties: str = '{"name": "x", "capacity": 1}') -> bytes:
    return f'{{"type": "Feature", "geometry": {geometry_json}, "properties": {properties}}}'.encode()


def ring(n: int) -> list[list[float]]:
    """A closed circle of ``n`` vertices around the centre."""
    points = [[CENTRE[0] + 0.01 * math.cos(2 * math.pi * i / n), CENTRE[1] + 0.01 * math.sin(2 * math.pi * i / n)]
              for i in range(n)]  # fmt: skip
    return points + [points[0]]


def million_vertices() -> bytes:
    """A LineString of 2,000,000 vertices (about 45 MB of JSON)."""
    coordinates = ",".join(f"[{CENTRE[0] + i * 1e-9:.9f},{CENTRE[1]:.6f}]" for i in range(2_000_000))
    return feature_json(f'{{"type": "LineString", "coordinates": [{coordinates}]}}')


def chunked(data: Callable[[], bytes]) -> Callable[[], Iterator[bytes]]:
    """The same body sent without Content-Length (chunked), so the limit must count bytes."""

    def stream() -> Iterator[bytes]:
        body = data()
        for start in range(0, len(body), 1 << 16):
            yield body[start : start + (1 << 16)]

    return stream


def deep_json(depth: int = 100_000) -> bytes:
    return b"[" * depth + b"]" * depth


def collection(*features: dict) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


POINT = {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(CENTRE)}, "properties": {"a": 1}}


def zip_bomb() -> bytes:
    """A zipped 'shapefile' whose padding unpacks to 300 MiB of zeros (about 300 KB packed)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("sites.shp", b"\0" * 100)
        with archive.open("padding.dbf", "w") as padding:
            block = b"\0" * (1 << 20)
            for _ in range(300):
                padding.write(block)
    return out.getvalue()


def zip_of_many() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(2000):
            archive.writestr(f"part{i}.txt", b"x")
    return out.getvalue()


def png_bomb() -> bytes:
    """A PNG header announcing 100,000 × 100,000 pixels (10 gigapixels) with a tiny body."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")


def nan_collection() -> bytes:
    return b'{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[NaN,Infinity]},"properties":{"a":1}}]}'


def deep_geometry_collection(depth: int = 3000) -> bytes:
    return (b'{"type":"FeatureCollection","features":[{"type":"Feature","geometry":'
            + b'{"type":"GeometryCollection","geometries":[' * depth + b"]}" * depth + b',"properties":{}}]}')  # fmt: skip


def upload(name: str, filename: str, content: bytes | Callable[[], bytes], expect: tuple[int, ...] = (400,)) -> Case:
    def files() -> dict[str, tuple[str, bytes]]:
        return {"file": (filename, content() if callable(content) else content)}

    return Case(f"upload-{name}", "POST", "/api/v1/layers", role="editor", form={"name": name, "title": "敌意"},
                files=files, expect=expect)  # fmt: skip


def feature_write(case_id: str, body: bytes | Callable, method: str = "POST", item: str = "", expect=(400,)) -> Case:
    path = f"/ogc/collections/{OVERLAY}/items" + (f"/{item}" if item else "")
    return Case(f"feature-{case_id}", method, path, role="editor", body=body,
                headers={"Content-Type": "application/geo+json"}, expect=expect)  # fmt: skip


def incident(case_id: str, body: bytes | Callable, expect=(400,), content_type: str = "application/json") -> Case:
    return Case(f"incident-{case_id}", "POST", "/api/v1/incidents", body=body,
                headers={"Content-Type": content_type}, expect=expect)  # fmt: skip


GENERATED = [
    # uploads: names, file names, bombs, sizes, broken GeoJSON
    upload("../../etc/passwd", "sites.geojson", collection(POINT)),
    upload("thematic.x; DROP TABLE catalog.layer", "sites.geojson", collection(POINT)),
    upload("pg_catalog", "../../../../tmp/onemap-pwned.sh", collection(POINT)),
    upload("hostile_backslash", "..\\..\\..\\onemap-evil.geojson", nan_collection()),
    upload("hostile_bomb", "bomb.zip", zip_bomb, expect=(413,)),
    upload("hostile_many", "many.zip", zip_of_many(), expect=(413,)),
    upload("hostile_big", "big.geojson", lambda: b" " * (2 * LIMIT) + collection(POINT), expect=(413,)),
    upload("hostile_vertices", "line.geojson", million_vertices, expect=(413,)),
    upload("hostile_nan", "nan.geojson", nan_collection()),
    upload("hostile_nested", "nested.geojson", collection({"type": "FeatureCollection", "features": [POINT]})),
    upload("hostile_deep", "deep.geojson", deep_geometry_collection()),
    upload("hostile_empty", "empty.geojson", b""),
    Case("upload-chunked-oversize", "POST", "/api/v1/layers", role="editor", expect=(413,),
         headers={"Content-Type": "multipart/form-data; boundary=xyz"},
         body=chunked(lambda: b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.geojson\"\r\n\r\n"
                      + b" " * (2 * LIMIT))),  # fmt: skip
    # single-feature writes (OGC API Part 4)
    feature_write("nan", feature_json('{"type": "Point", "coordinates": [NaN, Infinity]}')),
    feature_write("overflow", feature_json('{"type": "Point", "coordinates": [1e400, 34.26]}')),
    feature_write("nested-collection", feature_json(json.dumps({"type": "FeatureCollection", "features": [POINT]}))),
    feature_write("collection-of-collections", collection({"type": "FeatureCollection", "features": [POINT]})),
    feature_write("nested-geometry-collection", feature_json(json.dumps(
        {"type": "GeometryCollection", "geometries": [{"type": "GeometryCollection", "geometries": [POINT["geometry"]]}]}))),  # fmt: skip
    feature_write("deep-json", deep_json()),
    feature_write("million-vertices", million_vertices, expect=(413,)),
    feature_write("million-vertices-chunked", chunked(million_vertices), expect=(413,)),
    feature_write("polygon-on-points", lambda: feature_json(json.dumps({"type": "Polygon", "coordinates": [ring(20_000)]}))),
    feature_write("property-object", feature_json(json.dumps(POINT["geometry"]), '{"name": {"$gt": ""}, "capacity": 1}')),
    feature_write("property-sql", feature_json(json.dumps(POINT["geometry"]), '{"name": "x", "capacity": "1; DROP TABLE x"}')),
    feature_write("unknown-column", feature_json(json.dumps(POINT["geometry"]), '{"name": "x", "\\"; DROP TABLE x; --": 1}')),
    feature_write("put-nan", feature_json('{"type": "Point", "coordinates": [NaN, 34.26]}'), "PUT", "1"),
    feature_write("patch-injection-id", feature_json(json.dumps(POINT["geometry"])), "PATCH", "1 OR 1=1", expect=(400, 404)),
    feature_write("delete-injection-id", b"", "DELETE", "1;DELETE FROM thematic.rel_sites", expect=(400, 404)),
    # incident filing
    incident("nan-string", json.dumps({"category_code": "1102", "location": {"lon": "NaN", "lat": 34.26}}).encode()),
    incident("infinity-literal", b'{"category_code": "1102", "lon": Infinity, "lat": 34.26}'),
    incident("overflow", b'{"category_code": "1102", "lon": 1e400, "lat": 34.26}'),
    incident("deep-json", deep_json()),
    incident("category-injection", json.dumps({"category_code": "1102' OR '1'='1", "lon": CENTRE[0], "lat": CENTRE[1]}).encode()),
    incident("huge-description", json.dumps({"category_code": "1102", "lon": CENTRE[0], "lat": CENTRE[1],
                                              "description": "长" * 100_000}).encode()),  # fmt: skip
    incident("oversized-body", lambda: b'{"description": "' + b"x" * (50 * 1024 * 1024) + b'"}', expect=(413,)),
    Case("incident-photo-traversal", "POST", "/api/v1/incidents", expect=(400,),
         form={"category_code": "1102", "lon": str(CENTRE[0]), "lat": str(CENTRE[1])},
         files={"photo": ("../../../etc/passwd", b"root:x:0:0:root:/root:/bin/bash")}),  # fmt: skip
    Case("incident-photo-bomb", "POST", "/api/v1/incidents", expect=(400,),
         form={"category_code": "1102", "lon": str(CENTRE[0]), "lat": str(CENTRE[1])},
         files={"photo": ("bomb.png", png_bomb())}),  # fmt: skip
    # Open311 form posts
    Case("open311-infinite", "POST", "/open311/v2/requests.json", form={"api_key": "TOKEN:inspector", "service_code": "1102",
         "lat": "34.26", "long": "inf"}),  # fmt: skip
    Case("open311-sql-service", "POST", "/open311/v2/requests.json", form={"api_key": "TOKEN:inspector",
         "service_code": "1102'; DROP TABLE incidents.incident; --", "lat": "34.26", "long": "108.94"}),  # fmt: skip
    Case("open311-api-key-injection", "POST", "/open311/v2/requests.json", expect=(401,),
         form={"api_key": "' OR 1=1 --", "service_code": "1102", "lat": "34.26", "long": "108.94"}),
    # geocoding batch
    Case("geocode-batch-deep", "POST", "/api/v1/geocode/batch", body=deep_json(), headers={"Content-Type": "application/json"}),
    Case("geocode-batch-oversized", "POST", "/api/v1/geocode/batch", expect=(413,),
         body=lambda: b'["' + b"a" * (6 * 1024 * 1024) + b'"]', headers={"Content-Type": "application/json"}),
    Case("search-deep", "POST", f"/ogc/collections/{OVERLAY}/items", body=deep_json(),
         headers={"Content-Type": "application/query-cql-json"}),  # fmt: skip
    Case("search-xml", "POST", f"/ogc/collections/{OVERLAY}/items", headers={"Content-Type": "application/xml"},
         body=b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'),  # fmt: skip
    Case("process-deep", "POST", "/ogc/processes/geocode/execution", body=deep_json(),
         headers={"Content-Type": "application/json"}),  # fmt: skip
]
CASES = [*corpus_cases("sql_injection.json"), *corpus_cases("traversal.json"), *xml_cases(), *GENERATED]


@pytest.fixture(scope="module")
def hostile(reliable_city: ReliableCity) -> Iterator[tuple[str, ReliableCity]]:
    settings = reliable_city.settings.model_copy(update={"max_upload_bytes": LIMIT, "max_feature_bytes": LIMIT})
    with live_server(settings) as base:
        yield base, reliable_city


def state(city: ReliableCity) -> tuple[list[str], dict]:
    return table_names(city.engine), fingerprint(city.engine, WATCHED)


def materialise(case: Case, city: ReliableCity) -> dict:
    """httpx keyword arguments of a case, with tokens filled in."""
    headers = dict(case.headers) | (city.auth(case.role) if case.role else {})
    body = case.body() if callable(case.body) else case.body
    if isinstance(body, bytes):
        body = body.replace(b"KEY", city.tokens["inspector"].encode())
    form = {k: (city.tokens[v.split(":", 1)[1]] if v.startswith("TOKEN:") else v) for k, v in (case.form or {}).items()}
    files = case.files() if callable(case.files) else case.files
    kwargs: dict = {"headers": headers, "params": case.query}
    if files:
        kwargs |= {"files": files, "data": form}
    elif case.form is not None:
        kwargs["data"] = form
    elif body is not None:
        kwargs["content"] = body
    return kwargs


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input_is_refused_and_changes_nothing(hostile, case: Case, tmp_path: Path) -> None:
    base, city = hostile
    before = state(city)
    response = httpx.request(case.method, base + case.path, timeout=120, **materialise(case, city))
    assert response.status_code in case.expect, (case.id, response.status_code, response.text[:300])
    assert response.status_code < 500
    if response.status_code >= 400 and case.path.startswith(("/ogc", "/api")) and "json" in response.headers.get("content-type", ""):
        message = response.json().get("description") if isinstance(response.json(), dict) else None
        assert message is None or len(message) > 5, "a clear message"
    if case.empty is not None:
        answer = response.json()
        assert (answer[case.empty] if case.empty else answer) == [], case.id
    assert "root:x:0:0" not in response.text, "no file contents leak back"
    assert state(city) == before, f"{case.id} changed the database"
    assert not Path("/tmp/onemap-pwned.sh").exists() and not Path("/onemap-evil.geojson").exists()


def test_corpus_size() -> None:
    """The corpus covers every family the issue names (printed for the report)."""
    families = {c.id.split("-")[0] for c in CASES}
    print(f"\nhostile corpus: {len(CASES)} cases")
    assert len(CASES) > 100
    assert {"cql", "sortby", "properties", "upload", "feature", "incident", "xxe", "billion"} <= families
