"""Imagery by URL: scenes whose COGs nginx serves, read by GDAL range requests (``/vsicurl/``).

A scene added from a local file is converted to a COG under the imagery folder; that very file,
served by nginx (Debian, started here on a free port), is then registered by URL as a second
layer. Tiles, WMTS tiles, coverage subsets and point values of the two layers are equal; nginx's
access log shows the bytes a tile cost (range reads, a small share of the file); a URL that does
not answer, is not a GeoTIFF or not a COG is refused with a message and nothing catalogued; with
nginx stopped a tile is a 503 with a message, never a 500.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import morecantile
import numpy as np
import pytest
import rasterio
import shapely
import shapely.geometry
from click.testing import CliRunner
from rasterio.transform import from_origin
from sqlalchemy import Engine, text

from layers.catalog import LayerSpec, upsert_department
from layers.imagery import ImageryReport, add_remote_scene, add_scene
from layers.imagery.budget import RenderBudget
from layers.imagery.remote import RemoteCOG
from layers.imagery.store import imagery_source
from layers.imagery.tiles import parse_style, render_tile
from layers.imagery.zonal import zonal_statistics
from layers.vector import load_vector_file, remove_layer
from spatial.access.principal import local_operator
from spatial.config import Settings
from spatial.errors import BudgetExceeded, InvalidInput
from spatial.postgis import free_port
from tests.conftest import realdata_path
from tests.live import live_server

TMS = morecantile.tms.get("WebMercatorQuad")
XIAN_UTM = (310_330.0, 3_792_905.0)  # 108.94E 34.26N, UTM 49N
SIZE = 3072  # px a side: 6 × 6 blocks of 512 px at full resolution
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
pytestmark = pytest.mark.skipif(
    not os.path.exists(NGINX) and not os.environ.get("CI"), reason="nginx (Debian package) is not installed"
)


@dataclass
class Nginx:
    """nginx serving ``root`` at ``base``; ``log`` has one line per request: method uri status bytes range."""

    base: str
    root: Path
    log: Path
    process: subprocess.Popen[bytes]

    def served_since(self, offset: int) -> list[tuple[str, str, int, int, str]]:
        """(method, uri, status, body bytes, range) of the requests logged after ``offset``."""
        lines = self.log.read_bytes()[offset:].decode().splitlines()
        rows = []
        for line in lines:
            method, uri, status, sent, asked = line.split(" ", 4)
            rows.append((method, uri, int(status), int(sent), asked.strip('"')))
        return rows

    def mark(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def start_nginx(folder: Path) -> Nginx:
    """nginx in the foreground on a free loopback port, everything under ``folder``."""
    root, logs = folder / "www", folder / "logs"
    root.mkdir()
    logs.mkdir()
    port = free_port()
    conf = folder / "nginx.conf"
    temp = folder / "tmp"
    user = "user root root;" if os.geteuid() == 0 else ""  # workers read the test's private tmp dir
    conf.write_text(f"""
{user}
worker_processes 1;
error_log {logs}/error.log;
pid {folder}/nginx.pid;
events {{ worker_connections 64; }}
http {{
  log_format bytes '$request_method $uri $status $body_bytes_sent "$http_range"';
  access_log {logs}/access.log bytes;
  client_body_temp_path {temp}; proxy_temp_path {temp}; fastcgi_temp_path {temp};
  uwsgi_temp_path {temp}; scgi_temp_path {temp};
  types {{ image/tiff tif tiff; text/html html; }}
  server {{ listen 127.0.0.1:{port}; root {root}; }}
}}
""")
    process = subprocess.Popen([NGINX, "-p", str(folder), "-c", str(conf), "-g", "daemon off;"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.head(base + "/", timeout=1)
            break
        except httpx.TransportError:
            if process.poll() is not None:
                error = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"nginx did not start: {error}") from None
            time.sleep(0.05)
    return Nginx(base, root, logs / "access.log", process)


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    server = start_nginx(tmp_path_factory.mktemp("nginx"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def url_engine(engine: Engine) -> Engine:
    with engine.begin() as conn:
        upsert_department(conn, "planning", "自然资源和规划局", "Natural Resources and Planning Bureau")
    return engine


@pytest.fixture(scope="module")
def pair(url_engine: Engine, settings: Settings, nginx: Nginx, tmp_path_factory: pytest.TempPathFactory
         ) -> tuple[ImageryReport, ImageryReport]:  # fmt: skip
    """The same COG as a local scene (img_local) and by URL from nginx (img_url)."""
    source = tmp_path_factory.mktemp("src") / "xian_rgb.tif"
    rows, cols = np.mgrid[0:SIZE, 0:SIZE].astype("float32")
    noise = np.random.default_rng(19).integers(0, 40, (3, SIZE, SIZE), dtype=np.uint8)
    bands = [60 + 50 * np.sin(rows / 97), 90 + 60 * np.cos(cols / 131), 70 + 40 * np.sin((rows + cols) / 173)]
    data = (np.stack(bands) + noise).astype("uint8")
    profile = {"driver": "GTiff", "width": SIZE, "height": SIZE, "count": 3, "dtype": "uint8",
               "crs": "EPSG:32649", "transform": from_origin(XIAN_UTM[0] - SIZE / 2, XIAN_UTM[1] + SIZE / 2, 1, 1)}
    with rasterio.open(source, "w", **profile) as target:  # fmt: skip
        target.write(data)
    local = add_scene(url_engine, settings, source, layer="img_local", scene_id="xian")
    shutil.copyfile(local.storage_path, nginx.root / "xian.tif")
    remote = add_remote_scene(url_engine, settings, f"{nginx.base}/xian.tif", layer="img_url")
    return local, remote


@pytest.fixture(scope="module")
def server(settings: Settings, pair: tuple[ImageryReport, ImageryReport]) -> Iterator[str]:
    with live_server(settings) as base:
        yield base


def _tile(lon: float, lat: float, zoom: int) -> str:
    tile = TMS.tile(lon, lat, zoom)
    return f"{tile.z}/{tile.x}/{tile.y}"


def _centre(report: ImageryReport) -> tuple[float, float]:
    west, south, east, north = report.bbox
    return (west + east) / 2, (south + north) / 2


def _layer_exists(engine: Engine, layer: str) -> bool:
    with engine.connect() as conn:
        layers = conn.execute(text("SELECT count(*) FROM catalog.layer WHERE id = :id"), {"id": layer}).scalar_one()
        scenes = conn.execute(text("SELECT count(*) FROM imagery.scene WHERE layer_id = :id"), {"id": layer}).scalar_one()
    return bool(layers or scenes)


def test_registration_records_the_url_size_and_etag(url_engine: Engine, pair: tuple[ImageryReport, ImageryReport],
                                                    nginx: Nginx) -> None:  # fmt: skip
    local, remote = pair
    file_size = (nginx.root / "xian.tif").stat().st_size
    assert remote.size_bytes == file_size and remote.bbox == local.bbox and remote.band_count == 3
    assert remote.overviews == local.overviews and remote.scene_id == "xian"
    with url_engine.connect() as conn:
        row = conn.execute(text(
            "SELECT url, etag, path, size_bytes, attributes FROM imagery.scene WHERE layer_id = 'img_url'"
        )).mappings().one()  # fmt: skip
    assert row["url"] == f"{nginx.base}/xian.tif" and row["path"] == f"/vsicurl/{nginx.base}/xian.tif"
    assert row["etag"] and row["etag"].startswith('"') and row["size_bytes"] == file_size
    with url_engine.connect() as conn:
        local_stats = conn.execute(text(
            "SELECT bands FROM imagery.scene WHERE layer_id = 'img_local'")).scalar_one()  # fmt: skip
    assert [b["statistics"] for b in row["attributes"]["bands"]] == [b["statistics"] for b in local_stats]
    scene = imagery_source(url_engine, "img_url").scenes[0]
    assert isinstance(scene.path, RemoteCOG) and scene.url == row["url"]
    assert row["etag"] in scene.version and row["url"] in scene.version


def test_tiles_coverage_point_and_wmts_equal_the_local_scene(
    server: str, pair: tuple[ImageryReport, ImageryReport], nginx: Nginx
) -> None:
    local, _ = pair
    lon, lat = _centre(local)
    for zoom in (13, 15, 17):
        address = _tile(lon, lat, zoom)
        ours = httpx.get(f"{server}/tiles/img_local/{address}.png", timeout=60)
        theirs = httpx.get(f"{server}/tiles/img_url/{address}.png", timeout=60)
        assert ours.status_code == theirs.status_code == 200, theirs.text
        assert ours.content == theirs.content, f"tile {address} differs"
    bbox = f"{lon - 0.004},{lat - 0.003},{lon + 0.004},{lat + 0.003}"
    for fmt in ("json", "GTiff"):
        ours = httpx.get(f"{server}/ogc/collections/img_local/coverage", params={"bbox": bbox, "f": fmt}, timeout=60)
        theirs = httpx.get(f"{server}/ogc/collections/img_url/coverage", params={"bbox": bbox, "f": fmt}, timeout=60)
        assert ours.status_code == theirs.status_code == 200, theirs.text
        if fmt == "json":
            assert ours.json()["ranges"] == theirs.json()["ranges"]
        else:
            with rasterio.MemoryFile(ours.content) as a, rasterio.MemoryFile(theirs.content) as b, \
                    a.open() as one, b.open() as two:  # fmt: skip
                assert one.transform == two.transform and np.array_equal(one.read(), two.read())
    point = {"lon": lon + 0.001, "lat": lat - 0.001}
    ours = httpx.get(f"{server}/api/v1/imagery/img_local/point", params=point, timeout=60).json()
    theirs = httpx.get(f"{server}/api/v1/imagery/img_url/point", params=point, timeout=60).json()
    assert [r["values"] for r in ours["results"]] == [r["values"] for r in theirs["results"]]
    assert ours["results"][0]["values"]
    tile = TMS.tile(lon, lat, 16)
    paths = [f"/wmts/1.0.0/{layer}/default/WebMercatorQuad/16/{tile.y}/{tile.x}.png" for layer in ("img_local", "img_url")]
    ours, theirs = (httpx.get(server + p, timeout=60) for p in paths)
    assert ours.status_code == theirs.status_code == 200 and ours.content == theirs.content


def test_maps_and_zonal_statistics_equal_the_local_scene(
    server: str, url_engine: Engine, pair: tuple[ImageryReport, ImageryReport], tmp_path: Path
) -> None:
    local, _ = pair
    lon, lat = _centre(local)
    bbox = f"{lon - 0.006},{lat - 0.005},{lon + 0.006},{lat + 0.005}"
    maps = [httpx.get(f"{server}/ogc/collections/{layer}/map", params={"bbox": bbox, "width": 300, "height": 250},
                      timeout=60) for layer in ("img_local", "img_url")]  # fmt: skip
    assert maps[0].status_code == maps[1].status_code == 200, maps[1].text
    assert maps[0].content == maps[1].content
    cells = [shapely.box(lon + dx, lat + dy, lon + dx + 0.002, lat + dy + 0.002)
             for dx in (-0.01, -0.004, 0.002) for dy in (-0.01, -0.004, 0.002)]  # fmt: skip
    features = [{"type": "Feature", "geometry": shapely.geometry.mapping(c), "properties": {"code": f"c{i}"}}
                for i, c in enumerate(cells)]  # fmt: skip
    (tmp_path / "cells.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    spec = LayerSpec(id="zone_url_cells", title_zh="格", title_en="cells", department_code="planning")
    load_vector_file(url_engine, tmp_path / "cells.geojson", spec, principal=local_operator())
    try:
        ours, theirs = (zonal_statistics(url_engine, layer, "zone_url_cells", band=2, percentiles=[50],
                                         principal=local_operator()).records()
                        for layer in ("img_local", "img_url"))  # fmt: skip
    finally:  # the shared test database keeps only the platform's own tables (tests/test_migrations.py)
        remove_layer(url_engine, "zone_url_cells", principal=local_operator())
    assert ours == theirs and all(r["count"] > 0 for r in ours)


def test_a_tile_reads_byte_ranges_not_the_file(server: str, pair: tuple[ImageryReport, ImageryReport],
                                               nginx: Nginx) -> None:  # fmt: skip
    _, remote = pair
    west, south, east, north = remote.bbox
    lon, lat = west + 0.2 * (east - west), south + 0.8 * (north - south)  # a corner no other test reads
    start = nginx.mark()
    answer = httpx.get(f"{server}/tiles/img_url/{_tile(lon, lat, 18)}.png", timeout=60)
    assert answer.status_code == 200
    served = nginx.served_since(start)
    file_size = (nginx.root / "xian.tif").stat().st_size
    assert served and all(status in (200, 206) for _, _, status, _, _ in served)
    gets = [row for row in served if row[0] == "GET"]
    assert gets and all(row[2] == 206 and row[4].startswith("bytes=") for row in gets), served  # ranges only
    total = sum(sent for _, _, _, sent, _ in served)
    assert total < file_size / 5, f"a tile cost {total:,} bytes of a {file_size:,}-byte file"
    print(f"\nbytes served for one z18 tile: {total:,} of {file_size:,} ({100 * total / file_size:.1f} %), "
          f"{len(served)} requests")


def test_the_source_pixel_budget_applies_before_a_remote_block_is_read(
    url_engine: Engine, pair: tuple[ImageryReport, ImageryReport], nginx: Nginx
) -> None:
    _, remote = pair
    west, south, east, north = remote.bbox
    tile = TMS.tile(west + 0.5 * (east - west), south + 0.35 * (north - south), 18)
    path = imagery_source(url_engine, "img_url").scenes[0].path
    start = nginx.mark()
    with pytest.raises(BudgetExceeded, match="ONEMAP_MAX_SOURCE_PIXELS"):
        render_tile([path], tile, parse_style("png", None, [], None, None), RenderBudget(max_source_pixels=10_000))
    assert sum(row[3] for row in nginx.served_since(start)) < 64 * 1024  # headers at most, no block


def test_the_real_cog_served_as_it_is(url_engine: Engine, settings: Settings, nginx: Nginx) -> None:
    """A third-party COG (JPEG, 512-px tiles, from ../shared/realdata) read in place equals the file read locally."""
    source = realdata_path("imagery", "cogeo.tif")
    shutil.copyfile(source, nginx.root / "cogeo.tif")
    report = add_remote_scene(url_engine, settings, f"{nginx.base}/cogeo.tif", layer="img_url_real")
    assert report.compression == "jpeg" and report.size_bytes == source.stat().st_size
    style = parse_style("png", None, [], None, None)
    lon, lat = _centre(report)
    for zoom in (14, 16):
        tile = TMS.tile(lon, lat, zoom)
        remote = render_tile([imagery_source(url_engine, "img_url_real").scenes[0].path], tile, style)
        assert remote is not None and remote == render_tile([source], tile, style)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.org/scene.tif", "http://, https:// or s3:// only, not ftp://"),
        ("file:///etc/passwd", "not file://"),
        ("http://user:secret@127.0.0.1/x.tif", "user name or password"),
        ("http://127.0.0.1:1/x.tif", "does not answer"),
        ("{base}/page.html", "must end in .tif or .tiff"),
        ("{base}/page.tif", "is not a GeoTIFF: the server sends a web page"),
        ("{base}/missing.tif", "answered HTTP 404"),
        ("{base}/striped.tif", "is not a Cloud-Optimized GeoTIFF"),
    ],
)
def test_bad_urls_are_refused_and_nothing_is_catalogued(
    url_engine: Engine, settings: Settings, nginx: Nginx, url: str, message: str
) -> None:
    (nginx.root / "page.html").write_text("<!DOCTYPE html><html><body>not imagery</body></html>")
    shutil.copyfile(nginx.root / "page.html", nginx.root / "page.tif")
    striped = nginx.root / "striped.tif"
    if not striped.exists():
        profile = {"driver": "GTiff", "width": 1200, "height": 1000, "count": 1, "dtype": "uint8",
                   "crs": "EPSG:32649", "transform": from_origin(*XIAN_UTM, 10, 10)}  # fmt: skip
        with rasterio.open(striped, "w", **profile) as target:
            target.write(np.full((1, 1000, 1200), 7, dtype="uint8"))
    with pytest.raises(InvalidInput) as refused:
        add_remote_scene(url_engine, settings, url.format(base=nginx.base), layer="img_url_bad")
    assert refused.value.status == 400 and message in refused.value.message, refused.value.message
    assert not _layer_exists(url_engine, "img_url_bad")


def test_cli_adds_by_url_and_refuses_in_one_line(settings: Settings, url_engine: Engine, nginx: Nginx,
                                                 pair: tuple[ImageryReport, ImageryReport],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from api.cli import main

    monkeypatch.setenv("ONEMAP_DATABASE_URL", settings.database_url or "")
    monkeypatch.setenv("ONEMAP_VAR_DIR", str(settings.var_dir))
    runner = CliRunner()
    url = f"{nginx.base}/xian.tif"
    added = runner.invoke(main, ["imagery", "add", "--url", url, "--layer", "img_url_cli", "--time", "2024-05-01",
                                 "--json"])  # fmt: skip
    assert added.exit_code == 0, added.output
    assert f'"url": "{url}"' in added.stdout
    listed = runner.invoke(main, ["imagery", "scenes", "img_url_cli", "--json"])
    assert listed.exit_code == 0 and f'"url": "{url}"' in listed.stdout and '"remote": true' in listed.stdout
    refused = runner.invoke(main, ["imagery", "add", "--url", "file:///etc/passwd", "--layer", "img_url_cli2"])
    assert refused.exit_code == 2 and refused.stderr.startswith("onemap: error: imagery by URL is read over")
    both = runner.invoke(main, ["imagery", "add", "x.tif", "--url", url, "--layer", "img_url_cli2"])
    assert both.exit_code == 2 and "not both" in both.output
    assert not _layer_exists(url_engine, "img_url_cli2")


def test_nginx_gone_is_a_503_with_a_message(server: str, pair: tuple[ImageryReport, ImageryReport],
                                            nginx: Nginx, settings: Settings) -> None:  # fmt: skip
    """Last: stops nginx. A tile not read before (so in no block cache) is a 503 that says why."""
    _, remote = pair
    west, south, east, north = remote.bbox
    lon, lat = west + 0.85 * (east - west), south + 0.15 * (north - south)
    probes = [row for row in nginx.served_since(0) if (row[0] == "GET" and row[1].endswith("/"))
              or row[1].lower().endswith((".aux.xml", ".aux", ".ovr", ".msk", ".tfw", ".imd", ".rpb"))]  # fmt: skip
    assert not probes, f"GDAL listed a directory or asked for side-cars: {probes[:5]}"
    nginx.stop()
    timeout = settings.render_timeout_s * 2 + 10
    answer = httpx.get(f"{server}/tiles/img_url/{_tile(lon, lat, 18)}.png", timeout=timeout)
    assert answer.status_code == 503, answer.text
    body = answer.json()
    assert body["code"] == "ServiceUnavailable" and "xian.tif cannot be read now" in body["description"]
    assert "answer" in body["description"] and answer.headers.get("Retry-After")
    coverage = httpx.get(f"{server}/ogc/collections/img_url/coverage", timeout=timeout,
                         params={"bbox": f"{lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}", "f": "json"})
    assert coverage.status_code == 503, coverage.text
    local = httpx.get(f"{server}/tiles/img_local/{_tile(lon, lat, 18)}.png", timeout=timeout)
    assert local.status_code == 200
