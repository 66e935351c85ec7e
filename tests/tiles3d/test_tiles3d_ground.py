"""Buildings stand on the city's DEM when it has one (an imagery layer with the keyword ``dem``).

Kept after test_tiles3d.py (file order) and removing its DEM again, so the other tilesets of the
session's demo city stand on flat ground as built."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pygltflib
import pytest
import rasterio
from rasterio.transform import from_bounds
from sqlalchemy import Engine, text

from layers.imagery.ingest import add_imagery
from layers.tiles3d import build_tileset
from spatial.config import Settings
from tests.tiles3d.test_tiles3d import _overlay

DEM = "t3d_dem"
LAYER = "t3d_ground"
GROUND_M = 57.5


@pytest.fixture()
def dem(demo_engine: Engine, demo_settings: Settings, tmp_path: Path) -> Iterator[str]:
    with demo_engine.begin() as conn:
        _overlay(conn, LAYER, "public", 50)
    with demo_engine.connect() as conn:
        w, s, e, n = conn.execute(text(f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                                       f"(SELECT ST_Extent(geom)::geometry e FROM thematic.{LAYER}) x")).one()  # fmt: skip
    path = tmp_path / "dem.tif"
    data = np.full((64, 64), GROUND_M, dtype=np.float32)
    profile = {"driver": "GTiff", "width": 64, "height": 64, "count": 1, "dtype": "float32", "crs": "EPSG:4326",
               "transform": from_bounds(w - 0.01, s - 0.01, e + 0.01, n + 0.01, 64, 64), "nodata": -9999.0}  # fmt: skip
    with rasterio.open(path, "w", **profile) as out:
        out.write(data, 1)
    add_imagery(demo_engine, demo_settings, path, name=DEM, department="planning", title_en="DEM")
    with demo_engine.begin() as conn:
        conn.execute(text("UPDATE catalog.layer SET keywords = ARRAY['dem'] WHERE id = :id"), {"id": DEM})
    yield DEM
    with demo_engine.begin() as conn:
        conn.execute(text("DELETE FROM imagery.scene WHERE layer_id = :id"), {"id": DEM})
        conn.execute(text("DELETE FROM catalog.layer WHERE id IN (:id, :layer)"), {"id": DEM, "layer": LAYER})
        conn.execute(text(f"DROP TABLE thematic.{LAYER}"))


def test_buildings_stand_on_the_dem(demo_engine: Engine, dem: str, tmp_path: Path) -> None:
    settings = Settings(database_url=str(demo_engine.url), var_dir=tmp_path / "var")
    info = build_tileset(demo_engine, LAYER, settings=settings)
    assert info.buildings == 50
    for glb in (info.directory / "t").glob("*.glb"):
        gltf = pygltflib.GLTF2.load_binary(str(glb))
        blob = gltf.binary_blob()
        assert blob is not None
        table = gltf.extensions["EXT_structural_metadata"]["propertyTables"][0]
        view = gltf.bufferViews[table["properties"]["ground_m"]["values"]]
        ground = np.frombuffer(blob[view.byteOffset:view.byteOffset + view.byteLength], dtype=np.float32)
        assert np.allclose(ground, GROUND_M)
