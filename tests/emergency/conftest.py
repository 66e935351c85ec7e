"""Shared fixtures of issue 17 (emergency command): the Manhattan city, loaded once per session.

``manhattan_city`` loads examples/cities/manhattan.yaml (OSM roads of Midtown, NYC divisions)
into a database of its own and serves it over HTTP: a ``ServedCity`` with ``url``, ``engine``,
``settings``, ``base`` (the served base URL) and ``tokens`` per role (admin/editor/viewer of the
emergency department). Tests using it skip when ../shared/realdata is absent (never on CI).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import PROJECT_ROOT, realdata_path
from tests.live import ServedCity

MANHATTAN_PROFILE = PROJECT_ROOT / "examples" / "cities" / "manhattan.yaml"


@pytest.fixture(scope="session")
def manhattan_city(make_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedCity]:
    """Manhattan loaded as the base map of its own database, served over real HTTP."""
    from layers.city.load import load_city
    from layers.city.profile import read_profile
    from spatial import migrate
    from spatial.access.principal import local_operator
    from spatial.access.tokens import create_token
    from spatial.config import Settings
    from spatial.db import make_engine
    from spatial.incidents.categories import add_department
    from tests.live import live_server

    realdata_path("nyc", "osm", "manhattan.osm.pbf")
    url = make_database("onemap_manhattan17")
    engine = make_engine(url, pool_size=4)
    migrate.upgrade(engine)
    settings = Settings(database_url=url, var_dir=tmp_path_factory.mktemp("manhattan17-var"), port=0)
    report = load_city(engine, read_profile(MANHATTAN_PROFILE), principal=local_operator(), settings=settings)
    assert report.ok, report.lines()
    with engine.begin() as conn:
        add_department(conn, DEPARTMENT, "应急管理局", "Emergency Management")
    tokens = {}
    for role in ("admin", "editor", "viewer"):
        issued = create_token(engine, department_code=DEPARTMENT, role=role, name=f"manhattan {role}",
                              actor=local_operator())  # fmt: skip
        tokens[role] = issued.secret
    with live_server(settings) as base:
        yield ServedCity(url=url, settings=settings, engine=engine, base=base, tokens=tokens)
    engine.dispose()


DEPARTMENT = "emergency"
"""The department the Manhattan tokens belong to (added by the fixture)."""
