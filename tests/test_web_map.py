"""The one-map page in headless Chromium: loads offline, lists the overlays, draws features."""

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
        control = page.inner_text(".leaflet-control-layers")
        # overlays grouped by department, zh-CN labels by default
        assert "自然资源和规划局" in control and "应急管理局" in control
        assert "行政区划" in control or "行政区" in control
        page.wait_for_timeout(500)
        shot = SCREENSHOTS / "onemap-zh.png"
        page.screenshot(path=str(shot))
        page.click("#lang")
        page.wait_for_load_state("networkidle")
        _wait_for_features(page)
        assert "Emergency" in page.inner_text(".leaflet-control-layers")
        page.screenshot(path=str(SCREENSHOTS / "onemap-en.png"))
    assert drawn >= 10
    assert problems == [], problems
    assert external == [], f"the page reached outside the server: {external[:5]}"
    _assert_not_blank(shot)


def _assert_not_blank(path: Path) -> None:
    from PIL import Image, ImageStat

    image = Image.open(path).convert("RGB")
    stddev = ImageStat.Stat(image).stddev
    assert max(stddev) > 10, f"screenshot {path} looks blank"
