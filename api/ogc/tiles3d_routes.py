"""3D Tiles 1.1 of a collection with heights: ``/collections/{id}/3dtiles/tileset.json`` and its glb tiles.

In the spirit of OGC API – 3D GeoVolumes: the collection document links its tileset (see
``link_3dtiles``). Every request passes THE read check (a hidden layer is a 404 like a missing
one) and brings the tileset up to date with the layer's edits first (``layers.tiles3d``).
Answers carry an ETag (the tileset version for tileset.json, the file's version for a tile)
and ``Cache-Control: max-age=0, must-revalidate``, so a client revalidates and gets 304. The files
themselves are the cache (kept on disk, brought up to date from the feature history), so they are
not put in ``layers.tile_cache``; ``If-None-Match`` is read by its rule (``etag_matches``).
"""

from __future__ import annotations

import asyncio

import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from api.auth import principal_of
from layers.catalog import find_layer
from layers.tile_cache import etag_matches
from layers.tiles3d import has_model, served_file
from layers.tiles3d.tileset import TILESET

REL_3DTILES = "http://www.opengis.net/def/rel/ogc/1.0/geodata"
TILESET_TYPE = "application/json"
GLB_TYPE = "model/gltf-binary"


async def collection_3dtiles(request: Request) -> Response:
    layer_id = request.path_params["collection_id"]
    path = request.path_params.get("path") or TILESET
    app = request.app
    found, info, public = await asyncio.get_running_loop().run_in_executor(
        None, served_file, app.state.engine, app.state.settings, layer_id, path, principal_of(request)
    )
    if path == TILESET:
        etag = f'"{info.tileset_version}"'
    else:
        stat = found.stat()
        etag = f'"{info.version}-{stat.st_mtime_ns:x}-{stat.st_size:x}"'
    headers = {"ETag": etag, "Cache-Control": f"{'public' if public else 'private'}, max-age=0, must-revalidate"}
    if etag_matches(request.headers.get("if-none-match"), etag):  # the same rule as the other tiles
        return Response(status_code=304, headers=headers)
    return FileResponse(found, headers=headers, media_type=TILESET_TYPE if path == TILESET else GLB_TYPE)


async def with_3dtiles_link(request: Request, layer_id: str | None, response: Response) -> Response:
    """A collection document (JSON, 200) of a layer with a 3D model, with a link to its tileset."""
    if not layer_id or response.status_code != 200 or "json" not in response.headers.get("content-type", ""):
        return response
    row = await asyncio.get_running_loop().run_in_executor(None, find_layer, request.app.state.engine, layer_id)
    if row is None or not has_model(row):
        return response
    document = orjson.loads(bytes(response.body))
    if not isinstance(document, dict):
        return response
    url = str(request.url.replace(query="")).rstrip("/")
    document["links"] = [*document.get("links", []), {
        "rel": REL_3DTILES, "type": TILESET_TYPE, "title": "3D Tiles 1.1 tileset (LoD1 buildings)",
        "href": f"{url}/3dtiles/tileset.json",
    }]  # fmt: skip
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")}
    return Response(orjson.dumps(document), status_code=200, headers=headers,
                    media_type=response.headers.get("content-type"))  # fmt: skip
