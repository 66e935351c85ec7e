"""Map images of an imagery layer for a lon/lat box (OGC API Maps): the tile styling, any size.

The picked scenes are mosaicked latest first, as for tiles, with rio-tiler's ``Reader.part``
reading each scene into the box's grid (EPSG:4326, ``width`` × ``height``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import rasterio
import shapely
from rasterio.crs import CRS
from rio_tiler.errors import EmptyMosaicError, TileOutsideBounds
from rio_tiler.models import ImageData
from rio_tiler.mosaic import mosaic_reader
from rio_tiler.mosaic.methods.defaults import FirstMethod

from layers.imagery.readers import GDAL_ENV, open_reader
from layers.imagery.selection import select_scenes
from layers.imagery.store import ImagerySource
from layers.imagery.tiles import TileStyle, default_rescale, encode, per_band, read_options
from spatial.errors import InvalidInput

MAX_SIDE = 4096
LONLAT = CRS.from_epsg(4326)


def render_map(
    source: ImagerySource,
    bbox: Sequence[float],
    width: int,
    height: int,
    style: TileStyle,
    *,
    datetime: str | None = None,
    scene: str | None = None,
) -> bytes | None:
    """The layer inside ``bbox`` (lon/lat) as an image; None where no picked scene has pixels."""
    box = _check(bbox, width, height)
    scenes = select_scenes(source.scenes, layer_id=source.layer_id, datetime=datetime, scene=scene)
    area = shapely.box(*box)
    paths = [s.path for s in scenes if s.footprint.intersects(area)]
    if not paths:
        return None
    with rasterio.Env(**GDAL_ENV):
        first = open_reader(scenes[0].path)
        options = read_options(first, style)
        try:
            image, _ = mosaic_reader(
                paths, _part, box, width=width, height=height, threads=0, chunk_size=1,
                pixel_selection=FirstMethod(), **options,
            )  # fmt: skip
        except EmptyMosaicError:
            return None
        ranges = style.rescale or default_rescale(scenes[0].path, first, style)
        if ranges:
            image = image.rescale(in_range=per_band(ranges, image.count))
        return encode(image, style)


def _part(path: Path, box: tuple[float, float, float, float], **options: Any) -> ImageData:
    """One scene's pixels in the box (TileOutsideBounds when it has none)."""
    reader = open_reader(path)
    west, south, east, north = reader.get_geographic_bounds(LONLAT)
    if box[0] >= east or box[2] <= west or box[1] >= north or box[3] <= south:
        raise TileOutsideBounds(f"{path.name} is outside the map")
    return reader.part(box, dst_crs=LONLAT, bounds_crs=LONLAT, **options)


def _check(bbox: Sequence[float], width: int, height: int) -> tuple[float, float, float, float]:
    if len(bbox) != 4 or not all(math.isfinite(float(v)) for v in bbox):
        raise InvalidInput("bbox needs four numbers: minlon,minlat,maxlon,maxlat")
    west, south, east, north = (float(v) for v in bbox)
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise InvalidInput(f"bbox {list(bbox)} is not a lon/lat box with its minimum first")
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise InvalidInput(f"width and height must lie between 1 and {MAX_SIDE} pixels")
    return (west, south, east, north)
