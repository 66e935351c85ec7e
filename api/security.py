"""Browser-facing protection: security headers on every response, CORS only where configured.

- Every response: ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin`` and
  one Content-Security-Policy, ``CSP``: scripts, styles, fonts and data from this server only,
  no ``'unsafe-inline'`` and no ``'unsafe-eval'``, no plugins, no framing. It holds for our pages
  (the one map, the inspector) and for pygeoapi's HTML pages alike: their inline scripts and
  styles are moved into static files when the templates are copied (api/ogc/templates.py), so
  a value that slips into markup cannot run. Sent on every response (not only HTML) so that a
  document opened from any other type (an SVG, an XML error) is held to the same rule.
- CORS: none by default (same origin only); ``ONEMAP_CORS_ORIGINS`` lists the origins that
  may call the API from a browser, with the headers our API reads and shows. Credentials are
  not allowed cross-origin: the session cookie (api/session.py) works on this origin only.
"""

from __future__ import annotations

from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from spatial.config import Settings

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
CSP_HEADER = CSP.encode()
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

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                # the one policy replaces any a handler set: nothing downstream can loosen it
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-security-policy"]
                names = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in ALWAYS if k not in names]
                headers.append((b"content-security-policy", CSP_HEADER))
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
