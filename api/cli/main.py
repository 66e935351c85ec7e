"""The `onemap` command: a thin click shell over layers/ and spatial/.

Every failure the user can act on is one line on stderr and a non-zero exit status.
Command groups live in their own modules (db, layers, …) and are attached at the bottom.
"""

from __future__ import annotations

import json
import sys

import click

from api.cli.access import departments, tokens
from api.cli.backup import backup_command, restore_command
from api.cli.city import city
from api.cli.common import checked_engine, console, fail, friendly_errors, load_settings
from api.cli.deploy import deploy
from api.cli.dispatch import dispatch
from api.cli.geocoding import addresses, geocode
from api.cli.grid import grid
from api.cli.imagery import imagery
from api.cli.incident_partitions import partitions
from api.cli.incidents import categories, incidents
from api.cli.layers import layers
from api.cli.plates import plates
from api.cli.replicas import replica
from api.cli.tiles import tiles
from spatial.access.principal import local_operator
from spatial.config import Settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(ctx: click.Context) -> None:
    """onemap: the city's one map (一张图) on PostGIS, served over OGC API."""
    ctx.obj = load_settings()


# ------------------------------------------------------------------------------------ db
@main.group()
def db() -> None:
    """The database: the embedded PostGIS cluster, or ONEMAP_DATABASE_URL."""


def _cluster(settings: Settings):  # noqa: ANN202
    from spatial.db import embedded_cluster

    if not settings.uses_embedded_db:
        fail("ONEMAP_DATABASE_URL is set: the embedded cluster is not used (unset it to manage var/pg)")
    return embedded_cluster(settings)


@db.command("start")
@click.pass_obj
@friendly_errors
def db_start(settings: Settings) -> None:
    """Start the embedded PostGIS (setting it up on first use); a second start does nothing."""
    cluster = _cluster(settings)
    was_running = cluster.is_running() if cluster.initialised else False
    state = cluster.start()
    verb = "already running" if was_running else "started"
    console.print(f"embedded PostGIS {verb} on 127.0.0.1:{state.port} (data: {cluster.data_dir})")


@db.command("stop")
@click.pass_obj
@friendly_errors
def db_stop(settings: Settings) -> None:
    """Stop the embedded PostGIS."""
    cluster = _cluster(settings)
    stopped = cluster.stop() if cluster.initialised else False
    console.print("embedded PostGIS stopped" if stopped else "embedded PostGIS was not running")


@db.command("status")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_obj
@friendly_errors
def db_status(settings: Settings, as_json: bool) -> None:
    """Say whether the database is set up and running."""
    from dataclasses import asdict

    if not settings.uses_embedded_db:
        from spatial.db import check_database, database_url, make_engine

        engine = make_engine(database_url(settings), pool_size=1)
        version = check_database(engine)
        click.echo(f"external PostGIS {version} reachable at {engine.url.render_as_string(True)}")
        return
    status = _cluster(settings).status()
    if as_json:
        info = asdict(status)
        info.pop("url")
        click.echo(json.dumps(info))
    elif not status.initialised:
        click.echo(f"not set up ({status.data_dir}); run `onemap db start`")
    else:
        state = "running" if status.running else "stopped"
        click.echo(f"{state}: port {status.port}, pid {status.pid or '-'}, data {status.data_dir}")
    if status.initialised and not status.running:
        sys.exit(1)


@db.command("url")
@click.option("--sqlalchemy", "for_sqlalchemy", is_flag=True, help="SQLAlchemy's form (postgresql+psycopg://)")
@click.pass_obj
@friendly_errors
def db_url(settings: Settings, for_sqlalchemy: bool) -> None:
    """Print the database's URL for psql, GDAL and libpq (with the password: keep it private)."""
    from spatial.db import database_url, libpq_url

    url = database_url(settings)
    click.echo(url if for_sqlalchemy else libpq_url(url))


@db.command("upgrade")
@click.option("--revision", default="heads", show_default=True)
@click.pass_obj
@friendly_errors
def db_upgrade(settings: Settings, revision: str) -> None:
    """Apply the schema migrations (Alembic)."""
    from spatial import migrate
    from spatial.db import database_url, ensure_extensions, make_engine, reachable

    engine = make_engine(database_url(settings), pool_size=2)
    reachable(engine)
    created = ensure_extensions(engine)  # an empty database gets what it needs, or one line saying who must
    if created:
        console.print(f"extensions created: {', '.join(created)}")
    rev = migrate.upgrade(engine, revision)
    console.print(f"database schema at revision {rev}")


@db.command("downgrade")
@click.argument("revision")
@click.pass_obj
@friendly_errors
def db_downgrade(settings: Settings, revision: str) -> None:
    """Revert the schema to REVISION ('base' removes every onemap table)."""
    from spatial import migrate

    engine = checked_engine(settings)
    rev = migrate.downgrade(engine, revision)
    console.print(f"database schema at revision {rev or 'base'}")


@db.command("destroy")
@click.confirmation_option(prompt="Delete the embedded cluster and all its data?")
@click.pass_obj
@friendly_errors
def db_destroy(settings: Settings) -> None:
    """Stop the embedded cluster and delete its folder."""
    cluster = _cluster(settings)
    cluster.destroy()
    console.print(f"removed {cluster.root}")


# ---------------------------------------------------------------------------------- demo
@main.command()
@click.option("--size", type=click.Choice(["small", "large"]), default="small", show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--no-imagery", is_flag=True, help="skip the imagery scene")
@click.option("--no-grid", is_flag=True, help="skip the incident categories and the unit grid")
@click.pass_obj
@friendly_errors
def demo(settings: Settings, size: str, seed: int, no_imagery: bool, no_grid: bool) -> None:
    """Load the deterministic demo city (around Xi'an); re-running replaces it.

    Then the incident categories are loaded and a unit grid is built over the communities
    (a new grid version each time), unless --no-grid; dispatch units are placed at the city's
    fire stations, hospitals and police stations.
    """
    from spatial import migrate

    engine = checked_engine(settings)
    from layers.demo.grid_management import prepare_grid_management
    from layers.demo.load import load_demo

    migrate.upgrade(engine)
    summary = load_demo(engine, settings, size=size, seed=seed, imagery=not no_imagery, console=console, principal=local_operator())
    console.print(summary.describe())
    if not no_grid:
        with console.status("building the unit grid…"):
            console.print(prepare_grid_management(engine, operator=local_operator()).describe())
    from spatial.dispatch.seed import seed_city_units

    with engine.begin() as conn:  # 119/120/110 units at the demo's fire stations, hospitals, police stations
        added = seed_city_units(conn, principal=local_operator())
    console.print(f"dispatch: {sum(added.values())} new units (onemap dispatch units)")


# --------------------------------------------------------------------------------- serve
@main.command()
@click.option("--host", default=None, help="interface to listen on (default 127.0.0.1)")
@click.option("--port", type=int, default=None, help="port (default 8000)")
@click.option("--workers", type=int, default=1, show_default=True)
@click.pass_obj
@friendly_errors
def serve(settings: Settings, host: str | None, port: int | None, workers: int) -> None:
    """Serve the platform: /health, OGC API at /ogc, the one-map page at /."""
    from api.server import run

    settings = settings.model_copy(
        update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    )
    run(settings, workers=workers)


db.add_command(backup_command)
db.add_command(replica)
db.add_command(restore_command)
main.add_command(addresses)
main.add_command(geocode)
main.add_command(grid)
main.add_command(city)
main.add_command(deploy)
main.add_command(categories)
main.add_command(incidents)
incidents.add_command(partitions)
main.add_command(imagery)
main.add_command(layers)
main.add_command(plates)
main.add_command(departments)
main.add_command(dispatch)
main.add_command(tokens)
main.add_command(tiles)

if __name__ == "__main__":  # pragma: no cover
    main()
