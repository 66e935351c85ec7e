"""imagery_url: tiles of a COG read by URL (nginx, GDAL /vsicurl/ range reads) vs the same file on disk.

One synthetic RGB COG (512-px blocks, overviews; noisy, so blocks compress poorly, as real
imagery does) is written once and served by nginx (Debian) on a free loopback port. For each
zoom, the same distinct tiles are rendered by ``layers.imagery.tiles.render_tile`` from the local
file and from its URL, interleaved tile by tile in this process (readers warm, blocks cold:
every tile a new one). Bytes per remote tile are read from nginx's access log. No API server:
this isolates what the URL costs the renderer; through HTTP the render worker pool adds the same
fixed cost to both.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import morecantile
import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.warp import transform_bounds

from benchmarks.harness import Context, Figure, Result, percentile, workload
from spatial.postgis import free_port

TMS = morecantile.tms.get("WebMercatorQuad")
XIAN_UTM = (310_330.0, 3_792_905.0)
ZOOMS = (18, 16, 14)


@contextmanager
def nginx_serving(root: Path) -> Iterator[tuple[str, Path]]:
    """nginx in the foreground serving ``root``; yields its base URL and its access log."""
    folder = Path(tempfile.mkdtemp(prefix="onemap-bench-nginx-"))
    port, log = free_port(), folder / "access.log"
    user = "user root root;" if os.geteuid() == 0 else ""
    (folder / "nginx.conf").write_text(
        f"{user}\nworker_processes 1;\nerror_log {folder}/error.log;\npid {folder}/nginx.pid;\n"
        "events { worker_connections 64; }\nhttp {\n"
        "  log_format bytes '$request_method $status $body_bytes_sent';\n"
        f"  access_log {log} bytes;\n"
        + "".join(f"  {kind}_temp_path {folder};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        + f"  server {{ listen 127.0.0.1:{port}; root {root}; }}\n}}\n"
    )  # fmt: skip
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    process = subprocess.Popen([nginx, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g", "daemon off;"])
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.head(base + "/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield base, log
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def write_cog(path: Path, size: int) -> None:
    """A noisy 3-band uint8 COG of ``size``² 1-m pixels over Xi'an (UTM 49N)."""
    from rio_cogeo.cogeo import cog_translate

    from layers.imagery.cog import GDAL_COG_OPTIONS, cog_profile

    rows, cols = np.mgrid[0:size, 0:size].astype("float32")
    noise = np.random.default_rng(19).integers(0, 40, (3, size, size), dtype=np.uint8)
    bands = [60 + 50 * np.sin(rows / 97), 90 + 60 * np.cos(cols / 131), 70 + 40 * np.sin((rows + cols) / 173)]
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8", "crs": "EPSG:32649",
               "transform": from_origin(XIAN_UTM[0] - size / 2, XIAN_UTM[1] + size / 2, 1, 1)}  # fmt: skip
    plain = path.with_suffix(".plain.tif")
    with rasterio.open(plain, "w", **profile) as target:
        target.write((np.stack(bands) + noise).astype("uint8"))
    with rasterio.open(plain) as source:
        cog_translate(source, str(path), cog_profile(source), overview_resampling="average",
                      config=GDAL_COG_OPTIONS, quiet=True)  # fmt: skip
    plain.unlink()


@workload("imagery_url")
def run(ctx: Context) -> list[Result]:
    from layers.imagery.remote import RemoteCOG
    from layers.imagery.tiles import parse_style, render_tile

    size, per_zoom = (3072, 12) if ctx.quick else (6144, 30)
    root = Path(tempfile.mkdtemp(prefix="onemap-bench-cog-"))
    cog = root / "scene.tif"
    write_cog(cog, size)
    file_size = cog.stat().st_size
    style = parse_style("png", None, [], None, None)
    with rasterio.open(cog) as dataset:
        west, south, east, north = transform_bounds(dataset.crs, "EPSG:4326", *dataset.bounds)
    rng = np.random.default_rng(7)
    results = []
    try:
        with nginx_serving(root) as (base, log):
            remote = RemoteCOG(f"{base}/scene.tif", "", file_size)
            for zoom in ZOOMS:
                tiles = list(dict.fromkeys(
                    TMS.tile(float(rng.uniform(west, east)), float(rng.uniform(south, north)), zoom)
                    for _ in range(per_zoom * 3)
                ))[:per_zoom]  # fmt: skip
                local_s, remote_s, sent = [], [], []
                for tile in tiles:
                    start = time.perf_counter()
                    ours_local = render_tile([cog], tile, style)
                    local_s.append(time.perf_counter() - start)
                    mark = log.stat().st_size if log.exists() else 0
                    start = time.perf_counter()
                    ours_remote = render_tile([remote], tile, style)
                    remote_s.append(time.perf_counter() - start)
                    lines = log.read_bytes()[mark:].decode().splitlines()
                    sent.append(sum(int(line.split()[2]) for line in lines))
                    assert ours_local == ours_remote, f"tile {tile} differs between the file and its URL"
                p50_local, p50_remote = percentile(local_s, 50) * 1000, percentile(remote_s, 50) * 1000
                results.append(Result(
                    workload="imagery_url",
                    metric=f"z{zoom} tile p50, {len(tiles)} distinct tiles, COG by URL",
                    ours=Figure(p50_remote, "ms", higher_is_better=False),
                    baseline=Figure(p50_local, "ms", higher_is_better=False),
                    baseline_name="the same COG as a local file (same renderer, interleaved)",
                    notes=f"bytes per remote tile p50 {percentile(sent, 50) / 1e3:.0f} kB, max {max(sent) / 1e3:.0f} kB "
                          f"of a {file_size / 1e6:.1f} MB file; tiles byte-equal; loopback nginx, shared machine",
                    extra={"zoom": zoom, "bytes_p50": percentile(sent, 50), "bytes_max": max(sent),
                           "file_bytes": file_size, "p95_remote_ms": percentile(remote_s, 95) * 1000,
                           "p95_local_ms": percentile(local_s, 95) * 1000},
                ))  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return results
