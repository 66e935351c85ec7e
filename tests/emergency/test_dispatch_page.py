"""The dispatcher's page /dispatch in Chromium: sign in as a command-centre dispatcher, take a call by
address, see the recommended units with their ETA, dispatch by keyboard, the unit board follows; no
console errors. Screenshots at 1280x800 and 390x844 in tests/artifacts/faces/ (not committed)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import text

from tests.browser import browser_page
from tests.conftest import PROJECT_ROOT
from tests.emergency.test_dispatch import DispatchCity, dispatch_city  # noqa: F401  (the served city)
from tests.reliability.conftest import demo_dump  # noqa: F401

ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts" / "faces"


def sign_in(page: Any, city: DispatchCity, role: str = "dispatcher") -> None:
    """Through the page's sign-in bar (the token goes to an HttpOnly cookie); the board loads."""
    page.goto(f"{city.base}/dispatch", wait_until="networkidle")
    page.fill(".om-token", city.tokens[role])
    page.click(".om-signin")
    page.wait_for_selector("#board tbody tr")


def _address(city: DispatchCity, offset: int) -> str:
    with city.engine.connect() as conn:
        return conn.execute(text("SELECT full_zh FROM basemap.address ORDER BY id LIMIT 1 OFFSET :o"),
                            {"o": offset}).scalar_one()  # fmt: skip


def _close_open_calls(city: DispatchCity) -> None:
    import httpx

    with httpx.Client(base_url=city.base + "/api/v1/dispatch", headers=city.auth("dispatcher"), timeout=60) as client:
        for call in client.get("/calls", params={"status": "open", "limit": 500}).json()["calls"]:
            client.post(f"/calls/{call['id']}/close", json={"outcome": "cancelled"})
        for unit in client.get("/units").json()["units"]:
            if unit["status"] == "returning":
                client.post(f"/units/{unit['id']}/status", json={"status": "available"})


@pytest.mark.parametrize("viewport", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_take_a_call_by_address_and_dispatch(dispatch_city: DispatchCity, viewport: tuple[int, int]) -> None:  # noqa: F811
    _close_open_calls(dispatch_city)
    words = _address(dispatch_city, 150 if viewport[0] > 700 else 250)
    with browser_page(viewport) as (page, problems):
        sign_in(page, dispatch_city)
        assert page.is_enabled("#take")
        page.keyboard.press("/")
        assert page.evaluate("document.activeElement.id") == "where"
        page.keyboard.type(words)
        page.keyboard.press("Enter")  # takes the call
        page.wait_for_selector("#advice li .dp-eta")
        message = page.text_content("#message") or ""
        assert "已接警" in message, message
        etas = page.locator("#advice .dp-eta").all_text_contents()
        assert len(etas) == 5 and all(re.match(r"\d+:\d\d · \d+\.\d km", e) for e in etas), etas
        first = (page.text_content("#advice li:first-child label") or "").split(" · ")[0][1:].strip()
        assert page.is_checked("#advice li:first-child input")
        page.locator("#advice input").first.focus()
        page.keyboard.press("2")  # tick the second as well
        page.keyboard.press("d")  # dispatch both
        page.wait_for_selector("#message:has-text('已派车')")
        sent = page.text_content("#message") or ""
        assert first and first in sent, (first, sent)
        page.wait_for_selector(f"#board tbody tr:has-text('{first}') .dp-status.en_route")
        page.wait_for_function("sent => document.querySelectorAll('#advice .dp-eta').length > 0 && "
                               "!document.querySelector('#advice').textContent.includes(sent + ' ·')", arg=first)  # fmt: skip
        assert page.locator("#calls li[aria-selected=true]").count() == 1
        page.wait_for_load_state("networkidle")
        assert page.locator(".leaflet-tile-loaded").count() > 0  # the imagery base from the catalog
        page.screenshot(path=str(ARTIFACTS / f"dispatch-{viewport[0]}x{viewport[1]}.png"), full_page=viewport[0] < 700)
        # the crew's arrival relayed from the board
        page.locator(f"#board tbody tr:has-text('{first}') button.dp-report").first.click()
        page.wait_for_selector(f"#board tbody tr:has-text('{first}') .dp-status.on_scene")
        page.click("#close-call")
        page.wait_for_selector("#message:has-text('已结束')")
        assert problems == [], problems
    _close_open_calls(dispatch_city)


def test_a_viewer_reads_but_cannot_take_calls(dispatch_city: DispatchCity) -> None:  # noqa: F811
    with browser_page((1280, 800)) as (page, problems):
        sign_in(page, dispatch_city, "fire_viewer")
        assert not page.is_enabled("#take") and not page.is_enabled("#where")
        assert "只读" in (page.text_content("#message") or "")
        assert page.locator("#board tbody tr").count() > 10
        page.wait_for_selector("#kpis:has-text('今日达标率')")
        page.click("#lang")  # English, kept for the browser
        page.wait_for_selector("#board tbody tr")
        assert page.text_content("#board-title span") == "Unit board"
        assert page.get_attribute("html", "lang") == "en" and "Read only" in (page.text_content("#message") or "")
        assert problems == [], problems


def test_anonymous_visitor_is_asked_to_sign_in(dispatch_city: DispatchCity) -> None:  # noqa: F811
    with browser_page((1280, 800)) as (page, problems):
        page.goto(f"{dispatch_city.base}/dispatch", wait_until="networkidle")
        assert page.is_visible(".om-token") and "请登录" in (page.text_content("#message") or "")
        assert problems == [], problems
