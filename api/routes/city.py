"""REST: the city now on the platform (GET /api/v1/city): names, division levels, the pages' initial view.

Public: anyone may read the city's name and view. The default base layer is named only when the
caller may see it (THE read check, as ``GET /api/v1/layers`` applies it); otherwise the next
imagery layer over the city the caller may see, or none (the blank base). Thin: the reading is
``layers.city.current``.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.auth import principal_of
from layers.city.current import read_current_city

router = APIRouter(prefix="/api/v1", tags=["city"])


class LevelTitle(BaseModel):
    """What the city calls a division level."""

    zh: str
    en: str


class CityVersion(BaseModel):
    """The loaded base-map version (``onemap city load``)."""

    id: int
    loaded_at: dt.datetime | None


class CityDocument(BaseModel):
    """The city as the pages show it."""

    code: str | None = Field(description="the profile's code; null before any `onemap city load`")
    name_zh: str
    name_en: str
    version: CityVersion | None = Field(description="the current base-map version, if any")
    levels: dict[str, LevelTitle] = Field(description="district / street / community → titles")
    extent: list[float] | None = Field(
        description="the divisions' lon/lat box: minx, miny, maxx, maxy"
    )
    center: list[float] | None = Field(description="[lon, lat] the pages open on")
    zoom: int | None = Field(description="the profile's zoom; null: fit the extent")
    default_base_layer: str | None = Field(
        description="an imagery layer over the city the caller may see; null: the blank base"
    )


@router.get("/city", summary="the city now loaded: names, level titles, extent, initial view, base layer",
            response_model=CityDocument)  # fmt: skip
async def city(request: Request) -> Response:
    """The current city, with a default base layer the caller may see."""
    state = request.app.state
    view = await run_in_threadpool(read_current_city, state.engine, state.settings)
    return JSONResponse(view.as_json(principal_of(request)))
