"""LoD1 buildings as prisms in a local metric frame, and the ray tests every analysis shares.

A building is its footprint extruded from flat ground (z = 0) to its height. A ray from a point
is blocked by a building exactly when it crosses one of the building's walls below the roof:
for a straight ray the height is monotone along its length, so checking each wall crossing is
the whole test (prisms are vertical). Wall crossings are solved for all rays × all nearby walls
at once in numpy (2D ray–segment intersection); a shapely ``STRtree`` narrows walls to those of
buildings near the point.

Coordinates: a transverse Mercator centred on the analysis (metres, y to true north up to a
negligible convergence), built by ``LocalFrame``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer

EPS = 1e-6
CHUNK_PAIRS = 500_000
"""Rays × walls solved in one numpy step (memory: a few arrays of this many floats)."""


@dataclass(frozen=True)
class LocalFrame:
    """A transverse Mercator centred at ``lon0``, ``lat0``: metres east (x) and north (y)."""

    lon0: float
    lat0: float
    _to: Transformer = field(init=False, repr=False, compare=False)
    _back: Transformer = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        proj = f"+proj=tmerc +lat_0={self.lat0} +lon_0={self.lon0} +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m"
        object.__setattr__(self, "_to", Transformer.from_crs("EPSG:4326", proj, always_xy=True))
        object.__setattr__(self, "_back", Transformer.from_crs(proj, "EPSG:4326", always_xy=True))

    def forward(self, lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
        """lon/lat (scalars or arrays) → local x, y as arrays of at least one value."""
        return _transform(self._to, lon, lat)

    def back(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Local x, y → lon/lat as arrays of at least one value."""
        return _transform(self._back, x, y)

    def to_local(self, geometries: np.ndarray) -> np.ndarray:
        """Shapely lon/lat geometries → local metres."""
        return shapely.transform(geometries, lambda xy: np.column_stack(self.forward(xy[:, 0], xy[:, 1])))

    def to_lonlat(self, geometries: np.ndarray) -> np.ndarray:
        """Shapely local geometries → lon/lat."""
        return shapely.transform(geometries, lambda xy: np.column_stack(self.back(xy[:, 0], xy[:, 1])))


def _transform(transformer: Transformer, a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    first, second = np.atleast_1d(np.asarray(a, dtype=float)), np.atleast_1d(np.asarray(b, dtype=float))
    count = first.size
    if count == 1:  # pyproj reads a one-value array as a scalar (deprecated by numpy): give it two
        first, second = np.repeat(first, 2), np.repeat(second, 2)
    out_a, out_b = transformer.transform(first, second)
    return np.asarray(out_a)[:count], np.asarray(out_b)[:count]


@dataclass(frozen=True)
class Prisms:
    """Buildings (ids, heights in metres, local footprints) with their walls as segments."""

    ids: list[Any]
    heights: np.ndarray
    footprints: np.ndarray
    wall_start: np.ndarray  # (E, 2)
    wall_end: np.ndarray  # (E, 2)
    wall_owner: np.ndarray  # (E,) index into ids
    tree: shapely.STRtree

    @classmethod
    def build(cls, ids: Sequence[Any], heights: Sequence[float], footprints: Sequence[Any]) -> Prisms:
        """Prisms from local footprints (Polygon or MultiPolygon) and heights."""
        shapes = np.asarray(list(footprints), dtype=object) if len(footprints) else np.empty(0, dtype=object)
        rings, owners = _rings(shapes)
        starts, ends, wall_owner = [], [], []
        for ring, owner in zip(rings, owners, strict=True):
            xy = shapely.get_coordinates(ring)
            starts.append(xy[:-1])
            ends.append(xy[1:])
            wall_owner.append(np.full(len(xy) - 1, owner, dtype=np.int64))
        empty = np.empty((0, 2))
        return cls(
            ids=list(ids), heights=np.asarray(heights, dtype=float), footprints=shapes,
            wall_start=np.concatenate(starts) if starts else empty, wall_end=np.concatenate(ends) if ends else empty,
            wall_owner=np.concatenate(wall_owner) if wall_owner else np.empty(0, dtype=np.int64),
            tree=shapely.STRtree(shapes),
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.ids)

    def near(self, x: float, y: float, reach: float, above: float = -np.inf) -> np.ndarray:
        """Indices of walls of buildings within ``reach`` of (x, y) and taller than ``above``."""
        if not len(self):
            return np.empty(0, dtype=np.int64)
        found = self.tree.query(shapely.Point(x, y).buffer(reach, quad_segs=4))
        found = found[self.heights[found] > above]
        wanted = np.zeros(len(self), dtype=bool)
        wanted[found] = True
        return np.flatnonzero(wanted[self.wall_owner])


def _rings(shapes: np.ndarray) -> tuple[list[Any], list[int]]:
    rings: list[Any] = []
    owners: list[int] = []
    for index, shape in enumerate(shapes):
        for polygon in getattr(shape, "geoms", [shape]):
            if polygon.is_empty:
                continue
            for ring in (polygon.exterior, *polygon.interiors):
                rings.append(ring)
                owners.append(index)
    return rings, owners


def crossings(
    prisms: Prisms, walls: np.ndarray, origin: tuple[float, float], vectors: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Where rays origin + s·vector (s > 0) cross the given walls: (s, valid) of shape (rays, walls)."""
    a = prisms.wall_start[walls] - np.asarray(origin)  # (M, 2)
    e = prisms.wall_end[walls] - prisms.wall_start[walls]
    dx, dy = vectors[:, :1], vectors[:, 1:2]  # (K, 1)
    denom = dx * e[:, 1] - dy * e[:, 0]  # (K, M)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (a[:, 0] * e[:, 1] - a[:, 1] * e[:, 0]) / denom
        u = (a[:, 0] * dy - a[:, 1] * dx) / denom
    valid = (np.abs(denom) > 1e-12) & (u >= 0) & (u <= 1) & (s > EPS)
    return np.where(valid, s, 0.0), valid  # no NaN or infinity left where the ray misses


def blocked_rays(
    prisms: Prisms, origin: tuple[float, float], z: float, directions: np.ndarray, rise: np.ndarray, reach: float
) -> np.ndarray:
    """For unit horizontal ``directions`` (K, 2) whose height grows by ``rise`` (tan elevation) per
    metre: True where a building within ``reach`` stands above the ray where the ray crosses it."""
    blocked = np.zeros(len(directions), dtype=bool)
    walls = prisms.near(origin[0], origin[1], reach, above=z)
    if not len(walls) or not len(directions):
        return blocked
    roofs = prisms.heights[prisms.wall_owner[walls]]
    step = max(1, CHUNK_PAIRS // len(walls))
    for first in range(0, len(directions), step):
        rows = slice(first, first + step)
        s, valid = crossings(prisms, walls, origin, directions[rows])
        under = valid & (s <= reach) & (z + s * rise[rows, None] < roofs)
        blocked[rows] = under.any(axis=1)
    return blocked


@dataclass(frozen=True)
class Obstruction:
    """A wall crossing below a roof on a sight line: the building, where, and by how much."""

    building: int
    fraction: float  # 0 … 1 along the line
    x: float
    y: float
    line_z: float
    roof_z: float


def segment_obstructions(
    prisms: Prisms, start: tuple[float, float, float], end: tuple[float, float, float]
) -> list[Obstruction]:
    """Every wall the 3D segment start → end crosses below its roof, nearest first."""
    vector = np.array([[end[0] - start[0], end[1] - start[1]]])
    length = float(np.hypot(*vector[0]))
    if length == 0:
        return []
    walls = prisms.near((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, length / 2 + 1.0,
                        above=min(start[2], end[2]))  # fmt: skip
    if not len(walls):
        return []
    s, valid = crossings(prisms, walls, (start[0], start[1]), vector)
    s, valid = s[0], valid[0] & (s[0] < 1 - EPS / length)
    line_z = start[2] + s * (end[2] - start[2])
    roofs = prisms.heights[prisms.wall_owner[walls]]
    hits = np.flatnonzero(valid & (line_z < roofs))
    found = [
        Obstruction(int(prisms.wall_owner[walls[i]]), float(s[i]), start[0] + float(s[i]) * vector[0, 0],
                    start[1] + float(s[i]) * vector[0, 1], float(line_z[i]), float(roofs[i]))
        for i in hits
    ]  # fmt: skip
    return sorted(found, key=lambda o: o.fraction)


def hidden_targets(
    prisms: Prisms, observer: tuple[float, float, float], targets: np.ndarray, target_z: np.ndarray
) -> np.ndarray:
    """True for each target (N, 2) at height ``target_z`` (N,) that the observer cannot see."""
    hidden = np.zeros(len(targets), dtype=bool)
    if not len(targets):
        return hidden
    reach = float(np.hypot(*(targets - np.asarray(observer[:2])).T).max()) + 1.0
    walls = prisms.near(observer[0], observer[1], reach, above=-np.inf)
    if not len(walls):
        return hidden
    roofs = prisms.heights[prisms.wall_owner[walls]]
    step = max(1, CHUNK_PAIRS // len(walls))
    for first in range(0, len(targets), step):
        rows = slice(first, first + step)
        vectors = targets[rows] - np.asarray(observer[:2])
        s, valid = crossings(prisms, walls, (observer[0], observer[1]), vectors)
        line_z = observer[2] + s * (target_z[rows, None] - observer[2])
        hidden[rows] = (valid & (s < 1 - 1e-9) & (line_z < roofs)).any(axis=1)
    return hidden
