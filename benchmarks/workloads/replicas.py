"""replicas: read throughput with 0, 1 and 2 streaming replicas behind two API processes.

Two hot standbys of the embedded cluster are made for the run (``StandbyCluster``:
pg_basebackup through a slot) and removed after it. Three set-ups are served at once, each by
two ``onemap serve`` processes (one worker each; the clients alternate between the two, as a
load balancer would): reads from the primary only, from one replica, from two. The same windows
go to each set-up, in alternating blocks, so the three see the same conditions on a shared machine.

Measured per set-up: requests/s of ``CONCURRENCY`` clients on
- features_bbox: ``/ogc/collections/buildings/items?bbox=<about 1 km²>&limit=1000``
  (served by a replica once the feature read sites call ``replica_read``),
- reverse geocoding at the windows' centres (``/api/v1/reverse``, which already does);
and the share of reads each set-up's processes sent to replicas (their /health counters).

On one 2-core machine the replicas share the CPUs with the primary, the API processes and
the clients: the numbers show that the replica path works and what it costs, not a gain.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg

from benchmarks.harness import Context, Figure, Result, workload
from benchmarks.workloads.features_bbox import windows
from spatial.config import Settings
from spatial.db import embedded_cluster, libpq_url
from spatial.postgis import StandbyCluster, free_port, standbys

CONCURRENCY = 4
BLOCK = 20  # requests per set-up before the next set-up's turn
SETUPS = (0, 1, 2)  # replicas behind each pair of API processes


@contextlib.contextmanager
def standby_pair(settings: Settings, database: str, count: int) -> Iterator[list[str]]:
    """``count`` new standbys of the embedded cluster; yields their URLs for ``database``; removes them."""
    primary = embedded_cluster(settings)
    made: list[StandbyCluster] = []
    try:
        for _ in range(count):
            taken = [s.number for s in standbys(primary)]
            standby = StandbyCluster(primary, max(taken, default=0) + 1)
            standby.create()
            made.append(standby)
        urls = [standby.read_state().url(database) for standby in made]
        for url in urls:
            _wait_connectable(url)
        yield urls
    finally:
        for standby in made:
            standby.remove()


def _wait_connectable(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(libpq_url(url), connect_timeout=3):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@contextlib.contextmanager
def api_processes(url: str, var_dir: Path, read_urls: list[str], count: int = 2) -> Iterator[list[str]]:
    """``count`` ``onemap serve`` processes reading from ``read_urls``; yields their base URLs once
    each reports every replica up."""
    env = {**os.environ, "ONEMAP_DATABASE_URL": url, "ONEMAP_VAR_DIR": str(var_dir),
           "ONEMAP_DATABASE_READ_URLS": ",".join(read_urls), "ONEMAP_REPLICA_CHECK_S": "1"}  # fmt: skip
    processes, bases = [], []
    try:
        for _ in range(count):
            port = free_port()
            processes.append(subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
                                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
            bases.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 120
        for base, process in zip(bases, processes, strict=True):
            while not _ready(base, len(read_urls)):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"API process {base} did not start with {len(read_urls)} replica(s) up")
                time.sleep(0.3)
        yield bases
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def _ready(base: str, replicas: int) -> bool:
    try:
        health = httpx.get(f"{base}/health", timeout=2)
    except httpx.HTTPError:
        return False
    if health.status_code != 200:
        return False
    states = [r["state"] for r in health.json().get("replicas", [])]
    return len(states) == replicas and all(state == "up" for state in states)


def replica_reads(bases: list[str]) -> int:
    return sum(r["reads"] for base in bases for r in httpx.get(f"{base}/health", timeout=10).json().get("replicas", []))


def features_request(bbox: tuple[float, ...]) -> tuple[str, dict]:
    return "/ogc/collections/buildings/items", {"f": "json", "limit": 1000,
                                                "bbox": ",".join(f"{v:.6f}" for v in bbox)}  # fmt: skip


def reverse_request(bbox: tuple[float, ...]) -> tuple[str, dict]:
    return "/api/v1/reverse", {"lon": f"{(bbox[0] + bbox[2]) / 2:.6f}", "lat": f"{(bbox[1] + bbox[3]) / 2:.6f}"}


def run_block(bases: list[str], boxes: list, make: Callable[[tuple[float, ...]], tuple[str, dict]]) -> tuple[int, float]:
    """(requests done, seconds) for ``boxes`` from CONCURRENCY clients, alternating between the processes."""

    def worker(start: int) -> int:
        done = 0
        with httpx.Client(timeout=120) as client:
            for i in range(start, len(boxes), CONCURRENCY):
                path, params = make(boxes[i])
                response = client.get(bases[i % len(bases)] + path, params=params)
                response.raise_for_status()
                done += 1
        return done

    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        done = sum(pool.map(worker, range(CONCURRENCY)))
    return done, time.perf_counter() - started


def measure(setups: dict[int, list[str]], boxes: list, make: Callable, warmup: int) -> dict[int, dict[str, float]]:
    """Requests/s and the replicas' share of reads per set-up, blocks interleaved."""
    for bases in setups.values():
        run_block(bases, boxes[:warmup], make)
    done = dict.fromkeys(setups, 0)
    seconds = dict.fromkeys(setups, 0.0)
    reads_before = {k: replica_reads(bases) for k, bases in setups.items()}
    for start in range(0, len(boxes), BLOCK):
        block = boxes[start : start + BLOCK]
        for k, bases in setups.items():
            n, s = run_block(bases, block, make)
            done[k] += n
            seconds[k] += s
    return {k: {"rps": done[k] / seconds[k],
                "replica_share": (replica_reads(bases) - reads_before[k]) / max(1, done[k])}
            for k, bases in setups.items()}  # fmt: skip


@workload("replicas")
def replicas(ctx: Context) -> list[Result]:
    n = 40 if ctx.quick else 240
    boxes = windows(ctx.url, n)
    warmup = 4 if ctx.quick else 20
    database = ctx.url.rsplit("/", 1)[-1]
    base_settings = Settings()
    with standby_pair(base_settings, database, max(SETUPS)) as urls, contextlib.ExitStack() as stack:
        setups = {k: stack.enter_context(api_processes(ctx.url, ctx.settings.var_dir, urls[:k])) for k in SETUPS}
        figures = {"features_bbox": measure(setups, boxes, features_request, warmup),
                   "reverse geocoding": measure(setups, boxes, reverse_request, warmup)}  # fmt: skip
    results = []
    for name, by_setup in figures.items():
        base = by_setup[0]
        for k in SETUPS[1:]:
            ours = by_setup[k]
            note = (f"{len(boxes)} requests, {CONCURRENCY} clients, 2 API processes; {ours['replica_share']:.0%} "
                    f"of reads served by replicas; one 2-core machine: replicas share the CPUs (no gain expected)")
            results.append(Result("replicas", f"{name} req/s, {k} replica{'s' if k > 1 else ''}",
                                  Figure(ours["rps"], "req/s"), Figure(base["rps"], "req/s"),
                                  "same, primary only", target="path works; overhead small (ratio ≈ 1)",
                                  notes=note, extra={"replica_share": ours["replica_share"]}))  # fmt: skip
    return results
