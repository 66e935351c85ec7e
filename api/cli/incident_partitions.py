"""`onemap incidents partitions …`: the month partitions of the incident tables (list, create
ahead, detach a closed month for archive, attach it back)."""

from __future__ import annotations

import json

import click

from api.cli.common import checked_engine, console, friendly_errors
from spatial.config import Settings


@click.group()
def partitions() -> None:
    """Month partitions of incidents, their events and public copy (schema incidents_part)."""


@partitions.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@friendly_errors
def list_(settings: Settings, as_json: bool) -> None:
    """Each month: attached or detached (archived), rows per table (estimates), size."""
    from spatial.incidents.partitions import list_partitions

    with checked_engine(settings).connect() as conn:
        listing = list_partitions(conn)
    if as_json:
        click.echo(json.dumps(listing, ensure_ascii=False))
        return
    for month in listing["months"]:
        rows = ", ".join(f"{table} {n}" for table, n in sorted(month["rows"].items()))
        console.print(f"{month['month']}  {month['status']:<8}  {month['bytes'] / 1e6:8.1f} MB  {rows}")
    waiting = {t: n for t, n in listing["default_rows"].items() if n}
    if waiting:
        console.print(f"rows in DEFAULT partitions (a month without its partition): {waiting}; "
                      "`onemap incidents partitions create` moves them")  # fmt: skip


@partitions.command("create")
@click.option("--months", default=3, show_default=True, type=int, help="months from this one on")
@click.option("--keep-keys-days", default=90, show_default=True, type=int,
              help="filing keys (Idempotency-Key) older than this are forgotten")  # fmt: skip
@click.pass_obj
@friendly_errors
def create(settings: Settings, months: int, keep_keys_days: int) -> None:
    """The daily upkeep: create the month partitions ahead (this month and the next ones) and forget
    old filing keys."""
    from spatial.incidents.filing_keys import forget_old_keys
    from spatial.incidents.partitions import create_partitions

    engine = checked_engine(settings)
    made = create_partitions(engine, months)
    console.print(f"{made} partition table(s) created for {months} month(s) from this one")
    console.print(f"{forget_old_keys(engine, keep_keys_days)} filing key(s) older than {keep_keys_days} days forgotten")


@partitions.command("detach")
@click.argument("month")
@click.pass_obj
@friendly_errors
def detach(settings: Settings, month: str) -> None:
    """Detach a closed month (YYYY-MM) into schema incidents_archive; refused while a case is open."""
    from spatial.incidents.partitions import detach_month

    done = detach_month(checked_engine(settings), month)
    console.print(f"{month} detached to incidents_archive: {done['rows']}")


@partitions.command("attach")
@click.argument("month")
@click.pass_obj
@friendly_errors
def attach(settings: Settings, month: str) -> None:
    """Attach an archived month (YYYY-MM) back from schema incidents_archive."""
    from spatial.incidents.partitions import attach_month

    attach_month(checked_engine(settings), month)
    console.print(f"{month} attached")


@partitions.command("rebuild-rollup")
@click.pass_obj
@friendly_errors
def rebuild_rollup(settings: Settings) -> None:
    """Recount the KPI rollup from the event log (after a bulk load or a working-calendar change)."""
    from spatial.incidents.rollups import rebuild

    with checked_engine(settings).begin() as conn:
        rows = rebuild(conn)
    console.print(f"KPI rollup recounted: {rows} rows")
