"""The 3D city model: LoD1 buildings of a layer with heights, served as 3D Tiles 1.1 (glb content).

``build_tileset`` lays the whole tileset out from PostGIS, ``update_tileset`` rewrites the tiles
of changed features, ``served_file`` answers a request for the tileset or one of its tiles
after THE read check, bringing the tileset up to date with the layer's history first.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from layers.catalog import find_layer
from layers.tiles3d.source import has_model
from layers.tiles3d.tileset import (
    TilesetInfo,
    build_tileset,
    ensure_tileset,
    tile_path,
    update_tileset,
)
from spatial.access.policy import LayerRef, require_read
from spatial.access.principal import Principal
from spatial.config import Settings
from spatial.errors import NotFound

__all__ = ["TilesetInfo", "build_tileset", "ensure_tileset", "has_model", "served_file", "update_tileset"]


def served_file(
    engine: Engine, settings: Settings, layer_id: str, path: str, principal: Principal | None
) -> tuple[Path, TilesetInfo, bool]:
    """(file, tileset, public?) of ``path`` in the layer's tileset; NotFound for a hidden or missing layer or file."""
    row = find_layer(engine, layer_id)
    layer = require_read(principal, LayerRef.from_row(row) if row else None, layer_id)
    info = ensure_tileset(engine, layer_id, settings=settings)
    found = tile_path(info, path)
    if found is None or not found.is_file():
        raise NotFound(f"no {path[:80]!r} in the 3D tiles of layer {layer_id!r}")
    return found, info, layer.visibility == "public"
