"""REST: the layer catalog as the web map and clients see it (GET /api/v1/layers)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from layers.catalog import list_layers

PUBLIC_FIELDS = (
    "id", "title_zh", "title_en", "description", "department_code", "department_name_zh",
    "department_name_en", "kind", "visibility", "geometry_type", "bbox", "time_start",
    "time_end", "keywords", "licence", "style", "feature_count", "updated_at",
)


def layer_view(row: dict[str, Any], base_url: str) -> dict[str, Any]:
    view = {key: row.get(key) for key in PUBLIC_FIELDS}
    for key in ("time_start", "time_end", "updated_at"):
        if view[key] is not None:
            view[key] = view[key].isoformat()
    view["links"] = {"collection": f"{base_url}/ogc/collections/{row['id']}"}
    if row.get("storage_table"):
        view["links"]["items"] = f"{base_url}/ogc/collections/{row['id']}/items"
    return view


async def layers_index(request: Request) -> Response:
    engine = request.app.state.engine
    rows = await asyncio.get_running_loop().run_in_executor(None, list_layers, engine)
    base = request.app.state.settings.base_url
    return JSONResponse({"layers": [layer_view(row, base) for row in rows]})


routes = [Route("/layers", layers_index)]
