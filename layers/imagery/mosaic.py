"""Reading an output grid (a tile, a map) from several scenes: the latest scene per area first.

Scenes come latest first; those whose lon/lat footprint misses a tile are skipped before any
file is opened. Every scene is planned before any pixel is read (``layers.imagery.budget``):
the part of the grid it covers, the overview to read, and how many source pixels that costs;
the sum is checked against the request's budget. Then each scene fills the pixels the scenes
before it left empty (rio-tiler's ``FirstMethod``), and reading stops once the grid is full.

A scene is read in one of two ways:

- a tile at a zoom the scene's overviews serve (decimation ≤ 2): rio-tiler's ``Reader.tile``
  on the overview that suits the zoom, exactly as TiTiler does;
- anything coarser (a z=0 tile, a map of a whole country over a city scene): only the part of
  the grid the scene covers, warped straight onto the output pixels from the coarsest
  overview (a WarpedVRT at the output's own resolution), so the warp costs the scene's
  overview pixels, not a VRT of the whole box at the scene's resolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import morecantile
import numpy as np
import shapely
from morecantile import Tile
from rasterio.crs import CRS
from rasterio.transform import from_bounds
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.models import ImageData

from layers.imagery.budget import Part, RenderBudget, plan_part, scene_grid
from layers.imagery.readers import open_level, open_reader
from layers.imagery.scenes import Scene

WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")
DIRECT_DECIMATION = 2.0  # up to this many level pixels per output pixel, rio-tiler reads as usual


def scenes_for_tile(scenes: Sequence[Scene], tile: Tile) -> list[Scene]:
    """The scenes whose footprint meets the tile, in the given (latest-first) order."""
    west, south, east, north = WEB_MERCATOR.bounds(tile)
    area = shapely.box(west, south, east, north)
    found = []
    for scene in scenes:
        left, bottom, right, top = scene.bbox
        if left > east or right < west or bottom > north or top < south:
            continue
        if scene.footprint.intersects(area):
            found.append(scene)
    return found


def plan(
    paths: Sequence[Path],
    bounds: Sequence[float],
    crs: CRS,
    width: int,
    height: int,
    budget: RenderBudget,
    bands: int,
) -> list[tuple[Path, Part]]:
    """Each scene's part of the grid, checked against the budget before anything is read."""
    parts = [(path, plan_part(scene_grid(path), bounds, crs, width, height)) for path in paths]
    found = [(path, part) for path, part in parts if part is not None]
    budget.check_source(sum(part.source_pixels for _, part in found) * max(1, bands))
    return found


def read_tile(
    paths: Sequence[Path], tile: Tile, *, tilesize: int, budget: RenderBudget | None = None,
    **options: Any,
) -> ImageData | None:  # fmt: skip
    """The tile's pixels from ``paths`` (latest first), or None where none of them has any."""
    bounds = WEB_MERCATOR.xy_bounds(tile)
    return read_grid(
        paths, bounds, WEB_MERCATOR.rasterio_crs, tilesize, tilesize, budget or RenderBudget(),
        tile=tile, **options,
    )  # fmt: skip


def read_grid(
    paths: Sequence[Path],
    bounds: Sequence[float],
    crs: CRS,
    width: int,
    height: int,
    budget: RenderBudget,
    *,
    tile: Tile | None = None,
    **options: Any,
) -> ImageData | None:
    """The grid's pixels from ``paths`` (latest first), or None where none of them has any."""
    bands = len(options.get("indexes") or ()) or _expression_bands(options.get("expression"))
    parts = plan(paths, bounds, crs, width, height, budget, bands)
    mosaic: np.ma.MaskedArray | None = None
    names: list[str] | None = None
    for path, part in parts:
        image = _read(path, part, crs, width, height, tile, options)
        if image is None:
            continue
        if tile is not None and len(parts) == 1 and part.decimation <= DIRECT_DECIMATION:
            return image  # one scene read by rio-tiler as a whole tile: nothing to paste
        names = names or image.band_names
        mosaic = _paste(mosaic, image, part, width, height, whole=image.width == width)
        if not np.ma.getmaskarray(mosaic).any():
            break
    if mosaic is None or np.ma.getmaskarray(mosaic).all():
        return None
    return ImageData(mosaic, bounds=tuple(bounds), crs=crs, band_names=names)


def _read(
    path: Path, part: Part, crs: CRS, width: int, height: int, tile: Tile | None,
    options: dict[str, Any],
) -> ImageData | None:  # fmt: skip
    try:
        if tile is not None and part.decimation <= DIRECT_DECIMATION:
            return open_reader(path, tile.z).tile(tile.x, tile.y, tile.z, tilesize=width, **options)
        transform = from_bounds(*part.bounds, part.width, part.height)
        vrt = {"transform": transform, "width": part.width, "height": part.height}
        return open_level(path, part.level).part(
            part.bounds, dst_crs=crs, bounds_crs=crs, width=part.width, height=part.height,
            vrt_options=vrt, **options,
        )  # fmt: skip
    except TileOutsideBounds:
        return None


def _paste(
    mosaic: np.ma.MaskedArray | None, image: ImageData, part: Part, width: int, height: int,
    *, whole: bool,
) -> np.ma.MaskedArray:  # fmt: skip
    """Fill the still-empty pixels of ``mosaic`` from ``image`` (a whole grid, or ``part`` of it)."""
    data = image.array
    if mosaic is None:
        mosaic = np.ma.masked_all((data.shape[0], height, width), dtype=data.dtype)
    rows = slice(0, height) if whole else slice(part.row, part.row + part.height)
    cols = slice(0, width) if whole else slice(part.col, part.col + part.width)
    target = mosaic[:, rows, cols]
    empty = np.ma.getmaskarray(target)
    mosaic[:, rows, cols] = np.ma.where(empty, data, target)
    return mosaic


def _expression_bands(expression: str | None) -> int:
    if not expression:
        return 1
    from layers.imagery.expression import parse_band_math

    return len(parse_band_math(expression).bands)
