"""The 3D view (/3d) in Debian's Chromium (WebGL through SwiftShader) against the demo city: CesiumJS
served by the app shows the city's imagery draped on the globe and the buildings' 3D Tiles over it,
coloured by height with a legend; a click on a building shows its attributes under the catalog's
field names; overlays lie on the ground; no console error, and every request goes to the test server
(no ion, no CDN). Screenshots go to tests/artifacts/faces/3d-*.png (not committed; looked at by a person)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from api.security import CSP, CSP_3D
from spatial.config import PROJECT_ROOT
from tests.browser import browser_page

ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts" / "faces"
DESKTOP = (1280, 800)
WEBGL = ["--enable-unsafe-swiftshader", "--use-angle=swiftshader"]  # software WebGL in headless Chromium
SCENE = (300, 60, 1270, 770)  # the part of the desktop window the layer panel and credits leave to the scene
SLOW = 240_000  # ms: SwiftShader draws the city on two shared cores


@pytest.fixture
def view(demo_server: str) -> Iterator[tuple[Any, list[str], str, set[str]]]:
    """A desktop page on /3d, its problems, the server's base URL and the hosts it sent requests to."""
    hosts: set[str] = set()
    with browser_page(DESKTOP, args=WEBGL) as (page, problems):
        page.on("request", lambda req: hosts.add(urlparse(req.url).netloc) if req.url.startswith("http") else None)
        page.set_default_timeout(SLOW)
        page.goto(f"{demo_server}/3d", wait_until="domcontentloaded")
        page.wait_for_selector("body[data-ready=true]", state="attached")
        yield page, problems, demo_server, hosts


def settle(page: Any) -> None:
    """Wait until the globe's, the buildings' and the overlays' tiles are all drawn."""
    page.wait_for_function("() => window.View3D.idle()", polling=500)
    page.evaluate("() => window.View3D.viewer.scene.requestRender()")
    page.wait_for_timeout(500)


def shot(page: Any, name: str) -> Any:
    """Screenshot to the artifacts folder; the scene part as a PIL image."""
    from PIL import Image

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path: Path = ARTIFACTS / f"3d-{name}.png"
    page.screenshot(path=str(path))
    return Image.open(io.BytesIO(path.read_bytes())).convert("RGB").crop(SCENE)


def changed(a: Any, b: Any, threshold: int = 40) -> float:
    """Share of the pixels that differ clearly between two renders of the same view."""
    from PIL import ImageChops

    diff = ImageChops.difference(a, b).convert("L").point(lambda v: 255 if v > threshold else 0)
    return float(diff.histogram()[255]) / (a.width * a.height)


def spread(image: Any) -> float:
    """Mean standard deviation of the three colour channels (0 for a uniform image)."""
    from PIL import ImageStat

    return float(sum(ImageStat.Stat(image).stddev) / 3)


def test_the_3d_view_shows_buildings_over_imagery_and_picks_them(
    view: tuple[Any, list[str], str, set[str]],
) -> None:
    page, problems, base, hosts = view
    state = page.evaluate("() => ({error: View3D.error, imagery: View3D.imagery, tiles: View3D.tilesetLayer,"
                          " colorBy: View3D.colorBy})")
    assert state["error"] is None and state["imagery"] == "demo_imagery", state
    assert state["tiles"] == "buildings" and state["colorBy"] == "height_m", state
    page.evaluate("() => View3D.lookAt(108.9411, 34.2598, 1800, -40, 20, 0)")
    settle(page)
    full = shot(page, "1280x800")
    legend = page.locator("#legend li").all_inner_texts()
    assert legend[0].strip() == "0 – 10 m" and any("≥ 100 m" in t for t in legend), legend

    # the same view without buildings, then without imagery: each adds to the picture
    page.uncheck("#buildings-on")
    settle(page)
    bare = shot(page, "no-buildings")
    page.select_option("#imagery", "")
    settle(page)
    blank = shot(page, "no-imagery")
    assert spread(bare) > 15, "the imagery is not draped (the ground is uniform)"
    assert changed(bare, blank) > 0.5, "hiding the imagery changed little: it was not drawn"
    assert changed(full, bare) > 0.15, "hiding the buildings changed little: they were not drawn"
    page.select_option("#imagery", "demo_imagery")
    page.check("#buildings-on")
    settle(page)

    # a click on a building: its attributes with the catalog's names and units, as text
    spot = page.evaluate("""() => {
        const s = View3D.viewer.scene, w = s.canvas.clientWidth, h = s.canvas.clientHeight;
        for (let y = 0.55; y < 0.95; y += 0.1) for (let x = 0.35; x < 0.95; x += 0.1) {
            const p = s.pick(new Cesium.Cartesian2(w * x, h * y));
            if (p instanceof Cesium.Cesium3DTileFeature) return [w * x, h * y];
        }
        return null; }""")
    assert spot, "no building under the scene's sample points"
    box = page.locator("#globe canvas").bounding_box()
    page.mouse.click(box["x"] + spot[0], box["y"] + spot[1])
    page.wait_for_selector("#pick:not([hidden])")
    names, values = page.locator("#pick-table th").all_inner_texts(), page.locator("#pick-table td").all_inner_texts()
    rows = dict(zip(names, values, strict=True))
    assert "高度" in rows and rows["高度"].endswith(" m") and "层数" in rows and "用途" in rows, rows
    assert page.locator("#pick-title").inner_text().startswith("示范市建筑物"), rows
    picked = page.evaluate("() => View3D.picked.properties")
    assert float(rows["高度"].split()[0]) == pytest.approx(picked["height_m"], abs=0.01)
    shot(page, "pick")

    # colour by use: a legend of the uses the tiles carry
    page.select_option("#color-by", "use")
    settle(page)
    uses = page.locator("#legend li").all_inner_texts()
    assert "residential" in [u.strip() for u in uses], uses

    # overlays on the ground: points and division outlines
    page.evaluate("() => Promise.all([View3D.showOverlay('emergency_facilities'), View3D.showOverlay('admin_divisions')])")
    settle(page)
    clamped = page.evaluate("""() => {
        const now = Cesium.JulianDate.now(), out = {};
        for (const id of ['emergency_facilities', 'admin_divisions']) {
            const es = View3D.overlays[id].source.entities.values;
            out[id] = [es.length, es.filter(e => (e.point && e.point.heightReference.getValue(now)
                === Cesium.HeightReference.CLAMP_TO_GROUND) || (e.polyline && e.polyline.clampToGround.getValue(now))).length];
        }
        return out; }""")
    for layer, (count, on_ground) in clamped.items():
        assert count > 0 and on_ground == count, (layer, clamped)
    page.evaluate("() => View3D.lookAt(108.9411, 34.2598, 9000, -60, 0, 0)")
    settle(page)
    shot(page, "overlays")

    assert problems == [], problems
    assert hosts == {urlparse(base).netloc}, hosts  # no ion, no CDN, no tile server elsewhere


def test_only_the_3d_page_has_the_relaxed_policy(demo_server: str) -> None:
    """/3d alone may evaluate strings (CesiumJS's bundle needs it); its assets and every other page keep CSP."""
    assert CSP_3D != CSP and "unsafe-inline" not in CSP_3D
    assert CSP_3D.replace(" 'unsafe-eval'", "").split("; ")[1] == "script-src 'self'"
    page = httpx.get(f"{demo_server}/3d", timeout=30)
    assert page.status_code == 200 and page.headers["content-security-policy"] == CSP_3D
    assert "<script>" not in page.text and " style=" not in page.text
    for path in ("/", "/3d/", "/static/3d/3d.js", "/static/vendor/cesium/Cesium.js", "/static/vendor/cesium/Workers/"
                 "createVerticesFromHeightmap.js"):
        assert httpx.get(demo_server + path, timeout=30).headers["content-security-policy"] == CSP, path


def test_the_3d_view_on_a_phone(demo_server: str) -> None:
    """The header stays one line, the panel starts folded over the scene and opens whole."""
    with browser_page((390, 844), args=WEBGL) as (page, problems):
        page.set_default_timeout(SLOW)
        page.goto(f"{demo_server}/3d", wait_until="domcontentloaded")
        page.wait_for_selector("body[data-ready=true]", state="attached")
        settle(page)
        assert page.locator(".om-bar").bounding_box()["height"] <= 50
        assert page.get_attribute("#panel-toggle", "aria-expanded") == "false"
        assert not page.locator("#imagery").is_visible()
        shot(page, "390x844")
        page.click("#panel-toggle")
        assert page.locator("#imagery").is_visible() and page.locator("#home").is_visible()
        page.evaluate("() => View3D.viewer.scene.requestRender()")
        page.wait_for_timeout(500)
        shot(page, "390x844-panel")
        assert problems == [], problems
