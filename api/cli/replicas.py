"""`onemap db replica add|remove|status|start|stop`: streaming read replicas of the embedded cluster.

Each replica is a hot standby on this machine (``var/pg-replica-N``, a port of its own), copied
from the running primary with pg_basebackup through a replication slot. The platform reads from
the URLs in ONEMAP_DATABASE_READ_URLS; `add` prints the one to put there.
"""

from __future__ import annotations

import json

import click

from api.cli.common import console, fail, friendly_errors
from spatial.config import Settings


def _primary(settings: Settings):  # noqa: ANN202
    from spatial.db import embedded_cluster

    if not settings.uses_embedded_db:
        fail("ONEMAP_DATABASE_URL is set: replicas of an external server are made on that server "
             "(pg_basebackup -R); list their URLs in ONEMAP_DATABASE_READ_URLS")  # fmt: skip
    return embedded_cluster(settings)


def _replica(settings: Settings, number: int):  # noqa: ANN202
    from spatial.postgis import standbys

    primary = _primary(settings)
    known = {standby.number: standby for standby in standbys(primary)}
    if number not in known:
        have = ", ".join(str(n) for n in sorted(known)) or "none"
        fail(f"there is no replica {number} (replicas: {have}; see `onemap db replica status`)")
    return known[number]


@click.group("replica")
def replica() -> None:
    """Streaming read replicas of the embedded PostGIS, on this machine."""


@replica.command("add")
@click.pass_obj
@friendly_errors
def replica_add(settings: Settings) -> None:
    """Copy the running primary into a new standby (pg_basebackup) and start it; print its URL."""
    from spatial.postgis import StandbyCluster, standbys

    primary = _primary(settings)
    if not primary.initialised or not primary.is_running():
        fail("the embedded primary is not running: start it with `onemap db start`")
    numbers = [standby.number for standby in standbys(primary)]
    standby = StandbyCluster(primary, max(numbers, default=0) + 1)
    console.print(f"copying the primary into {standby.root} (pg_basebackup, slot {standby.slot}) …")
    state = standby.create()
    console.print(f"replica {standby.number} running on 127.0.0.1:{state.port}; add this URL to "
                  "ONEMAP_DATABASE_READ_URLS (comma-separated) and restart the server:", highlight=False)  # fmt: skip
    click.echo(state.url())


@replica.command("remove")
@click.argument("number", type=int)
@click.pass_obj
@friendly_errors
def replica_remove(settings: Settings, number: int) -> None:
    """Stop replica NUMBER, delete its folder and drop its slot on the primary."""
    standby = _replica(settings, number)
    standby.remove()
    console.print(f"replica {number} removed ({standby.root}); take its URL out of ONEMAP_DATABASE_READ_URLS",
                  highlight=False)  # fmt: skip


@replica.command("start")
@click.argument("number", type=int)
@click.pass_obj
@friendly_errors
def replica_start(settings: Settings, number: int) -> None:
    """Start replica NUMBER (it catches up from its slot)."""
    state = _replica(settings, number).start()
    console.print(f"replica {number} running on 127.0.0.1:{state.port}", highlight=False)


@replica.command("stop")
@click.argument("number", type=int)
@click.pass_obj
@friendly_errors
def replica_stop(settings: Settings, number: int) -> None:
    """Stop replica NUMBER (its slot keeps the WAL it needs: remove replicas you no longer want)."""
    stopped = _replica(settings, number).stop()
    console.print(f"replica {number} stopped" if stopped else f"replica {number} was not running")


@replica.command("status")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_obj
@friendly_errors
def replica_status(settings: Settings, as_json: bool) -> None:
    """Each replica's port, state and lag behind the primary."""
    from spatial.postgis import standbys
    from spatial.replicas import measure

    primary = _primary(settings)
    rows = []
    primary_url = primary.url() if primary.initialised else ""
    for standby in standbys(primary):
        try:
            state = standby.read_state()
        except Exception:  # noqa: BLE001 - a half-made folder: say so, list the rest
            rows.append({"number": standby.number, "port": None, "state": "broken (no state.json)", "lag_s": None})
            continue
        if not standby.is_running():
            info = {"state": "stopped", "lag_s": None}
        else:
            info = measure(primary_url, state.url())
        rows.append({"number": standby.number, "port": state.port, **info})
    if as_json:
        click.echo(json.dumps(rows))
        return
    if not rows:
        click.echo("no replicas (add one with `onemap db replica add`)")
    for row in rows:
        lag = "-" if row.get("lag_s") is None else f"{row['lag_s']:.1f} s"
        paused = ", replay paused" if row.get("replay_paused") else ""
        click.echo(f"replica {row['number']}: port {row['port'] or '-'}, {row['state']}{paused}, lag {lag}")
