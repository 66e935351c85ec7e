"""Read replicas: a real hot standby of the test cluster (``onemap db replica add``) serves reads.

One standby per module, made by the CLI (pg_basebackup of var/pg-test through a slot) and
removed by it at the end. The checks that measure lag call ``ReplicaSet.check()`` themselves;
the app's own checker thread runs every 0.2 s in the HTTP tests, which poll /health for the
state they wait for (bounded waits, no timing asserts).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import Engine, make_url, text

from spatial.config import PROJECT_ROOT, Settings
from spatial.db import libpq_url, make_engine, replica_read
from spatial.postgis import EmbeddedCluster, StandbyCluster, standbys
from spatial.replicas import (
    DOWN,
    LAGGING,
    UP,
    Replica,
    ReplicaSet,
    attach,
    detach,
    format_lsn,
    parse_lsn,
    reading_after,
)
from tests.conftest import TEST_CLUSTER

ONEMAP = [sys.executable, "-m", "api.cli"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMAP_")}
    env["ONEMAP_PG_DATA"] = str(TEST_CLUSTER)
    return subprocess.run([*ONEMAP, "db", "replica", *args], env=env, capture_output=True, text=True,
                          timeout=180, cwd=PROJECT_ROOT)  # fmt: skip


@pytest.fixture(scope="module")
def standby(test_server_state: Any) -> Iterator[StandbyCluster]:
    """A hot standby of the test cluster, made and removed through `onemap db replica`."""
    if os.environ.get("ONEMAP_TEST_DATABASE_URL"):
        pytest.skip("replica tests copy the embedded test cluster; ONEMAP_TEST_DATABASE_URL points elsewhere")
    primary = EmbeddedCluster(TEST_CLUSTER)
    before = {s.number for s in standbys(primary)}
    added = cli("add")
    assert added.returncode == 0, added.stderr
    made = [s for s in standbys(primary) if s.number not in before]
    assert len(made) == 1
    replica = made[0]
    assert added.stdout.strip() == replica.read_state().url(), "add prints the replica's URL on stdout"
    try:
        yield replica
    finally:
        removed = cli("remove", str(replica.number))
        assert removed.returncode == 0, removed.stderr
        assert not replica.root.exists()
        with psycopg.connect(libpq_url(primary.url("postgres")), autocommit=True) as conn:
            slot = conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (replica.slot,)).fetchone()
        assert slot is None, "remove drops the replica's slot"


@pytest.fixture(scope="module")
def replica_url(standby: StandbyCluster, db_url: str) -> str:
    """The standby's URL for the session's test database."""
    database = make_url(db_url).database
    url = standby.read_state().url(database)
    deadline = time.monotonic() + 60  # the database may be newer than the copy: wait until it is replayed
    while True:
        try:
            with psycopg.connect(libpq_url(url), connect_timeout=3):
                return url
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="module")
def primary(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url, pool_size=2)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS public.replica_probe (id serial PRIMARY KEY, note text)"))
    yield engine
    detach(engine)
    engine.dispose()


def write(engine: Engine, note: str) -> int:
    """Insert a probe row on the primary; the WAL position after the commit."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO public.replica_probe (note) VALUES (:note)"), {"note": note})
    with engine.connect() as conn:
        return parse_lsn(conn.execute(text("SELECT pg_current_wal_insert_lsn()::text")).scalar_one())


def read(engine: Engine, note: str) -> tuple[bool, bool]:
    with replica_read(engine) as conn:
        row = conn.execute(text("SELECT pg_is_in_recovery() AS standby, "
                                "EXISTS (SELECT 1 FROM public.replica_probe WHERE note = :note) AS found"),
                           {"note": note}).one()  # fmt: skip
    return bool(row.standby), bool(row.found)


def wait_for(predicate: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.1)


def replay(url: str, action: str) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(f"SELECT pg_wal_replay_{action}()")


def test_lsn_text_round_trips() -> None:
    assert format_lsn(parse_lsn("16/B374D848")) == "16/B374D848"
    for bad in ("", "16", "x/1", "1/2/3", "123456789/0"):
        with pytest.raises(ValueError):
            parse_lsn(bad)


def test_reads_go_to_the_replica_and_see_own_writes(primary: Engine, replica_url: str) -> None:
    replicas = ReplicaSet(primary, [replica_url], max_lag_s=30)
    try:
        attach_set(primary, replicas)
        replicas.check()
        assert replicas.replicas[0].state == UP
        note = f"first-{uuid.uuid4().hex[:6]}"
        lsn = write(primary, note)
        wait_for(lambda: read(primary, note) == (True, True), "the replica to replay the write")
        replay(replica_url, "pause")
        try:
            note = f"paused-{uuid.uuid4().hex[:6]}"
            lsn = write(primary, note)
            replicas.check()
            assert replicas.replicas[0].state == UP  # behind, but within the bound
            assert read(primary, note) == (True, False), "without READ_AFTER a stale replica serves"
            with reading_after(lsn):
                assert read(primary, note) == (False, True), "the caller's own write: the primary serves"
        finally:
            replay(replica_url, "resume")
        replicas.check()
        wait_for(lambda: checked(replicas).replay_lsn >= lsn, "replay to resume")
        with reading_after(lsn):
            assert read(primary, note) == (True, True), "caught up: the replica serves the caller again"
    finally:
        detach(primary)


def checked(replicas: ReplicaSet) -> Replica:
    """The (only) replica after one more check."""
    replicas.check()
    return replicas.replicas[0]


def attach_set(primary: Engine, replicas: ReplicaSet) -> None:
    """Register a set whose checks the test drives itself (no checker thread)."""
    from spatial import replicas as registry

    detach(primary)
    registry._sets[primary] = replicas


def test_a_lagging_replica_leaves_the_rotation_and_comes_back(primary: Engine, replica_url: str) -> None:
    replicas = ReplicaSet(primary, [replica_url], max_lag_s=0.3)
    try:
        attach_set(primary, replicas)
        replicas.check()
        assert replicas.replicas[0].state == UP
        replay(replica_url, "pause")
        try:
            write(primary, "lagging")
            replicas.check()
            time.sleep(0.5)
            write(primary, "lagging more")
            replicas.check()
            assert replicas.replicas[0].state == LAGGING
            assert replicas.replicas[0].lag_s is not None and replicas.replicas[0].lag_s > 0.3
            assert read(primary, "lagging")[0] is False, "a lagging replica serves nothing"
            report = replicas.report()[0]
            assert report["state"] == LAGGING and report["replay_paused"] is True
            assert "password" not in report["name"] and make_url(replica_url).password not in report["name"]
        finally:
            replay(replica_url, "resume")
        wait_for(lambda: checked(replicas).state == UP, "the replica to catch up")
        assert read(primary, "lagging") == (True, True)
    finally:
        detach(primary)


def test_a_statement_cut_off_by_a_dying_replica_runs_again_on_the_primary(
    primary: Engine, replica_url: str, standby: StandbyCluster
) -> None:
    replicas = ReplicaSet(primary, [replica_url], max_lag_s=30)
    try:
        attach_set(primary, replicas)
        replicas.check()
        with replica_read(primary) as conn:
            assert conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one() is True
            standby.stop(mode="immediate")  # the replica dies under an open connection
            try:
                assert conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one() is False, "retried on the primary"
                assert conn.execute(text("SELECT 1")).scalar_one() == 1
            finally:
                standby.start()
        assert replicas.replicas[0].state == DOWN, "taken out at once, before the next check"
        with replica_read(primary) as conn:
            assert conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one() is False
        wait_for(lambda: checked(replicas).state == UP, "the restarted replica to be checked up")
        with replica_read(primary) as conn:
            assert conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one() is True
    finally:
        detach(primary)


def get_health(base: str) -> dict[str, Any]:
    response = httpx.get(f"{base}/health", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def replica_report(base: str) -> dict[str, Any]:
    return get_health(base)["replicas"][0]


def test_http_reads_use_the_replica_survive_its_loss_and_follow_own_writes(
    replica_url: str, settings: Settings, standby: StandbyCluster, primary: Engine
) -> None:
    from tests.live import live_server

    served = settings.model_copy(update={"database_read_urls": replica_url, "replica_check_s": 0.2,
                                         "replica_max_lag_s": 30.0})  # fmt: skip
    with live_server(served) as base:
        wait_for(lambda: replica_report(base)["state"] == UP, "/health to report the replica up")
        geocode = f"{base}/api/v1/geocode"
        before = replica_report(base)["reads"]
        assert httpx.get(geocode, params={"q": "人民路1号"}, timeout=30).status_code == 200
        assert replica_report(base)["reads"] == before + 1, "an anonymous read is served by the replica"

        # a write (any unsafe request answered 2xx) hands back the WAL position after it, as header and cookie
        replay(replica_url, "pause")
        try:
            write(primary, "behind")  # what the POST below stands for: the replica has not replayed it
            posted = httpx.post(f"{geocode}/batch", json=["人民路1号"], timeout=30)
            assert posted.status_code == 200, posted.text
            after = posted.headers["OneMap-Read-After"]
            assert parse_lsn(after) > 0
            assert f"onemap_read_after={after}" in posted.headers["set-cookie"]
            wait_for(lambda: replica_report(base).get("replay_paused") is True, "the checker to see the pause")
            assert replica_report(base)["state"] == UP, "behind, but within the bound: still in rotation"
            reads = replica_report(base)["reads"]
            echoed = httpx.get(geocode, params={"q": "人民路1号"}, headers={"OneMap-Read-After": after}, timeout=30)
            assert echoed.status_code == 200
            cookie = httpx.get(geocode, params={"q": "人民路1号"}, cookies={"onemap_read_after": after}, timeout=30)
            assert cookie.status_code == 200
            assert replica_report(base)["reads"] == reads, "the caller's own write: the primary served both"
            assert httpx.get(geocode, params={"q": "人民路1号"}, timeout=30).status_code == 200
            assert replica_report(base)["reads"] == reads + 1, "another caller still reads the replica"
            bad = httpx.get(geocode, params={"q": "x"}, headers={"OneMap-Read-After": "yesterday"}, timeout=30)
            assert bad.status_code == 400 and "OneMap-Read-After" in bad.json()["description"]
        finally:
            replay(replica_url, "resume")

        standby.stop()
        try:
            for _ in range(3):  # the first may find the replica gone only when it connects: still a 200
                assert httpx.get(geocode, params={"q": "人民路1号"}, timeout=30).status_code == 200
            wait_for(lambda: replica_report(base)["state"] == DOWN, "/health to report the replica down")
            assert get_health(base)["status"] == "ok"
        finally:
            standby.start()
        wait_for(lambda: replica_report(base)["state"] == UP, "the restarted replica to be taken back")
        reads = replica_report(base)["reads"]
        assert httpx.get(geocode, params={"q": "人民路1号"}, timeout=30).status_code == 200
        assert replica_report(base)["reads"] == reads + 1


def test_cli_status_and_bad_input(standby: StandbyCluster) -> None:
    status = cli("status")
    assert status.returncode == 0, status.stderr
    line = next(ln for ln in status.stdout.splitlines() if ln.startswith(f"replica {standby.number}:"))
    assert f"port {standby.read_state().port}" in line and ", up" in line and "lag " in line
    unknown = cli("remove", "999")
    assert unknown.returncode != 0
    assert "there is no replica 999" in unknown.stderr and "Traceback" not in unknown.stderr
    assert standby.is_running(), "a refused command changes nothing"


def test_attach_without_urls_keeps_reads_on_the_primary(primary: Engine) -> None:
    assert attach(primary, []) is None
    assert read(primary, "nothing")[0] is False
