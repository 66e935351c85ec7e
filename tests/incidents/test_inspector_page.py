"""The inspector page (/inspector) in headless Chromium: geolocation or a map click, category
picker, photo, signed in through the session cookie (or anonymous), filed through
POST /api/v1/incidents; and the grid and incidents on the one map."""

from __future__ import annotations

from sqlalchemy import text

from spatial.config import PROJECT_ROOT
from tests.browser import browser_page
from tests.incidents.conftest import GUIYI, IncidentCity, png_bytes

SCREENSHOTS = PROJECT_ROOT / "var" / "screenshots"


def stored(city: IncidentCity) -> int:
    with city.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM incidents.incident")).scalar_one())


def test_inspector_files_with_geolocation_and_photo(incident_city: IncidentCity, tmp_path) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    photo = tmp_path / "cover.png"
    photo.write_bytes(png_bytes((64, 48)))
    before = stored(incident_city)
    with browser_page(viewport=(390, 844)) as (page, problems):
        page.context.grant_permissions(["geolocation"], origin=incident_city.base)
        page.context.set_geolocation({"longitude": GUIYI[0], "latitude": GUIYI[1]})
        page.goto(f"{incident_city.base}/inspector", wait_until="networkidle")
        page.wait_for_function("() => document.querySelectorAll('#category option').length > 40")
        page.select_option("#category", "0101")
        page.click("#locate")
        page.wait_for_function("() => document.getElementById('lon').value !== ''")
        page.fill("#description", "井盖缺失，行人易跌落")
        page.set_input_files("#photo", str(photo))
        # sign in: the token goes to POST /api/v1/session and stays in an HttpOnly cookie
        page.fill("#token", incident_city.tokens["inspector"])
        page.click("#signin")
        page.wait_for_function("() => document.getElementById('who').textContent.includes('inspector')")
        assert page.evaluate("() => document.getElementById('token').value") == ""
        readable = page.evaluate("() => document.cookie + JSON.stringify(localStorage)")
        assert incident_city.tokens["inspector"] not in readable
        page.click("#submit")
        page.wait_for_selector("#result:not([hidden])")
        result = page.inner_text("#result")
        page.screenshot(path=str(SCREENSHOTS / "inspector.png"), full_page=True)
        # a second report placed by a map click, anonymous (signed out)
        page.click("#signin")
        page.wait_for_function("() => document.getElementById('who').textContent.includes('Not signed in')")
        assert "onemap_session" not in {c["name"] for c in page.context.cookies()}
        page.click("#map", position={"x": 150, "y": 120})
        page.wait_for_timeout(200)
        page.click("#submit")
        page.wait_for_function("() => document.getElementById('result').innerText.includes('#')")
    assert "已上报" in result and "610151" in result and "water" in result
    assert problems == [], problems
    assert stored(incident_city) == before + 2
    with incident_city.engine.connect() as conn:
        row = conn.execute(text("SELECT source, reported_by, (SELECT count(*) FROM incidents.photo p WHERE p.incident_id = i.id) "
                                "FROM incidents.incident i ORDER BY id DESC OFFSET 1 LIMIT 1")).one()  # fmt: skip
    assert row[0] == "inspector" and row[1] == "inspector" and row[2] == 1


def test_one_map_lists_grid_and_incidents(incident_city: IncidentCity) -> None:
    with browser_page() as (page, problems):
        page.goto(f"{incident_city.base}/", wait_until="networkidle")
        page.wait_for_selector(".leaflet-control-layers")
        control = page.inner_text(".leaflet-control-layers")
    assert "单元网格" in control and "城市管理案件" in control
