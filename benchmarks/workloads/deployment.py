"""deployment: mixed load through nginx in front of two API processes, next to one API process directly.

The stack is the tested deployment (``api.local_stack``): redis-server (the shared tile cache), two
``onemap serve`` processes on the benchmark's demo database, nginx on the site ``onemap deploy
nginx`` renders. The same request mix — feature pages of ~1 km² windows on the buildings layer,
vector tiles around them (z14–z16, a fixed set: most are Redis hits after the first pass) and
filings with an inspector's token — is sent with the same concurrency through nginx and directly
to one of the two processes, in alternating rounds, in the same run. Reported: requests/s, p50
and p99 per target and per kind, and the filings stored equal to the filings acknowledged. A last
round goes through nginx while one of the two API processes is killed a third of the way in: the
requests that failed (a GET in flight is retried on the other process by nginx; a POST in flight is
not — it may have been stored — and answers 503) and that round's requests/s.

All processes (PostgreSQL, both API processes, nginx, Redis, this load client) share the machine's
cores: absolute numbers are rough; the ratio is what this measures.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import morecantile
from sqlalchemy import text

from benchmarks.harness import Context, Figure, Result, percentile, workload
from spatial.access.principal import local_operator
from spatial.db import make_engine

KINDS = ("page", "tile", "filing")
MIX = {"page": 6, "tile": 3, "filing": 1}


def _prepare(engine) -> str:  # type: ignore[no-untyped-def]
    """Grid and categories for filing (when no other workload made them); an inspector's token."""
    from layers.grid_layers import register_grid_layers
    from spatial.access.tokens import create_token
    from spatial.grid.build import build_grid
    from spatial.incidents.categories import load_catalogue, read_catalogue

    with engine.connect() as conn:
        cells = conn.execute(text("SELECT to_regclass('grid.current_cell') IS NOT NULL")).scalar_one() and \
            conn.execute(text("SELECT EXISTS (SELECT 1 FROM grid.current_cell)")).scalar_one()  # fmt: skip
    if not cells:
        build_grid(engine, principal=local_operator())
    load_catalogue(engine, read_catalogue(), principal=local_operator())
    with engine.begin() as conn:
        register_grid_layers(conn)
    return create_token(engine, department_code="supervision", role="inspector", name="bench-deploy",
                        actor=local_operator()).secret  # fmt: skip


def _requests(engine, n: int, seed: int = 7) -> list[tuple[str, str, dict | None]]:  # type: ignore[no-untyped-def]
    """``n`` (kind, path, body) in the mix, around buildings, filings inside the grid."""
    with engine.connect() as conn:
        centres = conn.execute(text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(geom) c FROM basemap.building "
                                    "TABLESAMPLE SYSTEM (2) REPEATABLE (:seed) LIMIT 400) s"), {"seed": seed}).all()  # fmt: skip
        minx, miny, maxx, maxy = conn.execute(text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_Extent(geom)::geometry e FROM grid.current_cell) x")).one()  # fmt: skip
    rng = random.Random(seed)
    tms = morecantile.tms.get("WebMercatorQuad")
    tiles = sorted({tms.tile(lon, lat, z) for lon, lat in centres[:60] for z in (14, 15, 16)})
    kinds = [kind for kind, weight in MIX.items() for _ in range(weight)]
    out: list[tuple[str, str, dict | None]] = []
    for _ in range(n):
        kind = rng.choice(kinds)
        if kind == "page":
            lon, lat = rng.choice(centres)
            half_lat, half_lon = 0.5 / 111.32, 0.5 / (111.32 * math.cos(math.radians(lat)))
            bbox = f"{lon - half_lon:.6f},{lat - half_lat:.6f},{lon + half_lon:.6f},{lat + half_lat:.6f}"
            out.append((kind, f"/ogc/collections/buildings/items?f=json&limit=100&bbox={bbox}", None))
        elif kind == "tile":
            t = rng.choice(tiles)
            out.append((kind, f"/ogc/collections/buildings/tiles/WebMercatorQuad/{t.z}/{t.y}/{t.x}?f=mvt", None))
        else:
            body = {"category_code": "1102", "description": "deploy bench", "source": "inspector",
                    "location": {"lon": rng.uniform(minx, maxx), "lat": rng.uniform(miny, maxy)}}  # fmt: skip
            out.append((kind, "/api/v1/incidents", body))
    return out


async def _run(base: str, token: str, requests: list[tuple[str, str, dict | None]], concurrency: int,
               midway: Callable[[], None] | None = None) -> dict:  # fmt: skip
    """Send every request with ``concurrency`` clients; latencies (ms) per kind, failures, wall time.

    ``midway`` runs (in a thread) once a third of the requests have been taken.
    """
    latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
    failures: list[str] = []
    filed = 0
    queue: asyncio.Queue = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal filed
        while not queue.empty():
            kind, path, body = queue.get_nowait()
            started = time.perf_counter()
            if body is None:
                answer = await http.get(path)
            else:
                answer = await http.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
            latencies[kind].append((time.perf_counter() - started) * 1000)
            if answer.status_code not in (200, 201):
                failures.append(f"{answer.status_code} {path[:80]}")
            filed += answer.status_code == 201

    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        started = time.perf_counter()
        async def trigger() -> None:
            if midway is None:
                return
            while queue.qsize() > len(requests) * 2 // 3:
                await asyncio.sleep(0.01)
            await asyncio.to_thread(midway)

        await asyncio.gather(trigger(), *(client(http) for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return {"latencies": latencies, "failures": failures, "filed": filed, "wall": wall, "n": len(requests)}


def _merge(runs: list[dict]) -> dict:
    merged = {"latencies": {kind: [] for kind in KINDS}, "failures": [], "filed": 0, "wall": 0.0, "n": 0}
    for run in runs:
        for kind in KINDS:
            merged["latencies"][kind] += run["latencies"][kind]
        merged["failures"] += run["failures"]
        merged["filed"] += run["filed"]
        merged["wall"] += run["wall"]
        merged["n"] += run["n"]
    return merged


def _all(run: dict) -> list[float]:
    return [ms for kind in KINDS for ms in run["latencies"][kind]]


@workload("deployment")
def deployment(ctx: Context) -> list[Result]:
    from api.local_stack import LocalStack, missing_programs

    missing = missing_programs()
    if missing:
        raise RuntimeError(f"the deployment workload needs {missing} (apt-get install nginx redis-server)")
    engine = make_engine(ctx.url, pool_size=2)
    rounds, per_round, concurrency = (2, 60, 4) if ctx.quick else (4, 600, 16)
    try:
        token = _prepare(engine)
        with engine.connect() as conn:
            before = conn.execute(text("SELECT count(*) FROM incidents.incident")).scalar_one()
        batches = [_requests(engine, per_round, seed=round_ + 1) for round_ in range(rounds * 2 + 2)]
        env = {"ONEMAP_VAR_DIR": str(ctx.settings.var_dir), "ONEMAP_RATE_LIMIT_WRITES": "off",
               "ONEMAP_RATE_LIMIT_ANONYMOUS": "off", "ONEMAP_DB_POOL_SIZE": "10"}  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="onemap-deploy-bench-") as root, \
                LocalStack(Path(root), ctx.url, apis=2, env=env) as stack:  # fmt: skip
            asyncio.run(_run(stack.url, token, batches[0], concurrency))  # warm-up: both processes, Redis
            through, direct = [], []
            for round_ in range(rounds):  # alternate, each target gets each batch once
                a, b = batches[1 + 2 * round_], batches[2 + 2 * round_]
                first, second = (a, b) if round_ % 2 == 0 else (b, a)
                through.append(asyncio.run(_run(stack.url, token, first, concurrency)))
                direct.append(asyncio.run(_run(stack.api_url(0), token, second, concurrency)))
            served = {line.split("upstream=")[1].split()[0] for line in stack.access_log() if "upstream=" in line}
            # one API process killed a third of the way through a round: what the clients see
            failover = asyncio.run(_run(stack.url, token, batches[-1], concurrency, stack.api_processes[1].kill))
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM incidents.incident")).scalar_one() - before
    finally:
        engine.dispose()
    nginx, one = _merge(through), _merge(direct)
    load = [round(x, 1) for x in os.getloadavg()]
    sent_filings = sum(1 for batch in batches for kind, _, _ in batch if kind == "filing")
    acknowledged = nginx["filed"] + one["filed"] + failover["filed"] + sum(1 for kind, _, _ in batches[0] if kind == "filing")
    per_kind = {
        f"{target}_{kind}_p50_ms": percentile(run["latencies"][kind], 50)
        for target, run in (("nginx", nginx), ("direct", one)) for kind in KINDS
    } | {
        f"{target}_{kind}_p99_ms": percentile(run["latencies"][kind], 99)
        for target, run in (("nginx", nginx), ("direct", one)) for kind in KINDS
    }  # fmt: skip
    notes = (f"{concurrency} clients, {rounds} alternating rounds of {per_round} requests per target "
             f"(pages:tiles:filings = 6:3:1); p50/p99 nginx {percentile(_all(nginx), 50):.0f}/"
             f"{percentile(_all(nginx), 99):.0f} ms, direct {percentile(_all(one), 50):.0f}/"
             f"{percentile(_all(one), 99):.0f} ms; failures nginx {len(nginx['failures'])}, direct "
             f"{len(one['failures'])}; filings acknowledged {acknowledged} of {sent_filings}, stored {stored}"
             f"{' (MATCH)' if acknowledged == stored else ' (MISMATCH)'}; upstreams seen {len(served)}; "
             f"load average {load[0]} on {os.cpu_count()} cores")  # fmt: skip
    extra = per_kind | {"failures": (nginx["failures"] + one["failures"])[:20], "acknowledged": acknowledged,
                        "stored": stored, "upstreams": sorted(served), "load_average": load,
                        "rounds_req_s": {"nginx": [r["n"] / r["wall"] for r in through],
                                         "direct": [r["n"] / r["wall"] for r in direct]}}  # fmt: skip
    failed = failover["failures"]
    return [
        Result(workload="deployment", metric="mixed reads + filings, req/s (nginx → 2 API processes + Redis)",
               ours=Figure(nginx["n"] / nginx["wall"], "req/s"), baseline=Figure(one["n"] / one["wall"], "req/s"),
               baseline_name="one API process directly (same Redis, same database)", notes=notes, extra=extra),
        Result(workload="deployment", metric="mixed p99 latency (nginx → 2 API vs one API directly)",
               ours=Figure(percentile(_all(nginx), 99), "ms", higher_is_better=False),
               baseline=Figure(percentile(_all(one), 99), "ms", higher_is_better=False),
               baseline_name="one API process directly", notes=notes),
        Result(workload="deployment", metric="mixed p50 latency (nginx → 2 API vs one API directly)",
               ours=Figure(percentile(_all(nginx), 50), "ms", higher_is_better=False),
               baseline=Figure(percentile(_all(one), 50), "ms", higher_is_better=False),
               baseline_name="one API process directly", notes=notes),
        Result(workload="deployment", metric="req/s of a round with one of the two API processes killed a third in",
               ours=Figure(failover["n"] / failover["wall"], "req/s"), baseline=Figure(nginx["n"] / nginx["wall"], "req/s"),
               baseline_name="the same stack with both processes (rounds above)",
               target="no failed GET (nginx retries them); a POST in flight may fail: 503, not stored",
               notes=f"failed requests {len(failed)} of {failover['n']} ({', '.join(failed[:5]) or 'none'}); p99 "
                     f"{percentile(_all(failover), 99):.0f} ms; filings acknowledged in it {failover['filed']}",
               extra={"failures": failed[:20]}),
    ]  # fmt: skip
