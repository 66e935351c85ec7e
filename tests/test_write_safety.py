"""Writes that cannot be lost, reads that never break, history of a layer's identity, photos
behind the one policy, and proxy headers believed only from the configured proxies.

All against the real server (``tests.live``) on the reliability city:

- edits and upload-replaces of one layer serialise on the layer's write lock: an edit arriving
  while a replace holds it waits and applies to the new version; under a storm of PATCHes with
  replaces in between, every acknowledged PATCH is in the history, and the layer's final state
  is what the history says, replayed in its order (nothing acknowledged then silently undone);
- readers hammering a layer whose schema is replaced (``new_schema``) get the old or the new
  layer, never an error;
- a layer removed and re-published under the same name starts with an empty history;
- handling-stage photos are 404 for anonymous and other departments' callers, like a missing photo;
- ``X-Forwarded-For`` from loopback does not move the anonymous filing limit unless
  ``ONEMAP_TRUSTED_PROXIES`` names the proxy.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import itertools
import json
import random
import threading
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from layers.catalog import LayerSpec, lock_layer
from layers.vector import load_vector_file, remove_layer
from spatial import migrate
from spatial.access.principal import local_operator
from spatial.db import make_engine
from spatial.history.changes import changes_since
from tests.incidents.conftest import png_bytes
from tests.live import live_server
from tests.reliability import conftest as reliability
from tests.reliability.conftest import CENTRE, ROLE_TOKENS, ReliableCity

demo_dump = reliability.demo_dump  # the reliability city's fixtures, shared with this module
reliable_city = reliability.reliable_city

OWNER = "emergency"
N = 12
STORED = 3000  # features of each file in the storm: a replace long enough for edits to meet it
STORMERS = 6
REPLACES = 3
PATCHES_BETWEEN = 15
TIMEOUT = 60


def geojson(properties: list[dict[str, Any]], *, dx: float = 0.0, step: float = 0.0004) -> bytes:
    """A FeatureCollection of points near the centre, one per properties dict."""
    features = [
        {"type": "Feature", "properties": props,
         "geometry": {"type": "Point", "coordinates": [CENTRE[0] + i * step + dx, CENTRE[1] + i * step / 2]}}
        for i, props in enumerate(properties)
    ]  # fmt: skip
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def load(city: ReliableCity, name: str, data: bytes, tmp_path) -> None:
    """Publish ``name`` from the command line's door (the operator), owned by ``OWNER``."""
    path = tmp_path / f"{name}.geojson"
    path.write_bytes(data)
    load_vector_file(city.engine, path, LayerSpec(name, name, name, OWNER), principal=local_operator(), door="cli")
    deadline = time.monotonic() + TIMEOUT  # the server sees a layer published elsewhere within a second
    for headers in ({}, city.auth("editor"), city.auth("admin")):  # each caller's view is refreshed on its own
        while httpx.get(f"{city.base}/ogc/collections/{name}", params={"f": "json"}, headers=headers,
                        timeout=TIMEOUT).status_code != 200:  # fmt: skip
            assert time.monotonic() < deadline, f"collection {name} never appeared"
            time.sleep(0.1)


def upload(city: ReliableCity, role: str, name: str, data: bytes, file_name: str, **fields: str) -> httpx.Response:
    return httpx.post(f"{city.base}/api/v1/layers", headers=city.auth(role), timeout=TIMEOUT,
                      data={"name": name, "title": name, **fields},
                      files={"file": (file_name, data, "application/geo+json")})  # fmt: skip


def patch(http: httpx.Client, city: ReliableCity, layer: str, fid: int, props: dict[str, Any]) -> httpx.Response:
    return http.patch(f"{city.base}/ogc/collections/{layer}/items/{fid}",
                      json={"type": "Feature", "properties": props},
                      headers={"Content-Type": "application/geo+json"})  # fmt: skip


def stored_values(city: ReliableCity, layer: str) -> dict[int, int]:
    with city.engine.connect() as conn:
        return {int(i): int(v) for i, v in conn.execute(text(f"SELECT id, v FROM thematic.{layer}"))}


def history(city: ReliableCity, layer: str, role: str = "admin") -> list[dict[str, Any]]:
    response = httpx.get(f"{city.base}/api/v1/layers/{layer}/history", params={"limit": 10000},
                         headers=city.auth(role), timeout=TIMEOUT)  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()["changes"]


@pytest.fixture(scope="session")
def city(reliable_city: ReliableCity) -> ReliableCity:
    return reliable_city


# ------------------------------------------------------------------------ edits and replaces
def test_an_edit_waits_for_a_replace_and_applies_to_the_new_version(city: ReliableCity, tmp_path) -> None:
    layer = "ws_wait"
    load(city, layer, geojson([{"v": 0} for _ in range(N)]), tmp_path)
    with city.engine.connect() as probe:
        before = probe.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory'")).scalar_one()
    with concurrent.futures.ThreadPoolExecutor(1) as pool, \
            httpx.Client(timeout=TIMEOUT, headers=city.auth("editor")) as http:
        with city.engine.begin() as replace:  # a whole-layer writer holds the layer's lock…
            lock_layer(replace, layer)
            pending = pool.submit(patch, http, city, layer, 3, {"v": 42})
            waiting = _wait_for(lambda: _advisory_waiters(city) > before, pending)
            assert waiting, "the PATCH should wait for the layer's write lock"
            assert not pending.done()
            # …and writes the new version meanwhile
            replace.execute(text(f"UPDATE thematic.{layer} SET v = -1"))
        answer = pending.result(timeout=TIMEOUT)
    assert answer.status_code == 204, answer.text
    values = stored_values(city, layer)
    assert values[3] == 42 and {v for k, v in values.items() if k != 3} == {-1}


def test_an_edit_that_waits_too_long_is_refused_and_not_stored(city: ReliableCity, tmp_path) -> None:
    layer = "ws_refuse"
    load(city, layer, geojson([{"v": 0} for _ in range(3)]), tmp_path)
    with city.engine.begin() as replace, httpx.Client(timeout=TIMEOUT, headers=city.auth("editor")) as http:
        lock_layer(replace, layer)  # a replace that outlasts the edit's lock timeout (10 s)
        answer = patch(http, city, layer, 2, {"v": 99})
    assert answer.status_code == 409, answer.text
    assert "replace of the whole layer" in answer.json()["description"]
    assert stored_values(city, layer) == {1: 0, 2: 0, 3: 0}
    assert [r["operation"] for r in history(city, layer)] == ["replace"]


def _advisory_waiters(city: ReliableCity) -> int:
    with city.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory'")).scalar_one())


def _wait_for(condition: Any, future: concurrent.futures.Future) -> bool:
    """Poll ``condition`` until true (True) or the future finished first (False); bounded."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if condition():
            return True
        if future.done():
            return False
        time.sleep(0.02)
    return False


def test_patch_storm_during_upload_replaces_loses_no_acknowledged_write(city: ReliableCity, tmp_path) -> None:
    layer = "ws_storm"
    load(city, layer, geojson([{"v": 0} for _ in range(STORED)], step=0.00002), tmp_path)
    counter = itertools.count(1)
    acknowledged: list[tuple[int, int]] = []  # (feature, value) of each 204
    refused: list[int] = []
    unexpected: list[str] = []
    lock = threading.Lock()
    replaced, stopped = threading.Event(), threading.Event()

    def storm(seed: int) -> None:
        rng = random.Random(seed)
        after = 0
        with httpx.Client(timeout=TIMEOUT, headers=city.auth("editor")) as http:
            while after < 10 and not stopped.is_set():
                fid, value = rng.randint(1, N), next(counter)
                answer = patch(http, city, layer, fid, {"v": value})
                with lock:
                    if answer.status_code == 204:
                        acknowledged.append((fid, value))
                    elif answer.status_code in (409, 412):  # refused: the edit was not applied
                        refused.append(answer.status_code)
                    else:
                        unexpected.append(f"{answer.status_code} {answer.text[:300]}")
                        stopped.set()
                if replaced.is_set():
                    after += 1

    def acknowledged_count() -> int:
        with lock:
            return len(acknowledged)

    def replace_several() -> list[int]:
        statuses = []
        for k in range(REPLACES):
            target = acknowledged_count() + PATCHES_BETWEEN
            while acknowledged_count() < target and not stopped.is_set():
                time.sleep(0.01)
            data = geojson([{"v": -(k + 1)} for _ in range(STORED)], dx=0.0001 * (k + 1), step=0.00002)
            answer = upload(city, "editor", layer, data, f"storm_{k}.geojson", new_schema="true")
            statuses.append(answer.status_code)
        replaced.set()
        return statuses

    with concurrent.futures.ThreadPoolExecutor(STORMERS + 1) as pool:
        stormers = [pool.submit(storm, seed) for seed in range(STORMERS)]
        replacer = pool.submit(replace_several)
        statuses = replacer.result(timeout=600)
        for future in stormers:
            future.result(timeout=600)
    assert unexpected == []
    assert statuses == [200] * REPLACES

    rows = history(city, layer)
    updates = [(int(r["feature_id"]), r["after"]["properties"]["v"]) for r in rows if r["operation"] == "update"]
    assert sorted(updates, key=lambda u: u[1]) == sorted(acknowledged, key=lambda u: u[1]), \
        "every acknowledged PATCH has exactly one history row, and nothing else was written"
    # replay the history in its order: a replace sets every feature to its file's value
    expected: dict[int, int] = {}
    replaces = 0
    inconsistent: list[tuple[int, int, int, int]] = []

    def kinds_so_far(row: dict[str, Any]) -> int:
        return sum(1 for r in rows if r["operation"] == "replace" and r["id"] < row["id"])
    for row in rows:
        if row["operation"] == "replace":
            source = row["after"]["source"]
            value = 0 if source == f"{layer}.geojson" else -(int(source.removeprefix("storm_").split(".")[0]) + 1)
            expected = dict.fromkeys(range(1, STORED + 1), value)
            replaces += 1
        elif row["operation"] == "update":
            fid = int(row["feature_id"])
            if row["before"]["properties"]["v"] != expected[fid]:  # applied to a state the history does not know
                inconsistent.append((fid, row["before"]["properties"]["v"], expected[fid], kinds_so_far(row)))
            expected[fid] = row["after"]["properties"]["v"]
    assert replaces == REPLACES + 1
    assert inconsistent == [], "edits the history orders after a replace were applied to the version before it"
    kinds = "".join("R" if r["operation"] == "replace" else "u" for r in rows)
    assert kinds.count("Ru") == REPLACES + 1, f"edits happened between and after the replaces: {kinds}"
    assert stored_values(city, layer) == expected, "the layer is what its history says"
    print(f"\nPATCH storm: {len(acknowledged)} acknowledged, {len(refused)} refused ({sorted(set(refused))}), "
          f"{REPLACES} upload-replaces, history replayed = stored")


# ------------------------------------------------------------------ readers during a swap
def test_readers_see_the_old_or_the_new_layer_during_new_schema_replaces(city: ReliableCity, tmp_path) -> None:
    layer = "ws_schema"
    old = [{"a": f"旧{i}"} for i in range(N)]
    new = [{"b": i, "c": f"新{i}"} for i in range(N)]
    load(city, layer, geojson(old), tmp_path)
    done = threading.Event()
    failures: list[str] = []
    shapes: set[frozenset[str]] = set()
    lock = threading.Lock()

    def read(seed: int) -> int:
        reads = 0
        rng = random.Random(seed)
        with httpx.Client(base_url=f"{city.base}/ogc/collections/{layer}", timeout=TIMEOUT) as http:
            while not done.is_set() or reads < 20:
                if rng.random() < 0.5:
                    answer = http.get("/items", params={"f": "json", "limit": 5})
                    features = answer.json().get("features", []) if answer.status_code == 200 else []
                else:
                    answer = http.get(f"/items/{rng.randint(1, N)}", params={"f": "json"})
                    features = [answer.json()] if answer.status_code == 200 else []
                reads += 1
                with lock:
                    if answer.status_code != 200:
                        failures.append(f"{answer.status_code}: {answer.text[:200]}")
                    shapes.update(frozenset(f["properties"]) for f in features)
        return reads

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        readers = [pool.submit(read, seed) for seed in range(4)]
        statuses = []
        for k in range(6):
            data = geojson(new if k % 2 == 0 else old)
            statuses.append(upload(city, "editor", layer, data, f"schema_{k}.geojson", new_schema="true").status_code)
        done.set()
        reads = sum(f.result(timeout=600) for f in readers)
    assert statuses == [200] * 6
    assert failures == [], f"{len(failures)} of {reads} reads failed, e.g. {failures[:3]}"
    assert shapes <= {frozenset({"a"}), frozenset({"b", "c"})}, shapes
    print(f"\nreaders during 6 new_schema replaces: {reads} reads, none failed")


# ---------------------------------------------------------------------- history by identity
def test_a_reused_layer_name_starts_with_an_empty_history(city: ReliableCity, tmp_path) -> None:
    layer = "ws_reuse"
    load(city, layer, geojson([{"v": 0} for _ in range(3)]), tmp_path)
    with httpx.Client(timeout=TIMEOUT, headers=city.auth("editor")) as http:
        assert patch(http, city, layer, 1, {"v": 7}).status_code == 204
    assert [r["operation"] for r in history(city, layer)] == ["replace", "update"]
    remove_layer(city.engine, layer, principal=local_operator())

    answer = upload(city, "other_editor", layer, geojson([{"w": 1}]), "reuse.geojson", visibility="public")
    assert answer.status_code == 201, answer.text
    rows = history(city, layer, role="other_editor")
    assert [(r["operation"], r["before"], r["department_code"]) for r in rows] == [("replace", None, "environment")]
    with city.engine.connect() as conn:  # what `onemap layers rollback` would undo
        since = changes_since(conn, layer, dt.datetime(2000, 1, 1, tzinfo=dt.UTC), None)
    assert [r["id"] for r in since] == [r["id"] for r in rows]


def test_migration_0006_backfills_history_of_the_current_layer_only(make_database) -> None:
    engine = make_engine(make_database("onemap_ws_migr"), pool_size=1)
    migrate.upgrade(engine, "0002_access")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO catalog.department (code, name_zh, name_en) VALUES ('d1', '部门', 'Dept')"))
        conn.execute(text("INSERT INTO catalog.layer (id, title_zh, title_en, description, department_code, kind, "
                          "visibility, id_field, geom_field, keywords, licence, style, attributes, version, "
                          "created_at) VALUES ('reused', 'r', 'r', '', 'd1', 'vector', 'public', 'id', 'geom', "
                          "'{}', 'CC-BY-4.0', '{}', '{}', 1, now() - interval '1 hour')"))  # fmt: skip
        for age, fid in (("2 hours", "old"), ("1 minute", "new")):
            conn.execute(text("INSERT INTO audit.feature_change (at, layer_id, feature_id, operation, path, actor) "
                              f"VALUES (now() - interval '{age}', 'reused', :f, 'update', 'ogc', 'someone')"),
                         {"f": fid})  # fmt: skip
    migrate.upgrade(engine)
    with engine.connect() as conn:
        uid = conn.execute(text("SELECT uid FROM catalog.layer WHERE id = 'reused'")).scalar_one()
        rows = dict(conn.execute(text("SELECT feature_id, layer_uid FROM audit.feature_change")).all())
    assert rows == {"old": None, "new": uid}
    engine.dispose()


# ---------------------------------------------------------------------------------- photos
def test_handling_photos_are_staff_only_and_hidden_like_missing(city: ReliableCity) -> None:
    filed = httpx.post(f"{city.base}/api/v1/incidents", timeout=TIMEOUT,
                       data={"category_code": "1102", "description": "照片", "lon": str(CENTRE[0] + 0.0021),
                             "lat": str(CENTRE[1] + 0.0013)},
                       files={"photo": ("report.png", png_bytes(), "image/png")})  # fmt: skip
    assert filed.status_code == 201, filed.text
    incident, report_photo = filed.json()["id"], filed.json()["photos"][0]
    for role, action in (("supervisor", "register"), ("commander", "dispatch"), ("admin", "accept")):
        step = httpx.post(f"{city.base}/api/v1/incidents/{incident}/transitions", headers=city.auth(role),
                          data={"action": action, "reason": "测试"}, timeout=TIMEOUT)  # fmt: skip
        assert step.status_code == 200, (action, step.text)
    handled = httpx.post(f"{city.base}/api/v1/incidents/{incident}/transitions", headers=city.auth("admin"),
                         data={"action": "handled", "reason": "已处置"}, timeout=TIMEOUT,
                         files={"photo": ("done.png", png_bytes((40, 30)), "image/png")})  # fmt: skip
    assert handled.status_code == 200, handled.text
    handling_photo = handled.json()["photo_ids"][0]
    with city.engine.connect() as conn:
        department = conn.execute(text("SELECT department_code FROM incidents.incident WHERE id = :i"),
                                  {"i": incident}).scalar_one()  # fmt: skip
        missing = int(conn.execute(text("SELECT max(id) FROM incidents.photo")).scalar_one()) + 1000

    def get(photo: int, role: str | None) -> httpx.Response:
        return httpx.get(f"{city.base}/api/v1/incidents/{incident}/photos/{photo}",
                         headers=city.auth(role) if role else {}, timeout=TIMEOUT)  # fmt: skip

    assert get(report_photo, None).status_code == 200  # the reporter's photo: the public view
    outsiders = [None] + [r for r in ("editor", "other_editor", "viewer") if _department(r) != department]
    assert len(outsiders) >= 2
    absent = get(missing, None)
    assert absent.status_code == 404
    for role in outsiders:
        hidden = get(handling_photo, role)
        assert hidden.status_code == 404, (role, hidden.status_code)
        assert hidden.json()["code"] == absent.json()["code"]
        assert hidden.content.replace(str(handling_photo).encode(), b"N") == \
            get(missing, role).content.replace(str(missing).encode(), b"N"), "hidden looks like missing"
    for role in ("supervisor", "commander", "inspector", "admin"):
        shown = get(handling_photo, role)
        assert shown.status_code == 200 and shown.headers["content-type"] == "image/png", role

    def listed(role: str | None) -> list[int]:
        record = httpx.get(f"{city.base}/api/v1/incidents/{incident}", headers=city.auth(role) if role else {},
                           timeout=TIMEOUT).json()  # fmt: skip
        return record.get("photo_ids", [])

    for role in outsiders[1:]:  # staff of other departments: the record lists only what they may open
        assert listed(role) == [report_photo], role
    assert listed("supervisor") == [report_photo, handling_photo]


def _department(role: str) -> str:
    return ROLE_TOKENS[role][0]


# ------------------------------------------------------------------------- proxy headers
def _file_from(base: str, forwarded_for: str) -> int:
    body = {"category_code": "1102", "location": {"lon": CENTRE[0] + 0.003, "lat": CENTRE[1] + 0.001}}
    return httpx.post(f"{base}/api/v1/incidents", json=body, headers={"X-Forwarded-For": forwarded_for},
                      timeout=TIMEOUT).status_code  # fmt: skip


@pytest.mark.parametrize(("proxies", "spoofed_statuses"), [("", [201, 201, 429]), ("127.0.0.1", [201, 201, 201])])
def test_forwarded_for_is_believed_only_from_trusted_proxies(city: ReliableCity, proxies, spoofed_statuses) -> None:
    settings = city.settings.model_copy(update={"rate_limit_anonymous": "2/minute", "trusted_proxies": proxies})
    with live_server(settings) as base:
        # three "clients" behind loopback: one budget unless loopback is a trusted proxy
        assert [_file_from(base, f"203.0.113.{i}") for i in (1, 2, 3)] == spoofed_statuses
        if proxies:  # the forwarded client is counted on its own: its third filing is over budget
            assert [_file_from(base, "198.51.100.7") for _ in range(3)] == [201, 201, 429]
