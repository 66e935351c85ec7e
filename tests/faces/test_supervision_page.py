"""The supervision screen (/supervision) in headless Chromium: the KPI tables hold what
GET /api/v1/supervision/kpis says for the page's period, one map marker per open case coloured by its
light, a transition made through the API reaches the open page through the event stream (no reload),
an anonymous visitor is asked to sign in, hostile names are text; screenshots at 1280x800, 1920x1080
and 390x844 in tests/artifacts/faces/."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from spatial.access.principal import local_operator
from spatial.config import PROJECT_ROOT, Settings
from spatial.db import make_engine
from tests.browser import browser_page
from tests.incidents import conftest as incidents
from tests.incidents.conftest import GUIYI, IncidentCity, png_bytes

incident_city = incidents.incident_city  # the served demo city with a token per workflow role

ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts" / "faces"
OPEN_STATES = "reported,registered,dispatched,handling,returned,handled,verified,suspended"
GROUPINGS = ("department", "street", "community", "cell", "inspector")
FIELDS = ("registered", "due", "closed", "closure_rate", "on_time_closure_rate", "rework_rate", "mean_handling_hours")
INSPECTOR_FIELDS = ("filed", "verified", "rework_ordered")
HOSTILE = '<img src=x onerror="window.__pwned=1">&amp;"'


def filed(city: IncidentCity, token: str, description: str = "井盖破损", at: tuple[float, float] = GUIYI,
          category: str = "0101") -> dict[str, Any]:  # fmt: skip
    """An incident filed by the token's inspector: its record (id, routed department_code ...)."""
    body = {"category_code": category, "description": description, "location": {"lon": at[0], "lat": at[1]},
            "source": "inspector"}  # fmt: skip
    response = httpx.post(f"{city.base}/api/v1/incidents", json=body, timeout=30,
                          headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()


def file(city: IncidentCity, token: str, description: str = "井盖破损", at: tuple[float, float] = GUIYI) -> int:
    return int(filed(city, token, description, at)["id"])


def act(city: IncidentCity, incident: int, role: str, action: str) -> None:
    url = f"{city.base}/api/v1/incidents/{incident}/transitions"
    if action == "handled":  # 处置反馈 needs a photo
        response = httpx.post(url, data={"action": action}, files={"photo": ("after.png", png_bytes(), "image/png")},
                              headers=city.auth(role), timeout=30)  # fmt: skip
    else:
        response = httpx.post(url, json={"action": action}, headers=city.auth(role), timeout=30)
    assert response.status_code == 200, response.text


WALK = [("supervisor", "register"), ("commander", "dispatch"), ("handler", "accept"), ("handler", "handled"),
        ("inspector2", "verify"), ("supervisor", "close")]  # fmt: skip


@pytest.fixture(scope="module")
def board(incident_city: IncidentCity) -> dict[str, Any]:
    """Cases for the screen: one filed by an inspector with a hostile name and description (registered),
    one registered and dispatched, one left reported, and one filed 30 days ago (red)."""
    from spatial.access.tokens import create_token
    from spatial.incidents.filing import IncidentReport, file_incident

    hostile = create_token(incident_city.engine, department_code="supervision", role="inspector", name=HOSTILE,
                           actor=local_operator()).secret  # fmt: skip
    marked = file(incident_city, hostile, description=HOSTILE, at=(GUIYI[0] + 0.004, GUIYI[1] + 0.003))
    act(incident_city, marked, "supervisor", "register")
    moving = file(incident_city, incident_city.tokens["inspector"], at=(GUIYI[0] - 0.004, GUIYI[1]))
    act(incident_city, moving, "supervisor", "register")
    act(incident_city, moving, "commander", "dispatch")
    waiting = file(incident_city, incident_city.tokens["inspector"], at=(GUIYI[0], GUIYI[1] - 0.004))
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    late = file_incident(incident_city.engine, IncidentReport("0102", "旧案", GUIYI[0] + 0.006, GUIYI[1] - 0.002),
                         principal=None, now=long_ago).id  # fmt: skip
    return {"marked": marked, "waiting": waiting, "late": late}


@pytest.fixture(scope="module")
def imagery_city(make_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IncidentCity]:
    """The demo city with its imagery (the screen's base layer), the grid, the categories and open cases of
    every light: the city the screenshots show."""
    from layers.demo.load import load_demo
    from spatial import migrate
    from spatial.access.tokens import create_token
    from spatial.grid.build import build_grid
    from spatial.incidents.categories import load_catalogue, read_catalogue
    from spatial.incidents.filing import IncidentReport, file_incident
    from tests.live import live_server

    url = make_database("onemap_supervision")
    engine = make_engine(url, pool_size=2)
    migrate.upgrade(engine)
    settings = Settings(database_url=url, var_dir=tmp_path_factory.mktemp("supervision-var"), port=0)
    load_demo(engine, settings, size="small", seed=42, imagery=True, console=None, principal=local_operator())
    build_grid(engine, principal=local_operator())
    load_catalogue(engine, read_catalogue(), principal=local_operator())
    tokens = {name: create_token(engine, department_code=dept, role=role, name=name, actor=local_operator()).secret
              for name, (dept, role) in incidents.ROLE_TOKENS.items()}  # fmt: skip
    with live_server(settings) as base:
        city = IncidentCity(url, settings, engine, base, tokens)
        for n in range(12):  # a ring of cases around the centre, at every step of the workflow
            at = (GUIYI[0] + 0.02 * math.cos(n / 2), GUIYI[1] + 0.015 * math.sin(n / 2))
            incident = filed(city, tokens["inspector"], description=f"巡查发现 {n}", at=at, category=("0101", "0102")[n % 2])
            for role, action in WALK[: n % 4 if n < 8 else len(WALK)]:  # the last four are closed
                act(city, incident["id"], incident["department_code"] if role == "handler" else role, action)
        for days in (30, 3):
            file_incident(engine, IncidentReport("0102", "逾期未受理", GUIYI[0] + 0.01, GUIYI[1] - 0.01 * days / 10),
                          principal=None, now=dt.datetime.now(dt.UTC) - dt.timedelta(days=days))  # fmt: skip
        yield city
    engine.dispose()


def sign_in(page: Any, city: IncidentCity, role: str = "supervisor") -> None:
    """Sign in through the page's sign-in bar (the token goes to an HttpOnly cookie), then the board loads."""
    page.goto(f"{city.base}/supervision", wait_until="networkidle")
    page.fill(".om-token", city.tokens[role])
    page.click(".om-signin")
    page.wait_for_selector("#board[data-refreshes] #kpi-table", timeout=30_000)


def api_groups(city: IncidentCity, by: str, since: str, until: str) -> dict[str, dict[str, Any]]:
    """The API's groups by key ("" for none); by inspector with each one's own work joined in."""
    response = httpx.get(f"{city.base}/api/v1/supervision/kpis", params={"by": by, "since": since, "until": until},
                         headers=city.auth("supervisor"), timeout=30)  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    groups = {"" if g["key"] is None else str(g["key"]): g for g in body["groups"]}
    for work in body.get("work", []):  # the inspectors' own work, when listed apart from the groups
        key = str(work.get("inspector", work.get("key")))
        groups[key] = groups.get(key, dict.fromkeys(FIELDS)) | {f: work[f] for f in INSPECTOR_FIELDS}
    return groups


def page_groups(page: Any, by: str) -> dict[str, dict[str, str]]:
    page.click(f"#tab-{by}")
    page.wait_for_selector(f"#kpi-table[data-by='{by}'], #kpi-panel .sv-empty")
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#kpi-table tbody tr')].map(tr =>
        [tr.dataset.key, Object.fromEntries([...tr.querySelectorAll('td[data-field]')].map(td =>
            [td.dataset.field, td.dataset.value]))]))""")


def same(shown: str, value: Any) -> bool:
    return shown == "" if value is None else float(shown) == pytest.approx(float(value))


def open_cases(city: IncidentCity) -> list[dict[str, Any]]:
    response = httpx.get(f"{city.base}/api/v1/incidents", params={"state": OPEN_STATES, "limit": 500},
                         headers=city.auth("supervisor"), timeout=30)  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["numberMatched"] == len(body["incidents"])
    return body["incidents"]


def markers(page: Any) -> dict[int, str]:
    return {int(k): v for k, v in page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#map path.sv-case')]
        .map(p => [p.dataset.id, p.getAttribute('class')]))""").items()}  # fmt: skip


def total(page: Any, key: str) -> str:
    return page.inner_text(f"[data-total='{key}'] .sv-total-value")


def test_kpis_map_and_live_refresh(incident_city: IncidentCity, board: dict[str, Any]) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with browser_page((1280, 800)) as (page, problems):
        sign_in(page, incident_city)
        since, until = page.get_attribute("#main", "data-since"), page.get_attribute("#main", "data-until")
        for by in GROUPINGS:
            shown, groups = page_groups(page, by), api_groups(incident_city, by, since, until)
            assert set(shown) == set(groups), by
            fields = FIELDS + (INSPECTOR_FIELDS if by == "inspector" else ())
            for key, group in groups.items():
                assert all(same(shown[key][f], group[f]) for f in fields), (by, group, shown[key])
        departments = api_groups(incident_city, "department", since, until).values()
        assert sum(g["registered"] for g in departments) == int(total(page, "registered"))
        cases = open_cases(incident_city)
        drawn = markers(page)
        assert set(drawn) == {c["id"] for c in cases} and len(page.query_selector_all("#map path.sv-case")) == len(cases)
        for case in cases:
            assert f"sv-case-{case['light'] or 'none'}" in drawn[case["id"]].split(), case
        assert "sv-case-red" in drawn[board["late"]].split()
        page.wait_for_selector("#live[data-state='on']")
        # live: registering the waiting case through the API reaches the page by the event stream
        registered, refreshes = int(total(page, "registered")), int(page.get_attribute("#board", "data-refreshes"))
        act(incident_city, board["waiting"], "supervisor", "register")
        page.wait_for_function(
            "([n, r]) => Number(document.querySelector(\"[data-total='registered'] .sv-total-value\").textContent) === n"
            " && Number(document.getElementById('board').dataset.refreshes) > r", arg=[registered + 1, refreshes],
            timeout=30_000)  # fmt: skip
        assert page.evaluate("() => performance.getEntriesByType('navigation').length") == 1  # no reload
        assert page.inner_text("#updated") not in ("", "—")
        page.screenshot(path=str(ARTIFACTS / "supervision-1280x800.png"), full_page=True)
    assert problems == [], problems


def test_hostile_names_are_text(incident_city: IncidentCity, board: dict[str, Any]) -> None:
    with browser_page((1280, 800)) as (page, problems):
        sign_in(page, incident_city)
        page_groups(page, "inspector")
        names = page.eval_on_selector_all("#kpi-table tbody th", "cells => cells.map(c => c.textContent)")
        assert HOSTILE in names
        page.dispatch_event(f"#map path.sv-case[data-id='{board['marked']}']", "click")
        page.wait_for_selector(".sv-popup")
        assert page.inner_text(".sv-popup p") == HOSTILE
        assert page.query_selector_all("img[src='x']") == []
        assert page.evaluate("() => window.__pwned") is None
    assert problems == [], problems


CONTRAST = """selectors => {
    const parse = c => { const p = c.match(/rgba?\\(([^)]+)\\)/)[1].split(',').map(Number); return {rgb: p.slice(0, 3), a: p.length > 3 ? p[3] : 1}; };
    const lum = rgb => rgb.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); })
        .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
    const behind = node => {  // the background colour behind a node: its and its ancestors' blended
        const layers = [];
        for (let n = node; n; n = n.parentElement) {
            const c = parse(getComputedStyle(n).backgroundColor);
            if (c.a > 0) { layers.push(c); if (c.a >= 1) break; }
        }
        return layers.reverse().reduce((base, l) => base.map((v, k) => l.rgb[k] * l.a + v * (1 - l.a)), [255, 255, 255]);
    };
    const low = [];
    for (const selector of selectors) for (const node of document.querySelectorAll(selector)) {
        if (!node.textContent.trim() || !node.getClientRects().length) continue;
        const a = lum(parse(getComputedStyle(node).color).rgb), b = lum(behind(node));
        const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        if (ratio < 4.5) low.push([selector, node.textContent.slice(0, 30), ratio.toFixed(2)]);
    }
    return low;
}"""
TEXTS = [".sv-field label", ".sv-chip", "#apply", "#live", ".sv-updated", ".sv-total-label", ".sv-total-value",
         ".sv-total-note", ".sv-card-head h2", ".sv-count", ".sv-tab", "#kpi-table th", "#kpi-table td",
         "#late-table th", "#late-table td", ".sv-legend-row span", ".sv-legend-row strong", ".om-light"]  # fmt: skip


def test_labels_keyboard_and_contrast(incident_city: IncidentCity, board: dict[str, Any]) -> None:
    with browser_page((1280, 800)) as (page, problems):
        sign_in(page, incident_city)
        unlabelled = page.evaluate("""() => [...document.querySelectorAll('#main input, #main button')]
            .filter(n => !(n.labels && n.labels.length) && !n.textContent.trim() && !n.getAttribute('aria-label'))
            .map(n => n.outerHTML)""")  # fmt: skip
        assert unlabelled == []
        assert page.evaluate(CONTRAST, TEXTS) == []  # WCAG AA: 4.5:1 for text
        page.focus("#tab-department")
        page.keyboard.press("ArrowRight")  # the tabs move with the arrow keys
        page.wait_for_selector("#kpi-table[data-by='street']")
        assert page.evaluate("() => document.activeElement.id") == "tab-street"
    assert problems == [], problems


def test_anonymous_visitor_is_asked_to_sign_in(incident_city: IncidentCity) -> None:
    with browser_page((1280, 800)) as (page, problems):
        page.goto(f"{incident_city.base}/supervision", wait_until="networkidle")
        page.wait_for_selector("#message:not([hidden])")
        assert "登录" in page.inner_text("#message")
        assert page.is_hidden("#board") and page.is_visible(".om-token")
    assert problems == [], problems


@pytest.mark.parametrize("viewport", [(1920, 1080), (390, 844)], ids=["1920x1080", "390x844"])
def test_screens(imagery_city: IncidentCity, viewport: tuple[int, int]) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with browser_page(viewport) as (page, problems):
        sign_in(page, imagery_city)
        page.wait_for_selector("#map path.sv-case")
        page.wait_for_selector("#trend svg")
        page.wait_for_function("() => [...document.querySelectorAll('#map img.leaflet-tile')].some(i => i.complete && i.naturalWidth)")
        page.wait_for_load_state("networkidle")
        # nothing wider than the screen: a phone reads one column
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        if viewport[0] >= 1500:  # the big screen fits one screen: the tables scroll, not the page
            assert page.evaluate("() => document.documentElement.scrollHeight <= window.innerHeight")
        page.screenshot(path=str(ARTIFACTS / f"supervision-{viewport[0]}x{viewport[1]}.png"), full_page=viewport[0] < 700)
    assert problems == [], problems
