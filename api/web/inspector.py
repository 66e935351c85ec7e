"""The inspector app (/inspector): a phone-first page that files incidents through POST /api/v1/incidents,
keeps filings made without network in IndexedDB until the server has them, lists the inspector's
reports and the verification (核查) tasks assigned back to them.

Its service worker is served from /inspector/sw.js with ``Service-Worker-Allowed: /inspector`` so that
it may control the page at /inspector (a script's default scope is its own folder, /inspector/).
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from api.web.pages import render
from spatial.incidents.photos import MAX_PHOTO_BYTES, MAX_PHOTOS

SERVICE_WORKER = Path(__file__).parent / "static" / "inspector" / "sw.js"


async def page(request: Request) -> Response:
    """The app's page, told the server's photo limits (the number per report and the bytes per photo)."""
    response = await render(request, "inspector.html", max_photos=MAX_PHOTOS, max_photo_bytes=MAX_PHOTO_BYTES)
    response.headers["Cache-Control"] = "no-cache"
    return response


async def service_worker(request: Request) -> Response:
    """The offline shell's service worker, allowed to control /inspector (not only /inspector/)."""
    headers = {"Service-Worker-Allowed": "/inspector", "Cache-Control": "no-cache"}
    return Response(SERVICE_WORKER.read_bytes(), media_type="text/javascript; charset=utf-8", headers=headers)
