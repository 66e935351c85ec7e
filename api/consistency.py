"""Read-your-writes with read replicas: after a caller writes, that caller's reads see the write.

When the app has read replicas (ONEMAP_DATABASE_READ_URLS), an unsafe request (POST, PUT, PATCH,
DELETE) answered 2xx records the primary's WAL insert position after the handler committed, and
hands it back three ways:

- the response header ``OneMap-Read-After: <lsn>`` (API clients may echo it on their next reads),
- a short-lived cookie ``onemap_read_after`` (browsers send it back),
- per principal, in this process's memory (a token holder's next reads here, header or not).

A request carrying any of them sets ``spatial.replicas.READ_AFTER`` (a contextvar, so library
code takes no new parameter): ``replica_read`` then uses only replicas that have replayed that
position, else the primary. A malformed header is a 400; a malformed cookie is ignored. Without
replicas the middleware does nothing.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser

from api.errors import error_response
from spatial.access.principal import Principal
from spatial.errors import InvalidInput
from spatial.replicas import READ_AFTER, format_lsn, parse_lsn, replicas_of

HEADER = "OneMap-Read-After"
COOKIE = "onemap_read_after"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
MEMORY_LIMIT = 10_000  # principals remembered per process; the oldest are forgotten first


def _principal_key(principal: Principal | None) -> tuple[object, ...] | None:
    if principal is None:
        return None
    if principal.token_id is not None:
        return ("token", principal.token_id)
    return ("name", principal.name, principal.department_code, principal.role)


class ReadYourWritesMiddleware:
    """ASGI middleware (inside PrincipalMiddleware): sets READ_AFTER per request, records writes."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._memory: dict[tuple[object, ...], tuple[int, float]] = {}  # key → (lsn, expires)
        self._lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        replicas = replicas_of(scope["app"].state.engine) if scope["type"] == "http" else None
        if replicas is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = _principal_key(scope.get("state", {}).get("principal"))
        try:
            wanted = self._wanted(headers, key)
        except ValueError:
            err = InvalidInput(f"the {HEADER} header must be a WAL position as this server sent it, e.g. 0/16B3748")
            await error_response(err)(scope, receive, send)
            return
        ttl = max(30.0, 4 * replicas.max_lag_s)
        unsafe = scope.get("method", "GET") not in SAFE_METHODS
        secure = "; Secure" if scope.get("scheme") == "https" else ""

        async def send_recording(message: Any) -> None:
            if unsafe and message["type"] == "http.response.start" and 200 <= message["status"] < 300:
                lsn = await run_in_threadpool(replicas.primary_lsn)
                if lsn is not None:
                    self._remember(key, lsn, ttl)
                    out = MutableHeaders(scope=message)
                    out.append(HEADER, format_lsn(lsn))
                    out.append("set-cookie", f"{COOKIE}={format_lsn(lsn)}; Max-Age={int(ttl)}; Path=/; "
                                             f"HttpOnly; SameSite=Lax{secure}")  # fmt: skip
            await send(message)

        token = READ_AFTER.set(wanted)
        try:
            await self.app(scope, receive, send_recording)
        finally:
            READ_AFTER.reset(token)

    def _wanted(self, headers: Headers, key: tuple[object, ...] | None) -> int | None:
        """The newest position this request must see (ValueError: a malformed header)."""
        positions = []
        header = headers.get(HEADER)
        if header is not None:
            positions.append(parse_lsn(header))
        cookie = cookie_parser(headers.get("cookie", "")).get(COOKIE)
        if cookie:
            with contextlib.suppress(ValueError):  # a cookie the caller cannot easily fix: ignore it
                positions.append(parse_lsn(cookie))
        if key is not None:
            with self._lock:
                remembered = self._memory.get(key)
            if remembered is not None and remembered[1] > time.monotonic():
                positions.append(remembered[0])
        return max(positions, default=None)

    def _remember(self, key: tuple[object, ...] | None, lsn: int, ttl: float) -> None:
        if key is None:
            return
        now = time.monotonic()
        with self._lock:
            old = self._memory.pop(key, None)
            self._memory[key] = (max(lsn, old[0]) if old and old[1] > now else lsn, now + ttl)
            while len(self._memory) > MEMORY_LIMIT:
                self._memory.pop(next(iter(self._memory)))
