"""features_bbox: ``items?bbox=<about 1 km²>&limit=1000`` on the buildings layer.

Three measurements in the same run, on the same table and the same random windows:

- ours: onemap's OGC API endpoint (its own PostGIS provider) over HTTP;
- stock: the same server with pygeoapi's stock ``PostgreSQL`` provider on the same table;
- in-database: the same rows as ``json_agg(ST_AsGeoJSON(...))`` timed by psql (``\\timing``).

Each server runs as its own ``onemap serve`` process (one worker); a pool of client threads
sends the requests. Latency p50/p95 from a sequential pass, requests/s from a concurrent pass.
The sequential pass of ours and the psql timings alternate in blocks of windows, so both
latencies are taken under the same conditions on a shared, noisy machine.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import orjson
from sqlalchemy import text

from benchmarks.harness import Context, Figure, Result, percentile, workload
from spatial.db import connection_info, make_engine
from spatial.postgis import free_port

STOCK_PROVIDER = "PostgreSQL"
CONCURRENCY = 4


def windows(url: str, n: int, seed: int = 11) -> list[tuple[float, float, float, float]]:
    """``n`` random windows of about 1 km² centred on buildings (so pages are full)."""
    engine = make_engine(url, pool_size=1)
    with engine.connect() as conn:
        centres = conn.execute(
            text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(geom) c FROM basemap.building "
                 "TABLESAMPLE SYSTEM (1) REPEATABLE (:seed) LIMIT :n) s"),
            {"seed": seed, "n": n * 3},
        ).all()
    engine.dispose()
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(centres), size=n, replace=len(centres) < n)
    out = []
    for i in picks:
        lon, lat = centres[int(i)]
        half_lat = 0.5 / 111.32  # 0.5 km
        half_lon = 0.5 / (111.32 * math.cos(math.radians(lat)))
        out.append((lon - half_lon, lat - half_lat, lon + half_lon, lat + half_lat))
    return out


@contextmanager
def served(url: str, var_dir: Path, provider: str | None = None):  # type: ignore[no-untyped-def]
    """An ``onemap serve`` process on a free port; yields its base URL."""
    port = free_port()
    env = {**os.environ, "ONEMAP_DATABASE_URL": url, "ONEMAP_VAR_DIR": str(var_dir)}
    if provider:
        env["ONEMAP_OGC_FEATURE_PROVIDER"] = provider
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"server did not start: {process.stderr.read().decode()[-500:] if process.stderr else ''}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _request(client: httpx.Client, base: str, bbox: tuple[float, ...]) -> tuple[float, int]:
    """Milliseconds until the whole body has arrived (parsing it is the client's business)."""
    started = time.perf_counter()
    response = client.get(
        f"{base}/ogc/collections/buildings/items",
        params={"f": "json", "limit": 1000, "bbox": ",".join(f"{v:.6f}" for v in bbox)},
    )
    response.raise_for_status()
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed, orjson.loads(response.content)["numberReturned"]


BLOCK = 30
"""Windows per block when ours and the in-database baseline alternate."""


def measure_http(base: str, boxes: list, warmup: int, url: str | None = None) -> dict[str, float]:
    """p50/p95 latency (sequential) and requests/s (CONCURRENCY clients) for the windows.

    With ``url``, the sequential pass alternates with the psql baseline block by block, and the
    baseline's p50/p95 come back as ``in_db_p50``/``in_db_p95``.
    """
    sequential: list[tuple[float, int]] = []
    in_db: list[float] = []
    with httpx.Client(timeout=120) as client:
        for bbox in boxes[:warmup]:
            _request(client, base, bbox)
        for start in range(0, len(boxes), BLOCK):
            block = boxes[start : start + BLOCK]
            sequential += [_request(client, base, bbox) for bbox in block]
            if url:
                in_db += psql_times(url, block)
    latencies = [ms for ms, _ in sequential]

    def worker(chunk: list) -> int:
        with httpx.Client(timeout=120) as client:
            return sum(1 for bbox in chunk if _request(client, base, bbox))

    chunks = [boxes[i::CONCURRENCY] for i in range(CONCURRENCY)]
    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        done = sum(pool.map(worker, chunks))
    elapsed = time.perf_counter() - started
    figures = {
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "rps": done / elapsed,
        "mean_features": float(np.mean([n for _, n in sequential])),
    }
    if in_db:
        figures |= {"in_db_p50": percentile(in_db, 50), "in_db_p95": percentile(in_db, 95)}
    return figures


def psql_times(url: str, boxes: list, warmup: int = 3) -> list[float]:
    """Milliseconds psql reports (``\\timing``) for the same page of rows as GeoJSON built by PostGIS.

    Each call is a new psql session: its first ``warmup`` windows run again first, untimed, so
    the session's catalog caches are warm as the server's pooled connections are.
    """
    info = connection_info(url)
    statements = ["\\timing on", "\\o /dev/null"]
    for xmin, ymin, xmax, ymax in [*boxes[:warmup], *boxes]:
        statements.append(
            "SELECT json_agg(ST_AsGeoJSON(b.*)::json) FROM (SELECT * FROM basemap.building "
            f"WHERE geom && ST_MakeEnvelope({xmin},{ymin},{xmax},{ymax},4326) "
            f"AND ST_Intersects(geom, ST_MakeEnvelope({xmin},{ymin},{xmax},{ymax},4326)) "
            "ORDER BY id LIMIT 1000) b;"
        )
    result = subprocess.run(
        ["psql", "-X", "-q", "-h", info.host, "-p", str(info.port), "-U", info.user, "-d", info.dbname],
        input="\n".join(statements), capture_output=True, text=True, check=True,
        env={**os.environ, "PGPASSWORD": info.password},
    )
    return [float(m) for m in re.findall(r"Time: ([0-9.]+) ms", result.stdout)][warmup:]


@workload("features_bbox")
def features_bbox(ctx: Context) -> list[Result]:
    n = 30 if ctx.quick else 300
    boxes = windows(ctx.url, n)
    warmup = 3 if ctx.quick else 20
    var_dir = ctx.settings.var_dir
    psql_times(ctx.url, boxes[:warmup])  # the same warm-up for the baseline's session caches
    with served(ctx.url, var_dir) as base:
        ours = measure_http(base, boxes, warmup, url=ctx.url)
    with served(ctx.url, var_dir, STOCK_PROVIDER) as base:
        stock = measure_http(base, boxes, warmup)
    in_db = {"p50": ours["in_db_p50"], "p95": ours["in_db_p95"]}
    note = f"{len(boxes)} windows of ~1 km², mean {ours['mean_features']:.0f} features/page, {CONCURRENCY} clients"
    return [
        Result("features_bbox", "throughput", Figure(ours["rps"], "req/s"), Figure(stock["rps"], "req/s"),
               "stock pygeoapi PostgreSQL provider", target="≥ 3×", notes=note,
               extra={"stock_p50_ms": stock["p50"], "stock_p95_ms": stock["p95"]}),
        Result("features_bbox", "latency p50", Figure(ours["p50"], "ms", False), Figure(in_db["p50"], "ms", False),
               "in-database json_agg(ST_AsGeoJSON) via psql", target="ours ≤ 2× in-DB (ratio ≥ 0.5)",
               notes=note, extra={"ours_p95_ms": ours["p95"], "in_db_p95_ms": in_db["p95"]}),
    ]
