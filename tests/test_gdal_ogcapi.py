"""GDAL's OGCAPI driver reads our Tiles, Coverages and Maps (issue 15), against the live demo server.

Two GDALs read here: pyogrio's (3.10+, for vector tiles; the Debian 3.6 ``ogrinfo`` cannot read
anyone's OGC API vector tiles, an upstream bug fixed in 3.7) and Debian's ``gdal_translate`` /
``gdalinfo`` (3.6, whose OGCAPI driver also reads coverages and maps; rasterio's wheel has no
OGCAPI driver). Besides the drivers: the documents they follow (tile sets, domain set, range type),
``scaleSize``, lon/lat subsets and the render budget over HTTP.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import mapbox_vector_tile
import numpy as np
import pytest
import rasterio
from rasterio.io import MemoryFile
from rasterio.warp import Resampling, reproject, transform_bounds

from layers.imagery.budget import RenderBudget
from layers.imagery.coverage import read_resampled
from spatial.errors import BudgetExceeded
from tests.test_ogc_api import centre_bbox

IMAGERY = "demo_imagery"
OGC_REL = "http://www.opengis.net/def/rel/ogc/1.0"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
UTM_49N = "http://www.opengis.net/def/crs/EPSG/0/32649"


def _get(url: str, **params: Any) -> httpx.Response:
    return httpx.get(url, params=params, timeout=60)


def _gdal(tool: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Debian's GDAL command line (3.6), quiet, without a WMS block cache in the working directory."""
    if not shutil.which(tool):
        pytest.fail(f"{tool} (Debian gdal-bin) is missing: `make test` installs it")
    env = {**os.environ, "GDAL_HTTP_TIMEOUT": "60", "CPL_DEBUG": "OFF"}
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=300, env=env, cwd=cwd)


@pytest.fixture(scope="module")
def scene(demo_engine) -> Path:
    """The demo imagery's stored COG."""
    from sqlalchemy import text

    with demo_engine.connect() as conn:
        path = conn.execute(text("SELECT storage_path FROM catalog.layer WHERE id = :id"), {"id": IMAGERY}).scalar()
    return Path(path)


def _tiff(response: httpx.Response) -> tuple[dict, np.ndarray]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/tiff")
    with MemoryFile(response.content) as memfile, memfile.open() as image:
        return {"crs": image.crs, "bounds": tuple(image.bounds), "size": (image.width, image.height),
                "res": image.res, "count": image.count}, image.read()  # fmt: skip


# ------------------------------------------------------------------------------ vector tiles
READ_TILES = """
import json, sys
import pyogrio
source, layer, bbox = sys.argv[1], sys.argv[2], tuple(map(float, sys.argv[3].split(",")))
info = pyogrio.read_info(source, layer=layer, API="TILES")
frame = pyogrio.read_dataframe(source, layer=layer, API="TILES", bbox=bbox)
print(json.dumps({"crs": info["crs"], "count": len(frame), "columns": list(frame.columns),
                  "bounds": list(map(float, frame.total_bounds)) if len(frame) else None}))
"""


def _read_tiles(source: str, layer: str, bbox: list[float]) -> dict:
    """pyogrio's GDAL reading vector tiles, in a child process: the server runs in this one and
    pyogrio holds the GIL while GDAL waits for it."""
    result = subprocess.run(
        [sys.executable, "-c", READ_TILES, source, layer, ",".join(map(str, bbox))],
        capture_output=True, text=True, timeout=300, env={**os.environ, "GDAL_HTTP_TIMEOUT": "60"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_gdal_reads_vector_tiles_of_a_layer(demo_server: str) -> None:
    """OGCAPI with API=TILES: layers per zoom in CRS84 (WorldCRS84Quad), features in a window."""
    west, south, east, north = window = centre_bbox(demo_server, 0.005)
    read = _read_tiles(f"OGCAPI:{demo_server}/ogc/collections/buildings", "Zoom level 14", window)
    assert "CRS84" in read["crs"] or "4326" in read["crs"]
    assert read["count"] > 0
    assert {"use", "floors"} <= set(read["columns"])
    left, bottom, right, top = read["bounds"]
    slack = 0.01  # a building crossing the window's edge lies partly outside it
    assert west - slack <= left and right <= east + slack and south - slack <= bottom and top <= north + slack
    features = _get(f"{demo_server}/ogc/collections/buildings/items", bbox=f"{west},{south},{east},{north}",
                    limit=1, f="json").json()  # fmt: skip
    assert features["numberMatched"] > 0


def test_world_crs84_quad_tiles_hold_the_features_of_their_area(demo_server: str) -> None:
    west, south, east, north = centre_bbox(demo_server, 0.0005)
    lon, lat = (west + east) / 2, (south + north) / 2
    z = 14  # WorldCRS84Quad: 2^(z+1) columns over 360°, 2^z rows over 180°
    size = 180 / 2**z
    col, row = int((lon + 180) // size), int((90 - lat) // size)
    base = f"{demo_server}/ogc/collections/buildings/tiles/WorldCRS84Quad"
    response = _get(f"{base}/{z}/{row}/{col}", f="mvt")
    assert response.status_code == 200, response.text
    tile = mapbox_vector_tile.decode(response.content)
    assert tile["buildings"]["features"]
    assert _get(f"{base}/{z}/{row}/{2 ** (z + 1)}", f="mvt").status_code == 400  # one column past the matrix
    assert _get(f"{base}/{z}/{2**z}/{col}", f="mvt").status_code == 400


def test_tile_set_links_carry_type(demo_server: str) -> None:
    for matrix_set in ("WebMercatorQuad", "WorldCRS84Quad"):
        for path in (matrix_set, f"{matrix_set}/metadata"):
            document = _get(f"{demo_server}/ogc/collections/buildings/tiles/{path}").json()
            links = document["links"]
            assert links and all("type" in link and "type_" not in link for link in links), links
            scheme = next(link for link in links if link["rel"] == f"{OGC_REL}/tiling-scheme")
            assert "/tileMatrixSets/" in scheme["href"]
            assert httpx.get(scheme["href"], timeout=30).json()["id"] == matrix_set
            assert any(link["rel"] == "item" and link["type"] == "application/vnd.mapbox-vector-tile" for link in links)


@pytest.mark.parametrize("f", [None, "json", "tilejson", "html", "jsonld", "xyz", "mvt"])
@pytest.mark.parametrize("path", ["WebMercatorQuad", "WebMercatorQuad/metadata", "WorldCRS84Quad/metadata"])
def test_tile_set_metadata_is_never_a_server_error(demo_server: str, path: str, f: str | None) -> None:
    params = {"f": f} if f else {}
    response = _get(f"{demo_server}/ogc/collections/buildings/tiles/{path}", **params)
    assert response.status_code in (200, 400), response.text
    if f == "tilejson" and response.status_code == 200:
        assert response.json()["tiles"][0].endswith("?f=mvt")


@pytest.mark.parametrize("path", ["tileMatrixSets", "TileMatrixSets"])
def test_tile_matrix_sets_in_both_spellings(demo_server: str, path: str) -> None:
    listing = _get(f"{demo_server}/ogc/{path}", f="json")
    assert listing.status_code == 200
    assert {"WebMercatorQuad", "WorldCRS84Quad"} <= {s["id"] for s in listing.json()["tileMatrixSets"]}
    assert _get(f"{demo_server}/ogc/{path}/WorldCRS84Quad", f="json").json()["crs"] == CRS84
    assert _get(f"{demo_server}/ogc/{path}/NoSuchSet", f="json").status_code == 404


# ------------------------------------------------------------------------------ coverages
def test_coverage_description_names_axes_crs_and_bands(demo_server: str) -> None:
    collection = _get(f"{demo_server}/ogc/collections/{IMAGERY}", f="json").json()
    assert collection["storageCrs"] == UTM_49N and CRS84 in collection["crs"]
    links = {link["rel"]: link["href"] for link in collection["links"]}
    domain = httpx.get(links[f"{OGC_REL}/coverage-domainset"], timeout=30).json()
    grid = domain["generalGrid"]
    assert grid["srsName"] == CRS84 and grid["axisLabels"] == ["Lon", "Lat"]
    west, south, east, north = collection["extent"]["spatial"]["bbox"][0]
    lon, lat = grid["axis"]
    assert lon["lowerBound"] == pytest.approx(west, abs=1e-3) and lat["upperBound"] == pytest.approx(north, abs=1e-3)
    rangetype = httpx.get(links[f"{OGC_REL}/coverage-rangetype"], timeout=30).json()
    assert [field["name"] for field in rangetype["field"]] == ["blue", "green", "red", "nir"]
    assert {field["definition"] for field in rangetype["field"]} == {"ogcType:unsignedShort"}
    assert _get(f"{demo_server}/ogc/collections/buildings/coverage/domainset").status_code == 404
    assert _get(f"{demo_server}/ogc/collections/nothing/coverage/rangetype").status_code == 404


def test_gdal_reads_the_coverage(demo_server: str, scene: Path, tmp_path: Path) -> None:
    """OGCAPI with API=COVERAGE: four UInt16 bands in EPSG:4326 over the scene, the scene's pixels."""
    source = f"OGCAPI:{demo_server}/ogc/collections/{IMAGERY}"
    info = _gdal("gdalinfo", "-json", source, "-oo", "API=COVERAGE", cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    described = json.loads(info.stdout)
    assert [band["type"] for band in described["bands"]] == ["UInt16"] * 4
    assert "4326" in described["coordinateSystem"]["wkt"]
    window = tmp_path / "window.tif"  # 256² cells at full resolution, in the middle of the scene
    result = _gdal("gdal_translate", "-q", source, "-oo", "API=COVERAGE", "-oo", "CACHE=NO", "-srcwin", "500", "500",
                   "256", "256", str(window), cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    with rasterio.open(window) as got, rasterio.open(scene) as cog:
        expected = np.zeros((cog.count, got.height, got.width), dtype=cog.dtypes[0])
        reproject(rasterio.band(cog, list(cog.indexes)), expected, dst_transform=got.transform,
                  dst_crs="EPSG:4326", resampling=Resampling.nearest)  # fmt: skip
        pixels = got.read()
    assert (pixels == expected).mean() > 0.9  # the scene's own values, placed where they belong
    overview = tmp_path / "overview.tif"  # the whole coverage at ¼: GDAL asks for coarser cells, the server reads an overview
    result = _gdal("gdal_translate", "-q", source, "-oo", "API=COVERAGE", "-oo", "CACHE=NO", "-outsize", "25%", "25%",
                   str(overview), cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    with rasterio.open(overview) as small:
        assert small.count == 4 and abs(small.width - described["size"][0] / 4) <= 1
        assert (small.read(4) > 0).mean() > 0.5


def test_gdal_draws_the_map(demo_server: str, tmp_path: Path) -> None:
    out = tmp_path / "map.png"
    source = f"OGCAPI:{demo_server}/ogc/collections/{IMAGERY}"
    result = _gdal("gdal_translate", "-q", source, "-oo", "API=MAP", "-oo", "CACHE=NO", "-outsize", "300", "0",
                   str(out), cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    with rasterio.open(out) as image:
        assert image.count == 4 and image.width == 300
        alpha = image.read(4)
    assert (alpha == 255).mean() > 0.5


def test_scale_size_gives_the_asked_grid(demo_server: str) -> None:
    west, south, east, north = centre_bbox(demo_server, 0.01)
    url = f"{demo_server}/ogc/collections/{IMAGERY}/coverage"
    lonlat, pixels = _tiff(_get(url, f="GTiff", subset=f"Lon({west}:{east}),Lat({south}:{north})",
                                scaleSize="Lon(300),Lat(200)"))  # fmt: skip
    assert lonlat["size"] == (300, 200) and lonlat["crs"].to_epsg() == 4326 and lonlat["count"] == 4
    assert lonlat["bounds"] == pytest.approx((west, south, east, north), abs=1e-9)
    assert pixels.any()
    x0, y0, x1, y1 = transform_bounds("EPSG:4326", "EPSG:32649", west, south, east, north)
    native, _ = _tiff(_get(url, f="GTiff", subset=f"x({x0}:{x1}),y({y0}:{y1})", scaleSize="x(64),y(48)"))
    assert native["size"] == (64, 48) and native["crs"].to_epsg() == 32649
    factor, _ = _tiff(_get(url, f="GTiff", subset=f"x({x0}:{x1}),y({y0}:{y1})", scaleFactor="2"))
    assert factor["res"] == pytest.approx((20.0, 20.0), rel=0.05)
    gdal_36, _ = _tiff(_get(url, f="GTiff", bbox=f"{west},{south},{east},{north}", scaleSize="Lat(20),Long(30)"))
    assert gdal_36["size"] == (30, 20)  # GDAL 3.6 asks so when a coverage has no domain set


def test_lonlat_subset_gives_the_right_area(demo_server: str, scene: Path) -> None:
    west, south, east, north = centre_bbox(demo_server, 0.005)
    url = f"{demo_server}/ogc/collections/{IMAGERY}/coverage"
    expected = transform_bounds("EPSG:4326", "EPSG:32649", west, south, east, north, densify_pts=21)
    by_name, pixels = _tiff(_get(url, f="GTiff", subset=[f"Lon({west}:{east})", f"Lat({south}:{north})"]))
    assert by_name["crs"].to_epsg() == 32649 and by_name["res"] == (10.0, 10.0)  # the stored pixels
    assert by_name["bounds"] == pytest.approx(expected, abs=10.0)  # within one pixel
    with rasterio.open(scene) as cog:
        assert np.array_equal(pixels, cog.read(window=cog.window(*by_name["bounds"])))
    by_crs, same = _tiff(_get(url, f="GTiff", subset=f"x({west}:{east}),y({south}:{north})", **{"subset-crs": CRS84}))
    assert by_crs["bounds"] == by_name["bounds"] and np.array_equal(same, pixels)
    open_end, _ = _tiff(_get(url, f="GTiff", subset=f"Lon({west}:*),Lat({south}:{north})"))
    assert open_end["bounds"][2] > by_name["bounds"][2]


@pytest.mark.parametrize(
    "params",
    [
        {"scaleSize": "Lon(5000),Lat(5000)"},  # 25 M cells, over ONEMAP_MAX_RENDER_PIXELS
        {"scaleFactor": "0.01"},  # 100× the cells of the scene
        {"scaleSize": "Lon(0),Lat(10)"},
        {"scaleSize": "Lon(10)", "scaleFactor": "2"},
        {"subset": "Lon(108.95:108.93)"},
        {"subset": "Lon(1:2),Lat(3:4)"},  # far from the scene
        {"subset": "Lon(108.9:109),y(3790000:3795000)"},  # degrees and metres mixed
        {"subset": "Lon(108.9:109)", "subset-crs": UTM_49N},  # Lon/Lat in a projected CRS
        {"subset": "Lon(108.9)"},  # slicing
        {"subset": "Lon(a:b)"},
        {"subset": "Lon(108.9:109),Lon(108.9:109)"},
        {"subset": "Time(1:2)"},
    ],
)
def test_bad_or_oversize_coverage_requests_are_4xx(demo_server: str, params: dict) -> None:
    response = _get(f"{demo_server}/ogc/collections/{IMAGERY}/coverage", f="GTiff", **params)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["description"]


def test_resampling_is_refused_by_the_source_budget_before_reading(scene: Path) -> None:
    with rasterio.open(scene) as cog:
        bounds, crs = tuple(cog.bounds), cog.crs
    budget = RenderBudget(max_render_pixels=2048 * 2048, max_source_pixels=200_000)
    with pytest.raises(BudgetExceeded, match="ONEMAP_MAX_SOURCE_PIXELS"):
        read_resampled(scene, bounds=bounds, crs=crs, width=1000, height=1000, bands=None, budget=budget)
    # 10×10 cells read the coarsest overview (¼ of the scene's side): one band of it fits
    small = read_resampled(scene, bounds=bounds, crs=crs, width=10, height=10, bands=[3], budget=budget)
    assert small.data.shape == (1, 10, 10) and small.names == ("red",)
