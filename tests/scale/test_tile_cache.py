"""Tile caches (issue 19): cached tiles are the uncached bytes, keyed by the layer's version so an
edit, rollback or scene change shows within 2 s; ETag/304; access before the cache; Redis that
dies mid-run; ``onemap tiles seed|purge``.

A database of its own (a public and a department-only point layer of ``emergency``, an imagery
layer of two scenes), served over real HTTP with the disk cache, then with a real redis-server.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import httpx
import morecantile
import numpy as np
import pytest
import rasterio
import shapely
from click.testing import CliRunner
from rasterio.transform import from_bounds
from sqlalchemy import Engine

from layers import tile_cache, vector_tiles
from layers.catalog import LayerSpec, find_layer, upsert_department
from layers.features import FeatureTable, describe_table
from layers.imagery.ingest import add_scene, remove_scene
from layers.rollback import rollback_layer
from layers.vector import load_vector_file
from spatial import migrate
from spatial.access.principal import local_operator
from spatial.access.tokens import create_token
from spatial.config import Settings
from spatial.db import make_engine, read_only
from spatial.postgis import free_port
from tests.live import live_server

CENTRE = (108.94, 34.26)
TILE = morecantile.tms.get("WebMercatorQuad").tile(*CENTRE, 14)
MVT_PATH = f"tiles/WebMercatorQuad/{TILE.z}/{TILE.y}/{TILE.x}?f=mvt"
XYZ_PATH = f"/tiles/tc_img/{TILE.z}/{TILE.x}/{TILE.y}.png"
GEOJSON = {"Content-Type": "application/geo+json"}
BOUND_S = 2.0  # the bound: a change shows within 2 s


@dataclass
class TileCity:
    url: str
    engine: Engine
    settings: Settings
    editor: dict[str, str]
    files: Path


def write_scene(path: Path, lonlat_box: tuple[float, float, float, float], shift: int = 0) -> Path:
    """A 3-band byte GeoTIFF over ``lonlat_box`` with a gradient (``shift`` changes its colours)."""
    rows, cols = np.mgrid[0:256, 0:256]
    data = np.stack([(cols + shift) % 256, rows % 256, (rows + cols) % 256]).astype("uint8")
    profile = {"driver": "GTiff", "width": 256, "height": 256, "count": 3, "dtype": "uint8",
               "crs": "EPSG:4326", "transform": from_bounds(*lonlat_box, 256, 256)}  # fmt: skip
    with rasterio.open(path, "w", **profile) as target:
        target.write(data)
    return path


def points(n: int = 8) -> gpd.GeoDataFrame:
    x = CENTRE[0] + np.arange(n) * 0.001
    return gpd.GeoDataFrame({"name": [f"p{i}" for i in range(n)]},
                            geometry=shapely.points(x, np.full(n, CENTRE[1])), crs="EPSG:4326")  # fmt: skip


def described(engine: Engine, layer: str) -> FeatureTable:
    row = find_layer(engine, layer)
    assert row is not None
    return describe_table(engine, row["storage_schema"], row["storage_table"], id_field=row["id_field"] or "id",
                          geom_field=row["geom_field"] or "geom", time_field=row["time_field"])  # fmt: skip


@pytest.fixture(scope="module")
def city(make_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TileCity]:
    url = make_database("onemap_tiles")
    engine = make_engine(url, pool_size=4)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        upsert_department(conn, "emergency", "应急管理局", "Emergency Management")
    files = tmp_path_factory.mktemp("tile-files")
    var_dir = tmp_path_factory.mktemp("tile-var")
    settings = Settings(database_url=url, var_dir=var_dir, port=0)
    for name, visibility in (("tc_public", "public"), ("tc_hidden", "department")):
        points().to_file(files / f"{name}.geojson")
        spec = LayerSpec(name, name, name, "emergency", visibility=visibility)
        load_vector_file(engine, files / f"{name}.geojson", spec, principal=local_operator())
    add_scene(engine, settings, write_scene(files / "a.tif", (108.90, 34.20, 109.00, 34.30)), layer="tc_img",
              department="emergency", visibility="public", title_zh="影像", title_en="Imagery")  # fmt: skip
    token = create_token(engine, department_code="emergency", role="editor", name="tiles", actor=local_operator())
    yield TileCity(url, engine, settings, {"Authorization": f"Bearer {token.secret}"}, files)
    engine.dispose()


@pytest.fixture(scope="module")
def server(city: TileCity) -> Iterator[str]:
    with live_server(city.settings) as base:
        yield base


def changed(client: httpx.Client, url: str, before: bytes, **kwargs: object) -> bytes:
    """The tile at ``url`` once it differs from ``before``, polling for at most BOUND_S."""
    deadline = time.monotonic() + BOUND_S
    while True:
        response = client.get(url, **kwargs)  # type: ignore[arg-type]
        assert response.status_code in (200, 204), response.text
        if response.content != before or time.monotonic() > deadline:
            return response.content
        time.sleep(0.05)


def test_cached_tiles_are_the_uncached_bytes_with_etag_and_304(city: TileCity, server: str) -> None:
    url = f"{server}/ogc/collections/tc_public/{MVT_PATH}"
    with httpx.Client(timeout=30) as client:
        first, second = client.get(url), client.get(url)
        assert first.status_code == second.status_code == 200
        assert first.content == second.content
        table = described(city.engine, "tc_public")
        direct = vector_tiles.mvt_tile(city.engine, table, TILE.z, TILE.x, TILE.y, layer="tc_public")
        assert first.content == direct
        etag = first.headers["etag"]
        assert etag == second.headers["etag"] and etag.startswith('"')
        assert first.headers["cache-control"] == f"public, max-age={city.settings.tile_max_age_s}"
        again = client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
        assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
        assert list((city.settings.tile_cache_path / "tc_public").rglob("*.tile")), "nothing was kept on disk"
        # imagery and WMTS alike
        png = client.get(f"{server}{XYZ_PATH}")
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        assert client.get(f"{server}{XYZ_PATH}").content == png.content
        assert client.get(f"{server}{XYZ_PATH}", headers={"If-None-Match": png.headers["etag"]}).status_code == 304
        wmts = f"{server}/wmts/1.0.0/tc_public/default/WebMercatorQuad/{TILE.z}/{TILE.y}/{TILE.x}.png"
        drawn = client.get(wmts)
        assert drawn.status_code in (200, 204) and "etag" in drawn.headers
        assert client.get(wmts, headers={"If-None-Match": drawn.headers["etag"]}).status_code == 304


def test_an_edit_and_a_rollback_change_the_tile_within_2_s(city: TileCity, server: str) -> None:
    url = f"{server}/ogc/collections/tc_public/{MVT_PATH}"
    with httpx.Client(timeout=30) as client:
        original = client.get(url).content
        client.get(url)  # kept
        before_edits = dt.datetime.now(dt.UTC)
        time.sleep(0.01)
        feature = {"type": "Feature", "properties": {"name": "new"},
                   "geometry": {"type": "Point", "coordinates": [CENTRE[0] + 0.0005, CENTRE[1] + 0.0005]}}  # fmt: skip
        created = client.post(f"{server}/ogc/collections/tc_public/items", json=feature,
                              headers={**GEOJSON, **city.editor})  # fmt: skip
        assert created.status_code == 201, created.text
        after_create = changed(client, url, original)
        assert after_create != original, "the new feature did not show within 2 s"
        fid = created.headers["location"].rstrip("/").rsplit("/", 1)[-1]
        patched = client.patch(f"{server}/ogc/collections/tc_public/items/{fid}", json={"type": "Feature", "properties": {"name": "renamed"}},
                               headers={**GEOJSON, **city.editor})  # fmt: skip
        assert patched.status_code in (200, 204), patched.text
        after_patch = changed(client, url, after_create)
        assert after_patch != after_create, "the patched feature did not show within 2 s"
        rollback_layer(city.engine, "tc_public", before_edits, principal=local_operator())
        rolled = changed(client, url, after_patch)
        assert rolled == original, "the rollback did not show within 2 s"


def test_a_scene_added_or_removed_changes_the_imagery_tile(city: TileCity, server: str) -> None:
    with httpx.Client(timeout=30) as client:
        original = client.get(f"{server}{XYZ_PATH}").content
        add_scene(city.engine, city.settings, write_scene(city.files / "b.tif", (108.92, 34.24, 108.97, 34.29), shift=97),
                  layer="tc_img")  # fmt: skip
        with_b = changed(client, f"{server}{XYZ_PATH}", original)
        assert with_b != original, "the added scene did not show within 2 s"
        remove_scene(city.engine, city.settings, "tc_img", "b")
        assert changed(client, f"{server}{XYZ_PATH}", with_b) == original


def test_a_hidden_layer_stays_404_with_a_warm_cache(city: TileCity, server: str) -> None:
    url = f"{server}/ogc/collections/tc_hidden/{MVT_PATH}"
    with httpx.Client(timeout=30) as client:
        for _ in range(2):
            seen = client.get(url, headers=city.editor)
            assert seen.status_code == 200 and seen.content
        assert "private" in seen.headers["cache-control"] and "public" not in seen.headers["cache-control"]
        assert client.get(url).status_code == 404
        assert client.get(url, headers={"If-None-Match": seen.headers["etag"]}).status_code == 404
        wmts = f"{server}/wmts/1.0.0/tc_hidden/default/WebMercatorQuad/{TILE.z}/{TILE.y}/{TILE.x}.png"
        assert client.get(wmts, headers=city.editor).status_code in (200, 204)
        assert client.get(wmts).status_code == 404


def test_redis_cache_is_shared_and_a_dead_redis_means_uncached(city: TileCity, redis_server) -> None:
    import redis

    process, port = redis_server
    settings = city.settings.model_copy(update={"tile_cache": f"redis://127.0.0.1:{port}/0"})
    with live_server(settings) as base, httpx.Client(timeout=30) as client:
        url = f"{base}/ogc/collections/tc_public/{MVT_PATH}"
        first = client.get(url)
        assert first.status_code == 200
        kept = redis.Redis(port=port).keys(tile_cache.REDIS_PREFIX + "tc_public/*")
        assert kept, "the tile was not kept in Redis"
        assert client.get(url).content == first.content
        png = client.get(f"{base}{XYZ_PATH}")
        assert png.status_code == 200
        process.kill()
        process.wait(timeout=10)
        for _ in range(2):  # the first finds Redis gone, the second does not wait for it
            assert client.get(url).content == first.content
            assert client.get(f"{base}{XYZ_PATH}").content == png.content


def test_seed_and_purge(city: TileCity, tmp_path: Path) -> None:
    from api.cli.main import main

    env = {"ONEMAP_DATABASE_URL": city.url, "ONEMAP_VAR_DIR": str(city.settings.var_dir),
           "ONEMAP_TILE_CACHE": "disk", "ONEMAP_TILE_CACHE_DIR": str(tmp_path / "seeded")}  # fmt: skip
    runner = CliRunner()
    result = runner.invoke(main, ["tiles", "seed", "tc_public", "--zoom", "13-14"], env=env)
    assert result.exit_code == 0, result.output
    assert "seeded" in result.output
    with read_only(city.engine) as conn:
        version = tile_cache.version_in(conn, "tc_public")
    cache = tile_cache.DiskCache(tmp_path / "seeded", 10 * 1024 * 1024)
    key = tile_cache.mvt_key("tc_public", version, "WebMercatorQuad", TILE.z, TILE.x, TILE.y)
    table = described(city.engine, "tc_public")
    assert cache.get(key) == vector_tiles.mvt_tile(city.engine, table, TILE.z, TILE.x, TILE.y, layer="tc_public")
    result = runner.invoke(main, ["tiles", "seed", "tc_img", "--zoom", "14"], env=env)
    assert result.exit_code == 0, result.output
    for bad in (["--zoom", "x"], ["--zoom", "9-3"], ["--zoom", "12", "--bbox", "1,2,3"]):
        refused = runner.invoke(main, ["tiles", "seed", "tc_public", *bad], env=env)
        assert refused.exit_code == 2 and "onemap: error" in refused.output, refused.output
    missing = runner.invoke(main, ["tiles", "seed", "no_such_layer", "--zoom", "12"], env=env)
    assert missing.exit_code == 2 and "no layer named" in missing.output
    purged = runner.invoke(main, ["tiles", "purge", "tc_public"], env=env)
    assert purged.exit_code == 0 and "purged" in purged.output, purged.output
    assert cache.get(key) is None
    assert runner.invoke(main, ["tiles", "purge"], env=env).exit_code == 0
    down = runner.invoke(main, ["tiles", "purge"], env={**env, "ONEMAP_TILE_CACHE": f"redis://127.0.0.1:{free_port()}/0"})
    assert down.exit_code != 0 and "onemap: error" in down.output


def test_the_disk_cache_stays_within_its_bound_and_sweeps_old_versions(tmp_path: Path) -> None:
    cache = tile_cache.DiskCache(tmp_path, max_bytes=1_000_000)
    blob = bytes(100_000)
    keys = [tile_cache.mvt_key("big", 1, "WebMercatorQuad", 10, i, 0) for i in range(30)]
    for i, key in enumerate(keys):
        cache.put(key, blob[:-1] + bytes([i]))
    kept = sum(f.stat().st_size for f in tmp_path.rglob("*.tile"))
    assert kept <= 1_000_000
    assert cache.get(keys[-1]) == blob[:-1] + bytes([29])  # the newest stay
    assert cache.get(keys[0]) is None  # the least recently used went first
    assert not list(tmp_path.rglob("*.tmp")), "a temporary file was left behind"
    cache.put(tile_cache.mvt_key("big", 2, "WebMercatorQuad", 10, 0, 0), b"v2")
    assert cache.get(keys[-1]) is None and not (tmp_path / "big" / "1").exists()  # version 1 swept
    assert cache.purge("big") == 1 and cache.get(tile_cache.mvt_key("big", 2, "WebMercatorQuad", 10, 0, 0)) is None


def test_the_tile_cache_setting_is_checked_at_start_up() -> None:
    """A wrong ONEMAP_TILE_CACHE stops the server at start with its name, not each tile with a 500."""
    import pydantic

    from spatial.config import Settings

    assert Settings(tile_cache="redis://10.0.0.7:6379/0").tile_cache.startswith("redis://")
    assert Settings(tile_cache=" OFF ").tile_cache == "OFF"
    with pytest.raises(pydantic.ValidationError, match="not a tile cache"):
        Settings(tile_cache="memcached://x")
