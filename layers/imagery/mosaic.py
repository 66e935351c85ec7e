"""Reading a tile from several scenes: the latest scene per area, older ones filling its gaps.

Scenes come latest first; those whose lon/lat footprint misses the tile are skipped before any
file is opened. One scene is read directly; several go through rio-tiler's ``mosaic_reader``
with ``FirstMethod`` (each pixel from the first scene that has data there), one scene at a
time so reading stops as soon as the tile is full.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import morecantile
import shapely
from morecantile import Tile
from rio_tiler.errors import EmptyMosaicError, TileOutsideBounds
from rio_tiler.models import ImageData
from rio_tiler.mosaic import mosaic_reader
from rio_tiler.mosaic.methods.defaults import FirstMethod

from layers.imagery.readers import open_reader
from layers.imagery.scenes import Scene

WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")


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


def read_tile(
    paths: Sequence[Path], tile: Tile, *, tilesize: int, **options: Any
) -> ImageData | None:
    """The tile's pixels from ``paths`` (latest first), or None where none of them has any."""
    if len(paths) == 1:
        try:  # Reader.tile checks the bounds itself (TileOutsideBounds)
            return open_reader(paths[0], tile.z).tile(tile.x, tile.y, tile.z, tilesize=tilesize, **options)
        except TileOutsideBounds:
            return None
    try:
        image, _ = mosaic_reader(
            list(paths), _scene_tile, tile.x, tile.y, tile.z, tilesize=tilesize,
            pixel_selection=FirstMethod(), threads=0, chunk_size=1, **options,
        )  # fmt: skip
    except EmptyMosaicError:
        return None
    return image


def _scene_tile(path: Path, x: int, y: int, z: int, **options: Any) -> ImageData:
    """One scene's part of a mosaic tile (TileOutsideBounds when it has none)."""
    return open_reader(path, z).tile(x, y, z, **options)
