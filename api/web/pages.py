"""HTML pages: the one-map page at /. Assets (Leaflet included) are served from /static."""

from __future__ import annotations

from functools import lru_cache
from html import escape
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=8)
def _template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


async def one_map(request: Request) -> Response:
    settings = request.app.state.settings
    html = _template("onemap.html").replace("{{ city_name }}", escape(settings.city_name))
    return HTMLResponse(html)
