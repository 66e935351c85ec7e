"""Change between two scenes over a polygon layer: statistics of (after − before) per polygon.

Both scenes are read on the *after* scene's grid: the before scene is warped onto it with a
``WarpedVRT`` (nearest neighbour, so no value is invented) unless the grids already agree. A
pixel counts when both scenes have data there. Besides the difference's count, mean, min,
max, std and percentiles, each polygon gets ``mean_before`` and ``mean_after`` over the same
pixels.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import rasterio
import shapely
from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window
from sqlalchemy import Engine

from layers.imagery.access import Caller, readable_imagery, readable_layer
from layers.imagery.measure import Measure, parse_measure, parse_percentiles
from layers.imagery.readers import GDAL_ENV
from layers.imagery.remote import reading
from layers.imagery.scenes import Scene
from layers.imagery.selection import pick_scene
from layers.imagery.zonal import WindowReader, measure_zones
from layers.imagery.zonal_engine import statistic_names
from layers.imagery.zonal_result import ZonalResult
from layers.imagery.zones import BBox, read_zones
from spatial.errors import InvalidInput

SIDES = ("before", "after")


def change_statistics(
    engine: Engine,
    layer: str,
    zones: str,
    *,
    before: str,
    after: str,
    band: int | str | None = None,
    expression: str | None = None,
    percentiles: Sequence[float] | str | None = (),
    all_touched: bool = False,
    properties: Sequence[str] = (),
    bbox: BBox | None = None,
    principal: Caller,
) -> ZonalResult:
    """Per polygon, statistics of the measure's change from scene ``before`` to ``after``.

    ``before`` and ``after`` name a scene id, or a datetime (the latest scene it matches).
    """
    source = readable_imagery(engine, layer, principal)
    zone_row = readable_layer(engine, zones, principal)
    first = pick_scene(source.scenes, before, layer_id=layer)
    second = pick_scene(source.scenes, after, layer_id=layer)
    if first.scene_id == second.scene_id:
        raise InvalidInput(f"before and after both name scene {first.scene_id!r}: pick two scenes")
    measure = parse_measure(band, expression, first.band_count or second.band_count or 1)
    wanted = parse_percentiles(percentiles)
    common = first.footprint.intersection(second.footprint)
    if common.is_empty:
        raise InvalidInput(f"scenes {first.scene_id!r} and {second.scene_id!r} do not overlap")
    zone_set = read_zones(engine, zone_row, within=_cut(common.bounds, bbox), properties=properties)
    inside = shapely.intersects(common, zone_set.geometries) if len(zone_set) else np.zeros(0, bool)
    columns = {name: np.full(len(zone_set), np.nan) for name in statistic_names(wanted, SIDES)}
    columns["count"][:], columns["nodata"][:] = 0, 0
    members = np.flatnonzero(inside)
    if members.size:
        with rasterio.Env(**GDAL_ENV), _pair(first, second) as (old, new):
            measure.check(old.count)
            measure.check(new.count)
            found = measure_zones(new, zone_set.geometries[members], _difference(measure, old),
                                  percentiles=wanted, all_touched=all_touched, extra_means=SIDES)  # fmt: skip
        for name, values in found.items():
            columns[name][members] = values
    ids: dict[str, list[str | None]] = {
        "before_scene": [first.scene_id] * len(zone_set),
        "after_scene": [second.scene_id] * len(zone_set),
    }
    label = f"change of {measure.label}"
    return ZonalResult(layer, zone_set, label, columns, ids, [first, second], all_touched)


@contextmanager
def _pair(first: Scene, second: Scene) -> Iterator[tuple[DatasetReader, DatasetReader]]:
    """The before scene on the after scene's grid, and the after scene."""
    with reading(first, second), rasterio.open(first.path) as old, rasterio.open(second.path) as new:
        same_grid = old.crs == new.crs and old.transform == new.transform and old.shape == new.shape
        if same_grid:
            yield old, new
            return
        with WarpedVRT(old, crs=new.crs, transform=new.transform, width=new.width,
                       height=new.height, resampling=Resampling.nearest) as warped:  # fmt: skip
            yield warped, new


def _difference(measure: Measure, old: DatasetReader) -> WindowReader:
    """A window reader giving (after − before, before, after), masked where either lacks data."""

    def read(new: DatasetReader, window: Window) -> np.ma.MaskedArray:
        before, after = measure.read(old, window)[0], measure.read(new, window)[0]
        mask = np.ma.getmaskarray(before) | np.ma.getmaskarray(after)
        stack = np.stack([np.ma.getdata(after) - np.ma.getdata(before), np.ma.getdata(before), np.ma.getdata(after)])
        return np.ma.MaskedArray(stack, mask=np.broadcast_to(mask, stack.shape).copy())

    return read


def _cut(bounds: tuple[float, ...], bbox: BBox | None) -> BBox:
    left, bottom, right, top = bounds
    if bbox is None:
        return (left, bottom, right, top)
    return (max(left, bbox[0]), max(bottom, bbox[1]), min(right, bbox[2]), min(top, bbox[3]))
