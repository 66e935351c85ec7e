"""A city hall's own PostgreSQL (issue 14, item 6): an empty database, a role without rights, URLs.

`onemap db upgrade` on a database without PostGIS creates the extensions it needs; where the role
may not, it says in one line which are missing and what a superuser must run. Nothing is
half-made. `onemap db url` prints a URL psql and GDAL take (`--sqlalchemy` for the other form).
"""

from __future__ import annotations

import secrets
import subprocess
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from spatial.postgis import ClusterState, _conninfo
from tests.test_cli import one_line_error, run


@pytest.fixture()
def empty_database(test_server_state: ClusterState) -> Iterator[tuple[str, str]]:
    """(name, superuser URL) of a database with no extension at all, dropped afterwards."""
    name = f"onemap_empty_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(**_conninfo(test_server_state, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    yield name, test_server_state.url(name)
    with psycopg.connect(**_conninfo(test_server_state, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _extensions(url: str) -> set[str]:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return {row[0] for row in conn.execute("SELECT extname FROM pg_extension")}


def test_upgrade_creates_the_extensions_of_an_empty_database(empty_database) -> None:
    _, url = empty_database
    assert "postgis" not in _extensions(url)
    status = run("db", "status", env={"ONEMAP_DATABASE_URL": url})
    assert status.returncode != 0 and "onemap db upgrade" in one_line_error(status)
    result = run("db", "upgrade", env={"ONEMAP_DATABASE_URL": url}, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "extensions created: postgis, pg_trgm" in result.stdout + result.stderr
    assert {"postgis", "pg_trgm"} <= _extensions(url)
    again = run("db", "upgrade", env={"ONEMAP_DATABASE_URL": url}, timeout=300)  # safe to run twice
    assert again.returncode == 0 and "extensions created" not in again.stdout + again.stderr


def test_a_role_that_may_not_create_extensions_is_told_in_one_line(empty_database, test_server_state) -> None:
    name, _ = empty_database
    role, password = f"clerk_{uuid.uuid4().hex[:6]}", secrets.token_urlsafe(12)
    with psycopg.connect(**_conninfo(test_server_state, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(name), sql.Identifier(role)))
    url = f"postgresql://{role}:{password}@127.0.0.1:{test_server_state.port}/{name}"
    try:
        result = run("db", "upgrade", env={"ONEMAP_DATABASE_URL": url}, timeout=300)
        message = one_line_error(result)
        assert result.returncode != 0
        assert "postgis" in message and "superuser must run" in message and "CREATE EXTENSION postgis" in message
        assert "postgis" not in _extensions(test_server_state.url(name))  # nothing half-made
    finally:
        with psycopg.connect(**_conninfo(test_server_state, "postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(name),
                                                                       sql.Identifier(test_server_state.user)))  # fmt: skip
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_db_url_is_a_libpq_url_psql_takes(db_url: str) -> None:
    plain = run("db", "url", env={"ONEMAP_DATABASE_URL": db_url})
    assert plain.returncode == 0 and plain.stdout.startswith("postgresql://"), plain.stdout
    answer = subprocess.run(["psql", plain.stdout.strip(), "-XAtc", "SELECT postgis_lib_version()"],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert answer.returncode == 0 and answer.stdout.strip(), answer.stderr
    alchemy = run("db", "url", "--sqlalchemy", env={"ONEMAP_DATABASE_URL": db_url})
    assert alchemy.stdout.startswith("postgresql+psycopg://")
