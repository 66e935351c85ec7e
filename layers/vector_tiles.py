"""Mapbox vector tiles (MVT) of catalogued tables, cut by PostGIS (ST_AsMVT), WebMercatorQuad."""

from __future__ import annotations

from sqlalchemy import Engine, text

from layers.features import FeatureTable
from spatial.errors import InvalidInput

MAX_ZOOM = 22
MAX_FEATURES_PER_TILE = 20_000
SCALAR_TYPES = {
    "bigint", "integer", "smallint", "double precision", "real", "numeric", "boolean", "text",
    "character varying", "character",
}


def check_tile(z: int, x: int, y: int) -> None:
    """Refuse tile indices outside WebMercatorQuad."""
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidInput(f"zoom {z} is outside 0..{MAX_ZOOM}")
    limit = 2**z
    if not (0 <= x < limit and 0 <= y < limit):
        raise InvalidInput(f"tile column/row ({x}, {y}) is outside zoom {z} (0..{limit - 1})")


def tile_attributes(ft: FeatureTable) -> list[str]:
    """Scalar property columns carried in tiles (arrays and JSON stay in the features API)."""
    return [n for n, t in ft.columns.items() if t in SCALAR_TYPES and n != ft.id_field]


def mvt_tile(engine: Engine, ft: FeatureTable, z: int, x: int, y: int, *, layer: str) -> bytes:
    """One MVT tile (possibly empty bytes) of the features intersecting tile z/x/y."""
    check_tile(z, x, y)
    columns = "".join(f', t."{name}"' for name in tile_attributes(ft))
    # MVT feature ids are integers; other ids (e.g. division codes) travel as a property "id"
    integer_id = ft.columns.get(ft.id_field) in ("bigint", "integer", "smallint")
    feature_id = ", 'id'" if integer_id else ""
    statement = text(
        f"""
        WITH bounds AS (
            SELECT ST_TileEnvelope(:z, :x, :y) AS merc,
                   ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => 0.015625), 4326) AS lonlat
        ), rows AS (
            SELECT t."{ft.id_field}" AS id{columns},
                   ST_AsMVTGeom(ST_Transform(t."{ft.geom_field}", 3857), bounds.merc, 4096, 64, true) AS geom
            FROM "{ft.schema}"."{ft.table}" t, bounds
            WHERE t."{ft.geom_field}" && bounds.lonlat
            LIMIT {MAX_FEATURES_PER_TILE}
        )
        SELECT ST_AsMVT(rows, :layer, 4096, 'geom'{feature_id}) FROM rows WHERE geom IS NOT NULL
        """
    )
    with engine.connect() as conn:
        data = conn.execute(statement, {"z": z, "x": x, "y": y, "layer": layer}).scalar()
    return bytes(data or b"")
