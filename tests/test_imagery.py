"""Imagery: ingest to COG, the catalog row, XYZ tiles against a direct rasterio read, OGC API Coverages."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import morecantile
import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.io import MemoryFile
from rasterio.transform import from_bounds, from_origin
from rasterio.warp import Resampling, reproject, transform_bounds
from rio_cogeo.cogeo import cog_validate
from sqlalchemy import Engine, text

from layers.catalog import upsert_department
from layers.imagery import ImageryReport, add_imagery
from spatial.config import Settings
from spatial.errors import Conflict, InvalidInput
from tests.conftest import realdata_path
from tests.live import live_server

TMS = morecantile.tms.get("WebMercatorQuad")
XIAN_UTM = (310_330.0, 3_792_905.0)  # 108.94E 34.26N in UTM zone 49N (EPSG:32649)
REAL_IMAGES = {"img_landsat": "RGB.byte.tif", "img_shade": "shade.tif", "img_cogeo": "cogeo.tif"}
ACQUIRED = dt.datetime(2024, 5, 1, 3, 30, tzinfo=dt.UTC)


# ------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def imagery_engine(engine: Engine) -> Engine:
    """The session database with the departments imagery layers belong to."""
    with engine.begin() as conn:
        upsert_department(
            conn, "planning", "自然资源和规划局", "Natural Resources and Planning Bureau"
        )
    return engine


@pytest.fixture(scope="module")
def xian_tif(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain striped GeoTIFF: uint16, 4 bands (blue, green, red, NIR), 10 m, UTM 49N over Xi'an."""
    path = tmp_path_factory.mktemp("src") / "xian_gf2.tif"
    width, height = 1500, 1200
    rows, cols = np.mgrid[0:height, 0:width].astype("float64")
    bands = [
        300 + 4 * cols / 15 + 150 * np.sin(rows / 90),
        500 + 3 * rows / 12 + 200 * np.cos(cols / 120),
        700 + 2 * (rows + cols) / 9 + 250 * np.sin((rows - cols) / 150),
        2000 + 800 * np.sin(rows / 200) * np.cos(cols / 170),
    ]
    data = np.stack(bands).astype("uint16")
    data[:, :200, :300] = 0  # a nodata corner: transparent in tiles
    left, top = XIAN_UTM[0] - width * 5, XIAN_UTM[1] + height * 5
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 4,
        "dtype": "uint16",
        "crs": "EPSG:32649",
        "transform": from_origin(left, top, 10, 10),
        "nodata": 0,
    }
    with rasterio.open(path, "w", **profile) as target:
        target.write(data)
        for index, name in enumerate(("blue", "green", "red", "nir"), start=1):
            target.set_band_description(index, name)
    return path


@pytest.fixture(scope="module")
def xian_layer(imagery_engine: Engine, settings: Settings, xian_tif: Path) -> ImageryReport:
    return add_imagery(
        imagery_engine,
        settings,
        xian_tif,
        name="img_xian",
        title_zh="西安影像",
        title_en="Xi'an scene",
        acquired=ACQUIRED,
    )


_real_reports: dict[str, ImageryReport] = {}


@pytest.fixture(params=sorted(REAL_IMAGES))
def real_layer(
    request: pytest.FixtureRequest, imagery_engine: Engine, settings: Settings
) -> ImageryReport:
    """Each real image ingested once per module (skips when ../shared/realdata is absent)."""
    name = request.param
    source = realdata_path("imagery", REAL_IMAGES[name])
    if name not in _real_reports:
        _real_reports[name] = add_imagery(imagery_engine, settings, source, name=name)
    return _real_reports[name]


@pytest.fixture(scope="module")
def server(settings: Settings, xian_layer: ImageryReport) -> Iterator[str]:
    with live_server(settings) as base:
        yield base


def _layer_row(engine: Engine, name: str) -> dict:
    query = text(
        "SELECT kind, storage_path, attributes, version, updated_at, time_start, "
        "ST_XMin(extent) AS w, ST_YMin(extent) AS s, ST_XMax(extent) AS e, ST_YMax(extent) AS n, "
        "ST_NPoints(extent) AS points FROM catalog.layer WHERE id = :id"
    )
    with engine.connect() as conn:
        return dict(conn.execute(query, {"id": name}).mappings().one())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_cog(path: Path) -> None:
    valid, errors, _ = cog_validate(str(path), quiet=True)
    assert valid, errors
    with rasterio.open(path) as cog:
        assert cog.profile["tiled"] and cog.block_shapes[0] == (512, 512)
        if max(cog.width, cog.height) > 512:
            assert cog.overviews(1), "expected internal overviews"


# --------------------------------------------------------------------------------- ingest
def test_generated_scene_becomes_a_catalogued_cog(
    xian_layer: ImageryReport, imagery_engine: Engine, settings: Settings
) -> None:
    report = xian_layer
    assert report.storage_path == settings.imagery_dir / "img_xian" / "xian_gf2.tif"
    _assert_cog(report.storage_path)
    assert (report.width, report.height, report.band_count, report.dtype) == (
        1500,
        1200,
        4,
        "uint16",
    )
    assert report.crs == "EPSG:32649" and report.overviews == [2, 4]
    row = _layer_row(imagery_engine, "img_xian")
    assert row["kind"] == "imagery" and row["storage_path"] == str(report.storage_path)
    assert (
        108.85 < row["w"] < 108.94 < row["e"] < 109.03
        and 34.2 < row["s"] < 34.26 < row["n"] < 34.32
    )
    assert row["points"] > 40, "the footprint is densified"
    assert row["time_start"] == ACQUIRED
    attributes = row["attributes"]
    assert attributes["crs"] == "EPSG:32649" and attributes["resolution"] == [10.0, 10.0]
    assert [b["name"] for b in attributes["bands"]] == ["blue", "green", "red", "nir"]
    assert {b["dtype"] for b in attributes["bands"]} == {"uint16"} and attributes["bands"][0][
        "nodata"
    ] == 0
    assert attributes["overviews"] == [2, 4] and attributes["acquired"] == "2024-05-01T03:30:00Z"
    stats = attributes["bands"][3]["statistics"]
    assert 1100 < stats["p2"] < stats["p98"] < 2900


def test_real_images_become_cogs(real_layer: ImageryReport, imagery_engine: Engine) -> None:
    _assert_cog(real_layer.storage_path)
    with rasterio.open(realdata_path("imagery", REAL_IMAGES[real_layer.layer_id])) as source:
        expected = transform_bounds(source.crs, "EPSG:4326", *source.bounds, densify_pts=21)
        with rasterio.open(real_layer.storage_path) as cog:
            assert cog.crs == source.crs and cog.transform.almost_equals(source.transform)
            assert cog.count == source.count and cog.dtypes == source.dtypes
    row = _layer_row(imagery_engine, real_layer.layer_id)
    assert [row["w"], row["s"], row["e"], row["n"]] == pytest.approx(list(expected), abs=1e-6)


def test_pixels_survive_the_conversion(xian_layer: ImageryReport, xian_tif: Path) -> None:
    with rasterio.open(xian_tif) as source, rasterio.open(xian_layer.storage_path) as cog:
        assert np.array_equal(source.read(), cog.read())
        assert cog.nodata == 0


def _write(path: Path, **profile: object) -> Path:
    base = {"driver": "GTiff", "width": 64, "height": 64, "count": 1, "dtype": "uint8"}
    with rasterio.open(path, "w", **{**base, **profile}) as target:
        target.write(np.ones((1, 64, 64), "uint8"))
    return path


def test_a_raster_without_crs_is_refused(
    imagery_engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    path = _write(tmp_path / "nocrs.tif", transform=from_origin(300_000, 3_800_000, 10, 10))
    with pytest.raises(InvalidInput, match="no coordinate reference system"):
        add_imagery(imagery_engine, settings, path, name="img_nocrs")


def test_a_raster_without_geotransform_is_refused(
    imagery_engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    with pytest.warns(rasterio.errors.NotGeoreferencedWarning):
        path = _write(tmp_path / "pixels.tif", crs="EPSG:4490")
    with pytest.raises(InvalidInput, match="is not georeferenced"):
        add_imagery(imagery_engine, settings, path, name="img_pixels")
    assert not (settings.imagery_dir / "img_pixels").exists()


@pytest.mark.parametrize("content", [b"II*\x00" + bytes(range(256)) * 8, b"not an image at all"])
def test_corrupt_files_are_refused(
    imagery_engine: Engine, settings: Settings, tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "broken.tif"
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match="not a readable raster"):
        add_imagery(imagery_engine, settings, path, name="img_broken")


def test_a_truncated_file_is_refused(
    imagery_engine: Engine, settings: Settings, xian_tif: Path, tmp_path: Path
) -> None:
    path = tmp_path / "truncated.tif"
    path.write_bytes(xian_tif.read_bytes()[: xian_tif.stat().st_size // 3])
    with pytest.raises(InvalidInput, match="corrupt|not a readable raster"):
        add_imagery(imagery_engine, settings, path, name="img_truncated")


def test_unknown_department_and_bad_names_fail_fast(
    imagery_engine: Engine, settings: Settings, xian_tif: Path
) -> None:
    with pytest.raises(InvalidInput, match="department 'nobody' does not exist"):
        add_imagery(imagery_engine, settings, xian_tif, name="img_x", department="nobody")
    with pytest.raises(InvalidInput, match="layer name"):
        add_imagery(imagery_engine, settings, xian_tif, name="../etc")


def test_a_vector_layer_is_not_overwritten(
    imagery_engine: Engine, settings: Settings, xian_tif: Path
) -> None:
    from layers.catalog import LayerSpec, register_layer

    with imagery_engine.begin() as conn:
        register_layer(
            conn,
            LayerSpec(
                id="img_vector_clash", title_zh="点", title_en="points", department_code="planning"
            ),
        )
    with pytest.raises(Conflict, match="already exists as a vector layer"):
        add_imagery(imagery_engine, settings, xian_tif, name="img_vector_clash")


def test_a_failed_ingest_leaves_the_previous_layer(
    imagery_engine: Engine,
    settings: Settings,
    xian_tif: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = add_imagery(imagery_engine, settings, xian_tif, name="img_atomic")
    digest, row = _sha256(first.storage_path), _layer_row(imagery_engine, "img_atomic")
    broken = tmp_path / "xian_gf2.tif"  # same scene name, so it would replace the same file
    broken.write_bytes(b"garbage")
    with pytest.raises(InvalidInput):
        add_imagery(imagery_engine, settings, broken, name="img_atomic")
    import layers.imagery.ingest as ingest

    def failing_write(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database went away mid-write")

    monkeypatch.setattr(ingest, "record_scene", failing_write)
    with pytest.raises(RuntimeError):
        add_imagery(imagery_engine, settings, xian_tif, name="img_atomic", title_en="changed")
    assert _sha256(first.storage_path) == digest
    assert _layer_row(imagery_engine, "img_atomic") == row
    assert sorted(p.name for p in first.storage_path.parent.iterdir()) == ["xian_gf2.tif"]


def test_replacing_a_layer_swaps_the_scene(
    imagery_engine: Engine, settings: Settings, xian_tif: Path, tmp_path: Path
) -> None:
    add_imagery(imagery_engine, settings, xian_tif, name="img_swap")
    other = tmp_path / "second_scene.tif"
    other.write_bytes(xian_tif.read_bytes())
    report = add_imagery(imagery_engine, settings, other, name="img_swap", compression="deflate")
    assert report.replaced
    assert [p.name for p in report.storage_path.parent.iterdir()] == ["second_scene.tif"]
    assert _layer_row(imagery_engine, "img_swap")["version"] == 2


def test_webp_needs_8_bit_rgb(imagery_engine: Engine, settings: Settings, xian_tif: Path) -> None:
    with pytest.raises(InvalidInput, match="WEBP compression needs 8-bit"):
        add_imagery(imagery_engine, settings, xian_tif, name="img_webp", compression="webp")


def test_cli_adds_imagery_and_reports_errors_in_one_line(
    settings: Settings,
    imagery_engine: Engine,
    xian_tif: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from api.cli import main

    monkeypatch.setenv("ONEMAP_DATABASE_URL", settings.database_url or "")
    monkeypatch.setenv("ONEMAP_VAR_DIR", str(settings.var_dir))
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "imagery",
            "add",
            str(xian_tif),
            "--name",
            "img_cli",
            "--title",
            "命令行影像",
            "--time",
            "2024-05-01",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        '"layer_id": "img_cli"' in result.stdout
        and '"acquired": "2024-05-01T00:00:00+00:00"' in result.stdout
    )
    with pytest.warns(rasterio.errors.NotGeoreferencedWarning):
        bad = _write(tmp_path / "plain.tif", crs="EPSG:4326")
    result = runner.invoke(main, ["imagery", "add", str(bad), "--name", "img_cli_bad"])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("onemap: error: plain.tif is not georeferenced")
    result = runner.invoke(
        main, ["imagery", "add", str(xian_tif), "--name", "img_cli", "--time", "May 1st"]
    )
    assert result.exit_code == 2 and "not an RFC 3339" in result.stderr


# ---------------------------------------------------------------------------------- tiles
def _decode(body: bytes) -> np.ndarray:
    with MemoryFile(body) as memfile, memfile.open() as image:
        return image.read()


def _expected_tile(
    cog_path: Path, tile: morecantile.Tile, bands: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """A direct rasterio read of the tile's EPSG:3857 bounds: (pixels, valid mask)."""
    bounds = TMS.xy_bounds(tile)
    with rasterio.open(cog_path) as source:
        target = np.zeros((len(bands), 256, 256), source.dtypes[0])
        valid = np.zeros((256, 256), "uint8")
        dst_transform = from_bounds(*bounds, 256, 256)
        for i, band in enumerate(bands):
            reproject(
                rasterio.band(source, band),
                target[i],
                dst_transform=dst_transform,
                dst_crs="EPSG:3857",
                resampling=Resampling.nearest,
                dst_nodata=source.nodata,
            )
        reproject(
            source.dataset_mask(),
            valid,
            src_transform=source.transform,
            src_crs=source.crs,
            dst_transform=dst_transform,
            dst_crs="EPSG:3857",
            resampling=Resampling.nearest,
        )
    return target, valid > 0


def _stretch(pixels: np.ndarray, ranges: list[tuple[float, float]]) -> np.ndarray:
    out = np.empty(pixels.shape, "float64")
    for i, (low, high) in enumerate(ranges):
        out[i] = np.clip((pixels[i] - low) / (high - low) * 255, 0, 255)
    return out


def _get(url: str, **params: object) -> httpx.Response:
    return httpx.get(url, params=params, timeout=30)


@pytest.mark.parametrize("zoom", [14, 12])
def test_tile_pixels_match_a_direct_read(
    server: str, xian_layer: ImageryReport, imagery_engine: Engine, zoom: int
) -> None:
    tile = TMS.tile(108.94, 34.26, zoom)
    response = _get(f"{server}/tiles/img_xian/{tile.z}/{tile.x}/{tile.y}.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    rgba = _decode(response.content)
    assert rgba.shape == (4, 256, 256)
    bands = [3, 2, 1]  # blue, green, red, nir → true colour
    stats = _layer_row(imagery_engine, "img_xian")["attributes"]["bands"]
    # one stretch for all three bands (joint 2nd..98th percentile) keeps the colour balance
    low = min(stats[b - 1]["statistics"]["p2"] for b in bands)
    high = max(stats[b - 1]["statistics"]["p98"] for b in bands)
    ranges = [(low, high)] * len(bands)
    pixels, valid = _expected_tile(xian_layer.storage_path, tile, bands)
    expected = _stretch(pixels, ranges)
    shown = rgba[3] == 255
    assert (shown == valid).mean() > 0.99, "transparency follows the image's data mask"
    both = shown & valid
    assert both.sum() > 1000
    difference = np.abs(rgba[:3].astype("float64") - expected)[:, both]
    assert np.abs(rgba[:3, both].mean(axis=1) - expected[:, both].mean(axis=1)).max() < 2.0
    assert (difference <= 3).mean() > 0.97


def test_tile_is_transparent_over_nodata_and_outside(
    server: str, xian_layer: ImageryReport
) -> None:
    with rasterio.open(xian_layer.storage_path) as cog:
        west, _, _, north = transform_bounds(cog.crs, "EPSG:4326", *cog.bounds)
    tile = TMS.tile(west + 1e-4, north - 1e-4, 13)  # the north-west corner: nodata and outside
    rgba = _decode(_get(f"{server}/tiles/img_xian/{tile.z}/{tile.x}/{tile.y}.png").content)
    alpha = rgba[3]
    assert (alpha == 0).any() and (alpha == 255).any()
    assert not rgba[:3][:, alpha == 0].any(), "transparent pixels are empty"


def test_real_image_tiles_match_a_direct_read(server: str, real_layer: ImageryReport) -> None:
    with rasterio.open(real_layer.storage_path) as cog:
        west, south, east, north = transform_bounds(cog.crs, "EPSG:4326", *cog.bounds)
        bands = [1, 2, 3] if cog.count == 3 else [1]
        zoom = morecantile.tms.get("WebMercatorQuad").zoom_for_res(max(cog.res) * 1.2)
    tile = TMS.tile((west + east) / 2, (south + north) / 2, zoom)
    response = _get(f"{server}/tiles/{real_layer.layer_id}/{tile.z}/{tile.x}/{tile.y}.png")
    assert response.status_code == 200
    image = _decode(response.content)
    pixels, valid = _expected_tile(real_layer.storage_path, tile, bands)
    shown = image[-1] == 255
    both = shown & valid
    assert both.sum() > 1000 and (shown == valid).mean() > 0.97
    ours, theirs = image[: len(bands), both].astype("float64"), pixels[:, both].astype("float64")
    assert np.abs(ours.mean(axis=1) - theirs.mean(axis=1)).max() < 3.0
    assert (np.abs(ours - theirs) <= 2).mean() > 0.9


def test_tile_formats_and_band_choices(server: str) -> None:
    tile = TMS.tile(108.94, 34.26, 13)
    base = f"{server}/tiles/img_xian/{tile.z}/{tile.x}/{tile.y}"
    jpeg = _get(f"{base}.jpg")
    assert jpeg.headers["content-type"] == "image/jpeg" and _decode(jpeg.content).shape == (
        3,
        256,
        256,
    )
    webp = _get(f"{base}.webp")
    assert webp.headers["content-type"] == "image/webp"
    assert _decode(webp.content).shape[0] in (3, 4)  # libwebp drops an all-opaque alpha
    grey = _decode(_get(f"{base}.png", bands="4", rescale="1000,3000").content)
    assert grey.shape == (2, 256, 256) and grey[0].std() > 5
    false_colour = _decode(_get(f"{base}.png", bands="4,3,2", rescale="0,3000").content)
    assert false_colour[0].mean() > false_colour[2].mean(), "NIR (as red) is brighter than green"


def test_tile_outside_the_layer_is_404_with_a_message(server: str) -> None:
    tile = TMS.tile(-74.0, 40.7, 12)  # New York
    response = _get(f"{server}/tiles/img_xian/{tile.z}/{tile.x}/{tile.y}.png")
    assert response.status_code == 404
    assert "lies outside layer 'img_xian'" in response.json()["description"]


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("no_such_layer/12/3300/1600.png", {}, 404, "no imagery layer named 'no_such_layer'"),
        ("img_xian/23/0/0.png", {}, 400, "zoom 23 is outside 0–22"),
        ("img_xian/abc/0/0.png", {}, 400, "three integers"),
        ("img_xian/3/8/1.png", {}, 400, "does not exist at zoom 3"),
        ("img_xian/12/3287/1631.gif", {}, 400, "tile format 'gif' unsupported"),
        ("img_xian/12/3287/1631.png", {"bands": "0,1,2"}, 400, "band 0 does not exist"),
        ("img_xian/12/3287/1631.png", {"bands": "5"}, 400, "band 5 does not exist"),
        ("img_xian/12/3287/1631.png", {"bands": "1,2"}, 400, "one band (grey) or three"),
        ("img_xian/12/3287/1631.png", {"bands": "red"}, 400, "band numbers"),
        ("img_xian/12/3287/1631.png", {"rescale": "10"}, 400, "min,max"),
        ("img_xian/12/3287/1631.png", {"rescale": "9,1"}, 400, "min < max"),
    ],
)
def test_bad_tile_requests(server: str, path: str, params: dict, status: int, message: str) -> None:
    response = _get(f"{server}/tiles/{path}", **params)
    assert response.status_code == status
    assert message in response.json()["description"]


def test_tilejson_describes_the_layer(server: str, xian_layer: ImageryReport) -> None:
    doc = _get(f"{server}/tiles/img_xian/tilejson.json", bands="4,3,2").json()
    assert doc["tilejson"] == "3.0.0" and doc["scheme"] == "xyz"
    assert doc["tiles"] == [f"{server}/tiles/img_xian/{{z}}/{{x}}/{{y}}.png?bands=4%2C3%2C2"]
    assert doc["bounds"] == pytest.approx(list(xian_layer.bbox), abs=1e-3)
    assert (
        doc["maxzoom"] == 14 and doc["minzoom"] == 11
    )  # 10 m pixels; overview level from 256-px tiles
    lon, lat, zoom = doc["center"]
    tile = TMS.tile(lon, lat, zoom)
    url = doc["tiles"][0].format(z=tile.z, x=tile.x, y=tile.y)
    assert httpx.get(url, timeout=30).status_code == 200
    assert _get(f"{server}/tiles/nothing/tilejson.json").status_code == 404


# ------------------------------------------------------------------------------ coverages
def _wait_for_collection(server: str, name: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _get(f"{server}/ogc/collections/{name}", f="json").status_code == 200:
            return
        time.sleep(0.3)
    raise AssertionError(f"collection {name} did not appear")


def _xian_bbox() -> list[float]:
    return [108.93, 34.25, 108.95, 34.27]


def test_coverage_bbox_subset_as_geotiff(server: str, xian_layer: ImageryReport) -> None:
    _wait_for_collection(server, "img_xian")
    bbox = _xian_bbox()
    response = _get(
        f"{server}/ogc/collections/img_xian/coverage", bbox=",".join(map(str, bbox)), f="GTiff"
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/tiff")
    expected = transform_bounds("EPSG:4326", "EPSG:32649", *bbox, densify_pts=21)
    with MemoryFile(response.content) as memfile, memfile.open() as subset:
        assert subset.crs.to_epsg() == 32649 and subset.count == 4 and subset.res == (10.0, 10.0)
        assert list(subset.bounds) == pytest.approx(list(expected), abs=10.0)  # within one pixel
        with rasterio.open(xian_layer.storage_path) as cog:
            window = cog.window(*subset.bounds)
            assert np.array_equal(subset.read(), cog.read(window=window))
        assert subset.descriptions == ("blue", "green", "red", "nir")


def test_real_image_coverage_subsets(server: str, real_layer: ImageryReport) -> None:
    _wait_for_collection(server, real_layer.layer_id)
    west, south, east, north = real_layer.bbox
    cx, cy, half = (west + east) / 2, (south + north) / 2, (east - west) / 8
    bbox = [cx - half, cy - half, cx + half, cy + half]
    url = f"{server}/ogc/collections/{real_layer.layer_id}/coverage"
    response = _get(url, bbox=",".join(map(str, bbox)), f="GTiff")
    assert response.status_code == 200, response.text
    with (
        rasterio.open(real_layer.storage_path) as cog,
        MemoryFile(response.content) as memfile,
        memfile.open() as subset,
    ):
        expected = transform_bounds("EPSG:4326", cog.crs, *bbox, densify_pts=21)
        assert subset.crs == cog.crs and subset.res == pytest.approx(cog.res)
        assert list(subset.bounds) == pytest.approx(list(expected), abs=max(cog.res))
        assert np.array_equal(subset.read(), cog.read(window=cog.window(*subset.bounds)))
    coverage = _get(url, bbox=",".join(map(str, bbox)), f="json").json()
    assert len(coverage["ranges"]) == real_layer.band_count


def test_coverage_as_coveragejson(server: str) -> None:
    _wait_for_collection(server, "img_xian")
    bbox = ",".join(map(str, _xian_bbox()))
    response = _get(
        f"{server}/ogc/collections/img_xian/coverage", bbox=bbox, properties="3,4", f="json"
    )
    assert response.status_code == 200, response.text
    coverage = response.json()
    assert coverage["type"] == "Coverage" and coverage["domain"]["domainType"] == "Grid"
    assert coverage["domain"]["referencing"][0]["system"]["id"].endswith("/EPSG/0/32649")
    axes = coverage["domain"]["axes"]
    assert list(coverage["parameters"]) == ["red", "nir"]
    red = coverage["ranges"]["red"]
    assert red["shape"] == [axes["y"]["num"], axes["x"]["num"]]
    assert (
        len(red["values"]) == axes["x"]["num"] * axes["y"]["num"] and red["dataType"] == "integer"
    )
    assert axes["x"]["start"] < axes["x"]["stop"] and axes["y"]["start"] > axes["y"]["stop"]


def test_coverage_whole_scene_and_description(server: str, xian_layer: ImageryReport) -> None:
    _wait_for_collection(server, "img_xian")
    whole = _get(f"{server}/ogc/collections/img_xian/coverage", f="GTiff")
    assert whole.status_code == 200 and whole.content == xian_layer.storage_path.read_bytes()
    collection = _get(f"{server}/ogc/collections/img_xian", f="json").json()
    assert collection["extent"]["spatial"]["grid"][0]["cellsCount"] == 1500


@pytest.mark.parametrize(
    "params",
    [
        {"bbox": "-74.1,40.6,-73.9,40.8", "f": "GTiff"},  # outside the image
        {"bbox": "108.95,34.25,108.93,34.27", "f": "json"},  # minx > maxx
        {"bbox": "108.93,34.25,108.95,34.27", "bbox-crs": "EPSG:999999", "f": "json"},
        {"subset": "x(0:1),y(0:1)", "f": "json"},  # projected axes, far from the image
        {"properties": "9", "f": "json"},
    ],
)
def test_bad_coverage_subsets_are_4xx(server: str, params: dict) -> None:
    _wait_for_collection(server, "img_xian")
    response = _get(f"{server}/ogc/collections/img_xian/coverage", **params)
    assert 400 <= response.status_code < 500, response.text


@pytest.mark.parametrize("bbox", ["a,b,c,d", "1,2,3", "108.93,34.27,108.95,34.25"])
def test_malformed_coverage_bbox_is_4xx(server: str, bbox: str) -> None:
    _wait_for_collection(server, "img_xian")
    response = _get(f"{server}/ogc/collections/img_xian/coverage", bbox=bbox, f="json")
    # pygeoapi 0.21 would answer 500; api/ogc/routes.py checks the bbox first
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["description"]


# --------------------------------------------------------------------- CGCS2000 lon/lat
@pytest.fixture(scope="module")
def cgcs_layer(
    imagery_engine: Engine, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> ImageryReport:
    """A single-band 8-bit scene in CGCS2000 geographic coordinates (EPSG:4490), 0.0001° pixels."""
    path = tmp_path_factory.mktemp("cgcs") / "xian_cgcs2000.tif"
    rows, cols = np.mgrid[0:500, 0:600]
    data = ((rows + cols) % 256).astype("uint8")[np.newaxis]
    profile = {
        "driver": "GTiff", "width": 600, "height": 500, "count": 1, "dtype": "uint8",
        "crs": "EPSG:4490", "transform": from_origin(108.90, 34.30, 0.0001, 0.0001),
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as target:
        target.write(data)
    return add_imagery(imagery_engine, settings, path, name="img_cgcs")


def test_cgcs2000_imagery_is_served(server: str, cgcs_layer: ImageryReport) -> None:
    assert cgcs_layer.crs == "EPSG:4490" and cgcs_layer.resolution_unit == "degree"
    assert list(cgcs_layer.bbox) == pytest.approx([108.90, 34.25, 108.96, 34.30], abs=1e-6)
    tile = TMS.tile(108.93, 34.27, 15)
    response = _get(f"{server}/tiles/img_cgcs/{tile.z}/{tile.x}/{tile.y}.png")
    assert response.status_code == 200 and _decode(response.content).shape == (2, 256, 256)
    _wait_for_collection(server, "img_cgcs")
    url = f"{server}/ogc/collections/img_cgcs/coverage"
    subset = _get(url, bbox="108.92,34.26,108.93,34.27", f="GTiff")
    assert subset.status_code == 200, subset.text
    with MemoryFile(subset.content) as memfile, memfile.open() as image:
        assert image.crs.to_epsg() == 4490
        assert list(image.bounds) == pytest.approx([108.92, 34.26, 108.93, 34.27], abs=1e-4)
    coverage = _get(url, bbox="108.92,34.26,108.93,34.27", f="json").json()
    referencing = coverage["domain"]["referencing"][0]
    assert referencing["coordinates"] == ["y", "x"]  # EPSG:4490 is latitude first
    assert referencing["system"]["id"].endswith("/EPSG/0/4490")
    assert coverage["domain"]["axes"]["x"]["start"] == pytest.approx(108.92005, abs=1e-6)
