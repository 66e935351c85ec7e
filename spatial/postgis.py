"""The embedded PostgreSQL + PostGIS cluster: the platform's default database.

A private cluster from Debian's PostgreSQL packages lives in one folder of the project
(``var/pg`` by default)::

    var/pg/
      data/        PGDATA, owned by the OS user that runs the server
      log/         server.log
      state.json   port, role and generated password (mode 600, owned by the invoker)

``initdb`` refuses to run as root, so when we are root the server runs as an unprivileged
OS user (``postgres`` by default). It listens on 127.0.0.1 only, on a free port chosen at
set-up, with scram-sha-256 passwords.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from spatial.errors import ClusterError, MissingDependency

ROLE = "onemap"
DATABASE = "onemap"
EXTENSIONS = ("postgis", "pg_trgm")
OPTIONAL_EXTENSIONS = ("pgrouting",)

SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    "max_connections": "200",
    "shared_buffers": "'512MB'",
    "work_mem": "'32MB'",
    "maintenance_work_mem": "'512MB'",
    "max_wal_size": "'4GB'",
    "jit": "off",
    "timezone": "'UTC'",
    "log_min_messages": "warning",
}


@dataclass
class ClusterState:
    """What a client needs to reach the cluster, kept in state.json."""

    port: int
    user: str = ROLE
    password: str = ""
    database: str = DATABASE
    port_fixed: bool = False

    def url(self, database: str | None = None) -> str:
        pw = quote(self.password, safe="")
        return f"postgresql+psycopg://{self.user}:{pw}@127.0.0.1:{self.port}/{database or self.database}"


@dataclass
class ClusterStatus:
    running: bool
    initialised: bool
    data_dir: str
    port: int | None
    pid: int | None
    url: str | None


def find_pg_bin(explicit: Path | None = None) -> Path:
    """Folder holding initdb and pg_ctl: the given one, else the newest /usr/lib/postgresql/N/bin."""
    if explicit is not None:
        candidates = [explicit]
    else:
        found = sorted(
            glob.glob("/usr/lib/postgresql/*/bin/initdb"),
            key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0,
        )
        candidates = [Path(p).parent for p in reversed(found)]
        on_path = shutil.which("initdb")
        if on_path:
            candidates.append(Path(on_path).resolve().parent)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    raise MissingDependency(
        "PostgreSQL server is not installed (no initdb found): "
        "run `sudo apt-get install postgresql-15 postgresql-15-postgis-3` or `make demo`"
    )


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedCluster:
    """One private PostgreSQL cluster in ``root``; every method is safe to call twice."""

    def __init__(
        self,
        root: Path,
        *,
        port: int | None = None,
        os_user: str = "postgres",
        bin_dir: Path | None = None,
    ) -> None:
        self.root = Path(root).expanduser().resolve()  # pg_ctl and the server see absolute paths
        self.data_dir = self.root / "data"
        self.log_dir = self.root / "log"
        self.log_file = self.log_dir / "server.log"
        self.state_file = self.root / "state.json"
        self.requested_port = port
        self.os_user = os_user
        self._requested_bin = bin_dir
        self._bin_dir: Path | None = None

    # ----------------------------------------------------------------- identity
    @property
    def bin_dir(self) -> Path:
        if self._bin_dir is None:
            self._bin_dir = find_pg_bin(self._requested_bin)
        return self._bin_dir

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    def _server_account(self) -> pwd.struct_passwd:
        """The OS account that owns PGDATA and runs postgres."""
        if not self.as_root:
            return pwd.getpwuid(os.geteuid())
        try:
            account = pwd.getpwnam(self.os_user)
        except KeyError:
            raise ClusterError(
                f"running as root needs an unprivileged OS user to run PostgreSQL, and "
                f"'{self.os_user}' does not exist: create it (useradd --system {self.os_user}) "
                "or set ONEMAP_PG_OS_USER"
            ) from None
        if account.pw_uid == 0:
            raise ClusterError("ONEMAP_PG_OS_USER must not be root: initdb refuses to run as root")
        return account

    def _run_as_server(self, args: list[str], *, extra_env: dict[str, str] | None = None,
                       **kwargs) -> subprocess.CompletedProcess[str]:  # fmt: skip
        account = self._server_account()
        env = {
            "PATH": f"{self.bin_dir}:/usr/bin:/bin",
            "HOME": account.pw_dir if os.path.isdir(account.pw_dir) else "/tmp",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            **(extra_env or {}),
        }
        extra: dict = {}
        if self.as_root:
            extra = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        return subprocess.run(
            args, env=env, cwd="/", capture_output=True, text=True, check=False, **extra, **kwargs
        )

    # -------------------------------------------------------------------- state
    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists() and self.state_file.exists()

    def read_state(self) -> ClusterState:
        try:
            return ClusterState(**json.loads(self.state_file.read_text()))
        except FileNotFoundError:
            raise ClusterError(
                f"the embedded database in {self.root} is not set up: run `onemap db start`"
            ) from None
        except PermissionError:
            raise ClusterError(
                f"cannot read {self.state_file}: the data folder belongs to another user"
            ) from None

    def _write_state(self, state: ClusterState) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(asdict(state), fh, indent=2)
        os.replace(tmp, self.state_file)

    def url(self, database: str | None = None) -> str:
        return self.read_state().url(database)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise start/stop between processes (parallel test workers, two shells)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # ------------------------------------------------------------------- checks
    def check_ownership(self) -> None:
        """Refuse a data folder that belongs to someone other than us (or our server user)."""
        for path in (self.root, self.data_dir):
            if not path.exists():
                continue
            owner = path.stat().st_uid
            allowed = {os.geteuid()}
            if self.as_root:
                allowed.add(self._server_account().pw_uid)
            if owner not in allowed:
                name = _user_name(owner)
                raise ClusterError(
                    f"the data folder {path} belongs to user '{name}', not to you: run as '{name}' "
                    "or set ONEMAP_PG_DATA to a folder of your own"
                )
        if self.state_file.exists() and not os.access(self.state_file, os.R_OK):
            raise ClusterError(f"cannot read {self.state_file}: it belongs to another user")

    def _check_server_can_reach(self) -> None:
        if not self.as_root:
            return
        probe = self._run_as_server(["test", "-w", str(self.data_dir)])
        if probe.returncode != 0:
            raise ClusterError(
                f"the server user '{self.os_user}' cannot write to {self.data_dir} (a parent folder is "
                "private to root): set ONEMAP_PG_DATA to a folder it can reach, e.g. /var/tmp/onemap-pg"
            )

    # ---------------------------------------------------------------- lifecycle
    def init(self) -> ClusterState:
        """Create the cluster (initdb) if there is none; return its connection state."""
        self.check_ownership()
        if self.initialised:
            return self.read_state()
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise ClusterError(
                f"{self.data_dir} is not empty but holds no complete cluster (an interrupted set-up?): "
                f"remove it with `onemap db destroy` and start again"
            )
        account = self._server_account()
        self.root.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        if self.as_root:
            for folder in (self.data_dir, self.log_dir):
                os.chown(folder, account.pw_uid, account.pw_gid)
        self._check_server_can_reach()
        state = ClusterState(
            port=self.requested_port or free_port(),
            password=secrets.token_urlsafe(24),
            port_fixed=self.requested_port is not None,
        )
        pwfile = self.log_dir / ".pwfile"
        pwfile.write_text(state.password + "\n")
        os.chmod(pwfile, 0o600)
        if self.as_root:
            os.chown(pwfile, account.pw_uid, account.pw_gid)
        try:
            result = self._run_as_server(
                [
                    str(self.bin_dir / "initdb"),
                    "-D", str(self.data_dir),
                    "-U", state.user,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise ClusterError(f"initdb failed: {_last_line(result.stderr or result.stdout)}")
        self._write_server_conf(state.port)
        self._write_state(state)
        return state

    def _write_server_conf(self, port: int) -> None:
        lines = [f"{key} = {value}" for key, value in SERVER_SETTINGS.items()]
        lines.append(f"port = {port}")
        text = "# written by onemap (spatial/postgis.py)\n" + "\n".join(lines) + "\n"
        conf = self.data_dir / "onemap.conf"
        conf.write_text(text)
        main_conf = self.data_dir / "postgresql.conf"
        body = main_conf.read_text()
        if "include_if_exists = 'onemap.conf'" not in body:
            main_conf.write_text(body + "\ninclude_if_exists = 'onemap.conf'\n")
        if self.as_root:
            account = self._server_account()
            for path in (conf, main_conf):
                os.chown(path, account.pw_uid, account.pw_gid)

    def pid(self) -> int | None:
        """PID of the running postmaster, or None."""
        if not (self.data_dir / "PG_VERSION").exists():
            return None
        result = self._run_as_server([str(self.bin_dir / "pg_ctl"), "status", "-D", str(self.data_dir)])
        if result.returncode != 0:
            return None
        for token in result.stdout.replace(")", " ").split():
            if token.isdigit():
                return int(token)
        return None

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(self, *, timeout: int = 60) -> ClusterState:
        """Start the cluster (initialising it first if needed); a second start is a no-op."""
        with self._lock():
            state = self.init()
            if self.is_running():
                return state
            state = self._ensure_port(state)
            result = self._run_as_server(
                [
                    str(self.bin_dir / "pg_ctl"), "start", "-w", "-t", str(timeout),
                    "-D", str(self.data_dir), "-l", str(self.log_file),
                ]
            )
            if result.returncode != 0:
                raise ClusterError(
                    f"PostgreSQL did not start: {_last_line(result.stderr or result.stdout)}; "
                    f"see {self.log_file}: {self._log_tail()}"
                )
            self._wait_ready(state, timeout)
            self._create_database(state)
            return state

    def _ensure_port(self, state: ClusterState) -> ClusterState:
        if port_is_free(state.port):
            return state
        if state.port_fixed:
            raise ClusterError(
                f"port {state.port} for the embedded database is busy: stop what uses it or "
                "choose another with ONEMAP_PG_PORT"
            )
        state.port = free_port()
        self._write_server_conf(state.port)
        self._write_state(state)
        return state

    def _wait_ready(self, state: ClusterState, timeout: int) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(**_conninfo(state, "postgres"), connect_timeout=3):
                    return
            except psycopg.OperationalError as err:
                if time.monotonic() > deadline:
                    raise ClusterError(f"PostgreSQL started but does not accept connections: {err}") from err
                time.sleep(0.2)

    def _create_database(self, state: ClusterState) -> None:
        create_database(state, state.database)

    def stop(self, *, mode: str = "fast") -> bool:
        """Stop the cluster; returns False when it was not running."""
        with self._lock():
            if not self.is_running():
                return False
            result = self._run_as_server(
                [str(self.bin_dir / "pg_ctl"), "stop", "-w", "-m", mode, "-D", str(self.data_dir)]
            )
            if result.returncode != 0:
                raise ClusterError(f"PostgreSQL did not stop: {_last_line(result.stderr)}")
            return True

    def destroy(self) -> None:
        """Stop the cluster and delete its folder (all data)."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def status(self) -> ClusterStatus:
        initialised = self.initialised
        state = self.read_state() if initialised else None
        pid = self.pid() if initialised else None
        return ClusterStatus(
            running=pid is not None,
            initialised=initialised,
            data_dir=str(self.data_dir),
            port=state.port if state else None,
            pid=pid,
            url=state.url() if state else None,
        )

    def _log_tail(self, lines: int = 3) -> str:
        try:
            text = self.log_file.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(text[-lines:])


REPLICA_PREFIX = "replica-"


class StandbyCluster(EmbeddedCluster):
    """A streaming replica of an embedded cluster, on this machine: ``<primary root>-replica-N``.

    Made by ``pg_basebackup -R`` from the running primary through a physical replication slot
    (``onemap_replica_N``), it runs as the same OS user on a port of its own and answers reads
    only (hot standby). Its state.json holds the primary's role and password: the copy has them.
    """

    def __init__(self, primary: EmbeddedCluster, number: int) -> None:
        root = primary.root.parent / f"{primary.root.name}-{REPLICA_PREFIX}{number}"
        super().__init__(root, os_user=primary.os_user, bin_dir=primary._requested_bin)
        self.primary = primary
        self.number = number
        self.slot = f"onemap_replica_{number}"

    @property
    def initialised(self) -> bool:
        return super().initialised and (self.data_dir / "standby.signal").exists()

    def init(self) -> ClusterState:
        if not self.initialised:
            raise ClusterError(f"replica {self.number} is not set up: run `onemap db replica add`")
        return self.read_state()

    def _create_database(self, state: ClusterState) -> None:
        """A standby is read-only: its databases and extensions come from the primary."""

    def create(self) -> ClusterState:
        """Copy the running primary (pg_basebackup through a new slot) and start the standby."""
        if self.root.exists():
            raise ClusterError(f"{self.root} exists already: remove replica {self.number} first")
        primary_state = self.primary.read_state()
        if not self.primary.is_running():
            raise ClusterError("the embedded primary is not running: start it with `onemap db start`")
        account = self._server_account()
        self.root.mkdir(parents=True)
        try:
            self.data_dir.mkdir(mode=0o700)
            self.log_dir.mkdir()
            if self.as_root:
                for folder in (self.data_dir, self.log_dir):
                    os.chown(folder, account.pw_uid, account.pw_gid)
            self._check_server_can_reach()
            result = self._run_as_server(
                [
                    str(self.bin_dir / "pg_basebackup"),
                    "-h", "127.0.0.1", "-p", str(primary_state.port), "-U", primary_state.user,
                    "-D", str(self.data_dir), "-R", "-X", "stream", "-c", "fast",
                    "-C", "-S", self.slot, "--no-password",
                ],
                extra_env={"PGPASSWORD": primary_state.password},
            )
            if result.returncode != 0:
                raise ClusterError(f"pg_basebackup failed: {_last_line(result.stderr or result.stdout)}")
            state = ClusterState(port=free_port(), user=primary_state.user, password=primary_state.password,
                                 database=primary_state.database)  # fmt: skip
            self._write_server_conf(state.port)
            self._write_state(state)
            return self.start()
        except BaseException:
            self.stop_quietly()
            shutil.rmtree(self.root, ignore_errors=True)
            self.drop_slot()
            raise

    def stop_quietly(self) -> None:
        with contextlib.suppress(ClusterError, OSError):
            if (self.data_dir / "PG_VERSION").exists():
                self.stop(mode="immediate")

    def remove(self) -> None:
        """Stop the standby, delete its folder and drop its slot on the primary."""
        self.stop_quietly()
        shutil.rmtree(self.root, ignore_errors=True)
        self.drop_slot()

    def drop_slot(self) -> bool:
        """Drop this replica's slot on the primary (a forgotten slot keeps WAL forever); False if it could not."""
        import psycopg

        try:
            state = self.primary.read_state()
            with psycopg.connect(**_conninfo(state, "postgres"), autocommit=True, connect_timeout=5) as conn:
                conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                             "WHERE slot_name = %s AND NOT active", (self.slot,))  # fmt: skip
                return True
        except (psycopg.Error, ClusterError):
            return False


def standbys(primary: EmbeddedCluster) -> list[StandbyCluster]:
    """The replicas of ``primary`` on this machine, by number."""
    found = []
    pattern = f"{primary.root.name}-{REPLICA_PREFIX}"
    if primary.root.parent.exists():
        for path in primary.root.parent.iterdir():
            suffix = path.name[len(pattern):]
            if path.name.startswith(pattern) and suffix.isdigit() and path.is_dir():
                found.append(StandbyCluster(primary, int(suffix)))
    return sorted(found, key=lambda standby: standby.number)


def _conninfo(state: ClusterState, database: str) -> dict:
    return {
        "host": "127.0.0.1",
        "port": state.port,
        "user": state.user,
        "password": state.password,
        "dbname": database,
    }


def create_database(state: ClusterState, name: str, *, template: str | None = None) -> bool:
    """Create database ``name`` with our extensions if it is missing; True when it was created."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(**_conninfo(state, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template:
                stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            conn.execute(stmt)
    with psycopg.connect(**_conninfo(state, name), autocommit=True) as conn:
        install_extensions(conn)
    return not exists


def drop_database(state: ClusterState, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(**_conninfo(state, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def install_extensions(conn: Any) -> None:
    """CREATE EXTENSION for what the platform needs; clear error when a package is missing."""
    available = {
        row[0]
        for row in conn.execute(
            "SELECT name FROM pg_available_extensions WHERE name = ANY(%s)",
            (list(EXTENSIONS + OPTIONAL_EXTENSIONS),),
        )
    }
    for name in EXTENSIONS:
        if name not in available:
            package = "postgresql-15-postgis-3" if name == "postgis" else "postgresql-contrib"
            raise MissingDependency(
                f"the PostgreSQL extension '{name}' is not installed: apt-get install {package}"
            )
        conn.execute(f"CREATE EXTENSION IF NOT EXISTS {name}")
    for name in OPTIONAL_EXTENSIONS:
        if name in available:
            conn.execute(f"CREATE EXTENSION IF NOT EXISTS {name} CASCADE")


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _last_line(text: str) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"
