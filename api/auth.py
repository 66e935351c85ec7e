"""Who is asking: the token of each request resolved once, to a principal or a 401.

The token look-up lives in ``spatial.access.tokens``; the rules in ``spatial.access.policy``.
Here the ``Authorization`` header, or else the browser's session cookie (api/session.py),
becomes ``request.state.principal`` (None = anonymous) before any route runs. The header wins
when both are present. A token that is malformed, unknown, revoked or expired is refused on
every path with 401, even where anonymous access would do: the caller meant to be someone; a
refused cookie's 401 also clears the cookies, so the browser's next request is anonymous.
A cookie-authenticated unsafe request (POST, PUT, PATCH, DELETE) without CSRF proof is 403.

Each app keeps a token cache (``spatial.access.tokens.TokenCache``, started with the first
authenticated request, stopped by the app's shutdown): a cached token is resolved here without a thread
hop or a database read; revocation clears every process's cache before it returns.

Paths that never look at the caller (the pages' HTML and static files, /health) ignore the
cookie, so a stale one cannot lock the pages out; sign-in and sign-out handle it themselves.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request

from api.errors import error_response
from api.session import check_csrf, clearing_headers, session_secret
from spatial.access.principal import Principal
from spatial.access.tokens import authenticate, token_cache
from spatial.errors import DatabaseUnavailable, Forbidden, OnemapError, Unauthorized

# where the session cookie is not read (exact paths, then prefixes)
COOKIE_FREE = frozenset({"/", "/inspector", "/health", "/favicon.ico"})
COOKIE_FREE_PREFIXES = ("/static/", "/ogc/static/")
SIGN_IN_OUT = ("POST", "DELETE")  # on /api/v1/session: the route reads (or clears) the cookie itself
SESSION_PATH = "/api/v1/session"


def _reads_cookie(method: str, path: str) -> bool:
    if path in COOKIE_FREE or path.startswith(COOKIE_FREE_PREFIXES):
        return False
    return not (path == SESSION_PATH and method in SIGN_IN_OUT)


class PrincipalMiddleware:
    """ASGI middleware: ``scope["state"]["principal"]`` from the Authorization header or session cookie."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        principal = None
        headers = Headers(scope=scope)
        header = headers.get("authorization")
        secret = None if header else session_secret(headers)
        if secret and not _reads_cookie(scope.get("method", "GET"), scope.get("path", "")):
            secret = None
        if header or secret:
            engine = scope["app"].state.engine
            credentials = header or f"Bearer {secret}"
            cache = token_cache(engine)
            try:
                principal = cache.lookup(credentials) or await run_in_threadpool(
                    authenticate, engine, credentials, cache
                )
                if secret:
                    settings = scope["app"].state.settings
                    check_csrf(scope.get("method", "GET"), headers, secret, settings.base_url)
            except (Unauthorized, Forbidden) as err:
                await _refuse(err, bool(secret) and isinstance(err, Unauthorized), scope, receive, send)
                return
            except OperationalError:
                unavailable = DatabaseUnavailable("the database is not reachable: cannot check the token",
                                                  retry_after=5)  # fmt: skip
                await error_response(unavailable)(scope, receive, send)
                return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


async def _refuse(err: OnemapError, clear_cookie: bool, scope: Any, receive: Any, send: Any) -> None:
    response = error_response(err)
    if clear_cookie:
        response.raw_headers.extend(clearing_headers())
    await response(scope, receive, send)


def presented_credentials(request: Request) -> str | None:
    """The credentials the request came with, as the middleware read them ('Bearer …'; None: anonymous):
    for a long response (an event stream) to check again that they still hold."""
    headers = request.headers
    header = headers.get("authorization")
    if header:
        return header
    secret = session_secret(headers)
    if secret and _reads_cookie(request.method, request.url.path):
        return f"Bearer {secret}"
    return None


def still_valid(engine: Any, credentials: str) -> bool:
    """Whether ``credentials`` still authenticate (not revoked, not expired since the request began)."""
    try:
        authenticate(engine, credentials)
    except (Unauthorized, Forbidden):
        return False
    return True


def principal_of(request: Request) -> Principal | None:
    """The request's principal (None: anonymous)."""
    return getattr(request.state, "principal", None)
