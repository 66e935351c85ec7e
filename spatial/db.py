"""Engine and session factories, and the one place that decides which database we talk to."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError, OperationalError, ProgrammingError

from spatial.config import Settings
from spatial.errors import DatabaseUnavailable, InvalidInput, MissingDependency
from spatial.postgis import EXTENSIONS, OPTIONAL_EXTENSIONS, EmbeddedCluster


def embedded_cluster(settings: Settings) -> EmbeddedCluster:
    return EmbeddedCluster(
        settings.cluster_dir,
        port=settings.pg_port,
        os_user=settings.pg_os_user,
        bin_dir=settings.pg_bin,
    )


def database_url(settings: Settings) -> str:
    """SQLAlchemy URL: ONEMAP_DATABASE_URL if set, else the embedded cluster's."""
    if settings.database_url:
        return normalise_url(settings.database_url)
    return embedded_cluster(settings).url()


def normalise_url(url: str, setting: str = "ONEMAP_DATABASE_URL") -> str:
    """Accept postgres://, postgresql:// and postgresql+psycopg:// alike; we drive psycopg 3.

    ``setting``: the variable the URL came from, named when it is refused."""
    try:
        parsed = make_url(url)
    except Exception as err:  # sqlalchemy raises ArgumentError with a terse message
        raise InvalidInput(f"{setting} is not a database URL: {url!r}") from err
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise InvalidInput(f"onemap needs PostgreSQL with PostGIS; {setting} names '{parsed.get_backend_name()}'")
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The same database as a libpq URL (postgresql://…), as psql, GDAL and pg_dump take it."""
    return make_url(normalise_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True)
class ConnectionInfo:
    """Plain connection fields, as pygeoapi's PostgreSQL provider and psql want them."""

    host: str
    port: int
    dbname: str
    user: str
    password: str

    def as_pygeoapi(self) -> dict:
        return {
            "host": self.host,
            "port": self.port,
            "dbname": self.dbname,
            "user": self.user,
            "password": self.password,
        }


def connection_info(url: str) -> ConnectionInfo:
    parsed = make_url(url)
    return ConnectionInfo(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        dbname=parsed.database or "postgres",
        user=parsed.username or "",
        password=parsed.password or "",
    )


INTERACTIVE_OPTIONS = "-c max_parallel_workers_per_gather=0 -c jit=off"
"""For request-sized queries: starting parallel workers or JIT costs more than the query."""


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False, interactive: bool = False,
                statement_timeout_s: float | None = None) -> Engine:  # fmt: skip
    """A pooled engine; ``interactive`` tunes its sessions for many small, fast queries, and
    ``statement_timeout_s`` bounds each statement (PostgreSQL cancels it: SQLSTATE 57014)."""
    connect_args: dict = {"connect_timeout": 5, "application_name": "onemap"}
    options = [INTERACTIVE_OPTIONS] if interactive else []
    if statement_timeout_s:
        options.append(f"-c statement_timeout={int(statement_timeout_s * 1000)}")
    if options:
        connect_args["options"] = " ".join(options)
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=20,
        pool_pre_ping=not interactive,
        pool_recycle=1800,
        echo=echo,
        connect_args=connect_args,
    )
    if interactive:
        ping_when_idle(engine)
    return engine


IDLE_PING_S = 2.0
"""A pooled connection idle longer than this is pinged before use (the server may have restarted)."""


def ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection on checkout only when it sat idle over ``IDLE_PING_S``.

    ``pool_pre_ping`` pings on every checkout: one more round trip per request, a third of a
    filing's. Under load connections come back within milliseconds and need none; one that sat
    idle (the night, a database restart) is pinged, and a dead one is replaced before use. A
    restart in the middle of traffic costs the requests in flight a 503, as it would anyway: the
    first failure marks the whole pool stale (SQLAlchemy invalidates it on a disconnect).
    """

    @event.listens_for(engine, "checkin")
    def _idle_from(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is not None and time.monotonic() - since < IDLE_PING_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as err:  # the pool replaces the connection and tries again
            raise DisconnectionError(f"pooled connection is dead: {err}") from err


_registry: dict[tuple[object, ...], Engine] = {}
_registry_lock = threading.Lock()


def shared_engine(url: str, *, pool_size: int = 10, statement_timeout_s: float | None = None) -> Engine:
    """The process's one pooled engine for the database at ``url`` (the one engine registry).

    The app opens it first, sized by ``ONEMAP_DB_POOL_SIZE``; pygeoapi's providers and processes,
    which pygeoapi builds from plain connection fields, find the same engine here instead of
    opening pools of their own. Disposing it (the app's shutdown) closes its connections; a
    later use opens new ones.
    """
    parsed = make_url(normalise_url(url))
    key = (parsed.host, parsed.port, parsed.database, parsed.username, parsed.password)
    with _registry_lock:
        engine = _registry.get(key)
        if engine is None:
            engine = _registry[key] = make_engine(parsed.render_as_string(hide_password=False), pool_size=pool_size,
                                                  interactive=True, statement_timeout_s=statement_timeout_s)  # fmt: skip
        return engine


def engine_of(info: dict[str, Any]) -> Engine:
    """The shared engine of a pygeoapi-style connection dict (host, port, dbname, user, password)."""
    url = URL.create("postgresql+psycopg", username=info["user"], password=info["password"],
                     host=info["host"], port=int(info["port"]), database=info["dbname"])  # fmt: skip
    return shared_engine(url.render_as_string(hide_password=False))


def read_only(engine: Engine) -> Connection:
    """A connection for a single read: no BEGIN/ROLLBACK round trips around its statements.

    Each statement sees its own snapshot (autocommit), which is what a one-statement read
    wants; use ``engine.begin()`` when several reads must agree or anything is written.
    """
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def replica_read(engine: Engine) -> Connection:
    """A connection for a single read that a read replica may serve (feature pages, tiles, search).

    Falls back to ``engine`` (the primary) when no replica is configured or healthy, or when the
    current request must see its caller's own writes. Use ``read_only`` for reads that must be
    current (tokens, the incident workflow) and ``engine.begin()`` for anything that writes.
    The choice and the replicas' health live in spatial/replicas.py.
    """
    from spatial.replicas import connect_for_read

    return connect_for_read(engine)


def check_database(engine: Engine) -> str:
    """Return the PostGIS version, or raise DatabaseUnavailable / MissingDependency with a readable reason."""
    try:
        with engine.connect() as conn:
            if conn.execute(text("SELECT to_regproc('postgis_lib_version')")).scalar() is None:
                raise MissingDependency(
                    f"PostGIS is not set up in {engine.url.render_as_string(hide_password=True)}: run "
                    "`onemap db upgrade` (it creates the extensions, or says which a superuser must create)"
                )
            return str(conn.execute(text("SELECT postgis_lib_version()")).scalar_one())
    except OperationalError as err:
        reason = str(err.orig).strip().splitlines()[0] if err.orig else str(err)
        raise DatabaseUnavailable(
            f"cannot reach the database at {engine.url.render_as_string(hide_password=True)}: {reason}"
        ) from err


def reachable(engine: Engine) -> None:
    """DatabaseUnavailable with the reason when the database does not answer."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as err:
        reason = str(err.orig).strip().splitlines()[0] if err.orig else str(err)
        raise DatabaseUnavailable(
            f"cannot reach the database at {engine.url.render_as_string(hide_password=True)}: {reason}"
        ) from err


def ensure_extensions(engine: Engine) -> list[str]:
    """Create the extensions the platform needs (those not there yet); the names created.

    Missing packages, or a role that may not create extensions, are one ``MissingDependency``
    naming every extension still missing and the statement a superuser must run.
    """
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT name, installed_version FROM pg_available_extensions "
                                 "WHERE name = ANY(:names)"), {"names": list(EXTENSIONS + OPTIONAL_EXTENSIONS)}).all()  # fmt: skip
    available = {row.name: row.installed_version for row in rows}
    unpackaged = [name for name in EXTENSIONS if name not in available]
    if unpackaged:
        raise MissingDependency(f"the PostgreSQL server lacks the extension package(s) {', '.join(unpackaged)}: "
                                "install postgresql-15-postgis-3 (and contrib) on the database server")  # fmt: skip
    wanted = [n for n in (*EXTENSIONS, *OPTIONAL_EXTENSIONS) if n in available and available[n] is None]
    created = []
    for name in wanted:
        try:
            with engine.begin() as conn:
                conn.execute(text(f'CREATE EXTENSION IF NOT EXISTS "{name}" CASCADE'))
            created.append(name)
        except (ProgrammingError, OperationalError) as err:
            if name in OPTIONAL_EXTENSIONS:
                continue
            missing = [n for n in EXTENSIONS if n in wanted and n not in created]
            database = engine.url.database
            statements = "; ".join(f"CREATE EXTENSION {n}" for n in missing)
            raise MissingDependency(
                f"database {database!r} lacks the extension(s) {', '.join(missing)} and this role may not create "
                f"them: a superuser must run, in {database!r}: {statements}"
            ) from err
    return created
