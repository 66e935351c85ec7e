"""REST: supervision (电子监察) and the unit grid.

- ``GET /supervision/overdue?department=&warnings=true``: incidents past or near their deadline;
- ``GET /supervision/kpis?by=department|district|street|community|cell|inspector&since=&until=``;
- ``GET /grid/code?lon=&lat=&level=1s``: the GB/T 12409-style geographic grid code and the unit cell.

Supervision is for staff (any authenticated caller); the grid look-up is public.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.auth import principal_of
from api.params import Lat, Lon, Since, Until
from api.routes.incidents import plain
from spatial.errors import Unauthorized
from spatial.grid.codes import geo_grid_code
from spatial.grid.lookup import cell_at
from spatial.incidents.kpis import kpis
from spatial.incidents.supervision import due_incidents


def staff_only(request: Request) -> None:
    if principal_of(request) is None:
        raise Unauthorized("supervision is for staff: send Authorization: Bearer <token>")


router = APIRouter(prefix="/api/v1", tags=["supervision"])
KpiGrouping = Literal["department", "district", "street", "community", "cell", "inspector"]


@router.get("/supervision/overdue", summary="incidents past or near their deadline (staff)")
async def overdue(
    request: Request,
    department: Annotated[str | None, Query(max_length=64, description="one department's code")] = None,
    warnings: Annotated[bool, Query(description="include those near their deadline")] = True,
) -> Response:
    staff_only(request)

    def run() -> list[dict[str, Any]]:
        with request.app.state.engine.connect() as conn:
            return due_incidents(conn, department=department or None, include_warnings=warnings)

    items = await run_in_threadpool(run)
    return JSONResponse({"count": len(items), "incidents": items})


@router.get("/supervision/kpis", summary="closure, on-time closure, rework and handling time per group (staff)")
async def kpi_endpoint(request: Request, by: KpiGrouping = "department", since: Since = None,
                       until: Until = None) -> Response:  # fmt: skip
    staff_only(request)

    def run() -> list[dict[str, Any]]:
        with request.app.state.engine.connect() as conn:
            return kpis(conn, by, since=since, until=until)

    return JSONResponse({"by": by, "formulas": FORMULAS, "groups": plain(await run_in_threadpool(run))})


@router.get("/grid/code", summary="the GB/T 12409-style grid code of a point, and its unit cell")
async def grid_code(
    request: Request, lon: Lon, lat: Lat,
    level: Annotated[Literal["1d", "10m", "1m", "10s", "1s"], Query(description="grid level")] = "1s",
) -> Response:
    geo = geo_grid_code(lon, lat, level)

    def run() -> Any:
        with request.app.state.engine.connect() as conn:
            return cell_at(conn, lon, lat)

    hit = await run_in_threadpool(run)
    cell = None if hit is None else {"code": hit.code, "community_code": hit.community_code,
                                     "street_code": hit.street_code, "district_code": hit.district_code,
                                     "grid_version": hit.version_id}  # fmt: skip
    return JSONResponse({"lon": lon, "lat": lat, "geo_grid": {"code": geo.code, "level": geo.level,
                         "bounds": list(geo.bounds), "standard": "GB/T 12409-2009 style"}, "unit_cell": cell})  # fmt: skip


FORMULAS = {
    "closure_rate": "closed / due (结案数 / 应结案数)",
    "on_time_closure_rate": "closed on time / due (按期结案数 / 应结案数)",
    "rework_rate": "reworked / handled (返工案件数 / 处置案件数)",
    "mean_handling_hours": "mean working hours from first dispatch to last handling feedback, over closed",
    "due": "registered in the period and closed, or past the handling deadline (not suspended or merged)",
}
