"""Coverage subsets of imagery, encoded as GeoTIFF or CoverageJSON: the stored pixels of a bbox (any
CRS) read from the COG, or the coverage resampled onto an output grid through the render planner
(``layers.imagery.mosaic``), so ``scaleSize`` requests cost what the render budget allows.

Used by the OGC API Coverages provider and, later, by zonal statistics: nothing here knows HTTP.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader, MemoryFile
from rasterio.transform import from_bounds
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from layers.imagery.budget import RenderBudget
from layers.imagery.describe import band_name
from layers.imagery.mosaic import read_grid
from layers.imagery.readers import GDAL_ENV
from layers.imagery.remote import RemoteCOG, remote_reads, unavailable
from spatial.crs import CRS84_URI, EPSG_URI, parse_crs
from spatial.errors import BudgetExceeded, InvalidInput, NotFound, PayloadTooLarge
from spatial.params import bbox_numbers

MAX_JSON_VALUES = 4_000_000  # CoverageJSON is text: beyond this, ask for a smaller bbox
MAX_TIFF_CELLS = 4096 * 4096  # default of ONEMAP_MAX_SOURCE_PIXELS: the doors pass the setting
BBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class CoverageGrid:
    """The grid of a coverage: CRS, axes, size, resolution, bounds and bands."""

    crs_uri: str
    geographic: bool
    width: int
    height: int
    resolution: tuple[float, float]
    bounds: BBox
    bands: tuple[tuple[int, str, str], ...]  # (index, name, dtype)

    @property
    def axes(self) -> tuple[str, str]:
        """Axis names for ``subset=``: Lon/Lat for geographic grids, x/y for projected ones."""
        return ("Lon", "Lat") if self.geographic else ("x", "y")


@dataclass
class CoverageSubset:
    """Pixels of a window of a coverage, masked where there is no data."""

    data: np.ma.MaskedArray
    transform: Affine
    crs: CRS
    names: tuple[str, ...]
    nodata: float | None

    @property
    def bounds(self) -> BBox:
        height, width = self.data.shape[1:]
        left, top = self.transform @ (0, 0)
        right, bottom = self.transform @ (width, height)
        return (left, bottom, right, top)


def crs_uri(crs: CRS) -> str:
    """The OGC URI of a CRS: CRS84 for WGS84 lon/lat, else EPSG/0/<code>."""
    epsg = crs.to_epsg()
    if epsg == 4326:
        return CRS84_URI
    return EPSG_URI.format(code=epsg) if epsg else crs.to_wkt()


def open_coverage(path: Path) -> DatasetReader:
    """Open a stored COG; NotFound when the file is gone (503 when a remote scene's server fails)."""
    try:
        with rasterio.Env(**GDAL_ENV):
            return rasterio.open(path)
    except RasterioError as err:
        if isinstance(path, RemoteCOG):
            raise unavailable(path, err) from None
        raise NotFound(f"the imagery file {path.name} is missing or unreadable") from None


@remote_reads
def coverage_grid(path: Path) -> CoverageGrid:
    """What a coverage looks like, without reading pixels."""
    with open_coverage(path) as dataset:
        return CoverageGrid(
            crs_uri=crs_uri(dataset.crs),
            geographic=bool(dataset.crs.is_geographic),
            width=dataset.width,
            height=dataset.height,
            resolution=(abs(dataset.res[0]), abs(dataset.res[1])),
            bounds=tuple(dataset.bounds),
            bands=tuple((i, band_name(dataset, i), dataset.dtypes[i - 1]) for i in dataset.indexes),
        )


def subset_window(
    dataset: DatasetReader, bbox: Sequence[float], bbox_crs: str | int | None = None
) -> Window:
    """The pixel window covering ``bbox`` (lon/lat unless ``bbox_crs``); InvalidInput if outside."""
    left, bottom, right, top = _native_bbox(dataset, bbox, bbox_crs)
    inverse = ~dataset.transform
    col0, row0 = inverse @ (left, top)
    col1, row1 = inverse @ (right, bottom)
    eps = 1e-6
    col0, row0 = max(0, math.floor(col0 + eps)), max(0, math.floor(row0 + eps))
    col1, row1 = (
        min(dataset.width, math.ceil(col1 - eps)),
        min(dataset.height, math.ceil(row1 - eps)),
    )
    if col1 <= col0 or row1 <= row0:
        raise InvalidInput(
            f"bbox {list(bbox)} does not overlap the layer, whose extent is "
            f"{[round(v, 6) for v in _lonlat_bounds(dataset)]} (lon/lat)"
        )
    return Window(col0, row0, col1 - col0, row1 - row0)


def _native_bbox(dataset: DatasetReader, bbox: Sequence[float], bbox_crs: str | int | None) -> BBox:
    left, bottom, right, top = bbox_numbers(list(bbox))  # 3D boxes: imagery has no height
    if left >= right or bottom >= top:
        raise InvalidInput(f"bbox {list(bbox)} is empty or inverted: give minx,miny,maxx,maxy")
    source = CRS.from_user_input(parse_crs(bbox_crs or "CRS84").to_wkt())
    if source == dataset.crs:
        return (left, bottom, right, top)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            native = transform_bounds(source, dataset.crs, left, bottom, right, top, densify_pts=21)
        except RasterioError:
            raise InvalidInput(
                f"bbox {list(bbox)} cannot be transformed to the layer's CRS"
            ) from None
    if not all(math.isfinite(v) for v in native):
        raise InvalidInput(f"bbox {list(bbox)} lies outside the area the layer's CRS can represent")
    return native


def _lonlat_bounds(dataset: DatasetReader) -> BBox:
    return transform_bounds(dataset.crs, "EPSG:4326", *dataset.bounds, densify_pts=21)


def read_subset(
    path: Path,
    *,
    bbox: Sequence[float] | None = None,
    bbox_crs: str | int | None = None,
    bands: Sequence[int] | None = None,
    max_cells: int = MAX_TIFF_CELLS,
    max_json_values: int | None = None,
) -> CoverageSubset:
    """Read ``bands`` (all by default) inside ``bbox`` (all by default) as a masked array.

    Both limits are checked on the window, before a pixel is read: ``max_cells`` (the source
    budget, BudgetExceeded) and, for CoverageJSON, ``max_json_values`` (PayloadTooLarge).
    """
    with open_coverage(path) as dataset:
        indexes = _check_bands(bands, dataset.count)
        window = (
            subset_window(dataset, bbox, bbox_crs)
            if bbox
            else Window(0, 0, dataset.width, dataset.height)
        )
        cells = int(window.width) * int(window.height) * len(indexes)
        if cells > max_cells:  # decided from the window, before a pixel is read
            raise BudgetExceeded(
                f"the subset would hold {cells:,} values ({int(window.width)}×{int(window.height)} pixels × "
                f"{len(indexes)} bands), over the limit of {max_cells:,} (ONEMAP_MAX_SOURCE_PIXELS): ask for "
                "a smaller bbox or fewer bands (properties=)"
            )
        if max_json_values is not None and cells > max_json_values:
            raise PayloadTooLarge(
                f"CoverageJSON of {cells:,} values is over the limit of {max_json_values:,}: "
                "ask for a smaller bbox, fewer bands (properties=) or f=GTiff"
            )
        data = dataset.read(indexes, window=window, masked=True)
        return CoverageSubset(
            data=data,
            transform=dataset.window_transform(window),
            crs=dataset.crs,
            names=_unique_names([band_name(dataset, i) for i in indexes]),
            nodata=dataset.nodata,
        )


def _check_bands(bands: Sequence[int] | None, count: int) -> list[int]:
    if not bands:
        return list(range(1, count + 1))
    try:
        indexes = [int(b) for b in bands]
    except (TypeError, ValueError):
        raise InvalidInput(f"bands {list(bands)} are not band numbers") from None
    wrong = [b for b in indexes if not 1 <= b <= count]
    if wrong:
        raise InvalidInput(f"band {wrong[0]} does not exist: this layer has bands 1–{count}")
    return indexes


def _unique_names(names: list[str]) -> tuple[str, ...]:
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return tuple(unique)


@remote_reads
def encoded_subset(
    path: Path,
    *,
    bbox: Sequence[float] | None,
    bbox_crs: str | int | None,
    bands: Sequence[int] | None,
    max_cells: int,
    want_json: bool,
) -> bytes | dict[str, Any]:
    """A subset read and encoded in one call (CoverageJSON or GeoTIFF): the unit of work a
    render worker runs, so the pixels never enter the server process as arrays."""
    subset = read_subset(path, bbox=bbox, bbox_crs=bbox_crs, bands=bands, max_cells=max_cells,
                         max_json_values=MAX_JSON_VALUES if want_json else None)  # fmt: skip
    return to_coveragejson(subset) if want_json else to_geotiff(subset)


@remote_reads
def encoded_resampled(
    path: Path,
    *,
    bounds: BBox,
    crs: CRS,
    width: int,
    height: int,
    bands: Sequence[int] | None,
    budget: RenderBudget,
    want_json: bool,
) -> bytes | dict[str, Any]:
    """The coverage resampled onto a grid (``bounds`` in ``crs``, ``width`` × ``height``), encoded.

    The render planner reads only the overview that suits the grid and checks both budgets
    (output cells, source values) before a pixel is read; cells the scene does not cover are nodata.
    """
    subset = read_resampled(path, bounds=bounds, crs=crs, width=width, height=height, bands=bands, budget=budget)
    return to_coveragejson(subset) if want_json else to_geotiff(subset)


def read_resampled(
    path: Path, *, bounds: BBox, crs: CRS, width: int, height: int, bands: Sequence[int] | None,
    budget: RenderBudget,
) -> CoverageSubset:  # fmt: skip
    """The bands (all by default) of ``path`` on the output grid, masked where there is no data."""
    budget.check_output(width, height)
    with open_coverage(path) as dataset:
        indexes = _check_bands(bands, dataset.count)
        names = _unique_names([band_name(dataset, i) for i in indexes])
        nodata, dtype = dataset.nodata, dataset.dtypes[0]
    with rasterio.Env(**GDAL_ENV):
        image = read_grid([path], bounds, crs, width, height, budget, indexes=indexes)
    data: np.ma.MaskedArray = (
        np.ma.masked_all((len(indexes), height, width), dtype=dtype) if image is None else image.array
    )
    return CoverageSubset(
        data=np.ma.MaskedArray(data, dtype=dtype),
        transform=from_bounds(*bounds, width, height),
        crs=crs,
        names=names,
        nodata=nodata,
    )


def to_geotiff(subset: CoverageSubset) -> bytes:
    """The subset as a tiled, DEFLATE-compressed GeoTIFF (nodata or an internal mask kept)."""
    count, height, width = subset.data.shape
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": count,
        "dtype": subset.data.dtype.name,
        "crs": subset.crs,
        "transform": subset.transform,
        "nodata": subset.nodata,
        "compress": "deflate",
        "tiled": width >= 256 and height >= 256,
    }
    with MemoryFile() as memfile:
        with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), memfile.open(**profile) as target:
            target.write(subset.data.filled(subset.nodata if subset.nodata is not None else 0))
            for index, name in enumerate(subset.names, start=1):
                target.set_band_description(index, name)
            if subset.nodata is None and np.ma.is_masked(subset.data):
                target.write_mask(~np.ma.getmaskarray(subset.data).any(axis=0))
        return bytes(memfile.read())


def to_coveragejson(subset: CoverageSubset, *, max_values: int = MAX_JSON_VALUES) -> dict[str, Any]:
    """The subset as a CoverageJSON Grid coverage: one parameter and one NdArray range per band."""
    count, height, width = subset.data.shape
    if count * height * width > max_values:
        raise PayloadTooLarge(
            f"CoverageJSON of {count * height * width:,} values is over the limit of {max_values:,}: "
            "ask for a smaller bbox or f=GTiff"
        )
    return {
        "type": "Coverage",
        "domain": _domain(subset, width, height),
        "parameters": {name: _parameter(name) for name in subset.names},
        "ranges": {
            name: _range(subset.data[i], subset.data.dtype) for i, name in enumerate(subset.names)
        },
    }


def _domain(subset: CoverageSubset, width: int, height: int) -> dict[str, Any]:
    first_x, first_y = subset.transform @ (0.5, 0.5)  # pixel centres
    last_x, last_y = subset.transform @ (width - 0.5, height - 0.5)
    geographic = bool(subset.crs.is_geographic)
    return {
        "type": "Domain",
        "domainType": "Grid",
        "axes": {
            "x": {"start": first_x, "stop": last_x, "num": width},
            "y": {"start": first_y, "stop": last_y, "num": height},
        },
        "referencing": [
            {
                "coordinates": _axis_order(subset.crs),
                "system": {
                    "type": "GeographicCRS" if geographic else "ProjectedCRS",
                    "id": crs_uri(subset.crs),
                },
            }
        ],
    }


def _axis_order(crs: CRS) -> list[str]:
    """CoverageJSON names coordinates in the CRS's axis order: ['y', 'x'] for EPSG lat/lon CRSs."""
    if crs_uri(crs) == CRS84_URI:
        return ["x", "y"]
    first_axis = pyproj.CRS.from_user_input(crs.to_wkt()).axis_info[0].direction
    return ["y", "x"] if first_axis in ("north", "south") else ["x", "y"]


def _parameter(name: str) -> dict[str, Any]:
    return {
        "type": "Parameter",
        "description": {"en": f"band {name}"},
        "unit": {"label": {"en": "digital number"}},
        "observedProperty": {"label": {"en": name}},
    }


def _range(band: np.ma.MaskedArray, dtype: np.dtype) -> dict[str, Any]:
    integer = np.issubdtype(dtype, np.integer)
    values = np.ma.masked_invalid(band.astype("float64")) if not integer else band
    flat = values.ravel()
    cells = flat.data.astype(object)
    cells[np.ma.getmaskarray(flat)] = None
    return {
        "type": "NdArray",
        "dataType": "integer" if integer else "float",
        "axisNames": ["y", "x"],
        "shape": list(band.shape),
        "values": cells.tolist(),
    }
