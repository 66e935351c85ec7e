"""The one-map portal (/) in Debian's Chromium against the demo city: it opens on the city with
its imagery, keeps the header on one line on a phone, and its search, identify, downloads,
time slider, scene picker and swipe, measure, URL and zoom message work without a console error.
Screenshots go to tests/artifacts/faces/portal-*.png (not committed; looked at by a person)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import httpx
import pytest

from spatial.config import PROJECT_ROOT
from tests.browser import browser_page

ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts" / "faces"
ADDRESS = "陕西省西安市修德区雁井大道四号二栋"  # the README's geocoding example, a door plate of the demo
DESKTOP, PHONE = (1280, 800), (390, 844)


@pytest.fixture
def portal(demo_server: str) -> Iterator[tuple[Any, list[str], str]]:
    """A desktop page on the portal, the list of its problems, and the server's base URL."""
    with browser_page(DESKTOP) as (page, problems):
        yield page, problems, demo_server


def open_portal(page: Any, base: str, hash_: str = "") -> None:
    page.goto(f"{base}/{hash_}", wait_until="domcontentloaded")
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)


def wait_drawn(page: Any, layer: str, minimum: int = 1) -> int:
    """Features of one overlay on the map, once at least ``minimum`` are drawn."""
    page.wait_for_function(
        "([id, n]) => window.Portal.overlays[id] && window.Portal.overlays[id].group.getLayers().length >= n",
        arg=[layer, minimum], timeout=60_000,
    )  # fmt: skip
    return int(page.evaluate("(id) => window.Portal.overlays[id].group.getLayers().length", layer))


def map_center(page: Any) -> tuple[float, float]:
    c = page.evaluate("() => { const c = window.onemapMap.getCenter(); return [c.lng, c.lat]; }")
    return float(c[0]), float(c[1])


def settle(page: Any) -> None:
    """Wait until the map stopped moving and no overlay is loading."""
    page.wait_for_function(
        "() => !window.onemapMap._animatingZoom && !window.onemapMap._panAnim?._inProgress"
        " && Object.values(window.Portal.overlays).every(o => !o.pending)",
        timeout=60_000,
    )
    page.wait_for_timeout(300)


def search(page: Any, text: str) -> dict[str, Any]:
    page.evaluate("() => { window.onemapSearch = null; }")
    page.fill("#search-q", text)
    page.press("#search-q", "Enter")
    page.wait_for_function("() => window.onemapSearch && window.onemapSearch.arrived", timeout=30_000)
    settle(page)
    return dict(page.evaluate("() => window.onemapSearch"))


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"portal-{name}.png"
    page.screenshot(path=str(path))
    return path


def imagery_tiles_loaded(page: Any) -> int:
    return int(page.evaluate(
        "() => [...document.querySelectorAll('.leaflet-tile-pane img.leaflet-tile-loaded')]"
        ".filter(i => i.src.includes('/tiles/demo_imagery/')).length"
    ))  # fmt: skip


# ---------------------------------------------------------------------------------- opening
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_opens_on_the_city_with_imagery_and_one_line_header(demo_server: str, viewport: tuple[int, int]) -> None:
    external: list[str] = []
    with browser_page(viewport) as (page, problems):
        page.on("request", lambda r: external.append(r.url) if not r.url.startswith((demo_server, "data:")) else None)
        open_portal(page, demo_server)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.leaflet-tile-pane img.leaflet-tile-loaded')].length >= 4", timeout=60_000
        )
        wait_drawn(page, "emergency_facilities", 10)
        settle(page)
        city = page.evaluate("() => window.onemapCity")
        west, south, east, north = page.evaluate(
            "() => { const b = window.onemapMap.getBounds(); return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; }"
        )
        minx, miny, maxx, maxy = city["extent"]
        assert west <= minx and east >= maxx and south <= miny and north >= maxy, "the city's extent is in view"
        assert page.evaluate("() => window.onemapBase") == city["default_base_layer"] == "demo_imagery"
        assert imagery_tiles_loaded(page) >= 4, "the imagery is visible at the opening view"
        bar = page.locator(".om-bar").bounding_box()
        assert bar is not None and bar["height"] <= 56, f"the header breaks over lines: {bar}"
        nav = page.inner_text(".om-nav")
        assert all(word in nav for word in ("地图", "上报", "指挥", "监督"))
        phone = viewport == PHONE
        assert page.is_visible("#panel") is not phone, "the panel is open on a desktop, a button on a phone"
        assert page.is_visible("#panel-toggle")
        shot = screenshot(page, "desktop" if not phone else "phone")
        unnamed = page.evaluate(
            """() => [...document.querySelectorAll('input, select, button')].filter(e => e.offsetParent !== null)
                .filter(e => !(e.getAttribute('aria-label') || (e.labels && e.labels.length) || e.textContent.trim() || e.title))
                .map(e => e.outerHTML.slice(0, 80))"""
        )
        assert unnamed == [], f"controls without an accessible name: {unnamed}"
        low = page.evaluate(CONTRAST_JS)
        assert low == [], f"text below WCAG AA contrast (4.5:1): {low}"
        if phone:
            assert not page.is_visible(".om-auth .om-token")  # folded: the bar stays on one line
            page.click(".om-auth .om-signin")
            token = page.locator(".om-auth .om-token")
            assert token.is_visible() and page.evaluate("() => document.activeElement.classList.contains('om-token')")
            tb = token.bounding_box()
            assert tb is not None and tb["x"] >= 0 and tb["x"] + tb["width"] <= viewport[0]
            page.keyboard.press("Escape")
            assert not token.is_visible()
            page.click("#panel-toggle")
            assert page.is_visible("#panel")
            panel = page.locator("#panel").bounding_box()
            assert panel is not None and panel["height"] <= 0.65 * viewport[1], "the sheet leaves the map visible"
            screenshot(page, "phone-panel")
            page.click("#panel-close")
            assert not page.is_visible("#panel")
        else:
            text = page.inner_text("#panel")
            assert "自然资源和规划局" in text and "应急管理局" in text and "示范影像" in text
    assert problems == [], problems
    assert external == [], f"the page reached outside the server: {external[:5]}"
    _assert_not_blank(shot)


# every visible text node's colour against the first opaque background behind it (WCAG 2 ratio)
CONTRAST_JS = """() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (el) => {
    for (let n = el; n; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.9)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = [];
  const scope = document.querySelectorAll('.om-bar, .pt-search, .pt-panel, .pt-note, .pt-panel-toggle, .pt-toolbar');
  scope.forEach(root => root.querySelectorAll('*').forEach(el => {
    if (!el.offsetParent || ![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) return;
    const fg = rgb(getComputedStyle(el).color).slice(0, 3), bg = background(el);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    if (ratio < 4.5) out.push(el.tagName + ' ' + el.textContent.trim().slice(0, 20) + ' ' + ratio.toFixed(2));
  }));
  return out;
}"""


def _assert_not_blank(path: Path) -> None:
    from PIL import Image, ImageStat

    assert max(ImageStat.Stat(Image.open(path).convert("RGB")).stddev) > 10, f"{path} looks blank"


# ---------------------------------------------------------------------------------- search
def test_search_an_address_flies_there_with_a_marker(portal) -> None:
    page, problems, base = portal
    expected = httpx.get(f"{base}/api/v1/geocode", params={"q": ADDRESS, "limit": 1}, timeout=30).json()
    lon, lat = expected["features"][0]["geometry"]["coordinates"]
    open_portal(page, base)
    page.fill("#search-q", "雁井")
    page.wait_for_selector("#search-list li", timeout=30_000)  # suggestions while typing
    found = search(page, ADDRESS)
    assert found["kind"] == "address" and "雁井大道4号2栋" in found["label"]
    assert abs(found["lon"] - lon) < 1e-9 and abs(found["lat"] - lat) < 1e-9
    assert page.locator(".leaflet-marker-icon").count() == 1
    cx, cy = map_center(page)
    assert abs(cx - lon) < 1e-4 and abs(cy - lat) < 1e-4 and page.evaluate("() => window.onemapMap.getZoom()") >= 17
    screenshot(page, "search")
    assert problems == [], problems


def test_search_grid_codes_and_coordinates(portal) -> None:
    from spatial.grid.codes import geo_grid_code
    from spatial.webdatum import wgs84_to_gcj02

    page, problems, base = portal
    open_portal(page, base)
    cell = geo_grid_code(108.94, 34.26, "10s")
    found = search(page, cell.code)
    assert found["kind"] == "geogrid"
    x0, y0, x1, y1 = cell.bounds
    cx, cy = map_center(page)
    assert x0 <= cx <= x1 and y0 <= cy <= y1, (cell, cx, cy)
    page.wait_for_function("(code) => document.getElementById('search-msg').textContent.includes(code)", arg=cell.code)
    # a 15-digit unit-cell code: the demo publishes no unit grid, and the page says so
    page.fill("#search-q", "610153001004001")
    page.press("#search-q", "Enter")
    page.wait_for_function("() => document.getElementById('search-msg').textContent.includes('610153001004001')")
    assert "单元网格" in page.inner_text("#search-msg")
    # lon,lat typed in GCJ-02 (as AMap shows it) lands on the WGS84 point; in WGS84 as typed
    glon, glat = wgs84_to_gcj02(108.94, 34.26)
    page.select_option("#search-crs", "gcj02")
    found = search(page, f"{glon:.8f},{glat:.8f}")
    assert found["kind"] == "coords" and found["crs"] == "gcj02"
    assert abs(found["lon"] - 108.94) < 1e-6 and abs(found["lat"] - 34.26) < 1e-6
    page.select_option("#search-crs", "wgs84")
    found = search(page, "108.95, 34.25")
    assert (round(found["lon"], 6), round(found["lat"], 6)) == (108.95, 34.25)
    page.wait_for_function("() => document.querySelector('.leaflet-popup-content')?.textContent.includes('WGS84')")
    assert problems == [], problems


@pytest.fixture(scope="module")
def portal_city(make_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The demo city with what the session's demo lacks: a unit grid published as the unit_grid layer,
    and a second, later imagery scene (the demo's, with a bright new site in its middle). Its base URL and a cell code."""
    import datetime as dt

    import numpy as np
    import rasterio
    from sqlalchemy import text

    from layers.demo.load import load_demo
    from layers.grid_layers import register_grid_layers
    from layers.imagery.ingest import add_scene
    from spatial import migrate
    from spatial.access.principal import local_operator
    from spatial.config import Settings
    from spatial.db import make_engine
    from spatial.grid.build import build_grid
    from tests.live import live_server

    url = make_database("onemap_portal")
    engine = make_engine(url, pool_size=2)
    migrate.upgrade(engine)
    settings = Settings(database_url=url, var_dir=tmp_path_factory.mktemp("portal-var"), port=0)
    load_demo(engine, settings, size="small", seed=42, imagery=True, console=None, principal=local_operator())
    build_grid(engine, principal=local_operator())
    with engine.begin() as conn:
        register_grid_layers(conn)
        code = conn.execute(text("SELECT code FROM grid.current_cell ORDER BY code LIMIT 1")).scalar_one()
        scene = conn.execute(text("SELECT storage_path FROM catalog.layer WHERE id = 'demo_imagery'")).scalar_one()
    later = tmp_path_factory.mktemp("portal-scene") / "later.tif"
    with rasterio.open(scene) as src:
        profile = {**src.profile, "driver": "GTiff"}
        pixels = src.read()
        rows, cols = pixels.shape[1] // 3, pixels.shape[2] // 3
        pixels[:, rows : 2 * rows, cols : 2 * cols] = np.percentile(pixels, 99, axis=(1, 2)).astype(pixels.dtype)[:, None, None]
        with rasterio.open(later, "w", **profile) as dst:
            dst.write(pixels)
            dst.descriptions, dst.scales = src.descriptions, src.scales
    add_scene(engine, settings, later, layer="demo_imagery", scene_id="later",
              acquired=dt.datetime(2026, 6, 1, tzinfo=dt.UTC))  # fmt: skip
    try:
        with live_server(settings) as base:
            yield base, str(code)
    finally:
        engine.dispose()


def test_search_a_unit_cell_code(portal_city: tuple[str, str]) -> None:
    base, code = portal_city
    cell = httpx.get(f"{base}/ogc/collections/unit_grid/items",
                     params={"f": "json", "code": code, "limit": 1}, timeout=30).json()["features"][0]  # fmt: skip
    from shapely.geometry import shape

    with browser_page(DESKTOP) as (page, problems):
        open_portal(page, base)
        found = search(page, code)
        assert found["kind"] == "cell" and code in found["label"]
        centre = shape(cell["geometry"]).centroid
        assert shape(cell["geometry"]).buffer(1e-4).contains(shape({"type": "Point", "coordinates": map_center(page)}))
        assert abs(found["lon"] - centre.x) < 1e-3 and abs(found["lat"] - centre.y) < 1e-3
        assert page.evaluate("() => window.onemapMap.getZoom()") >= 16
        screenshot(page, "unit-cell")
    assert problems == [], problems


# ---------------------------------------------------------------------------------- identify
def test_identify_a_building_shows_aliased_fields(portal) -> None:
    from shapely.geometry import shape

    page, problems, base = portal
    fc = httpx.get(f"{base}/ogc/collections/buildings/items",
                   params={"f": "json", "limit": 1, "bbox": "108.935,34.255,108.945,34.265"}, timeout=30).json()  # fmt: skip
    building = fc["features"][0]
    point = shape(building["geometry"]).representative_point()
    open_portal(page, base, f"#18/{point.y:.7f}/{point.x:.7f}/l=admin_divisions,buildings/b=demo_imagery")
    wait_drawn(page, "buildings")
    settle(page)
    xy = page.evaluate("([lat, lon]) => { const p = window.onemapMap.latLngToContainerPoint([lat, lon]); return [p.x, p.y]; }",
                       [point.y, point.x])  # fmt: skip
    box = page.locator("#map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])
    page.wait_for_selector(".leaflet-popup-content .pt-identify", timeout=30_000)
    shown = page.evaluate("() => window.onemapIdentify")
    assert shown["layer"] == "buildings" and shown["id"] == building["id"], shown
    labels = {row["name"]: row["label"] for row in shown["rows"]}
    assert labels["use"] == "用途" and labels["floors"] == "层数" and labels["height_m"] == "高度"
    assert all(row["aliased"] for row in shown["rows"]), "no raw field name where an alias is known"
    popup = page.inner_text(".leaflet-popup-content")
    assert "示范市建筑物" in popup and "height_m" not in popup and "community_code" not in popup
    assert f"{building['properties']['height_m']} m" in popup, popup
    screenshot(page, "identify")
    assert problems == [], problems


def test_identify_on_the_imagery_gives_its_pixel_values(portal) -> None:
    page, problems, base = portal
    open_portal(page, base, "#16/34.2600/108.9400/l=/b=demo_imagery")
    settle(page)
    expected = httpx.get(f"{base}/api/v1/imagery/demo_imagery/point", timeout=30,
                         params={"lon": 108.94, "lat": 34.26}).json()["results"][0]["values"]  # fmt: skip
    box = page.locator("#map").bounding_box()
    assert box is not None
    xy = page.evaluate("() => { const p = window.onemapMap.latLngToContainerPoint([34.26, 108.94]); return [p.x, p.y]; }")
    page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])
    page.wait_for_selector(".leaflet-popup-content .pt-identify", timeout=30_000)
    shown = page.evaluate("() => window.onemapIdentify")
    assert shown["layer"] == "demo_imagery"
    labels = {row["name"]: row["label"] for row in shown["rows"]}
    assert labels["nir"] == "近红外波段" and set(expected) <= set(labels)
    assert problems == [], problems


# ---------------------------------------------------------------------------------- downloads and metadata
def test_download_links_give_a_geopackage_and_the_metadata_record(portal, tmp_path: Path) -> None:
    import pyogrio

    page, problems, base = portal
    open_portal(page, base)
    page.click(".pt-layer[data-layer=emergency_facilities] .pt-more")
    links = page.locator(".pt-layer[data-layer=emergency_facilities] .pt-details")
    assert links.is_visible()
    formats = links.locator("a.pt-download").evaluate_all("(as) => as.map(a => a.dataset.format)")
    assert formats == ["gpkg", "shp", "csv", "geojson"]
    href = links.locator("a.pt-download[data-format=gpkg]").get_attribute("href")
    assert href is not None and href.endswith("/api/v1/layers/emergency_facilities/download?f=gpkg")
    response = page.request.get(href)
    assert response.status == 200
    path = tmp_path / "emergency_facilities.gpkg"
    path.write_bytes(response.body())
    info = pyogrio.read_info(path)
    assert info["features"] == 116 and info["geometry_type"] == "Point"
    meta = links.locator("a.pt-meta").get_attribute("href")
    assert meta == "/records/collections/catalog/items/emergency_facilities"
    record = page.request.get(base + meta, headers={"Accept": "application/json"})
    assert record.status == 200
    assert problems == [], problems


# ---------------------------------------------------------------------------------- time
def test_time_slider_sets_the_items_datetime(portal, demo_reader: dict[str, str]) -> None:
    page, problems, base = portal
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/collections/aq_readings/items" in r.url else None)
    open_portal(page, base)
    page.fill(".om-auth .om-token", demo_reader["Authorization"].removeprefix("Bearer "))
    with page.expect_navigation():
        page.click(".om-auth .om-signin")
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)
    assert "test reader" in page.inner_text(".om-auth")
    with page.expect_navigation():
        page.evaluate("(h) => { window.location.hash = h; window.location.reload(); }", "#13/34.2600/108.9400/l=aq_readings/b=demo_imagery")
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)
    page.wait_for_selector("#time", state="visible")
    wait_drawn(page, "aq_readings")
    settle(page)
    first = _datetime_of(asked[-1])
    layer = httpx.get(f"{base}/api/v1/layers/aq_readings", headers=demo_reader, timeout=30).json()
    assert first.endswith("/" + layer["time_end"][:19] + "Z") or first.startswith(layer["time_end"][:13]), first
    assert page.locator(".pt-layer[data-layer=aq_readings] .pt-legend li").count() == 6  # the AQI classes
    page.focus("#time-range")
    for _ in range(3):
        page.keyboard.press("ArrowLeft")
    page.wait_for_function("(n) => window.Portal.lastItems.aq_readings && !window.Portal.lastItems.aq_readings.includes(n)",
                           arg=quote(first, safe=""), timeout=30_000)  # fmt: skip
    settle(page)
    second = _datetime_of(asked[-1])
    start, end = (s.replace("Z", "+00:00") for s in second.split("/"))
    from datetime import datetime

    assert (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() == 3599
    assert second != first and start < first.split("/")[0].replace("Z", "+00:00")
    assert wait_drawn(page, "aq_readings") == 8  # one reading per station and hour
    assert "t=" in page.evaluate("() => window.location.hash")
    screenshot(page, "time")
    assert problems == [], problems


def _datetime_of(url: str) -> str:
    return parse_qs(urlparse(url).query)["datetime"][0]


# ---------------------------------------------------------------------------------- imagery
def test_scene_picker_and_swipe(portal) -> None:
    """The demo has one imagery scene: the picker lists it, and the swipe shows it on both sides."""
    page, problems, base = portal
    tiles: list[str] = []
    page.on("request", lambda r: tiles.append(r.url) if "/tiles/demo_imagery/" in r.url else None)
    open_portal(page, base)
    page.wait_for_function("() => document.getElementById('scene') && document.getElementById('scene').dataset.count")
    options = page.locator("#scene option").evaluate_all("(os) => os.map(o => o.value)")
    assert options == ["", "demo_scene"]
    tiles.clear()
    page.select_option("#scene", "demo_scene")
    page.wait_for_function("() => window.location.hash.includes('s=demo_scene')")
    page.wait_for_timeout(500)
    assert tiles and all("scene=demo_scene" in url for url in tiles)
    page.click(".pt-tool[data-tool=swipe]")
    page.wait_for_function("() => window.onemapSwipe")
    assert page.locator("#swipe-left option").count() == 1
    assert "只有一期" in page.inner_text(".pt-swipe-note")
    page.wait_for_function(
        "() => ['pt-swipe-left', 'pt-swipe-right'].every(p => window.onemapMap.getPane(p).querySelector('img.leaflet-tile-loaded'))",
        timeout=60_000,
    )
    before = page.evaluate("() => window.onemapMap.getPane('pt-swipe-right').style.clip")
    assert before.startswith("rect(")
    page.focus(".pt-swipe-range")
    for _ in range(20):
        page.keyboard.press("ArrowRight")
    after = page.evaluate("() => window.onemapMap.getPane('pt-swipe-right').style.clip")
    assert after != before and page.evaluate("() => window.onemapSwipe.ratio") > 0.5
    left = page.evaluate("() => window.onemapMap.getPane('pt-swipe-left').style.clip")
    assert _clip_x(left, 1) == pytest.approx(_clip_x(after, 3), abs=1), (left, after)
    screenshot(page, "swipe")
    page.keyboard.press("Escape")
    assert page.evaluate("() => window.onemapSwipe") is None
    assert problems == [], problems


def test_swipe_between_two_scenes(portal_city: tuple[str, str]) -> None:
    base, _ = portal_city
    with browser_page(DESKTOP) as (page, problems):
        open_portal(page, base)
        page.wait_for_function("() => document.getElementById('scene') && document.getElementById('scene').dataset.count")
        options = page.locator("#scene option").evaluate_all("(os) => os.map(o => o.value)")
        assert options == ["", "later", "demo_scene"], "latest first"
        page.click(".pt-tool[data-tool=swipe]")
        page.wait_for_function("() => window.onemapSwipe")
        swipe = page.evaluate("() => window.onemapSwipe")
        assert (swipe["left"], swipe["right"]) == ("demo_imagery|later", "demo_imagery|demo_scene")
        page.wait_for_function(
            "() => ['pt-swipe-left', 'pt-swipe-right'].every(p => window.onemapMap.getPane(p).querySelector('img.leaflet-tile-loaded'))",
            timeout=60_000,
        )
        sources = page.evaluate(
            "() => ['pt-swipe-left', 'pt-swipe-right'].map(p => [...window.onemapMap.getPane(p).querySelectorAll('img')].map(i => i.src))"
        )
        assert sources[0] and all("scene=later" in src for src in sources[0])
        assert sources[1] and all("scene=demo_scene" in src for src in sources[1])
        middle = [src for src in sources[0] if "/14/" in src] or sources[0]
        tile = middle[len(middle) // 2]
        assert httpx.get(tile, timeout=30).content != httpx.get(tile.replace("scene=later", "scene=demo_scene"), timeout=30).content
        page.select_option("#swipe-right", "demo_imagery|later")
        page.wait_for_function("() => window.onemapSwipe.right === 'demo_imagery|later'")
        page.select_option("#swipe-right", "demo_imagery|demo_scene")
        page.wait_for_function(
            "() => ['pt-swipe-left', 'pt-swipe-right'].every(p => { const imgs = [...window.onemapMap.getPane(p).querySelectorAll('img')];"
            " return imgs.length && imgs.every(i => i.classList.contains('leaflet-tile-loaded')); })",
            timeout=60_000,
        )
        assert not page.evaluate("() => window.onemapMap.hasLayer(window.Portal.base.layer)"), "the base map steps aside"
        screenshot(page, "swipe-two-scenes")
        page.keyboard.press("Escape")
        assert page.evaluate("() => window.onemapMap.hasLayer(window.Portal.base.layer)"), "and comes back"
    assert problems == [], problems


def _clip_x(clip: str, index: int) -> float:
    return float(clip[clip.index("(") + 1 : clip.index(")")].split(",")[index].strip().removesuffix("px"))


# ---------------------------------------------------------------------------------- measure
def test_measure_distance_and_area_geodesically(portal) -> None:
    from pyproj import Geod

    page, problems, base = portal
    open_portal(page, base, "#15/34.2600/108.9400/l=/b=demo_imagery")
    settle(page)
    box = page.locator("#map").bounding_box()
    assert box is not None
    page.click(".pt-tool[data-tool=measure-line]")
    corners = [(300, 300), (900, 300), (900, 650)]
    for x, y in corners[:2]:
        page.mouse.click(box["x"] + x, box["y"] + y)
    points = page.evaluate("() => window.onemapMeasure.points")
    geod = Geod(ellps="WGS84")
    expected = geod.inv(points[0][0], points[0][1], points[1][0], points[1][1])[2]
    measured = page.evaluate("() => window.onemapMeasure.metres")
    assert measured == pytest.approx(expected, abs=0.01)
    assert expected > 1000 and "km" in page.inner_text(".pt-result")
    page.click(".pt-tool[data-tool=measure-area]")
    for x, y in corners:
        page.mouse.click(box["x"] + x, box["y"] + y)
    points = page.evaluate("() => window.onemapMeasure.points")
    area, _ = geod.polygon_area_perimeter([p[0] for p in points], [p[1] for p in points])
    assert page.evaluate("() => window.onemapMeasure.square_metres") == pytest.approx(abs(area), rel=1e-5)
    assert "面积" in page.inner_text(".pt-result")
    screenshot(page, "measure")
    page.keyboard.press("Escape")
    assert problems == [], problems


# ---------------------------------------------------------------------------------- URL and zoom message
def test_the_url_keeps_the_view_and_layers(portal) -> None:
    page, problems, base = portal
    open_portal(page, base)
    page.evaluate("() => { window.onemapMap.setView([34.25, 108.95], 16, { animate: false }); }")
    page.check(".pt-layer[data-layer=pois] input[type=checkbox]")
    page.uncheck(".pt-layer[data-layer=roads] input[type=checkbox]")
    settle(page)
    saved = page.evaluate("() => window.location.hash")
    assert saved.startswith("#16/34.2500") and "pois" in saved and "roads" not in saved
    page.reload(wait_until="domcontentloaded")
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)
    assert page.evaluate("() => window.onemapMap.getZoom()") == 16
    cx, cy = map_center(page)
    assert abs(cx - 108.95) < 1e-4 and abs(cy - 34.25) < 1e-4
    assert page.is_checked(".pt-layer[data-layer=pois] input[type=checkbox]")
    assert not page.is_checked(".pt-layer[data-layer=roads] input[type=checkbox]")
    wait_drawn(page, "pois")
    assert problems == [], problems


def test_a_layer_too_dense_for_the_zoom_says_so_and_zooms_in(portal) -> None:
    page, problems, base = portal
    open_portal(page, base)
    settle(page)
    page.focus("#ov-buildings")
    page.keyboard.press("Space")  # by keyboard: the panel is rebuilt, the focus stays
    note = page.locator("#zoom-note .pt-note-row[data-layer=buildings]")
    note.wait_for(state="visible")
    assert "放大" in note.inner_text() and "示范市建筑物" in note.inner_text()
    assert "放大到" in page.inner_text(".pt-layer[data-layer=buildings] .pt-state")
    assert page.evaluate("() => document.activeElement.id") == "ov-buildings"
    assert page.is_checked("#ov-buildings")
    screenshot(page, "zoom-message")
    zoom = page.evaluate("() => window.onemapMap.getZoom()")
    note.locator("button").click()
    drawn = wait_drawn(page, "buildings", 50)
    settle(page)
    assert page.evaluate("() => window.onemapMap.getZoom()") > zoom and drawn >= 50
    assert not page.locator("#zoom-note .pt-note-row[data-layer=buildings]").is_visible()
    assert math.isfinite(drawn)
    assert problems == [], problems


def test_english(portal) -> None:
    page, problems, base = portal
    open_portal(page, base)
    page.click("#lang")
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    text = page.inner_text("#panel")
    assert "Emergency" in text and "Base map" in text
    assert page.get_attribute("#search-q", "placeholder") == "Address, place, grid or lon,lat"
    assert problems == [], problems


def test_english_header_fits_a_phone(demo_server: str) -> None:
    with browser_page(PHONE) as (phone, trouble):
        phone.goto(f"{demo_server}/", wait_until="domcontentloaded")
        phone.evaluate("() => localStorage.setItem('onemap.lang', 'en')")
        open_portal(phone, demo_server)
        bar = phone.locator(".om-bar").bounding_box()
        assert bar is not None and bar["height"] <= 56, "the English header breaks over lines on a phone"
        for selector in ("#lang", ".om-auth .om-signin", "#panel-toggle", ".pt-go"):
            box = phone.locator(selector).bounding_box()
            assert box is not None and box["x"] + box["width"] <= PHONE[0], selector
        go, toggle = phone.locator(".pt-go").bounding_box(), phone.locator("#panel-toggle").bounding_box()
        assert go is not None and toggle is not None and go["x"] + go["width"] <= toggle["x"], "search and layers overlap"
        phone.wait_for_function(
            "() => [...document.querySelectorAll('.leaflet-tile-pane img.leaflet-tile-loaded')].length >= 4", timeout=60_000
        )
        screenshot(phone, "phone-en")
    assert trouble == [], trouble
