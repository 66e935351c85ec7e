"""The filing hot path (issue 19): the per-process token cache, whose revocation bites at once in
every server process, and filing on an autocommit connection, whose acknowledged incidents
survive the server being killed (-9) right after the acknowledgements."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import text

from spatial.access.principal import local_operator
from spatial.postgis import free_port
from tests.incidents.conftest import GUIYI, IncidentCity

pytestmark = pytest.mark.usefixtures("incident_city")


@contextmanager
def served(url: str, workers: int = 1) -> Iterator[tuple[str, subprocess.Popen]]:
    """`onemap serve` in its own process group on a free port; killed at the end."""
    port = free_port()
    env = dict(os.environ, ONEMAP_DATABASE_URL=url, ONEMAP_PORT=str(port), ONEMAP_RATE_LIMIT_WRITES="off")
    process = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--workers", str(workers), "--port", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("onemap serve did not come up")
            time.sleep(0.2)
        yield base, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _listeners(engine) -> int:  # type: ignore[no-untyped-def]
    from spatial.access.tokens import CACHE_LOCK, LISTENERS_SQL

    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        return len(raw.execute(LISTENERS_SQL, [CACHE_LOCK]).fetchall())


def _wait_for_listeners(engine, count: int) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 30
    while _listeners(engine) < count:
        assert time.monotonic() < deadline, f"fewer than {count} token caches listening"
        time.sleep(0.1)


def test_token_cache_serves_known_tokens_and_forgets_revoked_ones(incident_city: IncidentCity) -> None:
    from spatial.access.tokens import (
        InvalidToken,
        TokenCache,
        authenticate,
        create_token,
        revoke_tokens,
    )

    engine = incident_city.engine
    token = create_token(engine, department_code="supervision", role="inspector", name="cache-local",
                         actor=local_operator())  # fmt: skip
    cache = TokenCache(engine).start()
    try:
        assert cache.listening.wait(30)
        header = f"Bearer {token.secret}"
        first = authenticate(engine, header, cache)
        assert authenticate(engine, header, cache) == first
        assert cache.hits == 1 and cache.lookup(header) == first
        revoke_tokens(engine, token_id=token.id, actor=local_operator())
        assert cache.lookup(header) is None  # cleared before revoke_tokens returned
        with pytest.raises(InvalidToken, match="revoked"):
            authenticate(engine, header, cache)
        assert cache.lookup("Bearer nonsense") is None
    finally:
        cache.stop()
    assert cache.lookup(f"Bearer {token.secret}") is None  # a stopped cache serves nothing


def test_a_token_revoked_with_plain_sql_leaves_the_caches(incident_city: IncidentCity) -> None:
    """An operator's UPDATE of access.token (no revoke_tokens) reaches the cache by the table's trigger."""
    from spatial.access.tokens import InvalidToken, TokenCache, authenticate, create_token

    engine = incident_city.engine
    token = create_token(engine, department_code="supervision", role="inspector", name="cache-sql",
                         actor=local_operator())  # fmt: skip
    cache = TokenCache(engine).start()
    try:
        assert cache.listening.wait(30)
        header = f"Bearer {token.secret}"
        authenticate(engine, header, cache)
        assert cache.lookup(header) is not None
        with engine.begin() as conn:
            conn.execute(text("UPDATE access.token SET revoked_at = now() WHERE id = :id"), {"id": token.id})
        deadline = time.monotonic() + 10
        while cache.lookup(header) is not None:
            assert time.monotonic() < deadline, "the cache still serves a token revoked in SQL"
            time.sleep(0.05)
        with pytest.raises(InvalidToken, match="revoked"):
            authenticate(engine, header, cache)
    finally:
        cache.stop()


def test_revocation_bites_at_once_in_every_server_process(incident_city: IncidentCity) -> None:
    """Two server processes have the token cached; after revoke_tokens returns, both answer 401."""
    from spatial.access.tokens import create_token, revoke_tokens

    engine = incident_city.engine
    token = create_token(engine, department_code="supervision", role="inspector", name="cache-two",
                         actor=local_operator())  # fmt: skip
    other = incident_city.auth("inspector")
    headers = {"Authorization": f"Bearer {token.secret}"}
    path = "/api/v1/incidents/inspectors"
    before = _listeners(engine)
    with served(incident_city.url) as (one, _), served(incident_city.url) as (two, _):
        for base in (one, two):  # the first authenticated request starts the process's cache
            assert httpx.get(base + path, headers=other, timeout=30).status_code == 200
        _wait_for_listeners(engine, before + 2)
        for base in (one, two):
            for _ in range(2):  # read, then served from the cache
                assert httpx.get(base + path, headers=headers, timeout=30).status_code == 200
        revoke_tokens(engine, token_id=token.id, actor=local_operator())
        for base in (one, two):
            refused = httpx.get(base + path, headers=headers, timeout=30)
            assert refused.status_code == 401, refused.text
            assert "revoked" in refused.json()["description"]
            assert httpx.get(base + path, headers=other, timeout=30).status_code == 200  # others unaffected


def test_acknowledged_filings_survive_kill_9(incident_city: IncidentCity) -> None:
    """Filings acknowledged (201) before the server is killed -9 are all stored, with their event."""
    acked: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()
    headers = incident_city.auth("inspector")

    def client(base: str, k: int) -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            i = 0
            while not stop.is_set():
                i += 1
                body = {"category_code": "1102", "description": f"kill-9 {k}-{i}", "source": "inspector",
                        "location": {"lon": GUIYI[0] + 0.0001 * k, "lat": GUIYI[1] + 0.00001 * i}}  # fmt: skip
                try:
                    response = http.post("/api/v1/incidents", json=body)
                except httpx.TransportError:
                    return
                if response.status_code == 201:
                    with lock:
                        acked.append(response.json()["id"])

    with served(incident_city.url, workers=2) as (base, process):
        threads = [threading.Thread(target=client, args=(base, k), daemon=True) for k in range(6)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(acked) < 60:
            assert time.monotonic() < deadline, "the server acknowledged too few filings"
            time.sleep(0.01)
        os.killpg(process.pid, signal.SIGKILL)  # mid-stream: requests are in flight
        process.wait(timeout=10)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    with incident_city.engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM incidents.incident WHERE id = ANY(:ids)"),
                              {"ids": acked}).scalar_one()  # fmt: skip
        logged = conn.execute(text(
            "SELECT count(DISTINCT incident_id) FROM incidents.incident_event WHERE incident_id = ANY(:ids) "
            "AND action = 'report'"), {"ids": acked}).scalar_one()  # fmt: skip
    assert len(acked) >= 60
    assert stored == logged == len(set(acked))


def test_fast_path_routes_logs_and_suggests_duplicates(incident_city: IncidentCity) -> None:
    """The two-statement filing: routing, the 'report' event naming the duplicates, and the answer."""
    headers = incident_city.auth("inspector")
    body = {"category_code": "1102", "description": "hot path", "source": "inspector",
            "location": {"lon": GUIYI[0] + 0.0123, "lat": GUIYI[1] - 0.0045}}  # fmt: skip
    first = httpx.post(f"{incident_city.base}/api/v1/incidents", json=body, headers=headers, timeout=30).json()
    second = httpx.post(f"{incident_city.base}/api/v1/incidents", json=body, headers=headers, timeout=30).json()
    assert first["cell_code"] and second["cell_code"] == first["cell_code"]
    assert first["department_code"] == second["department_code"]
    assert [d["id"] for d in second["possible_duplicates"]][:1] == [first["id"]]
    assert second["possible_duplicates"][0]["distance_m"] == 0.0
    with incident_city.engine.connect() as conn:
        detail = conn.execute(text(
            "SELECT detail FROM incidents.incident_event WHERE incident_id = :id AND action = 'report'"),
            {"id": second["id"]}).scalar_one()  # fmt: skip
    assert first["id"] in detail["possible_duplicates"]
    assert detail["source"] == "inspector" and detail["routing"] == second["routing"]
