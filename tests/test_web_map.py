"""The one-map page in headless Chromium: loads offline, lists the overlays, draws features; and
pygeoapi's map pages draw the imagery base map under the strict CSP."""

from __future__ import annotations

from pathlib import Path

from spatial.config import PROJECT_ROOT
from tests.browser import browser_page

SCREENSHOTS = PROJECT_ROOT / "var" / "screenshots"


def _wait_for_features(page, minimum: int = 10) -> int:
    page.wait_for_function(
        """(minimum) => {
            const map = window.onemapMap; if (!map) return false;
            let n = 0; map.eachLayer(l => { if (l.feature) n += 1; });
            return n >= minimum;
        }""",
        arg=minimum,
        timeout=60_000,
    )
    return page.evaluate("() => { let n = 0; window.onemapMap.eachLayer(l => { if (l.feature) n += 1; }); return n; }")


def test_map_page_loads_lists_overlays_and_draws(demo_server: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    external: list[str] = []
    with browser_page() as (page, problems):
        page.on("request", lambda req: external.append(req.url) if not req.url.startswith(demo_server) and not req.url.startswith("data:") else None)
        page.goto(f"{demo_server}/", wait_until="networkidle")
        drawn = _wait_for_features(page)
        _assert_opens_on_the_city(page)
        control = page.inner_text("#panel")
        # overlays grouped by department, zh-CN labels by default
        assert "自然资源和规划局" in control and "应急管理局" in control
        assert "行政区划" in control or "行政区" in control
        page.wait_for_timeout(500)
        shot = SCREENSHOTS / "onemap-zh.png"
        page.screenshot(path=str(shot))
        page.click("#lang")
        page.wait_for_load_state("networkidle")
        _wait_for_features(page)
        assert "Emergency" in page.inner_text("#panel")
        page.screenshot(path=str(SCREENSHOTS / "onemap-en.png"))
    assert drawn >= 10
    assert problems == [], problems
    assert external == [], f"the page reached outside the server: {external[:5]}"
    _assert_not_blank(shot)


def _assert_opens_on_the_city(page) -> None:
    """The initial view frames the city's extent (GET /api/v1/city), on the city's own imagery."""
    city = page.evaluate("() => window.onemapCity")
    west, south, east, north = page.evaluate(
        "() => { const b = window.onemapMap.getBounds(); return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; }"
    )
    minx, miny, maxx, maxy = city["extent"]
    assert west <= minx and south <= miny and east >= maxx and north >= maxy, (city["extent"], west, south, east, north)
    assert east - west < 4 * (maxx - minx) and north - south < 4 * (maxy - miny)
    assert page.evaluate("() => window.onemapBase") == city["default_base_layer"] == "demo_imagery"


def _assert_not_blank(path: Path) -> None:
    from PIL import Image, ImageStat

    image = Image.open(path).convert("RGB")
    stddev = ImageStat.Stat(image).stddev
    assert max(stddev) > 10, f"screenshot {path} looks blank"


def test_pygeoapi_map_pages_draw_the_base_map_under_the_strict_policy(demo_server: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    csp: list[str] = []
    with browser_page() as (page, problems):
        page.on("console", lambda msg: csp.append(msg.text) if "Content Security Policy" in msg.text else None)
        for name, path in (("items", "/ogc/collections/emergency_facilities/items?f=html"),
                           ("collection", "/ogc/collections/roads?f=html")):
            page.goto(demo_server + path, wait_until="networkidle")
            page.wait_for_selector(".leaflet-tile-loaded", timeout=60_000)
            shot = SCREENSHOTS / f"ogc-demo-{name}.png"
            page.screenshot(path=str(shot))
            _assert_not_blank(shot)
    assert csp == [], csp
    # the base map has no bounds on these pages: tiles outside the imagery are 404 by design
    outside = [p for p in problems if "/tiles/demo_imagery/" in p or "status of 404" in p]
    assert [p for p in problems if p not in outside] == [], problems
