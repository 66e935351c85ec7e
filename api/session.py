"""Browser sessions: the staff token in an HttpOnly cookie, never in script-readable storage.

``POST /api/v1/session`` with ``{"token": "om_…"}`` checks the token like a bearer header and
answers with two cookies; ``GET`` says who is signed in; ``DELETE`` signs out (clears both).

What the cookie holds: **the token itself**, not an opaque session id. Choice and reasons:

- A token is already a 256-bit random secret, checked by its hash, revocable and expiring
  (spatial.access.tokens). A session id would be a second secret of the same kind needing
  its own table, expiry and revocation; a revoked or expired token here ends its browser
  sessions on the next request with nothing more to keep in step.
- API processes stay stateless (DESIGN.md: any number of them behind a load balancer): no
  session store, no shared signing key to distribute.
- What the move from localStorage buys is that *script* cannot read the secret: the cookie
  is ``HttpOnly``, ``SameSite=Strict``, ``Path=/``, ``Secure`` when the site is served over
  https, and lasts ``SESSION_SECONDS`` (a working day; an expired or revoked token ends it sooner).
  Injected script can still act *as* the user while the page is open (nothing in a browser
  prevents that); the strict CSP (api/security.py) and escaped templates are the defence
  there. It can no longer carry the token away for later use.

CSRF, for cookie-authenticated unsafe methods (POST, PUT, PATCH, DELETE): SameSite=Strict keeps
the cookie off cross-site requests in current browsers; as a second, independent layer the
request must carry ``X-CSRF-Token`` equal to ``csrf_token(secret)``, an HMAC of a fixed label
keyed by the token (the "signed double-submit" pattern). The page reads that value from the
``onemap_csrf`` cookie (not HttpOnly) or from the sign-in answer. A forger on another site can
neither read the cookie nor compute the HMAC without the token, and, unlike a plain random
double-submit value, a cookie planted by a sibling sub-domain does not help: it would have to
match the HMAC of the session's token. An ``Origin`` header naming another host is refused too.
Requests with an ``Authorization`` header carry no ambient credential and need none of this;
the header wins over the cookie. Sign-in itself takes JSON only (a cross-site form cannot send
``application/json`` without a CORS preflight we never grant) and refuses a foreign Origin, so
a page elsewhere cannot sign a visitor in under someone else's token. Sign-out needs no proof
(forcing one is harmless) but refuses a foreign Origin too.

Clients other than our two pages (scripts, QGIS, the notebooks' client, pygeoapi's Swagger UI
"Authorize") keep sending the bearer header; a cookie-authenticated write from a tool that does
not add ``X-CSRF-Token`` is refused by design.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from spatial.access.principal import Principal
from spatial.access.tokens import authenticate
from spatial.errors import Forbidden, InvalidInput

SESSION_COOKIE = "onemap_session"
CSRF_COOKIE = "onemap_csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 12 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
CSRF_LABEL = b"onemap csrf v1"


def csrf_token(secret: str) -> str:
    """The CSRF proof that goes with a session holding ``secret`` (hex HMAC-SHA256)."""
    return hmac.new(secret.encode("utf-8"), CSRF_LABEL, hashlib.sha256).hexdigest()


def cookies_of(headers: Mapping[str, str]) -> dict[str, str]:
    """The request's cookies by name (a malformed Cookie header counts as none)."""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # noqa: BLE001 - http.cookies raises CookieError and others on junk
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def session_secret(headers: Mapping[str, str]) -> str | None:
    """The token carried by the session cookie, if any."""
    return cookies_of(headers).get(SESSION_COOKIE) or None


def _host_of(url: str) -> str:
    try:
        return (urlsplit(url).netloc or "").lower()
    except ValueError:
        return ""


def foreign_origin(headers: Mapping[str, str], base_url: str) -> bool:
    """True when the request names an Origin other than this site (absent Origin: False)."""
    origin = headers.get("origin")
    if origin is None:
        return False
    if origin == "null":
        return True
    host = _host_of(origin)
    return host not in {(headers.get("host") or "").lower(), _host_of(base_url)}


def check_csrf(method: str, headers: Mapping[str, str], secret: str, base_url: str) -> None:
    """Forbidden unless a cookie-authenticated unsafe request proves it comes from our pages."""
    if method.upper() in SAFE_METHODS:
        return
    if foreign_origin(headers, base_url):
        raise Forbidden("cross-site request refused: the Origin is not this site")
    proof = headers.get(CSRF_HEADER, "")
    if not proof or not hmac.compare_digest(proof.encode(), csrf_token(secret).encode()):
        raise Forbidden(
            "a request signed in by the session cookie needs the X-CSRF-Token header "
            "(the value of the onemap_csrf cookie); or send 'Authorization: Bearer <token>'"
        )


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.app.state.settings.base_url.startswith("https://")


def set_session_cookies(response: Response, request: Request, secret: str, max_age: int) -> None:
    secure = _secure(request)
    response.set_cookie(SESSION_COOKIE, secret, max_age=max_age, path="/", httponly=True,
                        samesite="strict", secure=secure)  # fmt: skip
    response.set_cookie(CSRF_COOKIE, csrf_token(secret), max_age=max_age, path="/", httponly=False,
                        samesite="strict", secure=secure)  # fmt: skip


def clear_session_cookies(response: Response, secure: bool = False) -> None:
    """Tell the browser to forget both cookies."""
    for name, httponly in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
        response.delete_cookie(name, path="/", httponly=httponly, samesite="strict", secure=secure)


def clearing_headers() -> list[tuple[bytes, bytes]]:
    """Set-Cookie headers that clear the session (for answers made outside a route)."""
    response = Response()
    clear_session_cookies(response)
    return [(k, v) for k, v in response.raw_headers if k == b"set-cookie"]


def _who(principal: Principal | None) -> dict[str, object]:
    if principal is None:
        return {"signed_in": False}
    return {"signed_in": True, "name": principal.name, "role": principal.role,
            "department_code": principal.department_code}  # fmt: skip


router = APIRouter(prefix="/api/v1", tags=["session"])


class SignIn(BaseModel):
    """POST /api/v1/session: the access token to keep in the HttpOnly cookie."""

    token: str = Field(min_length=1, max_length=200)


@router.post("/session", summary="sign in a browser: the token kept in an HttpOnly cookie, a CSRF proof returned",
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": SignIn.model_json_schema()}}}})  # fmt: skip
async def sign_in(request: Request) -> Response:
    """POST /api/v1/session {"token": "om_…"}: the token checked, then kept in the HttpOnly cookie."""
    settings = request.app.state.settings
    if foreign_origin(request.headers, settings.base_url):
        raise Forbidden("cross-site sign-in refused: the Origin is not this site")
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise InvalidInput('sign in with a JSON body: {"token": "om_…"} (Content-Type: application/json)')
    try:
        body = await request.json()
    except ValueError as err:
        raise InvalidInput("the body is not JSON") from err
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise InvalidInput('give the access token as {"token": "om_…"}')
    token = token.strip()
    principal = await run_in_threadpool(authenticate, request.app.state.engine, f"Bearer {token}")
    response = JSONResponse(_who(principal) | {"csrf_token": csrf_token(token)})
    set_session_cookies(response, request, token, SESSION_SECONDS)
    response.headers["cache-control"] = "no-store"
    return response


@router.get("/session", summary="who this browser (or bearer header) is signed in as")
async def who_am_i(request: Request) -> Response:
    """GET /api/v1/session: who the cookie (or a bearer header) signs in (a bad cookie was a 401 already)."""
    response = JSONResponse(_who(getattr(request.state, "principal", None)))
    response.headers["cache-control"] = "no-store"
    return response


@router.delete("/session", status_code=204, summary="sign out: both cookies cleared")
async def sign_out(request: Request) -> Response:
    """DELETE /api/v1/session: both cookies cleared (the token itself stays valid; revoke it with the CLI)."""
    if foreign_origin(request.headers, request.app.state.settings.base_url):
        raise Forbidden("cross-site sign-out refused: the Origin is not this site")
    response = Response(status_code=204)
    clear_session_cookies(response, secure=_secure(request))
    return response


