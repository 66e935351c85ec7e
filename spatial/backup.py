"""Backup and restore of the platform database: pg_dump / pg_restore, custom format.

``backup`` writes the whole database (every schema, data, sequences, triggers) with
``pg_dump -Fc`` to a temporary file beside the target, readable by its owner only (the dump
holds reporters' contacts), and renames it into place when pg_dump succeeded: a failed
backup never leaves a truncated file under the wanted name.

``restore`` refuses a database that already holds tables unless ``force``. It turns the
archive into SQL (``pg_restore -f -``, without owners, privileges and the extensions, which
are created first with ``CREATE EXTENSION IF NOT EXISTS``) and runs it with ``psql
--single-transaction -v ON_ERROR_STOP=1``; with ``force`` the archive's schemas and the
tables of ``public`` are dropped at the start of that same transaction. Any error rolls the
whole restore back: the database is either the archive's or what it was before.

Connection fields come from the SQLAlchemy URL (the embedded cluster's or
ONEMAP_DATABASE_URL); the password goes to the tools through ``PGPASSWORD``, never argv.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from spatial.db import connection_info
from spatial.errors import ClusterError, Conflict, InvalidInput, MissingDependency
from spatial.postgis import find_pg_bin

TOC_ENTRY = re.compile(r"^\d+; \d+ \d+ (?P<entry>.*)$")
SKIPPED = ("EXTENSION - ", "COMMENT - EXTENSION ")  # created beforehand; comments need ownership
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "public")
USER_RELATIONS = """
    SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg_toast%'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
    ORDER BY 1, 2
"""


@dataclass(frozen=True)
class Archive:
    """What a custom-format archive holds: its schemas, tables and extensions."""

    path: Path
    schemas: tuple[str, ...]
    tables: tuple[str, ...]
    extensions: tuple[str, ...]
    toc: str


def tool(name: str, bin_dir: Path | None = None) -> Path:
    """A PostgreSQL client program from the server packages' folder."""
    path = find_pg_bin(bin_dir) / name
    if not path.exists():
        raise MissingDependency(f"{name} is not installed beside initdb: apt-get install postgresql-client-15")
    return path


def libpq_env(url: str) -> dict[str, str]:
    """Environment for pg_dump, pg_restore and psql: where to connect, as whom."""
    info = connection_info(url)
    return {**os.environ, "PGHOST": info.host, "PGPORT": str(info.port), "PGUSER": info.user,
            "PGPASSWORD": info.password, "PGDATABASE": info.dbname, "PGCONNECT_TIMEOUT": "10"}  # fmt: skip


def backup(url: str, target: Path, *, bin_dir: Path | None = None) -> Archive:
    """Dump the database at ``url`` to ``target`` (custom format, mode 600)."""
    target = target.expanduser().resolve()
    if target.is_dir():
        raise InvalidInput(f"{target} is a folder: give a file name, e.g. onemap-2026-11-22.dump")
    if not target.parent.is_dir():
        raise InvalidInput(f"the folder {target.parent} does not exist")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    command = [str(tool("pg_dump", bin_dir)), "--format=custom", f"--file={partial}"]
    try:
        run(command, libpq_env(url), "pg_dump")
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return read_archive(target, bin_dir)


def read_archive(path: Path, bin_dir: Path | None = None) -> Archive:
    """The table of contents of an archive; InvalidInput when it is not a pg_dump archive."""
    if not path.is_file():
        raise InvalidInput(f"no backup file {path}")
    result = subprocess.run([str(tool("pg_restore", bin_dir)), "--list", str(path)],
                            capture_output=True, text=True)  # fmt: skip
    if result.returncode != 0:
        raise InvalidInput(f"{path} is not a pg_dump custom-format archive: {last_line(result.stderr)}")
    schemas, tables, extensions = [], [], []
    for line in result.stdout.splitlines():
        found = TOC_ENTRY.match(line)
        words = found["entry"].split() if found else []
        if words[:2] == ["SCHEMA", "-"]:
            schemas.append(words[2])
        elif words[:2] == ["EXTENSION", "-"]:
            extensions.append(words[2])
        elif words[:1] == ["TABLE"] and len(words) >= 3 and words[1] != "DATA":
            tables.append(f"{words[1]}.{words[2]}")
    return Archive(path, tuple(schemas), tuple(tables), tuple(extensions), result.stdout)


def relations(engine: Engine) -> list[tuple[str, str, str]]:
    """(kind, schema, name) of the database's tables and views that are not an extension's own."""
    with engine.connect() as conn:
        return [(row[2], row[0], row[1]) for row in conn.execute(text(USER_RELATIONS))]


def user_relations(engine: Engine) -> list[str]:
    """'schema.name' of the database's own tables and views."""
    return [f"{schema}.{name}" for _, schema, name in relations(engine)]


def restore(engine: Engine, path: Path, *, force: bool = False, bin_dir: Path | None = None) -> Archive:
    """Restore ``path`` into the database of ``engine`` in one transaction (see the module)."""
    archive = read_archive(path.expanduser().resolve(), bin_dir)
    existing = user_relations(engine)
    if existing and not force:
        raise Conflict(
            f"the database {engine.url.database!r} already holds {len(existing)} tables "
            f"({', '.join(existing[:3])}…): restore into an empty database, or pass --force to "
            "replace its contents"
        )
    create_extensions(engine, archive.extensions)
    url = engine.url.render_as_string(hide_password=False)
    preamble = drop_statements(engine, archive) if force else ""
    replay(url, archive, preamble, bin_dir)
    return archive


def create_extensions(engine: Engine, names: tuple[str, ...]) -> None:
    """CREATE EXTENSION IF NOT EXISTS for the archive's extensions (they are not in the replay)."""
    with engine.begin() as conn:
        for name in names:
            conn.execute(text(f"CREATE EXTENSION IF NOT EXISTS {ident(name)} CASCADE"))


def drop_statements(engine: Engine, archive: Archive) -> str:
    """SQL dropping the archive's schemas and every non-extension relation of ``public``."""
    statements = [
        f"DROP SCHEMA IF EXISTS {ident(schema)} CASCADE;" for schema in archive.schemas if schema not in SYSTEM_SCHEMAS
    ]
    for kind, schema, name in relations(engine):
        if schema == "public":
            what = {"v": "VIEW", "m": "MATERIALIZED VIEW", "f": "FOREIGN TABLE"}.get(kind, "TABLE")
            statements.append(f"DROP {what} IF EXISTS public.{ident(name)} CASCADE;")
    return "\n".join(statements) + "\n"


def replay(url: str, archive: Archive, preamble: str, bin_dir: Path | None) -> None:
    """pg_restore's SQL, after ``preamble``, through psql in a single transaction."""
    listing = archive.path.with_name(f".{archive.path.name}.list")
    kept = [line for line in archive.toc.splitlines() if not _skipped(line)]
    listing.write_text("\n".join(kept) + "\n")
    env = libpq_env(url) | {"PGOPTIONS": "-c client_min_messages=warning"}
    with tempfile.TemporaryFile() as script_err, tempfile.TemporaryFile() as psql_err:
        try:
            script = subprocess.Popen(
                [str(tool("pg_restore", bin_dir)), "--no-owner", "--no-privileges", f"--use-list={listing}",
                 "--file=-", str(archive.path)],
                stdout=subprocess.PIPE, stderr=script_err, env=env,
            )  # fmt: skip
            psql = subprocess.Popen(
                [str(tool("psql", bin_dir)), "--no-psqlrc", "--quiet", "--single-transaction",
                 "--set=ON_ERROR_STOP=1", "--output=/dev/null"],
                stdin=subprocess.PIPE, stderr=psql_err, env=env,
            )  # fmt: skip
            feed(preamble.encode(), script, psql)
        finally:
            listing.unlink(missing_ok=True)
        errors = [_read(script_err), _read(psql_err)]
    if psql.returncode != 0:
        raise ClusterError(f"the restore was rolled back, the database is unchanged: {last_line(errors[1])}")
    if script.returncode != 0:
        raise ClusterError(f"pg_restore failed; the restore was rolled back: {last_line(errors[0])}")


def feed(preamble: bytes, script: subprocess.Popen, psql: subprocess.Popen) -> None:
    """``preamble`` then pg_restore's output into psql; wait for both."""
    assert script.stdout is not None and psql.stdin is not None
    try:
        psql.stdin.write(preamble)
        shutil.copyfileobj(script.stdout, psql.stdin, 1 << 20)
    except BrokenPipeError:
        pass  # psql stopped at an error: its message follows
    finally:
        with contextlib.suppress(BrokenPipeError):
            psql.stdin.close()
        script.stdout.close()
        script.wait()
        psql.wait()


def _read(handle: Any) -> str:
    handle.seek(0)
    return handle.read().decode(errors="replace")


def _skipped(line: str) -> bool:
    found = TOC_ENTRY.match(line)
    return found is not None and found["entry"].startswith(SKIPPED)


def ident(name: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def run(command: list[str], env: dict[str, str], name: str) -> None:
    """Run a client program; ClusterError with its last line of stderr when it fails."""
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise ClusterError(f"{name} failed: {last_line(result.stderr)}")


def last_line(message: str) -> str:
    lines = [line for line in (message or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no message)"
