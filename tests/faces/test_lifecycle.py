"""The whole case lifecycle through the four faces, in headless Chromium (issue 16's "done when").

An inspector files two cases on the phone app (/inspector), one of them while the phone is
offline (kept in IndexedDB, sent when the network returns). The offline one then goes through the
console (/console) under three offices: the supervision centre registers it (立案), the command
centre dispatches it (派遣) to the routed department, that department accepts and reports it
handled with a photo (处置), the supervision centre sends the 核查 back to the inspector, who
verifies it on the phone (核查), and the supervision centre closes it (结案). The supervision screen
(/supervision) then counts it: its closed total and the department's row equal the KPI API's,
one more than before the lifecycle. Only the pages are used for the steps; the API and the
database are read to check them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from tests.browser import another_page, browser_page
from tests.faces.test_console_page import open_case, wait_row
from tests.faces.test_console_page import sign_in as console_sign_in
from tests.incidents import conftest as incident_fixtures
from tests.incidents.conftest import GUIYI, IncidentCity, png_bytes
from tests.incidents.test_inspector_page import pick_category, wait_ready
from tests.incidents.test_inspector_page import sign_in as inspector_sign_in

incident_city = incident_fixtures.incident_city
PHONE = (390, 844)
DESKTOP = (1280, 800)


def state_of(city: IncidentCity, incident: int) -> str:
    with city.engine.connect() as conn:
        return str(conn.execute(text("SELECT state FROM incidents.incident WHERE id = :id"), {"id": incident}).scalar_one())


def filed_with(city: IncidentCity, description: str) -> list[int]:
    with city.engine.connect() as conn:
        rows = conn.execute(text("SELECT id FROM incidents.incident WHERE description = :d"), {"d": description})
        return [int(r[0]) for r in rows]


def closed_per_department(city: IncidentCity, since: str, until: str) -> dict[str, int]:
    answer = httpx.get(f"{city.base}/api/v1/supervision/kpis", params={"by": "department", "since": since, "until": until},
                       headers=city.auth("supervisor"), timeout=30)  # fmt: skip
    assert answer.status_code == 200, answer.text
    return {str(g["key"]): int(g["closed"]) for g in answer.json()["groups"]}


def inspector_files(page: Any, code: str, description: str) -> None:
    pick_category(page, code, code)
    page.fill("#description", description)
    page.click("#submit")


def console_acts(page: Any, city: IncidentCity, role: str, queue_key: str, incident: int, key: str, done: str) -> None:
    """Signed in as ``role``: queue ``queue_key`` (1–6), open the case, press the action's key; wait for ``done``."""
    console_sign_in(page, city, role)
    page.keyboard.press(queue_key)
    wait_row(page, incident)
    open_case(page, incident)
    page.keyboard.press(key)
    if done:
        page.wait_for_function(f"() => document.getElementById('case-message').textContent.includes({done!r})")


def test_a_case_runs_through_the_four_faces(incident_city: IncidentCity, tmp_path: Path) -> None:
    city = incident_city
    online, offline = "全流程：在线上报的井盖", "全流程：离线上报的井盖"
    photo = tmp_path / "fixed.png"
    photo.write_bytes(png_bytes((64, 48)))
    today = dt.date.today()
    since, until = (today - dt.timedelta(days=40)).isoformat(), (today + dt.timedelta(days=1)).isoformat()
    closed_before = closed_per_department(city, since, until)

    with browser_page(viewport=PHONE) as (phone, phone_problems):
        desk, desk_problems = another_page(phone, DESKTOP)
        # --- the inspector app on a phone: one filing online, one offline
        phone.context.grant_permissions(["geolocation"], origin=city.base)
        phone.context.set_geolocation({"longitude": GUIYI[0] + 0.003, "latitude": GUIYI[1], "accuracy": 15})
        phone.goto(f"{city.base}/inspector", wait_until="networkidle")
        wait_ready(phone)
        inspector_sign_in(phone, city.tokens["inspector"])
        phone.click("#locate")
        phone.wait_for_function("() => document.getElementById('where').textContent.startsWith('108.94')")
        inspector_files(phone, "0101", online)
        phone.wait_for_function("() => /#\\d+/.test(document.getElementById('result').textContent)")
        phone.wait_for_function("() => navigator.serviceWorker && navigator.serviceWorker.controller !== null")
        phone.context.set_offline(True)
        phone.wait_for_selector("#net:not([hidden])")
        inspector_files(phone, "0101", offline)
        phone.wait_for_selector("#queued li")
        assert filed_with(city, offline) == []  # kept on the phone, nothing reached the server
        phone.context.set_offline(False)
        phone.wait_for_selector("#outbox", state="hidden")
        assert len(filed_with(city, online)) == 1
        (case,) = filed_with(city, offline)  # sent once
        assert state_of(city, case) == "reported"

        # --- the console: 立案 (supervision centre), 派遣 (command centre), 接单 + 处置 (the department)
        console_acts(desk, city, "supervisor", "1", case, "r", "已立案")
        assert state_of(city, case) == "registered"
        console_acts(desk, city, "commander", "2", case, "d", "")
        desk.wait_for_selector("#form-department")
        department = desk.input_value("#form-department")  # the routed department, proposed
        desk.keyboard.press("Enter")
        desk.wait_for_function("() => document.getElementById('case-message').textContent.includes('已派遣')")
        assert state_of(city, case) == "dispatched" and department == "water"
        console_acts(desk, city, "water", "3", case, "g", "已接单")
        desk.keyboard.press("h")
        desk.set_input_files("#form-photo", str(photo))
        desk.fill("#form-reason", "已更换井盖")
        desk.click("#form-submit")
        desk.wait_for_function("() => document.getElementById('case-message').textContent.includes('已处置反馈')")
        assert state_of(city, case) == "handled"
        # 核查派单 back to the inspector who filed it (proposed by the console)
        console_acts(desk, city, "supervisor", "4", case, "v", "")
        desk.wait_for_function("() => document.querySelector('#form-verifier option[value=\"inspector\"]')")
        assert desk.input_value("#form-verifier") == "inspector"
        desk.click("#form-submit")
        desk.wait_for_function("() => document.getElementById('case-message').textContent.includes('核查派单')")

        # --- back on the phone: the 核查 task is there; the inspector verifies it
        phone.click("#tab-verify")
        phone.click("#verify-refresh")
        card = phone.locator(f"#verify-list li[data-id='{case}']")
        card.wait_for()
        card.locator("button[data-action=verify]").click()
        phone.wait_for_function("() => document.getElementById('verify-message').textContent.includes('#')")
        assert state_of(city, case) == "verified"

        # --- 结案 in the console
        console_acts(desk, city, "supervisor", "5", case, "c", "")
        desk.wait_for_function(f"() => document.getElementById('case-title').textContent.startsWith('#{case} ')"
                               " && !document.querySelector('#actions button[data-action=close]')")  # fmt: skip
        assert state_of(city, case) == "closed"
        events = [e["action"] for e in httpx.get(f"{city.base}/api/v1/incidents/{case}/events",
                                                 headers=city.auth("supervisor"), timeout=30).json()["events"]]  # fmt: skip
        assert events[-7:] == ["register", "dispatch", "accept", "handled", "assign_verifier", "verify", "close"], events

        # --- the supervision screen counts it
        closed_after = closed_per_department(city, since, until)
        assert closed_after.get("water", 0) == closed_before.get("water", 0) + 1
        desk.goto(f"{city.base}/supervision?from={since}&to={until}", wait_until="networkidle")
        desk.wait_for_selector("#board[data-refreshes] #kpi-table")
        desk.click("#tab-department")
        desk.wait_for_selector("#kpi-table[data-by='department']")
        shown = desk.inner_text("[data-total='closed'] .sv-total-value")
        assert int(shown) == sum(closed_after.values()), (shown, closed_after)
        water = desk.get_attribute("#kpi-table tbody tr[data-key='water'] td[data-field='closed']", "data-value")
        assert water is not None and int(float(water)) == closed_after["water"]
    # the offline step's failed requests are by design (the outbox keeps the filing)
    assert [p for p in phone_problems if "ERR_INTERNET_DISCONNECTED" not in p] == [], phone_problems
    assert desk_problems == [], desk_problems
