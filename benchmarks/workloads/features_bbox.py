"""features_bbox: ``items?bbox=<about 1 km²>&limit=1000`` on the buildings layer.

Three measurements in the same run, on the same table and the same random windows:

- ours: onemap's OGC API endpoint (its own PostGIS provider) over HTTP;
- stock: the same server with pygeoapi's stock ``PostgreSQL`` provider on the same table;
- in-database: the same rows as one ``json_agg(ST_AsGeoJSON(...))`` document, delivered to a
  client: timed in this process from sending the query to holding the document's text (psycopg,
  one kept connection, as the server keeps its pool). psql's own ``\\timing`` of the same query is
  reported beside it (``in_db_psql_*``): it leaves out the client's decoding of the text.

Each server runs as its own ``onemap serve`` process (one worker); a pool of client threads
sends the requests, each over one keep-alive connection of a lean HTTP client (``PageClient``). Latency p50/p95 from a sequential pass, requests/s from a concurrent pass.
In the sequential pass each window is asked of ours and then of the database, one after the
other, so both latencies are taken under the same conditions on a shared, noisy machine; the
psql timings alternate with them in blocks of windows.
ONEMAP_BENCH_BEFORE_TREE=<a checkout of older code> serves that too, asked each window in the same pass.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from pathlib import Path
from urllib.parse import urlencode

import httpx
import numpy as np
import orjson
import psycopg
from sqlalchemy import text

from benchmarks.harness import Context, Figure, Result, percentile, workload
from benchmarks.http_client import PageClient
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
def served(url: str, var_dir: Path, provider: str | None = None, tree: str | None = None):  # type: ignore[no-untyped-def]
    """An ``onemap serve`` process on a free port (of the code in ``tree``, else this one); yields its base URL."""
    port = free_port()
    env = {**os.environ, "ONEMAP_DATABASE_URL": url, "ONEMAP_VAR_DIR": str(var_dir)}
    if provider:
        env["ONEMAP_OGC_FEATURE_PROVIDER"] = provider
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tree,
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


def _request(client: PageClient, bbox: tuple[float, ...]) -> tuple[float, int]:
    """Milliseconds until the whole body has arrived (parsing it is the client's business)."""
    query = urlencode({"f": "json", "limit": 1000, "bbox": ",".join(f"{v:.6f}" for v in bbox)})
    started = time.perf_counter()
    body = client.get(f"/ogc/collections/buildings/items?{query}")
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed, orjson.loads(body)["numberReturned"]


BLOCK = 30
"""Windows per block when ours and psql's timings alternate."""

IN_DB_PAGE = (
    "SELECT json_agg(ST_AsGeoJSON(b.*)::json)::text FROM (SELECT * FROM basemap.building "
    "WHERE geom && ST_MakeEnvelope(%(xmin)s, %(ymin)s, %(xmax)s, %(ymax)s, 4326) "
    "AND ST_Intersects(geom, ST_MakeEnvelope(%(xmin)s, %(ymin)s, %(xmax)s, %(ymax)s, 4326)) "
    "ORDER BY id LIMIT 1000) b"
)
"""The page as one GeoJSON document built by PostGIS (text: the client does not parse it)."""


def _in_db(conn: psycopg.Connection, bbox: tuple[float, ...]) -> float:
    """Milliseconds until the whole in-database document has arrived in this client."""
    xmin, ymin, xmax, ymax = bbox
    started = time.perf_counter()
    conn.execute(IN_DB_PAGE, {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax}).fetchone()
    return (time.perf_counter() - started) * 1000


def measure_http(base: str, boxes: list, warmup: int, url: str | None = None,
                 before: str | None = None) -> dict[str, float]:  # fmt: skip
    """p50/p95 latency (sequential) and requests/s (CONCURRENCY clients) for the windows.

    With ``url``, each window of the sequential pass is also read as one in-database document
    right after ours (``in_db_p50``/``in_db_p95``), and psql's timings alternate block by block
    (``in_db_psql_p50``/``in_db_psql_p95``). With ``before`` (the base URL of a server of older
    code), each window is asked of it too, ours and it taking turns to go first (``before_p50``…).
    """
    sequential: list[tuple[float, int]] = []
    earlier: list[float] = []
    in_db: list[float] = []
    in_psql: list[float] = []
    with PageClient(base) as client, PageClient(before or base) as old, _database(url) as conn:
        for bbox in boxes[:warmup]:
            _request(client, bbox)
            if before:
                _request(old, bbox)
            if conn is not None:
                _in_db(conn, bbox)
        for start in range(0, len(boxes), BLOCK):
            block = boxes[start : start + BLOCK]
            for i, bbox in enumerate(block):
                if before and i % 2:
                    earlier.append(_request(old, bbox)[0])
                sequential.append(_request(client, bbox))
                if before and not i % 2:
                    earlier.append(_request(old, bbox)[0])
                if conn is not None:
                    in_db.append(_in_db(conn, bbox))
            if url:
                in_psql += psql_times(url, block)
    latencies = [ms for ms, _ in sequential]

    def worker(chunk: list) -> int:
        with PageClient(base) as client:
            return sum(1 for bbox in chunk if _request(client, bbox))

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
        figures |= {"in_db_p50": percentile(in_db, 50), "in_db_p95": percentile(in_db, 95),
                    "in_db_psql_p50": percentile(in_psql, 50), "in_db_psql_p95": percentile(in_psql, 95)}  # fmt: skip
    if earlier:
        figures |= {"before_p50": percentile(earlier, 50), "before_p95": percentile(earlier, 95)}
    return figures


@contextmanager
def _database(url: str | None) -> Iterator[psycopg.Connection | None]:
    """One autocommit connection for the in-database baseline (None without ``url``)."""
    if url is None:
        yield None
        return
    info = connection_info(url)
    with psycopg.connect(host=info.host, port=info.port, user=info.user, password=info.password,
                         dbname=info.dbname, autocommit=True) as conn:  # fmt: skip
        yield conn


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
    before_tree = os.environ.get("ONEMAP_BENCH_BEFORE_TREE")  # older code, measured in the same pass
    with served(ctx.url, var_dir) as base, (served(ctx.url, var_dir, tree=before_tree) if before_tree
                                            else nullcontext()) as before:  # fmt: skip
        ours = measure_http(base, boxes, warmup, url=ctx.url, before=before)
    with served(ctx.url, var_dir, STOCK_PROVIDER) as base:
        stock = measure_http(base, boxes, warmup)
    note = f"{len(boxes)} windows of ~1 km², mean {ours['mean_features']:.0f} features/page, {CONCURRENCY} clients"
    return [
        Result("features_bbox", "throughput", Figure(ours["rps"], "req/s"), Figure(stock["rps"], "req/s"),
               "stock pygeoapi PostgreSQL provider", target="≥ 3×", notes=note,
               extra={"stock_p50_ms": stock["p50"], "stock_p95_ms": stock["p95"]}),
        Result("features_bbox", "latency p50", Figure(ours["p50"], "ms", False), Figure(ours["in_db_p50"], "ms", False),
               "in-database json_agg(ST_AsGeoJSON) document delivered to a client (psycopg, interleaved)",
               target="ours ≤ 1.5× in-DB (ratio ≥ 0.67)", notes=note,
               extra={"ours_p95_ms": ours["p95"], "in_db_p95_ms": ours["in_db_p95"],
                      "in_db_psql_p50_ms": ours["in_db_psql_p50"], "in_db_psql_p95_ms": ours["in_db_psql_p95"],
                      **({"before_p50_ms": ours["before_p50"], "before_p95_ms": ours["before_p95"]}
                         if "before_p50" in ours else {})}),
    ]
