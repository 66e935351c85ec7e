"""pygeoapi map provider for imagery layers (OGC API Maps), named by dotted path.

``/ogc/collections/{id}/map?bbox=minlon,minlat,maxlon,maxlat&width=&height=&datetime=`` draws
the layer as the tiles do (default bands and stretch, the latest scene on top) in EPSG:4326.
The checks that need no pixels (box, size, output budget, scenes) run here; the drawing runs
in the render worker pool (``api.workers``) with the source budget checked before any read.
"""

from __future__ import annotations

from typing import Any

from pygeoapi.provider.base import (
    BaseProvider,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
)

from api.ogc.calls import CURRENT_CALL
from api.ogc.imagery_sources import source_of, with_provider_errors
from api.workers import pool_of
from layers.imagery.budget import RenderBudget
from layers.imagery.maps import draw_map, map_paths
from layers.imagery.tiles import parse_style


class ImageryMapProvider(BaseProvider):
    """An imagery layer drawn for a lon/lat box."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        self.provider_def = provider_def

    def query(
        self,
        style: str | None = None,
        bbox: list[float] | None = None,
        width: int = 500,
        height: int = 300,
        crs: Any = 4326,
        datetime_: str | None = None,
        transparent: bool = True,
        bbox_crs: Any = 4326,
        format_: str = "png",
        **kwargs: Any,
    ) -> bytes:
        """A PNG of the box; 404 outside the layer or its picked scenes, 400 for bad sizes."""
        call = CURRENT_CALL.get()
        if call is None:  # only reachable through api.ogc.routes, which sets the call
            raise ProviderInvalidQueryError(user_msg="maps are served through the OGC API routes")
        budget = RenderBudget.from_settings(call.settings)
        look = parse_style("png")  # ``style`` is the OGC style name, unused: one look per layer
        with with_provider_errors():
            box, size = bbox or [], (int(width), int(height))
            paths = map_paths(source_of(self.provider_def), box, *size, look, datetime=datetime_,
                              budget=budget)  # fmt: skip
            image = pool_of(call.settings).run_sync(draw_map, paths, box, *size, look, budget) if paths else None
        if image is None:
            raise ProviderItemNotFoundError(user_msg="the layer has no pixels inside this bbox")
        return image
