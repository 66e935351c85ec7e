"""Rate limits on writes: per bearer token, and per client IP for anonymous incident filing.

Two budgets from the settings (``ONEMAP_RATE_LIMIT_WRITES``, ``ONEMAP_RATE_LIMIT_ANONYMOUS``),
counted in a moving window by the ``limits`` library: in this process's memory by default (several
worker processes then each count on their own, so the effective limit is the setting times the
number of workers), or in Redis shared by every process (``ONEMAP_RATE_LIMIT_STORAGE=redis://…``).
When the shared store does not answer, each process counts in its own memory meanwhile: a
request is never refused, nor answered 5xx, because the counter is away.

A request over its budget is answered 429 with ``Retry-After`` (seconds) before any work is
done. Reads are never limited here; POSTs that only read (searches, geocoding batches,
processes) are not writes. Open311 carries its ``api_key`` in the body, so its route asks
``check_token`` itself once the key is known.
"""

from __future__ import annotations

import logging
import math
import re
import time
from typing import Any

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from api.errors import error_response
from spatial.access.principal import Principal
from spatial.config import Settings
from spatial.errors import TooManyRequests

UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
READING_POSTS = re.compile(r"^/(api/v1/geocode/batch|ogc/processes/[^/]+/execution|ogc/collections/[^/]+/items)$")
ANONYMOUS_FILING = ("/api/v1/incidents",)
RETRY_SHARED_S = 5.0
"""After the shared store fails, counting stays in this process this long before it is tried again."""
log = logging.getLogger(__name__)


class RateLimiter:
    """The two budgets and their counters."""

    def __init__(self, writes: str, anonymous: str, storage: str = "memory") -> None:
        self.writes = None if writes == "off" else parse(writes)
        self.anonymous = None if anonymous == "off" else parse(anonymous)
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._shared = None if storage == "memory" else MovingWindowRateLimiter(
            storage_from_string(storage, socket_timeout=0.5, socket_connect_timeout=0.5))
        self._shared_down_since: float | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        return cls(settings.rate_limit_writes, settings.rate_limit_anonymous, settings.rate_limit_storage)

    def check_token(self, principal: Principal) -> None:
        """Count one write of ``principal``; TooManyRequests when over the budget."""
        if self.writes is not None:
            self._hit(self.writes, f"token:{principal.token_id or principal.name}", "writes with this token")

    def check_address(self, address: str) -> None:
        """Count one anonymous filing from ``address``; TooManyRequests when over the budget."""
        if self.anonymous is not None:
            self._hit(self.anonymous, f"ip:{address}", "anonymous reports from your address")

    def _limiter(self) -> MovingWindowRateLimiter:
        """The shared counter, unless it failed in the last RETRY_SHARED_S seconds."""
        if self._shared is None:
            return self._local
        if self._shared_down_since is not None and time.monotonic() - self._shared_down_since < RETRY_SHARED_S:
            return self._local
        return self._shared

    def _hit(self, item: RateLimitItem, key: str, what: str) -> None:
        limiter = self._limiter()
        try:
            allowed = limiter.hit(item, key)
            if limiter is self._shared and self._shared_down_since is not None:
                log.warning("rate limits: the shared store answers again")
                self._shared_down_since = None
        except Exception as err:  # redis-py's ConnectionError/TimeoutError and limits' own wrappers
            if limiter is not self._shared:
                raise
            if self._shared_down_since is None:
                log.warning("rate limits: the shared store does not answer (%s); counting in this process", err)
            self._shared_down_since = time.monotonic()
            limiter = self._local
            allowed = limiter.hit(item, key)
        if allowed:
            return
        reset = limiter.get_window_stats(item, key).reset_time
        retry = max(1, math.ceil(reset - time.time()))
        raise TooManyRequests(f"too many {what}: at most {item}; try again in {retry} s", retry_after=retry)


def is_write(method: str, path: str, content_type: str) -> bool:
    """Whether a request changes data (POSTs that search or compute are reads)."""
    if method not in UNSAFE_METHODS:
        return False
    if method == "POST" and READING_POSTS.match(path):
        # POST …/items with GeoJSON creates a feature; with anything else it searches
        return path.endswith("/items") and content_type in ("application/geo+json", "application/json")
    return True


class RateLimitMiddleware:
    """ASGI middleware (after the principal is known): 429 for writes over their budget."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            try:
                self.count(scope)
            except TooManyRequests as err:
                await error_response(err)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def count(self, scope: Any) -> None:
        """Charge the request to its budget (Open311 POSTs are charged by their route)."""
        path = scope.get("path", "")
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip()
        if path.startswith("/open311/") or not is_write(scope["method"], path, content_type):
            return
        limiter: RateLimiter = scope["app"].state.rate_limiter
        principal = scope.get("state", {}).get("principal")
        if principal is not None:
            limiter.check_token(principal)
        elif path in ANONYMOUS_FILING:
            limiter.check_address(client_address(scope))


def client_address(scope: Any) -> str:
    """The caller's IP as the server resolved it: the connecting address, or the client a
    proxy of ``ONEMAP_TRUSTED_PROXIES`` forwarded for (``api.server.uvicorn_options``); never
    a header read here."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
