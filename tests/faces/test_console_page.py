"""The command-centre console (/console) in headless Chromium: the supervision centre registers a
reported case with the keyboard, the command centre dispatches it to the routed department, a
conflict (someone else moved the case) is shown and the case reloaded, a viewer is offered no
action, hostile text stays text; screenshots on a desktop and a phone (tests/artifacts/faces)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from layers.catalog import upsert_department
from spatial.config import PROJECT_ROOT
from tests.browser import browser_page
from tests.incidents import conftest as incident_fixtures
from tests.incidents.conftest import GUIYI, IncidentCity, png_bytes

incident_city = incident_fixtures.incident_city  # the served demo city with a token per workflow role
ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts" / "faces"
HOSTILE = "<img src=x onerror=alert(1)>"


def file_case(city: IncidentCity, description: str, shift: float = 0.0, category: str = "0101") -> int:
    """A case filed by an inspector through the API; its id."""
    body = {"category_code": category, "description": description, "lon": GUIYI[0] + shift, "lat": GUIYI[1] + shift / 2,
            "source": "inspector"}  # fmt: skip
    answer = httpx.post(f"{city.base}/api/v1/incidents", json=body, headers=city.auth("inspector"), timeout=30)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def act(city: IncidentCity, role: str, incident: int, **body: Any) -> None:
    answer = httpx.post(f"{city.base}/api/v1/incidents/{incident}/transitions", json=body, headers=city.auth(role), timeout=30)
    assert answer.status_code == 200, answer.text


def street_of(city: IncidentCity, incident: int) -> str:
    with city.engine.connect() as conn:
        return str(conn.execute(text("SELECT street_code FROM incidents.incident WHERE id = :id"), {"id": incident}).scalar_one())


def make_overdue(city: IncidentCity, incident: int) -> None:
    """The stage's deadline two hours ago (as if time had passed): a red light."""
    with city.engine.begin() as conn:
        conn.execute(text("UPDATE incidents.incident SET stage_due_at = now() - interval '2 hours' WHERE id = :id"),
                     {"id": incident})  # fmt: skip


def state_of(city: IncidentCity, incident: int) -> tuple[str, str]:
    with city.engine.connect() as conn:
        row = conn.execute(text("SELECT state, department_code FROM incidents.incident WHERE id = :id"), {"id": incident}).one()
    return str(row[0]), str(row[1])


def sign_in(page: Any, city: IncidentCity, role: str) -> None:
    """Through the top bar: the token goes to POST /api/v1/session, the page reloads signed in."""
    page.goto(f"{city.base}/console", wait_until="networkidle")
    if page.locator(".om-token").is_hidden():  # someone else is signed in: sign out first
        with page.expect_navigation():
            page.click(".om-signin")
    page.fill(".om-token", city.tokens[role])
    with page.expect_navigation():
        page.press(".om-token", "Enter")
    page.wait_for_function(f"() => document.querySelector('.om-who').textContent.includes({role!r})")


UNNAMED_CONTROLS = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter(c => !c.hidden && c.offsetParent !== null)
  .filter(c => !(c.getAttribute('aria-label') || (c.labels && c.labels.length) || c.textContent.trim() || c.title))
  .map(c => c.outerHTML.slice(0, 80))"""


def wait_row(page: Any, incident: int) -> None:
    page.wait_for_selector(f'#rows tr[data-id="{incident}"]')


def open_case(page: Any, incident: int, state: str = "") -> None:
    """Click the case's row; wait until its detail (in ``state``, the Chinese name, when given) is shown."""
    page.click(f'#rows tr[data-id="{incident}"]')
    page.wait_for_function(f"() => document.getElementById('case-title').textContent.startsWith('#{incident} ')"
                           f" && document.getElementById('case-title').textContent.endsWith({state!r})")  # fmt: skip


def expected_refusals(problems: list[str]) -> list[str]:
    """The problems other than the one 409 the conflict step provokes on purpose (Chromium logs it)."""
    return [p for p in problems if "409" not in p]


def test_console_register_dispatch_conflict(incident_city: IncidentCity) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    city = incident_city
    case = file_case(city, "井盖缺失，行人易跌落")
    hostile = file_case(city, HOSTILE, shift=0.002, category="0107")
    late = file_case(city, "道路积水", shift=0.004, category="0103")
    with city.engine.begin() as conn:  # a department with no case and no category: 派遣 offers it all the same
        upsert_department(conn, "gas_console", f"燃气公司{HOSTILE}", "Gas company")
    dialogs: list[str] = []
    with browser_page(viewport=(1280, 800)) as (page, problems):

        def on_dialog(dialog: Any) -> None:  # an alert() would mean injected script ran
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        # anonymous: asked to sign in, nothing requested that would be refused
        page.goto(f"{city.base}/console", wait_until="networkidle")
        assert page.is_visible("#signin-note") and page.is_hidden("#queues-pane")
        # the supervision centre (受理员): the reported cases wait in 待受理
        sign_in(page, city, "supervisor")
        wait_row(page, case)
        assert page.get_attribute("#tab-register", "aria-selected") == "true"
        assert page.is_visible("#case-empty") and page.is_hidden("#case")  # no case open yet: a hint
        page.screenshot(path=str(ARTIFACTS / "console-desktop-queue.png"))
        assert page.inner_text(f'#rows tr[data-id="{hostile}"] .cc-col-desc') == HOSTILE
        assert page.locator("#rows img, #case img[src='x']").count() == 0
        # keyboard only: j/k to the case, Enter opens it, R registers it (立案)
        page.wait_for_function("() => document.activeElement && document.activeElement.closest('#rows')")
        for _ in range(20):
            if page.evaluate("() => document.activeElement.getAttribute('data-id')") == str(case):
                break
            page.keyboard.press("j")
        page.keyboard.press("Enter")
        page.wait_for_function(f"() => document.getElementById('case-title').textContent.startsWith('#{case} ')")
        offered = page.eval_on_selector_all("#actions button", "bs => bs.map(b => b.dataset.action)")
        assert "register" in offered and "not_register" in offered and "dispatch" not in offered, offered
        assert "R" in page.inner_text('#actions button[data-action="register"]')
        page.keyboard.press("r")
        page.wait_for_function("() => document.getElementById('case-message').textContent.includes('已立案')")
        assert state_of(city, case)[0] == "registered"
        # the hostile case opened: its description is text in the detail too; 不予立案 needs a reason
        open_case(page, hostile)
        assert HOSTILE in page.inner_text("#case-facts")
        assert page.locator("#case-facts img").count() == 0
        page.keyboard.press("n")
        page.wait_for_selector("#form-reason:focus")
        page.keyboard.type("非城市管理问题")
        page.keyboard.press("Control+Enter")
        page.wait_for_function("() => document.getElementById('case-message').textContent.includes('已不予立案')")
        assert state_of(city, hostile)[0] == "not_registered"
        assert "非城市管理问题" in page.inner_text("#case-events")
        # the command centre (派遣员): 待派遣, dispatch to the routed department it proposes
        routed = state_of(city, case)[1]
        act(city, "supervisor", late, action="register")
        make_overdue(city, late)
        sign_in(page, city, "commander")
        page.keyboard.press("2")
        wait_row(page, case)
        assert page.inner_text(f'#rows tr[data-id="{late}"] .om-light.red') == "超时"
        assert page.get_attribute("#rows tr:first-child", "data-id") == str(late)  # most urgent first
        open_case(page, case)
        page.wait_for_selector("#case-map path.leaflet-interactive")
        offered = page.eval_on_selector_all("#actions button", "bs => bs.map(b => b.dataset.action)")
        assert "dispatch" in offered and "register" not in offered, offered
        page.keyboard.press("d")
        page.wait_for_selector("#form-department")
        assert page.input_value("#form-department") == routed
        assert "建议" in page.inner_text("#form-department option:checked")
        gas = '#form-department option[value="gas_console"]'
        page.wait_for_selector(gas, state="attached")
        assert page.text_content(gas) == f"燃气公司{HOSTILE} · gas_console"
        assert page.input_value("#form-department") == routed  # still the proposed one
        page.screenshot(path=str(ARTIFACTS / "console-desktop.png"))
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.getElementById('case-message').textContent.includes('已派遣')")
        assert state_of(city, case) == ("dispatched", routed)
        page.wait_for_function(f"() => !document.querySelector('#rows tr[data-id=\"{case}\"]')")
        # someone else dispatches a case while it is open here: 409, said clearly, the case reloaded
        wait_row(page, late)
        open_case(page, late)
        page.wait_for_selector("#live.on")  # the live link (server-sent events) is up
        page.click('#actions button[data-action="dispatch"]')
        page.wait_for_selector("#form-department")
        assert page.evaluate(UNNAMED_CONTROLS) == []
        act(city, "commander", late, action="dispatch", department="enforcement")
        page.wait_for_function("() => document.getElementById('case-message').textContent.includes('刚被他人')")
        page.click("#form-submit")
        page.wait_for_function("() => document.getElementById('case-message').textContent.includes('已被他人处理，已重新加载')")
        assert "已派遣" in page.inner_text("#case-title")
        assert page.locator('#actions button[data-action="dispatch"]').count() == 0
    assert dialogs == []
    assert expected_refusals(problems) == [], problems
    assert state_of(city, late) == ("dispatched", "enforcement")


def test_console_viewer_reads_without_actions(incident_city: IncidentCity) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    city = incident_city
    case = file_case(city, "垃圾箱破损", shift=0.006, category="0107")
    elsewhere = file_case(city, "垃圾箱满溢", shift=0.001, category="0107")
    assert street_of(city, elsewhere) != street_of(city, case)
    with browser_page(viewport=(1280, 800)) as (page, problems):
        page.add_init_script("localStorage.setItem('onemap.lang', 'en')")  # and in English
        sign_in(page, city, "viewer")
        wait_row(page, case)
        open_case(page, case)
        assert page.locator("#actions button").count() == 0
        assert "Read only" in page.inner_text("#actions")
        assert page.locator("#case-events li").count() >= 1
        assert "To accept" in page.inner_text("#tabs")
        assert page.evaluate(UNNAMED_CONTROLS) == []  # a label (or words) on every control
        # the street filter narrows the queue to that street's cases
        before = page.locator("#rows tr").count()
        page.select_option("#f-street", street_of(city, case))
        page.wait_for_function(f"() => document.querySelectorAll('#rows tr').length < {before}")
        shown = page.eval_on_selector_all("#rows tr", "rs => rs.map(r => r.dataset.id)")
        assert str(case) in shown and all(street_of(city, int(i)) == street_of(city, case) for i in shown)
        page.select_option("#f-street", "")
        page.wait_for_function(f"() => document.querySelectorAll('#rows tr').length === {before}")
        page.fill("#f-q", f"#{case}")  # the case number finds the case
        page.wait_for_function(f"() => [...document.querySelectorAll('#rows tr')].map(r => r.dataset.id).join() === '{case}'")
        page.wait_for_selector("#case-map path.leaflet-interactive")
        page.screenshot(path=str(ARTIFACTS / "console-desktop-en.png"))
    assert problems == [], problems


def test_console_on_a_phone(incident_city: IncidentCity) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    city = incident_city
    case = file_case(city, "雨水箅子堵塞，路面积水约二十米", shift=0.008, category="0104")
    act(city, "supervisor", case, action="register")
    with browser_page(viewport=(390, 844)) as (page, problems):
        sign_in(page, city, "commander")
        page.click("#tab-dispatch")
        wait_row(page, case)
        open_case(page, case)
        page.click('#actions button[data-action="dispatch"]')
        page.wait_for_selector("#form-department")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        page.screenshot(path=str(ARTIFACTS / "console-phone.png"), full_page=True)
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
    assert problems == [], problems


def test_console_handling_verification_request_and_close(incident_city: IncidentCity, tmp_path: Path) -> None:
    """The handling department accepts and reports with a photo; 核查 request (assign_verifier) and
    结案 from the console; the handling photo shown."""
    city = incident_city
    photo = tmp_path / "done.png"
    photo.write_bytes(png_bytes((64, 48)))
    case = file_case(city, "上水井盖破损", shift=0.010)
    act(city, "supervisor", case, action="register")
    act(city, "commander", case, action="dispatch")
    assert state_of(city, case) == ("dispatched", "water")
    with browser_page(viewport=(1280, 800)) as (page, problems):
        # the handling department starts on its own cases in 处置中
        sign_in(page, city, "water")
        wait_row(page, case)
        assert page.get_attribute("#tab-handle", "aria-selected") == "true"
        assert page.input_value("#f-department") == "water"
        open_case(page, case, "已派遣")
        page.keyboard.press("g")
        page.wait_for_function("() => document.getElementById('case-message').textContent.includes('已接单')")
        page.keyboard.press("h")
        page.set_input_files("#form-photo", str(photo))
        page.fill("#form-reason", "已更换井盖")
        page.click("#form-submit")
        page.wait_for_function("() => document.getElementById('case-message').textContent.includes('已处置反馈')")
        assert state_of(city, case)[0] == "handled"
        sign_in(page, city, "supervisor")
        page.keyboard.press("4")
        wait_row(page, case)
        open_case(page, case)
        page.wait_for_function("() => [...document.querySelectorAll('#case-photos img')].some(i => i.complete && i.naturalWidth > 0)")
        page.keyboard.press("v")
        page.wait_for_function("() => document.querySelector('#form-verifier option[value=\"inspector\"]')")
        assert page.input_value("#form-verifier") == "inspector"  # the reporter is proposed
        page.select_option("#form-verifier", "inspector2")
        page.click("#form-submit")
        page.wait_for_function("() => document.getElementById('case-message').textContent.includes('核查派单')")
        assert "inspector2" in page.inner_text("#case-facts")
        with city.engine.connect() as conn:
            verifier = conn.execute(text("SELECT verifier FROM incidents.incident WHERE id = :id"), {"id": case}).scalar_one()
        assert verifier == "inspector2"
        act(city, "inspector2", case, action="verify")
        page.keyboard.press("5")
        wait_row(page, case)
        open_case(page, case, "已核查")
        page.keyboard.press("c")
        page.wait_for_function("() => document.getElementById('case-message').textContent.includes('已结案')")
        assert page.locator("#actions button").count() == 0
        assert page.locator("#case-events li").count() == 8  # report, register, dispatch, accept, handled, assign_verifier, verify, close
    assert state_of(city, case)[0] == "closed"
    assert problems == [], problems
