"""Zonal statistics: a band or expression (e.g. NDVI) summarised over every polygon of a layer.

    >>> from layers.imagery.zonal import zonal_statistics          # doctest: +SKIP
    >>> result = zonal_statistics(engine, "demo_imagery", "unit_grid",
    ...                           expression="(b4-b3)/(b4+b3)", percentiles=[50])
    >>> result.to_geodataframe().sort_values("mean").head()

Each polygon is measured on one scene: the latest picked scene whose footprint contains it,
else the latest that meets it (a polygon across a scene edge counts that scene's pixels only).
Pixels are the scene's own (no resampling): a polygon's vertices are transformed to the
scene's CRS and burnt on its grid (``layers.imagery.zonal_engine``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import rasterio
import shapely
from pyproj import Transformer
from rasterio.io import DatasetReader
from rasterio.windows import Window
from sqlalchemy import Engine

from layers.imagery.access import Caller, readable_imagery, readable_layer
from layers.imagery.measure import parse_measure, parse_percentiles
from layers.imagery.readers import GDAL_ENV
from layers.imagery.remote import reading
from layers.imagery.scenes import Scene
from layers.imagery.selection import select_scenes
from layers.imagery.zonal_engine import statistic_names, zone_statistics
from layers.imagery.zonal_result import ZonalResult
from layers.imagery.zones import BBox, Zones, read_zones
from spatial.db import shared_engine
from spatial.errors import InvalidInput

WindowReader = Callable[[DatasetReader, Window], np.ma.MaskedArray]


def zonal_statistics(
    engine: Engine,
    layer: str,
    zones: str,
    *,
    band: int | str | None = None,
    expression: str | None = None,
    datetime: str | None = None,
    scene: str | None = None,
    percentiles: Sequence[float] | str | None = (),
    all_touched: bool = False,
    properties: Sequence[str] = (),
    bbox: BBox | None = None,
    principal: Caller,
) -> ZonalResult:
    """count, nodata, mean, min, max, std and percentiles of the measure under each polygon."""
    source = readable_imagery(engine, layer, principal)
    zone_row = readable_layer(engine, zones, principal)
    scenes = select_scenes(source.scenes, layer_id=layer, datetime=datetime, scene=scene)
    measure = parse_measure(band, expression, _band_count(scenes[0]))
    wanted = parse_percentiles(percentiles)
    zone_set = read_zones(engine, zone_row, within=_within(scenes, bbox), properties=properties)
    _check_names(zone_set, wanted)
    owner = assign_scenes(zone_set.geometries, scenes)
    columns = {name: np.full(len(zone_set), np.nan) for name in statistic_names(wanted)}
    columns["count"][:], columns["nodata"][:] = 0, 0
    for index, chosen in enumerate(scenes):
        members = np.flatnonzero(owner == index)
        if members.size:
            with reading(chosen), rasterio.Env(**GDAL_ENV), rasterio.open(chosen.path) as dataset:
                measure.check(dataset.count)
                found = measure_zones(dataset, zone_set.geometries[members], measure.read,
                                      percentiles=wanted, all_touched=all_touched)  # fmt: skip
            for name, values in found.items():
                columns[name][members] = values
    labels = [scenes[i].scene_id if i >= 0 else None for i in owner.tolist()]
    used = [s for i, s in enumerate(scenes) if np.any(owner == i)]
    return ZonalResult(layer, zone_set, measure.label, columns, {"scene": labels}, used, all_touched)


def measure_zones(
    dataset: DatasetReader,
    geometries: np.ndarray,
    read: WindowReader,
    *,
    percentiles: Sequence[float] = (),
    all_touched: bool = False,
    extra_means: Sequence[str] = (),
) -> dict[str, np.ndarray]:
    """Statistics of lon/lat polygons on ``dataset``'s grid, values from ``read(dataset, window)``."""
    native = to_crs(geometries, dataset.crs)
    return zone_statistics(
        native, dataset.transform, dataset.shape, lambda window: read(dataset, window),
        percentiles=percentiles, all_touched=all_touched, extra_means=extra_means,
    )  # fmt: skip


def assign_scenes(geometries: np.ndarray, scenes: Sequence[Scene]) -> np.ndarray:
    """Per polygon, the index of the scene it is measured on (-1: none meets it)."""
    owner = np.full(len(geometries), -1, dtype=np.int64)
    for predicate in (shapely.contains, shapely.intersects):
        for index, chosen in enumerate(scenes):
            free = owner < 0
            if not free.any():
                return owner
            hit = np.zeros(len(geometries), dtype=bool)
            hit[free] = predicate(chosen.footprint, geometries[free])
            owner[hit] = index
    return owner


def to_crs(geometries: np.ndarray, crs: Any) -> np.ndarray:
    """Lon/lat geometries with their vertices transformed to ``crs`` (edges stay straight there)."""
    if crs.to_epsg() == 4326:
        return geometries
    transformer = Transformer.from_crs("EPSG:4326", crs.to_wkt(), always_xy=True)

    def project(points: np.ndarray) -> np.ndarray:
        xs, ys = transformer.transform(points[:, 0], points[:, 1])
        return np.column_stack([xs, ys])

    return shapely.transform(geometries, project)


def _band_count(scene: Scene) -> int:
    if scene.band_count:
        return scene.band_count
    with reading(scene), rasterio.Env(**GDAL_ENV), rasterio.open(scene.path) as dataset:
        return int(dataset.count)


def _within(scenes: Sequence[Scene], bbox: BBox | None) -> BBox:
    """The lon/lat box polygons are looked for in: the scenes' extent, cut to ``bbox``."""
    bounds = np.array([s.bbox for s in scenes])
    extent = (bounds[:, 0].min(), bounds[:, 1].min(), bounds[:, 2].max(), bounds[:, 3].max())
    if bbox is None:
        return tuple(float(v) for v in extent)  # type: ignore[return-value]
    left, bottom, right, top = (float(v) for v in bbox)
    if not (left < right and bottom < top):
        raise InvalidInput(f"bbox {list(bbox)} is empty or inverted: give minlon,minlat,maxlon,maxlat")
    return (max(left, extent[0]), max(bottom, extent[1]), min(right, extent[2]), min(top, extent[3]))


def _check_names(zones: Zones, percentiles: Sequence[float], extra: Sequence[str] = ()) -> None:
    taken = set(statistic_names(percentiles, extra)) | {"scene", "before_scene", "after_scene"}
    clash = [name for name in zones.properties if name in taken]
    if clash:
        raise InvalidInput(f"property {clash[0]!r} has the name of a statistic; leave it out")


def statistics_at(url: str, compute: Callable[..., ZonalResult], layer: str, **kwargs: Any) -> ZonalResult:
    """``compute(engine, layer, **kwargs)`` against the database at ``url``.

    For a render worker process (``api.workers``), which has no engine of its own: it keeps one
    small shared engine per database for its lifetime.
    """
    return compute(shared_engine(url, pool_size=2), layer, **kwargs)
