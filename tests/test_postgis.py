"""The embedded PostgreSQL + PostGIS cluster: lifecycle, persistence, and its refusals."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest

from spatial.config import PROJECT_ROOT
from spatial.errors import ClusterError, MissingDependency
from spatial.postgis import EmbeddedCluster, free_port

SCRATCH = PROJECT_ROOT / "var" / "test-clusters"


@pytest.fixture()
def cluster_dir() -> Path:
    # under the project (not /tmp/pytest-of-root, which the server user cannot reach)
    path = SCRATCH / uuid.uuid4().hex[:8]
    yield path
    cluster = EmbeddedCluster(path)
    with contextlib.suppress(ClusterError):
        cluster.stop(mode="immediate")
    shutil.rmtree(path, ignore_errors=True)


def _query(cluster: EmbeddedCluster, sql: str, *params: object):
    state = cluster.read_state()
    with psycopg.connect(
        host="127.0.0.1", port=state.port, user=state.user, password=state.password,
        dbname=state.database, autocommit=True,
    ) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


def test_lifecycle_start_stop_restart_keeps_data(cluster_dir: Path) -> None:
    cluster = EmbeddedCluster(cluster_dir)
    assert not cluster.initialised
    state = cluster.start()
    assert cluster.is_running()
    first_pid = cluster.pid()

    # a second start is a no-op: same server, same port
    again = cluster.start()
    assert again.port == state.port
    assert cluster.pid() == first_pid

    # PostGIS and pg_trgm are installed in the platform database
    extensions = {row[0] for row in _query(cluster, "SELECT extname FROM pg_extension")}
    assert {"postgis", "pg_trgm"} <= extensions
    _query(cluster, "CREATE TABLE kept (id int, geom geometry(Point, 4326))")
    _query(cluster, "INSERT INTO kept VALUES (1, ST_SetSRID(ST_MakePoint(108.94, 34.26), 4326))")

    assert cluster.stop() is True
    assert not cluster.is_running()
    assert cluster.status().running is False
    assert cluster.stop() is False  # stopping twice is harmless

    cluster.start()
    rows = _query(cluster, "SELECT id, ST_X(geom), ST_Y(geom) FROM kept")
    assert rows == [(1, 108.94, 34.26)]


def test_server_listens_on_loopback_only_with_passwords(cluster_dir: Path) -> None:
    cluster = EmbeddedCluster(cluster_dir)
    state = cluster.start()
    assert (_query(cluster, "SHOW listen_addresses")) == [("127.0.0.1",)]
    assert oct(cluster.state_file.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(
            host="127.0.0.1", port=state.port, user=state.user, password="wrong", dbname="onemap"
        )


def test_runs_server_as_unprivileged_user(cluster_dir: Path) -> None:
    cluster = EmbeddedCluster(cluster_dir)
    cluster.start()
    owner = pwd.getpwuid(cluster.data_dir.stat().st_uid).pw_name
    if os.geteuid() == 0:
        assert owner == "postgres"
    else:
        assert owner == pwd.getpwuid(os.geteuid()).pw_name
    pid = cluster.pid()
    uid = int(Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[0])
    assert uid != 0


def test_busy_fixed_port_is_a_clear_error(cluster_dir: Path) -> None:
    port = free_port()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        cluster = EmbeddedCluster(cluster_dir, port=port)
        with pytest.raises(ClusterError, match=f"port {port} .* is busy"):
            cluster.start()


def test_busy_automatic_port_moves_to_a_free_one(cluster_dir: Path) -> None:
    cluster = EmbeddedCluster(cluster_dir)
    state = cluster.start()
    cluster.stop()
    with socket.socket() as blocker:
        # SO_REUSEADDR: the stopped server's closed connections may leave the port in
        # TIME_WAIT for a minute; the blocker must still listen on it (the cluster's own
        # probe also uses SO_REUSEADDR, so only a listener makes the port busy to it).
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", state.port))
        blocker.listen()
        moved = cluster.start()
    assert moved.port != state.port
    assert cluster.read_state().port == moved.port


def test_data_folder_of_someone_else_is_refused(cluster_dir: Path) -> None:
    cluster_dir.mkdir(parents=True)
    data = cluster_dir / "data"
    data.mkdir()
    stranger = pwd.getpwnam("nobody")
    if os.geteuid() != 0:
        pytest.skip("needs root to give a folder to another user")
    os.chown(data, stranger.pw_uid, stranger.pw_gid)
    with pytest.raises(ClusterError, match="belongs to user 'nobody'"):
        EmbeddedCluster(cluster_dir).start()


def test_missing_server_package_is_a_clear_error(tmp_path: Path, cluster_dir: Path) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    with pytest.raises(MissingDependency, match="apt-get install postgresql-15"):
        from spatial.postgis import find_pg_bin

        find_pg_bin(empty_bin)


def test_works_as_a_normal_user(tmp_path: Path) -> None:
    """`onemap db start` run by an unprivileged user sets up its own cluster."""
    if os.geteuid() != 0:
        pytest.skip("already a normal user: every other test covers this case")
    folder = Path("/var/tmp") / f"onemap-user-{uuid.uuid4().hex[:8]}"
    folder.mkdir(mode=0o755)
    account = pwd.getpwnam("postgres")
    os.chown(folder, account.pw_uid, account.pw_gid)
    # the venv's interpreter lives under /root here; the system 3.11 runs the same code
    python = Path("/usr/bin/python3.11")
    if not python.exists():
        pytest.skip("no system python3.11 for the unprivileged user")
    site = next((PROJECT_ROOT / ".venv" / "lib").glob("python3.11/site-packages"))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(folder), "ONEMAP_PG_DATA": str(folder / "pg"),
           "ONEMAP_VAR_DIR": str(folder), "PYTHONPATH": f"{PROJECT_ROOT}:{site}"}
    onemap = [str(python), "-m", "api.cli"]
    try:
        started = subprocess.run(
            [*onemap, "db", "start"], env=env, user="postgres", capture_output=True, text=True, timeout=120
        )
        assert started.returncode == 0, started.stderr
        status = subprocess.run(
            [*onemap, "db", "status"], env=env, user="postgres", capture_output=True, text=True
        )
        assert status.stdout.startswith("running"), status.stdout + status.stderr
    finally:
        subprocess.run([*onemap, "db", "stop"], env=env, user="postgres", capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
