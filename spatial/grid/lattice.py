"""The square lattice unit cells are cut from: a metric CRS (the city's UTM zone), a north-west
origin on whole multiples of the cell size, and row/column arithmetic for any point.

Rows count from the north, columns from the west, so sorting by (row, column) numbers cells
west → east, then north → south, as the unit-grid coding rule asks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pyproj import CRS, Transformer

from spatial.errors import InvalidInput


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS84 UTM zone holding (lon, lat).

    >>> utm_epsg(108.94, 34.26)  # Xi'an
    32649
    >>> utm_epsg(-73.97, 40.78)  # New York
    32618
    """
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return (32600 if lat >= 0 else 32700) + zone


@lru_cache(maxsize=16)
def to_metric(epsg: int) -> Transformer:
    """lon/lat → the metric CRS (x east, y north)."""
    return Transformer.from_crs(CRS.from_epsg(4326), CRS.from_epsg(epsg), always_xy=True)


@lru_cache(maxsize=16)
def to_lonlat(epsg: int) -> Transformer:
    """The metric CRS → lon/lat."""
    return Transformer.from_crs(CRS.from_epsg(epsg), CRS.from_epsg(4326), always_xy=True)


@dataclass(frozen=True)
class Lattice:
    """Squares of ``size`` metres in ``epsg``, row 0 / column 0 touching (origin_x, origin_y)."""

    epsg: int
    origin_x: float
    origin_y: float
    size: float

    @classmethod
    def covering(cls, bounds: tuple[float, float, float, float], size: float) -> Lattice:
        """The lattice whose origin lies north-west of the lon/lat ``bounds``."""
        if not (size > 0 and math.isfinite(size)):
            raise InvalidInput(f"the cell size must be a positive number of metres, not {size}")
        minx, miny, maxx, maxy = bounds
        epsg = utm_epsg((minx + maxx) / 2, (miny + maxy) / 2)
        x, y = project_box(epsg, bounds)
        return cls(epsg, math.floor(x[0] / size) * size, math.ceil(y[1] / size) * size, size)

    def span(self, bounds: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
        """Rows and columns (first, last) of the squares a lon/lat box touches."""
        x, y = project_box(self.epsg, bounds)
        col0, col1 = self.col_of(np.array(x))
        row0, row1 = self.row_of(np.array(y[::-1]))
        return int(row0), int(row1), int(col0), int(col1)

    def col_of(self, x: np.ndarray) -> np.ndarray:
        return np.floor((x - self.origin_x) / self.size).astype(np.int64)

    def row_of(self, y: np.ndarray) -> np.ndarray:
        return np.floor((self.origin_y - y) / self.size).astype(np.int64)

    def corners(self, row0: int, row1: int, col0: int, col1: int) -> tuple[np.ndarray, np.ndarray]:
        """lon and lat of the square corners of rows row0..row1 and columns col0..col1.

        Arrays of shape (rows + 1, cols + 1): neighbouring squares share corner coordinates
        exactly, so the cells cut from them meet without gaps or overlaps.
        """
        xs = self.origin_x + self.size * np.arange(col0, col1 + 2)
        ys = self.origin_y - self.size * np.arange(row0, row1 + 2)
        gx, gy = np.meshgrid(xs, ys)
        lon, lat = to_lonlat(self.epsg).transform(gx, gy)
        return np.asarray(lon), np.asarray(lat)


def project_box(epsg: int, bounds: tuple[float, float, float, float]) -> tuple[list[float], list[float]]:
    """The metric bounds ([minx, maxx], [miny, maxy]) of a lon/lat box, edges densified."""
    minx, miny, maxx, maxy = bounds
    t = np.linspace(0.0, 1.0, 21)
    lons = np.concatenate([minx + (maxx - minx) * t, np.full(21, maxx), maxx - (maxx - minx) * t, np.full(21, minx)])
    lats = np.concatenate([np.full(21, miny), miny + (maxy - miny) * t, np.full(21, maxy), maxy - (maxy - miny) * t])
    x, y = to_metric(epsg).transform(lons, lats)
    return [float(np.min(x)), float(np.max(x))], [float(np.min(y)), float(np.max(y))]
