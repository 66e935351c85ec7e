"""Test fixtures: always a real PostgreSQL + PostGIS, started by the project itself.

One throwaway database per test session in the project's own embedded test cluster
(``var/pg-test``), migrated to head and dropped at the end. ``ONEMAP_TEST_DATABASE_URL``
points the suite at another PostGIS server instead (a database is still created and dropped).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, make_url, text

from spatial.access.principal import local_operator
from spatial.config import PROJECT_ROOT, Settings
from spatial.db import make_engine
from spatial.postgis import ClusterState, EmbeddedCluster, create_database, drop_database

REALDATA = PROJECT_ROOT.parent / "shared" / "realdata"
TEST_CLUSTER = PROJECT_ROOT / "var" / "pg-test"


def realdata_path(*parts: str) -> Path:
    """A file under ../shared/realdata; skips the test when absent, except on CI."""
    path = REALDATA.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"real data {path} is missing on CI")
        pytest.skip(f"real data not available here: {path}")
    return path


@pytest.fixture(scope="session")
def test_server_state() -> Iterator[ClusterState]:
    """Connection state of the PostgreSQL server the tests create their databases in."""
    external = os.environ.get("ONEMAP_TEST_DATABASE_URL")
    if external:
        url = make_url(external)
        yield ClusterState(
            port=url.port or 5432,
            user=url.username or "postgres",
            password=url.password or "",
            database=url.database or "postgres",
        )
        return
    cluster = EmbeddedCluster(TEST_CLUSTER)
    yield cluster.start()


def _new_database(state: ClusterState, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    create_database(state, name)
    return name


@pytest.fixture(scope="session")
def make_database(test_server_state: ClusterState) -> Iterator:
    """Factory: a fresh empty database (extensions installed, no schema); dropped at the end."""
    created: list[str] = []

    def factory(prefix: str = "onemap_test") -> str:
        name = _new_database(test_server_state, prefix)
        created.append(name)
        return test_server_state.url(name)

    yield factory
    for name in created:
        drop_database(test_server_state, name)


@pytest.fixture(scope="session")
def db_url(make_database) -> str:
    """A migrated, empty onemap database shared by the session."""
    from spatial import migrate

    url = make_database()
    engine = make_engine(url, pool_size=2)
    migrate.upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def settings(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    var_dir = tmp_path_factory.mktemp("var")
    return Settings(database_url=db_url, var_dir=var_dir, port=0)


@pytest.fixture(scope="session")
def demo_url(make_database, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database holding the small demo city (seed 42), loaded once per session."""
    from layers.demo.load import load_demo
    from spatial import migrate

    url = make_database("onemap_demo")
    eng = make_engine(url, pool_size=2)
    migrate.upgrade(eng)
    settings = Settings(database_url=url, var_dir=tmp_path_factory.mktemp("demo-var"))
    load_demo(eng, settings, size="small", seed=42, imagery=True, console=None, principal=local_operator())
    eng.dispose()
    return url


@pytest.fixture(scope="session")
def demo_settings(demo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings for the demo database; imagery sits where the demo load put it."""
    from sqlalchemy import create_engine

    eng = create_engine(demo_url)
    with eng.connect() as conn:
        path = conn.execute(
            text("SELECT storage_path FROM catalog.layer WHERE kind = 'imagery' LIMIT 1")
        ).scalar()
    eng.dispose()
    var_dir = Path(path).parent.parent if path else tmp_path_factory.mktemp("demo-var2")
    return Settings(database_url=demo_url, var_dir=var_dir, port=0)


@pytest.fixture(scope="session")
def demo_engine(demo_url: str) -> Iterator[Engine]:
    eng = make_engine(demo_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def demo_server(demo_settings: Settings) -> Iterator[str]:
    """Base URL of the platform serving the demo city over real HTTP."""
    from tests.live import live_server

    with live_server(demo_settings) as base:
        yield base


@pytest.fixture(scope="session")
def access_city(make_database, tmp_path_factory: pytest.TempPathFactory):
    """A demo city with tokens for every role and layers of every visibility (tests/access_city.py)."""
    from tests.access_city import build_access_city

    return build_access_city(make_database, tmp_path_factory)


@pytest.fixture(scope="session")
def access_server(access_city) -> Iterator[str]:
    """Base URL of the platform serving the access city over real HTTP."""
    from tests.live import live_server

    with live_server(access_city.settings) as base:
        yield base


@pytest.fixture(scope="session")
def demo_reader(demo_url: str) -> dict[str, str]:
    """Authorization header of a viewer of the environment department in the demo database."""
    from spatial.access.tokens import create_token

    eng = make_engine(demo_url, pool_size=1)
    issued = create_token(eng, department_code="environment", role="viewer", name="test reader", actor=local_operator())
    eng.dispose()
    return {"Authorization": f"Bearer {issued.secret}"}
