"""Many clients at once: filing, transitioning incidents and editing one overlay feature.

Every acknowledged write is stored exactly once, racing transitions have exactly one winner
(the others 409), read-modify-write edits with If-Match lose no update, and the event log
holds exactly the acknowledged transitions, in a consistent chain.
"""

from __future__ import annotations

import concurrent.futures
import threading
import uuid
from collections import Counter

import httpx
from sqlalchemy import text

from tests.incidents.conftest import png_bytes
from tests.reliability.conftest import CENTRE, OVERLAY, ReliableCity

FILERS, FILINGS_EACH = 16, 15
RACERS = 4
EDITORS, INCREMENTS_EACH = 8, 10
WORKFLOW = [("register", "supervisor"), ("dispatch", "commander"), ("accept", "admin"),
            ("handled", "admin"), ("verify", "inspector"), ("close", "supervisor")]  # fmt: skip


def file_many(city: ReliableCity, marker: str, client_no: int) -> list[tuple[str, int]]:
    """One client's filings: (external id, acknowledged incident id) for each 201."""
    acknowledged = []
    headers = city.auth("inspector") if client_no % 2 else {}
    with httpx.Client(base_url=city.base, timeout=60, headers=headers) as http:
        for n in range(FILINGS_EACH):
            external = f"{marker}-{client_no}-{n}"
            lon = CENTRE[0] + (client_no * FILINGS_EACH + n) * 1e-5
            body = {"category_code": "1102", "description": "并发", "external_id": external,
                    "location": {"lon": lon, "lat": CENTRE[1]}, "source": "inspector" if client_no % 2 else "public"}  # fmt: skip
            response = http.post("/api/v1/incidents", json=body)
            assert response.status_code == 201, response.text
            acknowledged.append((external, response.json()["id"]))
    return acknowledged


def test_concurrent_filing_stores_every_acknowledged_report_once(reliable_city: ReliableCity) -> None:
    marker = uuid.uuid4().hex[:8]
    with concurrent.futures.ThreadPoolExecutor(FILERS) as pool:
        results = list(pool.map(lambda i: file_many(reliable_city, marker, i), range(FILERS)))
    acknowledged = [pair for result in results for pair in result]
    with reliable_city.engine.connect() as conn:
        stored = conn.execute(text("SELECT external_id, id FROM incidents.incident WHERE external_id LIKE :m"),
                              {"m": f"{marker}-%"}).all()  # fmt: skip
        events = conn.execute(text("SELECT incident_id, action FROM incidents.incident_event WHERE incident_id = ANY(:ids)"),
                              {"ids": [i for _, i in acknowledged]}).all()  # fmt: skip
    print(f"\nconcurrent filing: {FILERS} clients, {len(acknowledged)} acknowledged, {len(stored)} stored")
    assert len(acknowledged) == FILERS * FILINGS_EACH
    assert sorted(stored) == sorted(acknowledged), "each acknowledged report stored exactly once, nothing else"
    assert Counter(i for i, _ in events) == Counter({i: 1 for _, i in acknowledged})
    assert {a for _, a in events} == {"report"}


def race(city: ReliableCity, incident: int, action: str, role: str) -> list[int]:
    """``RACERS`` clients fire the same transition at once; their statuses."""
    barrier = threading.Barrier(RACERS)

    def one(_: int) -> int:
        data = {"action": action, "reason": "并发测试"}
        files = {"photo": ("done.png", png_bytes())} if action == "handled" else None
        barrier.wait()
        response = httpx.post(f"{city.base}/api/v1/incidents/{incident}/transitions", data=data, files=files,
                              headers=city.auth(role), timeout=60)  # fmt: skip
        return response.status_code

    with concurrent.futures.ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(one, range(RACERS)))


def test_racing_transitions_have_one_winner_and_a_complete_log(reliable_city: ReliableCity) -> None:
    incidents = [
        httpx.post(f"{reliable_city.base}/api/v1/incidents", timeout=60,
                   json={"category_code": "1102", "location": {"lon": CENTRE[0] + i * 1e-4, "lat": CENTRE[1] + 0.001}}).json()["id"]
        for i in range(6)
    ]  # fmt: skip
    wins = 0
    for action, role in WORKFLOW:
        with concurrent.futures.ThreadPoolExecutor(len(incidents)) as pool:
            outcomes = list(pool.map(lambda i, a=action, r=role: race(reliable_city, i, a, r), incidents))
        for statuses in outcomes:
            assert sorted(statuses) == [200] + [409] * (RACERS - 1), (action, statuses)
            wins += 1
    with reliable_city.engine.connect() as conn:
        for incident in incidents:
            row = conn.execute(text("SELECT state, version FROM incidents.incident WHERE id = :i"), {"i": incident}).one()
            chain = conn.execute(text("SELECT action, from_state, to_state FROM incidents.incident_event "
                                      "WHERE incident_id = :i ORDER BY id"), {"i": incident}).all()  # fmt: skip
            assert row.state == "closed" and row.version == len(chain)
            assert [c.action for c in chain] == ["report"] + [a for a, _ in WORKFLOW]
            for before, after in zip(chain, chain[1:], strict=False):
                assert after.from_state == before.to_state, chain
    print(f"\nracing transitions: {len(incidents)} incidents × {len(WORKFLOW)} steps × {RACERS} racers: "
          f"{wins} acknowledged, {wins} events stored")


def increment(city: ReliableCity, feature: str, role: str) -> tuple[int, int]:
    """Read-modify-write ``capacity`` + 1 with If-Match, retrying on 412; (successes, retries)."""
    done = retries = 0
    url = f"{city.base}/ogc/collections/{OVERLAY}/items/{feature}"
    with httpx.Client(timeout=60, headers=city.auth(role)) as http:
        while done < INCREMENTS_EACH:
            read = http.get(url, params={"f": "json"})
            capacity, etag = read.json()["properties"]["capacity"], read.headers.get("ETag")
            if etag is None:  # the feature kept changing while it was read: read again
                retries += 1
                continue
            answer = http.patch(url, json={"type": "Feature", "properties": {"capacity": capacity + 1}},
                                headers={"If-Match": etag, "Content-Type": "application/geo+json"})  # fmt: skip
            if answer.status_code == 412:
                retries += 1
                continue
            assert answer.status_code == 204, answer.text
            done += 1
    return done, retries


def test_concurrent_editors_lose_no_update(reliable_city: ReliableCity) -> None:
    feature = "7"
    url = f"{reliable_city.base}/ogc/collections/{OVERLAY}/items/{feature}"
    start = httpx.get(url, params={"f": "json"}, timeout=30).json()["properties"]["capacity"]
    with reliable_city.engine.connect() as conn:
        history_before = conn.execute(text("SELECT count(*) FROM audit.feature_change WHERE layer_id = :l AND feature_id = :f"),
                                      {"l": OVERLAY, "f": feature}).scalar_one()  # fmt: skip
    roles = ["editor", "editor2", "admin"]
    with concurrent.futures.ThreadPoolExecutor(EDITORS) as pool:
        results = list(pool.map(lambda i: increment(reliable_city, feature, roles[i % 3]), range(EDITORS)))
    acknowledged = sum(done for done, _ in results)
    final = httpx.get(url, params={"f": "json"}, timeout=30).json()["properties"]["capacity"]
    with reliable_city.engine.connect() as conn:
        history = conn.execute(text("SELECT count(*) FROM audit.feature_change WHERE layer_id = :l AND feature_id = :f"),
                               {"l": OVERLAY, "f": feature}).scalar_one()  # fmt: skip
    print(f"\nconcurrent editors: {EDITORS} clients, {acknowledged} acknowledged updates, "
          f"{sum(r for _, r in results)} refused as stale (412) and retried, final +{final - start}")
    assert final == start + acknowledged == start + EDITORS * INCREMENTS_EACH
    assert history - history_before == acknowledged
