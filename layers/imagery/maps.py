"""Map images of an imagery layer for a lon/lat box (OGC API Maps): the tile styling, any size.

The picked scenes are mosaicked latest first, as for tiles (``layers.imagery.mosaic``): each
scene is read only where it meets the box, from the overview that suits the output pixels,
straight into the box's grid (EPSG:4326, ``width`` × ``height``). ``width × height`` and the
source pixels the reads touch are checked against the budget before anything is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import rasterio
import shapely
from rasterio.crs import CRS

from layers.imagery.budget import RenderBudget
from layers.imagery.mosaic import read_grid
from layers.imagery.readers import GDAL_ENV, open_reader
from layers.imagery.remote import remote_reads
from layers.imagery.selection import select_scenes
from layers.imagery.store import ImagerySource
from layers.imagery.tiles import TileStyle, default_rescale, encode, per_band, read_options
from spatial.errors import InvalidInput
from spatial.params import parse_lonlat_bbox

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
    budget: RenderBudget | None = None,
) -> bytes | None:
    """The layer inside ``bbox`` (lon/lat) as an image; None where no picked scene has pixels."""
    paths = map_paths(source, bbox, width, height, style, datetime=datetime, scene=scene,
                      budget=budget)  # fmt: skip
    return draw_map(paths, bbox, width, height, style, budget) if paths else None


@remote_reads
def map_paths(
    source: ImagerySource,
    bbox: Sequence[float],
    width: int,
    height: int,
    style: TileStyle,
    *,
    datetime: str | None = None,
    scene: str | None = None,
    budget: RenderBudget | None = None,
) -> list[Path]:
    """The files a map is drawn from, latest first, after the checks that need no pixels.

    InvalidInput for a malformed box or size, BudgetExceeded for an image over the output budget.
    """
    box = _check(bbox, width, height)
    (budget or RenderBudget()).check_output(width, height)
    scenes = select_scenes(source.scenes, layer_id=source.layer_id, datetime=datetime, scene=scene)
    area = shapely.box(*box)
    with rasterio.Env(**GDAL_ENV):
        read_options(open_reader(scenes[0].path), style)
    return [s.path for s in scenes if s.footprint.intersects(area)]


@remote_reads
def draw_map(
    paths: list[Path],
    bbox: Sequence[float],
    width: int,
    height: int,
    style: TileStyle,
    budget: RenderBudget | None = None,
) -> bytes | None:
    """The encoded map from the scenes at ``paths`` (latest first); None where they have no pixels."""
    box = _check(bbox, width, height)
    budget = budget or RenderBudget()
    budget.check_output(width, height)
    with rasterio.Env(**GDAL_ENV):
        first = open_reader(paths[0])
        options = read_options(first, style)
        image = read_grid(paths, box, LONLAT, width, height, budget, **options)
        if image is None:
            return None
        ranges = style.rescale or default_rescale(paths[0], first, style)
        if ranges:
            image = image.rescale(in_range=per_band(ranges, image.count))
        return encode(image, style)


def _check(bbox: Sequence[float], width: int, height: int) -> tuple[float, float, float, float]:
    box = parse_lonlat_bbox(list(bbox))
    if box.is_empty:
        raise InvalidInput(f"bbox {box.as_list()} is empty: give minlon,minlat,maxlon,maxlat")
    west, south, east, north = box.as_tuple()
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise InvalidInput(f"width and height must lie between 1 and {MAX_SIDE} pixels")
    return (west, south, east, north)
