"""Run every notebook (nbmake) against a demo city made for the run, over real HTTP and PostGIS.

The first notebook to run creates a throwaway database in the test cluster (``var/pg-test``,
or ``ONEMAP_TEST_DATABASE_URL``'s server) holding the small demo city with its imagery, the
incident categories and a unit grid; serves it on a free loopback port; and makes a token.
Each notebook's kernel inherits ``ONEMAP_DATABASE_URL``, ``ONEMAP_URL`` and ``ONEMAP_TOKEN``
(set only while notebooks run, so tests in the same session keep their own environment).
Everything is dropped when the session ends.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from spatial.access.principal import local_operator

NOTEBOOK_TOKEN = ("urban", "editor", "notebooks")  # department, role, name


@dataclass
class NotebookCity:
    """The run's demo city: its environment for kernels and what to clean up."""

    env: dict[str, str]
    cleanup: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)


_city: NotebookCity | None = None


def _is_notebook(item: pytest.Item) -> bool:
    return str(getattr(item, "path", "")).endswith(".ipynb")


def build_city() -> NotebookCity:
    """Create, load and serve the notebooks' demo city."""
    from layers.demo.grid_management import prepare_grid_management
    from layers.demo.load import load_demo
    from spatial import migrate
    from spatial.access.tokens import create_token
    from spatial.config import Settings
    from spatial.db import make_engine
    from tests.live import live_server

    city = NotebookCity(env={})
    state, create, drop = _server()
    name = f"onemap_notebooks_{os.getpid()}"
    create(state, name)
    city.cleanup.callback(drop, state, name)
    url = state.url(name)
    var_dir = Path(city.cleanup.enter_context(tempfile.TemporaryDirectory(prefix="onemap-nb-")))
    settings = Settings(database_url=url, var_dir=var_dir, port=0)
    engine = make_engine(url, pool_size=2)
    city.cleanup.callback(engine.dispose)
    migrate.upgrade(engine)
    load_demo(engine, settings, size="small", seed=42, imagery=True, console=None, principal=local_operator())
    prepare_grid_management(engine, operator=local_operator())
    department, role, who = NOTEBOOK_TOKEN
    token = create_token(engine, department_code=department, role=role, name=who, actor=local_operator()).secret
    base = city.cleanup.enter_context(live_server(settings))
    city.env = {"ONEMAP_DATABASE_URL": url, "ONEMAP_URL": base, "ONEMAP_TOKEN": token,
                "MPLBACKEND": "agg", "ONEMAP_NOTEBOOK_CI": "1"}  # fmt: skip
    return city


def _server() -> tuple[Any, Any, Any]:
    """The test PostgreSQL server's state and its create/drop functions."""
    from sqlalchemy import make_url

    from spatial.config import PROJECT_ROOT
    from spatial.postgis import ClusterState, EmbeddedCluster, create_database, drop_database

    external = os.environ.get("ONEMAP_TEST_DATABASE_URL")
    if external:
        parsed = make_url(external)
        state = ClusterState(port=parsed.port or 5432, user=parsed.username or "postgres",
                             password=parsed.password or "", database=parsed.database or "postgres")  # fmt: skip
    else:
        state = EmbeddedCluster(PROJECT_ROOT / "var" / "pg-test").start()
    return state, create_database, drop_database


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Run a notebook with the city's environment set, and only then."""
    global _city
    if not _is_notebook(item):
        yield
        return
    if _city is None:
        _city = build_city()
    saved = {key: os.environ.get(key) for key in _city.env}
    os.environ.update(_city.env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop the server and drop the database."""
    global _city
    if _city is not None:
        _city.cleanup.close()
        _city = None
