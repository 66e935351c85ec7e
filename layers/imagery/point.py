"""Values of an imagery layer at a point: bands or an expression, from the latest scene with data.

``every=True`` answers one value set per picked scene covering the point (a time series),
latest first; otherwise the first scene, latest first, that has data there (the mosaic's pixel).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import rasterio
import shapely
from rio_tiler.errors import PointOutsideBounds

from layers.imagery.expression import parse_band_math
from layers.imagery.readers import GDAL_ENV, open_reader
from layers.imagery.remote import remote_reads
from layers.imagery.scenes import Scene
from layers.imagery.selection import select_scenes
from layers.imagery.store import ImagerySource
from layers.imagery.tiles import check_bands
from spatial.errors import InvalidInput, NotFound


@dataclass
class PointValues:
    """What one scene holds at the point: a value per band or expression output (None: no data)."""

    scene: Scene
    values: dict[str, float | None]

    def as_json(self) -> dict[str, Any]:
        acquired = self.scene.acquired
        return {
            "scene": self.scene.scene_id,
            "acquired": acquired.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if acquired else None,
            "values": self.values,
        }


def point_values(
    source: ImagerySource,
    lon: float,
    lat: float,
    *,
    bands: str | None = None,
    expression: str | None = None,
    datetime: str | None = None,
    scene: str | None = None,
    every: bool = False,
) -> list[PointValues]:
    """Values at (lon, lat) in CRS84; NotFound when no picked scene covers the point."""
    lon, lat = check_lonlat(lon, lat)
    if bands and expression:
        raise InvalidInput("give bands or expression, not both")
    scenes = select_scenes(source.scenes, layer_id=source.layer_id, datetime=datetime, scene=scene)
    point = shapely.Point(lon, lat)
    covering = [s for s in scenes if s.footprint.covers(point)]
    if not covering:
        raise NotFound(f"no scene of layer {source.layer_id!r} covers the point {lon}, {lat}")
    found = []
    with rasterio.Env(**GDAL_ENV):
        for candidate in covering:
            values = scene_values(candidate, lon, lat, bands, expression)
            found.append(PointValues(candidate, values))
            if not every and any(v is not None for v in values.values()):
                return [found[-1]]
    return found if every else [found[0]]


@remote_reads
def scene_values(
    scene: Scene, lon: float, lat: float, bands: str | None, expression: str | None
) -> dict[str, float | None]:
    """The scene's values at the point, named by band (or expression output)."""
    reader = open_reader(scene.path)
    count = reader.dataset.count
    if expression:
        band_math = parse_band_math(expression, count)
        indexes, names = list(band_math.bands), list(band_math.blocks)
    else:
        indexes = _band_list(bands, count)
        described = [d or "" for d in reader.dataset.descriptions]
        names = [described[i - 1] or f"b{i}" for i in indexes]
    try:
        pixel = reader.point(lon, lat, indexes=indexes).array
    except PointOutsideBounds:
        return dict.fromkeys(names)
    values = band_math.evaluate(pixel[:, np.newaxis])[:, 0] if expression else pixel
    return {name: _plain(value) for name, value in zip(names, values, strict=True)}


def check_lonlat(lon: Any, lat: Any) -> tuple[float, float]:
    """Finite lon/lat within range; InvalidInput otherwise."""
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError):
        raise InvalidInput("lon and lat must be numbers (CRS84 degrees)") from None
    if not (math.isfinite(x) and math.isfinite(y) and -180 <= x <= 180 and -90 <= y <= 90):
        raise InvalidInput(f"lon {lon}, lat {lat} is not a point on Earth (lon −180..180, lat −90..90)")
    return x, y


def _band_list(bands: str | None, count: int) -> list[int]:
    if not bands:
        return list(range(1, count + 1))
    try:
        indexes = tuple(int(b) for b in bands.split(","))
    except ValueError:
        raise InvalidInput(f"bands={bands!r}: give band numbers such as 4,3") from None
    check_bands(indexes, count)
    return list(indexes)


def _plain(value: Any) -> float | None:
    if np.ma.is_masked(value):
        return None
    number = float(value)
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() else number
