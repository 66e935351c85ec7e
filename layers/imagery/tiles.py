"""XYZ tiles (WebMercatorQuad, 256 px) and TileJSON for imagery layers, read with rio-tiler.

Styling is deliberately small: one or three bands, or band maths (``expression``, one or three
outputs); a linear stretch (given, or the 2nd–98th percentiles for data wider than 8 bits, or
of the expression); a rio-tiler colormap for one output; PNG/WEBP with transparency or JPEG.
Several scenes are mosaicked latest first (``layers.imagery.mosaic``). GDAL options are scoped
with ``rasterio.Env`` per call; readers come from ``layers.imagery.readers``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from morecantile import Tile, TileMatrixSet
from rasterio.enums import ColorInterp, Resampling
from rio_tiler.colormap import cmap
from rio_tiler.io import Reader
from rio_tiler.models import ImageData
from rio_tiler.types import ColorMapType

from layers.imagery.budget import RenderBudget
from layers.imagery.describe import STATS_MAX_SIZE, band_statistics
from layers.imagery.expression import BandMath, parse_band_math
from layers.imagery.mosaic import WEB_MERCATOR, read_tile, scenes_for_tile
from layers.imagery.readers import GDAL_ENV, open_reader
from layers.imagery.remote import remote_reads
from layers.imagery.selection import select_scenes
from layers.imagery.store import ImagerySource
from spatial.errors import InvalidInput, NotFound

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
    expression: BandMath | None = None
    colormap: str | None = None

    @property
    def media_type(self) -> str:
        return FORMATS[self.image_format][1]

    @property
    def outputs(self) -> int | None:
        """How many bands the picture is made of, when the style says (1 or 3)."""
        if self.expression is not None:
            return len(self.expression.blocks)
        return len(self.bands) if self.bands else None


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
    image_format: str,
    bands: str | None = None,
    rescale: list[str] | None = None,
    expression: str | None = None,
    colormap: str | None = None,
) -> TileStyle:
    """A TileStyle from URL pieces ('png', '3,2,1', ['0,3000'], '(b4-b3)/(b4+b3)', 'rdylgn').

    InvalidInput for anything malformed; band numbers are checked against a scene later.
    """
    fmt = image_format.lower()
    if fmt not in FORMATS:
        raise InvalidInput(f"tile format {image_format!r} unsupported; one of {', '.join(FORMATS)}")
    if bands and expression:
        raise InvalidInput("give bands= or expression=, not both")
    band_list = _parse_bands(bands) if bands else None
    band_math = parse_band_math(expression) if expression is not None else None
    ranges = tuple(_parse_range(text) for text in rescale) if rescale else None
    style = TileStyle(band_list, ranges, fmt, band_math, _parse_colormap(colormap))
    if ranges and len(ranges) != 1 and len(ranges) != (style.outputs or len(ranges)):
        raise InvalidInput("give one rescale=min,max for all bands or one per band")
    if style.colormap and style.outputs not in (None, 1):
        raise InvalidInput("a colormap colours one band or one expression, not three")
    return style


def _parse_colormap(name: str | None) -> str | None:
    if name is None:
        return None
    if name.lower() not in cmap.list():
        raise InvalidInput(
            f"colormap_name={name!r} unknown; e.g. viridis, rdylgn, greys, terrain (rio-tiler's list)"
        )
    return name.lower()


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


@remote_reads
def render_tile(
    paths: list[Path], tile: Tile, style: TileStyle, budget: RenderBudget | None = None
) -> bytes | None:
    """The encoded tile from the scenes at ``paths`` (latest first); None where they have no pixels.

    The reads are planned and checked against ``budget`` before any pixel is read
    (``layers.imagery.mosaic``); BudgetExceeded when they would touch too many source pixels.
    """
    with rasterio.Env(**GDAL_ENV):
        first = open_reader(paths[0])
        options = read_options(first, style)
        image = read_tile(paths, tile, tilesize=TILE_SIZE, budget=budget, **options)
        if image is None:
            return None
        ranges = style.rescale or default_rescale(paths[0], first, style)
        if ranges:
            image = image.rescale(in_range=per_band(ranges, image.count))
        return encode(image, style)


def read_options(reader: Reader, style: TileStyle) -> dict[str, Any]:
    """rio-tiler's read arguments for the style: band indexes or an expression, checked."""
    count = reader.dataset.count
    if style.expression is not None:
        parse_band_math(style.expression.text, count)
        return {"expression": style.expression.text}
    bands = style.bands or default_bands(reader)
    check_bands(bands, count)
    if style.colormap and len(bands) != 1:
        raise InvalidInput("a colormap colours one band: give bands=N")
    return {"indexes": bands}


def encode(image: ImageData, style: TileStyle) -> bytes:
    """PNG/WEBP with a transparency mask, JPEG opaque; a colormap for one 8-bit band."""
    driver = FORMATS[style.image_format][0]
    options: dict[str, Any] = {"ZLEVEL": PNG_ZLEVEL} if driver == "PNG" else {}
    colormap: ColorMapType | None = cmap.get(style.colormap) if style.colormap else None
    return image.render(img_format=driver, add_mask=driver != "JPEG", colormap=colormap, **options)


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


def default_rescale(path: Path, reader: Reader, style: TileStyle) -> tuple[Range, ...] | None:
    """8-bit data as is; anything else stretched between the bands' joint 2nd and 98th percentiles.

    One range for all displayed bands keeps the colour balance (a per-band stretch tints a
    vegetated scene red or pink). An expression is stretched by its own percentiles, per output.
    """
    stat = path.stat()
    if style.expression is not None:
        return _expression_stretch(str(path), stat.st_mtime_ns, stat.st_size, style.expression.text)
    bands = style.bands or default_bands(reader)
    if all(reader.dataset.dtypes[b - 1] == "uint8" for b in bands):
        return None
    stretch = _stretch(str(path), stat.st_mtime_ns, stat.st_size)
    low = min(stretch[b - 1][0] for b in bands)
    high = max(stretch[b - 1][1] for b in bands)
    return tuple((low, high) for _ in bands)


@lru_cache(maxsize=256)
def _expression_stretch(path: str, mtime_ns: int, size: int, expression: str) -> tuple[Range, ...]:
    """Per output (p2, p98) of an expression over an overview of a file version."""
    with rasterio.Env(**GDAL_ENV), rasterio.open(path) as dataset:
        band_math = parse_band_math(expression, dataset.count)
        scale = max(1.0, max(dataset.width, dataset.height) / STATS_MAX_SIZE)
        shape = (len(band_math.bands), max(1, round(dataset.height / scale)), max(1, round(dataset.width / scale)))
        pixels = dataset.read(list(band_math.bands), out_shape=shape, masked=True, resampling=Resampling.nearest)
    ranges = []
    for output in band_math.evaluate(pixels):
        values = output.compressed()
        values = values[np.isfinite(values)]
        low, high = (float(v) for v in np.percentile(values, [2, 98])) if values.size else (0.0, 1.0)
        ranges.append((low, high if high > low else low + 1))
    return tuple(ranges)


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


def per_band(ranges: tuple[Range, ...], count: int) -> tuple[Range, ...]:
    """One range per output band (a single range repeated)."""
    return ranges * count if len(ranges) == 1 else ranges


def layer_tile(
    source: ImagerySource,
    tile: Tile,
    style: TileStyle,
    *,
    datetime: str | None = None,
    scene: str | None = None,
    budget: RenderBudget | None = None,
) -> bytes | None:
    """A tile of an imagery layer from the scenes ``datetime``/``scene`` pick, latest on top.

    NotFound when the tile lies outside the layer's extent; None when it is inside but the
    picked scenes have no pixels there (a gap between scenes, or nodata).
    """
    paths = tile_paths(source, tile, style, datetime=datetime, scene=scene)
    return render_tile(paths, tile, style, budget) if paths else None


@remote_reads
def tile_paths(
    source: ImagerySource,
    tile: Tile,
    style: TileStyle,
    *,
    datetime: str | None = None,
    scene: str | None = None,
) -> list[Path]:
    """The files a tile is read from, latest first (empty: inside the layer, but a gap).

    Cheap (catalog rows and file headers): the doors call it before handing the pixel work
    (``render_tile``) to a worker, so a bad band or a tile outside the layer is answered at once.
    """
    scenes = select_scenes(source.scenes, layer_id=source.layer_id, datetime=datetime, scene=scene)
    with rasterio.Env(**GDAL_ENV):
        read_options(open_reader(scenes[0].path), style)  # bad bands are a 400 wherever the tile is
    check_inside(source, tile)
    return [s.path for s in scenes_for_tile(scenes, tile)]


def check_inside(source: ImagerySource, tile: Tile, tms: TileMatrixSet = WEB_MERCATOR) -> None:
    """NotFound unless the tile (of ``tms``, WebMercatorQuad by default) meets the layer's lon/lat extent."""
    if source.bbox is None:
        return
    west, south, east, north = tms.bounds(tile)
    left, bottom, right, top = source.bbox
    if west >= right or east <= left or south >= top or north <= bottom:
        raise NotFound(
            f"tile {tile.z}/{tile.x}/{tile.y} lies outside layer {source.layer_id!r}, whose "
            f"lon/lat extent is {[round(v, 5) for v in source.bbox]}"
        )


@remote_reads
def tilejson(
    paths: list[Path],
    *,
    name: str,
    description: str,
    tiles_url: str,
    bounds: tuple[float, float, float, float] | None = None,
) -> dict[str, Any]:
    """TileJSON 3.0 for a layer: bounds in lon/lat, min/max zoom from its scenes' resolutions."""
    with rasterio.Env(**GDAL_ENV):
        readers = [open_reader(path) for path in paths]
        west, south, east, north = bounds or readers[0].get_geographic_bounds(
            readers[0].tms.rasterio_geographic_crs
        )
        minzoom = min(r.minzoom for r in readers)
        maxzoom = min(max(r.maxzoom for r in readers), MAX_ZOOM)
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
