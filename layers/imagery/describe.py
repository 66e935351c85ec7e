"""What the catalog records about a COG: footprint in lon/lat, bands, statistics, overviews."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer
from rasterio.enums import ColorInterp, Resampling
from rasterio.io import DatasetReader
from shapely.geometry import Polygon, box

from spatial.crs import STORAGE_SRID

STATS_MAX_SIZE = 1024  # statistics are taken on an overview no larger than this
DENSIFY_POINTS = 20  # per footprint edge, so reprojected edges follow the true curve
NAMED_COLORINTERP = {
    ColorInterp.red,
    ColorInterp.green,
    ColorInterp.blue,
    ColorInterp.alpha,
    ColorInterp.gray,
}


def crs_label(dataset: DatasetReader) -> str:
    """'EPSG:32618' when the CRS has an EPSG code, else its WKT."""
    epsg = dataset.crs.to_epsg() if dataset.crs else None
    return f"EPSG:{epsg}" if epsg else (dataset.crs.to_wkt() if dataset.crs else "")


def footprint(dataset: DatasetReader) -> Polygon:
    """The dataset's bounds as a densified polygon in storage lon/lat (SRID 4326)."""
    left, bottom, right, top = dataset.bounds
    step = max(right - left, top - bottom) / DENSIFY_POINTS
    native = box(left, bottom, right, top).segmentize(step)
    source = CRS.from_user_input(dataset.crs)
    if source == CRS.from_epsg(STORAGE_SRID):
        return native
    to_lonlat = Transformer.from_crs(source, CRS.from_epsg(STORAGE_SRID), always_xy=True)
    return shapely.transform(native, lambda x, y: to_lonlat.transform(x, y), interleaved=False)


def band_name(dataset: DatasetReader, index: int) -> str:
    """Band description, else its colour interpretation (red, green…), else 'b<index>'."""
    description = dataset.descriptions[index - 1]
    if description:
        return str(description)
    interp = dataset.colorinterp[index - 1]
    return interp.name if interp in NAMED_COLORINTERP else f"b{index}"


def band_statistics(dataset: DatasetReader) -> list[dict[str, float | None]]:
    """Per band min, max, mean, std, 2nd and 98th percentiles and valid share, from an overview."""
    scale = max(1.0, max(dataset.width, dataset.height) / STATS_MAX_SIZE)
    shape = (
        dataset.count,
        max(1, round(dataset.height / scale)),
        max(1, round(dataset.width / scale)),
    )
    pixels = dataset.read(out_shape=shape, masked=True, resampling=Resampling.nearest)
    return [_statistics(np.ma.masked_invalid(band)) for band in pixels]


def _statistics(band: np.ma.MaskedArray) -> dict[str, float | None]:
    values = band.compressed().astype("float64")
    if values.size == 0:
        return {
            "min": None,
            "max": None,
            "mean": None,
            "std": None,
            "p2": None,
            "p98": None,
            "valid_percent": 0.0,
        }
    p2, p98 = np.percentile(values, [2, 98])
    return {
        "min": float(values.min()),
        "max": float(values.max()),
        "mean": float(values.mean()),
        "std": float(values.std()),
        "p2": float(p2),
        "p98": float(p98),
        "valid_percent": round(100.0 * values.size / band.size, 2),
    }


def describe_bands(dataset: DatasetReader) -> list[dict[str, Any]]:
    """One entry per band: index, name, description, dtype, nodata, colour interpretation, statistics."""
    statistics = band_statistics(dataset)
    return [
        {
            "index": index,
            "name": band_name(dataset, index),
            "description": dataset.descriptions[index - 1] or "",
            "dtype": dataset.dtypes[index - 1],
            "nodata": json_number(dataset.nodatavals[index - 1]),
            "colorinterp": dataset.colorinterp[index - 1].name,
            "statistics": statistics[index - 1],
        }
        for index in dataset.indexes
    ]


def describe(dataset: DatasetReader) -> dict[str, Any]:
    """The catalog's ``attributes`` for an imagery layer (JSON-ready)."""
    return {
        "crs": crs_label(dataset),
        "resolution": [abs(dataset.res[0]), abs(dataset.res[1])],
        "resolution_unit": "degree" if dataset.crs.is_geographic else dataset.crs.linear_units,
        "width": dataset.width,
        "height": dataset.height,
        "bounds": list(dataset.bounds),
        "bands": describe_bands(dataset),
        "overviews": dataset.overviews(1),
        "blocksize": list(dataset.block_shapes[0]),
        "compression": dataset.compression.value.lower() if dataset.compression else "none",
        "mask": mask_kind(dataset),
    }


def mask_kind(dataset: DatasetReader) -> str:
    """How transparent pixels are marked: 'nodata', 'alpha', 'mask' or 'none'."""
    if dataset.nodata is not None:
        return "nodata"
    if ColorInterp.alpha in dataset.colorinterp:
        return "alpha"
    flags = {flag.name for flag in dataset.mask_flag_enums[0]}
    return "mask" if "per_dataset" in flags else "none"


def json_number(value: float | None) -> float | str | None:
    """A nodata value JSON can hold: NaN and infinities become strings."""
    if value is None:
        return None
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return int(value) if float(value).is_integer() else float(value)
