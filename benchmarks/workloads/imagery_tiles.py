"""imagery_tiles: 256-px PNG tiles over a zoom walk of one COG, three ways in the same run.

- ours: ``GET /tiles/demo_imagery/{z}/{x}/{y}.png`` of ``onemap serve`` (one worker), through
  THE read check, the scene selection, the source-pixel budget and the mosaic code path, the
  pixels drawn in the render worker pool (``api.workers``, ``ONEMAP_RENDER_WORKERS`` processes);
- TiTiler: ``titiler.core``'s ``TilerFactory`` under uvicorn (one worker), same file by ``url=``;
- raw rasterio: in this process, ``rasterio.warp.reproject`` of the three bands onto each
  tile's grid, rescaled and PNG-encoded with rasterio (no HTTP, one thread, dataset kept open).

The same tiles (every tile of the scene from its min zoom to one past its max, at most
``PER_ZOOM`` per zoom), the same style (bands 3,2,1, rescale 0–2500); HTTP clients run
``CONCURRENCY`` at a time after a warm-up pass. The first few tiles are compared pixel by pixel.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import morecantile
import numpy as np
import rasterio
import rasterio.warp
from rasterio.enums import Resampling
from rasterio.io import MemoryFile
from rasterio.transform import from_bounds
from rasterio.warp import reproject
from sqlalchemy import text

from benchmarks.harness import Context, Figure, Result, workload
from spatial.db import make_engine
from spatial.postgis import free_port

TMS = morecantile.tms.get("WebMercatorQuad")
BANDS = (3, 2, 1)
RESCALE = (0.0, 2500.0)
PER_ZOOM = 96
CONCURRENCY = 4
ROOT = Path(__file__).resolve().parents[2]


def tile_walk(path: Path, per_zoom: int) -> list[morecantile.Tile]:
    """Every tile over the scene from two zooms above its native one to one below (capped)."""
    with rasterio.open(path) as cog:
        bounds = rasterio.warp.transform_bounds(cog.crs, "EPSG:4326", *cog.bounds)
        native = TMS.zoom_for_res(max(cog.res))
    tiles = []
    for zoom in range(max(native - 3, 0), native + 2):
        found = list(TMS.tiles(*bounds, zooms=[zoom]))
        step = max(1, len(found) // per_zoom)
        tiles += found[::step][:per_zoom]
    return tiles


@contextmanager
def server(command: list[str], env: dict[str, str], port: int) -> Iterator[str]:
    """A server subprocess on ``port``; yields its base URL once it answers."""
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"{command[2:4]} did not start") from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def fetch_all(urls: list[str]) -> tuple[float, int]:
    """Fetch every URL with CONCURRENCY clients; (seconds, tiles answered 200)."""
    chunks = [urls[i::CONCURRENCY] for i in range(CONCURRENCY)]

    def worker(chunk: list[str]) -> int:
        with httpx.Client(timeout=60) as client:
            return sum(client.get(url).status_code == 200 for url in chunk)

    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        ok = sum(pool.map(worker, chunks))
    return time.perf_counter() - started, ok


def raw_rasterio(path: Path, tiles: list[morecantile.Tile]) -> float:
    """Seconds to warp and PNG-encode every tile with plain rasterio (``reproject``, full resolution)."""
    started = time.perf_counter()
    with rasterio.open(path) as cog:
        for tile in tiles:
            target = np.zeros((3, 256, 256), cog.dtypes[0])
            reproject(rasterio.band(cog, list(BANDS)), target, dst_transform=from_bounds(*TMS.xy_bounds(tile), 256, 256),
                      dst_crs="EPSG:3857", resampling=Resampling.nearest, dst_nodata=0)  # fmt: skip
            scaled = np.clip((target - RESCALE[0]) / (RESCALE[1] - RESCALE[0]) * 255, 0, 255)
            alpha = np.where(target.any(axis=0), 255, 0)
            pixels = np.concatenate([scaled, alpha[np.newaxis]]).astype("uint8")
            with MemoryFile() as memfile, memfile.open(driver="PNG", width=256, height=256, count=4,
                                                        dtype="uint8", ZLEVEL=1) as png:  # fmt: skip
                png.write(pixels)
    return time.perf_counter() - started


def _decode(body: bytes) -> np.ndarray:
    with MemoryFile(body) as memfile, memfile.open() as image:
        return image.read()


def agreement(ours: str, titiler: str, tiles: list[morecantile.Tile]) -> float:
    """Share of RGB values within 1 of each other over the first tiles both answer."""
    close = total = 0
    with httpx.Client(timeout=60) as client:
        for tile in tiles:
            a, b = client.get(ours.format(z=tile.z, x=tile.x, y=tile.y)), client.get(titiler.format(z=tile.z, x=tile.x, y=tile.y))
            if a.status_code == b.status_code == 200:
                mine, theirs = _decode(a.content), _decode(b.content)
                shown = (mine[3] == 255) & (theirs[3] == 255)
                diff = np.abs(mine[:3].astype(int) - theirs[:3].astype(int))[:, shown]
                close, total = close + int((diff <= 1).sum()), total + diff.size
    return close / total if total else float("nan")


@workload("imagery_tiles")
def imagery_tiles(ctx: Context) -> list[Result]:
    engine = make_engine(ctx.url, pool_size=1)
    with engine.connect() as conn:
        path = Path(conn.execute(text("SELECT storage_path FROM catalog.layer WHERE id = 'demo_imagery'")).scalar_one())
    engine.dispose()
    tiles = tile_walk(path, 12 if ctx.quick else PER_ZOOM)
    style = f"rescale={RESCALE[0]:g},{RESCALE[1]:g}"
    # ours draws every tile as TiTiler does: no tile cache (the cached rate is benchmark 'tile_cache')
    env = {**os.environ, "ONEMAP_DATABASE_URL": ctx.url, "ONEMAP_VAR_DIR": str(ctx.settings.var_dir),
           "ONEMAP_RATE_LIMIT_WRITES": "off", "ONEMAP_TILE_CACHE": "off"}  # fmt: skip
    ours_port, titiler_port = free_port(), free_port()
    ours_cmd = [sys.executable, "-m", "api.cli", "serve", "--port", str(ours_port)]
    titiler_cmd = [sys.executable, "-m", "uvicorn", "benchmarks.titiler_app:app", "--port", str(titiler_port),
                   "--log-level", "warning"]  # fmt: skip
    with server(ours_cmd, env, ours_port) as ours, server(titiler_cmd, env, titiler_port) as titiler:
        ours_url = f"{ours}/tiles/demo_imagery/{{z}}/{{x}}/{{y}}.png?bands=3,2,1&{style}"
        titiler_url = (f"{titiler}/cog/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}.png?url={path}"
                       f"&bidx=3&bidx=2&bidx=1&{style}")  # fmt: skip
        urls = {name: [u.format(z=t.z, x=t.x, y=t.y) for t in tiles] for name, u in (("ours", ours_url), ("titiler", titiler_url))}
        fetch_all(urls["ours"]), fetch_all(urls["titiler"])  # warm-up: readers, GDAL block cache
        rounds = 1 if ctx.quick else 3
        ours_runs = [fetch_all(urls["ours"]) for _ in range(rounds)]
        titiler_runs = [fetch_all(urls["titiler"]) for _ in range(rounds)]
        same = agreement(ours_url, titiler_url, tiles[:: max(1, len(tiles) // 20)])
    raw_rasterio(path, tiles[:5])
    raw_s = min(raw_rasterio(path, tiles) for _ in range(rounds))
    ours_s, ours_ok = min(ours_runs)
    titiler_s, titiler_ok = min(titiler_runs)
    n = len(tiles)
    zooms = f"z{tiles[0].z}–{tiles[-1].z}"
    notes = (f"{n} tiles {zooms}, {CONCURRENCY} concurrent clients, best of {rounds}; "
             f"200s ours {ours_ok}, TiTiler {titiler_ok}; RGB within 1 of TiTiler's: {same:.2%}")  # fmt: skip
    return [
        Result(workload="imagery_tiles", metric=f"256-px PNG tiles over HTTP ({n}, {zooms})",
               ours=Figure(n / ours_s, "tiles/s"), baseline=Figure(n / titiler_s, "tiles/s"),
               baseline_name="TiTiler (titiler.core TilerFactory, uvicorn, 1 worker)",
               target="≥ TiTiler", notes=notes,
               extra={"tiles": n, "agreement": same, "ours_ok": ours_ok, "titiler_ok": titiler_ok}),
        Result(workload="imagery_tiles", metric=f"same tiles: ours over HTTP vs raw read+encode ({n})",
               ours=Figure(n / ours_s, "tiles/s"), baseline=Figure(n / raw_s, "tiles/s"),
               baseline_name="raw rasterio reproject + PNG, in-process, 1 thread",
               notes="the raw path has no HTTP, no permission check and no overview choice"),
    ]  # fmt: skip
