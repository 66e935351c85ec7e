"""pygeoapi coverage provider for imagery layers (OGC API Coverages), named by dotted path.

pygeoapi 0.21's rasterio provider answers a bbox outside the image with 500, labels projected
CRSs with a non-existent URI, and folds every band into one CoverageJSON range. This adapter
hands the work to ``layers.imagery.coverage`` and turns its errors into 4xx provider errors.
A coverage is one scene: the latest that ``datetime=`` picks (``layers.imagery.selection``;
all scenes without it) and that meets the lon/lat bbox, if one is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import shapely
from pygeoapi.provider.base import (
    BaseProvider,
    ProviderConnectionError,
    ProviderInvalidQueryError,
    ProviderRequestEntityTooLargeError,
)

from api.ogc.calls import CURRENT_CALL
from api.ogc.imagery_sources import source_of, with_provider_errors
from api.workers import pool_of
from layers.imagery.coverage import MAX_TIFF_CELLS, bbox_from_axes, coverage_grid, encoded_subset
from layers.imagery.selection import select_scenes
from spatial.errors import NotFound

NATIVE_FILE_LIMIT = 64 * 1024 * 1024  # whole-file downloads are held in memory: above this, ask for a bbox
JSON_TYPES = {"uint": "integer", "int": "integer", "float": "number"}


class ImageryCoverageProvider(BaseProvider):
    """A COG served as a coverage: bbox or axis subsets, band selection, GeoTIFF and CoverageJSON."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        try:
            self.grid = coverage_grid(Path(self.data))
        except NotFound as err:
            raise ProviderConnectionError(user_msg=err.message) from err
        self.axes = list(self.grid.axes)
        self.crs = self.grid.crs_uri
        self.num_bands = len(self.grid.bands)
        self.provider_def = provider_def
        self.native_format = provider_def["format"]["name"]
        self.filename = Path(self.data).name
        self._coverage_properties = self._properties()
        self.get_fields()

    def _properties(self) -> dict[str, Any]:
        """What pygeoapi's collection description reads (grid size and resolution)."""
        grid = self.grid
        return {
            "bbox": list(grid.bounds),
            "bbox_crs": grid.crs_uri,
            "width": grid.width,
            "height": grid.height,
            "resx": grid.resolution[0],
            "resy": grid.resolution[1],
            "num_bands": self.num_bands,
            "axes": self.axes,
            "x_axis_label": self.axes[0],
            "y_axis_label": self.axes[1],
        }

    def get_fields(self) -> dict[str, Any]:
        """One field per band, keyed by its number (``properties=3,2,1`` selects bands)."""
        if not self._fields:
            for index, name, dtype in self.grid.bands:
                kind = next(v for k, v in JSON_TYPES.items() if dtype.startswith(k))
                self._fields[str(index)] = {
                    "title": name,
                    "type": kind,
                    "x-ogc-unit": "digital number",
                }
        return self._fields

    def query(
        self,
        properties: list[str] | None = None,
        subsets: dict | None = None,
        bbox: list | None = None,
        bbox_crs: str | int | None = None,
        datetime_: str | None = None,
        format_: str = "json",
        **kwargs: Any,
    ) -> bytes | dict[str, Any]:
        """A subset as CoverageJSON (``format_='json'``) or GeoTIFF bytes (the native format)."""
        if bbox and subsets:
            raise ProviderInvalidQueryError(
                user_msg="bbox and subset are exclusive: give one of them"
            )
        want_json = format_ == "json"
        with with_provider_errors():  # status and code of the domain error (BudgetExceeded: 400)
            path = self._scene(datetime_, bbox, bbox_crs)
            if not (properties or subsets or bbox or want_json):
                return self._whole_file(path)
            return self._subset(path, properties, subsets, bbox, bbox_crs, want_json)

    def _scene(self, datetime_: str | None, bbox: list | None, bbox_crs: str | int | None) -> Path:
        """The file to read: the latest scene ``datetime_`` picks that meets a lon/lat bbox."""
        if "database" not in self.provider_def:
            return Path(self.data)
        source = source_of(self.provider_def)
        scenes = select_scenes(source.scenes, layer_id=source.layer_id, datetime=datetime_)
        if bbox and len(bbox) == 4 and _bbox_crs(bbox_crs) == "CRS84":
            area = shapely.box(*(float(v) for v in bbox))
            scenes = tuple(s for s in scenes if s.footprint.intersects(area)) or scenes
        return scenes[0].path

    def _subset(
        self,
        path: Path,
        properties: list[str] | None,
        subsets: dict | None,
        bbox: list | None,
        bbox_crs: str | int | None,
        want_json: bool,
    ) -> bytes | dict[str, Any]:
        """Read and encode in a render worker (``api.workers``), within the source budget."""
        native_bbox = bbox_from_axes(subsets, self.grid) if subsets else None
        kwargs: dict[str, Any] = {
            "bbox": native_bbox or bbox or None,
            "bbox_crs": self.crs if native_bbox else _bbox_crs(bbox_crs),
            "bands": [int(p) for p in properties] if properties else None,
            "want_json": want_json,
        }
        call = CURRENT_CALL.get()
        if call is None:  # outside the OGC routes (a script driving pygeoapi): in process, default budget
            return encoded_subset(path, max_cells=MAX_TIFF_CELLS, **kwargs)
        settings = call.settings
        return pool_of(settings).run_sync(encoded_subset, path, max_cells=settings.max_source_pixels, **kwargs)

    def _whole_file(self, path: Path) -> bytes:
        if path.stat().st_size > NATIVE_FILE_LIMIT:
            raise ProviderRequestEntityTooLargeError(
                user_msg=f"the whole scene is over {NATIVE_FILE_LIMIT // 2**20} MB: give a bbox (subsets are "
                "read within ONEMAP_MAX_SOURCE_PIXELS)"
            )
        return path.read_bytes()


def _bbox_crs(value: str | int | None) -> str:
    """pygeoapi passes 4326 when no bbox-crs was given: coverages read bbox as lon/lat then."""
    return "CRS84" if value in (None, 4326, "4326") else str(value)
