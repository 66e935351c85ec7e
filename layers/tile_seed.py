"""Filling the tile cache ahead of requests (``onemap tiles seed``): the tiles of a layer over zooms and a box.

A vector layer is seeded with its OGC API vector tiles (WebMercatorQuad MVT), an imagery layer
with its default XYZ PNG tiles (every scene, latest on top, as ``/tiles/{layer}/{z}/{x}/{y}.png``
draws them). Tiles are filed under the layer's version read with them, under the same keys
the routes use (``layers.tile_cache``), so a seeded tile is exactly what a request would get.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import morecantile
from sqlalchemy import Engine

from layers import tile_cache, vector_tiles
from layers.catalog import find_layer
from layers.features import describe_table
from spatial.config import Settings
from spatial.db import read_only
from spatial.errors import InvalidInput, NotFound

MAX_SEED_TILES = 200_000
WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")
WORLD = (-180.0, -85.0511, 180.0, 85.0511)


@dataclass
class SeedReport:
    """What a seed did: tiles drawn and kept, of them empty, and skipped (outside the layer)."""

    layer: str
    kind: str
    tiles: int = 0
    empty: int = 0
    skipped: int = 0


def parse_zooms(text: str) -> range:
    """``12-15`` or ``14`` as a range of zooms within 0..22; InvalidInput otherwise."""
    low, _, high = text.strip().partition("-")
    try:
        first, last = int(low), int(high or low)
    except ValueError:
        raise InvalidInput(f"--zoom {text[:40]!r}: give a zoom (14) or a range (12-15)") from None
    if not 0 <= first <= last <= vector_tiles.MAX_ZOOM:
        raise InvalidInput(f"--zoom {text[:40]!r}: zooms must be 0..{vector_tiles.MAX_ZOOM}, low to high")
    return range(first, last + 1)


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``minlon,minlat,maxlon,maxlat``; InvalidInput otherwise."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise InvalidInput(f"--bbox {text[:60]!r}: four numbers minlon,minlat,maxlon,maxlat") from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InvalidInput(f"--bbox {text[:60]!r}: four numbers minlon,minlat,maxlon,maxlat")
    west, south, east, north = values
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise InvalidInput(f"--bbox {text[:60]!r}: west < east within ±180, south < north within ±90")
    return west, south, east, north


def seed_tiles(
    engine: Engine, settings: Settings, layer_id: str, zooms: range,
    bbox: tuple[float, float, float, float] | None = None, *, max_tiles: int = MAX_SEED_TILES,
    progress: Callable[[int], None] | None = None,
) -> SeedReport:
    """Draw and keep the tiles of ``layer_id`` over ``zooms`` within ``bbox`` (default: the layer's extent)."""
    row = find_layer(engine, layer_id)
    if row is None:
        raise NotFound(f"no layer named {layer_id!r}")
    cache = tile_cache.tile_cache(settings)
    if cache.name == "off":
        raise InvalidInput("the tile cache is off (ONEMAP_TILE_CACHE=off): nothing to seed")
    box = bbox or (tuple(row["bbox"]) if row.get("bbox") else WORLD)
    west, south, east, north = box
    west, south = max(west, WORLD[0]), max(south, WORLD[1])
    east, north = min(east, WORLD[2]), min(north, WORLD[3])
    count = sum(_count(west, south, east, north, z) for z in zooms)
    if count > max_tiles:
        raise InvalidInput(f"{count:,} tiles over zooms {zooms.start}-{zooms.stop - 1}: over {max_tiles:,}; "
                           "narrow --zoom or --bbox")  # fmt: skip
    tiles = (t for z in zooms for t in WEB_MERCATOR.tiles(west, south, east, north, [z]))
    if row.get("storage_table"):
        report = _seed_vector(engine, cache, row, tiles, progress)
    elif row.get("kind") == "imagery" and row.get("storage_path"):
        report = _seed_imagery(engine, settings, cache, layer_id, tiles, progress)
    else:
        raise InvalidInput(f"layer {layer_id!r} ({row.get('kind')}) has no tiles to seed")
    return report


def _count(west: float, south: float, east: float, north: float, z: int) -> int:
    first = WEB_MERCATOR.tile(west, north, z)
    last = WEB_MERCATOR.tile(east, south, z)
    return (last.x - first.x + 1) * (last.y - first.y + 1)


def _seed_vector(engine: Engine, cache: tile_cache.TileCache, row: dict, tiles: object,
                 progress: Callable[[int], None] | None) -> SeedReport:  # fmt: skip
    table = describe_table(engine, row["storage_schema"], row["storage_table"], id_field=row.get("id_field") or "id",
                           geom_field=row.get("geom_field") or "geom", time_field=row.get("time_field"))  # fmt: skip
    report = SeedReport(row["id"], "mvt")
    for tile in tiles:  # type: ignore[attr-defined]
        data, version = vector_tiles.mvt_tile_versioned(
            engine, table, tile.z, tile.x, tile.y, layer=row["id"], layer_id=row["id"]
        )
        key = tile_cache.mvt_key(row["id"], version, vector_tiles.WEB_MERCATOR_QUAD, tile.z, tile.x, tile.y)
        cache.put(key, data)
        report.tiles += 1
        report.empty += not data
        if progress:
            progress(report.tiles)
    return report


def _seed_imagery(engine: Engine, settings: Settings, cache: tile_cache.TileCache, layer_id: str, tiles: object,
                  progress: Callable[[int], None] | None) -> SeedReport:  # fmt: skip
    from layers.imagery.budget import RenderBudget
    from layers.imagery.store import imagery_source
    from layers.imagery.tiles import parse_style, render_tile, tile_paths

    with read_only(engine) as conn:
        version = tile_cache.version_in(conn, layer_id)
    source = imagery_source(engine, layer_id)  # read after the version: as new as it, or newer
    style = parse_style("png", None, [], None, None)
    when: dict[str, str | None] = {"datetime": None, "scene": None}
    budget = RenderBudget.from_settings(settings)
    report = SeedReport(layer_id, "xyz")
    for tile in tiles:  # type: ignore[attr-defined]
        try:
            paths = tile_paths(source, tile, style)
        except NotFound:  # outside the layer's scenes: a request gets a 404, nothing to keep
            report.skipped += 1
            continue
        body = render_tile(paths, tile, style, budget) if paths else None
        cache.put(tile_cache.xyz_key(layer_id, version, tile.z, tile.x, tile.y, "png", style, when), body or b"")
        report.tiles += 1
        report.empty += not body
        if progress:
            progress(report.tiles)
    return report
