"""Is an input file a raster we can publish? Readable, georeferenced, of a supported data type."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import rasterio
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.io import DatasetReader

from spatial.errors import InvalidInput

SUPPORTED_DTYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64")


@contextmanager
def open_source(path: Path) -> Iterator[DatasetReader]:
    """Open ``path`` for reading after checking it is a georeferenced raster; InvalidInput if not."""
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        try:
            dataset = rasterio.open(path)
        except RasterioError as err:
            raise InvalidInput(
                f"{path.name} is not a readable raster (corrupt or unknown format): {first_line(err)}"
            ) from None
    with dataset:
        check_source(dataset, path.name)
        yield dataset


def check_source(dataset: DatasetReader, label: str) -> None:
    """Raise InvalidInput unless ``dataset`` has bands of a supported type and a georeference."""
    if dataset.count == 0 or dataset.width == 0 or dataset.height == 0:
        raise InvalidInput(f"{label} holds no raster bands")
    unsupported = sorted(set(dataset.dtypes) - set(SUPPORTED_DTYPES))
    if unsupported:
        raise InvalidInput(
            f"{label} has bands of type {', '.join(unsupported)}, which imagery does not support"
        )
    if dataset.gcps[0] and dataset.gcps[1] is not None:
        return  # ground control points with a CRS: the converter warps them to a grid
    if dataset.crs is None:
        raise InvalidInput(
            f"{label} has no coordinate reference system: assign one first "
            "(e.g. gdal_edit.py -a_srs EPSG:4490 FILE)"
        )
    if _is_identity(dataset.transform):
        raise InvalidInput(
            f"{label} is not georeferenced: its geotransform is the identity (pixel coordinates), "
            "so it cannot be placed on the map"
        )
    if dataset.transform.b != 0 or dataset.transform.d != 0:
        raise InvalidInput(f"{label} has a rotated geotransform; warp it north-up first (gdalwarp)")


def check_pixels_readable(dataset: DatasetReader, label: str) -> None:
    """Read a decimated view of every band so a truncated or corrupt file fails before conversion."""
    scale = max(dataset.width, dataset.height) / 256
    shape = (
        dataset.count,
        max(1, int(dataset.height / max(scale, 1))),
        max(1, int(dataset.width / max(scale, 1))),
    )
    try:
        dataset.read(out_shape=shape)
    except RasterioError as err:
        raise InvalidInput(
            f"{label} is corrupt: its pixels cannot be read ({first_line(err)})"
        ) from None


def _is_identity(transform: Affine) -> bool:
    return transform.almost_equals(Affine.identity()) or transform.almost_equals(
        Affine.scale(1, -1)
    )


def first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
