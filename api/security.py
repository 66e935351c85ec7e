"""Browser-facing protection: security headers on every response, CORS only where configured.

- Every response: ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin`` and
  one Content-Security-Policy, ``CSP``: scripts, styles, fonts and data from this server only,
  no ``'unsafe-inline'`` and no ``'unsafe-eval'``, no plugins, no framing. It holds for our pages
  (the one map, the inspector) and for pygeoapi's HTML pages alike: their inline scripts and
  styles are moved into static files when the templates are copied (api/ogc/templates.py), so
  a value that slips into markup cannot run. Sent on every response (not only HTML) so that a
  document opened from any other type (an SVG, an XML error) is held to the same rule.
- One page is the exception, documented here where the policy is set: the 3D view ``/3d`` gets
  ``CSP_3D``, the same policy with ``'unsafe-eval'`` added to ``script-src`` and the hash of one
  fixed stylesheet (CesiumJS's credit box, which the library inserts as a ``<style>`` element) added
  to ``style-src``; nothing else.
  CesiumJS's prebuilt bundle (npm ``cesium``, Build/Cesium/Cesium.js) cannot start without it:
  the Knockout library bundled inside evaluates ``(0, eval)("this")`` as the bundle loads, and its
  meshoptimizer decoders compile WebAssembly at load (``'wasm-unsafe-eval'`` alone is not
  enough for the first). Inline scripts and styles stay forbidden on that page too, so markup
  that slips into it still cannot run; the page evaluates no data as code (building styles are
  Cesium expressions, parsed, not evaluated as JavaScript). Only the exact path ``/3d`` (its HTML
  document) is relaxed; the scripts, workers and every other answer keep ``CSP``.
- Answers to a caller with credentials (an ``Authorization`` header or the session cookie) are
  never ``Cache-Control: public``: a shared cache must not hand one department's tiles to the
  next visitor; ``public`` becomes ``private`` there, and public answers say
  ``Vary: Authorization, Cookie``.
- CORS: none by default (same origin only); ``ONEMAP_CORS_ORIGINS`` lists the origins that
  may call the API from a browser, with the headers our API reads and shows. Credentials are
  not allowed cross-origin: the session cookie (api/session.py) works on this origin only.
"""

from __future__ import annotations

from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from api.session import SESSION_COOKIE
from spatial.config import Settings

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
CSP_HEADER = CSP.encode()
# see the module docstring; the hash is that of the one <style> element CesiumJS's CreditDisplay adds
CESIUM_CREDIT_STYLE = "'sha256-W9isZ7K65dw04+sGbSAyiFtvwt94eXJiQXtiU8lmkRg='"
CSP_3D = CSP.replace("script-src 'self';", "script-src 'self' 'unsafe-eval';").replace(
    "style-src 'self';", f"style-src 'self' {CESIUM_CREDIT_STYLE};"
)
RELAXED = {"/3d": CSP_3D.encode()}  # path -> policy: the only exceptions to CSP
ALWAYS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]
CORS_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
CORS_HEADERS = ["Authorization", "Content-Type", "Content-Crs", "If-Match", "Accept-Language"]
CORS_EXPOSED = ["ETag", "Location", "Retry-After", "Content-Crs", "Link"]


class SecurityHeadersMiddleware:
    """ASGI middleware adding the headers above to each response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        credentialed = _credentialed(scope)
        policy = RELAXED.get(scope.get("path", ""), CSP_HEADER)

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                # the one policy replaces any a handler set: nothing downstream can loosen it
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-security-policy"]
                headers = _cache_for(headers, credentialed)
                names = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in ALWAYS if k not in names]
                headers.append((b"content-security-policy", policy))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _credentialed(scope: Any) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"authorization" or (name == b"cookie" and SESSION_COOKIE.encode() + b"=" in value):
            return True
    return False


def _cache_for(headers: list[tuple[bytes, bytes]], credentialed: bool) -> list[tuple[bytes, bytes]]:
    """``public`` caching only for answers to callers without credentials (and varied on them)."""
    out = []
    public = False
    for name, value in headers:
        if name.lower() == b"cache-control" and b"public" in value.lower():
            if credentialed:
                value = value.lower().replace(b"public", b"private")
            else:
                public = True
        out.append((name, value))
    if public:
        out = [(k, v) for k, v in out if k.lower() != b"vary"] + [(b"vary", _vary(headers))]
    return out


def _vary(headers: list[tuple[bytes, bytes]]) -> bytes:
    names = [v.strip() for k, value in headers if k.lower() == b"vary" for v in value.split(b",") if v.strip()]
    for extra in (b"Authorization", b"Cookie"):
        if extra.lower() not in {n.lower() for n in names}:
            names.append(extra)
    return b", ".join(names)


def cors_middleware(settings: Settings) -> list[Middleware]:
    """CORS for the configured origins; none at all when no origin is configured."""
    origins = settings.cors_origin_list
    if not origins:
        return []
    return [
        Middleware(
            CORSMiddleware, allow_origins=origins, allow_methods=CORS_METHODS,
            allow_headers=CORS_HEADERS, expose_headers=CORS_EXPOSED, max_age=600,
        )
    ]
