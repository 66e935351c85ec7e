"""Security basics: hashed tokens compared in constant time, rate limits (429 + Retry-After),
CORS only for configured origins, security headers on pages, reporters' contacts never in
public views or logs, and an audit row for every administrative action."""

from __future__ import annotations

import hashlib
import logging
import uuid

import httpx
import pytest
from sqlalchemy import text

from tests.live import live_server
from tests.reliability.conftest import CENTRE, OVERLAY, ReliableCity

CONTACT = "13800138000"
EMAIL = "wang.secret@example.org"
REPORTER = "王秘密"


def feature(name: str = "新站点") -> dict:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [CENTRE[0] + 0.001, CENTRE[1]]},
            "properties": {"name": name, "capacity": 5}}  # fmt: skip


def filing(**extra: object) -> dict:
    return {"category_code": "1102", "description": "路面破损", "location": {"lon": CENTRE[0], "lat": CENTRE[1]}} | extra


# ------------------------------------------------------------------------------------- tokens
def test_tokens_are_stored_as_sha256_hashes_only(reliable_city: ReliableCity) -> None:
    with reliable_city.engine.connect() as conn:
        columns = [r[0] for r in conn.execute(text(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'access' AND table_name = 'token'"))]  # fmt: skip
        dump = " ".join(str(r) for r in conn.execute(text("SELECT * FROM access.token")).all())
        hashes = set(conn.execute(text("SELECT secret_hash FROM access.token")).scalars())
    for secret in reliable_city.tokens.values():
        assert secret not in dump
        assert hashlib.sha256(secret.encode()).hexdigest() in hashes
    assert "secret" not in [c for c in columns if c != "secret_hash"]


def test_token_check_is_constant_time(reliable_city: ReliableCity, monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    from spatial.access import tokens

    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", spy)
    principal = tokens.authenticate(reliable_city.engine, f"Bearer {reliable_city.tokens['viewer']}")
    assert principal.role == "viewer" and len(calls) == 1


# -------------------------------------------------------------------------------- rate limits
@pytest.fixture(scope="module")
def tight_server(reliable_city: ReliableCity):
    settings = reliable_city.settings.model_copy(update={"rate_limit_writes": "3/minute", "rate_limit_anonymous": "2/minute"})
    with live_server(settings) as base:
        yield base


def test_token_writes_are_limited_per_token(reliable_city: ReliableCity, tight_server: str) -> None:
    url = f"{tight_server}/ogc/collections/{OVERLAY}/items"
    headers = reliable_city.auth("editor") | {"Content-Type": "application/geo+json"}
    answers = [httpx.post(url, json=feature(f"限流{i}"), headers=headers, timeout=30) for i in range(4)]
    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60
    assert "too many" in answers[-1].json()["description"]
    other = httpx.post(url, json=feature("另一个人"), headers=reliable_city.auth("editor2") | {"Content-Type": "application/geo+json"}, timeout=30)
    assert other.status_code == 201, "the budget is per token"
    assert httpx.get(url, headers=headers, timeout=30).status_code == 200, "reads are not limited"
    with reliable_city.engine.connect() as conn:
        stored = conn.execute(text(f"SELECT count(*) FROM thematic.{OVERLAY} WHERE name LIKE '限流%'")).scalar()
    assert stored == 3, "the refused write stored nothing"


def test_anonymous_filing_is_limited_per_address(tight_server: str) -> None:
    answers = [httpx.post(f"{tight_server}/api/v1/incidents", json=filing(), timeout=30) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert int(answers[-1].headers["Retry-After"]) >= 1


def test_open311_post_is_limited_per_api_key(reliable_city: ReliableCity, tight_server: str) -> None:
    form = {"api_key": reliable_city.tokens["inspector2"], "service_code": "1102", "lat": str(CENTRE[1]),
            "long": str(CENTRE[0]), "description": "井盖缺失"}  # fmt: skip
    answers = [httpx.post(f"{tight_server}/open311/v2/requests.json", data=form, timeout=30) for _ in range(4)]
    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    assert answers[-1].json()[0]["code"] == 429 and int(answers[-1].headers["Retry-After"]) >= 1
    xml = httpx.post(f"{tight_server}/open311/v2/requests.xml", data=form, timeout=30)
    assert xml.status_code == 429 and b"<errors>" in xml.content


def test_rate_settings_are_checked() -> None:
    from pydantic import ValidationError

    from spatial.config import Settings

    with pytest.raises(ValidationError, match="not a rate"):
        Settings(rate_limit_writes="lots")
    assert Settings(rate_limit_writes="10 per second").rate_limit_writes == "10 per second"


# --------------------------------------------------------------------------------- CORS, headers
def test_no_cors_unless_configured(reliable_city: ReliableCity) -> None:
    origin = {"Origin": "https://evil.example"}
    response = httpx.get(f"{reliable_city.base}/api/v1/layers", headers=origin, timeout=30)
    assert "access-control-allow-origin" not in response.headers
    preflight = httpx.options(f"{reliable_city.base}/api/v1/incidents", timeout=30,
                              headers=origin | {"Access-Control-Request-Method": "POST"})  # fmt: skip
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_for_configured_origins_only(reliable_city: ReliableCity) -> None:
    settings = reliable_city.settings.model_copy(update={"cors_origins": "https://map.example.gov.cn, https://b.example"})
    with live_server(settings) as base:
        allowed = httpx.options(f"{base}/ogc/collections/{OVERLAY}/items", timeout=30, headers={
            "Origin": "https://map.example.gov.cn", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type"})  # fmt: skip
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://map.example.gov.cn"
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        got = httpx.get(f"{base}/api/v1/layers", headers={"Origin": "https://b.example"}, timeout=30)
        assert got.headers["access-control-allow-origin"] == "https://b.example"
        assert "etag" in got.headers["access-control-expose-headers"].lower()
        refused = httpx.get(f"{base}/api/v1/layers", headers={"Origin": "https://evil.example"}, timeout=30)
        assert "access-control-allow-origin" not in refused.headers


@pytest.mark.parametrize("path", ["/", "/inspector", "/ogc?f=html", "/ogc/collections?f=html",
                                  f"/ogc/collections/{OVERLAY}/items?f=html", "/ogc/openapi?f=html"])
def test_every_page_has_the_one_strict_policy(reliable_city: ReliableCity, path: str) -> None:
    response = httpx.get(reliable_city.base + path, timeout=30)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html"), path
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "style-src 'self';" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"


def test_every_answer_has_the_basic_headers(reliable_city: ReliableCity) -> None:
    for path in ("/ogc/collections?f=html", "/api/v1/layers", "/ogc/collections/nope", "/static/onemap.js"):
        response = httpx.get(reliable_city.base + path, timeout=30)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], path


# ------------------------------------------------------------------------------- personal data
@pytest.fixture(scope="module")
def personal_reports(reliable_city: ReliableCity) -> list[int]:
    """Incidents filed with the reporter's name and contacts, through REST and Open311."""
    rest = httpx.post(f"{reliable_city.base}/api/v1/incidents", timeout=30,
                      json=filing(reporter_name=REPORTER, reporter_contact=CONTACT))  # fmt: skip
    form = {"api_key": reliable_city.tokens["inspector"], "service_code": "1102", "lat": str(CENTRE[1]),
            "long": str(CENTRE[0]), "first_name": REPORTER, "email": EMAIL, "phone": CONTACT}  # fmt: skip
    open311 = httpx.post(f"{reliable_city.base}/open311/v2/requests.json", data=form, timeout=30)
    assert rest.status_code == 201 and open311.status_code == 201, (rest.text, open311.text)
    return [rest.json()["id"], int(open311.json()[0]["service_request_id"])]


def test_contacts_never_in_public_views(reliable_city: ReliableCity, personal_reports: list[int]) -> None:
    base = reliable_city.base
    ids = ",".join(str(i) for i in personal_reports)
    public = [
        f"{base}/ogc/collections/incidents/items?limit=1000",
        f"{base}/ogc/collections/incidents/items?limit=1000&f=html",
        f"{base}/ogc/collections/incidents/queryables",
        f"{base}/ogc/collections/incidents/schema",
        f"{base}/open311/v2/requests.json?service_request_id={ids}",
        f"{base}/open311/v2/requests.xml?service_request_id={ids}",
        *[f"{base}/api/v1/incidents/{i}" for i in personal_reports],
        *[f"{base}/ogc/collections/incidents/items/{i}" for i in personal_reports],
    ]
    seen = 0
    for url in public:
        response = httpx.get(url, timeout=60)
        assert response.status_code == 200, url
        body = response.text
        seen += str(personal_reports[0]) in body
        for secret in (CONTACT, EMAIL, REPORTER, "reporter_contact", "reporter_name"):
            assert secret not in body, f"{secret} leaked by {url}"
    assert seen >= 4, "the reports are in the public views, without their contacts"
    ids_internal = httpx.get(f"{base}/ogc/collections", timeout=30).json()["collections"]
    assert "incidents_internal" not in {c["id"] for c in ids_internal}, "the staff view is not public"


def test_contacts_never_in_logs(reliable_city: ReliableCity, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    marker = f"1390000{uuid.uuid4().int % 10000:04d}"
    good = httpx.post(f"{reliable_city.base}/api/v1/incidents", timeout=30,
                      json=filing(reporter_contact=marker, reporter_name=REPORTER))  # fmt: skip
    bad = httpx.post(f"{reliable_city.base}/api/v1/incidents", timeout=30,
                     json=filing(reporter_contact=marker, category_code="9999"))  # fmt: skip
    form = {"api_key": reliable_city.tokens["inspector"], "service_code": "1102", "lat": "0", "long": "0", "phone": marker}
    refused = httpx.post(f"{reliable_city.base}/open311/v2/requests.json", data=form, timeout=30)
    assert good.status_code == 201 and bad.status_code == 400 and refused.status_code == 400
    assert caplog.records, "log records were captured"
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert marker not in logged and REPORTER not in logged


# ----------------------------------------------------------------------------------- audit log
def test_administrative_actions_are_audited(reliable_city: ReliableCity, tmp_path) -> None:
    import datetime as dt

    from layers.catalog import LayerSpec
    from layers.rollback import rollback_layer
    from layers.vector import load_vector_file, remove_layer
    from spatial.access.departments import add_department
    from spatial.access.principal import local_operator
    from spatial.access.tokens import create_token, revoke_tokens
    from spatial.audit import list_audit
    from spatial.grid.build import build_grid
    from spatial.incidents.categories import load_catalogue, read_catalogue
    from tests.access_city import points

    engine = reliable_city.engine
    start = list_audit(engine, limit=1)[0]["id"] if list_audit(engine, limit=1) else 0
    add_department(engine, "audit_dept", name_zh="审计局", actor=local_operator())
    add_department(engine, "audit_dept", name_zh="审计署", actor=local_operator())
    issued = create_token(engine, department_code="audit_dept", role="editor", name="审计员", actor=local_operator())
    revoke_tokens(engine, token_id=issued.id, actor=local_operator())
    points().to_file(tmp_path / "a.geojson")
    spec = LayerSpec("audit_layer", "审计", "Audit", "audit_dept")
    load_vector_file(engine, tmp_path / "a.geojson", spec, principal=local_operator())
    moment = dt.datetime.now(dt.UTC)
    load_vector_file(engine, tmp_path / "a.geojson", spec, principal=local_operator())
    upload = httpx.post(f"{reliable_city.base}/api/v1/layers", headers=reliable_city.auth("editor"), timeout=60,
                        data={"name": "audit_upload", "title": "上传"},
                        files={"file": ("u.geojson", (tmp_path / "a.geojson").read_bytes())})  # fmt: skip
    assert upload.status_code == 201, upload.text
    rollback_layer(engine, OVERLAY, moment, principal=local_operator())
    remove_layer(engine, "audit_layer", principal=local_operator())
    load_catalogue(engine, read_catalogue(), principal=local_operator())
    build_grid(engine, principal=local_operator())
    rows = [r for r in list_audit(engine) if r["id"] > start]
    actions = [r["action"] for r in reversed(rows)]
    for wanted in ("department.add", "department.rename", "token.create", "token.revoke", "layer.publish",
                   "layer.replace", "layer.rollback", "layer.remove", "categories.load", "grid.build"):  # fmt: skip
        assert wanted in actions, (wanted, actions)
    by_action = {r["action"]: r for r in rows}
    assert by_action["token.create"]["target"] == f"token {issued.id}"
    assert issued.secret not in str(rows) and hashlib.sha256(issued.secret.encode()).hexdigest() not in str(rows)
    uploaded = next(r for r in rows if r["target"] == "layer audit_upload")
    assert uploaded["actor"] == "editor" and uploaded["department_code"] == "emergency"
    assert uploaded["detail"]["door"] == "rest"
    assert by_action["layer.remove"]["actor"].endswith("@cli")
    assert [r["action"] for r in list_audit(engine, action="layer.")] and all(
        r["action"].startswith("layer.") for r in list_audit(engine, action="layer."))
