"""The deployment on this machine (issue 19): nginx in front of two `onemap serve` processes and Redis.

Real processes on free ports in a tmp folder (``api.local_stack``): redis-server, two API processes
on a demo city, nginx running the site ``onemap deploy nginx`` renders from the same settings the API
processes run with. Through nginx: health, an OGC page (links on the public address, gzip), a
vector tile, static files, a filing with a token, the event stream delivering that filing,
X-Forwarded-For believed only from nginx, both processes serving, a body over the limit answered
413 in the one error shape, and one API process killed without a failed request (then both: nginx's
503 in the same shape). Everything is stopped at the end, failures included.

Skips only when nginx or redis-server is missing and CI is unset (CI installs both:
.ci/os-packages.sh).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import morecantile
import pytest
import redis
from sqlalchemy import make_url

from api.local_stack import LocalStack, missing_programs
from spatial.access.principal import local_operator
from spatial.config import PROJECT_ROOT, Settings
from spatial.db import make_engine
from spatial.postgis import EmbeddedCluster, create_database, standbys
from tests.live import ServedCity

GUIYI = (108.94, 34.26)  # inside the demo city's 归义区
TIMEOUT = 30
BODY_LIMIT = 2 * 1024 * 1024
ROLES = {"inspector": ("supervision", "inspector"), "supervisor": ("supervision", "editor")}


@dataclass
class DeployedCity:
    """The city's database on a scratch cluster of its own, a hot standby of it, tokens."""

    served: ServedCity
    replica_url: str

    @property
    def url(self) -> str:
        return self.served.url

    @property
    def tokens(self) -> dict[str, str]:
        return self.served.tokens


def replica_cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMAP_")} | {"ONEMAP_PG_DATA": str(root)}
    return subprocess.run([sys.executable, "-m", "api.cli", "db", "replica", *args], env=env, capture_output=True,
                          text=True, timeout=120, cwd=PROJECT_ROOT)  # fmt: skip


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeployedCity]:
    """The small demo with a unit grid, the category catalogue and tokens on a scratch cluster (small to
    copy), and a replica of it made by `onemap db replica add` (both destroyed at the end)."""
    missing = missing_programs()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing} missing on CI (.ci/os-packages.sh installs them)")
        pytest.skip(f"not installed here: {missing}")
    from layers.demo.load import load_demo
    from layers.grid_layers import register_grid_layers
    from spatial import migrate
    from spatial.access.tokens import create_token
    from spatial.grid.build import build_grid
    from spatial.incidents.categories import load_catalogue, read_catalogue

    root = PROJECT_ROOT / "var" / "test-clusters" / f"deploy-{uuid.uuid4().hex[:8]}"
    cluster = EmbeddedCluster(root)
    engine, copier = None, ThreadPoolExecutor(max_workers=1)
    try:
        state = cluster.start()
        create_database(state, "onemap_deploy")
        url = state.url("onemap_deploy")
        # the copy starts now, while the city loads: what follows reaches the standby as WAL
        adding = copier.submit(replica_cli, root, "add")
        engine = make_engine(url, pool_size=2)
        migrate.upgrade(engine)
        settings = Settings(database_url=url, var_dir=tmp_path_factory.mktemp("deploy-var"))
        load_demo(engine, settings, size="small", seed=42, imagery=False, console=None, principal=local_operator())
        build_grid(engine, principal=local_operator())
        load_catalogue(engine, read_catalogue(), principal=local_operator())
        with engine.begin() as conn:
            register_grid_layers(conn)
        tokens = {name: create_token(engine, department_code=dept, role=role, name=name,
                                     actor=local_operator()).secret for name, (dept, role) in ROLES.items()}  # fmt: skip
        added = adding.result()
        assert added.returncode == 0, added.stderr
        replica_url = make_url(added.stdout.strip()).set(database="onemap_deploy").render_as_string(hide_password=False)
        yield DeployedCity(ServedCity(url, settings, engine, "", tokens), replica_url)
    finally:
        copier.shutdown(wait=True)  # a copy under way finishes before its primary goes
        if engine is not None:
            engine.dispose()
        for standby in standbys(cluster):  # the primary goes too, slots and all: no `remove` needed
            standby.destroy()
        cluster.destroy()


@pytest.fixture(scope="module")
def stack(city: DeployedCity, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    env = {
        "ONEMAP_VAR_DIR": str(city.served.settings.var_dir),
        "ONEMAP_DATABASE_READ_URLS": city.replica_url,
        "ONEMAP_REPLICA_CHECK_S": "0.3",
        "ONEMAP_REPLICA_MAX_LAG_S": "30",
        "ONEMAP_RATE_LIMIT_WRITES": "off",
        "ONEMAP_RATE_LIMIT_ANONYMOUS": "1/minute",  # per process: shows whose address the API counts
        "ONEMAP_MAX_BODY_BYTES": str(BODY_LIMIT),
        "ONEMAP_MAX_UPLOAD_BYTES": str(BODY_LIMIT),
        "ONEMAP_MAX_FEATURE_BYTES": str(BODY_LIMIT // 2),
        "ONEMAP_GEOCODE_BATCH_MAX_BYTES": str(BODY_LIMIT // 2),
        "ONEMAP_DB_POOL_SIZE": "4",
        "ONEMAP_STREAM_KEEPALIVE_S": "2",
    }
    with LocalStack(tmp_path_factory.mktemp("stack"), city.url, apis=2, env=env) as running:
        yield running


def auth(city: DeployedCity, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {city.tokens[role]}"}


def upstreams(stack: LocalStack, lines: list[str] | None = None) -> list[str]:
    """The API process (port) of each proxied request in nginx's access log."""
    return re.findall(r"upstream=127\.0\.0\.1:(\d+)", "\n".join(stack.access_log() if lines is None else lines))


def assert_error_shape(answer: httpx.Response, status: int, code: str) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json"), answer.headers
    body = answer.json()
    assert set(body) >= {"code", "type", "description"} and body["code"] == code, body
    return body


# ------------------------------------------------------------------------------------ reads
def test_health_pages_tiles_and_static_through_nginx(stack: LocalStack) -> None:
    with httpx.Client(base_url=stack.url, timeout=TIMEOUT) as http:
        health = http.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        page = http.get("/ogc/collections/buildings/items", params={"f": "json", "limit": 200},
                        headers={"Accept-Encoding": "gzip"})  # fmt: skip
        assert page.status_code == 200 and page.headers.get("content-encoding") == "gzip", page.headers
        body = page.json()
        assert body["numberReturned"] == 200
        links = [link["href"] for link in body["links"]]
        assert links and all(href.startswith(stack.url) for href in links), links  # ONEMAP_PUBLIC_URL = nginx
        tile = morecantile.tms.get("WebMercatorQuad").tile(*GUIYI, 15)
        mvt = http.get(f"/ogc/collections/buildings/tiles/WebMercatorQuad/{tile.z}/{tile.y}/{tile.x}",
                       params={"f": "mvt"})  # fmt: skip
        assert mvt.status_code == 200 and len(mvt.content) > 100, (mvt.status_code, mvt.text[:300])
        assert "mapbox-vector-tile" in mvt.headers["content-type"]
        for path in ("/static/onemap.js", "/static/vendor/leaflet/leaflet.js"):
            served = http.get(path)
            direct = httpx.get(f"{stack.api_url()}{path}", timeout=TIMEOUT)
            assert served.status_code == direct.status_code == 200, path
            assert served.content == direct.content and served.headers.get("x-content-type-options") == "nosniff"
    assert not any("/static/" in line for line in stack.access_log() if "upstream=127.0.0.1" in line), \
        "nginx served /static itself"  # fmt: skip


def test_both_api_processes_serve(stack: LocalStack) -> None:
    """Round robin reaches every process (one that failed a moment ago sits out nginx's fail_timeout,
    so ask until both have answered, at most 40 times)."""
    before = len(stack.access_log())
    every = {str(p.port) for p in stack.api_processes}
    sent, served = 0, []
    with httpx.Client(base_url=stack.url, timeout=TIMEOUT) as http:
        while sent < 40 and set(served) != every:
            assert http.get("/ogc/collections", params={"f": "json"}).status_code == 200
            sent += 1
            served = upstreams(stack, stack.access_log()[before:])
    assert len(served) == sent and set(served) == every, served


# ------------------------------------------------------------------------------------ writes
def frames(lines: Iterator[str]) -> Iterator[dict[str, str]]:
    frame: dict[str, str] = {}
    for line in lines:
        if line == "":
            if frame:
                yield frame
            frame = {}
            continue
        name, _, value = line.partition(":")
        frame[name or "comment"] = value.removeprefix(" ")


def test_a_filing_arrives_on_the_event_stream_through_nginx(stack: LocalStack, city: DeployedCity) -> None:
    """The stream is held by one API process; the filing may land on the other: PostgreSQL's NOTIFY
    carries it across, nginx passes it on unbuffered."""
    found: dict[str, object] = {}
    events: list[dict] = []
    ready, done = threading.Event(), threading.Event()

    def listen() -> None:
        headers = auth(city, "supervisor") | {"Accept": "text/event-stream"}
        with httpx.Client(timeout=TIMEOUT) as client, \
                client.stream("GET", f"{stack.url}/api/v1/supervision/stream", headers=headers) as answer:  # fmt: skip
            found["status"], found["type"] = answer.status_code, answer.headers.get("content-type", "")
            for frame in frames(answer.iter_lines()):  # a keep-alive comment every 2 s: done is seen
                if "retry" in frame:
                    ready.set()
                if frame.get("event") == "incident":
                    events.append(json.loads(frame["data"]))
                if done.is_set():
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    try:
        assert ready.wait(TIMEOUT), f"the stream did not open through nginx: {found}"
        body = {"category_code": "0101", "description": "经nginx上报", "source": "inspector",
                "location": {"lon": GUIYI[0], "lat": GUIYI[1]}}  # fmt: skip
        filed = httpx.post(f"{stack.url}/api/v1/incidents", json=body, headers=auth(city, "inspector"),
                           timeout=TIMEOUT)  # fmt: skip
        assert filed.status_code == 201, filed.text
        incident = filed.json()["id"]
        waited = threading.Event()
        for _ in range(TIMEOUT * 10):
            if any(event["incident_id"] == incident for event in events):
                break
            waited.wait(0.1)
    finally:
        done.set()
        listener.join(TIMEOUT)
    assert found["status"] == 200 and str(found["type"]).startswith("text/event-stream")
    arrived = [event for event in events if event["incident_id"] == incident]
    assert arrived and arrived[0]["action"] == "report", f"the filing's event did not come through nginx: {events}"


def anonymous_filing(base: str, forwarded_for: str, local_address: str | None = None) -> int:
    body = {"category_code": "1102", "location": {"lon": GUIYI[0] + 0.003, "lat": GUIYI[1] + 0.001}}
    transport = httpx.HTTPTransport(local_address=local_address) if local_address else None
    with httpx.Client(transport=transport, timeout=TIMEOUT) as client:
        return client.post(f"{base}/api/v1/incidents", json=body, headers={"X-Forwarded-For": forwarded_for}).status_code


def test_forwarded_for_is_believed_only_from_nginx(stack: LocalStack) -> None:
    """Anonymous filings are limited to 1 a minute per client address in each API process.

    nginx connects from 127.0.0.2, the API's one trusted proxy, and overwrites X-Forwarded-For with
    the address its client came from; a client talking to an API process directly is not believed.
    """
    # directly to one process from 127.0.0.1: the spoofed addresses do not buy new budgets
    assert [anonymous_filing(stack.api_url(0), f"203.0.113.{i}") for i in (1, 2)] == [201, 429]
    # through nginx from 127.0.0.3, spoofing: one budget per process whatever the header says
    spoofed = [anonymous_filing(stack.url, f"198.51.100.{i}", "127.0.0.3") for i in range(4)]
    assert spoofed.count(201) <= len(stack.api_processes) and spoofed.count(429) >= 2, spoofed
    # a new client address through nginx is counted on its own: the API believed nginx
    assert anonymous_filing(stack.url, "198.51.100.9", "127.0.0.4") == 201


def test_a_body_over_the_limit_is_413_in_the_one_error_shape(stack: LocalStack, city: DeployedCity) -> None:
    big = b"x" * (BODY_LIMIT + 1024)
    headers = auth(city, "inspector") | {"Content-Type": "application/json"}
    answer = httpx.post(f"{stack.url}/api/v1/incidents", content=big, headers=headers, timeout=TIMEOUT)
    body = assert_error_shape(answer, 413, "PayloadTooLarge")
    assert f"{BODY_LIMIT:,}" in body["description"]
    direct = httpx.post(f"{stack.api_url()}/api/v1/incidents", content=big, headers=headers, timeout=TIMEOUT)
    assert assert_error_shape(direct, 413, "PayloadTooLarge") == body, "nginx and the API say the same"
    assert httpx.get(f"{stack.url}/health", timeout=TIMEOUT).status_code == 200


# ------------------------------------------------------------------------------------ replica and Redis
def replica_reads(stack: LocalStack) -> list[int | None]:
    """Reads the replica served in each API process (None: not up there yet)."""
    counts: list[int | None] = []
    for index in range(len(stack.api_processes)):
        report = httpx.get(f"{stack.api_url(index)}/health", timeout=TIMEOUT).json().get("replicas") or [{}]
        counts.append(report[0].get("reads") if report[0].get("state") == "up" else None)
    return counts


def test_reads_through_nginx_are_served_by_the_replica(stack: LocalStack) -> None:
    deadline = time.monotonic() + 60
    while None in replica_reads(stack):  # each process takes the replica into rotation after a check
        assert time.monotonic() < deadline, f"the replica did not come up in every API process: {replica_reads(stack)}"
        time.sleep(0.2)
    before = replica_reads(stack)
    with httpx.Client(base_url=stack.url, timeout=TIMEOUT) as http:
        for offset in range(10):
            page = http.get("/ogc/collections/buildings/items", params={"f": "json", "limit": 20, "offset": offset})
            assert page.status_code == 200 and page.json()["numberReturned"] == 20
        health = http.get("/health").json()
    after = replica_reads(stack)
    served = [b - a for a, b in zip(before, after, strict=True)]  # type: ignore[operator]
    assert sum(served) >= 10 and all(n > 0 for n in served), (before, after)
    assert health["replicas"][0]["state"] == "up" and "password" not in json.dumps(health)


def test_redis_tile_cache_is_shared_by_both_processes(stack: LocalStack) -> None:
    assert stack.redis_url
    store = redis.Redis.from_url(stack.redis_url)
    tile = morecantile.tms.get("WebMercatorQuad").tile(GUIYI[0] + 0.01, GUIYI[1], 16)
    path = f"/ogc/collections/buildings/tiles/WebMercatorQuad/{tile.z}/{tile.y}/{tile.x}?f=mvt"
    first, second = (httpx.Client(base_url=stack.api_url(i), timeout=TIMEOUT) for i in (0, 1))
    with first, second:
        deadline = time.monotonic() + 30
        while True:  # a process serves uncached until it knows the layer versions (a second or so)
            keys_before = len(store.keys("onemap:tile:*"))
            drawn = first.get(path)
            assert drawn.status_code == 200, drawn.text
            if len(store.keys("onemap:tile:*")) > keys_before or not keys_before and store.keys("onemap:tile:*"):
                break
            assert time.monotonic() < deadline, "the first process never kept the tile in Redis"
            time.sleep(0.2)
        keys = len(store.keys("onemap:tile:*"))
        hits = int(store.info("stats")["keyspace_hits"])
        kept = second.get(path)
        assert kept.status_code == 200 and kept.content == drawn.content
        assert kept.headers.get("etag") == drawn.headers.get("etag") and drawn.headers.get("etag")
        assert int(store.info("stats")["keyspace_hits"]) > hits, "the second process read the first one's tile"
        assert len(store.keys("onemap:tile:*")) == keys, "and kept no copy of its own"
        revalidated = httpx.get(f"{stack.url}{path}", headers={"If-None-Match": drawn.headers["etag"]}, timeout=TIMEOUT)
        assert revalidated.status_code == 304, "nginx passes the ETag revalidation through"


# ------------------------------------------------------------------------------------ failover (last)
def test_one_api_process_killed_nginx_fails_over(stack: LocalStack, city: DeployedCity) -> None:
    victim, survivor = stack.api_processes
    victim.kill()
    before = len(stack.access_log())
    statuses = []
    with httpx.Client(base_url=stack.url, timeout=TIMEOUT) as http:
        for i in range(12):
            statuses.append(http.get("/ogc/collections/buildings/items", params={"f": "json", "limit": 5}).status_code)
            if i % 4 == 0:
                body = {"category_code": "0101", "description": f"故障转移{i}", "source": "inspector",
                        "location": {"lon": GUIYI[0], "lat": GUIYI[1]}}  # fmt: skip
                statuses.append(http.post("/api/v1/incidents", json=body, headers=auth(city, "inspector")).status_code)
    assert set(statuses) <= {200, 201} and statuses.count(201) == 3, statuses
    after = stack.access_log()[before:]
    assert set(upstreams(stack, after)) >= {str(survivor.port)}
    assert all(line.split("upstream=")[1].split()[0].endswith(f":{survivor.port}") or "," in line.split("upstream=")[1]
               for line in after), after  # fmt: skip
    survivor.kill()
    down = httpx.get(f"{stack.url}/ogc/collections", timeout=TIMEOUT)
    assert_error_shape(down, 503, "ServiceUnavailable")
    assert down.headers.get("retry-after") == "5"
    processes = list(stack.processes)
    stack.stop()  # the fixture stops it again on its way out: stop is safe twice
    assert not any(p.alive() for p in processes), [p.name for p in processes if p.alive()]
