"""`onemap db backup FILE` and `onemap db restore FILE`: pg_dump / pg_restore of the platform database."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli.common import checked_engine, console, fail, friendly_errors
from spatial.config import Settings


@click.command("backup")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.pass_obj
@friendly_errors
def backup_command(settings: Settings, path: Path) -> None:
    """Write the whole database to PATH (pg_dump custom format, readable by you only)."""
    from spatial.backup import backup
    from spatial.db import database_url

    engine = checked_engine(settings)
    archive = backup(database_url(settings), path, bin_dir=settings.pg_bin)
    engine.dispose()
    size = archive.path.stat().st_size
    console.print(f"backup of {len(archive.tables)} tables in {len(archive.schemas)} schemas written to "
                  f"{archive.path} ({size / 1048576:.1f} MiB)", highlight=False)  # fmt: skip


@click.command("restore")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--force", is_flag=True, help="replace the contents of a database that already holds tables")
@click.option("--into", "into", default=None,
              help="embedded cluster only: restore into this database (created when missing)")  # fmt: skip
@click.pass_obj
@friendly_errors
def restore_command(settings: Settings, path: Path, force: bool, into: str | None) -> None:
    """Restore a backup made by `onemap db backup` into the database, in one transaction.

    A database that already holds tables is refused unless --force; then its contents are
    replaced, and a failed restore leaves it as it was.
    """
    from spatial.backup import restore
    from spatial.db import database_url, make_engine

    url = database_url(settings) if into is None else _embedded_database(settings, into)
    engine = make_engine(url, pool_size=1)
    archive = restore(engine, path, force=force, bin_dir=settings.pg_bin)
    engine.dispose()
    console.print(f"restored {len(archive.tables)} tables from {archive.path} into "
                  f"{engine.url.database}", highlight=False)  # fmt: skip


def _embedded_database(settings: Settings, name: str) -> str:
    """The URL of database ``name`` of the embedded cluster, created (with extensions) if missing."""
    from spatial.db import embedded_cluster
    from spatial.postgis import create_database

    if not settings.uses_embedded_db:
        fail("--into works with the embedded cluster; with ONEMAP_DATABASE_URL point it at the new database")
    cluster = embedded_cluster(settings)
    state = cluster.start()
    create_database(state, name)
    return state.url(name)
