"""The `onemap` command fails with one clear line and a non-zero status when it cannot work."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from spatial.config import PROJECT_ROOT
from spatial.postgis import free_port

ONEMAP = [sys.executable, "-m", "api.cli"]


def run(*args: str, env: dict[str, str] | None = None, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMAP_")}
    full_env.update(env or {})
    return subprocess.run(
        [*ONEMAP, *args], env=full_env, capture_output=True, text=True, timeout=timeout, cwd=PROJECT_ROOT
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert lines[0].startswith("onemap: error: "), lines[0]
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture()
def scratch() -> Path:
    path = PROJECT_ROOT / "var" / "test-clusters" / uuid.uuid4().hex[:8]
    path.mkdir(parents=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_unreachable_database(tmp_path: Path) -> None:
    url = f"postgresql://nobody:secret@127.0.0.1:{free_port()}/nowhere"
    result = run("db", "upgrade", env={"ONEMAP_DATABASE_URL": url})
    assert result.returncode == 3
    line = one_line_error(result)
    assert "cannot reach the database" in line
    assert "secret" not in line  # the password is never printed


def test_unreachable_database_for_demo() -> None:
    url = f"postgresql://nobody:secret@127.0.0.1:{free_port()}/nowhere"
    result = run("demo", env={"ONEMAP_DATABASE_URL": url})
    assert result.returncode == 3
    assert "cannot reach the database" in one_line_error(result)


def test_busy_port_for_serve(db_url: str) -> None:
    port = free_port()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        result = run("serve", "--port", str(port), env={"ONEMAP_DATABASE_URL": db_url}, timeout=60)
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is busy" in one_line_error(result)


def test_missing_postgresql_package(scratch: Path) -> None:
    result = run("db", "start", env={"ONEMAP_PG_DATA": str(scratch / "pg"), "ONEMAP_PG_BIN": str(scratch)})
    assert result.returncode == 3
    assert "apt-get install postgresql-15" in one_line_error(result)


def test_data_folder_of_another_user(scratch: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to hand a folder to another user")
    data = scratch / "pg" / "data"
    data.mkdir(parents=True)
    nobody = pwd.getpwnam("nobody")
    os.chown(data, nobody.pw_uid, nobody.pw_gid)
    result = run("db", "start", env={"ONEMAP_PG_DATA": str(scratch / "pg")})
    assert result.returncode == 3
    assert "belongs to user 'nobody'" in one_line_error(result)


def test_url_before_set_up(scratch: Path) -> None:
    result = run("db", "url", env={"ONEMAP_PG_DATA": str(scratch / "never")})
    assert result.returncode == 3
    assert "run `onemap db start`" in one_line_error(result)


def test_bad_setting_value() -> None:
    result = run("db", "status", env={"ONEMAP_PORT": "eighty"})
    assert result.returncode == 2
    assert "ONEMAP_PORT" in one_line_error(result)


def test_status_of_external_database(db_url: str) -> None:
    result = run("db", "status", env={"ONEMAP_DATABASE_URL": db_url})
    assert result.returncode == 0, result.stderr
    assert "external PostGIS" in result.stdout
