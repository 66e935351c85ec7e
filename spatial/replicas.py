"""Read replicas: which PostgreSQL standby may serve a read, and how far behind the primary each is.

One ``ReplicaSet`` per process and primary engine (``attach``), made from
``ONEMAP_DATABASE_READ_URLS``. A daemon thread checks every replica each ``replica_check_s``:
it samples the primary's WAL position, then each replica's replay position, and a replica's lag
is the time since the primary was first seen past the position the replica has replayed
(zero when it has replayed everything). That measure needs no clock agreement between servers
and does not count an idle primary's quiet time as lag, as ``now() - pg_last_xact_replay_timestamp()``
would. A replica that does not answer, is no standby, or lags more than ``replica_max_lag_s`` leaves
the rotation; the next good check takes it back. Requests never wait for a check.

``spatial.db.replica_read`` asks ``connect_for_read``: round robin over the replicas in rotation
that have replayed at least ``READ_AFTER`` (the caller's own last write, set per request by
api/consistency.py), else the primary. A replica that fails to connect, or drops the connection
mid-statement, is taken out at once and that read runs again on the primary.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

log = logging.getLogger("onemap.replicas")

READ_AFTER: contextvars.ContextVar[int | None] = contextvars.ContextVar("onemap_read_after", default=None)
"""The WAL position (as an int) the current request must see: its caller's last write, or None."""

UP, LAGGING, DOWN, NOT_STANDBY, STARTING = "up", "lagging", "down", "not a standby", "starting"


def parse_lsn(value: str) -> int:
    """'16/B374D848' → int; ValueError when it is no WAL position."""
    high, sep, low = value.strip().partition("/")
    if not sep or not (0 < len(high) <= 8 and 0 < len(low) <= 8):
        raise ValueError(f"not a WAL position: {value!r}")
    return (int(high, 16) << 32) | int(low, 16)


def format_lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


@dataclass
class Replica:
    """One read replica as the health check last saw it."""

    url: str
    name: str  # the URL without its password, for /health and logs
    engine: Engine
    state: str = STARTING
    lag_s: float | None = None
    replay_lsn: int = 0
    reads: int = 0
    error: str | None = None
    paused: bool = False

    def report(self) -> dict[str, Any]:
        lag = None if self.lag_s is None else round(self.lag_s, 3)
        info: dict[str, Any] = {"name": self.name, "state": self.state, "lag_s": lag, "reads": self.reads}
        if self.paused:
            info["replay_paused"] = True
        if self.error:
            info["error"] = self.error
        return info


class ReplicaSet:
    """The read replicas of one primary engine, their health, and the round robin over them."""

    def __init__(self, primary: Engine, urls: list[str], *, max_lag_s: float = 5.0, check_s: float = 1.0,
                 pool_size: int = 10, statement_timeout_s: float | None = None) -> None:  # fmt: skip
        from spatial.db import normalise_url, shared_engine

        self.primary = primary
        self.max_lag_s = max_lag_s
        self.check_s = check_s
        self.replicas: list[Replica] = []
        for url in urls:
            url = normalise_url(url, setting="ONEMAP_DATABASE_READ_URLS")
            engine = shared_engine(url, pool_size=pool_size, statement_timeout_s=statement_timeout_s)
            name = make_url(url).render_as_string(hide_password=True)
            self.replicas.append(Replica(url=url, name=name, engine=engine))
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._samples: deque[tuple[float, int]] = deque()  # (monotonic time, primary WAL position)
        self._window_s = max(60.0, 4 * max_lag_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ checks
    def start(self) -> None:
        if self._thread is None and self.replicas:
            self._thread = threading.Thread(target=self._run, name="onemap-replica-check", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        for replica in self.replicas:
            replica.engine.dispose()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception:  # the checker must outlive any surprise; the replicas stay as last seen
                log.exception("replica check failed")
            self._stop.wait(self.check_s)

    def primary_lsn(self) -> int | None:
        """The primary's current WAL insert position, or None when it does not answer."""
        from spatial.db import read_only

        try:
            with read_only(self.primary) as conn:
                return parse_lsn(str(conn.execute(text("SELECT pg_current_wal_insert_lsn()::text")).scalar_one()))
        except DBAPIError:
            return None

    def check(self) -> None:
        """Measure every replica once (the background thread calls this every ``check_s``)."""
        now = time.monotonic()
        primary = self.primary_lsn()
        if primary is not None:
            self._samples.append((now, primary))
        while self._samples and self._samples[0][0] < now - self._window_s:
            self._samples.popleft()
        for replica in self.replicas:
            self._check_one(replica, primary)

    def _check_one(self, replica: Replica, primary: int | None) -> None:
        try:
            with replica.engine.connect() as conn:
                row = conn.execute(text(
                    "SELECT pg_is_in_recovery() AS standby, pg_last_wal_replay_lsn()::text AS replay, "
                    "CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() END AS pause"
                )).one()  # fmt: skip
        except DBAPIError as err:
            self.mark_down(replica, err)
            return
        if not row.standby or row.replay is None:
            replica.state, replica.lag_s, replica.error = NOT_STANDBY, None, "not in recovery: not a streaming replica"
            return
        replay = parse_lsn(row.replay)
        lag = self._lag(replay, primary, time.monotonic())
        with self._lock:
            replica.replay_lsn = replay
            replica.lag_s = lag
            replica.paused = row.pause not in (None, "not paused")
            replica.error = None
            healthy = lag is not None and lag <= self.max_lag_s
            new_state = UP if healthy else LAGGING
            if new_state != replica.state:
                (log.info if new_state == UP else log.warning)("read replica %s: %s (lag %s s)", replica.name, new_state, lag)
            replica.state = new_state

    def _lag(self, replay: int, primary: int | None, now: float) -> float | None:
        """Seconds since the primary was first seen past ``replay``; 0 when caught up."""
        if primary is None:
            return None  # the primary does not answer: nothing to compare with, keep out of rotation
        if replay >= primary:
            return 0.0
        for seen, position in self._samples:
            if position > replay:
                return now - seen
        return 0.0

    def mark_down(self, replica: Replica, err: BaseException) -> None:
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()
        with self._lock:
            if replica.state != DOWN:
                log.warning("read replica %s is down: %s", replica.name, reason[0] if reason else err)
            replica.state, replica.lag_s = DOWN, None
            replica.error = reason[0] if reason else type(err).__name__

    # ------------------------------------------------------------------- reads
    def pick(self, read_after: int | None) -> Replica | None:
        """The next replica in rotation that has replayed ``read_after``; None: use the primary."""
        candidates = [r for r in self.replicas
                      if r.state == UP and (read_after is None or r.replay_lsn >= read_after)]  # fmt: skip
        if not candidates:
            return None
        return candidates[next(self._turn) % len(candidates)]

    def report(self) -> list[dict[str, Any]]:
        return [replica.report() for replica in self.replicas]


class _ReplicaConnection(Connection):
    """A connection to a replica that runs a statement again on the primary when the replica fails.

    Retried: the connection dropped (the replica stopped or restarted) and a standby's
    "conflict with recovery" cancel (SQLSTATE 40001), in autocommit (the default of
    ``replica_read``) or on a transaction's first statement, where nothing earlier is lost.
    Once fallen back, the connection stays on the primary, with the same isolation level.
    """

    _fallback: Connection | None = None
    _ran: bool = False  # a statement succeeded in the current transaction

    def bind_failover(self, replicas: ReplicaSet, replica: Replica) -> None:
        self._replicas = replicas
        self._replica = replica

    def _retry(self, err: DBAPIError) -> Connection | None:
        sqlstate = getattr(err.orig, "sqlstate", None) or ""
        broken = err.connection_invalidated or sqlstate.startswith("08")
        if broken:
            self._replicas.mark_down(self._replica, err)
        isolation = self.get_execution_options().get("isolation_level", "AUTOCOMMIT")
        if not (broken or sqlstate == "40001") or (self._ran and isolation != "AUTOCOMMIT"):
            return None
        self._fallback = self._replicas.primary.connect().execution_options(isolation_level=isolation)
        return self._fallback

    def execute(self, statement: Any, parameters: Any = None, *, execution_options: Any = None) -> Any:
        if self._fallback is not None:
            return self._fallback.execute(statement, parameters, execution_options=execution_options)
        try:
            result = super().execute(statement, parameters, execution_options=execution_options)
        except DBAPIError as err:
            fallback = self._retry(err)
            if fallback is None:
                raise
            return fallback.execute(statement, parameters, execution_options=execution_options)
        self._ran = True
        return result

    def exec_driver_sql(self, statement: Any, parameters: Any = None, execution_options: Any = None) -> Any:
        if self._fallback is not None:
            return self._fallback.exec_driver_sql(statement, parameters, execution_options)
        try:
            result = super().exec_driver_sql(statement, parameters, execution_options)
        except DBAPIError as err:
            fallback = self._retry(err)
            if fallback is None:
                raise
            return fallback.exec_driver_sql(statement, parameters, execution_options)
        self._ran = True
        return result

    def scalar(self, statement: Any, parameters: Any = None, *, execution_options: Any = None) -> Any:
        return self.execute(statement, parameters, execution_options=execution_options).scalar()

    def rollback(self) -> None:
        self._ran = False
        if self._fallback is not None:
            self._fallback.rollback()
        else:
            super().rollback()

    def commit(self) -> None:
        self._ran = False
        if self._fallback is not None:
            self._fallback.commit()
        else:
            super().commit()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._fallback is not None:
                self._fallback.close()


_sets: dict[Engine, ReplicaSet] = {}
_sets_lock = threading.Lock()


def attach(primary: Engine, urls: list[str], **options: Any) -> ReplicaSet | None:
    """Serve reads of ``primary`` from ``urls`` too (replacing an earlier set); None when there are none."""
    detach(primary)
    if not urls:
        return None
    replicas = ReplicaSet(primary, urls, **options)
    with _sets_lock:
        _sets[primary] = replicas
    replicas.start()
    return replicas


def detach(primary: Engine) -> None:
    with _sets_lock:
        replicas = _sets.pop(primary, None)
    if replicas is not None:
        replicas.close()


def replicas_of(primary: Engine) -> ReplicaSet | None:
    return _sets.get(primary)


def connect_for_read(primary: Engine) -> Connection:
    """An autocommit connection for one read: a replica in rotation that has the caller's writes, else the primary."""
    from spatial.db import read_only

    replicas = _sets.get(primary)
    replica = replicas.pick(READ_AFTER.get()) if replicas is not None else None
    if replicas is None or replica is None:
        return read_only(primary)
    try:
        conn = _ReplicaConnection(replica.engine)
    except DBAPIError as err:  # the replica stopped since the last check: take it out, read the primary
        replicas.mark_down(replica, err)
        return read_only(primary)
    conn.bind_failover(replicas, replica)
    replica.reads += 1
    return conn.execution_options(isolation_level="AUTOCOMMIT")


@contextlib.contextmanager
def reading_after(lsn: int | None) -> Any:
    """Within the block, reads must see WAL position ``lsn`` (for code outside a request)."""
    token = READ_AFTER.set(lsn)
    try:
        yield
    finally:
        READ_AFTER.reset(token)


def measure(primary_url: str, replica_url: str) -> dict[str, Any]:
    """One look at a replica, for `onemap db replica status`: state, lag in seconds, replay paused.

    Lag here is ``now() - pg_last_xact_replay_timestamp()`` while the replica has WAL to replay
    (both servers on this machine share a clock), else 0.
    """
    import psycopg

    from spatial.db import libpq_url

    try:
        with psycopg.connect(libpq_url(primary_url), connect_timeout=5, autocommit=True) as conn:
            row = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
            primary = parse_lsn(row[0]) if row else None
    except psycopg.Error:
        primary = None
    try:
        with psycopg.connect(libpq_url(replica_url), connect_timeout=5, autocommit=True) as conn:
            row = conn.execute(
                "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
                "extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8, "
                "CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() END"
            ).fetchone()
    except psycopg.Error as err:
        return {"state": DOWN, "lag_s": None, "error": str(err).strip().splitlines()[0] if str(err) else "error"}
    assert row is not None
    standby, replay, since_replay, pause = row
    if not standby or replay is None:
        return {"state": NOT_STANDBY, "lag_s": None}
    paused = pause not in (None, "not paused")
    if primary is None:
        return {"state": "primary down", "lag_s": None, "replay_paused": paused}
    lag = 0.0 if parse_lsn(replay) >= primary else max(0.0, float(since_replay or 0.0))
    return {"state": UP, "lag_s": round(lag, 3), "replay_paused": paused,
            "behind_bytes": max(0, primary - parse_lsn(replay))}  # fmt: skip
