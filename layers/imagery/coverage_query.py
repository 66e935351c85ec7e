"""What a coverage request asks of one coverage: the area, the CRS of its numbers, the output grid.

Axis names (any case): ``x``/``E``/``easting`` and ``y``/``N``/``northing`` are the stored grid's
axes, in its CRS; ``Lon``/``Long``/``longitude`` and ``Lat``/``latitude`` are degrees, CRS84 (the
stored CRS when that is geographic). ``subset-crs`` says which CRS subset numbers are in; either
spelling then names its east and north axes.

Without ``scaleSize``/``scaleAxes``/``scaleFactor`` the answer is the stored pixels that cover
the area, nothing resampled. With one of them it is an output grid: in lon/lat when the scale
names Lon/Lat axes (the grid the domain set advertises, and the one GDAL's OGCAPI driver asks
for), otherwise in the stored CRS; its size is ``scaleSize``'s, else the natural size (the
area at the grid's own resolution) divided by the factors. What that grid may cost is the
render budget's decision (``layers.imagery.budget``), before a pixel is read.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache

from rasterio.crs import CRS
from rasterio.errors import RasterioError
from rasterio.warp import calculate_default_transform, transform_bounds

from layers.imagery.coverage import CoverageGrid
from spatial.coverage_params import CoverageQuery, Interval
from spatial.crs import CRS84_URI, parse_crs
from spatial.errors import InvalidInput
from spatial.params import bbox_numbers

BBox = tuple[float, float, float, float]
LONLAT = CRS.from_epsg(4326)  # rasterio keeps x = longitude: the grid of CRS84
EAST, NORTH = "east", "north"
STORED_NAMES = {"x": EAST, "e": EAST, "easting": EAST, "y": NORTH, "n": NORTH, "northing": NORTH}
DEGREE_NAMES = {"lon": EAST, "long": EAST, "longitude": EAST, "lat": NORTH, "latitude": NORTH}


@dataclass(frozen=True)
class OutputGrid:
    """The grid an answer is resampled onto: bounds in ``crs``, ``width`` × ``height`` cells."""

    bounds: BBox
    crs: CRS
    width: int
    height: int


@dataclass(frozen=True)
class CoveragePlan:
    """An area (None: all of it) in ``area_crs``, and the output grid (None: the stored pixels)."""

    area: BBox | None
    area_crs: str
    output: OutputGrid | None

    def lonlat_area(self) -> BBox | None:
        """The area in lon/lat, to pick the scenes that meet it."""
        return None if self.area is None else _transform_box(self.area, self.area_crs, CRS84_URI)


@dataclass(frozen=True)
class LonLatDomain:
    """A coverage's grid as seen in CRS84 at about its own resolution (what the domain set shows)."""

    bounds: BBox
    resolution: tuple[float, float]
    width: int
    height: int


def axis_names() -> tuple[str, ...]:
    """Every axis name a subset or scale may use, in the spellings pygeoapi compares exactly."""
    names = [*STORED_NAMES, *DEGREE_NAMES]
    return tuple(sorted({v for n in names for v in (n, n.upper(), n.capitalize())}))


def plan_coverage(
    grid: CoverageGrid, query: CoverageQuery, bbox: list | None = None, bbox_crs: str | None = None
) -> CoveragePlan:
    """The area and output grid ``query`` (and a bbox) ask of ``grid``; InvalidInput when they cannot."""
    if bbox and query.subsets:
        raise InvalidInput("bbox and subset are exclusive: give one of them")
    if bbox:
        area: BBox | None = tuple(bbox_numbers(bbox))  # type: ignore[assignment]
        area_crs = bbox_crs or CRS84_URI
    elif query.subsets:
        area_crs = _subset_crs(grid, query)
        area = _subset_box(grid, query.subsets, area_crs)
    else:
        area, area_crs = None, grid.crs_uri
    output = _output_grid(grid, query, area, area_crs) if query.scaled else None
    return CoveragePlan(area, area_crs, output)


def lonlat_domain(grid: CoverageGrid) -> LonLatDomain:
    """The grid in CRS84, its cells about as fine as the stored ones."""
    return _lonlat_domain(grid.crs_uri, grid.width, grid.height, grid.bounds)


@lru_cache(maxsize=64)
def _lonlat_domain(crs_uri: str, width: int, height: int, bounds: BBox) -> LonLatDomain:
    transform, cols, rows = calculate_default_transform(_crs(crs_uri), LONLAT, width, height, *bounds)
    xres, yres = transform.a, -transform.e
    left, top = transform.c, transform.f
    return LonLatDomain((left, top - rows * yres, left + cols * xres, top), (xres, yres), cols, rows)


# ------------------------------------------------------------------------------ the area
def _roles(names: list[str], what: str, grid: CoverageGrid) -> tuple[dict[str, str], bool]:
    """Each axis name's direction (east/north), and whether the names are of degrees."""
    roles, degrees = {}, set()
    for name in names:
        key = name.lower()
        if key not in STORED_NAMES and key not in DEGREE_NAMES:
            raise InvalidInput(
                f"{what} axis {name[:30]!r} is not an axis of this coverage: use Lon/Lat (degrees) or x/y "
                f"(its stored CRS, {grid.crs_uri[:60]})"
            )
        roles[name] = STORED_NAMES.get(key) or DEGREE_NAMES[key]
        degrees.add(key in DEGREE_NAMES)
    if len(degrees) > 1:
        raise InvalidInput(f"{what} mixes Lon/Lat with x/y axes: name both axes in one system")
    if len(set(roles.values())) < len(roles):
        raise InvalidInput(f"{what} names the same axis twice ({', '.join(roles)})")
    return roles, degrees == {True}


def _subset_crs(grid: CoverageGrid, query: CoverageQuery) -> str:
    """The CRS of the subset numbers: subset-crs, else CRS84 for Lon/Lat names, else the stored one."""
    _, degrees = _roles(list(query.subsets), "subset", grid)
    if query.subset_crs is not None:
        if degrees and not parse_crs(query.subset_crs).is_geographic:
            raise InvalidInput("subset-crs is projected: name its axes x/y (Lon/Lat are degrees)")
        return query.subset_crs
    return CRS84_URI if degrees and not grid.geographic else grid.crs_uri


def _subset_box(grid: CoverageGrid, subsets: dict[str, Interval], crs: str) -> BBox:
    """The subset's box in ``crs``; axes or ends left open take the coverage's own extent."""
    roles, _ = _roles(list(subsets), "subset", grid)
    full = _transform_box(grid.bounds, grid.crs_uri, crs)
    ends = {EAST: (full[0], full[2]), NORTH: (full[1], full[3])}
    for name, (low, high) in subsets.items():
        default = ends[roles[name]]
        ends[roles[name]] = (default[0] if low is None else low, default[1] if high is None else high)
    (west, east), (south, north) = ends[EAST], ends[NORTH]
    if west >= east or south >= north:
        raise InvalidInput(f"subset [{west:g}, {south:g}, {east:g}, {north:g}] is empty once open ends are filled")
    return (west, south, east, north)


# ------------------------------------------------------------------------------ the output grid
def _output_grid(grid: CoverageGrid, query: CoverageQuery, area: BBox | None, area_crs: str) -> OutputGrid:
    scale_names = list(query.scale_size or query.scale_axes)
    roles, degrees = _roles(scale_names, "scaleSize" if query.scale_size else "scaleAxes", grid)
    if degrees and not grid.geographic:
        domain = lonlat_domain(grid)
        crs, uri, full, resolution = LONLAT, CRS84_URI, domain.bounds, domain.resolution
    else:
        crs, uri, full, resolution = _crs(grid.crs_uri), grid.crs_uri, grid.bounds, grid.resolution
    bounds = full if area is None else _transform_box(area, area_crs, uri)
    _check_overlap(bounds, full, area)
    natural = (
        max(1, round((bounds[2] - bounds[0]) / resolution[0])),
        max(1, round((bounds[3] - bounds[1]) / resolution[1])),
    )
    width, height = _size(query, roles, natural)
    return OutputGrid(bounds, crs, width, height)


def _size(query: CoverageQuery, roles: dict[str, str], natural: tuple[int, int]) -> tuple[int, int]:
    """Cells east and north: scaleSize's, else the natural size divided by the factors."""
    by_role = {roles[name]: value for name, value in (query.scale_size or query.scale_axes).items()}
    if query.scale_size:
        return (int(by_role.get(EAST, natural[0])), int(by_role.get(NORTH, natural[1])))
    factors = (query.scale_factor,) * 2 if query.scale_factor else (by_role.get(EAST, 1.0), by_role.get(NORTH, 1.0))
    return (max(1, round(natural[0] / factors[0])), max(1, round(natural[1] / factors[1])))


def _check_overlap(bounds: BBox, full: BBox, area: BBox | None) -> None:
    if bounds[0] >= full[2] or bounds[2] <= full[0] or bounds[1] >= full[3] or bounds[3] <= full[1]:
        shown = [round(v, 6) for v in (area or bounds)]
        raise InvalidInput(f"the area {shown} does not overlap the coverage")


# ------------------------------------------------------------------------------ CRSs
def _crs(value: str) -> CRS:
    """A rasterio CRS from a URI, 'CRS84' or WKT (``spatial.crs.parse_crs`` reads it)."""
    if value == CRS84_URI:
        return LONLAT
    return CRS.from_user_input(parse_crs(value).to_wkt())


def _transform_box(box: BBox, source: str, target: str) -> BBox:
    """``box`` from CRS ``source`` to ``target`` (edges densified); InvalidInput when it cannot be."""
    source_crs, target_crs = _crs(source), _crs(target)
    if source_crs == target_crs:
        return box
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            moved = transform_bounds(source_crs, target_crs, *box, densify_pts=21)
        except RasterioError:
            raise InvalidInput(f"the area {list(box)} cannot be transformed to {target[:60]}") from None
    if not all(math.isfinite(v) for v in moved):
        raise InvalidInput(f"the area {list(box)} lies outside what {target[:60]} can represent")
    return (moved[0], moved[1], moved[2], moved[3])
