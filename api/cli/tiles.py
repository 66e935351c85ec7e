"""`onemap tiles …`: fill the tile cache ahead of requests, or empty it (``layers.tile_cache``)."""

from __future__ import annotations

import click

from api.cli.common import checked_engine, console, fail, friendly_errors
from spatial.config import Settings


@click.group()
def tiles() -> None:
    """The tile cache (ONEMAP_TILE_CACHE: disk, a redis:// URL, or off)."""


@tiles.command("seed")
@click.argument("layer")
@click.option("--zoom", "zoom", required=True, help="a zoom (14) or a range (12-15)")
@click.option("--bbox", default=None, help="minlon,minlat,maxlon,maxlat (default: the layer's extent)")
@click.option("--max-tiles", type=click.IntRange(1), default=200_000, show_default=True,
              help="refuse to seed more tiles than this")  # fmt: skip
@click.pass_obj
@friendly_errors
def seed(settings: Settings, layer: str, zoom: str, bbox: str | None, max_tiles: int) -> None:
    """Draw LAYER's tiles over --zoom (and --bbox) into the cache: MVT for vector layers, PNG for imagery."""
    from layers.tile_seed import parse_bbox, parse_zooms, seed_tiles

    zooms = parse_zooms(zoom)
    box = parse_bbox(bbox) if bbox is not None else None
    engine = checked_engine(settings)
    try:
        report = seed_tiles(engine, settings, layer, zooms, box, max_tiles=max_tiles)
    finally:
        engine.dispose()
    extra = f", {report.skipped} outside the layer" if report.skipped else ""
    console.print(f"seeded {report.tiles} {report.kind} tiles of {layer} (z{zooms.start}-{zooms.stop - 1}; "
                  f"{report.empty} empty{extra}) into the {settings.tile_cache.split(':')[0]} tile cache")  # fmt: skip


@tiles.command("purge")
@click.argument("layer", required=False)
@click.pass_obj
@friendly_errors
def purge(settings: Settings, layer: str | None) -> None:
    """Delete the kept tiles of LAYER (every layer's when omitted)."""
    from layers.tile_cache import tile_cache

    try:
        cache = tile_cache(settings)
        removed = cache.purge(layer)
    except ValueError as err:
        fail(str(err))
        return
    except Exception as err:  # Redis unreachable (redis.ConnectionError) or the folder unwritable (OSError)
        fail(f"the tile cache could not be purged: {type(err).__name__}: {str(err)[:200]}", 3)
        return
    console.print(f"purged {removed} tiles of {layer or 'every layer'} from the {cache.name} tile cache")
