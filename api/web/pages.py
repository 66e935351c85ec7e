"""HTML pages: the one-map page at /. Assets (Leaflet included) are served from /static."""

from __future__ import annotations

from functools import lru_cache
from html import escape
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from layers.city.current import read_current_city

TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=8)
def _template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


async def city_name(request: Request) -> str:
    """The current city's Chinese name (ONEMAP_CITY_NAME before any city is loaded), HTML-escaped."""
    state = request.app.state
    city = await run_in_threadpool(read_current_city, state.engine, state.settings)
    return escape(city.name_zh)


async def one_map(request: Request) -> Response:
    html = _template("onemap.html").replace("{{ city_name }}", await city_name(request))
    return HTMLResponse(html)
