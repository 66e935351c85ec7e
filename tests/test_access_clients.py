"""Tokens from the outside: bad tokens refused on every path, real OGC clients (GDAL's OAPIF driver,
OWSLib) reading an internal layer with a token header, the command line, and the map page."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from spatial.access.principal import local_operator
from spatial.access.tokens import create_token, revoke_tokens
from spatial.db import make_engine
from tests.browser import browser_page
from tests.test_cli import one_line_error, run
from tests.test_ogc_clients import _ogrinfo


def _issue(access_city, **options: object) -> str:
    engine = make_engine(access_city.url, pool_size=1)
    try:
        return create_token(engine, department_code="emergency", role="viewer", actor=local_operator(), **options).secret  # type: ignore[arg-type]
    finally:
        engine.dispose()


def test_bad_tokens_are_401_everywhere(access_server: str, access_city) -> None:
    expiring = _issue(access_city, name="short-lived", expires_days=1 / 86400)
    revoked = _issue(access_city, name="to be revoked")
    engine = make_engine(access_city.url, pool_size=1)
    revoke_tokens(engine, name="to be revoked", actor=local_operator())
    engine.dispose()
    time.sleep(1.5)
    cases = {
        f"Bearer {expiring}": "expired",
        f"Bearer {revoked}": "revoked",
        "Bearer om_short": "malformed",
        "Bearer " + "om_" + "A" * 43: "unknown bearer token",
        "Basic dXNlcjpwYXNz": "Authorization: Bearer",
        "Bearer": "Authorization: Bearer",
    }
    for header, words in cases.items():
        for path in ("/api/v1/layers", "/ogc/collections/acc_public/items?f=json", "/tiles/img_public/tilejson.json"):
            response = httpx.get(f"{access_server}{path}", headers={"Authorization": header}, timeout=30)
            assert response.status_code == 401, (header, path)
            assert words in response.json()["description"], (header, response.json())
            challenge = response.headers["WWW-Authenticate"]
            assert challenge.startswith('Bearer realm="onemap"') and 'error="invalid_token"' in challenge


def test_missing_credentials_challenge_without_error(access_server: str) -> None:
    response = httpx.delete(f"{access_server}/ogc/collections/acc_public/items/1", timeout=30)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="onemap"'


def test_gdal_oapif_reads_an_internal_layer_with_a_token(access_server: str, access_city) -> None:
    url = f"OAPIF:{access_server}/ogc"
    anonymous = _ogrinfo("-so", url)
    assert anonymous.returncode == 0, anonymous.stderr
    assert "acc_internal" not in anonymous.stdout and "acc_public" in anonymous.stdout
    header = f"Authorization: Bearer {access_city.tokens['viewer']}"
    listed = _ogrinfo("--config", "GDAL_HTTP_HEADERS", header, "-so", url)
    assert listed.returncode == 0, listed.stderr
    assert "acc_internal" in listed.stdout and "acc_department" in listed.stdout
    read = _ogrinfo("--config", "GDAL_HTTP_HEADERS", header, "-q", "-al", url, "acc_internal")
    assert read.returncode == 0, read.stderr
    assert read.stdout.count("OGRFeature(acc_internal)") >= 6
    refused = _ogrinfo("-q", "-al", url, "acc_internal")
    assert refused.returncode != 0


@pytest.fixture()
def owslib_headers():
    """OWSLib merges per-object headers into its module-wide defaults: restore them afterwards."""
    from owslib.ogcapi import REQUEST_HEADERS

    saved = dict(REQUEST_HEADERS)
    yield
    REQUEST_HEADERS.clear()
    REQUEST_HEADERS.update(saved)


def test_owslib_reads_an_internal_layer_with_a_token(access_server: str, access_city, owslib_headers) -> None:
    from owslib.ogcapi.features import Features

    api = Features(f"{access_server}/ogc", headers={"Authorization": f"Bearer {access_city.tokens['inspector']}"})
    ids = {c["id"] for c in api.collections()["collections"]}
    assert {"acc_internal", "acc_department", "img_internal"} <= ids
    page = api.collection_items("acc_internal", limit=50)
    assert len(page["features"]) >= 6
    assert api.collection_item("acc_internal", page["features"][0]["id"])["id"] == page["features"][0]["id"]


def test_cli_departments_and_tokens(access_city) -> None:
    env = {"ONEMAP_DATABASE_URL": access_city.url}
    added = run("departments", "add", "water", "--name-zh", "水务局", "--name-en", "Water Authority", env=env)
    assert added.returncode == 0, added.stderr
    assert "water" in run("departments", "list", env=env).stdout
    created = run("tokens", "create", "--department", "water", "--role", "editor", "--name", "王五", "--expires", "30", "--json", env=env)
    assert created.returncode == 0, created.stderr
    issued = json.loads(created.stdout)
    assert issued["secret"].startswith("om_") and issued["expires_at"]
    listed = json.loads(run("tokens", "list", "--json", env=env).stdout)
    mine = next(t for t in listed if t["id"] == issued["id"])
    assert "secret" not in mine and "secret_hash" not in mine and mine["name"] == "王五"
    assert issued["secret"] not in run("tokens", "list", env=env).stdout
    assert run("tokens", "revoke", str(issued["id"]), env=env).returncode == 0
    again = run("tokens", "revoke", str(issued["id"]), env=env)
    assert again.returncode == 2 and "no active token" in one_line_error(again)
    unknown = run("tokens", "create", "--department", "nowhere", "--role", "viewer", env=env)
    assert unknown.returncode == 2 and "does not exist" in one_line_error(unknown)
    bad_code = run("departments", "add", "Water Dept", "--name-zh", "水", env=env)
    assert bad_code.returncode == 2 and "not allowed" in one_line_error(bad_code)


def _panel_layers(page) -> set[str]:
    page.wait_for_function("() => window.onemapLayers !== undefined", timeout=60_000)
    return set(page.evaluate("() => window.onemapLayers.map(l => l.id)"))


def test_map_page_with_a_token_shows_the_department_layers(access_server: str, access_city) -> None:
    with browser_page() as (page, problems):
        page.goto(f"{access_server}/", wait_until="networkidle")
        anonymous = _panel_layers(page)
        assert "acc_public" in anonymous and "acc_department" not in anonymous
        page.fill(".om-auth .om-token", access_city.tokens["viewer"])
        with page.expect_navigation(wait_until="networkidle"):
            page.click(".om-auth .om-signin")  # POST /api/v1/session sets the HttpOnly cookie, then the page reloads
        signed_in = _panel_layers(page)
        assert {"acc_internal", "acc_department", "img_department"} <= signed_in
        page.check("input[type=checkbox][data-layer=acc_department]")
        page.wait_for_function(
            "() => { let n = 0; window.onemapMap.eachLayer(l => { if (l.feature && l.feature.properties.name) n += 1; }); return n > 0; }",
            timeout=60_000,
        )
        assert page.inner_text(".om-auth .om-signin") in ("退出", "Sign out")
        with page.expect_navigation(wait_until="networkidle"):
            page.click(".om-auth .om-signin")  # sign out
        assert "acc_department" not in _panel_layers(page)
    assert problems == [], problems


def test_map_page_forgets_a_refused_token(access_server: str) -> None:
    with browser_page() as (page, problems):
        page.goto(f"{access_server}/", wait_until="networkidle")
        # a session whose token was revoked (or never existed): the cookie is HttpOnly, set it as the server would
        page.context.add_cookies([{"name": "onemap_session", "value": "om_" + "B" * 43, "url": access_server,
                                   "httpOnly": True, "sameSite": "Strict"}])  # fmt: skip
        page.reload(wait_until="networkidle")
        assert "acc_public" in _panel_layers(page)
        assert "unknown bearer token" in page.text_content(".om-auth .om-who")
        assert "onemap_session" not in {c["name"] for c in page.context.cookies()}
    assert [p for p in problems if "401" not in p] == []


def test_processes_are_no_side_door_to_hidden_layers(access_server: str, access_city) -> None:
    url = f"{access_server}/ogc/processes/geocode/execution"
    body = {"inputs": {"q": "兴福路88号", "collection": "acc_department"}}
    assert httpx.post(url, json=body, timeout=60).status_code == 404
    assert httpx.post(url, json=body, headers=access_city.headers("editor_other"), timeout=60).status_code == 404
    allowed = httpx.post(url, json=body, headers=access_city.headers("viewer"), timeout=60)
    assert allowed.status_code != 404, allowed.text
    public = httpx.post(url, json={"inputs": {"q": "兴福路88号"}}, timeout=60)
    assert public.status_code == 200, public.text
