"""A demo city with departments' people and layers of every visibility, for the access tests.

Built once per session in a database of its own (the other tests' demo stays as it was):

- tokens for six kinds of caller, relative to the owning department ``emergency``: anonymous
  (no token), its viewer, inspector and editor, an editor of another department
  (``environment``), and an admin (of ``planning``);
- one vector overlay and one imagery layer per visibility, all owned by ``emergency``
  (``acc_public``/``acc_internal``/``acc_department`` and ``img_public``/…);
- ``acc_parcels``: a public polygon overlay of ``emergency`` for geometry checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from layers.catalog import LayerSpec, register_layer
from layers.demo.load import load_demo, set_layer_extent
from layers.vector import load_vector_file
from spatial import migrate
from spatial.access.principal import local_operator
from spatial.access.tokens import create_token
from spatial.config import Settings
from spatial.db import make_engine

OWNER = "emergency"
VISIBILITIES = ("public", "internal", "department")
ROLES = ("anonymous", "viewer", "inspector", "editor_own", "editor_other", "admin")
TOKEN_ROLES = {
    "viewer": ("emergency", "viewer"),
    "inspector": ("emergency", "inspector"),
    "editor_own": ("emergency", "editor"),
    "editor_other": ("environment", "editor"),
    "admin": ("planning", "admin"),
}
CENTRE = (108.94, 34.26)
UPLOAD_LIMIT = 256 * 1024


@dataclass
class AccessCity:
    url: str
    settings: Settings
    scene: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, role: str) -> dict[str, str]:
        """Authorization header of a role ({} for anonymous)."""
        token = self.tokens.get(role)
        return {"Authorization": f"Bearer {token}"} if token else {}


def points(n: int = 6) -> gpd.GeoDataFrame:
    """``n`` named points around the demo city's centre."""
    x = CENTRE[0] + np.arange(n) * 0.002
    y = CENTRE[1] + np.arange(n) * 0.001
    return gpd.GeoDataFrame(
        {"name": [f"点{i}" for i in range(n)], "count": np.arange(n, dtype="int64")},
        geometry=shapely.points(x, y),
        crs="EPSG:4326",
    )


def parcels(n: int = 4) -> gpd.GeoDataFrame:
    x = CENTRE[0] + np.arange(n) * 0.003
    return gpd.GeoDataFrame(
        {"name": [f"地块{i}" for i in range(n)], "area": np.linspace(1.0, 2.0, n)},
        geometry=shapely.box(x, CENTRE[1], x + 0.001, CENTRE[1] + 0.001),
        crs="EPSG:4326",
    )


def build_access_city(make_database, tmp_path_factory) -> AccessCity:
    """Migrate, load the demo, add the layers and issue the tokens."""
    url = make_database("onemap_access")
    engine = make_engine(url, pool_size=2)
    migrate.upgrade(engine)
    var_dir = tmp_path_factory.mktemp("access-var")
    settings = Settings(database_url=url, var_dir=var_dir, port=0, max_upload_bytes=UPLOAD_LIMIT)
    summary = load_demo(engine, settings, size="small", seed=42, imagery=True, console=None, principal=local_operator())
    assert summary.scene is not None
    files = tmp_path_factory.mktemp("access-files")
    for visibility in VISIBILITIES:
        path = files / f"acc_{visibility}.geojson"
        points().to_file(path)
        spec = LayerSpec(f"acc_{visibility}", f"测试{visibility}", f"Test {visibility}", OWNER, visibility=visibility)
        load_vector_file(engine, path, spec, principal=local_operator())
        with engine.begin() as conn:
            register_layer(
                conn,
                LayerSpec(
                    f"img_{visibility}", f"影像{visibility}", f"Imagery {visibility}", OWNER,
                    kind="imagery", visibility=visibility, storage_path=str(summary.scene.path),
                ),
            )
            set_layer_extent(conn, f"img_{visibility}", summary.scene.lonlat_bounds())
    parcels().to_file(files / "acc_parcels.geojson")
    load_vector_file(engine, files / "acc_parcels.geojson", LayerSpec("acc_parcels", "地块", "Parcels", OWNER), principal=local_operator())
    city = AccessCity(url=url, settings=settings, scene=summary.scene.path)
    for role, (department, kind) in TOKEN_ROLES.items():
        city.tokens[role] = create_token(engine, department_code=department, role=kind, name=role, actor=local_operator()).secret
    engine.dispose()
    return city
