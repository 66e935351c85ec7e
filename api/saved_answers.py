"""A REST answer that ``save_as`` may keep as a layer: 200 with the answer, or 201 with ``Location``.

Network and 3D analyses, imagery statistics and earthquake scenarios answer alike; keeping the
answer (who owns the layer, the one write gate) is ``layers.saved_results``. Here only what HTTP
adds: the work in the thread pool, the catalog re-read so the OGC doors see the new layer at
once, and the 201 naming where the layer is.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol, Unpack

import orjson
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.auth import principal_of
from api.limits import read_json_object
from layers.saved_results import Caller, SaveAs, save_arguments
from layers.vector import LoadReport
from spatial.errors import InvalidInput

GEOJSON = "application/geo+json"


class Keep(Protocol):
    """Keeps an analysis answer as a layer (``layers.network_layers.save_network_result`` and the like)."""

    def __call__(self, engine: Engine, answer: Mapping[str, Any], *, principal: Caller, door: str = "cli",
                 **save: Unpack[SaveAs]) -> LoadReport: ...  # fmt: skip


def kept(request: Request, answer: Mapping[str, Any], report: LoadReport, save: SaveAs, media: str) -> Response:
    """201: the answer, where its new layer is and what was loaded."""
    request.app.state.ogc_gateway.recheck()
    location = f"{request.app.state.settings.base_url}/api/v1/layers/{save['name']}"
    body = {**answer, "layer_saved": location, "summary": report.summary()}
    return Response(orjson.dumps(body), status_code=201, media_type=media, headers={"Location": location})


async def posted_inputs(request: Request, operation: str, operations: Collection[str], what: str,
                        max_body: int) -> tuple[dict[str, Any], SaveAs | None]:  # fmt: skip
    """A POSTed analysis: the operation known, the JSON object (or OGC ``{"inputs": …}``) read within
    ``max_body``, and its ``save_as``."""
    if operation not in operations:
        raise InvalidInput(f"unknown {what} {operation!r}; one of {', '.join(operations)}")
    given = await read_json_object(request, max_body)
    if isinstance(given.get("inputs"), dict):  # the OGC API Processes shape is accepted too
        given = given["inputs"]
    return given, save_arguments(given.get("save_as"))


async def analysis_answer(request: Request, run: Callable[[Caller], dict[str, Any]], keep: Keep,
                          save: SaveAs | None, media: str = GEOJSON) -> Response:  # fmt: skip
    """``run`` for the caller in the thread pool; with ``save`` the answer is kept by ``keep`` (201)."""
    caller = principal_of(request)
    engine = request.app.state.engine

    def body() -> Response:
        answer = run(caller)
        if save is None:
            return Response(orjson.dumps(answer), media_type=media)
        return kept(request, answer, keep(engine, answer, principal=caller, door="rest", **save), save, media)

    return await run_in_threadpool(body)
