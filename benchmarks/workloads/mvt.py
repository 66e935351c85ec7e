"""mvt: buildings vector tiles at z14–z16 over HTTP vs the raw ``ST_AsMVT`` query run directly.

Three measurements in the same run, on the same tiles (centred on buildings, so tiles are full):

- uncached: ``GET /ogc/collections/buildings/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt`` of an
  ``onemap serve`` process (one worker) with ``ONEMAP_TILE_CACHE=off``;
- cached: the same from a second server with the disk cache, after one warm-up pass;
- raw: the same tile statement (``layers.vector_tiles``) sent by psycopg from this process on
  one kept connection, timed until the tile's bytes are held — the database's own cost.

Sequential, one client: for each tile the HTTP request and the raw query run one after the
other (interleaved), so both see the same noise on a shared machine. Rates are 1/p50.
Targets (issue 19): uncached ≥ 70 % of the raw rate; cached ≥ 5× the raw rate.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import morecantile
import orjson
import psycopg
from sqlalchemy import text

from benchmarks.harness import Context, Figure, Result, percentile, workload
from benchmarks.http_client import PageClient
from layers import vector_tiles
from layers.catalog import find_layer
from layers.features import describe_table
from spatial.db import INTERACTIVE_OPTIONS, libpq_url, make_engine
from spatial.postgis import free_port

TMS = morecantile.tms.get("WebMercatorQuad")
ZOOMS = (14, 15, 16)
PER_ZOOM = 40
ROUNDS = 3
LAYER = "buildings"


@contextmanager
def served(url: str, var_dir: Path, **env_extra: str) -> Iterator[str]:
    """An ``onemap serve`` process (one worker) on a free port; yields its base URL once it answers."""
    port = free_port()
    env = {**os.environ, "ONEMAP_DATABASE_URL": url, "ONEMAP_VAR_DIR": str(var_dir),
           "ONEMAP_RATE_LIMIT_WRITES": "off", **env_extra}  # fmt: skip
    process = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("onemap serve did not start") from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def building_tiles(url: str, zooms: tuple[int, ...], per_zoom: int, seed: int = 7) -> list[morecantile.Tile]:
    """Distinct tiles around sampled buildings, ``per_zoom`` per zoom."""
    engine = make_engine(url, pool_size=1)
    with engine.connect() as conn:
        centres = conn.execute(
            text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(geom) c FROM basemap.building "
                 "ORDER BY md5(id::text || :seed) LIMIT :n) s"),
            {"seed": str(seed), "n": per_zoom * 4},
        ).all()  # fmt: skip
    engine.dispose()
    tiles: list[morecantile.Tile] = []
    for z in zooms:
        seen: list[morecantile.Tile] = []
        for lon, lat in centres:
            tile = TMS.tile(lon, lat, z)
            if tile not in seen:
                seen.append(tile)
            if len(seen) == per_zoom:
                break
        tiles += seen
    return tiles


def raw_statement(url: str) -> str:
    """The tile statement ours runs, in psycopg's parameter style."""
    engine = make_engine(url, pool_size=1)
    row = find_layer(engine, LAYER)
    assert row is not None, "the demo has no buildings layer"
    table = describe_table(engine, row["storage_schema"], row["storage_table"], id_field=row["id_field"] or "id",
                           geom_field=row["geom_field"] or "geom", time_field=row["time_field"])  # fmt: skip
    engine.dispose()
    return vector_tiles.tile_statement(table, vector_tiles.WEB_MERCATOR_QUAD, 0, 0, 0, versioned=False)


def same_features(a: bytes, b: bytes) -> bool:
    """Whether two MVT tiles hold the same features (the order follows the plan, so bytes may differ)."""
    if a == b:
        return True
    import mapbox_vector_tile

    def features(data: bytes) -> list[str]:
        layers = mapbox_vector_tile.decode(data) if data else {}
        return sorted(orjson.dumps(f, option=orjson.OPT_SORT_KEYS).decode() for layer in layers.values()
                      for f in layer["features"])  # fmt: skip

    return features(a) == features(b)


def tile_url(base: str, tile: morecantile.Tile) -> str:
    return f"{base}/ogc/collections/{LAYER}/tiles/WebMercatorQuad/{tile.z}/{tile.y}/{tile.x}?f=mvt"


def interleaved(client: PageClient, conn: psycopg.Connection, sql: str,
                tiles: list[morecantile.Tile], rounds: int) -> tuple[dict[int, list[float]], dict[int, list[float]], bool]:  # fmt: skip
    """Per zoom: HTTP latencies, raw latencies (seconds); whether the first round's tiles held the raw features."""
    http: dict[int, list[float]] = {z: [] for z in ZOOMS}
    raw: dict[int, list[float]] = {z: [] for z in ZOOMS}
    same, first = True, True
    for _ in range(rounds):
        for tile in tiles:
            started = time.perf_counter()
            body = client.get(tile_url("", tile), ok=(200, 204))
            http[tile.z].append(time.perf_counter() - started)
            started = time.perf_counter()
            data = conn.execute(sql, {"layer": LAYER, "z": tile.z, "x": tile.x, "y": tile.y}).fetchone()
            raw[tile.z].append(time.perf_counter() - started)
            if first:
                same = same and same_features(body, bytes((data[0] if data else None) or b""))
        first = False
    return http, raw, same


@workload("mvt")
def mvt(ctx: Context) -> list[Result]:
    per_zoom, rounds = (8, 1) if ctx.quick else (PER_ZOOM, ROUNDS)
    tiles = building_tiles(ctx.url, ZOOMS, per_zoom)
    sql = raw_statement(ctx.url)
    var_dir = Path(ctx.settings.var_dir)
    cache_dir = var_dir / "bench-mvt-cache"
    results: list[Result] = []
    # the server's session settings (no parallel workers, no JIT: spatial.db.INTERACTIVE_OPTIONS), so the
    # plans, and the bytes, are the same
    # the client is the standard library's keep-alive connection (benchmarks.http_client): httpx spent
    # ~0.3 ms of its own per request, as much as a whole cached tile costs the server
    with psycopg.connect(libpq_url(ctx.url), autocommit=True, options=INTERACTIVE_OPTIONS) as conn:
        for tile in tiles[:5]:  # warm the connection's plan and catalog caches
            conn.execute(sql, {"layer": LAYER, "z": tile.z, "x": tile.x, "y": tile.y}).fetchone()
        with served(ctx.url, var_dir, ONEMAP_TILE_CACHE="off") as base, PageClient(base) as client:
            interleaved(client, conn, sql, tiles[:10], 1)  # warm-up
            uncached, raw_u, same_u = interleaved(client, conn, sql, tiles, rounds)
        with served(ctx.url, var_dir, ONEMAP_TILE_CACHE="disk", ONEMAP_TILE_CACHE_DIR=str(cache_dir)) as base, \
                PageClient(base) as client:  # fmt: skip
            interleaved(client, conn, sql, tiles, 1)  # fills the cache
            cached, raw_c, same_c = interleaved(client, conn, sql, tiles, rounds)
        subprocess.run(["rm", "-rf", str(cache_dir)], check=False)
    for z in ZOOMS:
        ours_p50, raw_p50 = percentile(uncached[z], 50), percentile(raw_u[z], 50)
        results.append(Result(
            workload="mvt", metric=f"uncached buildings MVT z{z}: rate (1/p50) vs the raw ST_AsMVT query",
            ours=Figure(1 / ours_p50, "tiles/s"), baseline=Figure(1 / raw_p50, "tiles/s"),
            baseline_name="the same tile statement by psycopg, one kept connection, interleaved",
            target="≥ 0.70× raw",
            notes=(f"{len(uncached[z])} requests; p50 {ours_p50 * 1000:.2f} ms vs raw {raw_p50 * 1000:.2f} ms; "
                   f"p95 {percentile(uncached[z], 95) * 1000:.2f} vs {percentile(raw_u[z], 95) * 1000:.2f} ms; "
                   f"same features as raw: {same_u}"),
            extra={"p50_ms": ours_p50 * 1000, "raw_p50_ms": raw_p50 * 1000, "same_features": same_u},
        ))  # fmt: skip
    for z in ZOOMS:
        ours_p50, raw_p50 = percentile(cached[z], 50), percentile(raw_c[z], 50)
        results.append(Result(
            workload="mvt", metric=f"cached (disk) buildings MVT z{z}: rate (1/p50) vs the raw ST_AsMVT query",
            ours=Figure(1 / ours_p50, "tiles/s"), baseline=Figure(1 / raw_p50, "tiles/s"),
            baseline_name="the same tile statement by psycopg, one kept connection, interleaved",
            target="≥ 5× raw",
            notes=(f"{len(cached[z])} requests; p50 {ours_p50 * 1000:.2f} ms vs raw {raw_p50 * 1000:.2f} ms; "
                   f"same features as raw: {same_c}"),
            extra={"p50_ms": ours_p50 * 1000, "raw_p50_ms": raw_p50 * 1000, "same_features": same_c},
        ))  # fmt: skip
    return results
