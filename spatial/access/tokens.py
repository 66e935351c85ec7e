"""Bearer tokens: create (shown once, stored as a hash), revoke, list, and authenticate.

A token is ``om_`` followed by 43 URL-safe characters (256 random bits). With that much
entropy a plain SHA-256 is a sound verifier (no salt or slow hash needed); lookups go by the
hash and the final comparison is constant-time.

A server process may keep a ``TokenCache``: valid tokens it has looked up, so a request needs no
database round trip for its caller. Revocation still bites at once: ``revoke_tokens`` sends
``NOTIFY onemap_token`` with the change and, once committed, waits until every cache of the
database (each listening process holds a shared advisory lock, so they can be counted) has
dropped its entries and acknowledged (``NOTIFY onemap_token_ack``); a cache that does not
answer within ``ACK_TIMEOUT_S`` has its connection ended, and a cache without a live
connection serves nothing. When ``revoke_tokens`` returns, no process answers for the token.
Expiry is checked on every use. A change to ``access.token`` made outside ``revoke_tokens``
(an operator's plain SQL) is announced by the table's trigger (migration 0015) and clears the
caches as soon as it commits; only ``revoke_tokens`` also waits for their acknowledgement.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Engine, insert, select, text, update

from spatial.access.models import ROLES, ApiToken
from spatial.access.principal import Principal
from spatial.audit import record_audit
from spatial.db import libpq_url, read_only
from spatial.errors import InvalidInput, NotFound, Unauthorized
from spatial.models import Department


class InvalidToken(Unauthorized):
    """A token was presented but refused (malformed, unknown, revoked or expired)."""


log = logging.getLogger(__name__)

PREFIX = "om_"
TOKEN_PATTERN = re.compile(r"^om_[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True)
class IssuedToken:
    """A freshly created token: the secret (shown once) and its record."""

    id: int
    secret: str
    name: str
    department_code: str
    role: str
    expires_at: dt.datetime | None


def secret_hash(secret: str) -> str:
    """Hex SHA-256 of a token, as stored."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_token(
    engine: Engine, *, department_code: str, role: str, name: str | None = None,
    expires_days: float | None = None, actor: Principal,
) -> IssuedToken:
    """Issue a token for a department's person; only its hash is kept (and the issue audited)."""
    if role not in ROLES:
        raise InvalidInput(f"role {role!r} unknown; one of {', '.join(ROLES)}")
    if expires_days is not None and expires_days <= 0:
        raise InvalidInput("--expires must be a positive number of days")
    secret = PREFIX + secrets.token_urlsafe(32)
    expires = (
        dt.datetime.now(dt.UTC) + dt.timedelta(days=expires_days) if expires_days else None
    )
    with engine.begin() as conn:
        if conn.execute(select(Department.code).where(Department.code == department_code)).first() is None:
            raise InvalidInput(
                f"department {department_code!r} does not exist; add it with `onemap departments add`"
            )
        token_id = conn.execute(
            insert(ApiToken)
            .values(
                name=name or f"{department_code}-{role}",
                department_code=department_code,
                role=role,
                secret_hash=secret_hash(secret),
                expires_at=expires,
            )
            .returning(ApiToken.id)
        ).scalar_one()
        detail = {"name": name or f"{department_code}-{role}", "department": department_code, "role": role,
                  "expires_at": expires}  # fmt: skip
        record_audit(conn, "token.create", f"token {token_id}", principal=actor, detail=detail)
    return IssuedToken(token_id, secret, name or f"{department_code}-{role}", department_code, role, expires)


def revoke_tokens(
    engine: Engine, *, token_id: int | None = None, name: str | None = None, actor: Principal
) -> int:
    """Revoke a token by id, or every active token with a name; the number revoked (audited)."""
    if (token_id is None) == (name is None):
        raise InvalidInput("give a token id or --name, not both")
    where = ApiToken.id == token_id if token_id is not None else ApiToken.name == name
    with caches_acknowledge(engine) as nonce, engine.begin() as conn:
        revoked_ids = conn.execute(
            update(ApiToken)
            .where(where, ApiToken.revoked_at.is_(None))
            .values(revoked_at=dt.datetime.now(dt.UTC))
            .returning(ApiToken.id)
        ).scalars().all()
        for revoked_id in revoked_ids:
            record_audit(conn, "token.revoke", f"token {revoked_id}", principal=actor)
        conn.execute(NOTIFY_CHANGE, {"nonce": nonce})
    revoked = len(revoked_ids)
    if not revoked:
        what = f"id {token_id}" if token_id is not None else f"name {name!r}"
        raise NotFound(f"no active token with {what}")
    return int(revoked)


def list_tokens(engine: Engine) -> list[dict]:
    """Every token's record (never a secret), newest first."""
    table = ApiToken.__table__
    columns = [c for c in table.c if c.name != "secret_hash"]
    with engine.connect() as conn:
        rows = conn.execute(select(*columns).order_by(table.c.id.desc())).mappings()
        return [dict(row) for row in rows]


def _secret(authorization: str) -> str:
    """The token of an ``Authorization`` header value; InvalidToken when it is not one."""
    scheme, _, secret = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise InvalidToken("use the header 'Authorization: Bearer <token>'")
    secret = secret.strip()
    if not TOKEN_PATTERN.match(secret):
        raise InvalidToken("malformed bearer token: onemap tokens look like om_ + 43 characters")
    return secret


def authenticate(engine: Engine, authorization: str, cache: TokenCache | None = None) -> Principal:
    """The principal behind an ``Authorization`` header value; Unauthorized with the reason.

    With a ``cache``, a token it holds needs no database read, and a valid token read is kept."""
    wanted = secret_hash(_secret(authorization))
    if cache is not None:
        principal = cache.principal(wanted)
        if principal is not None:
            return principal
        generation = cache.generation
    with read_only(engine) as conn:
        row = conn.execute(
            select(ApiToken.__table__).where(ApiToken.__table__.c.secret_hash == wanted)
        ).mappings().first()
    if row is None or not hmac.compare_digest(row["secret_hash"], wanted):
        raise InvalidToken("unknown bearer token")
    now = dt.datetime.now(dt.UTC)
    if row["revoked_at"] is not None:
        raise InvalidToken(f"this token was revoked on {row['revoked_at']:%Y-%m-%d %H:%M} UTC")
    if row["expires_at"] is not None and row["expires_at"] <= now:
        raise InvalidToken(f"this token expired on {row['expires_at']:%Y-%m-%d %H:%M} UTC")
    principal = Principal(
        name=row["name"], role=row["role"], department_code=row["department_code"],
        token_id=row["id"],
    )
    if cache is not None:
        cache.remember(wanted, principal, row["expires_at"], generation)
    return principal


TOKEN_CHANNEL = "onemap_token"
ACK_CHANNEL = "onemap_token_ack"
CACHE_LOCK = 1_919_000_219
"""The shared advisory lock every listening cache holds (a revocation counts them by it)."""
ACK_TIMEOUT_S = 5.0
MAX_CACHED = 10_000
NOTIFY_CHANGE = text(f"SELECT pg_notify('{TOKEN_CHANNEL}', :nonce)")
LISTENERS_SQL = (
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 AND objid = %s AND objsubid = 1 "
    "AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND pid <> pg_backend_pid()"
)


def _libpq(engine: Engine) -> str:
    return libpq_url(engine.url.render_as_string(hide_password=False))


class TokenCache:
    """This process's valid tokens by hash, served only while its listener connection is live.

    ``start`` opens the listener (a thread with its own connection: LISTEN, the shared lock);
    every change notice clears the cache and is acknowledged. A look-up that began before a
    clear does not store its row (the generation moved on), so no stale row survives one.
    """

    def __init__(self, engine: Engine) -> None:
        self._url = _libpq(engine)
        self._rows: dict[str, tuple[Principal, dt.datetime | None]] = {}
        self._lock = threading.Lock()
        self._live = False
        self.generation = 0
        self.hits = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()

    def start(self) -> TokenCache:
        if self._thread is None:
            self._thread = threading.Thread(target=self._listen, name="onemap-token-cache", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._reset(live=False)

    def principal(self, digest: str) -> Principal | None:
        """The cached principal of a token hash (None: not cached, or no longer valid)."""
        with self._lock:
            entry = self._rows.get(digest) if self._live else None
            if entry is None:
                return None
            if entry[1] is not None and entry[1] <= dt.datetime.now(dt.UTC):
                del self._rows[digest]  # expired: the database read says so
                return None
            self.hits += 1
            return entry[0]

    def lookup(self, authorization: str) -> Principal | None:
        """The cached principal of an ``Authorization`` value; None when not cached (or malformed)."""
        try:
            return self.principal(secret_hash(_secret(authorization)))
        except InvalidToken:
            return None

    def remember(self, digest: str, principal: Principal, expires: dt.datetime | None, generation: int) -> None:
        with self._lock:
            if not self._live or generation != self.generation:
                return
            if len(self._rows) >= MAX_CACHED:
                self._rows.clear()
            self._rows[digest] = (principal, expires)

    def _reset(self, *, live: bool) -> None:
        with self._lock:
            self._rows.clear()
            self.generation += 1
            self._live = live

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=5,
                                     application_name="onemap token cache") as conn:  # fmt: skip
                    conn.execute(f"LISTEN {TOKEN_CHANNEL}")
                    conn.execute("SELECT pg_advisory_lock_shared(%s)", [CACHE_LOCK])
                    self._reset(live=True)
                    self.listening.set()
                    pid = conn.info.backend_pid
                    while not self._stop.is_set():
                        notices = list(conn.notifies(timeout=0.5, stop_after=1))
                        if not notices:
                            continue
                        self._reset(live=True)
                        for notice in notices:
                            conn.execute("SELECT pg_notify(%s, %s)", [ACK_CHANNEL, f"{notice.payload}:{pid}"])
            except psycopg.errors.InvalidCatalogName:
                return  # the database was dropped: nothing left to cache
            except psycopg.Error as err:
                log.warning("token cache: listener connection lost (%s); looking tokens up meanwhile", err)
            finally:
                self.listening.clear()
                self._reset(live=False)
            self._stop.wait(1.0)


_caches: dict[Engine, TokenCache] = {}
_caches_lock = threading.Lock()


def token_cache(engine: Engine) -> TokenCache:
    """The process's token cache for ``engine``'s database (started on first use)."""
    cache = _caches.get(engine)
    if cache is None:
        with _caches_lock:
            cache = _caches.get(engine)
            if cache is None:
                cache = _caches[engine] = TokenCache(engine).start()
    return cache


def stop_token_cache(engine: Engine) -> None:
    """Stop and forget ``engine``'s token cache (a server's shutdown); a later use starts another."""
    with _caches_lock:
        cache = _caches.pop(engine, None)
    if cache is not None:
        cache.stop()


def _listeners(conn: psycopg.Connection[Any]) -> set[int]:
    return {int(row[0]) for row in conn.execute(LISTENERS_SQL, [CACHE_LOCK]).fetchall()}


@contextlib.contextmanager
def caches_acknowledge(engine: Engine, timeout_s: float = ACK_TIMEOUT_S) -> Iterator[str]:
    """Around a change of ``access.token``: yields the nonce the change must NOTIFY (in its
    transaction, ``NOTIFY_CHANGE``) and, once it is committed, waits until every token cache that
    was listening has cleared and acknowledged; one that stays silent has its connection ended."""
    nonce = secrets.token_hex(8)
    with psycopg.connect(_libpq(engine), autocommit=True, connect_timeout=5,
                         application_name="onemap token revocation") as ack:  # fmt: skip
        ack.execute(f"LISTEN {ACK_CHANNEL}")
        waiting = _listeners(ack)
        yield nonce
        deadline = time.monotonic() + timeout_s
        while waiting and time.monotonic() < deadline:
            for notice in ack.notifies(timeout=min(0.5, max(0.0, deadline - time.monotonic())), stop_after=1):
                got, _, pid = notice.payload.partition(":")
                if got == nonce and pid.isdigit():
                    waiting.discard(int(pid))
            waiting &= _listeners(ack)  # a cache whose connection ended serves nothing
        for silent in waiting:
            log.warning("token cache on backend %s did not acknowledge a revocation: ending its connection", silent)
            ack.execute("SELECT pg_terminate_backend(%s)", [silent])
