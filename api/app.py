"""The ASGI application, built by ``create_app(settings)``: nothing is created at import time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from api import errors, session, workers
from api.auth import PrincipalMiddleware
from api.consistency import ReadYourWritesMiddleware
from api.limits import BodyLimitMiddleware
from api.ogc import compat
from api.ogc.gateway import PygeoapiGateway
from api.ogc.routes import landing_page as ogc_landing_page
from api.ogc.routes import ogc_routes
from api.ogc.templates import PYGEOAPI_STATIC
from api.ratelimit import RateLimiter, RateLimitMiddleware
from api.rest import rest_app
from api.routes import analysis3d as analysis3d_routes
from api.routes import city as city_routes
from api.routes import departments as department_routes
from api.routes import dispatch as dispatch_routes
from api.routes import emergency as emergency_routes
from api.routes import geocode as geocode_routes
from api.routes import imagery as imagery_routes
from api.routes import incidents as incident_routes
from api.routes import layers as layer_routes
from api.routes import network as network_routes
from api.routes import open311 as open311_routes
from api.routes import records as record_routes
from api.routes import supervision as supervision_routes
from api.routes import tiles as tile_routes
from api.routes import wmts as wmts_routes
from api.security import SecurityHeadersMiddleware, cors_middleware
from api.web import inspector, pages
from layers.tile_cache import stop_layer_versions
from spatial.access.tokens import stop_token_cache
from spatial.config import Settings
from spatial.db import check_database, database_url, shared_engine
from spatial.errors import OnemapError
from spatial.replicas import attach as attach_replicas
from spatial.replicas import detach as detach_replicas
from spatial.replicas import replicas_of

STATIC_DIR = Path(__file__).parent / "web" / "static"
log = logging.getLogger("onemap")


IO_THREADS = 40
"""Threads of the event loop's default executor (pygeoapi calls, tile reads): as many as Starlette's own pool."""
HEALTH_THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="onemap-health")
"""/health's own threads: a burst of heavy requests filling the shared thread pools never delays it."""


async def health(request: Request) -> Response:
    """Liveness and database reachability."""
    engine = request.app.state.engine
    try:
        version = await asyncio.get_running_loop().run_in_executor(HEALTH_THREADS, check_database, engine)
    except OnemapError as err:
        return JSONResponse({"status": "error", "database": err.message}, status_code=503)
    replicas = replicas_of(engine)  # read replicas as the last check saw them (spatial/replicas.py)
    extra = {"replicas": replicas.report()} if replicas is not None else {}
    return JSONResponse({"status": "ok", "database": "ok", "postgis": version, **extra})


async def favicon(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "favicon.ico", media_type="image/x-icon")


def create_app(settings: Settings) -> Starlette:
    """Build the platform's ASGI app for ``settings``."""
    compat.install()
    engine = shared_engine(database_url(settings), pool_size=settings.db_pool_size,
                           statement_timeout_s=settings.statement_timeout_s)  # fmt: skip
    state = State()  # one state for the platform's app and the REST app inside it

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # pygeoapi's calls and the thin tile routes run on the loop's default executor: asyncio sizes
        # it cpu + 4 (6 threads on 2 cores), so a burst of heavy OGC process runs queued every other read
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="onemap-io"))
        yield
        render_pool.close()  # kills running renders: shutdown never waits on one
        workers.unregister(settings)
        detach_replicas(engine)
        stop_token_cache(engine)  # the listener threads of the token and tile-version caches
        stop_layer_versions(engine)
        engine.dispose()

    routes = [
        Route("/health", health),
        Route("/favicon.ico", favicon),
        Route("/", pages.one_map),
        Route("/ogc", ogc_landing_page),  # pygeoapi links to /ogc without a slash
        Mount("/ogc/static", StaticFiles(directory=PYGEOAPI_STATIC), name="pygeoapi-static"),
        Mount("/ogc", routes=ogc_routes()),
        Route("/inspector", inspector.page),
        Route("/inspector/sw.js", inspector.service_worker),  # scope /inspector: the offline shell
        Route("/console", pages.console),
        Route("/supervision", pages.supervision),
        Route("/dispatch", pages.dispatch),
        Route("/3d", pages.view3d),
        Mount("/tiles", routes=tile_routes.routes),
        Route("/wmts", wmts_routes.kvp),  # WMTS KVP; RESTful below
        Mount("/wmts", routes=wmts_routes.routes),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        Mount("", app=rest_app(state, REST_ROUTERS)),  # REST and Open311 (FastAPI: /api/v1/openapi.json); last, it answers unknown paths  # fmt: skip
    ]
    render_pool = workers.WorkerPool.from_settings(settings)  # processes start on first use
    workers.register(settings, render_pool)
    middleware = [
        Middleware(workers.DisconnectWatch),  # outermost: the one reader of receive() on heavy paths
        Middleware(SecurityHeadersMiddleware),
        Middleware(BodyLimitMiddleware),
        *cors_middleware(settings),
        Middleware(compat.QueryStringMiddleware),
        Middleware(PrincipalMiddleware),
        Middleware(ReadYourWritesMiddleware),  # read replicas: a caller's reads see its own writes
        Middleware(RateLimitMiddleware),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state = state
    errors.install(app)
    app.state.settings = settings
    app.state.engine = engine
    attach_replicas(engine, settings.read_url_list, max_lag_s=settings.replica_max_lag_s, check_s=settings.replica_check_s,
                    pool_size=settings.db_pool_size, statement_timeout_s=settings.statement_timeout_s)  # fmt: skip
    app.state.render_pool = render_pool
    app.state.rate_limiter = RateLimiter.from_settings(settings)
    app.state.ogc_gateway = PygeoapiGateway(settings, engine)
    return app


REST_ROUTERS = [geocode_routes.router, supervision_routes.router, incident_routes.router, open311_routes.router,
                session.router, imagery_routes.router, layer_routes.router, city_routes.router, record_routes.router,
                emergency_routes.router,
                network_routes.router,
                analysis3d_routes.router,
                dispatch_routes.router, department_routes.router]


def app_from_environment() -> Starlette:
    """Factory for ``uvicorn --factory`` (several worker processes): settings from ONEMAP_*."""
    return create_app(Settings())
