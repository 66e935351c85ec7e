"""What a render may cost, decided from file metadata before a pixel is read.

Two numbers bound every picture made from imagery (tiles, maps) and every coverage subset:

- **output pixels** (``max_render_pixels``): width × height of a map; a tile is always 256².
- **source pixels** (``max_source_pixels``): how many values (pixels × bands) the reads touch
  in the files. A render is planned per scene (``plan_part``): only the part of the request that meets
  the scene is read, from the coarsest overview still at least as fine as the output pixels.
  A request far coarser than a scene's coarsest overview therefore reads that overview, and
  is refused (``BudgetExceeded``, 400, with the limit and how to ask less) only when even that
  is over the budget (a large scene stored without overviews).

Why: rio-tiler sizes its warped VRT at the dataset's resolution over the *whole* requested
box when zooming out, so a z=0 tile or a world map over a 1 km² scene warped a VRT of a million
pixels a side (17 s and 1.6 GB for the demo scene, 35 min for a 4096² world map). Reading only
the intersection, at the matching overview, makes the cost proportional to the scene pixels
actually shown, and makes it computable in advance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rasterio.crs import CRS
from rasterio.warp import transform_bounds

from spatial.config import Settings
from spatial.errors import BudgetExceeded

BBox = tuple[float, float, float, float]
DEFAULT_RENDER_PIXELS = 2048 * 2048
DEFAULT_SOURCE_PIXELS = 4096 * 4096


@dataclass(frozen=True)
class RenderBudget:
    """The per-request limits of imagery work (see the module docstring)."""

    max_render_pixels: int = DEFAULT_RENDER_PIXELS
    max_source_pixels: int = DEFAULT_SOURCE_PIXELS

    @classmethod
    def from_settings(cls, settings: Settings) -> RenderBudget:
        return cls(settings.max_render_pixels, settings.max_source_pixels)

    def check_output(self, width: int, height: int) -> None:
        """BudgetExceeded when a picture of ``width`` × ``height`` is over the output budget."""
        if width * height > self.max_render_pixels:
            side = math.isqrt(self.max_render_pixels)
            raise BudgetExceeded(
                f"a {width}×{height} image is {width * height:,} pixels, over the limit of "
                f"{self.max_render_pixels:,} (ONEMAP_MAX_RENDER_PIXELS): ask for a smaller width and "
                f"height, e.g. {side}×{side} or less"
            )

    def check_source(self, pixels: int, what: str = "this request") -> None:
        """BudgetExceeded when a read would touch more source pixels than allowed."""
        if pixels > self.max_source_pixels:
            raise BudgetExceeded(
                f"{what} would read {pixels:,} source values (pixels × bands), over the limit of "
                f"{self.max_source_pixels:,} (ONEMAP_MAX_SOURCE_PIXELS): ask for a smaller bbox, a "
                "coarser output (fewer pixels over the same box) or fewer bands"
            )


@dataclass(frozen=True)
class Part:
    """Where one scene falls in an output grid, and how it is read.

    ``bounds`` (in the output CRS) are snapped to the output pixels ``col``..``col+width``,
    ``row``..``row+height``; ``level`` is the overview to open (None: full resolution);
    ``source_pixels`` is the size of the read at that level; ``decimation`` how many of that
    level's pixels fall on one output pixel (about 1–2, unless the output is coarser than the
    coarsest overview).
    """

    bounds: BBox
    col: int
    row: int
    width: int
    height: int
    level: int | None
    source_pixels: int
    decimation: float

    def covers(self, width: int, height: int) -> bool:
        return self.col == 0 and self.row == 0 and self.width == width and self.height == height


@dataclass(frozen=True)
class SceneGrid:
    """What planning needs to know of a file: its CRS, bounds, resolution, overview factors."""

    crs: CRS
    bounds: BBox
    res: tuple[float, float]
    factors: tuple[int, ...]


def plan_part(
    grid: SceneGrid, bounds: Sequence[float], crs: CRS, width: int, height: int
) -> Part | None:
    """The part of an output grid (``bounds`` in ``crs``, ``width`` × ``height``) one scene covers.

    None when the scene does not meet the box. The overview is the coarsest whose pixels are
    still no larger than the output's over that part (as GDAL would pick for a plain read).
    """
    west, south, east, north = (float(v) for v in bounds)
    scene = _to(grid.crs, crs, grid.bounds)
    left, bottom = max(west, scene[0]), max(south, scene[1])
    right, top = min(east, scene[2]), min(north, scene[3])
    if left >= right or bottom >= top:
        return None
    xres, yres = (east - west) / width, (north - south) / height
    col0 = max(0, math.floor((left - west) / xres + 1e-9))
    col1 = min(width, max(col0 + 1, math.ceil((right - west) / xres - 1e-9)))
    row0 = max(0, math.floor((north - top) / yres + 1e-9))
    row1 = min(height, max(row0 + 1, math.ceil((north - bottom) / yres - 1e-9)))
    part = (west + col0 * xres, north - row1 * yres, west + col1 * xres, north - row0 * yres)
    native = _to(crs, grid.crs, part)
    n_left, n_bottom = max(native[0], grid.bounds[0]), max(native[1], grid.bounds[1])
    n_right, n_top = min(native[2], grid.bounds[2]), min(native[3], grid.bounds[3])
    cols = max(1.0, (n_right - n_left) / grid.res[0])
    rows = max(1.0, (n_top - n_bottom) / grid.res[1])
    # native pixels per output pixel over the part (the finer axis decides, as GDAL does)
    factor = min(cols / (col1 - col0), rows / (row1 - row0))
    level, step = None, 1
    for index, candidate in enumerate(grid.factors):
        if candidate <= factor * 1.001:
            level, step = index, candidate
    pixels = math.ceil(cols / step) * math.ceil(rows / step)
    return Part(part, col0, row0, col1 - col0, row1 - row0, level, pixels, factor / step)


def _to(source: CRS, target: CRS, bounds: Sequence[float]) -> BBox:
    if source == target:
        return (bounds[0], bounds[1], bounds[2], bounds[3])
    west, south, east, north = transform_bounds(source, target, *bounds, densify_pts=21)
    return (west, south, east, north)


def scene_grid(path: Path) -> SceneGrid:
    """The grid of a stored scene, from the reader kept open for this thread."""
    from layers.imagery.readers import open_reader

    dataset = open_reader(path).dataset
    return SceneGrid(
        dataset.crs, tuple(dataset.bounds), (abs(dataset.res[0]), abs(dataset.res[1])),
        tuple(dataset.overviews(1)),
    )  # fmt: skip
