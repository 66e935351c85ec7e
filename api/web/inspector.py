"""The inspector page (/inspector): a mobile form that files incidents through POST /api/v1/incidents."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from api.web.pages import city_name

PAGE = Path(__file__).parent / "templates" / "inspector.html"


async def page(request: Request) -> Response:
    html = PAGE.read_text(encoding="utf-8").replace("{{ city_name }}", await city_name(request))
    return HTMLResponse(html)
