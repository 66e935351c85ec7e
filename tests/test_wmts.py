"""WMTS 1.0.0 (issue 15, deliverable 4): KVP and RESTful, two tile matrix sets, read by GDAL, OWSLib, QGIS."""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import numpy as np
import pytest
import rasterio
from pyproj import Transformer

from api.errors import ows_exception_report
from layers.wmts import MATRIX_SETS, WmtsLayer, capabilities
from spatial.errors import InvalidInput, TileOutOfRange
from spatial.params import parse_tile

NS = {"w": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1"}
LAYER = "demo_imagery"
KVP_TILE = "SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET={tms}" \
           "&TILEMATRIX={z}&TILEROW={row}&TILECOL={col}&FORMAT=image/png"  # fmt: skip


def _capabilities(base: str, headers: dict[str, str] | None = None) -> ET.Element:
    answer = httpx.get(f"{base}/wmts/1.0.0/WMTSCapabilities.xml", headers=headers or {}, timeout=60)
    assert answer.status_code == 200, answer.text
    return ET.fromstring(answer.content)


def _layers(root: ET.Element) -> dict[str, ET.Element]:
    return {layer.findtext("ows:Identifier", namespaces=NS, default=""): layer
            for layer in root.iterfind("w:Contents/w:Layer", NS)}  # fmt: skip


def _centre(base: str, layer: str = LAYER, headers: dict[str, str] | None = None) -> tuple[float, float]:
    box = _layers(_capabilities(base, headers))[layer].find("ows:WGS84BoundingBox", NS)
    assert box is not None
    west, south = (float(v) for v in box.findtext("ows:LowerCorner", namespaces=NS, default="").split())
    east, north = (float(v) for v in box.findtext("ows:UpperCorner", namespaces=NS, default="").split())
    return (west + east) / 2, (south + north) / 2


def _tile_at(base: str, tms: str, zoom: int, layer: str = LAYER, headers: dict[str, str] | None = None) -> dict[str, object]:
    lon, lat = _centre(base, layer, headers)
    tile = MATRIX_SETS[tms].tms.tile(lon, lat, zoom)
    return {"layer": layer, "tms": tms, "z": tile.z, "row": tile.y, "col": tile.x}


def _rest(address: dict[str, object]) -> str:
    return "/wmts/1.0.0/{layer}/default/{tms}/{z}/{row}/{col}.png".format(**address)


def _exception(answer: httpx.Response) -> tuple[str, str | None]:
    assert answer.headers["content-type"].startswith("application/xml"), answer.text
    exception = ET.fromstring(answer.content).find("ows:Exception", NS)
    assert exception is not None, answer.text
    return exception.get("exceptionCode", ""), exception.get("locator")


# ------------------------------------------------------------------------------ the document
def test_kvp_and_restful_capabilities_are_the_same_document(demo_server: str) -> None:
    kvp = httpx.get(f"{demo_server}/wmts?service=wmts&Request=GetCapabilities", timeout=60)  # names any case
    rest = httpx.get(f"{demo_server}/wmts/1.0.0/WMTSCapabilities.xml", timeout=60)
    assert kvp.status_code == rest.status_code == 200
    assert kvp.content == rest.content
    root = ET.fromstring(rest.content)
    layer = _layers(root)[LAYER]
    assert {e.text for e in layer.iterfind("w:TileMatrixSetLink/w:TileMatrixSet", NS)} == set(MATRIX_SETS)
    template = layer.find("w:ResourceURL[@format='image/png']", NS)
    assert template is not None and template.get("template", "").endswith(
        "/wmts/1.0.0/demo_imagery/{Style}/{TileMatrixSet}/{TileMatrix}/{TileRow}/{TileCol}.png")
    sets = {s.findtext("ows:Identifier", namespaces=NS): s for s in root.iterfind("w:Contents/w:TileMatrixSet", NS)}
    geographic = sets["CGCS2000Quad"]
    assert geographic.findtext("ows:SupportedCRS", namespaces=NS) == "urn:ogc:def:crs:EPSG::4490"
    level0 = geographic.find("w:TileMatrix", NS)
    assert level0 is not None
    assert (level0.findtext("w:MatrixWidth", namespaces=NS), level0.findtext("w:MatrixHeight", namespaces=NS)) == ("2", "1")
    assert level0.findtext("w:TopLeftCorner", namespaces=NS) == "90.0 -180.0"  # EPSG:4490 is latitude first
    mercator = sets["WebMercatorQuad"]
    assert mercator.findtext("w:WellKnownScaleSet", namespaces=NS) == "urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible"
    assert not any("vector" in (name or "") for name in _layers(root))  # imagery only
    for name in ("buildings", "roads"):
        assert name not in _layers(root)


def test_a_hostile_title_is_escaped() -> None:
    hostile = "</ows:Title><script>alert('x')</script> & \x00 影像 ]]>"
    document = capabilities([WmtsLayer("x", hostile, hostile, (108.9, 34.2, 109.0, 34.3), 16)], "http://h")
    root = ET.fromstring(document)  # well-formed
    layer = _layers(root)["x"]
    assert layer.findtext("ows:Title", namespaces=NS) == hostile.replace("\x00", "")
    assert b"<script>" not in document
    report = ows_exception_report(InvalidInput(f"bad {hostile}"))
    assert ET.fromstring(report).findtext("ows:Exception/ows:ExceptionText", namespaces=NS) == f"bad {hostile}".replace("\x00", "")


# ------------------------------------------------------------------------------ tiles
@pytest.mark.parametrize("tms, zoom", [("WebMercatorQuad", 14), ("CGCS2000Quad", 13)])
def test_kvp_and_restful_give_the_same_tile(demo_server: str, tms: str, zoom: int) -> None:
    address = _tile_at(demo_server, tms, zoom)
    rest = httpx.get(demo_server + _rest(address), timeout=60)
    kvp = httpx.get(f"{demo_server}/wmts?{KVP_TILE.format(**address)}", timeout=60)
    assert rest.status_code == kvp.status_code == 200, rest.text
    assert rest.headers["content-type"] == "image/png"
    assert rest.content == kvp.content
    with rasterio.MemoryFile(rest.content) as memory, memory.open() as image:
        pixels = image.read()
    assert image.width == image.height == 256
    assert pixels[-1].any()  # the mask: the demo imagery is there


def test_the_geographic_tile_matches_the_mercator_picture(demo_server: str) -> None:
    """Same place, two tile matrix sets: the geographic tile is drawn from the same scene (not blank, same colours)."""
    images = []
    for tms, zoom in (("WebMercatorQuad", 15), ("CGCS2000Quad", 14)):
        answer = httpx.get(demo_server + _rest(_tile_at(demo_server, tms, zoom)), timeout=60)
        with rasterio.MemoryFile(answer.content) as memory, memory.open() as image:
            images.append(image.read()[:3].astype(float))
    assert abs(images[0].mean() - images[1].mean()) < 0.25 * max(images[0].mean(), 1)


@pytest.mark.parametrize("query, status, code, locator", [
    ("SERVICE=WMTS&REQUEST=GetTile&LAYER=demo_imagery&STYLE=default&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX=99"
     "&TILEROW=0&TILECOL=0&FORMAT=image/png", 400, "InvalidParameterValue", None),
    ("SERVICE=WMTS&REQUEST=GetTile&LAYER=demo_imagery&STYLE=default&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX=3"
     "&TILEROW=8&TILECOL=0&FORMAT=image/png", 400, "TileOutOfRange", None),
    ("SERVICE=WMTS&REQUEST=GetTile&LAYER=demo_imagery&STYLE=default&TILEMATRIXSET=CGCS2000Quad&TILEMATRIX=0"
     "&TILEROW=0&TILECOL=2&FORMAT=image/png", 400, "TileOutOfRange", None),
    ("SERVICE=WMTS&REQUEST=GetTile&LAYER=demo_imagery&STYLE=default&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX=3"
     "&TILEROW=x&TILECOL=0&FORMAT=image/png", 400, "InvalidParameterValue", None),
    ("SERVICE=WMTS&REQUEST=GetTile&LAYER=demo_imagery&STYLE=default&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX=3"
     "&TILECOL=0&FORMAT=image/png", 400, "MissingParameterValue", "TILEROW"),
    ("SERVICE=WMTS&REQUEST=GetTile&LAYER=demo_imagery&STYLE=default&TILEMATRIXSET=EPSG:900913&TILEMATRIX=3"
     "&TILEROW=0&TILECOL=0&FORMAT=image/png", 400, "InvalidParameterValue", None),
    ("SERVICE=WMTS&REQUEST=GetTile&LAYER=demo_imagery&STYLE=fancy&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX=3"
     "&TILEROW=0&TILECOL=0&FORMAT=image/png", 400, "InvalidParameterValue", None),
    ("SERVICE=WMTS&REQUEST=GetTile&LAYER=nowhere&STYLE=default&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX=3"
     "&TILEROW=0&TILECOL=0&FORMAT=image/png", 404, "NotFound", None),
    ("SERVICE=WMTS&REQUEST=GetTile&LAYER=demo_imagery&STYLE=default&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX=3"
     "&TILEROW=0&TILECOL=0&FORMAT=image/png", 404, "NotFound", None),  # inside the matrix, far from the layer
    ("SERVICE=WMTS&REQUEST=GetMap", 400, "InvalidParameterValue", None),
    ("REQUEST=GetCapabilities", 400, "MissingParameterValue", "SERVICE"),
])  # fmt: skip
def test_bad_requests_get_ows_exception_reports(demo_server: str, query: str, status: int, code: str,
                                                locator: str | None) -> None:  # fmt: skip
    answer = httpx.get(f"{demo_server}/wmts?{query}", timeout=60)
    assert answer.status_code == status, answer.text
    assert _exception(answer) == (code, locator)


def test_restful_errors_are_ows_too(demo_server: str) -> None:
    bad_row = httpx.get(f"{demo_server}/wmts/1.0.0/{LAYER}/default/WebMercatorQuad/2/9/0.png", timeout=60)
    assert bad_row.status_code == 400 and _exception(bad_row)[0] == "TileOutOfRange"
    bad_format = httpx.get(f"{demo_server}/wmts/1.0.0/{LAYER}/default/WebMercatorQuad/2/0/0.gif", timeout=60)
    assert bad_format.status_code == 400 and _exception(bad_format)[0] == "InvalidParameterValue"
    nowhere = httpx.get(f"{demo_server}/wmts/1.0.0/nope/default/WebMercatorQuad/2/0/0/0.png", timeout=60)
    assert nowhere.status_code == 404 and _exception(nowhere)[0] == "NotFound"


def test_tile_addresses_of_a_two_column_matrix() -> None:
    assert parse_tile("0", "1", "0", columns_at_zero=2).x == 1
    with pytest.raises(TileOutOfRange):
        parse_tile("0", "2", "0", columns_at_zero=2)
    with pytest.raises(TileOutOfRange):
        parse_tile("1", "0", "2", columns_at_zero=2)
    with pytest.raises(TileOutOfRange):
        parse_tile("0", "1", "0")


# ------------------------------------------------------------------------------ who sees what
def test_capabilities_and_tiles_follow_the_read_check(access_city, access_server: str) -> None:
    anonymous = _layers(_capabilities(access_server))
    viewer = _layers(_capabilities(access_server, access_city.headers("viewer")))
    other = _layers(_capabilities(access_server, access_city.headers("editor_other")))
    assert "img_public" in anonymous and "img_internal" not in anonymous and "img_department" not in anonymous
    assert {"img_public", "img_internal", "img_department"} <= set(viewer)
    assert "img_internal" in other and "img_department" not in other
    address = _tile_at(access_server, "WebMercatorQuad", 14, "img_department", access_city.headers("viewer"))
    seen = httpx.get(access_server + _rest(address), headers=access_city.headers("viewer"), timeout=60)
    assert seen.status_code == 200
    hidden = httpx.get(access_server + _rest(address), timeout=60)
    missing = httpx.get(access_server + _rest({**address, "layer": "img_nowhere"}), timeout=60)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.text.replace("img_department", "N") == missing.text.replace("img_nowhere", "N")


def test_capabilities_of_credentialed_callers_are_not_publicly_cached(access_city, access_server: str) -> None:
    public = httpx.get(f"{access_server}/wmts/1.0.0/WMTSCapabilities.xml", timeout=60)
    private = httpx.get(f"{access_server}/wmts/1.0.0/WMTSCapabilities.xml", headers=access_city.headers("viewer"),
                        timeout=60)  # fmt: skip
    assert "public" in public.headers["cache-control"] and "Authorization" in public.headers["vary"]
    assert "public" not in private.headers["cache-control"]


# ------------------------------------------------------------------------------ real clients
def _gdal(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A GDAL program run in ``cwd``, without the tile cache GDAL's WMS drivers keep in ./gdalwmscache."""
    if not shutil.which(args[0]):
        pytest.fail(f"{args[0]} (Debian gdal-bin) is missing: `make test` installs it")
    env = {**os.environ, "GDAL_HTTP_TIMEOUT": "60", "CPL_DEBUG": "OFF", "GDAL_ENABLE_WMS_CACHE": "NO",
           "GDAL_DEFAULT_WMS_CACHE_PATH": str(cwd / "gdalwmscache")}  # fmt: skip
    return subprocess.run(list(args), capture_output=True, text=True, timeout=300, env=env, cwd=cwd)


def test_gdal_lists_the_layers(demo_server: str, tmp_path: Path) -> None:
    result = _gdal("gdalinfo", f"WMTS:{demo_server}/wmts/1.0.0/WMTSCapabilities.xml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"layer={LAYER}" in result.stdout, result.stdout


@pytest.mark.parametrize("tms", ["WebMercatorQuad", "CGCS2000Quad"])
def test_gdal_translates_a_window_in_each_matrix_set(demo_server: str, tms: str, tmp_path: Path) -> None:
    lon, lat = _centre(demo_server)
    half = 0.004
    if tms == "WebMercatorQuad":
        to_mercator = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
        west, north = to_mercator.transform(lon - half, lat + half)
        east, south = to_mercator.transform(lon + half, lat - half)
    else:
        west, north, east, south = lon - half, lat + half, lon + half, lat - half
    out = tmp_path / f"{tms}.tif"
    source = f"WMTS:{demo_server}/wmts/1.0.0/WMTSCapabilities.xml,layer={LAYER},tilematrixset={tms}"
    result = _gdal("gdal_translate", "-q", "-projwin", *(str(v) for v in (west, north, east, south)),
                   "-outsize", "128", "128", source, str(out), cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    with rasterio.open(out) as image:
        assert image.crs.to_epsg() == (3857 if tms == "WebMercatorQuad" else 4490)
        pixels = image.read()
    assert pixels[:3].any() and np.count_nonzero(pixels[-1]) > pixels[-1].size // 2


def test_owslib_reads_capabilities_and_gets_a_tile(demo_server: str) -> None:
    from owslib.wmts import WebMapTileService

    service = WebMapTileService(f"{demo_server}/wmts")
    assert LAYER in service.contents
    assert set(service.tilematrixsets) == set(MATRIX_SETS)
    address = _tile_at(demo_server, "WebMercatorQuad", 14)
    tile = service.gettile(layer=LAYER, tilematrixset="WebMercatorQuad", tilematrix=str(address["z"]),
                           row=address["row"], column=address["col"], format="image/png")  # fmt: skip
    assert tile.read()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("tms, crs", [("WebMercatorQuad", "EPSG:3857"), ("CGCS2000Quad", "EPSG:4490")])
def test_qgis_loads_the_layer(demo_server: str, tmp_path: Path, tms: str, crs: str) -> None:
    """If QGIS is installed (Debian `qgis`), its WMS/WMTS provider loads the layer headless and draws it."""
    system_python = shutil.which("python3", path="/usr/bin")  # QGIS binds Debian's Python
    probe = subprocess.run([system_python or "python3", "-c", "import qgis.core"], capture_output=True)
    if system_python is None or probe.returncode != 0:
        pytest.skip("QGIS (Debian package `qgis`, python3-qgis) is not installed on this machine")
    uri = (f"contextualWMSLegend=0&crs={crs}&dpiMode=7&featureCount=10&format=image/png&layers={LAYER}"
           f"&styles=default&tileMatrixSet={tms}&url={demo_server}/wmts/1.0.0/WMTSCapabilities.xml")  # fmt: skip
    script = f"""
import sys
from qgis.core import QgsApplication, QgsRasterLayer
app = QgsApplication([], False); app.initQgis()
layer = QgsRasterLayer({uri!r}, "imagery", "wms")
print("valid", layer.isValid(), layer.error().message(), layer.crs().authid(), layer.extent().toString())
sys.exit(0 if layer.isValid() and layer.crs().authid() == {crs!r} and not layer.extent().isEmpty() else 1)
"""
    result = subprocess.run(
        [system_python, "-c", script], capture_output=True, text=True, timeout=300,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
