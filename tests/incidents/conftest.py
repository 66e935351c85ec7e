"""A demo city with a unit grid, the category catalogue and a token per workflow role, served
over real HTTP: shared by the incident, Open311 and inspector-page tests (one per session)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from spatial.access.principal import local_operator
from spatial.config import Settings
from spatial.db import make_engine
from tests.live import ServedCity

# a point inside the demo city's 归义区 (district 610151)
GUIYI = (108.94, 34.26)

ROLE_TOKENS = {
    "inspector": ("supervision", "inspector"),
    "inspector2": ("supervision", "inspector"),
    "supervisor": ("supervision", "editor"),
    "commander": ("command", "editor"),
    "viewer": ("urban", "viewer"),
    "water": ("water", "editor"),
    "drainage": ("drainage", "editor"),
    "enforcement": ("enforcement", "editor"),
    "street_610151003": ("street_610151003", "editor"),
    "admin": ("urban", "admin"),
}


IncidentCity = ServedCity


def png_bytes(size: tuple[int, int] = (32, 24)) -> bytes:
    """A small real PNG image."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (200, 80, 40)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="session")
def incident_city(make_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IncidentCity]:
    from layers.demo.load import load_demo
    from layers.grid_layers import register_grid_layers
    from spatial import migrate
    from spatial.access.tokens import create_token
    from spatial.grid.build import build_grid
    from spatial.incidents.categories import load_catalogue, read_catalogue
    from tests.live import live_server

    url = make_database("onemap_incidents")
    engine = make_engine(url, pool_size=4)
    migrate.upgrade(engine)
    settings = Settings(database_url=url, var_dir=tmp_path_factory.mktemp("incident-var"), port=0)
    load_demo(engine, settings, size="small", seed=42, imagery=False, console=None, principal=local_operator())
    build_grid(engine, principal=local_operator())
    load_catalogue(engine, read_catalogue(), principal=local_operator())
    with engine.begin() as conn:
        register_grid_layers(conn)
    tokens = {
        name: create_token(engine, department_code=dept, role=role, name=name, actor=local_operator()).secret
        for name, (dept, role) in ROLE_TOKENS.items()
    }
    with live_server(settings) as base:
        yield IncidentCity(url, settings, engine, base, tokens)
    engine.dispose()
