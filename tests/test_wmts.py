"""WMTS 1.0.0 (issue 15, deliverable 4): imagery and rendered vector layers, KVP and RESTful, two tile
matrix sets, read by GDAL, OWSLib, QGIS."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import numpy as np
import pytest
import rasterio
import shapely
from PIL import Image
from pyproj import Transformer
from sqlalchemy import Engine, text

from api.errors import ows_exception_report
from layers.vector_render import VectorStyle, draw_tile
from layers.wmts import MATRIX_SETS, WmtsLayer, capabilities
from spatial.errors import InvalidInput, TileOutOfRange
from spatial.params import parse_tile

NS = {"w": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1"}
LAYER = "demo_imagery"
VECTOR = "buildings"
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
    assert {f.text for f in layer.iterfind("w:Format", NS)} == {"image/png", "image/jpeg"}


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


# ------------------------------------------------------------------------------ rendered vector layers
def _a_building(engine: Engine) -> tuple[float, float]:
    """A point inside a demo building (lon, lat)."""
    with engine.connect() as conn:
        point = conn.execute(text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM basemap.building "
            "ORDER BY ST_Area(geom) DESC LIMIT 1) AS biggest")).one()  # fmt: skip
    return float(point[0]), float(point[1])


def _vector_tile_at(lon: float, lat: float, tms: str, zoom: int, layer: str = VECTOR) -> dict[str, object]:
    tile = MATRIX_SETS[tms].tms.tile(lon, lat, zoom)
    return {"layer": layer, "tms": tms, "z": tile.z, "row": tile.y, "col": tile.x}


def _rgba(content: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(content)) as image:
        assert image.format == "PNG" and image.size == (256, 256)
        return np.asarray(image.convert("RGBA"))


def test_capabilities_list_the_vector_layers(demo_server: str, demo_engine: Engine) -> None:
    root = _capabilities(demo_server)
    layers = _layers(root)
    assert {"buildings", "roads", "pois", "admin_divisions"} <= set(layers)
    layer = layers[VECTOR]
    assert [f.text for f in layer.iterfind("w:Format", NS)] == ["image/png"]
    assert [s.findtext("ows:Identifier", namespaces=NS) for s in layer.iterfind("w:Style", NS)] == ["default"]
    links = {link.findtext("w:TileMatrixSet", namespaces=NS, default=""): link for link in layer.iterfind("w:TileMatrixSetLink", NS)}
    assert set(links) == set(MATRIX_SETS)
    for tms, link in links.items():
        levels = link.findall("w:TileMatrixSetLimits/w:TileMatrixLimits", NS)
        assert len(levels) == MATRIX_SETS[tms].max_zoom + 1  # drawn at every level
    templates = [t.get("template", "") for t in layer.iterfind("w:ResourceURL", NS)]
    assert templates == [f"{demo_server}/wmts/1.0.0/buildings/{{Style}}/{{TileMatrixSet}}/{{TileMatrix}}/{{TileRow}}/{{TileCol}}.png"]
    with demo_engine.connect() as conn:
        title, *extent = conn.execute(text("SELECT title_en, ST_XMin(extent), ST_YMin(extent), ST_XMax(extent), "
                                           "ST_YMax(extent) FROM catalog.layer WHERE id = 'buildings'")).one()  # fmt: skip
    assert layer.findtext("ows:Title", namespaces=NS) == title
    lon, lat = _centre(demo_server, VECTOR)
    assert lon == pytest.approx((extent[0] + extent[2]) / 2) and lat == pytest.approx((extent[1] + extent[3]) / 2)


def test_the_renderer_paints_holes_lines_and_points_in_the_catalog_style() -> None:
    """Pixel units are ST_AsMVTGeom's (4096 across, y down); one polygon with a hole, a line, a point."""
    square = shapely.Polygon([(512, 512), (3584, 512), (3584, 3584), (512, 3584)],
                             [[(1536, 1536), (2560, 1536), (2560, 2560), (1536, 2560)]])  # fmt: skip
    line = shapely.LineString([(0, 4000), (4096, 4000)])
    point = shapely.Point(3900, 200)
    style = VectorStyle.from_catalog({"color": "#ff0000", "radius": 4})
    pixels = _rgba(draw_tile([shapely.to_wkb(g) for g in (square, line, point)], style))
    assert pixels[10, 10, 3] == 0  # outside everything
    assert pixels[128, 128, 3] == 0  # the hole
    assert 40 < pixels[80, 80, 3] < 60 and pixels[80, 80, 0] == 255  # the fill, 20 % red
    assert pixels[32, 100, 3] == 255 and tuple(pixels[32, 100, :3]) == (255, 0, 0)  # the outline
    assert pixels[250, 128, 3] > 0  # the line
    assert pixels[12, 244, 3] > 200  # the point
    assert not _rgba(draw_tile([], style))[..., 3].any()


def test_a_catalog_style_the_renderer_cannot_use_falls_back_to_the_defaults() -> None:
    assert VectorStyle.from_catalog({"color": "no colour", "radius": "big", "weight": True}) == VectorStyle()
    assert VectorStyle.from_catalog(None) == VectorStyle()
    assert VectorStyle.from_catalog({"fill": False, "weight": 99, "color": "#7f7f7f"}) == VectorStyle(
        color=(127, 127, 127), fill=False, weight=16.0)


@pytest.mark.parametrize("tms, zoom", [("WebMercatorQuad", 16), ("CGCS2000Quad", 15)])
def test_a_vector_tile_is_drawn_the_same_by_kvp_and_restful(demo_server: str, demo_engine: Engine, tms: str,
                                                            zoom: int) -> None:  # fmt: skip
    address = _vector_tile_at(*_a_building(demo_engine), tms, zoom)
    rest = httpx.get(demo_server + _rest(address), timeout=60)
    kvp = httpx.get(f"{demo_server}/wmts?{KVP_TILE.format(**address)}", timeout=60)
    assert rest.status_code == kvp.status_code == 200, rest.text
    assert rest.headers["content-type"] == kvp.headers["content-type"] == "image/png"
    assert rest.content == kvp.content
    pixels = _rgba(rest.content)
    opaque = pixels[..., 3] > 0
    assert opaque.any() and not opaque.all()  # buildings, and ground between them
    painted = pixels[opaque][:, :3].astype(int)
    assert (painted[:, 0] > painted[:, 2]).mean() > 0.9  # the catalog style's brown (#8c564b), not a default blue


@pytest.mark.parametrize("tms", ["WebMercatorQuad", "CGCS2000Quad"])
def test_a_vector_tile_far_from_the_layer_is_transparent(demo_server: str, tms: str) -> None:
    answer = httpx.get(demo_server + _rest(_vector_tile_at(-40.0, -20.0, tms, 12)), timeout=60)
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png", answer.text
    assert not _rgba(answer.content)[..., 3].any()


def test_vector_layers_of_every_geometry_are_drawn(demo_server: str, demo_engine: Engine) -> None:
    lon, lat = _a_building(demo_engine)
    for layer, zoom in (("roads", 13), ("pois", 13), ("admin_divisions", 11)):
        answer = httpx.get(demo_server + _rest(_vector_tile_at(lon, lat, "WebMercatorQuad", zoom, layer)), timeout=60)
        assert answer.status_code == 200, answer.text
        assert _rgba(answer.content)[..., 3].any(), layer


@pytest.mark.parametrize("query, status, code", [
    (KVP_TILE.format(layer=VECTOR, tms="WebMercatorQuad", z=3, row=0, col=0).replace("image/png", "image/jpeg"),
     400, "InvalidParameterValue"),  # vector layers are PNG only
    (KVP_TILE.format(layer=VECTOR, tms="WebMercatorQuad", z=3, row=8, col=0), 400, "TileOutOfRange"),
    (KVP_TILE.format(layer=VECTOR, tms="CGCS2000Quad", z=1, row=0, col=4), 400, "TileOutOfRange"),
    (KVP_TILE.format(layer=VECTOR, tms="CGCS2000Quad", z=22, row=0, col=0), 400, "InvalidParameterValue"),
    (KVP_TILE.format(layer=VECTOR, tms="WebMercatorQuad", z=3, row=-1, col=0), 400, "TileOutOfRange"),
    (KVP_TILE.format(layer=VECTOR, tms="WebMercatorQuad", z=3, row=0, col=0).replace("STYLE=default", "STYLE=red"),
     400, "InvalidParameterValue"),
    (KVP_TILE.format(layer="buildingz", tms="WebMercatorQuad", z=3, row=0, col=0), 404, "NotFound"),
])  # fmt: skip
def test_bad_vector_tile_requests_get_ows_exception_reports(demo_server: str, query: str, status: int,
                                                            code: str) -> None:  # fmt: skip
    answer = httpx.get(f"{demo_server}/wmts?{query}", timeout=60)
    assert answer.status_code == status, answer.text
    assert _exception(answer)[0] == code


def test_restful_vector_errors_are_ows_too(demo_server: str) -> None:
    for path, status, code in ((f"{VECTOR}/default/WebMercatorQuad/2/0/0.jpg", 400, "InvalidParameterValue"),
                               (f"{VECTOR}/default/WebMercatorQuad/2/0/9.png", 400, "TileOutOfRange"),
                               (f"{VECTOR}/default/CGCS2000Quad/x/0/0.png", 400, "InvalidParameterValue"),
                               (f"{VECTOR}/default/WorldCRS84Quad/2/0/0.png", 400, "InvalidParameterValue"),
                               ("no_such_layer/default/WebMercatorQuad/2/0/0.png", 404, "NotFound")):  # fmt: skip
        answer = httpx.get(f"{demo_server}/wmts/1.0.0/{path}", timeout=60)
        assert answer.status_code == status and _exception(answer)[0] == code, (path, answer.text)


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
    # the department's vector overlay: listed and drawn for its people, missing for everyone else
    assert "acc_public" in anonymous and "acc_department" not in anonymous and "acc_internal" not in anonymous
    assert {"acc_public", "acc_internal", "acc_department"} <= set(viewer) and "acc_department" not in other
    vector = _tile_at(access_server, "WebMercatorQuad", 15, "acc_department", access_city.headers("viewer"))
    drawn = httpx.get(access_server + _rest(vector), headers=access_city.headers("viewer"), timeout=60)
    assert drawn.status_code == 200 and drawn.headers["content-type"] == "image/png"
    assert _rgba(drawn.content)[..., 3].any()
    for caller in ("anonymous", "editor_other"):
        hidden = httpx.get(access_server + _rest(vector), headers=access_city.headers(caller), timeout=60)
        kvp = httpx.get(f"{access_server}/wmts?{KVP_TILE.format(**vector)}", headers=access_city.headers(caller),
                        timeout=60)  # fmt: skip
        assert hidden.status_code == kvp.status_code == 404
        assert hidden.text.replace("acc_department", "N") == missing.text.replace("img_nowhere", "N")


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


@pytest.mark.parametrize("tms", ["WebMercatorQuad", "CGCS2000Quad"])
def test_gdal_translates_a_window_of_a_vector_layer(demo_server: str, demo_engine: Engine, tms: str,
                                                    tmp_path: Path) -> None:  # fmt: skip
    lon, lat = _a_building(demo_engine)
    half = 0.002
    if tms == "WebMercatorQuad":
        to_mercator = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
        west, north = to_mercator.transform(lon - half, lat + half)
        east, south = to_mercator.transform(lon + half, lat - half)
    else:
        west, north, east, south = lon - half, lat + half, lon + half, lat - half
    out = tmp_path / f"{tms}.tif"
    source = f"WMTS:{demo_server}/wmts/1.0.0/WMTSCapabilities.xml,layer={VECTOR},tilematrixset={tms}"
    result = _gdal("gdal_translate", "-q", "-projwin", *(str(v) for v in (west, north, east, south)),
                   "-outsize", "256", "256", source, str(out), cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    with rasterio.open(out) as image:
        assert image.crs.to_epsg() == (3857 if tms == "WebMercatorQuad" else 4490)
        assert image.count == 4
        pixels = image.read()
    opaque = pixels[3] > 0
    assert opaque.any() and not opaque.all()  # buildings drawn, transparent between them
    assert pixels[0][opaque].mean() > pixels[2][opaque].mean()  # brown, the layer's style


def test_owslib_reads_capabilities_and_gets_a_tile(demo_server: str) -> None:
    from owslib.wmts import WebMapTileService

    service = WebMapTileService(f"{demo_server}/wmts")
    assert LAYER in service.contents
    assert set(service.tilematrixsets) == set(MATRIX_SETS)
    address = _tile_at(demo_server, "WebMercatorQuad", 14)
    tile = service.gettile(layer=LAYER, tilematrixset="WebMercatorQuad", tilematrix=str(address["z"]),
                           row=address["row"], column=address["col"], format="image/png")  # fmt: skip
    assert tile.read()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("layer", [LAYER, VECTOR])
@pytest.mark.parametrize("tms, crs", [("WebMercatorQuad", "EPSG:3857"), ("CGCS2000Quad", "EPSG:4490")])
def test_qgis_loads_the_layer(demo_server: str, tmp_path: Path, tms: str, crs: str, layer: str) -> None:
    """If QGIS is installed (Debian `qgis`), its WMS/WMTS provider loads the layer headless and draws it."""
    system_python = shutil.which("python3", path="/usr/bin")  # QGIS binds Debian's Python
    probe = subprocess.run([system_python or "python3", "-c", "import qgis.core"], capture_output=True)
    if system_python is None or probe.returncode != 0:
        pytest.skip("QGIS (Debian package `qgis`, python3-qgis) is not installed on this machine")
    uri = (f"contextualWMSLegend=0&crs={crs}&dpiMode=7&featureCount=10&format=image/png&layers={layer}"
           f"&styles=default&tileMatrixSet={tms}&url={demo_server}/wmts/1.0.0/WMTSCapabilities.xml")  # fmt: skip
    script = f"""
import sys
from qgis.core import QgsApplication, QgsMapRendererSequentialJob, QgsMapSettings, QgsRasterLayer
from qgis.PyQt.QtCore import QSize
app = QgsApplication([], False); app.initQgis()
layer = QgsRasterLayer({uri!r}, "wmts", "wms")
print("valid", layer.isValid(), layer.error().message(), layer.crs().authid(), layer.extent().toString())
if not (layer.isValid() and layer.crs().authid() == {crs!r} and not layer.extent().isEmpty()):
    sys.exit(1)
settings = QgsMapSettings()
settings.setLayers([layer]); settings.setDestinationCrs(layer.crs()); settings.setOutputSize(QSize(256, 256))
extent = layer.extent(); extent.scale(0.05); settings.setExtent(extent)
job = QgsMapRendererSequentialJob(settings); job.start(); job.waitForFinished()
image = job.renderedImage()
drawn = sum(1 for x in range(0, 256, 4) for y in range(0, 256, 4) if image.pixelColor(x, y).alpha() > 0)
print("drawn", drawn, [e.message for e in job.errors()])
sys.exit(0 if drawn else 1)
"""
    result = subprocess.run(
        [system_python, "-c", script], capture_output=True, text=True, timeout=300,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
