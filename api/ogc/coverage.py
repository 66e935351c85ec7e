"""pygeoapi coverage provider for imagery layers (OGC API Coverages), named by dotted path.

pygeoapi 0.21's rasterio provider answers a bbox outside the image with 500, labels projected
CRSs with a non-existent URI, and folds every band into one CoverageJSON range. This adapter
hands the work to ``layers.imagery.coverage`` and turns its errors into 4xx provider errors.
A coverage is one scene: the latest that ``datetime=`` picks (``layers.imagery.selection``;
all scenes without it) and that meets the area asked for, if any.

``subset`` (stored x/y or Lon/Lat axes, ``subset-crs``) and ``scaleSize``/``scaleAxes``/
``scaleFactor`` are parsed by the route (``spatial.coverage_params``) and reach the provider
through the call; ``layers.imagery.coverage_query`` decides the area and the output grid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import shapely
from pygeoapi.provider.base import (
    BaseProvider,
    ProviderConnectionError,
    ProviderRequestEntityTooLargeError,
)

from api.ogc.calls import CURRENT_CALL
from api.ogc.imagery_sources import source_of, with_provider_errors
from api.workers import pool_of
from layers.imagery.budget import RenderBudget
from layers.imagery.coverage import MAX_TIFF_CELLS, coverage_grid, encoded_resampled, encoded_subset
from layers.imagery.coverage_query import CoveragePlan, axis_names, plan_coverage
from layers.imagery.remote import RemoteImageryUnavailable, scene_location
from layers.imagery.selection import select_scenes
from spatial.coverage_params import CoverageQuery, parse_subsets
from spatial.errors import NotFound

NATIVE_FILE_LIMIT = 64 * 1024 * 1024  # whole-file downloads are held in memory: above this, ask for a bbox
JSON_TYPES = {"uint": "integer", "int": "integer", "float": "number"}


class ImageryCoverageProvider(BaseProvider):
    """A COG served as a coverage: bbox or axis subsets, band selection, GeoTIFF and CoverageJSON."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        try:
            self.grid = coverage_grid(scene_location(self.data))
        except NotFound as err:
            raise ProviderConnectionError(user_msg=err.message) from err
        except RemoteImageryUnavailable:  # a remote scene's server is down: 503 with the message
            with with_provider_errors():
                raise
        self.axes = list(axis_names())  # pygeoapi checks subset names against these; we read them
        self.crs = self.grid.crs_uri
        self.num_bands = len(self.grid.bands)
        self.provider_def = provider_def
        self.native_format = provider_def["format"]["name"]
        self.filename = scene_location(self.data).name
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
            "axes": list(grid.axes),
            "x_axis_label": grid.axes[0],
            "y_axis_label": grid.axes[1],
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
        """CoverageJSON (``format_='json'``) or GeoTIFF: the stored pixels of an area, or a resampled grid."""
        want_json = format_ == "json"
        with with_provider_errors():  # status and code of the domain error (BudgetExceeded: 400)
            area_crs = _bbox_crs(bbox_crs) if bbox else None
            plan = plan_coverage(self.grid, self._asked(subsets), bbox or None, area_crs)
            path = self._scene(datetime_, plan.lonlat_area())
            if not (properties or plan.area or plan.output or want_json):
                return self._whole_file(path)
            return self._read(path, plan, [int(p) for p in properties] if properties else None, want_json)

    @staticmethod
    def _asked(subsets: dict | None) -> CoverageQuery:
        """The route's parsed subset/scale parameters; pygeoapi's subsets when called without the route."""
        call = CURRENT_CALL.get()
        if call is not None and call.coverage is not None:
            return call.coverage
        written = ",".join(f"{axis}({':'.join(map(str, values))})" for axis, values in (subsets or {}).items())
        return CoverageQuery(subsets=parse_subsets([written]) if written else {})

    def _scene(self, datetime_: str | None, lonlat_area: tuple[float, ...] | None) -> Path:
        """The file to read: the latest scene ``datetime_`` picks that meets the lon/lat area."""
        if "database" not in self.provider_def:
            return scene_location(self.data)
        source = source_of(self.provider_def)
        scenes = select_scenes(source.scenes, layer_id=source.layer_id, datetime=datetime_)
        if lonlat_area is not None:
            area = shapely.box(*lonlat_area)
            scenes = tuple(s for s in scenes if s.footprint.intersects(area)) or scenes
        return scenes[0].path

    @staticmethod
    def _read(path: Path, plan: CoveragePlan, bands: list[int] | None, want_json: bool) -> bytes | dict[str, Any]:
        """Read and encode in a render worker (``api.workers``), within the request's budgets."""
        call = CURRENT_CALL.get()
        settings = call.settings if call is not None else None
        kwargs: dict[str, Any] = {"bands": bands, "want_json": want_json}
        if plan.output is not None:
            job: Any = encoded_resampled
            grid = plan.output
            budget = RenderBudget.from_settings(settings) if settings else RenderBudget()
            kwargs |= {"bounds": grid.bounds, "crs": grid.crs, "width": grid.width, "height": grid.height,
                       "budget": budget}  # fmt: skip
        else:
            job = encoded_subset
            kwargs |= {"bbox": plan.area, "bbox_crs": plan.area_crs if plan.area else None,
                       "max_cells": settings.max_source_pixels if settings else MAX_TIFF_CELLS}  # fmt: skip
        if settings is None:  # outside the OGC routes (a script driving pygeoapi): in process
            return job(path, **kwargs)
        return pool_of(settings).run_sync(job, path, **kwargs)

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
