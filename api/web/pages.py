"""HTML pages, the faces of the one map: the portal at /, /console, /supervision (the inspector app:
api/web/inspector.py). Assets (npm libraries included, see web/README.md) are served from /static."""

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


async def render(request: Request, template: str) -> Response:
    """A face's page: its template with the city's (escaped) name; data comes later from the API."""
    html = _template(template).replace("{{ city_name }}", await city_name(request))
    return HTMLResponse(html)


async def one_map(request: Request) -> Response:
    return await render(request, "onemap.html")


async def console(request: Request) -> Response:
    """The command-centre console (受理, 立案, 派遣, 核查, 结案): queues by stage, case detail, actions."""
    return await render(request, "console.html")


async def supervision(request: Request) -> Response:
    """The supervision screen (大屏): KPIs, open cases by lateness, trends, live refresh."""
    return await render(request, "supervision.html")


async def dispatch(request: Request) -> Response:
    """The dispatcher's page (119/120/110 接警调度): call intake, recommended units by ETA, dispatch, unit board."""
    return await render(request, "dispatch.html")


async def view3d(request: Request) -> Response:
    """The 3D view (三维): CesiumJS over the city's imagery, 3D Tiles buildings, overlays on the ground."""
    return await render(request, "3d.html")
