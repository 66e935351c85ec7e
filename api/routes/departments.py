"""REST: the city's departments (/api/v1/departments).

- ``GET /departments``: every department, ``{"departments": [{"code", "name_zh", "name_en"}]}`` by code
  (staff): what the console's 派遣 offers, a department with no case and no category default included.

Thin: the SQL lives in ``layers.catalog``.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.auth import principal_of
from layers.catalog import list_departments
from spatial.errors import Unauthorized

router = APIRouter(prefix="/api/v1/departments", tags=["departments"])


@router.get("", summary="every department (staff)",
            description="`{\"departments\": [{\"code\", \"name_zh\", \"name_en\"}]}`, ordered by code; "
                        "a code is what `dispatch` takes as `department`.")  # fmt: skip
async def departments_index(request: Request) -> Response:
    if principal_of(request) is None:
        raise Unauthorized("the list of departments is for staff: sign in (send Authorization: Bearer <token>)")

    def run() -> list[dict[str, str]]:
        with request.app.state.engine.connect() as conn:
            return list_departments(conn)

    return JSONResponse({"departments": await run_in_threadpool(run)})
