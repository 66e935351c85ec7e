"""pygeoapi map provider for imagery layers (OGC API Maps), named by dotted path.

``/ogc/collections/{id}/map?bbox=minlon,minlat,maxlon,maxlat&width=&height=&datetime=`` draws
the layer as the tiles do (default bands and stretch, the latest scene on top) in EPSG:4326.
"""

from __future__ import annotations

from typing import Any

from pygeoapi.provider.base import (
    BaseProvider,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
)

from api.ogc.imagery_sources import source_of
from layers.imagery.maps import render_map
from layers.imagery.tiles import parse_style
from spatial.errors import InvalidInput, NotFound


class ImageryMapProvider(BaseProvider):
    """An imagery layer drawn for a lon/lat box."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        self.provider_def = provider_def

    def query(  # type: ignore[override]
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
        try:
            image = render_map(source_of(self.provider_def), bbox or [], int(width), int(height),
                               parse_style("png"), datetime=datetime_)  # fmt: skip
        except NotFound as err:
            raise ProviderItemNotFoundError(user_msg=err.message) from err
        except InvalidInput as err:
            raise ProviderInvalidQueryError(user_msg=err.message) from err
        if image is None:
            raise ProviderItemNotFoundError(user_msg="the layer has no pixels inside this bbox")
        return image
