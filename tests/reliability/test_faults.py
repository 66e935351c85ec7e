"""Faults: the database restarted under load, a loader killed mid-load, the disk full during an upload.

These run on a scratch PostgreSQL cluster of their own (``var/test-clusters/``), so restarting
it disturbs no other test. The city in it is restored from the session's demo dump.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from spatial.config import PROJECT_ROOT, Settings
from spatial.db import make_engine
from spatial.postgis import EmbeddedCluster
from tests.fingerprint import fingerprint, table_names
from tests.live import live_server
from tests.reliability.conftest import CENTRE, OVERLAY, ReliableCity, build_city

WRITERS = 4


@dataclass
class ScratchCity:
    cluster: EmbeddedCluster
    city: ReliableCity


@pytest.fixture(scope="module")
def scratch(demo_dump: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScratchCity]:
    root = PROJECT_ROOT / "var" / "test-clusters" / f"faults-{uuid.uuid4().hex[:8]}"
    cluster = EmbeddedCluster(root)
    state = cluster.start()
    try:
        url = state.url()
        var_dir = tmp_path_factory.mktemp("faults-var")
        tokens = build_city(url, demo_dump, var_dir)
        settings = Settings(database_url=url, var_dir=var_dir, port=0, rate_limit_writes="off",
                            rate_limit_anonymous="off")  # fmt: skip
        engine = make_engine(url, pool_size=2)
        with live_server(settings) as base:
            yield ScratchCity(cluster, ReliableCity(url, settings, engine, base, tokens))
        engine.dispose()
    finally:
        cluster.destroy()


# --------------------------------------------------------------------------- database restart
@dataclass
class Traffic:
    """What the clients saw: (time, status, body) per request, and the acknowledged incidents."""

    answers: list[tuple[float, int, str, dict]] = field(default_factory=list)
    acknowledged: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def note(self, response: httpx.Response | None, error: str = "") -> None:
        with self.lock:
            if response is None:
                self.answers.append((time.monotonic(), 0, error, {}))
                return
            self.answers.append((time.monotonic(), response.status_code, response.text[:300], dict(response.headers)))
            if response.status_code == 201:
                self.acknowledged.append(response.json()["id"])


def writer(city: ReliableCity, traffic: Traffic, number: int, marker: str) -> None:
    """File incidents (with a token) until told to stop."""
    with httpx.Client(base_url=city.base, timeout=30, headers=city.auth("inspector")) as http:
        n = 0
        while not traffic.stop.is_set():
            body = {"category_code": "1102", "source": "inspector", "external_id": f"{marker}-{number}-{n}",
                    "location": {"lon": CENTRE[0] + n * 1e-5, "lat": CENTRE[1] + number * 1e-4}}  # fmt: skip
            try:
                traffic.note(http.post("/api/v1/incidents", json=body))
            except httpx.TransportError as err:
                traffic.note(None, repr(err))
            n += 1


def reader(city: ReliableCity, traffic: Traffic) -> None:
    """Read features, the catalog and an anonymous page until told to stop."""
    paths = [f"/ogc/collections/{OVERLAY}/items?limit=5", "/api/v1/layers", "/open311/v2/requests.json",
             f"/ogc/collections/{OVERLAY}/items/3"]  # fmt: skip
    with httpx.Client(base_url=city.base, timeout=30) as http:
        i = 0
        while not traffic.stop.is_set():
            try:
                traffic.note(http.get(paths[i % len(paths)]))
            except httpx.TransportError as err:
                traffic.note(None, repr(err))
            i += 1
            time.sleep(0.02)


def first_success_after(traffic: Traffic, moment: float) -> float | None:
    with traffic.lock:
        times = [t for t, status, _, _ in traffic.answers if t > moment and status == 201]
    return min(times) if times else None


def test_database_restart_fails_cleanly_and_recovers(scratch: ScratchCity) -> None:
    city, traffic, marker = scratch.city, Traffic(), uuid.uuid4().hex[:8]
    threads = [threading.Thread(target=writer, args=(city, traffic, i, marker)) for i in range(WRITERS)]
    threads.append(threading.Thread(target=reader, args=(city, traffic)))
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.5)
        stopped = time.monotonic()
        scratch.cluster.stop(mode="fast")
        time.sleep(2.0)
        scratch.cluster.start()
        started = time.monotonic()
        deadline = started + 60
        while first_success_after(traffic, started) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
    finally:
        traffic.stop.set()
        for thread in threads:
            thread.join(timeout=60)
    recovered = first_success_after(traffic, started)
    assert recovered is not None, "the API did not recover after the database came back"
    statuses = [status for _, status, _, _ in traffic.answers]
    down = [(body, headers) for t, status, body, headers in traffic.answers if status == 503]
    print(f"\ndatabase restart: {len(statuses)} requests, {statuses.count(503)} answered 503 while it was down, "
          f"{len(traffic.acknowledged)} filings acknowledged; first write {recovered - started:.2f} s after the "
          f"database was back ({recovered - stopped:.2f} s after it stopped)")
    assert down, "requests made while the database was down were answered 503"
    assert set(statuses) <= {200, 201, 503}, sorted(set(statuses))
    for body, headers in down:
        answer = json.loads(body)
        message = answer[0]["description"] if isinstance(answer, list) else answer["description"]
        assert "database" in message and "Traceback" not in body
        assert int(headers["retry-after"]) > 0
    with city.engine.connect() as conn:
        stored = set(conn.execute(text("SELECT id FROM incidents.incident WHERE external_id LIKE :m"),
                                  {"m": f"{marker}-%"}).scalars())  # fmt: skip
        events = conn.execute(text("SELECT count(*) FROM incidents.incident_event WHERE incident_id = ANY(:ids)"),
                              {"ids": list(stored)}).scalar_one()  # fmt: skip
    assert set(traffic.acknowledged) <= stored, "an acknowledged filing was lost"
    assert events == len(stored), "every stored incident has its report event"
    assert httpx.get(f"{city.base}/health", timeout=30).json()["status"] == "ok"


# ----------------------------------------------------------------------- loader killed mid-load
def big_geojson(path: Path, n: int = 400_000) -> None:
    """``n`` points matching the overlay's attributes, written without geopandas (fast)."""
    with path.open("w", encoding="utf-8") as out:
        out.write('{"type": "FeatureCollection", "features": [')
        for i in range(n):
            out.write(("," if i else "") + '{"type":"Feature","geometry":{"type":"Point","coordinates":['
                      f'{CENTRE[0] + (i % 1000) * 1e-5:.6f},{CENTRE[1] + (i // 1000) * 1e-5:.6f}]}},'
                      f'"properties":{{"name":"p{i}","capacity":{i}}}}}')  # fmt: skip
        out.write("]}")


def copy_running(city: ReliableCity) -> bool:
    with city.engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND query ILIKE 'COPY %' AND state = 'active'")).scalar())  # fmt: skip


def test_a_loader_killed_mid_load_leaves_the_previous_version(scratch: ScratchCity, tmp_path: Path) -> None:
    city = scratch.city
    watched = [f"thematic.{OVERLAY}", "catalog.layer", "audit.feature_change", "audit.event"]
    before, tables = fingerprint(city.engine, watched), table_names(city.engine)
    source = tmp_path / "sites.geojson"
    big_geojson(source)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMAP_")} | {"ONEMAP_DATABASE_URL": city.url}
    loader = subprocess.Popen([sys.executable, "-m", "api.cli", "layers", "add", str(source), "--name", OVERLAY,
                               "--department", "emergency", "--title", "站点"], env=env, cwd=PROJECT_ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 180
    while not copy_running(city):
        assert loader.poll() is None, "the loader ended before its COPY could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    loader.send_signal(signal.SIGKILL)
    loader.wait(timeout=30)
    while copy_running(city):  # the server notices the dead client and rolls back
        time.sleep(0.05)
    assert fingerprint(city.engine, watched) == before, "the previous version is intact"
    assert table_names(city.engine) == tables, "no staging table was left behind"
    response = httpx.get(f"{city.base}/ogc/collections/{OVERLAY}/items?limit=1", timeout=30)
    assert response.status_code == 200 and response.json()["numberMatched"] == before[f"thematic.{OVERLAY}"][0]


# --------------------------------------------------------------------------- disk full on upload
@pytest.fixture()
def tiny_temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The process's temporary folder on a 2 MiB tmpfs (needs root; skipped where mount is refused)."""
    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mountpoint)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tiny tmpfs here (root needed): {mounted.stderr.strip()}")
    monkeypatch.setattr(tempfile, "tempdir", str(mountpoint))
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def test_disk_full_during_upload_is_a_clear_error(scratch: ScratchCity, tiny_temp_dir: Path, tmp_path: Path) -> None:
    city = scratch.city
    source = tmp_path / "big.geojson"
    big_geojson(source, n=60_000)  # about 6 MB: more than the 2 MiB the temporary folder holds
    watched = [f"thematic.{OVERLAY}", "catalog.layer", "audit.event"]
    before = fingerprint(city.engine, watched)
    with source.open("rb") as body:
        response = httpx.post(f"{city.base}/api/v1/layers", headers=city.auth("editor"), timeout=120,
                              data={"name": OVERLAY}, files={"file": ("sites.geojson", body)})  # fmt: skip
    assert response.status_code == 507, response.text
    assert "disk is full" in response.json()["description"]
    assert fingerprint(city.engine, watched) == before
    assert shutil.disk_usage(tiny_temp_dir).used < 64 * 1024, "nothing left behind in the temporary folder"
    ok = httpx.post(f"{city.base}/api/v1/incidents", json={"category_code": "1102", "location": dict(zip(("lon", "lat"), CENTRE, strict=True))},
                    timeout=30)  # fmt: skip
    assert ok.status_code == 201, "the server keeps serving"
