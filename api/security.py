"""Browser-facing protection: security headers on every response, CORS only where configured.

- Every response: ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin``.
- HTML: a Content-Security-Policy. Our own pages (the one map, the inspector) load scripts,
  styles and data from this server only and may not be framed. pygeoapi's HTML pages carry
  inline scripts and styles of their own, so theirs allows those inline, and nothing else
  from outside.
- CORS: none by default (same origin only); ``ONEMAP_CORS_ORIGINS`` lists the origins that
  may call the API from a browser, with the headers our API reads and shows.
"""

from __future__ import annotations

from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from spatial.config import Settings

OWN_PAGES = ("/", "/inspector")
STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
PYGEOAPI_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'"
)
ALWAYS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]
CORS_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
CORS_HEADERS = ["Authorization", "Content-Type", "Content-Crs", "If-Match", "Accept-Language"]
CORS_EXPOSED = ["ETag", "Location", "Retry-After", "Content-Crs", "Link"]


def csp_for(path: str) -> bytes:
    """The Content-Security-Policy of an HTML page at ``path``."""
    return (STRICT_CSP if path in OWN_PAGES else PYGEOAPI_CSP).encode()


class SecurityHeadersMiddleware:
    """ASGI middleware adding the headers above to each response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in ALWAYS if k not in names]
                kind = dict(headers).get(b"content-type", b"")
                if kind.startswith(b"text/html") and b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", csp_for(scope.get("path", ""))))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


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
