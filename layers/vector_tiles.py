"""Mapbox vector tiles (MVT) of catalogued tables, cut by PostGIS (ST_AsMVT).

Two tile matrix sets: WebMercatorQuad (EPSG:3857, what web maps ask for) and WorldCRS84Quad
(lon/lat, 2×1 tiles at zoom 0: what GDAL's OGCAPI driver prefers, and the only one whose tiles
it finds from a collection's lon/lat extent). A WorldCRS84Quad tile of zoom z is the tile of
zoom z + 1 in the square [-180, 180] × [-270, 90], so ST_TileEnvelope cuts both.
"""

from __future__ import annotations

import functools

from sqlalchemy import Engine

from layers.features import FeatureTable
from spatial.db import replica_read
from spatial.errors import InvalidInput

MAX_ZOOM = 22
WEB_MERCATOR_QUAD, WORLD_CRS84_QUAD = "WebMercatorQuad", "WorldCRS84Quad"
# per matrix set: the envelope SQL of tile (:z, :x, :y), the SRID geometries are cut in, tiles across zoom 0
ENVELOPES = {
    WEB_MERCATOR_QUAD: ("ST_TileEnvelope(:z, :x, :y{margin})", 3857, 1),
    WORLD_CRS84_QUAD: ("ST_TileEnvelope(:z + 1, :x, :y, ST_MakeEnvelope(-180, -270, 180, 90, 4326){margin})", 4326, 2),
}
MAX_FEATURES_PER_TILE = 20_000
SCALAR_TYPES = {
    "bigint", "integer", "smallint", "double precision", "real", "numeric", "boolean", "text",
    "character varying", "character",
}


def check_tile(z: int, x: int, y: int, columns_at_zero: int = 1) -> None:
    """Refuse tile indices outside the quad (``columns_at_zero`` tiles across zoom 0)."""
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidInput(f"zoom {z} is outside 0..{MAX_ZOOM}")
    rows = 2**z
    if not (0 <= x < columns_at_zero * rows and 0 <= y < rows):
        raise InvalidInput(f"tile column/row ({x}, {y}) is outside zoom {z} ({columns_at_zero * rows}×{rows} tiles)")


def tile_attributes(ft: FeatureTable) -> list[str]:
    """Scalar property columns carried in tiles (arrays and JSON stay in the features API)."""
    return [n for n, t in ft.columns.items() if t in SCALAR_TYPES and n != ft.id_field]


def mvt_tile(
    engine: Engine, ft: FeatureTable, z: int, x: int, y: int, *, layer: str, matrix_set: str = WEB_MERCATOR_QUAD
) -> bytes:
    """One MVT tile (possibly empty bytes) of the features intersecting tile z/x/y of ``matrix_set``."""
    statement = tile_statement(ft, matrix_set, z, x, y, versioned=False)
    with replica_read(engine) as conn:
        data = conn.exec_driver_sql(statement, {"z": z, "x": x, "y": y, "layer": layer}).scalar()
    return bytes(data or b"")


def mvt_tile_versioned(
    engine: Engine, ft: FeatureTable, z: int, x: int, y: int, *, layer: str, layer_id: str,
    matrix_set: str = WEB_MERCATOR_QUAD,
) -> tuple[bytes, int]:
    """``mvt_tile`` and the layer's version (``catalog.layer_version``) read in the same snapshot,
    so a tile cache files the tile under the version it shows (``layers.tile_cache``)."""
    statement = tile_statement(ft, matrix_set, z, x, y, versioned=True)
    with replica_read(engine) as conn:
        params = {"z": z, "x": x, "y": y, "layer": layer, "layer_id": layer_id}
        data, version = conn.exec_driver_sql(statement, params).one()
    return bytes(data or b""), int(version or 0)


def tile_statement(ft: FeatureTable, matrix_set: str, z: int, x: int, y: int, *, versioned: bool) -> str:
    """The tile statement (psycopg's ``%(name)s`` parameters: z, x, y, layer, layer_id), after the tile's checks."""
    if matrix_set not in ENVELOPES:
        raise InvalidInput(f"tile matrix set {matrix_set[:40]!r} is not offered: {', '.join(ENVELOPES)}")
    check_tile(z, x, y, ENVELOPES[matrix_set][2])
    integer_id = ft.columns.get(ft.id_field) in ("bigint", "integer", "smallint")
    return _tile_sql(ft.schema, ft.table, ft.id_field, ft.geom_field, tuple(tile_attributes(ft)), integer_id,
                     matrix_set, versioned)  # fmt: skip


@functools.lru_cache(maxsize=1024)
def _tile_sql(schema: str, table: str, id_field: str, geom_field: str, attributes: tuple[str, ...],
              integer_id: bool, matrix_set: str, versioned: bool) -> str:  # fmt: skip
    """The tile statement of a table's shape, built once and sent as is (psycopg prepares it per connection).

    Identifiers have ``%`` doubled: the statement carries psycopg's ``%(name)s`` parameters."""
    schema, table, id_field, geom_field = (name.replace("%", "%%") for name in (schema, table, id_field, geom_field))
    attributes = tuple(name.replace("%", "%%") for name in attributes)
    envelope, srid, _ = ENVELOPES[matrix_set]
    for name in ("z", "x", "y"):
        envelope = envelope.replace(f":{name}", f"%({name})s")
    columns = "".join(f', t."{name}"' for name in attributes)
    # MVT feature ids are integers; other ids (e.g. division codes) travel as a property "id"
    feature_id = ", 'id'" if integer_id else ""
    version = ", (SELECT version FROM catalog.layer_version WHERE layer_id = %(layer_id)s)" if versioned else ""
    sql = f"""
        WITH bounds AS (
            SELECT {envelope.format(margin="")} AS cut,
                   ST_Transform({envelope.format(margin=", margin => 0.015625")}, 4326) AS lonlat
        ), rows AS (
            SELECT t."{id_field}" AS id{columns},
                   ST_AsMVTGeom(ST_Transform(t."{geom_field}", {srid}), bounds.cut, 4096, 64, true) AS geom
            FROM "{schema}"."{table}" t, bounds
            WHERE t."{geom_field}" && bounds.lonlat
            LIMIT {MAX_FEATURES_PER_TILE}
        )
        SELECT ST_AsMVT(rows, %(layer)s, 4096, 'geom'{feature_id}){version} FROM rows WHERE geom IS NOT NULL
        """
    return sql
