"""XYZ tiles (WebMercatorQuad, 256 px) and TileJSON for imagery layers, read with rio-tiler.

Styling is deliberately small: one or three bands, a linear stretch (given, or the 2nd–98th
percentiles for data wider than 8 bits), PNG/WEBP with transparency or JPEG. GDAL options are
scoped with ``rasterio.Env`` per call; readers come from ``layers.imagery.readers``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import rasterio
from morecantile import Tile
from rasterio.enums import ColorInterp
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io import Reader

from layers.imagery.describe import band_statistics
from layers.imagery.readers import GDAL_ENV, open_reader
from spatial.errors import InvalidInput

MAX_ZOOM = 22
TILE_SIZE = 256
PNG_ZLEVEL = 1  # fastest zlib level: tiles are made on request; ~15% more bytes, far less CPU
# extension → (GDAL driver, media type); JPEG has no alpha, so it is opaque outside the image
FORMATS = {
    "png": ("PNG", "image/png"),
    "webp": ("WEBP", "image/webp"),
    "jpg": ("JPEG", "image/jpeg"),
    "jpeg": ("JPEG", "image/jpeg"),
}
Range = tuple[float, float]


@dataclass(frozen=True)
class TileStyle:
    """How to turn pixels into a picture: which bands as R, G, B (or grey), their ranges, the format."""

    bands: tuple[int, ...] | None = None
    rescale: tuple[Range, ...] | None = None
    image_format: str = "png"

    @property
    def media_type(self) -> str:
        return FORMATS[self.image_format][1]


def parse_tile_address(z: str, x: str, y: str) -> Tile:
    """The tile z/x/y as integers inside the WebMercatorQuad matrix; InvalidInput otherwise."""
    try:
        tile = Tile(x=int(x), y=int(y), z=int(z))
    except ValueError:
        raise InvalidInput(f"tile address {z}/{x}/{y} is not three integers z/x/y") from None
    if not 0 <= tile.z <= MAX_ZOOM:
        raise InvalidInput(f"zoom {tile.z} is outside 0–{MAX_ZOOM}")
    if not (0 <= tile.x < 2**tile.z and 0 <= tile.y < 2**tile.z):
        raise InvalidInput(
            f"tile {tile.x}/{tile.y} does not exist at zoom {tile.z} (0–{2**tile.z - 1})"
        )
    return tile


def parse_style(
    image_format: str, bands: str | None = None, rescale: list[str] | None = None
) -> TileStyle:
    """A TileStyle from URL pieces ('png', '3,2,1', ['0,3000']); InvalidInput for anything malformed."""
    fmt = image_format.lower()
    if fmt not in FORMATS:
        raise InvalidInput(f"tile format {image_format!r} unsupported; one of {', '.join(FORMATS)}")
    band_list = _parse_bands(bands) if bands else None
    ranges = tuple(_parse_range(text) for text in rescale) if rescale else None
    if ranges and len(ranges) != 1 and len(ranges) != len(band_list or ranges):
        raise InvalidInput("give one rescale=min,max for all bands or one per band")
    return TileStyle(bands=band_list, rescale=ranges, image_format=fmt)


def _parse_bands(text: str) -> tuple[int, ...]:
    try:
        bands = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise InvalidInput(f"bands={text!r}: give band numbers such as 3,2,1") from None
    if len(bands) not in (1, 3):
        raise InvalidInput(f"bands={text!r}: give one band (grey) or three (red,green,blue)")
    return bands


def _parse_range(text: str) -> Range:
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise InvalidInput(f"rescale={text!r}: give it as min,max, e.g. 0,3000") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise InvalidInput(f"rescale={text!r}: min and max must be finite numbers with min < max")
    return (low, high)


def render_tile(path: Path, tile: Tile, style: TileStyle) -> bytes | None:
    """The encoded tile, or None when the tile lies outside the image's bounds."""
    with rasterio.Env(**GDAL_ENV):
        full, reader = open_reader(path), open_reader(path, tile.z)
        if not full.tile_exists(tile.x, tile.y, tile.z):
            return None
        bands = style.bands or default_bands(full)
        check_bands(bands, full.dataset.count)
        try:
            image = reader.tile(tile.x, tile.y, tile.z, tilesize=TILE_SIZE, indexes=bands)
        except TileOutsideBounds:
            return None
        ranges = style.rescale or default_rescale(path, full, bands)
        if ranges:
            image = image.rescale(in_range=_per_band(ranges, len(bands)))
        driver = FORMATS[style.image_format][0]
        options: dict[str, Any] = {"ZLEVEL": PNG_ZLEVEL} if driver == "PNG" else {}
        return image.render(img_format=driver, add_mask=driver != "JPEG", **options)


def check_bands(bands: tuple[int, ...], count: int) -> None:
    """InvalidInput unless every band number is between 1 and ``count``."""
    wrong = [band for band in bands if not 1 <= band <= count]
    if wrong:
        raise InvalidInput(f"band {wrong[0]} does not exist: this layer has bands 1–{count}")


def default_bands(reader: Reader) -> tuple[int, ...]:
    """True colour where the bands say which is which, else B,G,R,NIR order for 4+ bands."""
    dataset = reader.dataset
    interp = list(dataset.colorinterp)
    named = [
        interp.index(c) + 1
        for c in (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
        if c in interp
    ]
    if len(named) == 3:
        return tuple(named)
    names = [(d or "").strip().lower() for d in dataset.descriptions]
    described = [names.index(n) + 1 for n in ("red", "green", "blue") if n in names]
    if len(described) == 3:
        return tuple(described)
    data_bands = [i for i in dataset.indexes if interp[i - 1] != ColorInterp.alpha]
    if len(data_bands) >= 4:  # blue, green, red, NIR: GF-1/GF-2/ZY-3 and most 4-band products
        return (3, 2, 1)
    return (1, 2, 3) if len(data_bands) == 3 else (data_bands[0],)


def default_rescale(path: Path, reader: Reader, bands: tuple[int, ...]) -> tuple[Range, ...] | None:
    """8-bit data as is; anything else stretched between the bands' joint 2nd and 98th percentiles.

    One range for all displayed bands keeps the colour balance (a per-band stretch tints a
    vegetated scene red or pink).
    """
    if all(reader.dataset.dtypes[b - 1] == "uint8" for b in bands):
        return None
    stat = path.stat()
    stretch = _stretch(str(path), stat.st_mtime_ns, stat.st_size)
    low = min(stretch[b - 1][0] for b in bands)
    high = max(stretch[b - 1][1] for b in bands)
    return tuple((low, high) for _ in bands)


@lru_cache(maxsize=64)
def _stretch(path: str, mtime_ns: int, size: int) -> tuple[Range, ...]:
    """Per-band (p2, p98) of a file version (the cache key includes its mtime and size)."""
    with rasterio.Env(**GDAL_ENV), rasterio.open(path) as dataset:
        statistics = band_statistics(dataset)
    ranges = []
    for band in statistics:
        low, high = band["p2"], band["p98"]
        if low is None or high is None:
            ranges.append((0.0, 1.0))
        else:
            ranges.append((low, high if high > low else low + 1))
    return tuple(ranges)


def _per_band(ranges: tuple[Range, ...], count: int) -> tuple[Range, ...]:
    return ranges * count if len(ranges) == 1 else ranges


def tilejson(path: Path, *, name: str, description: str, tiles_url: str) -> dict[str, Any]:
    """TileJSON 3.0 for a layer: bounds in lon/lat, min/max zoom from its resolution, tile URL."""
    with rasterio.Env(**GDAL_ENV):
        reader = open_reader(path)
        west, south, east, north = reader.get_geographic_bounds(reader.tms.rasterio_geographic_crs)
        minzoom, maxzoom = reader.minzoom, min(reader.maxzoom, MAX_ZOOM)
    return {
        "tilejson": "3.0.0",
        "name": name,
        "description": description,
        "scheme": "xyz",
        "tiles": [tiles_url],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "bounds": [west, south, east, north],
        "center": [(west + east) / 2, (south + north) / 2, min(maxzoom, minzoom + 2)],
    }
