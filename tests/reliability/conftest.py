"""One city for the reliability and security tests: the small demo (restored from a dump of the
session's demo database, quicker than loading it again), a unit grid, the category catalogue,
an overlay layer everyone edits and a token per role; served over real HTTP without rate limits
(the rate-limit tests start servers of their own with tight limits on the same database).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from spatial.access.principal import local_operator
from spatial.config import Settings
from spatial.db import make_engine
from tests.live import ServedCity

CENTRE = (108.94, 34.26)  # inside the demo city's 归义区
OVERLAY = "rel_sites"
ROLE_TOKENS = {
    "admin": ("planning", "admin"),
    "editor": ("emergency", "editor"),
    "editor2": ("emergency", "editor"),
    "other_editor": ("environment", "editor"),
    "viewer": ("emergency", "viewer"),
    "inspector": ("supervision", "inspector"),
    "inspector2": ("supervision", "inspector"),
    "supervisor": ("supervision", "editor"),
    "commander": ("command", "editor"),
}


ReliableCity = ServedCity


@pytest.fixture(scope="session")
def demo_dump(demo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pg_dump of the session's demo database (read only from here on)."""
    from spatial.backup import backup

    return backup(demo_url, tmp_path_factory.mktemp("demo-dump") / "demo.dump").path


def build_city(url: str, dump: Path, var_dir: Path) -> dict[str, str]:
    """Restore the demo, add grid, catalogue, the overlay and tokens; the tokens' secrets."""
    import geopandas as gpd
    import numpy as np
    import shapely

    from layers.catalog import LayerSpec
    from layers.grid_layers import register_grid_layers
    from layers.vector import load_vector_file
    from spatial.access.tokens import create_token
    from spatial.backup import restore
    from spatial.grid.build import build_grid
    from spatial.incidents.categories import load_catalogue, read_catalogue

    engine = make_engine(url, pool_size=2)
    restore(engine, dump)
    build_grid(engine, principal=local_operator())
    load_catalogue(engine, read_catalogue(), principal=local_operator())
    with engine.begin() as conn:
        register_grid_layers(conn)
    n = 40
    sites = gpd.GeoDataFrame(
        {"name": [f"站点{i}" for i in range(n)], "capacity": np.arange(n, dtype="int64")},
        geometry=shapely.points(CENTRE[0] + np.arange(n) * 0.0005, CENTRE[1] + np.arange(n) * 0.0003),
        crs="EPSG:4326",
    )
    path = var_dir / f"{OVERLAY}.geojson"
    sites.to_file(path)
    load_vector_file(engine, path, LayerSpec(OVERLAY, "站点", "Sites", "emergency"), principal=local_operator())
    tokens = {
        role: create_token(engine, department_code=dept, role=kind, name=role, actor=local_operator()).secret
        for role, (dept, kind) in ROLE_TOKENS.items()
    }
    engine.dispose()
    return tokens


@pytest.fixture(scope="session")
def reliable_city(make_database, demo_dump: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReliableCity]:
    from tests.live import live_server

    url = make_database("onemap_reliable")
    var_dir = tmp_path_factory.mktemp("reliable-var")
    tokens = build_city(url, demo_dump, var_dir)
    settings = Settings(database_url=url, var_dir=var_dir, port=0, rate_limit_writes="off",
                        rate_limit_anonymous="off")  # fmt: skip
    engine = make_engine(url, pool_size=4)
    with live_server(settings) as base:
        yield ReliableCity(url, settings, engine, base, tokens)
    engine.dispose()
