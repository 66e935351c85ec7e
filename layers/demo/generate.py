"""Pure generation of the deterministic demo city: one GeoDataFrame per table, no database.

Everything is laid out in local metres on UTM zone 49N around Xi'an and converted to lon/lat
(SRID 4326) at the end. The plan, level by level:

1. a street grid of gently curving lines (arterials and secondary roads alternate) and an
   irregular outline that keeps the grid quads (blocks) inside it;
2. every block is cut in two by a cross road (支路 branch or 巷 lane): the sub-blocks;
3. blocks are grouped into districts → streets (街道) → communities (社区) by seeded region growing
   on the block adjacency graph, so divisions tile exactly and their borders follow roads;
4. each sub-block gets a land use and a lattice of buildings inside its road setbacks;
5. buildings are grouped into parcels facing a road; each parcel has a door plate (门牌) numbered
   odd on the left and even on the right along the road; compound buildings get 栋/单元 addresses;
6. POIs, emergency facilities, air-quality stations with a week of readings and city
   components (部件) are placed on those buildings, blocks and roads.

Only ``numpy.random.default_rng(seed)`` draws numbers, always in the same order: the same
seed gives byte-identical frames.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from layers.demo import names as nm
from layers.demo.names import Name

METRIC_CRS = "EPSG:32649"
STORAGE_CRS = "EPSG:4326"
CENTRE_LONLAT = (108.94, 34.26)
READINGS_START = pd.Timestamp("2026-11-02T00:00:00+08:00")
READING_HOURS = 7 * 24
SETBACK_M = 6.0  # building line behind the road's edge
PLATE_OFFSET_M = 2.0  # door plate: this far behind the road's edge
SIZES = ("small", "large")

Array = np.ndarray
Stage = Callable[[str], None]

GENERATION_STAGES = (
    "street grid",
    "road names",
    "divisions",
    "blocks",
    "buildings",
    "door plates",
    "points of interest",
    "thematic layers",
    "frames",
)


# ------------------------------------------------------------------------------- profiles
@dataclass(frozen=True)
class RoadClass:
    """Cross-section and traffic of a road class."""

    name: str
    half_width_m: float
    lanes: tuple[int, ...]
    speed_kmh: int


ROAD_CLASSES = (
    RoadClass("arterial", 20.0, (6, 8), 60),
    RoadClass("secondary", 12.0, (4,), 50),
    RoadClass("branch", 7.0, (2,), 30),
    RoadClass("lane", 4.0, (1,), 20),
)
ARTERIAL, SECONDARY, BRANCH, LANE = range(4)
HALF_WIDTH = np.array([road_class.half_width_m for road_class in ROAD_CLASSES])


@dataclass(frozen=True)
class BuildingType:
    """How the buildings of one land use are laid out and how tall they are."""

    use: str
    width_m: tuple[float, float]
    depth_m: tuple[float, float]
    gap_along_m: tuple[float, float]
    gap_across_m: tuple[float, float]
    floor_bands: tuple[tuple[int, int, float], ...]
    storey_m: float
    parcel_columns: int
    vacancy: float
    m2_per_resident: float  # 0: nobody lives there


LAND_USES = ("compound", "urban_village", "commercial", "public", "industrial", "park", "farmland")
COMPOUND, URBAN_VILLAGE, COMMERCIAL, PUBLIC, INDUSTRIAL, PARK, FARMLAND = range(len(LAND_USES))

BUILDING_TYPES = {
    COMPOUND: BuildingType(
        "residential", (45, 65), (12, 16), (12, 20), (26, 36),
        ((5, 7, 0.5), (11, 11, 0.2), (18, 33, 0.3)), 3.0, 2, 0.05, 32.0,
    ),
    URBAN_VILLAGE: BuildingType(
        "residential", (9, 11), (9, 11), (2.5, 3.5), (2.5, 4.0),
        ((3, 7, 1.0),), 3.0, 2, 0.06, 18.0,
    ),
    COMMERCIAL: BuildingType(
        "commercial", (30, 60), (25, 40), (15, 25), (20, 30),
        ((3, 6, 0.5), (10, 40, 0.5)), 4.2, 2, 0.10, 0.0,
    ),
    PUBLIC: BuildingType(
        "public", (35, 60), (14, 20), (20, 30), (25, 35),
        ((2, 6, 1.0),), 4.5, 3, 0.10, 0.0,
    ),
    INDUSTRIAL: BuildingType(
        "industrial", (50, 100), (30, 50), (15, 25), (15, 25),
        ((1, 3, 1.0),), 7.0, 2, 0.15, 0.0,
    ),
}  # fmt: skip
BUILDING_USES = ("residential", "commercial", "public", "industrial")
PUBLIC_ROLES = ("primary_school", "middle_school", "hospital", "culture", "offices")


@dataclass(frozen=True)
class CityProfile:
    """What changes between the small and the large demo city."""

    extent_m: float
    districts: tuple[int, int]
    streets_per_district: tuple[int, int]
    communities_per_street: tuple[int, int]
    land_use_centre: tuple[float, ...]  # weights in LAND_USES order at the centre…
    land_use_fringe: tuple[float, ...]  # …and at the outline
    detailed_compound_share: float  # compounds whose unit entrances (单元) are surveyed
    aq_stations: tuple[int, int]
    city_components: tuple[int, int]
    min_hospitals: int
    fire_station_area_km2: float


PROFILES = {
    "small": CityProfile(
        extent_m=12_000,
        districts=(4, 4),
        streets_per_district=(3, 4),
        communities_per_street=(3, 5),
        land_use_centre=(0.42, 0.05, 0.22, 0.11, 0.02, 0.16, 0.02),
        land_use_fringe=(0.30, 0.10, 0.05, 0.06, 0.17, 0.08, 0.24),
        detailed_compound_share=0.05,
        aq_stations=(8, 12),
        city_components=(300, 450),
        min_hospitals=6,
        fire_station_area_km2=7.0,
    ),
    "large": CityProfile(
        extent_m=35_000,
        districts=(8, 10),
        streets_per_district=(6, 9),
        communities_per_street=(5, 8),
        land_use_centre=(0.24, 0.40, 0.15, 0.07, 0.02, 0.11, 0.01),
        land_use_fringe=(0.14, 0.48, 0.03, 0.04, 0.14, 0.05, 0.12),
        detailed_compound_share=0.9,
        aq_stations=(16, 20),
        city_components=(3000, 4000),
        min_hospitals=30,
        fire_station_area_km2=7.0,
    ),
}


def profile_for(size: str) -> CityProfile:
    """The profile of a size name, or a clear error."""
    if size not in PROFILES:
        raise ValueError(f"unknown demo size {size!r}; one of {', '.join(SIZES)}")
    return PROFILES[size]


# ------------------------------------------------------------------------------ the result
TABLE_ORDER = (
    ("basemap", "admin_division"),
    ("basemap", "address"),
    ("basemap", "road"),
    ("basemap", "building"),
    ("basemap", "poi"),
    ("thematic", "emergency_facility"),
    ("thematic", "aq_station"),
    ("thematic", "aq_reading"),
    ("thematic", "city_component"),
)


@dataclass
class DemoCity:
    """The demo city: one lon/lat GeoDataFrame per table, columns named as in spatial.models."""

    size: str
    seed: int
    admin_division: gpd.GeoDataFrame
    address: gpd.GeoDataFrame
    road: gpd.GeoDataFrame
    building: gpd.GeoDataFrame
    poi: gpd.GeoDataFrame
    emergency_facility: gpd.GeoDataFrame
    aq_station: gpd.GeoDataFrame
    aq_reading: gpd.GeoDataFrame
    city_component: gpd.GeoDataFrame
    land_cover: gpd.GeoDataFrame  # not a table: the ground of every sub-block and pond, for imagery

    def tables(self) -> dict[tuple[str, str], gpd.GeoDataFrame]:
        """(schema, table) → frame, in an order that satisfies the foreign keys."""
        return {(schema, table): getattr(self, table) for schema, table in TABLE_ORDER}

    def counts(self) -> dict[str, int]:
        """Rows per qualified table name."""
        return {f"{schema}.{table}": len(frame) for (schema, table), frame in self.tables().items()}

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """Lon/lat bounding box of the city (its districts)."""
        minx, miny, maxx, maxy = self.admin_division.total_bounds
        return float(minx), float(miny), float(maxx), float(maxy)


# ------------------------------------------------------------------------------ utilities
class NameBook:
    """Hands out unique place-name stems, composed from the morpheme tables in a seeded order."""

    def __init__(self, rng: np.random.Generator, reserved: Sequence[str] = ()) -> None:
        stems = nm.composed_stems()
        self._stems = [stems[i] for i in rng.permutation(len(stems))]
        self._next = 0
        self._round = 1
        self._used = set(reserved)

    def draw(self) -> Name:
        """The next unused stem; after all are used, stems come again with a numeral (槐芽二)."""
        while True:
            if self._next == len(self._stems):
                self._next, self._round = 0, self._round + 1
            stem = self._stems[self._next]
            self._next += 1
            if self._round > 1:
                stem = Name(stem.zh + nm.chinese_numeral(self._round), f"{stem.en} {self._round}")
            if stem.zh not in self._used:
                self._used.add(stem.zh)
                return stem

    def claim(self, name: str) -> bool:
        """Reserve a full name; False when it is already taken."""
        if name in self._used:
            return False
        self._used.add(name)
        return True


def weighted_choice(rng: np.random.Generator, weights: Array) -> Array:
    """One index per row of ``weights`` (n, k), drawn with probabilities proportional to the row."""
    cumulative = np.cumsum(weights, axis=1)
    draws = rng.random(len(weights)) * cumulative[:, -1]
    return (cumulative < draws[:, None]).sum(axis=1)


def pick_band(rng: np.random.Generator, bands: tuple[tuple[int, int, float], ...], n: int) -> Array:
    """Floors drawn from weighted (low, high) bands."""
    weights = np.array([band[2] for band in bands])
    band = rng.choice(len(bands), size=n, p=weights / weights.sum())
    low = np.array([b[0] for b in bands])[band]
    high = np.array([b[1] for b in bands])[band]
    return low + np.floor(rng.random(n) * (high - low + 1)).astype(int)


def group_starts(keys: Array) -> Array:
    """Boolean mask of the first element of each run of equal sorted keys."""
    starts = np.ones(len(keys), dtype=bool)
    starts[1:] = keys[1:] != keys[:-1]
    return starts


def group_cumsum(values: Array, starts: Array) -> Array:
    """Cumulative sum restarting at every group start (inclusive)."""
    total = np.cumsum(values)
    offset = np.where(starts, total - values, 0)
    return total - np.maximum.accumulate(offset)


def spread_seeds(rng: np.random.Generator, points: Array, k: int) -> list[int]:
    """k indices of ``points`` drawn in seeded order, kept apart by a shrinking minimum distance."""
    k = min(k, len(points))
    order = rng.permutation(len(points))
    span = np.ptp(points, axis=0).prod() if len(points) > 1 else 0.0
    spacing = 0.8 * math.sqrt(max(span, 1.0) / k)
    chosen: list[int] = []
    while len(chosen) < k:
        for index in order:
            if len(chosen) == k:
                break
            if index in chosen:
                continue
            gaps = np.hypot(*(points[chosen] - points[index]).T) if chosen else np.array([np.inf])
            if gaps.min() >= spacing:
                chosen.append(int(index))
        spacing *= 0.75
    return chosen


def north_to_south_order(points: Array, band_m: float = 1500.0) -> Array:
    """Indices ordering points north→south, west→east in bands: the GB habit of code order."""
    band = np.floor(-points[:, 1] / band_m)
    return np.lexsort((points[:, 0], band))


def segment_intersections(p1: Array, d1: Array, p2: Array, d2: Array) -> Array:
    """Intersection points of lines p1 + t·d1 and p2 + s·d2 (arrays of 2-vectors)."""
    cross = d1[..., 0] * d2[..., 1] - d1[..., 1] * d2[..., 0]
    delta = p2 - p1
    t = (delta[..., 0] * d2[..., 1] - delta[..., 1] * d2[..., 0]) / cross
    return p1 + t[..., None] * d1


def signed_areas(corners: Array) -> Array:
    """Shoelace signed area of quads (n, 4, 2); positive when counter-clockwise."""
    x, y = corners[..., 0], corners[..., 1]
    return 0.5 * (x * np.roll(y, -1, axis=-1) - np.roll(x, -1, axis=-1) * y).sum(axis=-1)


def inward_normals(corners: Array) -> Array:
    """Unit normals (n, 4, 2) of the edges k → k+1 of quads, pointing inside."""
    direction = np.roll(corners, -1, axis=1) - corners
    length = np.hypot(direction[..., 0], direction[..., 1])[..., None]
    left = np.stack([-direction[..., 1], direction[..., 0]], axis=-1) / length
    return left * np.sign(signed_areas(corners))[:, None, None]


def inset_quads(corners: Array, offsets: Array) -> tuple[Array, Array]:
    """Quads with each edge moved inwards by its own offset; also whether the result is sound."""
    normals = inward_normals(corners)
    start = corners + normals * offsets[..., None]
    direction = np.roll(corners, -1, axis=1) - corners
    previous = (np.roll(start, 1, axis=1), np.roll(direction, 1, axis=1))
    inner = segment_intersections(previous[0], previous[1], start, direction)
    inner_direction = np.roll(inner, -1, axis=1) - inner
    same_way = ((inner_direction * direction).sum(axis=-1) > 0).all(axis=1)
    area = signed_areas(inner) * np.sign(signed_areas(corners))
    return inner, same_way & (area > 400.0)


def inside_convex(points: Array, quads: Array) -> Array:
    """Whether each point (n, 2) lies inside its convex quad (n, 4, 2)."""
    inside = np.ones(len(points), dtype=bool)
    orientation = np.sign(signed_areas(quads))
    for k in range(4):
        p, q = quads[:, k], quads[:, (k + 1) % 4]
        cross = (q[:, 0] - p[:, 0]) * (points[:, 1] - p[:, 1]) - (q[:, 1] - p[:, 1]) * (
            points[:, 0] - p[:, 0]
        )
        inside &= cross * orientation > 0
    return inside


class LonLat:
    """Converts local metres (origin at the city centre, UTM 49N axes) to lon/lat geometries."""

    def __init__(self) -> None:
        self._to_utm = pyproj.Transformer.from_crs(STORAGE_CRS, METRIC_CRS, always_xy=True)
        self._to_lonlat = pyproj.Transformer.from_crs(METRIC_CRS, STORAGE_CRS, always_xy=True)
        self.origin = np.array(self._to_utm.transform(*CENTRE_LONLAT))

    def coords(self, xy: Array) -> Array:
        """Local (…, 2) metres → (…, 2) lon/lat."""
        flat = xy.reshape(-1, 2) + self.origin
        lon, lat = self._to_lonlat.transform(flat[:, 0], flat[:, 1])
        return np.stack([lon, lat], axis=-1).reshape(xy.shape)

    def points(self, xy: Array) -> Array:
        """(n, 2) metres → Points."""
        return shapely.points(self.coords(np.asarray(xy, dtype=float).reshape(-1, 2)))

    def lines(self, xy: Array) -> Array:
        """(n, k, 2) vertices → LineStrings."""
        return shapely.linestrings(self.coords(xy))

    def quads(self, corners: Array) -> Array:
        """(n, 4, 2) corners → closed Polygons."""
        ring = np.concatenate([corners, corners[:, :1]], axis=1)
        return shapely.polygons(self.coords(ring))

    def geometries(self, geoms: Array) -> Array:
        """Any local-metre geometries → lon/lat, vertex by vertex (shared vertices stay shared)."""
        return shapely.transform(geoms, self.coords)


# ---------------------------------------------------------------------------- street grid
@dataclass
class Grid:
    """Street grid: nodes, line classes, the quads inside the city and their cross roads.

    South–north ("sn") lines are indexed by a, west–east ("we") lines by b; node (a, b) is where
    they cross. Quad (i, j) lies between lines i, i+1 and j, j+1.
    """

    nodes: Array  # (nx + 1, ny + 1, 2)
    sn_class: Array  # (nx + 1,) road class of each south–north line
    we_class: Array  # (ny + 1,)
    in_city: Array  # (nx, ny)
    rho: Array  # (nx, ny) distance from the centre, 1 at the outline
    cross_we: Array  # (nx, ny) the quad's cross road runs west–east (else south–north)
    split_sn: Array  # (nx + 1, ny, 2) junction of a cross road on each south–north edge
    split_we: Array  # (nx, ny + 1, 2)
    centre_node: tuple[int, int]

    @property
    def shape(self) -> tuple[int, int]:
        """(nx, ny): quads along x and y."""
        return self.in_city.shape

    def city_quads(self) -> Array:
        """(k, 2) indices of the quads in the city, in (i, j) order."""
        return np.argwhere(self.in_city)

    def quad_corners(self, quads: Array) -> Array:
        """(k, 4, 2) corners n00, n10, n11, n01 of quads."""
        i, j = quads[:, 0], quads[:, 1]
        n = self.nodes
        return np.stack([n[i, j], n[i + 1, j], n[i + 1, j + 1], n[i, j + 1]], axis=1)


def line_offsets(rng: np.random.Generator, extent_m: float) -> Array:
    """Positions of parallel grid lines 300–400 m apart, centred on 0, spanning the extent."""
    gaps = rng.uniform(300.0, 400.0, int(extent_m / 300.0) + 2)
    positions = np.concatenate([[0.0], np.cumsum(gaps)])
    return positions - positions[len(positions) // 2]


def curved_nodes(rng: np.random.Generator, xs: Array, ys: Array) -> Array:
    """Grid nodes where every line wanders in a slow sine, so roads curve gently."""

    def wander(count: int, along: Array) -> Array:
        """Sideways shift of ``count`` lines at positions ``along`` them."""
        amplitude = rng.uniform(0.0, 45.0, (count, 1))
        wavelength = rng.uniform(2500.0, 7000.0, (count, 1))
        phase = rng.uniform(0.0, 2 * np.pi, (count, 1))
        noise = rng.normal(0.0, 4.0, (count, len(along)))
        return amplitude * np.sin(2 * np.pi * along[None, :] / wavelength + phase) + noise

    dx = wander(len(xs), ys)  # (nx + 1, ny + 1): shift of south–north line a at row b
    dy = wander(len(ys), xs).T  # (nx + 1, ny + 1): shift of west–east line b at column a
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    return np.stack([gx + dx, gy + dy], axis=-1)


def line_classes(rng: np.random.Generator, count: int) -> Array:
    """Every other line an arterial (600–800 m apart), the rest secondary roads."""
    parity = int(rng.integers(2))
    return np.where(np.arange(count) % 2 == parity, ARTERIAL, SECONDARY)


def outline_rho(rng: np.random.Generator, points: Array, extent_m: float) -> Array:
    """Distance of points from the centre relative to an irregular, lobed city outline."""
    radius = 0.46 * extent_m
    theta = np.arctan2(points[..., 1], points[..., 0])
    shape = np.ones_like(theta)
    for k in range(2, 6):
        shape += rng.uniform(0.02, 0.06) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    return np.hypot(points[..., 0], points[..., 1]) / (radius * shape)


def largest_component(mask: Array) -> Array:
    """The largest 4-connected component of a boolean grid (first found wins ties)."""
    labels = np.full(mask.shape, -1)
    sizes: list[int] = []
    for start in map(tuple, np.argwhere(mask)):
        if labels[start] >= 0:
            continue
        label, queue, size = len(sizes), deque([start]), 0
        labels[start] = label
        while queue:
            i, j = queue.popleft()
            size += 1
            for ni, nj in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
                inside = 0 <= ni < mask.shape[0] and 0 <= nj < mask.shape[1]
                if inside and mask[ni, nj] and labels[ni, nj] < 0:
                    labels[ni, nj] = label
                    queue.append((ni, nj))
        sizes.append(size)
    return labels == int(np.argmax(sizes))


def cross_orientation(rng: np.random.Generator, shape: tuple[int, int]) -> Array:
    """Patches of west–east and south–north cross roads, so cross roads join into runs."""
    i, j = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    field = rng.normal(0.0, 0.6, shape)
    for _ in range(4):
        a, b = rng.uniform(0.15, 0.6, 2) * rng.choice([-1, 1], 2)
        field += np.sin(a * i + b * j + rng.uniform(0, 2 * np.pi))
    return field > 0


def build_grid(rng: np.random.Generator, profile: CityProfile) -> Grid:
    """The street grid of the city, clipped to its outline by whole quads."""
    xs, ys = line_offsets(rng, profile.extent_m), line_offsets(rng, profile.extent_m)
    nodes = curved_nodes(rng, xs, ys)
    sn_class, we_class = line_classes(rng, len(xs)), line_classes(rng, len(ys))
    centres = (nodes[:-1, :-1] + nodes[1:, :-1] + nodes[1:, 1:] + nodes[:-1, 1:]) / 4
    rho = outline_rho(rng, centres, profile.extent_m)
    in_city = largest_component(rho <= 1.0)
    cross_we = cross_orientation(rng, in_city.shape)
    f_sn = rng.uniform(0.4, 0.6, (len(xs), len(ys) - 1, 1))
    f_we = rng.uniform(0.4, 0.6, (len(xs) - 1, len(ys), 1))
    split_sn = nodes[:, :-1] + f_sn * (nodes[:, 1:] - nodes[:, :-1])
    split_we = nodes[:-1, :] + f_we * (nodes[1:, :] - nodes[:-1, :])
    centre = np.unravel_index(np.argmin(np.hypot(nodes[..., 0], nodes[..., 1])), nodes.shape[:2])
    return Grid(
        nodes,
        sn_class,
        we_class,
        in_city,
        rho,
        cross_we,
        split_sn,
        split_we,
        (int(centre[0]), int(centre[1])),
    )


# ------------------------------------------------------------------------------ road names
@dataclass
class RoadNetwork:
    """Road names and chainage: which named road every edge and cross road belongs to.

    Built in steps by ``name_roads``: the name table first, then the arrays that point into it.
    """

    names: list[Name] = field(default_factory=list)  # the road-name table; ids index it
    classes: list[int] = field(default_factory=list)  # road class of each named road
    lanes: list[int] = field(default_factory=list)  # traffic lanes of each named road
    stems: dict[tuple[str, int], Name] = field(default_factory=dict)  # ("sn"/"we", line) → stem
    sn_name: Array = field(
        default_factory=lambda: np.empty(0)
    )  # (nx + 1, ny) name id of every south–north edge
    we_name: Array = field(default_factory=lambda: np.empty(0))  # (nx, ny + 1)
    sn_chain: Array = field(
        default_factory=lambda: np.empty(0)
    )  # (nx + 1, ny + 1) chainage of node (a, b) along south–north line a
    we_chain: Array = field(
        default_factory=lambda: np.empty(0)
    )  # (nx + 1, ny + 1) chainage of node (a, b) along west–east line b
    cross_name: Array = field(
        default_factory=lambda: np.empty(0)
    )  # (nx, ny) name id of each quad's cross road, -1 outside the city
    cross_class: Array = field(default_factory=lambda: np.empty(0))  # (nx, ny)
    cross_chain: Array = field(
        default_factory=lambda: np.empty(0)
    )  # (nx, ny, 2) chainage at the start and end of the cross road

    def add(self, rng: np.random.Generator, name: Name, road_class: int) -> int:
        """Append a named road; returns its id."""
        self.names.append(name)
        self.classes.append(road_class)
        self.lanes.append(int(rng.choice(ROAD_CLASSES[road_class].lanes)))
        return len(self.names) - 1


def line_kind(rng: np.random.Generator, road_class: int) -> str:
    """大道 or 路 for arterials, 路 or 街 for secondary roads."""
    if road_class == ARTERIAL:
        return "avenue" if rng.random() < 0.3 else "road"
    return "road" if rng.random() < 0.6 else "street"


def name_lines(
    rng: np.random.Generator,
    book: NameBook,
    network: RoadNetwork,
    classes: Array,
    edges_per_line: int,
    centre: int,
    parts: tuple[str, str],
    axis: str,
) -> Array:
    """Name every line; arterial 路 are split at the centre (兴福南路/兴福北路). Edge name ids."""
    ids = np.empty((len(classes), edges_per_line), dtype=int)
    for line, road_class in enumerate(classes.tolist()):
        stem = book.draw()
        network.stems[(axis, line)] = stem
        kind = line_kind(rng, road_class)
        if road_class == ARTERIAL and kind == "road":
            low = network.add(rng, nm.road_name(stem, kind, parts[0]), road_class)
            high = network.add(rng, nm.road_name(stem, kind, parts[1]), road_class)
            ids[line] = np.where(np.arange(edges_per_line) < centre, low, high)
        else:
            ids[line] = network.add(rng, nm.road_name(stem, kind), road_class)
    return ids


def line_chainage(nodes_along: Array, split: Array, centre: int) -> Array:
    """Chainage of nodes (lines, nodes, 2) along each line; split lines count from the centre."""
    steps = np.hypot(*np.diff(nodes_along, axis=1).transpose(2, 0, 1))
    chain = np.concatenate([np.zeros((len(steps), 1)), np.cumsum(steps, axis=1)], axis=1)
    from_centre = np.abs(chain - chain[:, centre : centre + 1])
    return np.where(split[:, None], from_centre, chain)


def runs_along(mask: Array) -> Array:
    """Run ids of consecutive True cells along the last axis (-1 elsewhere), in row-major order."""
    previous = np.zeros_like(mask)
    previous[:, 1:] = mask[:, :-1]
    run = np.cumsum((mask & ~previous).ravel()).reshape(mask.shape) - 1
    return np.where(mask, run, -1)


def name_cross_runs(
    rng: np.random.Generator,
    book: NameBook,
    network: RoadNetwork,
    lengths: Array,
    start_line_stems: list[Name],
) -> Array:
    """Names of cross-road runs: long runs are branch roads (支路), short ones numbered lanes (巷)."""
    ordinals: dict[str, int] = {}
    ids = np.empty(len(start_line_stems), dtype=int)
    for index, stem in enumerate(start_line_stems):
        if lengths[index] >= 3:
            kind = "road" if rng.random() < 0.7 else "street"
            ids[index] = network.add(rng, nm.road_name(book.draw(), kind), BRANCH)
            continue
        ordinal = ordinals.get(stem.zh, 0) + 1
        ordinals[stem.zh] = ordinal
        name = nm.lane_name(stem, ordinal) if ordinal < 100 else nm.road_name(book.draw(), "lane")
        ids[index] = network.add(rng, name, LANE)
    return ids


def cross_segments(grid: Grid, quads: Array) -> tuple[Array, Array]:
    """Start and end points of each city quad's cross road (west→east or south→north)."""
    i, j = quads[:, 0], quads[:, 1]
    we = grid.cross_we[i, j][:, None]
    start = np.where(we, grid.split_sn[i, j], grid.split_we[i, j])
    end = np.where(we, grid.split_sn[i + 1, j], grid.split_we[i, j + 1])
    return start, end


def name_roads(rng: np.random.Generator, grid: Grid, book: NameBook) -> RoadNetwork:
    """Name every grid line and cross road and compute chainage for house numbering."""
    nx, ny = grid.shape
    ca, cb = grid.centre_node
    network = RoadNetwork(
        cross_name=np.full((nx, ny), -1),
        cross_class=np.full((nx, ny), -1),
        cross_chain=np.zeros((nx, ny, 2)),
    )
    network.sn_name = name_lines(
        rng, book, network, grid.sn_class, ny, cb, ("south", "north"), "sn"
    )
    network.we_name = name_lines(
        rng, book, network, grid.we_class, nx, ca, ("west", "east"), "we"
    ).T
    sn_split = np.array([network.sn_name[a, 0] != network.sn_name[a, -1] for a in range(nx + 1)])
    we_split = np.array([network.we_name[0, b] != network.we_name[-1, b] for b in range(ny + 1)])
    network.sn_chain = line_chainage(grid.nodes, sn_split, cb)
    network.we_chain = line_chainage(grid.nodes.transpose(1, 0, 2), we_split, ca).T
    name_all_cross_roads(rng, grid, book, network)
    return network


def name_all_cross_roads(
    rng: np.random.Generator, grid: Grid, book: NameBook, network: RoadNetwork
) -> None:
    """Fill the cross-road names, classes and chainage of the network, west–east runs first."""
    quads = grid.city_quads()
    start, end = cross_segments(grid, quads)
    length = np.zeros(grid.shape)
    length[quads[:, 0], quads[:, 1]] = np.hypot(*(end - start).T)
    for axis in ("we", "sn"):
        mask = grid.in_city & (grid.cross_we if axis == "we" else ~grid.cross_we)
        oriented = mask.T if axis == "we" else mask  # runs go along the last axis
        run = runs_along(oriented)
        cells = np.argwhere(run >= 0)
        first = cells[group_starts(run[run >= 0])]
        stems = [network.stems[("sn" if axis == "we" else "we", int(c))] for c in first[:, 1]]
        run_ids = name_cross_runs(rng, book, network, np.bincount(run[run >= 0]), stems)
        seg = (length.T if axis == "we" else length)[run >= 0]
        keys = run[run >= 0]
        upto = group_cumsum(seg, group_starts(keys))
        chain = np.stack([upto - seg, upto], axis=-1)
        i, j = (cells[:, 1], cells[:, 0]) if axis == "we" else (cells[:, 0], cells[:, 1])
        network.cross_name[i, j] = run_ids[keys]
        network.cross_class[i, j] = np.array(network.classes)[run_ids[keys]]
        network.cross_chain[i, j] = chain


# ------------------------------------------------------------------------------ divisions
@dataclass
class Division:
    """One district, street or community."""

    code: str
    level: str
    parent_code: str | None
    name: Name
    stem: Name


@dataclass
class Divisions:
    """Districts → streets → communities, each a set of city quads."""

    districts: list[Division]
    streets: list[Division]
    communities: list[Division]
    quad_district: Array  # (k,) index into districts for every city quad
    quad_street: Array
    quad_community: Array
    street_district: Array  # (streets,) parent district index
    community_street: Array  # (communities,) parent street index


def quad_graph(rng: np.random.Generator, grid: Grid) -> tuple[Array, Array, Array]:
    """City quad centres, adjacent pairs (sharing an edge) and jittered travel costs."""
    quads = grid.city_quads()
    index = np.full(grid.shape, -1)
    index[quads[:, 0], quads[:, 1]] = np.arange(len(quads))
    centres = grid.quad_corners(quads).mean(axis=1)
    pairs = [
        np.stack([index[:-1, :].ravel(), index[1:, :].ravel()], axis=1),
        np.stack([index[:, :-1].ravel(), index[:, 1:].ravel()], axis=1),
    ]
    edges = np.concatenate(pairs)
    edges = edges[(edges >= 0).all(axis=1)]
    cost = np.hypot(*(centres[edges[:, 0]] - centres[edges[:, 1]]).T)
    return centres, edges, cost * rng.uniform(0.6, 1.4, len(edges))


def grow_regions(
    n: int, edges: Array, cost: Array, seeds: list[int], parent: Array | None
) -> Array:
    """Multi-source Dijkstra on the quad graph, never crossing a parent border: region labels."""
    neighbours: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for (u, v), w in zip(edges.tolist(), cost.tolist(), strict=True):
        if parent is None or parent[u] == parent[v]:
            neighbours[u].append((v, w))
            neighbours[v].append((u, w))
    label = np.full(n, -1)
    best = np.full(n, np.inf)
    heap = [(0.0, region, seed) for region, seed in enumerate(seeds)]
    heapq.heapify(heap)
    while heap:
        distance, region, node = heapq.heappop(heap)
        if label[node] >= 0:
            continue
        label[node] = region
        for other, w in neighbours[node]:
            if label[other] < 0 and distance + w < best[other]:
                best[other] = distance + w
                heapq.heappush(heap, (distance + w, region, other))
    if (label < 0).any():
        raise RuntimeError("a city block was not reached by any division seed")
    return label


def split_level(
    rng: np.random.Generator,
    graph: tuple[Array, Array, Array],
    parent: Array,
    counts: tuple[int, int],
) -> tuple[Array, Array]:
    """Split every parent region into seeded children; labels ordered north→south within a parent."""
    centres, edges, cost = graph
    seeds: list[int] = []
    seed_parent: list[int] = []
    for region in range(int(parent.max()) + 1):
        members = np.flatnonzero(parent == region)
        k = int(rng.integers(counts[0], counts[1] + 1))
        picked = spread_seeds(rng, centres[members], k)
        ordered = [int(members[p]) for p in picked]
        ordered = [ordered[o] for o in north_to_south_order(centres[ordered])]
        seeds.extend(ordered)
        seed_parent.extend([region] * len(ordered))
    label = grow_regions(len(centres), edges, cost, seeds, parent)
    return label, np.array(seed_parent)


def partition(
    rng: np.random.Generator, grid: Grid, profile: CityProfile, book: NameBook
) -> Divisions:
    """Districts, streets and communities as a nested partition of the city quads."""
    graph = quad_graph(rng, grid)
    root = np.zeros(len(graph[0]), dtype=int)
    district, _ = split_level(rng, graph, root, profile.districts)
    street, street_district = split_level(rng, graph, district, profile.streets_per_district)
    community, community_street = split_level(rng, graph, street, profile.communities_per_street)
    stems = [nm.DISTRICT_STEMS[i] for i in rng.permutation(len(nm.DISTRICT_STEMS))]
    districts = [
        Division(
            str(610151 + d), "district", None, nm.division_name(stems[d], "district"), stems[d]
        )
        for d in range(int(district.max()) + 1)
    ]
    streets = child_divisions(book, districts, street_district, "street")
    communities = child_divisions(book, streets, community_street, "community")
    return Divisions(
        districts,
        streets,
        communities,
        district,
        street,
        community,
        street_district,
        community_street,
    )


def child_divisions(
    book: NameBook, parents: list[Division], parent_of: Array, level: str
) -> list[Division]:
    """Named, coded children: parent code + 001, 002… in the order of ``parent_of``."""
    children: list[Division] = []
    seen: dict[int, int] = {}
    for parent in parent_of.tolist():
        seen[parent] = seen.get(parent, 0) + 1
        stem = book.draw()
        code = f"{parents[parent].code}{seen[parent]:03d}"
        children.append(
            Division(code, level, parents[parent].code, nm.division_name(stem, level), stem)
        )
    return children


def division_geometries(
    quad_polygons: Array, label: Array, count: int
) -> list[shapely.MultiPolygon]:
    """Coverage union of the quads of each region, as MultiPolygons (local metres)."""
    order = np.argsort(label, kind="stable")
    bounds = np.searchsorted(label[order], np.arange(count + 1))
    geometries = []
    for region in range(count):
        members = quad_polygons[order[bounds[region] : bounds[region + 1]]]
        union = shapely.coverage_union_all(members)
        geometries.append(
            union if union.geom_type == "MultiPolygon" else shapely.MultiPolygon([union])
        )
    return geometries


# ------------------------------------------------------------------------------ sub-blocks
@dataclass
class Blocks:
    """Sub-blocks: each city quad cut in two by its cross road (index = 2 × quad + half).

    Corners P0..P3: P0→P1 is the front edge on a grid line, P3→P2 the back edge on the cross
    road, P1→P2 and P3→P0 the sides on the other grid lines.
    """

    corners: Array  # (m, 4, 2)
    road: Array  # (m, 4) name id of the road along edges P0P1, P1P2, P2P3, P3P0
    road_class: Array  # (m, 4)
    front_chain: Array  # (m, 2) chainage at P0 and P1 along the front road
    back_chain: Array  # (m, 2) chainage at P3 and P2 along the cross road
    land_use: Array  # (m,)
    detailed: Array  # (m,) compound with surveyed unit entrances
    public_role: Array  # (m,) index into PUBLIC_ROLES for public blocks, -1 otherwise

    @property
    def quad(self) -> Array:
        """City quad index of every sub-block."""
        return np.arange(len(self.corners)) // 2

    def centres(self) -> Array:
        """Corner means of the sub-blocks (inside: they are convex)."""
        return self.corners.mean(axis=1)

    def areas(self) -> Array:
        """Sub-block areas in m²."""
        return np.abs(signed_areas(self.corners))


def block_corners(grid: Grid, quads: Array) -> Array:
    """(2k, 4, 2) corners of both halves of every city quad."""
    n00, n10, n11, n01 = grid.quad_corners(quads).transpose(1, 0, 2)
    start, end = cross_segments(grid, quads)
    we = grid.cross_we[quads[:, 0], quads[:, 1]][:, None]
    half0 = np.stack([n00, np.where(we, n10, n01), end, start], axis=1)
    half1 = np.stack([np.where(we, n01, n10), n11, end, start], axis=1)
    return np.stack([half0, half1], axis=1).reshape(-1, 4, 2)


def block_roads(
    grid: Grid, network: RoadNetwork, quads: Array
) -> tuple[Array, Array, Array, Array]:
    """Road ids, classes and chainage of the edges of every sub-block."""
    i, j = quads[:, 0], quads[:, 1]
    we = grid.cross_we[i, j]
    # front edges of the two halves, and the two side lines (P1P2, P3P0)
    front = [
        np.where(we, network.we_name[i, j], network.sn_name[i, j]),
        np.where(we, network.we_name[i, j + 1], network.sn_name[i + 1, j]),
    ]
    side1 = np.where(we, network.sn_name[i + 1, j], network.we_name[i, j + 1])
    side3 = np.where(we, network.sn_name[i, j], network.we_name[i, j])
    cross = network.cross_name[i, j]
    road = np.stack([np.stack([f, side1, cross, side3], axis=1) for f in front], axis=1).reshape(
        -1, 4
    )
    chain0 = [
        np.where(we, network.we_chain[i, j], network.sn_chain[i, j]),
        np.where(we, network.we_chain[i, j + 1], network.sn_chain[i + 1, j]),
    ]
    chain1 = [
        np.where(we, network.we_chain[i + 1, j], network.sn_chain[i, j + 1]),
        np.where(we, network.we_chain[i + 1, j + 1], network.sn_chain[i + 1, j + 1]),
    ]
    front_chain = np.stack([np.stack(c, axis=1) for c in zip(chain0, chain1, strict=True)], axis=1)
    back = np.repeat(network.cross_chain[i, j], 2, axis=0)
    classes = np.array(network.classes)[road]
    return road, classes, front_chain.reshape(-1, 2), back


def sample_land_use(rng: np.random.Generator, rho: Array, profile: CityProfile) -> Array:
    """Land use per sub-block, shifting from centre weights to fringe weights near the outline."""
    centre, fringe = np.array(profile.land_use_centre), np.array(profile.land_use_fringe)
    t = np.clip(rho, 0.0, 1.0)[:, None] ** 2
    return weighted_choice(rng, (1 - t) * centre + t * fringe)


def public_roles(rng: np.random.Generator, land_use: Array, minimum_hospitals: int) -> Array:
    """Schools, hospitals, cultural centres or offices for public sub-blocks; enough hospitals."""
    roles = np.full(len(land_use), -1)
    public = np.flatnonzero(land_use == PUBLIC)
    roles[public] = rng.choice(len(PUBLIC_ROLES), size=len(public), p=[0.35, 0.2, 0.12, 0.13, 0.2])
    hospital = PUBLIC_ROLES.index("hospital")
    missing = minimum_hospitals - int((roles == hospital).sum())
    if missing > 0:
        others = public[roles[public] != hospital]
        roles[rng.choice(others, size=min(missing, len(others)), replace=False)] = hospital
    return roles


def build_blocks(
    rng: np.random.Generator, grid: Grid, network: RoadNetwork, profile: CityProfile
) -> Blocks:
    """Sub-blocks of the city with their roads and land use."""
    quads = grid.city_quads()
    corners = block_corners(grid, quads)
    road, road_class, front_chain, back_chain = block_roads(grid, network, quads)
    rho = np.repeat(grid.rho[quads[:, 0], quads[:, 1]], 2)
    land_use = sample_land_use(rng, rho, profile)
    detailed = (land_use == COMPOUND) & (
        rng.random(len(land_use)) < profile.detailed_compound_share
    )
    roles = public_roles(rng, land_use, profile.min_hospitals)
    return Blocks(corners, road, road_class, front_chain, back_chain, land_use, detailed, roles)


# ------------------------------------------------------------------------------- buildings
@dataclass
class Buildings:
    """Buildings as rectangles in their sub-block's frame (u along the front road, v inwards)."""

    block: Array
    faces_back: Array  # faces the cross road (back half of the lattice)
    row: Array  # lattice row counted from the road the building faces
    column: Array
    u0: Array
    v0: Array
    width: Array
    depth: Array
    corners: Array  # (n, 4, 2) local metres
    floors: Array
    height_m: Array
    use: Array  # index into BUILDING_USES


def block_frames(blocks: Blocks) -> tuple[Array, Array, Array]:
    """Origin P0, unit u along the front edge and unit v into the block, per sub-block."""
    origin = blocks.corners[:, 0]
    front = blocks.corners[:, 1] - origin
    u = front / np.hypot(front[:, 0], front[:, 1])[:, None]
    v = inward_normals(blocks.corners)[:, 0]
    return origin, u, v


def type_parameter(rng: np.random.Generator, land_use: Array, attribute: str) -> Array:
    """Per sub-block draw of a (low, high) BuildingType attribute; NaN where nothing is built."""
    low = np.full(len(land_use), np.nan)
    high = np.full(len(land_use), np.nan)
    for use, building_type in BUILDING_TYPES.items():
        low[land_use == use], high[land_use == use] = getattr(building_type, attribute)
    return low + rng.random(len(land_use)) * (high - low)


def lattice_sizes(
    rng: np.random.Generator, blocks: Blocks, inner: Array, sound: Array
) -> dict[str, Array]:
    """Building size, gaps, extent of the usable area in the frame, and slot counts per sub-block."""
    origin, u, v = block_frames(blocks)
    size = {
        name: type_parameter(rng, blocks.land_use, name)
        for name in ("width_m", "depth_m", "gap_along_m", "gap_across_m")
    }
    rel = inner - origin[:, None]
    iu, iv = (rel * u[:, None]).sum(-1), (rel * v[:, None]).sum(-1)
    size["u_min"], size["v_min"] = iu.min(1), iv.min(1)
    span_u, span_v = iu.max(1) - size["u_min"], iv.max(1) - size["v_min"]
    pitch_u = size["width_m"] + size["gap_along_m"]
    pitch_v = size["depth_m"] + size["gap_across_m"]
    columns = np.floor((span_u + size["gap_along_m"]) / pitch_u)
    rows = np.floor((span_v + size["gap_across_m"]) / pitch_v)
    size["columns"] = np.where(sound, np.nan_to_num(columns), 0).astype(int)
    size["rows"] = np.where(sound, np.nan_to_num(rows), 0).astype(int)
    size["slack_u"] = span_u - (size["columns"] * pitch_u - size["gap_along_m"])
    size["slack_v"] = span_v - (size["rows"] * pitch_v - size["gap_across_m"])
    return size


def place_buildings(rng: np.random.Generator, blocks: Blocks) -> Buildings:
    """A jittered lattice of buildings in every built sub-block, kept inside the road setbacks."""
    offsets = HALF_WIDTH[blocks.road_class] + SETBACK_M
    inner, sound = inset_quads(blocks.corners, offsets)
    size = lattice_sizes(rng, blocks, inner, sound)
    counts = size["columns"] * size["rows"]
    block = np.repeat(np.arange(len(counts)), counts)
    local = np.arange(len(block)) - np.repeat(np.cumsum(counts) - counts, counts)
    column, row = local % size["columns"][block], local // size["columns"][block]
    width = size["width_m"][block] * rng.uniform(0.85, 1.0, len(block))
    depth = size["depth_m"][block] * rng.uniform(0.85, 1.0, len(block))
    pitch_u = size["width_m"] + size["gap_along_m"]
    pitch_v = size["depth_m"] + size["gap_across_m"]
    u0 = size["u_min"][block] + size["slack_u"][block] / 2 + column * pitch_u[block]
    v0 = size["v_min"][block] + size["slack_v"][block] / 2 + row * pitch_v[block]
    u0 += rng.random(len(block)) * (size["width_m"][block] - width)
    v0 += rng.random(len(block)) * (size["depth_m"][block] - depth)
    vacancy = np.array(
        [BUILDING_TYPES.get(use, BUILDING_TYPES[COMPOUND]).vacancy for use in range(len(LAND_USES))]
    )
    corners = frame_rectangles(blocks, block, u0, v0, width, depth)
    keep = rng.random(len(block)) >= vacancy[blocks.land_use[block]]
    for k in range(4):
        keep &= inside_convex(corners[:, k], inner[block])
    front_rows = np.ceil(size["rows"] / 2).astype(int)[block]
    faces_back = row >= front_rows
    distance_row = np.where(faces_back, size["rows"][block] - 1 - row, row)
    floors, height, use = building_heights(rng, blocks, block)
    pick = np.flatnonzero(keep)
    return Buildings(
        block[pick],
        faces_back[pick],
        distance_row[pick],
        column[pick],
        u0[pick],
        v0[pick],
        width[pick],
        depth[pick],
        corners[pick],
        floors[pick],
        height[pick],
        use[pick],
    )


def frame_rectangles(
    blocks: Blocks, block: Array, u0: Array, v0: Array, width: Array, depth: Array
) -> Array:
    """(n, 4, 2) corners of rectangles given in their sub-block's (u, v) frame."""
    origin, u, v = block_frames(blocks)
    du = np.stack([u0, u0 + width, u0 + width, u0], axis=1)[..., None]
    dv = np.stack([v0, v0, v0 + depth, v0 + depth], axis=1)[..., None]
    return origin[block][:, None] + du * u[block][:, None] + dv * v[block][:, None]


def building_heights(
    rng: np.random.Generator, blocks: Blocks, block: Array
) -> tuple[Array, Array, Array]:
    """Floors (one height band per sub-block), height in metres and use of every slot."""
    floors = np.ones(len(block), dtype=int)
    storey = np.full(len(block), 3.0)
    use = np.zeros(len(block), dtype=int)
    land_use = blocks.land_use[block]
    for kind, building_type in BUILDING_TYPES.items():
        members = np.flatnonzero(land_use == kind)
        band_of_block = pick_band(rng, building_type.floor_bands, len(blocks.land_use))
        spread = rng.integers(-1, 2, len(members))
        low = min(band[0] for band in building_type.floor_bands)
        floors[members] = np.maximum(low, band_of_block[block[members]] + spread)
        storey[members] = building_type.storey_m
        use[members] = BUILDING_USES.index(building_type.use)
    height = np.round(floors * storey + rng.uniform(0.3, 1.8, len(block)), 1)
    return floors, height, use


# ----------------------------------------------------------------------------- door plates
@dataclass
class Parcels:
    """Groups of buildings behind one gate, each with its door plate on the road it faces."""

    of_building: Array  # (n,) parcel index of every building
    block: Array  # (p,)
    faces_back: Array
    plate: Array  # (p, 2) local metres
    road: Array  # (p,) road name id
    number: Array  # (p,) house number


def parcel_keys(blocks: Blocks, buildings: Buildings) -> tuple[Array, Array]:
    """Parcel index per building, and the sorted unique parcel keys."""
    columns_per_parcel = np.array(
        [
            BUILDING_TYPES[use].parcel_columns if use in BUILDING_TYPES else 1
            for use in range(len(LAND_USES))
        ]
    )
    group = buildings.column // columns_per_parcel[blocks.land_use[buildings.block]]
    key = (buildings.block.astype(np.int64) * 2 + buildings.faces_back) * 4096 + group
    unique, inverse = np.unique(key, return_inverse=True)
    return inverse, unique


def plate_positions(
    blocks: Blocks, block: Array, back: Array, u_centre: Array
) -> tuple[Array, Array, Array]:
    """Door-plate points just behind the road edge, their chainage and side (left = odd)."""
    origin, u, v = block_frames(blocks)
    corners = blocks.corners[block]
    normals = inward_normals(blocks.corners)[block]
    p0, p1, p2, p3 = corners.transpose(1, 0, 2)
    front_t = u_centre / np.hypot(*(p1 - p0).T)
    along_back = ((p2 - p3) * u[block]).sum(-1)
    back_t = (u_centre - ((p3 - p0) * u[block]).sum(-1)) / along_back
    foot = np.where(
        back[:, None], p3 + back_t[:, None] * (p2 - p3), p0 + front_t[:, None] * (p1 - p0)
    )
    normal = np.where(back[:, None], normals[:, 2], v[block])
    edge = np.where(back, 2, 0)
    offset = HALF_WIDTH[blocks.road_class[block, edge]] + PLATE_OFFSET_M
    c_start = np.where(back, blocks.back_chain[block, 0], blocks.front_chain[block, 0])
    c_end = np.where(back, blocks.back_chain[block, 1], blocks.front_chain[block, 1])
    t = np.where(back, back_t, front_t)
    direction = np.where(back[:, None], p2 - p3, p1 - p0) * np.sign(c_end - c_start)[:, None]
    left = direction[:, 0] * normal[:, 1] - direction[:, 1] * normal[:, 0] > 0
    return foot + normal * offset[:, None], c_start + t * (c_end - c_start), left


def house_numbers(rng: np.random.Generator, road: Array, left: Array, chain: Array) -> Array:
    """Odd numbers on the left, even on the right, rising along the road with a few skipped."""
    step = rng.choice([1, 1, 1, 1, 2, 3], size=len(road))
    order = np.lexsort((chain, left, road))
    keys = road[order] * 2 + left[order]
    rank = group_cumsum(step[order], group_starts(keys))
    numbers = np.empty(len(road), dtype=int)
    numbers[order] = np.where(left[order], 2 * rank - 1, 2 * rank)
    return numbers


def make_parcels(rng: np.random.Generator, blocks: Blocks, buildings: Buildings) -> Parcels:
    """Parcels with door plates numbered along their roads."""
    inverse, keys = parcel_keys(blocks, buildings)
    count = np.bincount(inverse)
    u_centre = np.bincount(inverse, weights=buildings.u0 + buildings.width / 2) / count
    block = (keys // 4096) // 2
    back = ((keys // 4096) % 2).astype(bool)
    plate, chain, left = plate_positions(blocks, block, back, u_centre)
    road = blocks.road[block, np.where(back, 2, 0)]
    numbers = house_numbers(rng, road, left, chain)
    return Parcels(inverse, block, back, plate, road, numbers)


# ------------------------------------------------------------------------------- addresses
@dataclass
class AddressBook:
    """Address rows (door plates, 栋 and 单元 entrances) and each building's address id."""

    frame: gpd.GeoDataFrame
    building_address: Array  # (n,) address id of every building
    parcel_address: Array  # (p,) address id of every parcel's door plate


@dataclass
class Place:
    """Where a point sits in the division hierarchy, as indices into Divisions lists."""

    district: Array
    street: Array
    community: Array


def place_of_blocks(divisions: Divisions, block: Array) -> Place:
    """Division indices of sub-blocks (a sub-block lies in its quad's community)."""
    quad = block // 2
    return Place(
        divisions.quad_district[quad], divisions.quad_street[quad], divisions.quad_community[quad]
    )


def entrances(
    blocks: Blocks, buildings: Buildings, members: Array, units: Array
) -> tuple[Array, Array]:
    """Entrance points of units 1..n on the road side of the given buildings: (owner, xy)."""
    owner = np.repeat(members, units[members])
    local = np.arange(len(owner)) - np.repeat(
        np.cumsum(units[members]) - units[members], units[members]
    )
    u = buildings.u0[owner] + (local + 0.5) * buildings.width[owner] / units[owner]
    front_face = buildings.v0[owner] - 1.5
    back_face = buildings.v0[owner] + buildings.depth[owner] + 1.5
    v = np.where(buildings.faces_back[owner], back_face, front_face)
    origin, uu, vv = block_frames(blocks)
    b = buildings.block[owner]
    return owner, origin[b] + u[:, None] * uu[b] + v[:, None] * vv[b]


def compound_numbers(buildings: Buildings, parcels: Parcels, members: Array) -> Array:
    """栋 numbers 1..n within each parcel, counted from the road inwards, then along it."""
    parcel = parcels.of_building[members]
    order = np.lexsort((buildings.column[members], buildings.row[members], parcel))
    rank = group_cumsum(np.ones(len(order), dtype=int), group_starts(parcel[order]))
    numbers = np.empty(len(members), dtype=int)
    numbers[order] = rank
    return numbers


def build_addresses(
    blocks: Blocks,
    buildings: Buildings,
    parcels: Parcels,
    divisions: Divisions,
    network: RoadNetwork,
    lonlat: LonLat,
) -> AddressBook:
    """Door plates of every parcel, plus 栋 (and, where surveyed, 单元) entrances of compounds."""
    compound = np.flatnonzero(blocks.land_use[buildings.block] == COMPOUND)
    bld_number = compound_numbers(buildings, parcels, compound)
    one = np.ones(len(buildings.block), dtype=int)
    _, bld_xy = entrances(blocks, buildings, compound, one)
    units = np.where(buildings.width >= 40, 3, 2)
    surveyed = compound[blocks.detailed[buildings.block[compound]]]
    unit_owner, unit_xy = entrances(blocks, buildings, surveyed, units)
    unit_number = (
        np.arange(len(unit_owner))
        - np.repeat(np.cumsum(units[surveyed]) - units[surveyed], units[surveyed])
        + 1
    )
    number_of = np.zeros(len(buildings.block), dtype=int)
    number_of[compound] = bld_number
    parcel_of = parcels.of_building
    rows = {
        "parcel": np.concatenate(
            [np.arange(len(parcels.block)), parcel_of[compound], parcel_of[unit_owner]]
        ),
        "building": np.concatenate(
            [np.zeros(len(parcels.block), int), bld_number, number_of[unit_owner]]
        ),
        "unit": np.concatenate([np.zeros(len(parcels.block) + len(compound), int), unit_number]),
        "xy": np.concatenate([parcels.plate, bld_xy, unit_xy]),
    }
    frame = address_frame(rows, parcels, divisions, network, lonlat)
    building_address = rows_to_ids(len(buildings.block), parcel_of, compound, len(parcels.block))
    return AddressBook(frame, building_address, np.arange(1, len(parcels.block) + 1))


def rows_to_ids(n_buildings: int, parcel_of: Array, compound: Array, n_parcels: int) -> Array:
    """Address id per building: the 栋 row for compound buildings, the door plate otherwise."""
    ids = parcel_of + 1
    ids[compound] = n_parcels + 1 + np.arange(len(compound))
    return ids


def address_frame(
    rows: dict[str, Array],
    parcels: Parcels,
    divisions: Divisions,
    network: RoadNetwork,
    lonlat: LonLat,
) -> gpd.GeoDataFrame:
    """The basemap.address frame: full Chinese and English forms, codes, road, number, point."""
    parcel = rows["parcel"]
    place = place_of_blocks(divisions, parcels.block[parcel])
    road = parcels.road[parcel]
    number = parcels.number[parcel]
    district = [divisions.districts[d].name for d in place.district.tolist()]
    road_names = [network.names[r] for r in road.tolist()]
    building = [str(b) if b else None for b in rows["building"].tolist()]
    unit = [str(u) if u else None for u in rows["unit"].tolist()]
    full_zh, full_en = [], []
    for d, r, n, b, u in zip(district, road_names, number.tolist(), building, unit, strict=True):
        zh, en = format_address(d, r, n, b, u)
        full_zh.append(zh)
        full_en.append(en)
    return gpd.GeoDataFrame(
        {
            "id": np.arange(1, len(parcel) + 1, dtype=np.int64),
            "full_zh": full_zh,
            "full_en": full_en,
            "province": nm.PROVINCE.zh,
            "city": nm.CITY.zh,
            "district_code": [divisions.districts[i].code for i in place.district.tolist()],
            "street_code": [divisions.streets[i].code for i in place.street.tolist()],
            "community_code": [divisions.communities[i].code for i in place.community.tolist()],
            "road_zh": [name.zh for name in road_names],
            "road_en": [name.en for name in road_names],
            "house_number": number.astype(str),
            "building": building,
            "unit": unit,
            "postcode": [postcode(i) for i in place.street.tolist()],
            "source": "demo",
        },
        geometry=lonlat.points(rows["xy"]),
        crs=STORAGE_CRS,
    )


def format_address(
    district: Name, road: Name, number: int, building: str | None, unit: str | None
) -> tuple[str, str]:
    """陕西省西安市明德区兴福路88号3栋2单元 and 'Unit 2, Building 3, 88 Xingfu Road, …'."""
    zh = f"{nm.PROVINCE.zh}{nm.CITY.zh}{district.zh}{road.zh}{number}号"
    en = f"{number} {road.en}, {district.en}, {nm.CITY.en}, {nm.PROVINCE.en}"
    if building:
        zh += f"{building}栋"
        en = f"Building {building}, {en}"
    if unit:
        zh += f"{unit}单元"
        en = f"Unit {unit}, {en}"
    return zh, en


def postcode(street: int) -> str:
    """Postcode of a street (街道): 7100xx."""
    return f"7100{street % 99 + 1:02d}"


# ---------------------------------------------------------------------------- the context
@dataclass
class CityPlan:
    """Everything the point layers are placed on."""

    grid: Grid
    network: RoadNetwork
    divisions: Divisions
    blocks: Blocks
    buildings: Buildings
    parcels: Parcels
    addresses: AddressBook
    lonlat: LonLat
    book: NameBook
    profile: CityProfile

    def building_centres(self, members: Array) -> Array:
        """Centre points (local metres) of the given buildings."""
        return self.buildings.corners[members].mean(axis=1)

    def full_address(self, address_id: int) -> str:
        """The Chinese full address of an address id."""
        return str(self.addresses.frame["full_zh"].iat[address_id - 1])


@dataclass
class PointRows:
    """Rows of a point layer collected before they become a frame."""

    columns: dict[str, list]
    xy: list[Array]

    @classmethod
    def empty(cls, *columns: str) -> PointRows:
        """No rows yet, these columns."""
        return cls({column: [] for column in columns}, [])

    def add(self, xy: Array, **values: object) -> None:
        """Append a row at a point (local metres)."""
        for column, value in values.items():
            self.columns[column].append(value)
        self.xy.append(np.asarray(xy, dtype=float))

    def frame(self, lonlat: LonLat) -> gpd.GeoDataFrame:
        """The rows as a lon/lat GeoDataFrame."""
        xy = np.array(self.xy).reshape(-1, 2)
        return gpd.GeoDataFrame(self.columns, geometry=lonlat.points(xy), crs=STORAGE_CRS)


def members_by(label: Array, count: int) -> list[Array]:
    """Indices grouped by label value 0..count-1, each group in ascending order."""
    order = np.argsort(label, kind="stable")
    bounds = np.searchsorted(label[order], np.arange(count + 1))
    return [order[bounds[k] : bounds[k + 1]] for k in range(count)]


def choose_building(
    rng: np.random.Generator, plan: CityPlan, candidates: Array, taken: set[int]
) -> int:
    """A free building among candidates, public ones first, then residential, then any."""
    free = np.array([c for c in candidates.tolist() if c not in taken], dtype=int)
    if len(free) == 0:
        free = candidates
    for use in ("public", "residential"):
        preferred = free[plan.buildings.use[free] == BUILDING_USES.index(use)]
        if len(preferred):
            free = preferred
            break
    choice = int(rng.choice(free))
    taken.add(choice)
    return choice


# ------------------------------------------------------------------------------------ POIs
POI_COLUMNS = ("name_zh", "name_en", "category", "aliases", "former_names", "address_id")


def poi_row(
    rows: PointRows,
    xy: Array,
    category: str,
    name: Name,
    aliases: list[str],
    former: list[str],
    address_id: int | None,
) -> None:
    """Append one POI row."""
    rows.add(
        xy,
        name_zh=name.zh,
        name_en=name.en,
        category=category,
        aliases=aliases,
        former_names=former,
        address_id=address_id,
    )


def fill_aliases(category: str, **parts: Name) -> list[str]:
    """The aliases (又名) of a POI category, filled with its parts."""
    return [nm.fill(Name(alias, ""), **parts).zh for alias in nm.POI_ALIASES.get(category, ())]


def former_name(rng: np.random.Generator, category: str, share: float, **parts: Name) -> list[str]:
    """A former name (曾用名) for a share of POIs of categories that have one."""
    pattern = nm.POI_FORMER_NAMES.get(category)
    if pattern is None or rng.random() >= share:
        return []
    numeral = Name(nm.chinese_numeral(int(rng.integers(1, 40))), "")
    return [nm.fill(Name(pattern, ""), n=numeral, **parts).zh]


def civic_pois(rng: np.random.Generator, plan: CityPlan, rows: PointRows, taken: set[int]) -> None:
    """Governments, subdistrict offices, police stations, residents' committees and clinics."""
    place = place_of_blocks(plan.divisions, plan.buildings.block)
    levels = (
        (plan.divisions.districts, place.district, ("government",)),
        (plan.divisions.streets, place.street, ("street_office", "police")),
        (plan.divisions.communities, place.community, ("community_committee", "clinic")),
    )
    for divisions, label, categories in levels:
        groups = members_by(label, len(divisions))
        for division, members in zip(divisions, groups, strict=True):
            if len(members) == 0:
                continue
            parts = {division.level: division.stem} | division_parents(plan, division)
            for category in categories:
                building = choose_building(rng, plan, members, taken)
                name = nm.fill(nm.POI_PATTERNS[category][0], **parts)
                poi_row(
                    rows,
                    plan.building_centres(np.array([building]))[0],
                    category,
                    name,
                    fill_aliases(category, **parts),
                    [],
                    int(plan.addresses.building_address[building]),
                )


def division_parents(plan: CityPlan, division: Division) -> dict[str, Name]:
    """Stems of a division's ancestors keyed by level, for POI patterns."""
    parts: dict[str, Name] = {}
    code = division.parent_code
    by_code = {d.code: d for d in plan.divisions.districts + plan.divisions.streets}
    while code:
        parent = by_code[code]
        parts[parent.level] = parent.stem
        code = parent.parent_code
    return parts


def unique_stem(
    plan: CityPlan, patterns: Sequence[Name], candidates: list[Name], **parts: Name
) -> tuple[Name, Name]:
    """The first (pattern, candidate stem) whose name is still free, else new stems: (stem, name)."""
    fresh = (plan.book.draw() for _ in range(50))  # drawn only when the local stems are taken
    for stem in itertools.chain(candidates, fresh):
        for pattern in patterns:
            name = nm.fill(pattern, stem=stem, **parts)
            if plan.book.claim(name.zh):
                return stem, name
    raise RuntimeError(f"no free name for {patterns[0].zh}")


def block_stems(plan: CityPlan, block: int) -> list[Name]:
    """Local stems to name a place after: its community, then the road it fronts."""
    community = plan.divisions.communities[int(plan.divisions.quad_community[block // 2])]
    road = plan.network.names[int(plan.blocks.road[block, 0])]
    road_stem = Name(road.zh[:2], road.en.split(" ")[0])
    return [community.stem, road_stem]


def largest_building(plan: CityPlan, members: Array) -> int:
    """The building with the largest footprint among members."""
    b = plan.buildings
    return int(members[np.argmax((b.width * b.depth)[members])])


def public_block_pois(
    rng: np.random.Generator, plan: CityPlan, rows: PointRows, taken: set[int]
) -> list[tuple[int, Name, int]]:
    """Schools, hospitals and cultural centres on public blocks; returns the hospitals placed."""
    hospitals: list[tuple[int, Name, int]] = []
    by_block = members_by(plan.buildings.block, len(plan.blocks.land_use))
    for block in np.flatnonzero(plan.blocks.public_role >= 0).tolist():
        role = PUBLIC_ROLES[plan.blocks.public_role[block]]
        members = by_block[block]
        if role == "offices" or len(members) == 0:
            continue
        building = largest_building(plan, members)
        taken.add(building)
        district = plan.divisions.districts[int(plan.divisions.quad_district[block // 2])]
        patterns = nm.POI_PATTERNS[role]
        first = int(rng.integers(len(patterns)))
        rotated = patterns[first:] + patterns[:first]
        stem, name = unique_stem(plan, rotated, block_stems(plan, block), district=district.stem)
        parts = {"stem": stem, "district": district.stem}
        address = int(plan.addresses.building_address[building])
        poi_row(
            rows,
            plan.building_centres(np.array([building]))[0],
            role,
            name,
            fill_aliases(role, **parts),
            former_name(rng, role, 0.3, **parts),
            address,
        )
        if role == "hospital":
            hospitals.append((building, name, address))
    return hospitals


def commercial_pois(
    rng: np.random.Generator, plan: CityPlan, rows: PointRows, taken: set[int]
) -> None:
    """Markets, supermarkets and banks in commercial blocks; kindergartens in some compounds."""
    by_block = members_by(plan.buildings.block, len(plan.blocks.land_use))
    offers = {
        COMMERCIAL: (("market", 0.35), ("supermarket", 0.6), ("bank", 0.45)),
        COMPOUND: (("kindergarten", 0.3),),
    }
    for block, land_use in enumerate(plan.blocks.land_use.tolist()):
        members = by_block[block]
        for category, share in offers.get(land_use, ()):
            if len(members) == 0 or rng.random() >= share:
                continue
            building = choose_building(rng, plan, members, taken)
            stem, name = unique_stem(plan, nm.POI_PATTERNS[category], block_stems(plan, block))
            parts = {"stem": stem}
            poi_row(
                rows,
                plan.building_centres(np.array([building]))[0],
                category,
                name,
                fill_aliases(category, **parts),
                former_name(rng, category, 0.2, **parts),
                int(plan.addresses.building_address[building]),
            )


def park_pois(
    rng: np.random.Generator, plan: CityPlan, rows: PointRows
) -> list[tuple[Array, Name, float]]:
    """A park POI in every park sub-block; returns (centre, name, open area m²) for shelters."""
    parks = []
    centres = plan.blocks.centres()
    areas = plan.blocks.areas()
    for block in np.flatnonzero(plan.blocks.land_use == PARK).tolist():
        stem, name = unique_stem(plan, nm.POI_PATTERNS["park"], block_stems(plan, block))
        parts = {"stem": stem}
        poi_row(
            rows,
            centres[block],
            "park",
            name,
            fill_aliases("park", **parts),
            former_name(rng, "park", 0.25, **parts),
            None,
        )
        parks.append((centres[block], name, float(areas[block])))
    return parks


def bus_stop_pois(rng: np.random.Generator, plan: CityPlan, rows: PointRows) -> None:
    """Bus stops on the sidewalks of arterial and secondary roads, named after the next crossing."""
    blocks, network = plan.blocks, plan.network
    served = np.flatnonzero(
        (blocks.road_class[:, 0] <= SECONDARY) & (rng.random(len(blocks.road)) < 0.3)
    )
    near_end = rng.random(len(served)) < 0.5
    t = np.where(near_end, 0.8, 0.2)
    corners = blocks.corners[served]
    normal = inward_normals(blocks.corners)[served, 0]
    offset = HALF_WIDTH[blocks.road_class[served, 0]] - 2.0
    xy = corners[:, 0] + t[:, None] * (corners[:, 1] - corners[:, 0]) + normal * offset[:, None]
    cross = np.where(near_end, blocks.road[served, 1], blocks.road[served, 3])
    for k, block in enumerate(served.tolist()):
        road, crossing = network.names[blocks.road[block, 0]], network.names[cross[k]]
        name = nm.fill(nm.POI_PATTERNS["bus_stop"][0], road=road, cross=crossing)
        poi_row(rows, xy[k], "bus_stop", name, [], [], None)


# -------------------------------------------------------------------------------- thematic
SHELTER_SHARE = 0.4  # parks designated as emergency shelters (应急避难场所)
EMERGENCY_COLUMNS = ("kind", "name_zh", "name_en", "capacity", "beds", "phone", "address_zh")


def phone_number(rng: np.random.Generator) -> str:
    """A Xi'an landline: 029-8xxxxxxx."""
    return f"029-8{int(rng.integers(0, 10_000_000)):07d}"


def emergency_facilities(
    rng: np.random.Generator,
    plan: CityPlan,
    hospitals: list[tuple[int, Name, int]],
    parks: list[tuple[Array, Name, float]],
    taken: set[int],
) -> gpd.GeoDataFrame:
    """Hospitals (beds), fire stations and shelters (capacity) of the emergency bureau."""
    rows = PointRows.empty(*EMERGENCY_COLUMNS)
    for building, name, address in hospitals:
        beds = int(rng.integers(15, 150)) * 10
        rows.add(
            plan.building_centres(np.array([building]))[0],
            kind="hospital",
            name_zh=name.zh,
            name_en=name.en,
            capacity=None,
            beds=beds,
            phone=phone_number(rng),
            address_zh=plan.full_address(address),
        )
    fire_stations(rng, plan, rows, taken)
    for centre, park, area in parks:
        if rng.random() >= SHELTER_SHARE:
            continue
        shelter = nm.fill(nm.EMERGENCY_PATTERNS["shelter"][0], place=park)
        capacity = int(round(area * 0.35 / 1.5, -2))  # open ground at 1.5 m² a person
        rows.add(
            centre,
            kind="shelter",
            name_zh=shelter.zh,
            name_en=shelter.en,
            capacity=capacity,
            beds=None,
            phone=phone_number(rng),
            address_zh=None,
        )
    frame = rows.frame(plan.lonlat)
    return frame.astype({"capacity": "Int64", "beds": "Int64"})


def fire_stations(
    rng: np.random.Generator, plan: CityPlan, rows: PointRows, taken: set[int]
) -> None:
    """Fire and rescue stations spread so each covers about 7 km²."""
    built = np.unique(plan.buildings.block)
    area_km2 = plan.blocks.areas().sum() / 1e6
    count = max(3, round(area_km2 / plan.profile.fire_station_area_km2))
    by_block = members_by(plan.buildings.block, len(plan.blocks.land_use))
    for pick in spread_seeds(rng, plan.blocks.centres()[built], count):
        block = int(built[pick])
        building = choose_building(rng, plan, by_block[block], taken)
        stem, name = unique_stem(
            plan, nm.EMERGENCY_PATTERNS["fire_station"], block_stems(plan, block)
        )
        address = int(plan.addresses.building_address[building])
        rows.add(
            plan.building_centres(np.array([building]))[0],
            kind="fire_station",
            name_zh=name.zh,
            name_en=name.en,
            capacity=None,
            beds=None,
            phone="119",
            address_zh=plan.full_address(address),
        )


PM25_BREAKPOINTS = (0.0, 35.0, 75.0, 115.0, 150.0, 250.0, 350.0, 500.0)
IAQI_BREAKPOINTS = (0.0, 50.0, 100.0, 150.0, 200.0, 300.0, 400.0, 500.0)


def aqi_from_pm25(pm25: Array) -> Array:
    """AQI from PM2.5 (µg/m³) by the HJ 633-2012 breakpoints, rounded up to an integer.

    >>> aqi_from_pm25(np.array([0.0, 35.0, 80.0, 600.0])).tolist()
    [0, 50, 107, 500]
    """
    iaqi = np.interp(np.asarray(pm25, dtype=float), PM25_BREAKPOINTS, IAQI_BREAKPOINTS)
    return np.ceil(np.round(iaqi, 6)).astype(int)


def aq_stations(rng: np.random.Generator, plan: CityPlan, count: int) -> gpd.GeoDataFrame:
    """Air-quality stations on public and park blocks, spread over the city."""
    candidates = np.flatnonzero(np.isin(plan.blocks.land_use, (PUBLIC, PARK)))
    centres = plan.blocks.centres()
    rows = PointRows.empty("code", "name_zh", "name_en")
    for pick in sorted(spread_seeds(rng, centres[candidates], count)):
        block = int(candidates[pick])
        district = plan.divisions.districts[int(plan.divisions.quad_district[block // 2])]
        _, name = unique_stem(plan, (nm.AQ_STATION_PATTERN,), block_stems(plan, block))
        code = f"AQ{district.code}{len(rows.xy) + 1:02d}"
        rows.add(centres[block], code=code, name_zh=name.zh, name_en=name.en)
    return rows.frame(plan.lonlat)


def diurnal_pm25(rng: np.random.Generator, stations: int) -> Array:
    """Hourly PM2.5 (stations, hours): a multi-day episode, morning and night peaks, noise."""
    hours = np.arange(READING_HOURS)
    hour_of_day = hours % 24
    daily = np.empty(7)
    level = rng.normal(0.0, 0.5)
    for day in range(7):
        level = 0.7 * level + rng.normal(0.0, 0.35)
        daily[day] = 70.0 * np.exp(level)
    trend = np.interp(hours / 24.0, np.arange(7) + 0.5, daily)
    shape = (
        1.0
        + 0.25 * np.cos(2 * np.pi * (hour_of_day - 23) / 24)
        + 0.15 * np.exp(-((hour_of_day - 8.5) ** 2) / 3.0)
    )
    station = rng.uniform(0.85, 1.2, (stations, 1))
    noise = np.empty((stations, READING_HOURS))
    noise[:, 0] = rng.normal(0.0, 0.12, stations)
    for hour in range(1, READING_HOURS):
        noise[:, hour] = 0.8 * noise[:, hour - 1] + rng.normal(0.0, 0.07, stations)
    return np.round(np.maximum(3.0, trend * shape * station * np.exp(noise)), 1)


def aq_readings(rng: np.random.Generator, stations: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A week of hourly readings at every station; AQI from PM2.5."""
    n = len(stations)
    pm25 = diurnal_pm25(rng, n)
    hour = np.arange(READING_HOURS) % 24
    rush = np.exp(-((hour - 8.0) ** 2) / 2.0) + np.exp(-((hour - 18.5) ** 2) / 2.5)
    no2 = (
        25.0 + 30.0 * rush * rng.uniform(0.7, 1.3, (n, 1)) + rng.normal(0, 4.0, (n, READING_HOURS))
    )
    sun = np.clip(np.sin(np.pi * (hour - 9) / 9), 0.0, None)
    o3 = 12.0 + 55.0 * sun * rng.uniform(0.8, 1.2, (n, 1)) + rng.normal(0, 4.0, (n, READING_HOURS))
    pm10 = pm25 * rng.uniform(1.4, 1.9, (n, 1)) * np.exp(rng.normal(0, 0.05, (n, READING_HOURS)))
    times = pd.date_range(READINGS_START, periods=READING_HOURS, freq="h")
    frame = gpd.GeoDataFrame(
        {
            "station_code": np.repeat(stations["code"].to_numpy(), READING_HOURS),
            "observed_at": np.tile(times, n),
            "aqi": aqi_from_pm25(pm25.ravel()),
            "pm2_5": pm25.ravel(),
            "pm10": np.round(pm10, 1).ravel(),
            "no2": np.round(np.maximum(no2, 2.0), 1).ravel(),
            "o3": np.round(np.maximum(o3, 2.0), 1).ravel(),
        },
        geometry=np.repeat(stations.geometry.to_numpy(), READING_HOURS),
        crs=STORAGE_CRS,
    )
    frame["observed_at"] = pd.DatetimeIndex(frame["observed_at"]).tz_convert(READINGS_START.tz)
    return frame


def city_components(rng: np.random.Generator, plan: CityPlan, count: int) -> gpd.GeoDataFrame:
    """Manhole covers, street lamps, litter bins… on the sidewalks, in the block's community."""
    blocks = plan.blocks
    lengths = np.hypot(*(np.roll(blocks.corners, -1, axis=1) - blocks.corners).transpose(2, 0, 1))
    weights = lengths.ravel() / lengths.sum()
    pick = rng.choice(len(weights), size=count, p=weights)
    block, edge = pick // 4, pick % 4
    t = rng.uniform(0.15, 0.85, count)
    p, q = blocks.corners[block, edge], blocks.corners[block, (edge + 1) % 4]
    normal = inward_normals(blocks.corners)[block, edge]
    offset = np.maximum(HALF_WIDTH[blocks.road_class[block, edge]] - 1.5, 1.5)
    xy = p + t[:, None] * (q - p) + normal * offset[:, None]
    shares = np.array([share for _, _, share in nm.CITY_COMPONENT_CATEGORIES])
    category = rng.choice(len(shares), size=count, p=shares / shares.sum())
    statuses = [status for status, _ in nm.COMPONENT_STATUSES]
    status = rng.choice(len(statuses), size=count, p=[share for _, share in nm.COMPONENT_STATUSES])
    community = plan.divisions.quad_community[block // 2]
    road = [plan.network.names[r] for r in blocks.road[block, edge].tolist()]
    kinds = [nm.CITY_COMPONENT_CATEGORIES[c] for c in category.tolist()]
    return gpd.GeoDataFrame(
        {
            "category_code": [code for code, _, _ in kinds],
            "name_zh": [r.zh + k[1].zh for r, k in zip(road, kinds, strict=True)],
            "name_en": [
                f"{k[1].en.capitalize()}, {r.en}" for r, k in zip(road, kinds, strict=True)
            ],
            "status": [statuses[s] for s in status.tolist()],
            "community_code": [plan.divisions.communities[c].code for c in community.tolist()],
        },
        geometry=plan.lonlat.points(xy),
        crs=STORAGE_CRS,
    )


# ---------------------------------------------------------------------------------- frames
def division_frame(plan: CityPlan, population: Array) -> gpd.GeoDataFrame:
    """basemap.admin_division: districts, streets then communities, with summed population."""
    divisions = plan.divisions
    quads = plan.grid.city_quads()
    polygons = shapely.polygons(
        np.concatenate([(c := plan.grid.quad_corners(quads)), c[:, :1]], axis=1)
    )
    levels = (
        (divisions.districts, divisions.quad_district),
        (divisions.streets, divisions.quad_street),
        (divisions.communities, divisions.quad_community),
    )
    community_pop = (
        np.bincount(
            place_of_blocks(divisions, plan.buildings.block).community,
            weights=population,
            minlength=len(divisions.communities),
        )
        .round()
        .astype(int)
    )
    street_pop = np.bincount(
        divisions.community_street, weights=community_pop, minlength=len(divisions.streets)
    )
    district_pop = np.bincount(
        divisions.street_district, weights=street_pop, minlength=len(divisions.districts)
    )
    pops = (district_pop.astype(int), street_pop.astype(int), community_pop)
    records, geometries = [], []
    for (level_divisions, label), pop in zip(levels, pops, strict=True):
        geometries.extend(division_geometries(polygons, label, len(level_divisions)))
        for division, people in zip(level_divisions, pop.tolist(), strict=True):
            records.append(
                (
                    division.code,
                    division.level,
                    division.parent_code,
                    division.name.zh,
                    division.name.en,
                    people,
                )
            )
    frame = pd.DataFrame(
        records, columns=["code", "level", "parent_code", "name_zh", "name_en", "population"]
    )
    # the ancestors' codes (GB/T 2260: 6 district + 3 street + 3 community digits)
    frame["district_code"] = frame["code"].str[:6]
    frame["street_code"] = frame["code"].str[:9].where(frame["level"] != "district")
    return gpd.GeoDataFrame(
        frame, geometry=plan.lonlat.geometries(np.array(geometries)), crs=STORAGE_CRS
    )


def residents(plan: CityPlan) -> Array:
    """People living in each building: floor area over m² per resident of its land use."""
    b = plan.buildings
    per_resident = np.array(
        [
            BUILDING_TYPES[u].m2_per_resident if u in BUILDING_TYPES else 0.0
            for u in range(len(LAND_USES))
        ]
    )
    m2 = per_resident[plan.blocks.land_use[b.block]]
    floor_area = b.width * b.depth * b.floors
    return np.where(m2 > 0, floor_area / np.where(m2 > 0, m2, 1.0), 0.0)


def road_frame(plan: CityPlan) -> gpd.GeoDataFrame:
    """basemap.road: grid edges split at cross-road junctions, then the cross roads."""
    grid, network, divisions = plan.grid, plan.network, plan.divisions
    parts = [
        grid_edge_segments(grid, network, "sn"),
        grid_edge_segments(grid, network, "we"),
        cross_road_segments(grid, network),
    ]
    ends = np.concatenate([p[0] for p in parts])
    name_id = np.concatenate([p[1] for p in parts])
    quad = np.concatenate([p[2] for p in parts])
    quad_index = np.full(grid.shape, -1)
    city = grid.city_quads()
    quad_index[city[:, 0], city[:, 1]] = np.arange(len(city))
    district = divisions.quad_district[quad_index[quad[:, 0], quad[:, 1]]]
    road_class = np.array(network.classes)[name_id]
    return gpd.GeoDataFrame(
        {
            "name_zh": [network.names[i].zh for i in name_id.tolist()],
            "name_en": [network.names[i].en for i in name_id.tolist()],
            "road_class": [ROAD_CLASSES[c].name for c in road_class.tolist()],
            "lanes": np.array(network.lanes)[name_id],
            "speed_kmh": np.array([c.speed_kmh for c in ROAD_CLASSES])[road_class],
            "district_code": [divisions.districts[d].code for d in district.tolist()],
            "oneway": np.zeros(len(name_id), dtype=np.int16),  # the demo's streets run both ways
        },
        geometry=plan.lonlat.lines(ends),
        crs=STORAGE_CRS,
    )


def grid_edge_segments(grid: Grid, network: RoadNetwork, axis: str) -> tuple[Array, Array, Array]:
    """Segments (n, 2, 2) of one family of grid edges in the city, split where a cross road joins."""
    city = np.pad(grid.in_city, 1)
    joins = np.pad(grid.in_city & (grid.cross_we if axis == "sn" else ~grid.cross_we), 1)
    if axis == "sn":  # edge (a, b) between quads (a-1, b) and (a, b)
        exists, split = city[:-1, 1:-1] | city[1:, 1:-1], joins[:-1, 1:-1] | joins[1:, 1:-1]
        start, end, mid = grid.nodes[:, :-1], grid.nodes[:, 1:], grid.split_sn
        names, own = network.sn_name, city[1:, 1:-1]
        quad_offset = np.array([-1, 0])
    else:  # edge (a, b) between quads (a, b-1) and (a, b)
        exists, split = city[1:-1, :-1] | city[1:-1, 1:], joins[1:-1, :-1] | joins[1:-1, 1:]
        start, end, mid = grid.nodes[:-1, :], grid.nodes[1:, :], grid.split_we
        names, own = network.we_name, city[1:-1, 1:]
        quad_offset = np.array([0, -1])
    edges = np.argwhere(exists)
    a, b = edges[:, 0], edges[:, 1]
    quad = np.where(own[a, b][:, None], edges, edges + quad_offset)
    halves = split[a, b]
    whole = np.stack([start[a, b], end[a, b]], axis=1)
    first = np.stack([start[a, b], mid[a, b]], axis=1)
    second = np.stack([mid[a, b], end[a, b]], axis=1)
    segments = np.where(halves[:, None, None], first, whole)
    extra = np.flatnonzero(halves)
    order = np.argsort(np.concatenate([np.arange(len(edges)), extra]), kind="stable")
    all_segments = np.concatenate([segments, second[extra]])[order]
    all_names = np.concatenate([names[a, b], names[a, b][extra]])[order]
    all_quads = np.concatenate([quad, quad[extra]])[order]
    return all_segments, all_names, all_quads


def cross_road_segments(grid: Grid, network: RoadNetwork) -> tuple[Array, Array, Array]:
    """One segment per city quad: its cross road."""
    quads = grid.city_quads()
    start, end = cross_segments(grid, quads)
    return np.stack([start, end], axis=1), network.cross_name[quads[:, 0], quads[:, 1]], quads


def building_frame(plan: CityPlan) -> gpd.GeoDataFrame:
    """basemap.building with its community and door-plate link."""
    b = plan.buildings
    community = plan.divisions.quad_community[b.block // 2]
    codes = np.array([c.code for c in plan.divisions.communities], dtype=object)
    uses = np.array(BUILDING_USES, dtype=object)
    return gpd.GeoDataFrame(
        {
            "use": uses[b.use],
            "floors": b.floors,
            "height_m": b.height_m,
            "community_code": codes[community],
            "address_id": plan.addresses.building_address.astype(np.int64),
            "name": None,
        },
        geometry=plan.lonlat.quads(b.corners),
        crs=STORAGE_CRS,
    )


def land_cover_frame(rng: np.random.Generator, plan: CityPlan) -> gpd.GeoDataFrame:
    """Ground cover of every sub-block, plus ponds in a third of the parks (for imagery)."""
    blocks = plan.blocks
    parks = np.flatnonzero(blocks.land_use == PARK)
    ponds = parks[rng.random(len(parks)) < 0.35]
    radius = np.sqrt(blocks.areas()[ponds]) * rng.uniform(0.12, 0.22, len(ponds))
    stretch = rng.uniform(0.6, 1.0, len(ponds))
    angle = np.linspace(0.0, 2 * np.pi, 33)
    ring = np.stack(
        [
            np.cos(angle)[None, :] * radius[:, None],
            np.sin(angle)[None, :] * (radius * stretch)[:, None],
        ],
        axis=-1,
    )
    ring[:, -1] = ring[:, 0]
    ellipses = shapely.polygons(plan.lonlat.coords(ring + blocks.centres()[ponds][:, None]))
    geometry = np.concatenate([plan.lonlat.quads(blocks.corners), ellipses])
    cover = [LAND_USES[u] for u in blocks.land_use.tolist()] + ["water"] * len(ponds)
    return gpd.GeoDataFrame({"cover": cover}, geometry=geometry, crs=STORAGE_CRS)


def poi_frame(rows: PointRows, lonlat: LonLat) -> gpd.GeoDataFrame:
    """basemap.poi, with a nullable address id (parks and bus stops have none)."""
    frame = rows.frame(lonlat)
    return frame.astype({"address_id": "Int64"})


# ------------------------------------------------------------------------------- the city
def generate_city(
    size: str = "small", seed: int = 42, *, on_stage: Stage | None = None
) -> DemoCity:
    """The demo city of a size and seed; ``on_stage`` hears the name of each stage as it starts."""
    profile = profile_for(size)
    stage = on_stage or (lambda _name: None)
    rng = np.random.default_rng(seed)
    book = NameBook(rng, reserved=[stem.zh for stem in nm.DISTRICT_STEMS])
    stage(GENERATION_STAGES[0])
    grid = build_grid(rng, profile)
    stage(GENERATION_STAGES[1])
    network = name_roads(rng, grid, book)
    stage(GENERATION_STAGES[2])
    divisions = partition(rng, grid, profile, book)
    stage(GENERATION_STAGES[3])
    blocks = build_blocks(rng, grid, network, profile)
    stage(GENERATION_STAGES[4])
    buildings = place_buildings(rng, blocks)
    stage(GENERATION_STAGES[5])
    parcels = make_parcels(rng, blocks, buildings)
    lonlat = LonLat()
    addresses = build_addresses(blocks, buildings, parcels, divisions, network, lonlat)
    plan = CityPlan(
        grid, network, divisions, blocks, buildings, parcels, addresses, lonlat, book, profile
    )
    return assemble(rng, plan, size, seed, stage)


def assemble(
    rng: np.random.Generator, plan: CityPlan, size: str, seed: int, stage: Stage
) -> DemoCity:
    """Place the point layers on the plan and turn everything into frames."""
    stage(GENERATION_STAGES[6])
    taken: set[int] = set()
    pois = PointRows.empty(*POI_COLUMNS)
    civic_pois(rng, plan, pois, taken)
    hospitals = public_block_pois(rng, plan, pois, taken)
    commercial_pois(rng, plan, pois, taken)
    parks = park_pois(rng, plan, pois)
    bus_stop_pois(rng, plan, pois)
    stage(GENERATION_STAGES[7])
    emergency = emergency_facilities(rng, plan, hospitals, parks, taken)
    profile = plan.profile
    stations = aq_stations(
        rng, plan, int(rng.integers(profile.aq_stations[0], profile.aq_stations[1] + 1))
    )
    readings = aq_readings(rng, stations)
    components = city_components(rng, plan, int(rng.integers(*profile.city_components)))
    stage(GENERATION_STAGES[8])
    return DemoCity(
        size=size,
        seed=seed,
        admin_division=division_frame(plan, residents(plan)),
        address=plan.addresses.frame,
        road=road_frame(plan),
        building=building_frame(plan),
        poi=poi_frame(pois, plan.lonlat),
        emergency_facility=emergency,
        aq_station=stations,
        aq_reading=readings,
        city_component=components,
        land_cover=land_cover_frame(rng, plan),
    )
