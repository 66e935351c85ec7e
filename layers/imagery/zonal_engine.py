"""Statistics of raster values per polygon, for thousands of polygons at once (numpy, no database).

The polygons (in the raster's CRS) are cut into chunks of neighbours; each chunk's window is
read once, its polygons are burnt into a label image with one ``rasterio.features.rasterize``
call, and every statistic is computed for all labels together: counts, sums and spreads with
``np.bincount``, extremes with ``np.minimum.at``/``np.maximum.at``, percentiles from one
sort by (label, value). Polygons that claim the same pixel are burnt in separate passes
(greedy colouring of their neighbour graph from a shapely STRtree), so each sees all of its pixels.

A pixel belongs to a polygon when its centre lies inside it (GDAL's rule, as in
``rasterio.features.geometry_mask``), or whenever it is touched with ``all_touched``.
This is written here rather than taken from rasterstats because rasterstats (and
``rasterio.mask``) rasterise and read once per polygon, which is the slow path measured in
``benchmarks/workloads/imagery_zonal.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine
from rasterio.enums import MergeAlg
from rasterio.features import rasterize
from rasterio.windows import Window

from spatial.errors import PayloadTooLarge

CHUNK_BLOCK = 2048  # pixels: polygons whose windows start in the same block share a read
CHUNK_PIXELS = 4096 * 4096  # a polygon at least this big is read on its own
MAX_ZONE_PIXELS = 400_000_000  # one polygon's window beyond this is refused
BASE_STATISTICS = ("count", "nodata", "mean", "min", "max", "std")

Reader = Callable[[Window], np.ma.MaskedArray]
"""Returns (layers, rows, cols) values for a window: layer 0 is measured, the others averaged."""


@dataclass
class ZoneWindows:
    """Each polygon's pixel window (rows r0:r1, columns c0:c1), clipped to the raster."""

    r0: np.ndarray
    c0: np.ndarray
    r1: np.ndarray
    c1: np.ndarray

    @property
    def pixels(self) -> np.ndarray:
        return np.maximum(self.r1 - self.r0, 0) * np.maximum(self.c1 - self.c0, 0)


def statistic_names(percentiles: Sequence[float], extra_means: Sequence[str] = ()) -> list[str]:
    """Column names of a result: count, nodata, mean, min, max, std, p<q>…, mean_<extra>…"""
    return [*BASE_STATISTICS, *(percentile_name(q) for q in percentiles),
            *(f"mean_{name}" for name in extra_means)]  # fmt: skip


def percentile_name(q: float) -> str:
    """'p50' for 50, 'p2_5' for 2.5."""
    return "p" + (f"{q:g}".replace(".", "_"))


def zone_statistics(
    geometries: np.ndarray,
    transform: Affine,
    shape: tuple[int, int],
    read: Reader,
    *,
    percentiles: Sequence[float] = (),
    all_touched: bool = False,
    extra_means: Sequence[str] = (),
) -> dict[str, np.ndarray]:
    """Statistics of the values ``read`` gives under each polygon; NaN where a polygon has none."""
    names = statistic_names(percentiles, extra_means)
    result = {name: np.full(len(geometries), np.nan) for name in names}
    result["count"][:] = 0
    result["nodata"][:] = 0
    windows = zone_windows(geometries, transform, shape, all_touched)
    too_big = np.flatnonzero(windows.pixels > MAX_ZONE_PIXELS)
    if too_big.size:
        raise PayloadTooLarge(
            f"polygon {int(too_big[0]) + 1} covers {int(windows.pixels[too_big[0]]):,} pixels, over "
            f"the limit of {MAX_ZONE_PIXELS:,}: split it or use a coarser scene"
        )
    for chunk in chunks(windows):
        _chunk_statistics(geometries, windows, chunk, transform, read, result,
                          percentiles, all_touched, extra_means)  # fmt: skip
    return result


def zone_windows(
    geometries: np.ndarray, transform: Affine, shape: tuple[int, int], all_touched: bool
) -> ZoneWindows:
    """Pixel windows of the polygons' bounds (one pixel wider with ``all_touched``)."""
    bounds = shapely.bounds(geometries)
    inverse = ~transform
    cols_a, rows_a = inverse * (bounds[:, 0], bounds[:, 3])
    cols_b, rows_b = inverse * (bounds[:, 2], bounds[:, 1])
    pad = 1 if all_touched else 0
    height, width = shape
    r0 = np.clip(np.floor(np.minimum(rows_a, rows_b)) - pad, 0, height).astype(np.int64)
    r1 = np.clip(np.ceil(np.maximum(rows_a, rows_b)) + pad, 0, height).astype(np.int64)
    c0 = np.clip(np.floor(np.minimum(cols_a, cols_b)) - pad, 0, width).astype(np.int64)
    c1 = np.clip(np.ceil(np.maximum(cols_a, cols_b)) + pad, 0, width).astype(np.int64)
    empty = (r1 <= r0) | (c1 <= c0) | shapely.is_empty(geometries)
    r1[empty], c1[empty] = r0[empty], c0[empty]
    return ZoneWindows(r0, c0, r1, c1)


def chunks(windows: ZoneWindows) -> list[np.ndarray]:
    """Groups of polygon indexes read together: neighbours by block; big polygons alone."""
    pixels = windows.pixels
    present = np.flatnonzero(pixels > 0)
    alone = present[pixels[present] >= CHUNK_PIXELS]
    shared = present[pixels[present] < CHUNK_PIXELS]
    key = (windows.r0[shared] // CHUNK_BLOCK) * 1_000_003 + windows.c0[shared] // CHUNK_BLOCK
    order = np.argsort(key, kind="stable")
    shared, key = shared[order], key[order]
    groups = np.split(shared, np.flatnonzero(np.diff(key)) + 1) if shared.size else []
    return [*groups, *(np.array([i]) for i in alone)]


def _chunk_statistics(
    geometries: np.ndarray,
    windows: ZoneWindows,
    chunk: np.ndarray,
    transform: Affine,
    read: Reader,
    result: dict[str, np.ndarray],
    percentiles: Sequence[float],
    all_touched: bool,
    extra_means: Sequence[str],
) -> None:
    """Read the chunk's window once and fill ``result`` for its polygons."""
    chunk = np.asarray(chunk)
    row0, col0 = int(windows.r0[chunk].min()), int(windows.c0[chunk].min())
    row1, col1 = int(windows.r1[chunk].max()), int(windows.c1[chunk].max())
    window = Window(col0, row0, col1 - col0, row1 - row0)
    data = read(window)
    valid = ~np.ma.getmaskarray(data).any(axis=0)
    values = np.ma.getdata(data)
    window_transform = transform * Affine.translation(col0, row0)
    shapes = geojson_shapes(geometries[chunk])
    out_shape = (row1 - row0, col1 - col0)
    pixel = math.hypot(transform.a, transform.e)
    for group in burn_groups(shapes, geometries[chunk], out_shape, window_transform, all_touched, pixel):
        members = chunk[group]
        labels = rasterize(
            ((shapes[i], n) for n, i in enumerate(group.tolist(), start=1)),
            out_shape=out_shape, transform=window_transform, fill=0,
            all_touched=all_touched, dtype="int32",
        )  # fmt: skip
        inside = labels > 0
        counted = inside & valid
        label = labels[counted] - 1
        measured = label_statistics(values[0][counted].astype("float64"), label, len(members), percentiles)
        for name, column in measured.items():
            result[name][members] = column
        result["nodata"][members] = np.bincount(labels[inside & ~valid] - 1, minlength=len(members))
        for offset, name in enumerate(extra_means, start=1):
            result[f"mean_{name}"][members] = _means(values[offset][counted], label, len(members))


def label_statistics(
    values: np.ndarray, labels: np.ndarray, count: int, percentiles: Sequence[float] = ()
) -> dict[str, np.ndarray]:
    """count, mean, min, max, std (population) and percentiles (numpy's linear method) per label.

    >>> out = label_statistics(np.array([1.0, 3.0, 10.0]), np.array([0, 0, 2]), 3, [50])
    >>> out["count"].tolist(), out["mean"].tolist()[0], out["p50"].tolist()[0]
    ([2.0, 0.0, 1.0], 2.0, 2.0)
    """
    counts = np.bincount(labels, minlength=count).astype("float64")
    present = counts > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(labels, weights=values, minlength=count) / counts
        deviation = values - mean[labels]
        std = np.sqrt(np.bincount(labels, weights=deviation * deviation, minlength=count) / counts)
    low, high = np.full(count, np.inf), np.full(count, -np.inf)
    np.minimum.at(low, labels, values)
    np.maximum.at(high, labels, values)
    out = {"count": counts, "mean": mean, "std": std,
           "min": np.where(present, low, np.nan), "max": np.where(present, high, np.nan)}  # fmt: skip
    if percentiles:
        out.update(_percentiles(values, labels, counts, percentiles))
    return out


def _percentiles(
    values: np.ndarray, labels: np.ndarray, counts: np.ndarray, percentiles: Sequence[float]
) -> dict[str, np.ndarray]:
    """Linear-interpolated percentiles of every label from one sort by (label, value)."""
    ordered = sorted_by_label(values, labels, counts)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    present = counts > 0
    last = np.maximum(counts.astype(np.int64) - 1, 0)
    out = {}
    for q in percentiles:
        position = (counts - 1) * (q / 100.0)
        below = np.floor(np.maximum(position, 0)).astype(np.int64)
        above = np.minimum(below + 1, last)
        fraction = position - below
        if ordered.size:
            first = ordered[np.where(present, starts + below, 0)]
            second = ordered[np.where(present, starts + above, 0)]
        else:
            first = second = np.zeros(len(counts))
        out[percentile_name(q)] = np.where(present, first + (second - first) * fraction, np.nan)
    return out


def sorted_by_label(values: np.ndarray, labels: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``values`` ordered by (label, value).

    One in-place float sort of ``label + scaled value`` (ten times faster than ``np.lexsort``),
    values recovered from the keys: exactly for whole numbers (every integer band), to about
    1e-10 of the value range for others.
    """
    if values.size == 0 or len(counts) > 2**24:
        return values[np.lexsort((values, labels))]
    low, high = float(values.min()), float(values.max())
    integral = bool(np.all(values == np.round(values))) and high - low < 2**26
    scale = (high - low + (1.0 if integral else 0.0)) * (1 + 2**-20) or 1.0
    keys = labels + (values - low) / scale
    keys.sort()
    label_of = np.repeat(np.arange(len(counts), dtype="float64"), counts.astype(np.int64))
    recovered = (keys - label_of) * scale + low
    return np.round(recovered) if integral else recovered


def _means(values: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    counts = np.bincount(labels, minlength=count)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.bincount(labels, weights=values.astype("float64"), minlength=count) / counts


def burn_groups(
    shapes: list[dict], geometries: np.ndarray, out_shape: tuple[int, int],
    transform: Affine, all_touched: bool, pixel: float,
) -> list[np.ndarray]:
    """Index groups of polygons that can share one label image without losing a pixel.

    One burn counts how many polygons claim each pixel; when none is claimed twice (a
    tessellation such as the unit grid), one group holds them all. Otherwise polygons near
    each other are coloured greedily so neighbours never share a group.
    """
    if len(shapes) < 2:
        return [np.arange(len(shapes))]
    claims = rasterize(
        ((shape, 1) for shape in shapes), out_shape=out_shape, transform=transform, fill=0,
        all_touched=all_touched, dtype="uint16", merge_alg=MergeAlg.add,
    )  # fmt: skip
    if int(claims.max()) <= 1:
        return [np.arange(len(shapes))]
    colour = _colours(geometries, pixel)
    return [np.flatnonzero(colour == c) for c in range(int(colour.max()) + 1)]


def _colours(geometries: np.ndarray, pixel: float) -> np.ndarray:
    """Greedy colouring: polygons whose bounds come within a pixel get different colours.

    Bounds only (no geometry predicate): cheap, and any two polygons claiming one pixel are
    certainly that close.
    """
    bounds = shapely.bounds(geometries)
    grown = shapely.box(bounds[:, 0] - pixel, bounds[:, 1] - pixel, bounds[:, 2] + pixel, bounds[:, 3] + pixel)
    left, right = shapely.STRtree(geometries).query(grown)
    keep = left < right
    colour = np.zeros(len(geometries), dtype=np.int64)
    neighbours: dict[int, list[int]] = {}
    for a, b in zip(left[keep].tolist(), right[keep].tolist(), strict=True):
        neighbours.setdefault(b, []).append(a)
    for node in sorted(neighbours):
        taken = {int(colour[other]) for other in neighbours[node]}
        colour[node] = next(c for c in range(len(taken) + 1) if c not in taken)
    return colour


def geojson_shapes(geometries: np.ndarray) -> list[dict]:
    """(Multi)polygons as GeoJSON-like dicts for rasterio, built from flat coordinate arrays.

    ``__geo_interface__`` per geometry costs ~100 µs; this costs a few µs per polygon.
    """
    parts, part_of = shapely.get_parts(geometries, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    coords, coord_of = shapely.get_coordinates(rings, return_index=True)
    ends = np.cumsum(np.bincount(coord_of, minlength=len(rings))).tolist()
    points = coords.tolist()
    polygons: list[list] = [[] for _ in range(len(parts))]
    for start, end, part in zip([0, *ends[:-1]], ends, ring_of.tolist(), strict=True):
        polygons[part].append(points[start:end])
    shapes: list[list] = [[] for _ in range(len(geometries))]
    for polygon, owner in zip(polygons, part_of.tolist(), strict=True):
        shapes[owner].append(polygon)
    return [{"type": "MultiPolygon", "coordinates": polygon_list} for polygon_list in shapes]
