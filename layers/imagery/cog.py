"""Cloud-Optimized GeoTIFF: convert with rio-cogeo (512-px internal tiles, overviews), then validate."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Literal

from rasterio.enums import ColorInterp
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader
from rio_cogeo.cogeo import cog_translate, cog_validate
from rio_cogeo.profiles import cog_profiles

from layers.imagery.source import first_line
from spatial.errors import InvalidInput

OverviewResampling = Literal["nearest", "average"]
COMPRESSIONS: tuple[str, ...] = ("deflate", "webp")
BLOCKSIZE = 512
GDAL_COG_OPTIONS = {
    "GDAL_NUM_THREADS": "ALL_CPUS",
    "GDAL_TIFF_INTERNAL_MASK": True,
    "GDAL_TIFF_OVR_BLOCKSIZE": str(BLOCKSIZE),
}


def cog_profile(dataset: DatasetReader, compression: str = "deflate") -> dict[str, Any]:
    """Creation options: 512-px tiles; DEFLATE with a predictor, or lossless WEBP for 8-bit RGB(A)."""
    if compression not in COMPRESSIONS:
        raise InvalidInput(f"compression {compression!r} unknown; one of {', '.join(COMPRESSIONS)}")
    if compression == "webp":
        if set(dataset.dtypes) != {"uint8"} or dataset.count not in (3, 4):
            raise InvalidInput(
                "WEBP compression needs 8-bit imagery with 3 or 4 bands; use deflate"
            )
        return {**cog_profiles.get("webp"), "webp_lossless": True}
    predictor = 3 if dataset.dtypes[0].startswith("float") else 2
    return {
        **cog_profiles.get("deflate"),
        "blockxsize": BLOCKSIZE,
        "blockysize": BLOCKSIZE,
        "predictor": predictor,
        "zlevel": 6,
    }


def overview_resampling(dataset: DatasetReader) -> OverviewResampling:
    """Average for continuous imagery; nearest for paletted (class) rasters."""
    return "nearest" if dataset.colorinterp[0] == ColorInterp.palette else "average"


def write_cog(dataset: DatasetReader, destination: Path, *, compression: str = "deflate") -> None:
    """Convert ``dataset`` to a COG at ``destination``; InvalidInput if its pixels cannot be read."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rio-cogeo warns that WEBP-in-TIFF is non-standard
            cog_translate(
                dataset,
                str(destination),
                cog_profile(dataset, compression),
                overview_resampling=overview_resampling(dataset),
                forward_band_tags=True,
                config=GDAL_COG_OPTIONS,
                quiet=True,
            )
    except RasterioError as err:
        raise InvalidInput(f"cannot convert {Path(dataset.name).name}: {first_line(err)}") from None


def check_cog(path: Path) -> list[str]:
    """Validate a written COG; raise InvalidInput with the validator's errors, return its warnings."""
    valid, errors, warns = cog_validate(str(path), quiet=True)
    if not valid:
        raise InvalidInput(
            "conversion did not produce a valid Cloud-Optimized GeoTIFF", details=errors
        )
    return list(warns)
