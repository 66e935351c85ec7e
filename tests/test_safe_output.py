"""Safe output (issue 13, deliverable 5): data never runs as script, one strict CSP, and the
staff token out of script's reach.

- pygeoapi's templates, as we serve them (api/ogc/templates.py), hold no inline script or style,
  no ``|safe``; a rendered page's data block is inert HTML that parses back to the same JSON;
- script filed in an incident description and stored in a layer's feature properties, shown on
  every pygeoapi HTML page that shows it (items list, item), does not run in Chromium and
  appears as text; pygeoapi's pages work with no CSP violation in the console;
- every HTML answer carries the one CSP, without 'unsafe-inline';
- sign-in sets an HttpOnly, SameSite=Strict session cookie; the cookie authenticates like the
  bearer header (the header wins, a bad cookie is 401 and cleared); a cookie-authenticated
  unsafe request without the CSRF proof, or from another Origin, is 403 with nothing changed.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import httpx
import pytest
import shapely
from sqlalchemy import text

from api.ogc.templates import (
    FORBIDDEN,
    PYGEOAPI_TEMPLATES,
    UnsafeTemplate,
    check_page,
    offline_templates,
)
from api.security import CSP
from api.session import CSRF_COOKIE, SESSION_COOKIE, csrf_token
from spatial.config import PROJECT_ROOT
from tests.browser import browser_page
from tests.incidents.conftest import GUIYI, IncidentCity, incident_city  # noqa: F401 - the fixture

SCREENSHOTS = PROJECT_ROOT / "var" / "screenshots"
LAYER = "xss_points"
# each sets window.__pwned (or opens a dialog) if it ever runs; each fits pygeoapi's 35-character cells
PAYLOADS = [
    "</script><svg onload=alert(1)>",
    "<img src=x onerror=alert(2)>",
    "'\"><script>__pwned=3</script>",
    "<!--<script>alert(4)//\u2028&amp;",
]
TITLE = "脚本<img src=x onerror=alert(5)>"  # the layer's title, description and keyword carry script too
MARKUP = re.compile(r"<(svg|img|script)\b[^>]*(onload|onerror|>__pwned)", re.I)


# ------------------------------------------------------------------------------ the templates
def test_no_template_keeps_inline_script_style_or_safe(tmp_path: Path) -> None:
    copy = offline_templates(tmp_path)
    pages = sorted(copy.rglob("*.html"))
    assert len(pages) == len(list(PYGEOAPI_TEMPLATES.rglob("*.html"))) > 20
    for page in pages:
        html = page.read_text(encoding="utf-8")
        check_page(html, page.name)  # raises on any construct of FORBIDDEN
        assert "<script>" not in html and "unpkg.com" not in html, page
    # the pages that showed data in a script now read it from a data block
    for name in ("collections/items/index.html", "collections/items/item.html", "collections/collection.html"):
        assert 'type="application/json" id="ogc-page"' in (copy / name).read_text(encoding="utf-8")


def test_our_own_pages_pass_the_same_guard() -> None:
    pages = sorted((PROJECT_ROOT / "api" / "web" / "templates").glob("*.html"))
    assert {p.name for p in pages} >= {"onemap.html", "inspector.html"}
    for page in pages:
        check_page(page.read_text(encoding="utf-8"), page.name)
    scripts = (PROJECT_ROOT / "api" / "web" / "static").glob("**/*.js")
    for script in scripts:
        if "vendor" not in script.parts:  # our scripts keep no token in script-readable storage
            assert not re.search(r"localStorage\.setItem\([^)]*token", script.read_text(encoding="utf-8")), script


@pytest.mark.parametrize("html", [
    "<script>alert(1)</script>", '<div style="color:red">', "<style>p{}</style>",
    '<img src=x onerror="alert(1)">', '<a href="javascript:alert(1)">', "{{ x | safe }}",
    "{% autoescape false %}{{ x }}{% endautoescape %}", '<script type="text/javascript">x()</script>',
])
def test_the_guard_refuses_each_unsafe_construct(html: str) -> None:
    with pytest.raises(UnsafeTemplate):
        check_page(html)
    assert len(FORBIDDEN) == 7


def _config(templates: Path) -> dict:
    return {"server": {"url": "http://x/ogc", "map": {"url": "/t/{z}/{x}/{y}.png", "attribution": "<b>a</b>"},
                       "templates": {"path": str(templates)}, "encoding": "utf-8", "language": "en",
                       "limits": {"default_items": 10}},
            "metadata": {"identification": {"title": "t", "keywords": [], "description": "d"},
                         "contact": {"email": "a@b"}}}  # fmt: skip


def test_rendered_data_block_is_inert_and_round_trips(tmp_path: Path) -> None:
    from pygeoapi.util import render_j2_template

    copy = offline_templates(tmp_path)
    feature = {"type": "Feature", "id": 7, "geometry": {"type": "Point", "coordinates": [108.9, 34.2]},
               "properties": {f"p{i}": p for i, p in enumerate(PAYLOADS)} | {"name": "井盖 & 路灯"},
               "links": [], "title": "t"}  # fmt: skip
    config = _config(copy)
    html = render_j2_template(config, config["server"]["templates"], "collections/items/item.html", feature, "en")
    block = re.search(r'<script type="application/json" id="ogc-page">(.*?)</script>', html, re.S)
    assert block is not None
    raw = block.group(1)
    assert "<" not in raw and ">" not in raw and "&" not in raw and "\u2028" not in raw
    assert json.loads(raw)["feature"]["properties"] == feature["properties"]
    assert MARKUP.search(html) is None, "a payload reached the page as markup"
    for payload in PAYLOADS:
        assert payload not in html.replace("\u2028", "")  # shown escaped (&lt;…) only


def test_job_pages_carry_results_as_inert_data(tmp_path: Path) -> None:
    """Job parameters and results were written with innerHTML from unescaped JSON; now data + textContent."""
    from pygeoapi.util import render_j2_template

    copy = offline_templates(tmp_path)
    config = _config(copy)
    result = {"value": PAYLOADS[0], "more": PAYLOADS[1]}
    html = render_j2_template(config, config["server"]["templates"], "jobs/results/index.html",
                              {"job": {"id": "j1"}, "result": result}, "en")  # fmt: skip
    block = re.search(r'<script type="application/json" id="ogc-page">(.*?)</script>', html, re.S)
    assert block is not None and "<" not in block.group(1)
    assert json.loads(block.group(1)) == {"result": result}
    assert MARKUP.search(html) is None and "innerHTML" not in html
    assert "innerHTML" not in (PROJECT_ROOT / "api" / "web" / "static" / "ogc" / "job.js").read_text()


def test_each_api_renders_with_its_own_config(tmp_path: Path) -> None:
    """pygeoapi cached the translated config per locale for the process: the second config's page was a 500."""
    from pygeoapi.util import render_j2_template

    copy = offline_templates(tmp_path)
    for name in ("first", "second"):
        config = _config(copy) | {"resources": {name: {"type": "collection", "providers": []}}}
        data = {"id": name, "title": name, "description": "", "links": [], "keywords": [], "itemType": "feature",
                "extent": {"spatial": {"bbox": [[0, 0, 1, 1]]}}, "collections_path": "/c"}  # fmt: skip
        html = render_j2_template(config, config["server"]["templates"], "collections/collection.html", data, "en")
        assert f"<h1>{name}</h1>" in html


# ------------------------------------------------------------------------------ a served city
@pytest.fixture(scope="module")
def hostile(incident_city: IncidentCity, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:  # noqa: F811
    """An anonymous incident and a layer feature holding script; their ids."""
    from layers.catalog import LayerSpec
    from layers.vector import load_vector_file
    from spatial.access.principal import local_operator

    city = incident_city
    filed = httpx.post(f"{city.base}/api/v1/incidents", timeout=60, json={
        "category_code": "0101", "description": PAYLOADS[0], "location": {"lon": GUIYI[0], "lat": GUIYI[1]}})  # fmt: skip
    assert filed.status_code == 201, filed.text
    path = tmp_path_factory.mktemp("xss") / f"{LAYER}.geojson"
    gpd.GeoDataFrame({"name": PAYLOADS[1], "note": PAYLOADS[2], "more": PAYLOADS[3]},
                     geometry=[shapely.Point(GUIYI)], index=[0], crs="EPSG:4326").to_file(path)  # fmt: skip
    if not _layer_exists(city):
        spec = LayerSpec(LAYER, TITLE, TITLE, "urban", description=PAYLOADS[2], keywords=[PAYLOADS[1]])
        load_vector_file(city.engine, path, spec, principal=local_operator())
    items = httpx.get(f"{city.base}/ogc/collections/{LAYER}/items?f=json", timeout=60)
    for _ in range(20):
        if items.status_code == 200:
            break
        time.sleep(0.5)  # the gateway picks the new layer up within its refresh interval
        items = httpx.get(f"{city.base}/ogc/collections/{LAYER}/items?f=json", timeout=60)
    assert items.status_code == 200, items.text
    yield {"incident": filed.json()["id"], "feature": items.json()["features"][0]["id"]}


def _real(problems: list[str]) -> list[str]:
    """Console errors and failed requests, less the base map's tiles (this city has no imagery: 404)."""
    return [p for p in problems if "/tiles/demo_imagery/" not in p
            and "the server responded with a status of 404" not in p]


def _layer_exists(city: IncidentCity) -> bool:
    with city.engine.connect() as conn:
        return bool(conn.execute(text("SELECT count(*) FROM catalog.layer WHERE id = :id"), {"id": LAYER}).scalar())


def _pages(hostile: dict) -> list[str]:
    return [
        "/ogc/collections/incidents/items?f=html",
        f"/ogc/collections/incidents/items/{hostile['incident']}?f=html",
        f"/ogc/collections/{LAYER}/items?f=html",
        f"/ogc/collections/{LAYER}/items/{hostile['feature']}?f=html",
        f"/ogc/collections/{LAYER}?f=html",
        f"/ogc/collections/{LAYER}/queryables?f=html",
        "/ogc/collections?f=html",
    ]


def test_script_in_data_does_not_run_and_shows_as_text(incident_city: IncidentCity, hostile: dict) -> None:  # noqa: F811
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    dialogs: list[str] = []
    with browser_page() as (page, problems):
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        for i, path in enumerate(_pages(hostile)):
            page.goto(incident_city.base + path, wait_until="networkidle")
            if "/items" in path or path.endswith(f"{LAYER}?f=html"):
                page.wait_for_selector(".leaflet-container")
            assert page.evaluate("() => window.__pwned === undefined"), path
            assert page.evaluate("() => document.querySelectorAll('svg[onload], img[onerror], main script:not([src]):not([type])').length") == 0, path
            body = page.inner_text("main")
            if "/items" in path:
                shown = [PAYLOADS[0]] if "incidents" in path else PAYLOADS[1:3]
                data = page.evaluate("() => JSON.parse(document.getElementById('ogc-page').textContent)")
                assert shown[0] in json.dumps(data, ensure_ascii=False), path
            elif path.startswith("/ogc/collections?"):
                shown = ["脚本", "'\">__pwned=3"]  # this list shows titles and descriptions |striptags
            else:
                shown = [TITLE] + ([PAYLOADS[2]] if path.endswith(f"{LAYER}?f=html") else [])
            for payload in shown:
                assert payload in body, (path, payload)
            page.screenshot(path=str(SCREENSHOTS / f"safe-output-{i}.png"), full_page=True)
    assert dialogs == []
    assert _real(problems) == [], problems


PYGEOAPI_PAGES = [
    "/ogc?f=html", "/ogc/conformance?f=html", "/ogc/collections?f=html", "/ogc/collections/incidents?f=html",
    "/ogc/collections/incidents/items?f=html", "/ogc/collections/incidents/queryables?f=html",
    "/ogc/collections/incidents/schema?f=html", "/ogc/collections/unit_grid/tiles?f=html",
    "/ogc/processes?f=html", "/ogc/jobs?f=html", "/ogc/TileMatrixSets?f=html",
    "/ogc/TileMatrixSets/WebMercatorQuad?f=html", "/ogc/openapi?f=html",
]


def test_pygeoapi_pages_work_under_the_strict_policy(incident_city: IncidentCity, hostile: dict) -> None:  # noqa: F811
    processes = httpx.get(f"{incident_city.base}/ogc/processes?f=json", timeout=60).json()["processes"]
    pages = PYGEOAPI_PAGES + [f"/ogc/processes/{processes[0]['id']}?f=html"] + _pages(hostile)[1:2]
    csp: list[str] = []
    with browser_page() as (page, problems):
        page.on("console", lambda msg: csp.append(f"{page.url}: {msg.text}") if "Content Security Policy" in msg.text else None)
        for path in pages:
            response = page.goto(incident_city.base + path, wait_until="networkidle")
            assert response is not None and response.status == 200, path
            assert response.headers["content-security-policy"] == CSP, path
            if "openapi" in path:
                page.wait_for_selector(".swagger-ui .info", timeout=60_000)
            if "/tiles" in path or "/items" in path or path.endswith("incidents?f=html"):
                page.wait_for_selector(".leaflet-tile-loaded, .leaflet-interactive", timeout=30_000)
            name = re.sub(r"[^a-z0-9]+", "-", path.split("?")[0].lower()).strip("-")
            page.screenshot(path=str(SCREENSHOTS / f"ogc-{name}.png"), full_page=False)
    assert csp == [], csp
    assert _real(problems) == [], problems


def test_every_html_answer_has_the_one_strict_policy(incident_city: IncidentCity, hostile: dict) -> None:  # noqa: F811
    assert "unsafe-inline" not in CSP and "unsafe-eval" not in CSP and "script-src 'self';" in CSP
    paths = ["/", "/inspector", "/ogc/collections/nope?f=html", "/api/v1/layers", "/static/onemap.js"]
    paths += PYGEOAPI_PAGES + _pages(hostile)
    for path in paths:
        response = httpx.get(incident_city.base + path, timeout=60)
        assert response.headers.get("content-security-policy") == CSP, path
        if response.headers["content-type"].startswith("text/html"):
            assert "<script>" not in response.text and " style=" not in response.text, path


def test_city_name_is_escaped_on_our_pages(incident_city: IncidentCity) -> None:  # noqa: F811
    """The name the pages show is the loaded city's (a profile's ``name``), else ONEMAP_CITY_NAME:
    a hostile one of each kind is escaped."""
    from sqlalchemy import text

    from spatial.db import make_engine
    from tests.live import live_server

    evil = "<img src=x onerror=alert(1)>"
    engine = make_engine(incident_city.url, pool_size=1)
    with engine.begin() as conn:
        loaded = conn.execute(text("SELECT id, name_zh FROM basemap.version WHERE is_current")).first()
        assert loaded is not None  # the demo went through the city loader
        conn.execute(text("UPDATE basemap.version SET name_zh = :evil WHERE id = :id"), {"evil": evil, "id": loaded.id})
    try:
        with live_server(incident_city.settings.model_copy(update={"city_name": evil})) as base:
            for path in ("/", "/inspector"):
                html = httpx.get(base + path, timeout=60).text
                assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html, path
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE basemap.version SET name_zh = :name WHERE id = :id"),
                         {"name": loaded.name_zh, "id": loaded.id})  # fmt: skip
        engine.dispose()


def test_answers_to_credentialed_callers_are_never_publicly_cacheable() -> None:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import Response
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from api.security import SecurityHeadersMiddleware

    async def tile(request):  # noqa: ANN001, ANN202
        return Response(b"png", headers={"Cache-Control": "public, max-age=60", "Vary": "Accept"})

    app = Starlette(routes=[Route("/t", tile)], middleware=[Middleware(SecurityHeadersMiddleware)])
    with TestClient(app) as client:
        anonymous = client.get("/t")
        assert anonymous.headers["cache-control"] == "public, max-age=60"
        assert anonymous.headers["vary"] == "Accept, Authorization, Cookie"
        assert anonymous.headers["content-security-policy"] == CSP
        for headers in ({"Authorization": "Bearer x"}, {"Cookie": f"{SESSION_COOKIE}=om_x"}):
            staff = client.get("/t", headers=headers)
            assert staff.headers["cache-control"] == "private, max-age=60", headers
        assert client.get("/t", headers={"Cookie": "other=1"}).headers["cache-control"].startswith("public")


# ------------------------------------------------------------------------------ the session
def _sign_in(base: str, token: str) -> httpx.Response:
    return httpx.post(f"{base}/api/v1/session", json={"token": token}, timeout=30)


def test_sign_in_sets_an_httponly_strict_cookie(incident_city: IncidentCity) -> None:  # noqa: F811
    response = _sign_in(incident_city.base, incident_city.tokens["inspector"])
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "inspector" and response.json()["signed_in"] is True
    cookies = {c.split("=", 1)[0]: c.lower() for c in response.headers.get_list("set-cookie")}
    session, csrf = cookies[SESSION_COOKIE], cookies[CSRF_COOKIE]
    assert "httponly" in session and "samesite=strict" in session and "path=/" in session
    assert "httponly" not in csrf and "samesite=strict" in csrf
    assert "secure" not in session  # served over http here; Secure when the site is https
    assert response.json()["csrf_token"] == csrf_token(incident_city.tokens["inspector"])
    assert incident_city.tokens["inspector"] not in response.text
    assert response.headers["cache-control"] == "no-store"


def test_secure_cookie_when_the_site_is_https(incident_city: IncidentCity) -> None:  # noqa: F811
    from starlette.testclient import TestClient

    from api.app import create_app

    # behind a proxy that ends TLS the app sees http; its public https address makes cookies Secure
    settings = incident_city.settings.model_copy(update={"public_url": "https://map.example.gov.cn"})
    with TestClient(create_app(settings)) as client:
        response = client.post("/api/v1/session", json={"token": incident_city.tokens["viewer"]})
    assert response.status_code == 200, response.text
    for cookie in response.headers.get_list("set-cookie"):
        assert "secure" in cookie.lower(), cookie


def test_cookie_authenticates_like_the_header(incident_city: IncidentCity) -> None:  # noqa: F811
    base, tokens = incident_city.base, incident_city.tokens
    jar = {SESSION_COOKIE: tokens["viewer"]}
    assert httpx.get(f"{base}/api/v1/session", cookies=jar, timeout=30).json()["name"] == "viewer"
    assert httpx.get(f"{base}/api/v1/session", timeout=30).json() == {"signed_in": False}
    # the bearer header wins over the cookie
    both = httpx.get(f"{base}/api/v1/session", cookies=jar, headers=incident_city.auth("admin"), timeout=30)
    assert both.json()["name"] == "admin"
    # staff-only collection: visible with the cookie, hidden (404) without
    assert httpx.get(f"{base}/ogc/collections/incidents_internal?f=json", cookies=jar, timeout=30).status_code == 200
    assert httpx.get(f"{base}/ogc/collections/incidents_internal?f=json", timeout=30).status_code == 404
    # a bad cookie is 401 like a bad token, and the answer clears it
    bad = httpx.get(f"{base}/api/v1/layers", cookies={SESSION_COOKIE: "om_" + "B" * 43}, timeout=30)
    assert bad.status_code == 401 and "unknown" in bad.json()["description"]
    assert any(c.startswith(f"{SESSION_COOKIE}=") and "max-age=0" in c.lower() for c in bad.headers.get_list("set-cookie"))
    # … but never locks the pages out
    assert httpx.get(f"{base}/", cookies={SESSION_COOKIE: "junk"}, timeout=30).status_code == 200
    # a bad token at sign-in is 401 and sets nothing
    refused = _sign_in(base, "om_" + "C" * 43)
    assert refused.status_code == 401 and "set-cookie" not in refused.headers


@pytest.mark.parametrize("cookie", [
    "onemap_session=", "onemap_session=\"om_", "onemap_session=om_²³", "onemap_session=" + "A" * 5000,
    "onemap_session=a; onemap_session=b", ";;;=;", "onemap_session=%00%ff", "onemap_csrf=x",
])
def test_hostile_cookies_are_4xx_never_5xx(incident_city: IncidentCity, cookie: str) -> None:  # noqa: F811
    for method, path in (("GET", "/api/v1/session"), ("GET", "/api/v1/layers"), ("POST", "/api/v1/incidents"),
                         ("POST", "/api/v1/session"), ("DELETE", "/api/v1/session")):  # fmt: skip
        response = httpx.request(method, incident_city.base + path, headers={"Cookie": cookie.encode()}, timeout=30)
        assert response.status_code < 500, (method, path, cookie, response.text)


def _count(city: IncidentCity) -> int:
    with city.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM incidents.incident")).scalar_one())


def test_cookie_writes_need_the_csrf_proof(incident_city: IncidentCity) -> None:  # noqa: F811
    base, token = incident_city.base, incident_city.tokens["inspector"]
    jar = {SESSION_COOKIE: token, CSRF_COOKIE: csrf_token(token)}
    report = {"category_code": "0101", "description": "csrf " + uuid.uuid4().hex,
              "location": {"lon": GUIYI[0], "lat": GUIYI[1]}}  # fmt: skip
    before = _count(incident_city)
    for headers in ({}, {"X-CSRF-Token": "0" * 64}, {"X-CSRF-Token": csrf_token(incident_city.tokens["viewer"])},
                    {"X-CSRF-Token": csrf_token(token), "Origin": "https://evil.example"}):  # fmt: skip
        refused = httpx.post(f"{base}/api/v1/incidents", json=report, cookies=jar, headers=headers, timeout=30)
        assert refused.status_code == 403, (headers, refused.text)
    assert _count(incident_city) == before
    ok = httpx.post(f"{base}/api/v1/incidents", json=report, cookies=jar, timeout=30,
                    headers={"X-CSRF-Token": csrf_token(token), "Origin": base})  # fmt: skip
    assert ok.status_code == 201, ok.text
    with incident_city.engine.connect() as conn:
        who = conn.execute(text("SELECT reported_by FROM incidents.incident WHERE id = :i"), {"i": ok.json()["id"]}).scalar()
    assert who == "inspector"
    # the bearer header needs no proof; reads with the cookie need none either
    assert httpx.post(f"{base}/api/v1/incidents", json=report, headers=incident_city.auth("inspector"), timeout=30).status_code == 201
    assert httpx.get(f"{base}/api/v1/layers", cookies=jar, timeout=30).status_code == 200


def test_sign_in_refuses_forms_and_foreign_origins(incident_city: IncidentCity) -> None:  # noqa: F811
    base, token = incident_city.base, incident_city.tokens["viewer"]
    form = httpx.post(f"{base}/api/v1/session", data={"token": token}, timeout=30)
    assert form.status_code == 400 and "set-cookie" not in form.headers
    foreign = httpx.post(f"{base}/api/v1/session", json={"token": token}, headers={"Origin": "https://evil.example"}, timeout=30)
    assert foreign.status_code == 403 and "set-cookie" not in foreign.headers
    out = httpx.delete(f"{base}/api/v1/session", cookies={SESSION_COOKIE: token}, timeout=30)
    assert out.status_code == 204
    assert {c.split("=", 1)[0] for c in out.headers.get_list("set-cookie")} == {SESSION_COOKIE, CSRF_COOKIE}


def test_pages_keep_no_token_where_script_can_read_it(incident_city: IncidentCity) -> None:  # noqa: F811
    token = incident_city.tokens["viewer"]
    with browser_page() as (page, problems):
        page.goto(f"{incident_city.base}/", wait_until="networkidle")
        page.fill(".om-auth .om-token", token)
        page.click(".om-auth .om-signin")
        page.wait_for_function("() => document.querySelector('.om-auth .om-who').textContent.includes('viewer')",
                               timeout=30_000)  # fmt: skip
        page.wait_for_load_state("networkidle")
        readable = page.evaluate("() => document.cookie + JSON.stringify(localStorage) + JSON.stringify(sessionStorage)")
        cookies = {c["name"]: c for c in page.context.cookies()}
        assert token not in readable
        assert cookies[SESSION_COOKIE]["httpOnly"] is True and cookies[SESSION_COOKIE]["sameSite"] == "Strict"
        # the inspector page shares the session
        page.goto(f"{incident_city.base}/inspector", wait_until="networkidle")
        page.wait_for_function("() => document.querySelector('.om-auth .om-who').textContent.includes('viewer')",
                               timeout=30_000)  # fmt: skip
        assert page.evaluate("() => document.querySelector('.om-auth .om-token').hidden") is True
    assert problems == [], problems
