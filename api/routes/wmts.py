"""WMTS 1.0.0 of imagery and rendered vector layers: KVP at /wmts, RESTful under /wmts/1.0.0/.

- ``GET /wmts?SERVICE=WMTS&REQUEST=GetCapabilities`` and ``/wmts/1.0.0/WMTSCapabilities.xml``;
- ``GET /wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=…&STYLE=default&TILEMATRIXSET=…&TILEMATRIX=…
  &TILEROW=…&TILECOL=…&FORMAT=image/png`` and ``/wmts/1.0.0/{layer}/default/{set}/{z}/{row}/{col}.png``.

Thin: the document, the parameters, the dispatch on the layer's kind and the drawing live in
``layers.wmts``; the imagery tiles' read check and source cache are the XYZ tiles'
(``api.routes.tiles``). Every tile, imagery or vector, is drawn in the render worker pool.
KVP names are case-insensitive (WMTS 1.0.0 §7 / OWS Common). The capabilities list only the
layers the caller may read, so they vary by caller (``api.security`` keeps them out of shared
caches for credentialed callers). Errors are OWS ExceptionReports (``api.errors``).
Tiles are kept in the tile cache after the read check (``layers.wmts.tile_access``), with ETag and
Cache-Control as the XYZ tiles'.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.auth import principal_of
from api.errors import ows_error_response
from api.routes.tiles import (
    CACHE_CONTROL,
    cached,
    forget,
    image_response,
    keep,
    readable,
    render_pool,
    sources,
    tile_headers,
)
from api.workers import ClientGone
from layers import tile_cache
from layers.imagery.budget import RenderBudget
from layers.imagery.readers import ImageryFileMissing
from layers.wmts import (
    TileAccess,
    TilePlan,
    TileRequest,
    capabilities,
    parse_tile_request,
    plan_tile,
    render_wmts_tile,
    tile_access,
    wmts_layers,
)
from spatial.errors import InvalidInput, MissingParameter, OnemapError

XML = "application/xml"
REST_EXTENSIONS = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg"}


def kvp_params(request: Request) -> dict[str, str]:
    """The query's parameters by upper-cased name (the first of repeated ones)."""
    params: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        params.setdefault(name.upper(), value)
    return params


async def kvp(request: Request) -> Response:
    """The KVP door: GetCapabilities or GetTile."""
    params = kvp_params(request)
    try:
        if params.get("SERVICE", "").upper() != "WMTS":
            raise MissingParameter("SERVICE") if not params.get("SERVICE") else InvalidInput("SERVICE must be WMTS")
        operation = params.get("REQUEST", "").lower()
        if operation == "getcapabilities":
            return await _capabilities(request)
        if operation == "gettile":
            if params.get("VERSION", "1.0.0") != "1.0.0":
                raise InvalidInput(f"VERSION {params['VERSION'][:20]!r} unsupported: this server speaks WMTS 1.0.0")
            return await _tile(request, params)
        raise MissingParameter("REQUEST") if not operation else InvalidInput(
            f"REQUEST {params['REQUEST'][:40]!r} unsupported; one of GetCapabilities, GetTile"
        )
    except OnemapError as err:
        return ows_error_response(err)


async def capabilities_document(request: Request) -> Response:
    """The RESTful capabilities document."""
    try:
        return await _capabilities(request)
    except OnemapError as err:
        return ows_error_response(err)


async def rest_tile(request: Request) -> Response:
    """The RESTful tile: /wmts/1.0.0/{layer}/{style}/{set}/{matrix}/{row}/{col}.{png|jpg}."""
    p = request.path_params
    params = {"LAYER": p["layer"], "STYLE": p["style"], "TILEMATRIXSET": p["tileMatrixSetId"],
              "TILEMATRIX": p["tileMatrix"], "TILEROW": p["tileRow"], "TILECOL": p["tileCol"],
              "FORMAT": REST_EXTENSIONS.get(p["fmt"].lower(), p["fmt"])}  # fmt: skip
    try:
        return await _tile(request, params)
    except OnemapError as err:
        return ows_error_response(err)


def _document(request: Request) -> bytes:
    state = request.app.state
    layers = wmts_layers(state.engine, principal_of(request), sources(request).get)
    return capabilities(layers, state.settings.base_url)


async def _capabilities(request: Request) -> Response:
    body = await run_in_threadpool(_document, request)
    return Response(body, media_type=XML, headers={"Cache-Control": CACHE_CONTROL})


def _plan(request: Request, tile_request: TileRequest, access: TileAccess) -> TilePlan:
    """The checks that need no pixels, from what the read check found: the files or features to draw."""
    engine = request.app.state.engine
    try:
        return plan_tile(engine, tile_request, access)
    except ImageryFileMissing:  # the layer may have been re-published a moment ago: look it up again
        forget(request, tile_request.layer)
        return plan_tile(engine, tile_request, _access(request, tile_request))


def _access(request: Request, tile_request: TileRequest) -> TileAccess:
    """THE read check (NotFound when hidden or missing), the layer looked up once."""
    engine = request.app.state.engine
    return tile_access(engine, principal_of(request), tile_request, lambda layer: readable(request, layer))


def _check(request: Request, params: dict[str, str]) -> tuple[TileRequest, TileAccess, tile_cache.TileKey | None]:
    """Parameters and THE read check; what it found (whether public, what to draw); the tile's cache key."""
    tile_request = parse_tile_request(params)
    access = _access(request, tile_request)
    version = tile_cache.layer_versions(request.app.state.engine).get(tile_request.layer)
    t = tile_request.tile
    parts = (tile_request.matrix_set, str(t.z), str(t.x), str(t.y), tile_request.style.media_type, repr(tile_request.style))
    key = tile_cache.TileKey("wmts", tile_request.layer, version, parts) if version is not None else None
    return tile_request, access, key


async def _tile(request: Request, params: dict[str, str]) -> Response:
    """One 256-px tile, drawn in the render worker pool as the XYZ tiles are, kept in the tile cache."""
    budget = RenderBudget.from_settings(request.app.state.settings)
    tile_request, access, key = await run_in_threadpool(_check, request, params)
    public = access.public
    media_type = tile_request.style.media_type
    if key is not None and tile_cache.etag_matches(request.headers.get("if-none-match"), key.etag):
        return Response(status_code=304, headers=tile_headers(request, key, public))
    found = await cached(request, key)
    if found is not None:
        return image_response(request, found, media_type, key, public)
    for attempt in (1, 2):
        try:
            plan = await run_in_threadpool(_plan, request, tile_request, access)
            pool = render_pool(request)
            body = await pool.run(render_wmts_tile, plan, budget) if plan.drawing else render_wmts_tile(plan, budget)
            break
        except ClientGone:
            return Response(status_code=499)  # nobody is listening
        except ImageryFileMissing as err:  # re-published while drawing: look the scenes up again
            forget(request, tile_request.layer)
            if attempt == 2:
                return ows_error_response(err)
            access = await run_in_threadpool(_access, request, tile_request)
    await keep(request, key, body or b"")
    return image_response(request, body, media_type, key, public)


routes = [
    Route("/1.0.0/WMTSCapabilities.xml", capabilities_document),
    Route("/1.0.0/{layer}/{style}/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}.{fmt}", rest_tile),
]
