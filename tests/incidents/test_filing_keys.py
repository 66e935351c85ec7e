"""Filing once over real HTTP: a report sent again with the same Idempotency-Key (the phone did not
see the 201) is the first incident, never a second; another report under that key is a 409; a
bad key is a 400; concurrent sends with one key make one incident; keys belong to their caller."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import uuid

import httpx
import pytest
from sqlalchemy import text

from spatial.config import PROJECT_ROOT
from tests.incidents.conftest import GUIYI, IncidentCity, png_bytes


def counts(city: IncidentCity) -> tuple[int, int, int]:
    """Incidents, their events and filing keys: what a filing writes."""
    with city.engine.connect() as conn:
        return tuple(int(conn.execute(text(f"SELECT count(*) FROM incidents.{table}")).scalar_one())  # noqa: S608
                     for table in ("incident", "incident_event", "filing_key"))  # type: ignore[return-value]


def send(city: IncidentCity, key: str | None, role: str | None = "inspector", **fields) -> httpx.Response:
    body = {"category_code": "0101", "description": "井盖破损 (filing key)", "location": {"lon": GUIYI[0], "lat": GUIYI[1]},
            "source": "inspector" if role == "inspector" else "public"} | fields  # fmt: skip
    headers = (city.auth(role) if role else {}) | ({"Idempotency-Key": key} if key is not None else {})
    return httpx.post(f"{city.base}/api/v1/incidents", json=body, headers=headers, timeout=30)


def test_the_same_report_sent_again_is_the_first_incident(incident_city: IncidentCity) -> None:
    key = str(uuid.uuid4())
    first = send(incident_city, key)
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    before = counts(incident_city)
    again = send(incident_city, key)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() and again.headers["Location"] == first.headers["Location"]
    assert counts(incident_city) == before, "nothing filed a second time"
    other = send(incident_city, str(uuid.uuid4()))
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]


def test_a_multipart_report_with_photos_is_filed_once(incident_city: IncidentCity) -> None:
    key, url = str(uuid.uuid4()), f"{incident_city.base}/api/v1/incidents"
    fields = {"category_code": "0101", "description": "with photo", "lon": str(GUIYI[0]), "lat": str(GUIYI[1]),
              "source": "inspector"}  # fmt: skip
    headers = incident_city.auth("inspector") | {"Idempotency-Key": key}

    def post(picture: bytes) -> httpx.Response:
        return httpx.post(url, data=fields, files={"photo": ("p.png", picture, "image/png")}, headers=headers, timeout=30)

    first = post(png_bytes())
    assert first.status_code == 201 and len(first.json()["photos"]) == 1, first.text
    before = counts(incident_city)
    assert post(png_bytes()).json()["id"] == first.json()["id"]
    other_photo = post(png_bytes((40, 30)))
    assert other_photo.status_code == 409 and "another report" in other_photo.text
    assert counts(incident_city) == before


def test_another_report_under_a_used_key_is_a_409_and_files_nothing(incident_city: IncidentCity) -> None:
    key = str(uuid.uuid4())
    assert send(incident_city, key).status_code == 201
    before = counts(incident_city)
    changed = send(incident_city, key, description="another pothole")
    assert changed.status_code == 409 and "another report" in changed.text
    assert counts(incident_city) == before


@pytest.mark.parametrize("key", ["short", "x" * 201, "has space 1234", "<script>alert(1)</script>", "键键键键键键键键"])
def test_a_bad_key_is_a_400_and_files_nothing(incident_city: IncidentCity, key: str) -> None:
    before = counts(incident_city)
    try:
        refused = send(incident_city, key)
    except UnicodeEncodeError:  # httpx will not send a non-ASCII header; send the raw bytes
        refused = httpx.post(f"{incident_city.base}/api/v1/incidents", content=b"{}", timeout=30,
                             headers=[(b"Idempotency-Key", key.encode()), (b"Content-Type", b"application/json")])  # fmt: skip
    assert refused.status_code == 400, refused.text
    assert "<script>" not in refused.text or refused.headers["content-type"].startswith("application/")
    assert counts(incident_city) == before


def test_a_refused_report_leaves_its_key_free(incident_city: IncidentCity) -> None:
    key = str(uuid.uuid4())
    before = counts(incident_city)
    assert send(incident_city, key, category_code="9999").status_code == 400
    assert counts(incident_city) == before
    assert send(incident_city, key).status_code == 201


def test_concurrent_sends_with_one_key_make_one_incident(incident_city: IncidentCity) -> None:
    key = str(uuid.uuid4())
    before = counts(incident_city)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: send(incident_city, key), range(8)))
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 7
    after = counts(incident_city)
    assert after[0] == before[0] + 1 and after[2] == before[2] + 1


def test_keys_belong_to_their_caller(incident_city: IncidentCity) -> None:
    key = str(uuid.uuid4())
    mine = send(incident_city, key, role="inspector")
    theirs = send(incident_city, key, role="inspector2")
    anonymous = send(incident_city, key, role=None)
    assert mine.status_code == theirs.status_code == anonymous.status_code == 201
    assert len({mine.json()["id"], theirs.json()["id"], anonymous.json()["id"]}) == 3


def test_old_keys_are_forgotten_by_the_daily_upkeep(incident_city: IncidentCity) -> None:
    old, recent = str(uuid.uuid4()), str(uuid.uuid4())
    assert send(incident_city, old).status_code == send(incident_city, recent).status_code == 201
    with incident_city.engine.begin() as conn:
        conn.execute(text("UPDATE incidents.filing_key SET created_at = now() - interval '91 days' WHERE key = :k"),
                     {"k": old})  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMAP_")} | {"ONEMAP_DATABASE_URL": incident_city.url}

    def upkeep(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "api.cli", "incidents", "partitions", "create", *args], env=env,
                              capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT)  # fmt: skip

    bad = upkeep("--keep-keys-days", "0")
    assert bad.returncode == 2 and "at least 1 day" in bad.stdout + bad.stderr
    done = upkeep("--months", "1")
    assert done.returncode == 0 and "1 filing key(s) older than 90 days forgotten" in done.stdout + done.stderr, done.stderr
    with incident_city.engine.connect() as conn:
        kept = set(conn.execute(text("SELECT key FROM incidents.filing_key WHERE key IN (:a, :b)"),
                                {"a": old, "b": recent}).scalars())  # fmt: skip
    assert kept == {recent}
    assert send(incident_city, old).headers.get("Idempotent-Replayed") is None, "a forgotten key files anew"


def test_open311_posts_take_the_same_key(incident_city: IncidentCity) -> None:
    form = {"api_key": incident_city.tokens["viewer"], "service_code": "0110", "lat": str(GUIYI[1]),
            "long": str(GUIYI[0]), "description": "Open311 sent twice"}  # fmt: skip
    key = str(uuid.uuid4())

    def post(**changes: str) -> httpx.Response:
        return httpx.post(f"{incident_city.base}/open311/v2/requests.json", data=form | changes,
                          headers={"Idempotency-Key": key}, timeout=30)  # fmt: skip

    first = post()
    assert first.status_code == 201, first.text
    before = counts(incident_city)
    again = post()
    assert again.status_code == 201 and again.json() == first.json()
    assert post(description="another").status_code == 409
    assert counts(incident_city) == before
    bad = httpx.post(f"{incident_city.base}/open311/v2/requests.json", data=form, headers={"Idempotency-Key": "x"}, timeout=30)
    assert bad.status_code == 400 and counts(incident_city) == before
