"""Divisions' geometry in metres: which parent holds a child, children inside their parent,
siblings that overlap, parents their children leave uncovered.

Areas and distances are taken in a Lambert azimuthal equal-area projection centred on the city
(areas exact, distances within a fraction of a percent across a city). Candidate pairs come from
an STRtree, so a city of thousands of communities is checked in vectorised shapely calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS, Transformer

from layers.city.report import CityReport

if TYPE_CHECKING:
    from layers.city.divisions import Level

NOISE_M2 = 1.0
"""Area left outside a parent below this is arithmetic, not geography."""
MOSTLY = 0.5


def metric_crs(frames: list[gpd.GeoDataFrame]) -> CRS:
    """An equal-area CRS in metres centred on the frames' lon/lat extent."""
    bounds = np.array([frame.total_bounds for frame in frames] or [[np.nan] * 4])
    bounds = bounds[np.isfinite(bounds).all(axis=1)]
    lon, lat = 0.0, 0.0
    if len(bounds):
        lon = (bounds[:, 0].min() + bounds[:, 2].max()) / 2
        lat = (bounds[:, 1].min() + bounds[:, 3].max()) / 2
    return CRS.from_proj4(f"+proj=laea +lat_0={lat:.6f} +lon_0={lon:.6f} +datum=WGS84 +units=m")


def to_metric(lonlat: np.ndarray, crs: CRS) -> np.ndarray:
    """Lon/lat geometries in the metric CRS, repaired where projecting bent them invalid."""
    metric = gpd.GeoSeries(lonlat, crs=4326).to_crs(crs).to_numpy()
    invalid = ~shapely.is_valid(metric)
    metric[invalid] = shapely.make_valid(metric[invalid])
    return metric


def largest_overlaps(children: np.ndarray, parents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each child: the parent sharing the most area with it (-1: none), and that share."""
    child_at, parent_at = shapely.STRtree(parents).query(children, predicate="intersects")
    areas = shapely.area(shapely.intersection(children[child_at], parents[parent_at]))
    order = np.lexsort((parent_at, -areas, child_at))  # per child: largest area, then first parent
    first = order[np.unique(child_at[order], return_index=True)[1]]
    first = first[areas[first] > 0]
    best = np.full(len(children), -1)
    share = np.zeros(len(children))
    best[child_at[first]] = parent_at[first]
    share[child_at[first]] = areas[first] / shapely.area(children[child_at[first]])
    return best, share


def parents_by_containment(level: Level, parent: Level, report: CityReport) -> None:
    """Each child's parent: the division of the level above it shares the most area with."""
    positions, _ = largest_overlaps(level.metric, parent.metric)
    codes = parent.rows["code"].to_numpy()
    level.rows["parent_pos"] = positions
    level.rows["parent_code"] = [codes[p] if p >= 0 else None for p in positions]
    orphans = np.flatnonzero(positions < 0)
    if len(orphans):
        report.error(level.section, f"lies in no {parent.word}", features=level.labels(orphans))


def check_inside(level: Level, parent: Level, tolerance_m: float, report: CityReport) -> None:
    """An error for each child reaching further out of its parent than the tolerance."""
    positions = level.rows["parent_pos"].to_numpy()
    placed = np.flatnonzero(positions >= 0)
    grown = shapely.buffer(parent.metric, tolerance_m) if tolerance_m > 0 else parent.metric
    outside = shapely.area(shapely.difference(level.metric[placed], grown[positions[placed]]))
    beyond, areas = placed[outside > NOISE_M2], outside[outside > NOISE_M2]
    codes = parent.rows["code"].to_numpy()
    lying = lying_elsewhere(level, parent, beyond)
    for child, area, other in zip(beyond, areas, lying, strict=True):
        message = (
            f"lies outside its parent {codes[positions[child]]} by {area:,.0f} m² "
            f"(tolerance outside_parent_m = {tolerance_m:g} m)"
        )
        if other:
            message += f"; its code says parent {codes[positions[child]]} but it lies in {other}"
        report.error(level.section, message, features=level.labels([child]))


def lying_elsewhere(level: Level, parent: Level, children: np.ndarray) -> list[str]:
    """For children placed by code prefix: 'B (80 % of its area)' where mostly in another parent."""
    if level.spec.parent.by != "code_prefix":
        return [""] * len(children)
    lying, share = largest_overlaps(level.metric[children], parent.metric)
    stated = level.rows["parent_pos"].to_numpy()[children]
    codes = parent.rows["code"].to_numpy()
    return [
        f"{codes[where]} ({part:.0%} of its area)"
        if where not in (-1, said) and part > MOSTLY
        else ""
        for where, part, said in zip(lying, share, stated, strict=True)
    ]


def check_overlaps(level: Level, top: bool, tolerance_m2: float, report: CityReport) -> None:
    """An error for each pair of siblings (same parent, or both on top) overlapping too much."""
    left, right = shapely.STRtree(level.metric).query(level.metric, predicate="intersects")
    parents = level.rows["parent_pos"].to_numpy()
    pairs = (left < right) & (parents[left] == parents[right]) & (top | (parents[left] >= 0))
    left, right = left[pairs], right[pairs]
    areas = shapely.area(shapely.intersection(level.metric[left], level.metric[right]))
    for one, other, area in zip(left, right, areas, strict=True):
        if area > tolerance_m2:
            report.error(
                level.section,
                f"overlap by {area:,.0f} m² (tolerance overlap_m2 = {tolerance_m2:,.0f} m²)",
                features=level.labels([one, other]),
            )


def check_gaps(level: Level, parent: Level, tolerance_m2: float, report: CityReport) -> None:
    """A warning for each parent holding holes its children leave, each larger than the tolerance."""
    positions = level.rows["parent_pos"].to_numpy()
    to_lonlat = Transformer.from_crs(level.crs, 4326, always_xy=True)
    for owner in np.unique(positions[positions >= 0]):
        covered = shapely.union_all(level.metric[positions == owner])
        holes = shapely.get_parts(shapely.difference(parent.metric[owner], covered))
        areas = shapely.area(holes)
        if not (areas > tolerance_m2).any():
            continue
        largest = shapely.get_coordinates(shapely.point_on_surface(holes[np.argmax(areas)]))[0]
        lon, lat = to_lonlat.transform(*largest)
        big = areas[areas > tolerance_m2]
        report.warning(
            level.section,
            f"{len(big)} part(s) covered by no {level.word}, each over "
            f"gap_m2 = {tolerance_m2:,.0f} m²: {big.sum():,.0f} m² in all, the largest "
            f"{big.max():,.0f} m² near {lon:.5f}, {lat:.5f}",
            features=parent.labels([owner]),
        )
