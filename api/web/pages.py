"""HTML pages, the faces of the one map: the portal at /, /console, /supervision (the inspector app:
api/web/inspector.py). Assets (npm libraries included, see web/README.md) are served from /static."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from layers.city.current import read_current_city

TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def _templates() -> Environment:
    """The faces' Jinja templates (a shared layout, _face.html, and top bar, _topbar.html): every value
    escaped, and a name a template uses but is not given an error rather than an empty string."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


async def city_name(request: Request) -> str:
    """The current city's Chinese name (ONEMAP_CITY_NAME before any city is loaded), as stored:
    the templates escape it."""
    state = request.app.state
    city = await run_in_threadpool(read_current_city, state.engine, state.settings)
    return city.name_zh


async def render(request: Request, template: str, **values: object) -> Response:
    """A face's page: its template given the city's name and ``values``; data comes later from the API."""
    page = _templates().get_template(template)
    return HTMLResponse(page.render(city_name=await city_name(request), **values))


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
