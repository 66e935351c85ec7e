"""Imagery with several scenes: mosaics, datetime, band maths, colormaps, point values, zonal and
change statistics (checked against numpy on exactly the same pixels), saving results as a layer,
the permission check on every door, and bad input answered with a clear 4xx.

Runs in a database of its own (no administrative divisions, so no city-extent rule), with
generated rasters over Xi'an (UTM 49N) and the real images of ../shared/realdata/imagery.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import morecantile
import numpy as np
import pytest
import rasterio
import shapely
from pyproj import Transformer
from rasterio.features import geometry_mask
from rasterio.io import MemoryFile
from rasterio.transform import from_bounds, from_origin
from rasterio.warp import Resampling, reproject
from rio_tiler.colormap import cmap
from sqlalchemy import Engine

from layers.catalog import LayerSpec, upsert_department
from layers.imagery import add_scene, remove_scene
from layers.imagery.change import change_statistics
from layers.imagery.overlay import save_as_layer
from layers.imagery.store import imagery_source
from layers.imagery.zonal import zonal_statistics
from layers.vector import load_vector_file
from spatial.access.principal import local_operator
from spatial.access.tokens import create_token
from spatial.config import Settings
from spatial.db import make_engine
from spatial.errors import InvalidInput, NotFound
from tests.conftest import realdata_path
from tests.live import live_server

TMS = morecantile.tms.get("WebMercatorQuad")
UTM = "EPSG:32649"
ORIGIN = (305_000.0, 3_797_000.0)  # north-west corner, ~108.89E 34.30N
SIZE = 1000  # pixels of 10 m: a 10 km square
T1, T2, T3 = "2024-03-01T03:00:00Z", "2024-06-01T03:00:00Z", "2024-09-01T03:00:00Z"
NDVI = "(b4-b3)/(b4+b3)"
TO_UTM = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
TO_LONLAT = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)


# ------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def db(make_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Settings]]:
    """A database of its own with three departments."""
    from spatial import migrate

    url = make_database("onemap_imagery")
    engine = make_engine(url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        upsert_department(conn, "planning", "自然资源和规划局", "Natural Resources and Planning")
        upsert_department(conn, "environment", "生态环境局", "Ecology and Environment")
        upsert_department(conn, "urban", "城市管理局", "Urban Management")
    settings = Settings(database_url=url, var_dir=tmp_path_factory.mktemp("img-var"), port=0)
    yield engine, settings
    engine.dispose()


def _write(path: Path, data: np.ndarray, *, left: float, top: float, res: float = 10.0,
           crs: str = UTM, nodata: float | None = 0, names: tuple[str, ...] = ()) -> Path:  # fmt: skip
    count, height, width = data.shape
    profile = {"driver": "GTiff", "width": width, "height": height, "count": count,
               "dtype": data.dtype.name, "crs": crs, "transform": from_origin(left, top, res, res),
               "nodata": nodata}  # fmt: skip
    with rasterio.open(path, "w", **profile) as target:
        target.write(data)
        for index, name in enumerate(names, start=1):
            target.set_band_description(index, name)
    return path


def _flat(value: int, height: int = SIZE, width: int = SIZE) -> np.ndarray:
    return np.full((1, height, width), value, "uint16")


@pytest.fixture(scope="module")
def time_layer(db, tmp_path_factory: pytest.TempPathFactory) -> str:
    """'img_time': scene a (March, all of it, 1000), b (June, west half, 2000, a nodata hole),
    c (September, east third, 3000). Single band, so grey levels tell scenes apart."""
    engine, settings = db
    folder = tmp_path_factory.mktemp("time")
    left, top = ORIGIN
    hole = _flat(2000, SIZE, SIZE // 2)
    hole[:, 400:600, 200:400] = 0
    scenes = [
        ("a", _flat(1000), left, T1, 10.0),
        ("b", hole, left, T2, 35.5),
        ("c", _flat(3000, SIZE, SIZE // 3), left + 10 * (SIZE - SIZE // 3), T3, None),
    ]
    for name, data, x, when, cloud in scenes:
        path = _write(folder / f"{name}.tif", data, left=x, top=top)
        add_scene(engine, settings, path, layer="img_time", acquired=dt.datetime.fromisoformat(when),
                  sensor="GF-2 PMS", cloud_percent=cloud, title_zh="时序影像")  # fmt: skip
    return "img_time"


def _bands(seed: int, shift: int = 0) -> np.ndarray:
    """Blue, green, red, NIR with vegetation varying across the scene (uint16, reflectance × 1e4)."""
    rows, cols = np.mgrid[0:SIZE, 0:SIZE].astype("float64")
    rng = np.random.default_rng(seed)
    vegetation = 0.5 + 0.45 * np.sin(rows / 70) * np.cos(cols / 90)
    red = 900 - 500 * vegetation + rng.normal(0, 40, (SIZE, SIZE))
    nir = 1500 + 2500 * vegetation + rng.normal(0, 60, (SIZE, SIZE)) + shift
    data = np.stack([red * 0.7, red * 0.9, red, nir]).clip(1, 10_000).astype("uint16")
    data[:, :50, :80] = 0  # a nodata corner
    return data


@pytest.fixture(scope="module")
def green_layer(db, tmp_path_factory: pytest.TempPathFactory) -> str:
    """'img_green': two 4-band scenes on the same grid, September's NIR 300 higher."""
    engine, settings = db
    folder = tmp_path_factory.mktemp("green")
    for name, when, shift in (("spring", T1, 0), ("autumn", T3, 300)):
        path = _write(folder / f"{name}.tif", _bands(7, shift), left=ORIGIN[0], top=ORIGIN[1],
                      names=("blue", "green", "red", "nir"))  # fmt: skip
        add_scene(engine, settings, path, layer="img_green", acquired=dt.datetime.fromisoformat(when))
    return "img_green"


def _cells(step_m: float = 250.0, count: int = 30, offset: float = 123.0) -> list[shapely.Polygon]:
    """A tessellation of squares in UTM (not aligned with pixels), as lon/lat polygons."""
    cells = []
    for i in range(count):
        for j in range(count):
            x0, y0 = ORIGIN[0] + offset + j * step_m, ORIGIN[1] - offset - (i + 1) * step_m
            square = shapely.box(x0, y0, x0 + step_m, y0 + step_m)
            cells.append(shapely.transform(square, _lonlat))
    return cells


def _lonlat(points: np.ndarray) -> np.ndarray:
    return np.column_stack(TO_LONLAT.transform(points[:, 0], points[:, 1]))


def _publish(engine: Engine, tmp: Path, name: str, geometries: list, *, visibility: str = "public",
             department: str = "planning", extra: dict | None = None) -> str:  # fmt: skip
    features = [
        {"type": "Feature", "geometry": shapely.geometry.mapping(g),
         "properties": {"code": f"c{i:05d}", **(extra or {})}}
        for i, g in enumerate(geometries)
    ]  # fmt: skip
    path = tmp / f"{name}.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    spec = LayerSpec(id=name, title_zh=name, title_en=name, department_code=department,
                     visibility=visibility)  # fmt: skip
    load_vector_file(engine, path, spec, principal=local_operator())
    return name


@pytest.fixture(scope="module")
def zones(db, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Polygon layers: a public grid, overlapping circles, a hidden grid, points."""
    engine, _ = db
    tmp = tmp_path_factory.mktemp("zones")
    rng = np.random.default_rng(3)
    circles = []
    for _ in range(40):
        x, y = ORIGIN[0] + rng.uniform(500, 9500), ORIGIN[1] - rng.uniform(500, 9500)
        circles.append(shapely.transform(shapely.Point(x, y).buffer(rng.uniform(30, 600)), _lonlat))
    points = [shapely.transform(shapely.Point(ORIGIN[0] + 500, ORIGIN[1] - 500), _lonlat)]
    return {
        "grid": _publish(engine, tmp, "zone_grid", _cells()),
        "circles": _publish(engine, tmp, "zone_circles", circles),
        "hidden": _publish(engine, tmp, "zone_hidden", _cells(500, 8), visibility="department",
                           department="environment"),
        "points": _publish(engine, tmp, "zone_points", points),
    }  # fmt: skip


@pytest.fixture(scope="module")
def tokens(db) -> dict[str, dict[str, str]]:
    engine, _ = db
    issued = {
        "env_editor": create_token(engine, department_code="environment", role="editor", name="env ed", actor=local_operator()),
        "env_viewer": create_token(engine, department_code="environment", role="viewer", name="env v", actor=local_operator()),
        "urban_editor": create_token(engine, department_code="urban", role="editor", name="urban ed", actor=local_operator()),
    }
    return {k: {"Authorization": f"Bearer {v.secret}"} for k, v in issued.items()}


@pytest.fixture(scope="module")
def hidden_imagery(db, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An imagery layer only the environment department may see."""
    engine, settings = db
    path = _write(tmp_path_factory.mktemp("hid") / "h.tif", _flat(500, 300, 300), left=ORIGIN[0], top=ORIGIN[1])
    add_scene(engine, settings, path, layer="img_hidden", department="environment", visibility="department")
    return "img_hidden"


@pytest.fixture(scope="module")
def server(db, time_layer, green_layer, zones, hidden_imagery) -> Iterator[str]:
    _, settings = db
    with live_server(settings) as base:
        yield base


def _get(url: str, **params: object) -> httpx.Response:
    return httpx.get(url, params=params, timeout=60)


def _decode(body: bytes) -> np.ndarray:
    with MemoryFile(body) as memfile, memfile.open() as image:
        return image.read()


# ----------------------------------------------------------------------- scenes and ingest
def test_scenes_are_catalogued_latest_first(db, time_layer: str) -> None:
    engine, settings = db
    source = imagery_source(engine, time_layer)
    assert [s.scene_id for s in source.scenes] == ["c", "b", "a"]
    latest = source.scenes[0]
    assert latest.path == settings.imagery_dir / "img_time" / "c.tif"
    assert latest.sensor == "GF-2 PMS" and latest.cloud_percent is None and latest.band_count == 1
    assert source.scenes[1].cloud_percent == 35.5 and latest.resolution == 10.0
    assert source.path == latest.path, "the catalog row points at the latest scene"
    assert source.attributes["scene_count"] == 3
    a_box, c_box = source.scenes[2].bbox, latest.bbox
    assert source.bbox == pytest.approx(a_box, abs=1e-9) and c_box[0] > a_box[0] + 0.05


def test_a_layer_from_before_scenes_reads_as_one_and_keeps_it(db, tmp_path: Path) -> None:
    from layers.catalog import register_layer
    from layers.imagery.describe import describe

    engine, settings = db
    old = _write(tmp_path / "legacy_scene.tif", _flat(700, 200, 200), left=ORIGIN[0], top=ORIGIN[1])
    with rasterio.open(old) as cog:
        attributes = describe(cog)
    with engine.begin() as conn:  # as the demo loader writes imagery: a catalog row, no scene row
        register_layer(conn, LayerSpec(id="img_legacy", title_zh="旧", title_en="old", department_code="planning",
                                       kind="imagery", storage_path=str(old)))  # fmt: skip
        conn.exec_driver_sql(
            "UPDATE catalog.layer SET extent = ST_MakeEnvelope(108.88, 34.28, 108.91, 34.31, 4326), "
            f"attributes = '{json.dumps(attributes)}' WHERE id = 'img_legacy'"
        )
    (only,) = imagery_source(engine, "img_legacy").scenes
    assert only.scene_id == "legacy_scene" and only.path == old and only.acquired is None
    new = _write(tmp_path / "newer.tif", _flat(900, 200, 200), left=ORIGIN[0], top=ORIGIN[1])
    report = add_scene(engine, settings, new, layer="img_legacy", acquired=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    assert report.scene_count == 2
    assert [s.scene_id for s in imagery_source(engine, "img_legacy").scenes] == ["newer", "legacy_scene"]
    assert old.exists(), "a file outside the layer's folder is never deleted"


def test_re_adding_a_scene_replaces_it_and_remove_keeps_the_last(db, tmp_path: Path) -> None:
    engine, settings = db
    first = _write(tmp_path / "one.tif", _flat(100, 100, 100), left=ORIGIN[0], top=ORIGIN[1])
    second = _write(tmp_path / "two.tif", _flat(200, 100, 100), left=ORIGIN[0], top=ORIGIN[1])
    add_scene(engine, settings, first, layer="img_edit", acquired=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    add_scene(engine, settings, second, layer="img_edit", acquired=dt.datetime(2024, 2, 1, tzinfo=dt.UTC))
    again = add_scene(engine, settings, first, layer="img_edit", cloud_percent=5,
                      acquired=dt.datetime(2024, 3, 1, tzinfo=dt.UTC))  # fmt: skip
    assert again.scene_count == 2 and again.replaced
    assert [s.scene_id for s in imagery_source(engine, "img_edit").scenes] == ["one", "two"]
    assert remove_scene(engine, settings, "img_edit", "one") == 1
    assert not (settings.imagery_dir / "img_edit" / "one.tif").exists()
    with pytest.raises(InvalidInput, match="last scene"):
        remove_scene(engine, settings, "img_edit", "two")
    with pytest.raises(NotFound, match="no scene 'zzz'"):
        remove_scene(engine, settings, "img_edit", "zzz")
    with pytest.raises(InvalidInput, match="cloud cover 120"):
        add_scene(engine, settings, first, layer="img_edit", cloud_percent=120)
    with pytest.raises(InvalidInput, match="scene id"):
        add_scene(engine, settings, first, layer="img_edit", scene_id="Bad Id!")


def test_cli_adds_scenes_and_lists_them(db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from api.cli import main

    engine, settings = db
    monkeypatch.setenv("ONEMAP_DATABASE_URL", settings.database_url or "")
    monkeypatch.setenv("ONEMAP_VAR_DIR", str(settings.var_dir))
    runner = CliRunner()
    for name, when in (("early", "2023-05-01"), ("late", "2023-08-01T02:00Z")):
        path = _write(tmp_path / f"{name}.tif", _flat(300, 100, 100), left=ORIGIN[0], top=ORIGIN[1])
        result = runner.invoke(main, ["imagery", "add", str(path), "--layer", "img_cli_scenes", "--time", when,
                                      "--sensor", "ZY-3", "--cloud", "12.5", "--json"])  # fmt: skip
        assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["scene_count"] == 2
    listed = runner.invoke(main, ["imagery", "scenes", "img_cli_scenes", "--json"])
    scenes = json.loads(listed.stdout)
    assert [s["id"] for s in scenes] == ["late", "early"] and scenes[0]["cloud_percent"] == 12.5
    assert scenes[0]["sensor"] == "ZY-3" and scenes[0]["acquired"] == "2023-08-01T02:00:00Z"
    bad = runner.invoke(main, ["imagery", "add", str(path), "--layer", "img_cli_scenes", "--cloud", "300"])
    assert bad.exit_code == 2 and "cloud cover 300" in bad.stderr


# --------------------------------------------------------------------------- mosaic tiles
def _scene_on_tile(path: Path, tile: morecantile.Tile) -> tuple[np.ndarray, np.ndarray]:
    """A direct rasterio read of one scene on the tile's grid: (values, valid)."""
    transform = from_bounds(*TMS.xy_bounds(tile), 256, 256)
    with rasterio.open(path) as source:
        values = np.zeros((256, 256), source.dtypes[0])
        reproject(rasterio.band(source, 1), values, dst_transform=transform, dst_crs="EPSG:3857",
                  resampling=Resampling.nearest, dst_nodata=0)  # fmt: skip
        valid = np.zeros((256, 256), "uint8")
        reproject(source.dataset_mask(), valid, src_transform=source.transform, src_crs=source.crs,
                  dst_transform=transform, dst_crs="EPSG:3857", resampling=Resampling.nearest)  # fmt: skip
    return values, valid > 0


def _mosaic(db, tile: morecantile.Tile, scene_ids: list[str]) -> np.ndarray:
    """The expected grey level: each pixel from the first (latest) scene with data."""
    engine, _ = db
    paths = {s.scene_id: s.path for s in imagery_source(engine, "img_time").scenes}
    out = np.zeros((256, 256), "uint16")
    filled = np.zeros((256, 256), bool)
    for scene_id in scene_ids:
        values, valid = _scene_on_tile(paths[scene_id], tile)
        take = valid & ~filled
        out[take], filled = values[take], filled | valid
    return out


def _tile_over(lon_frac: float, zoom: int = 13) -> morecantile.Tile:
    lon, lat = TO_LONLAT.transform(ORIGIN[0] + 10 * SIZE * lon_frac, ORIGIN[1] - 10 * SIZE * 0.5)
    return TMS.tile(lon, lat, zoom)


@pytest.mark.parametrize(
    ("params", "scenes"),
    [
        ({}, ["c", "b", "a"]),
        ({"datetime": "2024-03-01"}, ["a"]),
        ({"datetime": "../2024-06-30"}, ["b", "a"]),
        ({"datetime": f"{T2}/{T3}"}, ["c", "b"]),
        ({"datetime": T2}, ["b"]),
        ({"scene": "c"}, ["c"]),
    ],
)
def test_mosaic_tiles_take_the_latest_scene_with_data(server: str, db, params: dict, scenes: list[str]) -> None:
    for lon_frac in (0.25, 0.5, 0.8):  # b's hole, the middle (a only), c
        tile = _tile_over(lon_frac)
        response = _get(f"{server}/tiles/img_time/{tile.z}/{tile.x}/{tile.y}.png",
                        rescale="0,4000", bands="1", **params)  # fmt: skip
        if response.status_code == 204:
            assert not _mosaic(db, tile, scenes).any()
            continue
        assert response.status_code == 200, response.text
        grey, alpha = _decode(response.content)
        expected = _mosaic(db, tile, scenes)
        shown = alpha == 255
        assert (shown == (expected > 0)).mean() > 0.99
        want = np.clip(expected.astype(float) / 4000 * 255, 0, 255)
        assert (np.abs(grey[shown].astype(float) - want[shown]) <= 1).mean() > 0.99


def test_the_latest_scene_is_on_top_and_older_ones_fill_its_holes(server: str) -> None:
    tile = _tile_over(0.3, zoom=14)
    grey, alpha = _decode(_get(f"{server}/tiles/img_time/{tile.z}/{tile.x}/{tile.y}.png",
                               rescale="0,4000").content)  # fmt: skip
    levels = set(np.unique(grey[alpha == 255]).tolist())
    assert {63, 127} <= levels, "scene b (2000) with scene a (1000) showing through its hole"


def test_ndvi_tiles_match_a_direct_read(server: str, db) -> None:
    engine, _ = db
    tile = _tile_over(0.6, zoom=14)
    url = f"{server}/tiles/img_green/{tile.z}/{tile.x}/{tile.y}.png"
    grey, alpha = _decode(_get(url, expression=NDVI, rescale="-1,1", datetime="2024-03-01").content)
    path = imagery_source(engine, "img_green").scenes[-1].path
    transform = from_bounds(*TMS.xy_bounds(tile), 256, 256)
    with rasterio.open(path) as source:
        red, nir = (np.zeros((256, 256), "float64") for _ in range(2))
        for band, target in ((3, red), (4, nir)):
            reproject(rasterio.band(source, band), target, dst_transform=transform, dst_crs="EPSG:3857",
                      resampling=Resampling.nearest)  # fmt: skip
    ndvi = (nir - red) / (nir + red)
    want = np.clip((ndvi + 1) / 2 * 255, 0, 255)
    shown = alpha == 255
    assert shown.mean() > 0.9
    assert (np.abs(grey[shown] - want[shown]) <= 1.01).mean() > 0.97
    coloured = _decode(_get(url, expression=NDVI, rescale="-1,1", colormap_name="rdylgn",
                            datetime="2024-03-01").content)  # fmt: skip
    assert coloured.shape == (4, 256, 256)
    palette = cmap.get("rdylgn")
    y, x = np.argwhere(shown)[len(np.argwhere(shown)) // 2]
    assert tuple(coloured[:3, y, x]) == palette[int(grey[y, x])][:3]


def test_false_colour_and_jpeg_of_a_mosaic(server: str) -> None:
    tile = _tile_over(0.5, zoom=13)
    base = f"{server}/tiles/img_green/{tile.z}/{tile.x}/{tile.y}"
    jpeg = _get(f"{base}.jpg", bands="4,3,2", rescale="0,4000")
    assert jpeg.status_code == 200 and jpeg.headers["content-type"] == "image/jpeg"
    rgb = _decode(jpeg.content)
    assert rgb.shape == (3, 256, 256) and rgb[0].mean() > rgb[2].mean()
    webp = _get(f"{base}.webp", expression="b4;b3;b2", rescale="0,4000")
    assert webp.status_code == 200 and webp.headers["content-type"] == "image/webp"


def test_tilejson_passes_the_style_and_time_on(server: str) -> None:
    doc = _get(f"{server}/tiles/img_time/tilejson.json", datetime="../2024-06-30", bands="1").json()
    assert "datetime=..%2F2024-06-30" in doc["tiles"][0] and doc["maxzoom"] >= 14
    tile = _tile_over(0.3, zoom=13)
    assert httpx.get(doc["tiles"][0].format(z=tile.z, x=tile.x, y=tile.y), timeout=30).status_code == 200


# ------------------------------------------------------------------------------ bad tiles
@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("img_time/13/1000/1000.png", {}, 404, "lies outside layer 'img_time'"),
        ("img_time/23/0/0.png", {}, 400, "zoom 23 is outside 0–22"),
        ("img_time/{tile}.png", {"bands": "2"}, 400, "band 2 does not exist"),
        ("img_green/{tile}.png", {"expression": "(b4-b3"}, 400, "does not parse"),
        ("img_green/{tile}.png", {"expression": "__import__('os').system('id')"}, 400, "expression"),
        ("img_green/{tile}.png", {"expression": "b4.real"}, 400, "does not parse"),
        ("img_green/{tile}.png", {"expression": "(b9-b3)/(b9+b3)"}, 400, "uses band b9"),
        ("img_green/{tile}.png", {"expression": "nir-red"}, 400, "refer to bands as b1"),
        ("img_green/{tile}.png", {"expression": "b1", "bands": "1"}, 400, "not both"),
        ("img_green/{tile}.png", {"colormap_name": "nope"}, 400, "colormap_name='nope' unknown"),
        ("img_green/{tile}.png", {"colormap_name": "viridis", "bands": "4,3,2"}, 400, "one band"),
        ("img_time/{tile}.png", {"scene": "zzz"}, 404, "has no scene 'zzz'"),
        ("img_time/{tile}.png", {"datetime": "2020-01-01"}, 404, "no scene of layer 'img_time' was acquired"),
        ("img_time/{tile}.png", {"datetime": "last tuesday"}, 400, "not an RFC 3339"),
        ("img_time/{tile}.png", {"datetime": "2024-09-01/2024-01-01"}, 400, "ends before it starts"),
        ("img_hidden/{tile}.png", {}, 404, "no imagery layer named 'img_hidden'"),
        ("img_nothing/{tile}.png", {}, 404, "no imagery layer named 'img_nothing'"),
    ],
)
def test_bad_tile_requests(server: str, path: str, params: dict, status: int, message: str) -> None:
    tile = _tile_over(0.5)
    response = _get(f"{server}/tiles/{path.format(tile=f'{tile.z}/{tile.x}/{tile.y}')}", **params)
    assert response.status_code == status, response.text
    assert message in response.json()["description"]


def test_hidden_imagery_tiles_for_its_department_only(server: str, tokens) -> None:
    tile = TMS.tile(*TO_LONLAT.transform(ORIGIN[0] + 1500, ORIGIN[1] - 1500), 14)
    url = f"{server}/tiles/img_hidden/{tile.z}/{tile.x}/{tile.y}.png"
    assert httpx.get(url, headers=tokens["urban_editor"], timeout=30).status_code == 404
    assert httpx.get(url, headers=tokens["env_viewer"], timeout=30).status_code == 200


# ------------------------------------------------------------------------------ point values
def _sample(path: Path, lon: float, lat: float, bands: list[int]) -> list[float]:
    with rasterio.open(path) as source:
        x, y = TO_UTM.transform(lon, lat)
        row, col = source.index(x, y)
        return [float(v) for v in source.read(bands, window=((row, row + 1), (col, col + 1)))[:, 0, 0]]


def test_point_values_match_the_pixel(server: str, db) -> None:
    engine, _ = db
    lon, lat = TO_LONLAT.transform(ORIGIN[0] + 4321, ORIGIN[1] - 6543)
    body = _get(f"{server}/api/v1/imagery/img_green/point", lon=lon, lat=lat).json()
    (found,) = body["results"]
    assert found["scene"] == "autumn"
    autumn = imagery_source(engine, "img_green").scenes[0].path
    assert list(found["values"].values()) == _sample(autumn, lon, lat, [1, 2, 3, 4])
    assert list(found["values"]) == ["blue", "green", "red", "nir"]
    series = _get(f"{server}/api/v1/imagery/img_green/point", lon=lon, lat=lat, expression=NDVI, every="true").json()
    assert [r["scene"] for r in series["results"]] == ["autumn", "spring"]
    red, nir = _sample(autumn, lon, lat, [3, 4])
    assert series["results"][0]["values"][NDVI] == pytest.approx((nir - red) / (nir + red))


def test_point_values_follow_the_mosaic(server: str) -> None:
    url = f"{server}/api/v1/imagery/img_time/point"
    in_hole = TO_LONLAT.transform(ORIGIN[0] + 3000, ORIGIN[1] - 5000)
    assert _get(url, lon=in_hole[0], lat=in_hole[1]).json()["results"][0]["values"] == {"b1": 1000}
    in_b = TO_LONLAT.transform(ORIGIN[0] + 1000, ORIGIN[1] - 1000)
    assert _get(url, lon=in_b[0], lat=in_b[1]).json()["results"][0]["values"] == {"b1": 2000}
    series = _get(url, lon=in_hole[0], lat=in_hole[1], every="1").json()["results"]
    assert [(r["scene"], r["values"]["b1"]) for r in series] == [("b", None), ("a", 1000)]
    assert _get(url, lon=in_b[0], lat=in_b[1], datetime="2024-03-01").json()["results"][0]["values"] == {"b1": 1000}


@pytest.mark.parametrize(
    ("params", "status"),
    [({"lon": "108.9"}, 400), ({"lon": "x", "lat": "34"}, 400), ({"lon": "200", "lat": "34"}, 400),
     ({"lon": "-74", "lat": "40.7"}, 404), ({"lon": "108.9", "lat": "34.25", "bands": "7"}, 400)],
)  # fmt: skip
def test_bad_point_requests(server: str, params: dict, status: int) -> None:
    response = _get(f"{server}/api/v1/imagery/img_time/point", **params)
    assert response.status_code == status, response.text
    assert response.json()["description"]


# ------------------------------------------------------------------------ zonal statistics
def _pixels(path: Path, polygon_lonlat, bands: list[int], all_touched: bool = False) -> np.ma.MaskedArray:
    """Exactly the pixels a polygon covers, as a masked array, read directly with rasterio."""
    native = shapely.transform(polygon_lonlat, lambda p: np.column_stack(TO_UTM.transform(p[:, 0], p[:, 1])))
    with rasterio.open(path) as source:
        outside = geometry_mask([native], (source.height, source.width), source.transform, all_touched=all_touched)
        data = source.read(bands, masked=True).astype("float64")
    mask = np.ma.getmaskarray(data).any(axis=0) | outside
    return data, mask


def _check_against_numpy(result, path: Path, zone_geoms, measure, percentiles, all_touched=False) -> int:
    checked = 0
    for record, geometry in zip(result.records(), zone_geoms, strict=True):
        data, mask = _pixels(path, geometry, [1, 2, 3, 4], all_touched)
        values = measure(data)[~mask]
        inside = ~geometry_mask([shapely.transform(geometry, lambda p: np.column_stack(TO_UTM.transform(p[:, 0], p[:, 1])))],
                                mask.shape, rasterio.open(path).transform, all_touched=all_touched)  # fmt: skip
        assert record["count"] == values.size
        assert record["nodata"] == int((inside & mask).sum())
        if values.size:
            assert record["mean"] == pytest.approx(values.mean(), rel=1e-9, abs=1e-12)
            assert record["std"] == pytest.approx(values.std(), rel=1e-7, abs=1e-9)
            assert record["min"] == pytest.approx(values.min()) and record["max"] == pytest.approx(values.max())
            want = np.percentile(values, percentiles)
            got = [record[f"p{q:g}"] for q in percentiles]
            assert got == pytest.approx(want.tolist(), rel=1e-9, abs=1e-9)
            checked += 1
        else:
            assert record["mean"] is None
    return checked


def _ndvi(data: np.ndarray) -> np.ndarray:
    return (data[3] - data[2]) / (data[3] + data[2])


def test_ndvi_per_grid_cell_matches_numpy(db, green_layer: str, zones) -> None:
    engine, _ = db
    result = zonal_statistics(engine, "img_green", zones["grid"], expression=NDVI,
                              percentiles=[10, 50, 90], datetime="2024-03-01", properties=["code"], principal=local_operator())  # fmt: skip
    assert len(result.zones) == 900 and result.measure == NDVI
    assert {r["scene"] for r in result.records()} == {"spring"}
    path = imagery_source(engine, "img_green").scenes[-1].path
    sample = np.random.default_rng(5).choice(900, 60, replace=False)
    picked = [result.zones.geometries[i] for i in sample]
    sub = _Subset(result, sample)
    assert _check_against_numpy(sub, path, picked, _ndvi, [10, 50, 90]) >= 55
    first = result.records()[0]
    assert first["code"] == "c00000" and first["zone_id"] == result.zones.ids[0]


class _Subset:
    """Some records of a result, in the order of ``indexes``."""

    def __init__(self, result, indexes) -> None:
        records = result.records()
        self._records = [records[i] for i in indexes]

    def records(self):
        return self._records


def test_overlapping_polygons_each_get_all_their_pixels(db, green_layer: str, zones) -> None:
    engine, _ = db
    path = imagery_source(engine, "img_green").scenes[0].path
    for touched in (False, True):
        result = zonal_statistics(engine, "img_green", zones["circles"], band=4, percentiles=[50],
                                  all_touched=touched, principal=local_operator())  # fmt: skip
        assert len(result.zones) == 40
        checked = _check_against_numpy(result, path, list(result.zones.geometries), lambda d: d[3], [50], touched)
        assert checked == 40


def test_the_nodata_corner_is_counted_apart(db, green_layer: str, zones) -> None:
    engine, _ = db
    result = zonal_statistics(engine, "img_green", zones["grid"], band=1, principal=local_operator())
    corner = result.records()[0]  # the north-west cell overlaps the 50×80-pixel nodata corner
    assert corner["nodata"] > 0 and corner["count"] + corner["nodata"] == pytest.approx(625, abs=30)


def test_statistics_take_each_polygon_from_the_latest_scene_covering_it(db, time_layer: str, zones) -> None:
    engine, _ = db
    result = zonal_statistics(engine, "img_time", zones["grid"], principal=local_operator())
    by_scene = {}
    for record in result.records():
        if record["count"]:
            by_scene.setdefault(record["scene"], set()).add(record["mean"])
    assert by_scene["c"] == {3000.0} and by_scene["b"] == {2000.0} and by_scene["a"] == {1000.0}
    march = zonal_statistics(engine, "img_time", zones["grid"], datetime="2024-03-01", principal=local_operator())
    assert {r["scene"] for r in march.records()} == {"a"}


def test_change_between_two_scenes_matches_numpy(db, green_layer: str, zones) -> None:
    engine, _ = db
    result = change_statistics(engine, "img_green", zones["grid"], before="spring", after="2024-09-01",
                               band=4, percentiles=[50], principal=local_operator())  # fmt: skip
    scenes = {s.scene_id: s.path for s in imagery_source(engine, "img_green").scenes}
    records = result.records()
    assert {r["before_scene"] for r in records} == {"spring"} and {r["after_scene"] for r in records} == {"autumn"}
    for index in (5, 300, 899):
        geometry = result.zones.geometries[index]
        before, mask_b = _pixels(scenes["spring"], geometry, [4])
        after, mask_a = _pixels(scenes["autumn"], geometry, [4])
        keep = ~(mask_a | mask_b)
        difference = (after[0] - before[0])[keep]
        record = records[index]
        assert record["count"] == difference.size
        assert record["mean"] == pytest.approx(difference.mean())
        assert record["p50"] == pytest.approx(np.median(difference))
        assert record["mean_before"] == pytest.approx(before[0][keep].mean())
        assert record["mean_after"] == pytest.approx(after[0][keep].mean())
    assert 250 < np.nanmean([r["mean"] for r in records if r["mean"] is not None]) < 350


def test_change_across_different_grids_warps_the_before_scene(db, tmp_path: Path, zones) -> None:
    engine, settings = db
    data = _bands(9)
    base = _write(tmp_path / "base.tif", data, left=ORIGIN[0], top=ORIGIN[1])
    coarse = _write(tmp_path / "coarse.tif", (data[:, ::2, ::2].astype("int32") + 100).astype("uint16"),
                    left=ORIGIN[0], top=ORIGIN[1], res=20.0)  # fmt: skip
    add_scene(engine, settings, base, layer="img_grids", acquired=dt.datetime(2022, 1, 1, tzinfo=dt.UTC))
    add_scene(engine, settings, coarse, layer="img_grids", acquired=dt.datetime(2023, 1, 1, tzinfo=dt.UTC))
    result = change_statistics(engine, "img_grids", zones["grid"], before="coarse", after="base", band=1, principal=local_operator())
    means = [r["mean"] for r in result.records() if r["count"]]
    assert len(means) > 800 and -130 < np.mean(means) < -70  # base − (coarse + 100), sampled on base's grid


def test_statistics_need_readable_layers(db, green_layer: str, zones, hidden_imagery: str) -> None:
    from spatial.access.principal import Principal

    engine, _ = db
    viewer = Principal(name="v", role="viewer", department_code="environment")
    with pytest.raises(NotFound, match="no layer named 'zone_hidden'"):
        zonal_statistics(engine, "img_green", zones["hidden"], band=1, principal=None)
    with pytest.raises(NotFound, match="no imagery layer named 'img_hidden'"):
        zonal_statistics(engine, "img_hidden", zones["grid"], principal=None)
    assert len(zonal_statistics(engine, "img_green", zones["hidden"], band=1, principal=viewer).zones) == 64


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"zones": "zone_points", "band": 1}, InvalidInput, "statistics need polygons"),
        ({"zones": "zone_grid"}, InvalidInput, "give band=N or an expression"),
        ({"zones": "zone_grid", "band": 9}, InvalidInput, "band 9 does not exist"),
        ({"zones": "zone_grid", "band": 1, "expression": NDVI}, InvalidInput, "not both"),
        ({"zones": "zone_grid", "expression": "b4;b3"}, InvalidInput, "one expression output"),
        ({"zones": "zone_grid", "band": 1, "percentiles": [150]}, InvalidInput, "between 0 and 100"),
        ({"zones": "zone_grid", "band": 1, "properties": ["nope"]}, InvalidInput, "no property 'nope'"),
        ({"zones": "zone_grid", "band": 1, "scene": "winter"}, NotFound, "no scene 'winter'"),
        ({"zones": "zone_nothing", "band": 1}, NotFound, "no layer named 'zone_nothing'"),
    ],
)
def test_bad_statistics_requests(db, green_layer, zones, kwargs: dict, error: type, message: str) -> None:
    engine, _ = db
    with pytest.raises(error, match=message):
        zonal_statistics(engine, "img_green", **kwargs, principal=local_operator())


# ---------------------------------------------------------------------------- HTTP doors
def test_statistics_over_http_as_json_geojson_and_csv(server: str) -> None:
    url = f"{server}/api/v1/imagery/img_green/statistics"
    body = _get(url, zones="zone_grid", expression=NDVI, percentiles="50", properties="code").json()
    assert body["zone_count"] == 900 and body["statistics"][:3] == ["count", "nodata", "mean"]
    assert body["results"][10]["code"] == "c00010" and 0 < body["results"][10]["p50"] < 1
    geo = _get(url, zones="zone_grid", band="4", f="geojson", bbox="108.89,34.27,108.92,34.30").json()
    assert geo["type"] == "FeatureCollection" and 0 < len(geo["features"]) < 900
    assert geo["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    csv_text = _get(url, zones="zone_grid", band="4", f="csv").text
    assert csv_text.splitlines()[0].startswith("zone_id,scene,count,nodata,mean")
    assert len(csv_text.splitlines()) == 901


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"zones": "zone_hidden", "band": "1"}, 404, "no layer named 'zone_hidden'"),
        ({"band": "1"}, 400, "zones is required"),
        ({"zones": "zone_grid", "expression": "(b4-"}, 400, "does not parse"),
        ({"zones": "zone_grid", "band": "1", "f": "xml"}, 400, "f='xml'"),
        ({"zones": "zone_grid", "band": "1", "all_touched": "maybe"}, 400, "true or false"),
        ({"zones": "zone_grid", "band": "1", "bbox": "1,2"}, 400, "four numbers"),
        ({"zones": "zone_grid", "band": "1", "datetime": "2031-01-01"}, 404, "no scene"),
    ],
)
def test_bad_statistics_over_http(server: str, params: dict, status: int, message: str) -> None:
    response = _get(f"{server}/api/v1/imagery/img_green/statistics", **params)
    assert response.status_code == status, response.text
    assert message in response.json()["description"]


def test_hidden_zones_are_404_for_others_and_work_for_their_department(server: str, tokens) -> None:
    url = f"{server}/api/v1/imagery/img_green/statistics"
    params = {"zones": "zone_hidden", "band": "1"}
    assert httpx.get(url, params=params, headers=tokens["urban_editor"], timeout=60).status_code == 404
    allowed = httpx.get(url, params=params, headers=tokens["env_viewer"], timeout=60)
    assert allowed.status_code == 200 and allowed.json()["zone_count"] == 64
    scenes = httpx.get(f"{server}/api/v1/imagery/img_hidden/scenes", timeout=30)
    assert scenes.status_code == 404


def test_change_over_http(server: str) -> None:
    body = httpx.post(f"{server}/api/v1/imagery/img_green/change",
                      json={"zones": "zone_grid", "band": 4, "before": "spring", "after": "autumn"},
                      timeout=60).json()  # fmt: skip
    assert body["measure"] == "change of b4" and len(body["results"]) == 900
    bad = httpx.post(f"{server}/api/v1/imagery/img_green/change",
                     json={"zones": "zone_grid", "band": 4, "before": "spring", "after": "spring"}, timeout=60)  # fmt: skip
    assert bad.status_code == 400 and "pick two scenes" in bad.json()["description"]
    unknown = httpx.post(f"{server}/api/v1/imagery/img_green/change",
                         json={"zones": "zone_grid", "band": 4, "before": "never", "after": "autumn"}, timeout=60)  # fmt: skip
    assert unknown.status_code == 404


def test_saving_statistics_as_a_department_layer(server: str, tokens, db) -> None:
    engine, _ = db
    url = f"{server}/api/v1/imagery/img_green/statistics"
    body = {"zones": "zone_grid", "expression": NDVI, "percentiles": [50], "properties": ["code"],
            "save_as": {"name": "ndvi_by_cell", "title": "单元网格 NDVI", "visibility": "department"}}  # fmt: skip
    assert httpx.post(url, json=body, timeout=60).status_code == 401
    assert httpx.post(url, json=body, headers=tokens["env_viewer"], timeout=60).status_code == 403
    saved = httpx.post(url, json=body, headers=tokens["env_editor"], timeout=60)
    assert saved.status_code == 201, saved.text
    assert saved.headers["Location"].endswith("/api/v1/layers/ndvi_by_cell")
    layer = httpx.get(saved.headers["Location"], headers=tokens["env_viewer"], timeout=30).json()
    assert layer["department_code"] == "environment" and layer["visibility"] == "department"
    assert layer["feature_count"] == 900 and layer["title_zh"] == "单元网格 NDVI"
    assert httpx.get(saved.headers["Location"], timeout=30).status_code == 404, "hidden from others"
    items = httpx.get(f"{server}/ogc/collections/ndvi_by_cell/items", params={"f": "json", "limit": 3},
                      headers=tokens["env_viewer"], timeout=30).json()  # fmt: skip
    props = items["features"][0]["properties"]
    assert {"zone_id", "code", "scene", "count", "mean", "p50"} <= set(props)


def test_save_as_from_python(db, green_layer, zones) -> None:
    engine, _ = db
    result = zonal_statistics(engine, "img_green", zones["circles"], band=4, principal=local_operator())
    report = save_as_layer(engine, result, name="nir_circles", department="planning", visibility="public", principal=local_operator())
    assert report.features_loaded == 40
    with pytest.raises(InvalidInput, match="which department"):
        from spatial.access.principal import Principal

        save_as_layer(engine, result, name="x_circles", principal=Principal("op", "admin", None))


# ------------------------------------------------------------------------- OGC API Processes
def _execute(server: str, process: str, inputs: dict, headers: dict | None = None) -> httpx.Response:
    return httpx.post(f"{server}/ogc/processes/{process}/execution", json={"inputs": inputs},
                      headers=headers or {}, timeout=60)  # fmt: skip


def test_zonal_statistics_process(server: str) -> None:
    described = _get(f"{server}/ogc/processes/zonal-statistics", f="json").json()
    assert {"layer", "collection", "expression", "percentiles"} <= set(described["inputs"])
    response = _execute(server, "zonal-statistics", {"layer": "img_green", "collection": "zone_grid",
                                                     "expression": NDVI, "percentiles": [25, 75]})  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["zone_count"] == 900 and "p25" in body["results"][0]
    geo = _execute(server, "zonal-statistics", {"layer": "img_time", "collection": "zone_grid", "f": "geojson",
                                                "datetime": "../2024-06-30"}).json()  # fmt: skip
    assert {f["properties"]["scene"] for f in geo["features"]} == {"a", "b"}


def test_change_process(server: str) -> None:
    response = _execute(server, "imagery-change", {"layer": "img_green", "collection": "zone_grid", "band": 4,
                                                   "before": "2024-03-01", "after": "2024-09-01"})  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["results"][100]["mean"] == pytest.approx(300, abs=30)


def test_processes_refuse_hidden_layers_and_bad_input(server: str, tokens) -> None:
    hidden = {"layer": "img_green", "collection": "zone_hidden", "band": 1}
    assert _execute(server, "zonal-statistics", hidden).status_code == 404
    assert _execute(server, "zonal-statistics", hidden, tokens["urban_editor"]).status_code == 404
    assert _execute(server, "zonal-statistics", hidden, tokens["env_viewer"]).status_code == 200
    hidden_imagery = {"layer": "img_hidden", "collection": "zone_grid"}
    assert _execute(server, "zonal-statistics", hidden_imagery).status_code == 404
    bad = _execute(server, "zonal-statistics", {"layer": "img_green", "collection": "zone_grid", "expression": "b4 +"})
    assert bad.status_code == 400 and "does not parse" in bad.json()["description"]


# ------------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def landsat(db) -> str:
    """RGB.byte.tif (Landsat 7, EPSG:32618) added as a scene."""
    engine, settings = db
    add_scene(engine, settings, realdata_path("imagery", "RGB.byte.tif"), layer="img_landsat",
              acquired=dt.datetime(2000, 1, 1, tzinfo=dt.UTC), sensor="Landsat 7 ETM+")  # fmt: skip
    return "img_landsat"


def test_real_landsat_statistics_match_numpy(db, landsat: str, tmp_path: Path) -> None:
    engine, _ = db
    source = imagery_source(engine, landsat)
    scene = source.scenes[0]
    west, south, east, north = scene.bbox
    rng = np.random.default_rng(11)
    polygons = []
    for _ in range(25):
        x, y = rng.uniform(west + 0.2 * (east - west), east - 0.2 * (east - west)), rng.uniform(south + 0.2 * (north - south), north - 0.2 * (north - south))
        polygons.append(shapely.Point(x, y).buffer(rng.uniform(0.005, 0.05)))
    _publish(engine, tmp_path, "zone_landsat", polygons)
    result = zonal_statistics(engine, landsat, "zone_landsat", expression="(b3-b1)/(b3+b1+1)", percentiles=[50], principal=local_operator())
    to_native = Transformer.from_crs("EPSG:4326", "EPSG:32618", always_xy=True)
    with rasterio.open(scene.path) as cog:
        data = cog.read(masked=True).astype("float64")
        valid = ~np.ma.getmaskarray(data[[0, 2]]).any(axis=0)  # the bands the expression reads
        for record, geometry in zip(result.records(), result.zones.geometries, strict=True):
            native = shapely.transform(geometry, lambda p: np.column_stack(to_native.transform(p[:, 0], p[:, 1])))
            inside = ~geometry_mask([native], (cog.height, cog.width), cog.transform)
            values = ((data[2] - data[0]) / (data[2] + data[0] + 1)).data[inside & valid]
            assert record["count"] == values.size
            if values.size:
                assert record["mean"] == pytest.approx(values.mean())
                assert record["p50"] == pytest.approx(np.median(values), abs=1e-9)


@pytest.mark.parametrize("image", ["shade.tif", "cogeo.tif"])
def test_real_web_mercator_images_point_and_statistics(db, image: str, tmp_path: Path) -> None:
    engine, settings = db
    layer = "img_" + image.split(".")[0] + "_scene"
    add_scene(engine, settings, realdata_path("imagery", image), layer=layer)
    scene = imagery_source(engine, layer).scenes[0]
    west, south, east, north = scene.bbox
    box = shapely.box(west + (east - west) * 0.3, south + (north - south) * 0.3,
                      west + (east - west) * 0.6, south + (north - south) * 0.6)  # fmt: skip
    _publish(engine, tmp_path, f"zone_{layer}", [box])
    result = zonal_statistics(engine, layer, f"zone_{layer}", band=1, percentiles=[90], principal=local_operator())
    to_native = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    with rasterio.open(scene.path) as cog:
        native = shapely.transform(box, lambda p: np.column_stack(to_native.transform(p[:, 0], p[:, 1])))
        inside = ~geometry_mask([native], (cog.height, cog.width), cog.transform)
        band = cog.read(1, masked=True)
        values = band.data[inside & ~np.ma.getmaskarray(band)].astype("float64")
    (record,) = result.records()
    assert record["count"] == values.size > 1000
    assert record["mean"] == pytest.approx(values.mean()) and record["p90"] == pytest.approx(np.percentile(values, 90))


# ------------------------------------------------------------------- OGC API Coverages, Maps
def _wait_for(server: str, collection: str) -> None:
    import time

    deadline = time.monotonic() + 15
    while _get(f"{server}/ogc/collections/{collection}", f="json").status_code != 200:
        assert time.monotonic() < deadline, f"collection {collection} did not appear"
        time.sleep(0.3)


def test_coverage_datetime_picks_the_scene(server: str) -> None:
    _wait_for(server, "img_time")
    lon, lat = TO_LONLAT.transform(ORIGIN[0] + 9000, ORIGIN[1] - 5000)  # inside a and c
    bbox = f"{lon - 0.002},{lat - 0.002},{lon + 0.002},{lat + 0.002}"
    url = f"{server}/ogc/collections/img_time/coverage"
    for when, value in ((None, 3000), ("2024-03-01", 1000), ("../2024-07-01", 1000), (T3, 3000)):
        # ../2024-07-01 picks b and a: b is the latest but misses the bbox, so a answers
        params = {"bbox": bbox, "f": "GTiff"} | ({"datetime": when} if when else {})
        response = _get(url, **params)
        assert response.status_code == 200, response.text
        assert set(np.unique(_decode(response.content)).tolist()) == {value}
    missing = _get(url, bbox=bbox, f="GTiff", datetime="2024-04-15")
    assert missing.status_code == 404 and "no scene" in missing.json()["description"]


def test_map_of_a_bbox(server: str) -> None:
    _wait_for(server, "img_time")
    described = _get(f"{server}/ogc/collections/img_time", f="json")
    assert "password" not in described.text and "dbname" not in described.text
    assert any(link["rel"].endswith("/map") for link in described.json()["links"])
    west, north = TO_LONLAT.transform(*ORIGIN)
    east, south = TO_LONLAT.transform(ORIGIN[0] + 10_000, ORIGIN[1] - 10_000)
    url = f"{server}/ogc/collections/img_time/map"
    bbox = f"{west - 0.01},{south},{east + 0.01},{north}"
    picture = _get(url, bbox=bbox, width=300, height=150)
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
    image = _decode(picture.content)
    assert image.shape[1:] == (150, 300)
    assert image[-1][:, :5].max() == 0 and image[-1][:, 100:200].min() == 255, "transparent outside"
    september = _decode(_get(url, bbox=bbox, width=300, height=150, datetime="2024-09-01").content)
    assert september[-1][20:130, 100:150].max() == 0 and september[-1][20:130, 205:260].min() == 255, "c only"
    for bad in ({"width": 99999, "height": 10}, {"height": 0}, {"bbox-crs": "4326"}, {"bbox": "0,0,0,0"},
                {"bbox": "a,b,c,d"}):  # fmt: skip
        response = _get(url, **({"bbox": bbox} | bad))
        assert response.status_code == 400, (bad, response.text)
    assert _get(url, bbox="-74.1,40.6,-73.9,40.8", width=100, height=100).status_code == 404
