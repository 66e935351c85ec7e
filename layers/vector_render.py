"""Vector layers drawn as 256-px PNG tiles (WMTS), cut by PostGIS and painted by Pillow.

Two steps, so the database work and the pixel work run where each belongs:

- ``tile_geometries`` (SQL, the server's engine and statement timeout): the features meeting a
  tile, clipped and snapped by ``ST_AsMVTGeom`` to the tile's pixel grid (4096 units across,
  y down, a 16-px margin so strokes and point symbols crossing an edge are drawn on both
  tiles), as WKB. The tiles are the MVT tiles' (``layers.vector_tiles``): the same envelopes,
  the same feature cap. A CGCS2000Quad tile is the WorldCRS84Quad tile of the same address
  (both are 2×1 lon/lat quads; CGCS2000 and WGS 84 differ by centimetres).
- ``draw_tile`` (pure, run in a render worker): polygons, lines and points painted at 2× on
  coverage masks, each halved by a box filter (antialiasing), then composited in one colour
  per mask on a transparent background: fills, then strokes, then point symbols.

Colours as the web map draws the layer (``api/web/static/onemap.js``): the catalog style's
``color`` (default ``#3366cc``), polygon fill at 20 % unless ``fill`` is false, strokes of
``weight`` px (default 1.5), points as discs of ``radius`` px (default 5) at 90 % with a white
rim. Data-driven keys (``color_by``, ``symbol_by``, ``width_by``) are not drawn: one colour per
layer, as on the web map.

Budget: at most ``MAX_FEATURES_PER_TILE`` features (the MVT tiles' cap) are drawn on a tile. Where
more meet it, the largest are kept (by the width + height of their bounding box): what is left
out is the smallest, least visible detail, spread over the tile, not a region cut off where the
index stopped (the MVT tiles take the first the index yields). The statement timeout of the
server's engine bounds the ranking on a huge layer at a low zoom. Features smaller than 1/16 px
vanish in the snapping (``ST_AsMVTGeom`` drops degenerate ones).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import shapely
from PIL import Image, ImageChops, ImageColor, ImageDraw
from sqlalchemy import Engine, text

from layers.imagery.tiles import PNG_ZLEVEL, TILE_SIZE
from layers.vector_tiles import (
    ENVELOPES,
    MAX_FEATURES_PER_TILE,
    WEB_MERCATOR_QUAD,
    WORLD_CRS84_QUAD,
)
from spatial.errors import InvalidInput

EXTENT = 4096  # ST_AsMVTGeom's grid across a tile
BUFFER = 256  # grid units drawn beyond each edge: 16 px
MARGIN = BUFFER / EXTENT  # the same, as a fraction of the tile, for the index filter
SUPERSAMPLE = 2
DEFAULT_COLOR = "#3366cc"
FILL_OPACITY, POINT_OPACITY = 0.2, 0.9
DEFAULT_WEIGHT, DEFAULT_RADIUS = 1.5, 5.0
# the WMTS tile matrix sets → the vector tiles' envelope of the same tile address
MATRIX_ENVELOPES = {"WebMercatorQuad": WEB_MERCATOR_QUAD, "CGCS2000Quad": WORLD_CRS84_QUAD}
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class VectorStyle:
    """How a vector layer is painted: one colour, fill or not, stroke width and point radius in px."""

    color: RGB = (0x33, 0x66, 0xCC)
    fill: bool = True
    weight: float = DEFAULT_WEIGHT
    radius: float = DEFAULT_RADIUS

    @classmethod
    def from_catalog(cls, style: Mapping[str, Any] | None) -> VectorStyle:
        """From a catalog row's ``style``; keys missing or unusable fall back to the defaults."""
        style = style or {}
        return cls(
            color=_color(style.get("color")),
            fill=style.get("fill") is not False,
            weight=_number(style.get("weight"), DEFAULT_WEIGHT, 0.5, 16.0),
            radius=_number(style.get("radius"), DEFAULT_RADIUS, 1.0, 16.0),
        )


@dataclass(frozen=True)
class VectorTable:
    """Where a vector layer's features are: table and geometry column (lon/lat, SRID 4326)."""

    schema: str
    table: str
    geom_field: str


def _color(value: Any) -> RGB:
    try:
        red, green, blue = ImageColor.getrgb(str(value or DEFAULT_COLOR))[:3]
    except ValueError:
        red, green, blue = ImageColor.getrgb(DEFAULT_COLOR)[:3]
    return red, green, blue


def _number(value: Any, default: float, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return min(max(float(value), low), high)


# ------------------------------------------------------------------------------ SQL
def tile_geometries(engine: Engine, source: VectorTable, matrix_set: str, z: int, x: int, y: int) -> list[bytes]:
    """WKB of the features meeting tile z/x/y (column x, row y) in tile pixel units (0..4096, y down)."""
    if matrix_set not in MATRIX_ENVELOPES:
        raise InvalidInput(f"tile matrix set {matrix_set[:40]!r} is not offered: {', '.join(MATRIX_ENVELOPES)}")
    envelope, srid, _ = ENVELOPES[MATRIX_ENVELOPES[matrix_set]]
    geom = f't."{source.geom_field}"'
    statement = text(
        f"""
        WITH bounds AS (
            SELECT {envelope.format(margin="")} AS cut,
                   ST_Transform({envelope.format(margin=f", margin => {MARGIN}")}, 4326) AS lonlat
        ), cut AS (
            SELECT ST_AsMVTGeom(ST_Transform({geom}, {srid}), bounds.cut, {EXTENT}, {BUFFER}, true) AS g
            FROM "{source.schema}"."{source.table}" t, bounds
            WHERE {geom} && bounds.lonlat
            ORDER BY ST_XMax({geom}) - ST_XMin({geom}) + ST_YMax({geom}) - ST_YMin({geom}) DESC
            LIMIT {MAX_FEATURES_PER_TILE}
        )
        SELECT ST_AsBinary(g) FROM cut WHERE g IS NOT NULL
        """
    )
    with engine.connect() as conn:
        return [bytes(row[0]) for row in conn.execute(statement, {"z": z, "x": x, "y": y})]


# ------------------------------------------------------------------------------ pixels
@cache
def empty_tile() -> bytes:
    """A fully transparent 256-px PNG: a tile of the matrix where the layer has nothing."""
    return _png(Image.new("RGBA", (TILE_SIZE, TILE_SIZE), (0, 0, 0, 0)))


def draw_tile(geometries: Sequence[bytes], style: VectorStyle) -> bytes:
    """The PNG of a tile from ``tile_geometries``' WKB, painted in ``style``."""
    if not geometries:
        return empty_tile()
    parts = shapely.get_parts(shapely.from_wkb(np.asarray(geometries, dtype=object)))
    kinds = shapely.get_type_id(parts)
    size = TILE_SIZE * SUPERSAMPLE
    scale = size / EXTENT
    masks = {name: Image.new("L", (size, size), 0) for name in ("fill", "stroke", "rim", "dot")}
    draw = {name: ImageDraw.Draw(mask) for name, mask in masks.items()}
    width = max(1, round(style.weight * SUPERSAMPLE))
    joint = "curve" if width > 3 else None  # round joins where they show; Pillow draws them slowly

    polygons = parts[kinds == shapely.GeometryType.POLYGON]
    holed = shapely.get_num_interior_rings(polygons) > 0
    exteriors = _paths(shapely.get_exterior_ring(polygons), scale)
    if style.fill:
        for ring, has_holes in zip(exteriors, holed.tolist(), strict=True):
            if not has_holes:
                draw["fill"].polygon(ring, fill=255)
        for polygon in polygons[holed]:
            _fill_with_holes(masks["fill"], polygon, scale)
    interiors = [ring for polygon in polygons[holed] for ring in polygon.interiors]
    for path in exteriors + _paths(np.asarray(interiors, dtype=object), scale):
        draw["stroke"].line(path, fill=255, width=width, joint=joint)
    for path in _paths(parts[kinds == shapely.GeometryType.LINESTRING], scale):
        draw["stroke"].line(path, fill=255, width=width, joint=joint)

    points = shapely.get_coordinates(parts[kinds == shapely.GeometryType.POINT]) * scale
    radius = style.radius * SUPERSAMPLE
    for px, py in points.tolist():
        draw["rim"].ellipse((px - radius - 1, py - radius - 1, px + radius + 1, py + radius + 1), fill=255)
        draw["dot"].ellipse((px - radius + 1, py - radius + 1, px + radius - 1, py + radius - 1), fill=255)

    image = Image.new("RGBA", (TILE_SIZE, TILE_SIZE), (0, 0, 0, 0))
    white = (255, 255, 255)
    for name, colour, opacity in (("fill", style.color, FILL_OPACITY), ("stroke", style.color, 1.0),
                                  ("rim", white, 1.0), ("dot", style.color, POINT_OPACITY)):  # fmt: skip
        if masks[name].getbbox() is None:
            continue
        alpha = masks[name].reduce(SUPERSAMPLE)
        if opacity < 1:
            alpha = alpha.point([round(v * opacity) for v in range(256)])
        layer = Image.new("RGBA", (TILE_SIZE, TILE_SIZE), (*colour, 0))
        layer.putalpha(alpha)
        image = Image.alpha_composite(image, layer)
    return _png(image)


def _paths(geometries: np.ndarray, scale: float) -> list[list[float]]:
    """The coordinates of each line or ring as a flat [x, y, x, y, …] list in canvas pixels."""
    if not len(geometries):
        return []
    coords, index = shapely.get_coordinates(geometries, return_index=True)
    if not len(coords):
        return []
    flat = (coords * scale).ravel().tolist()
    bounds = (2 * np.concatenate(([0], np.flatnonzero(np.diff(index)) + 1, [len(index)]))).tolist()
    return [flat[start:end] for start, end in zip(bounds[:-1], bounds[1:], strict=True) if end - start > 2]


def _fill_with_holes(mask: Image.Image, polygon: shapely.Polygon, scale: float) -> None:
    """Fill a polygon with holes: drawn alone on a patch (the holes cut), then merged into ``mask``."""
    left, top, right, bottom = (int(v) for v in np.floor(np.asarray(polygon.bounds) * scale))
    left, top = max(left, 0), max(top, 0)
    right, bottom = min(right + 2, mask.width), min(bottom + 2, mask.height)
    if right <= left or bottom <= top:
        return
    patch = Image.new("L", (right - left, bottom - top), 0)
    draw = ImageDraw.Draw(patch)
    shift = np.array([left, top], dtype=float)
    rings = [polygon.exterior, *polygon.interiors]
    for number, ring in enumerate(rings):
        coords = (np.asarray(ring.coords) * scale - shift).ravel().tolist()
        if len(coords) >= 6:
            draw.polygon(coords, fill=255 if number == 0 else 0)
    box = (left, top, right, bottom)
    mask.paste(ImageChops.lighter(mask.crop(box), patch), box)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_ZLEVEL)
    return buffer.getvalue()
