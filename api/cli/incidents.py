"""`onemap categories …` and `onemap incidents …`: the case catalogue and supervision from the shell."""

from __future__ import annotations

import json
from pathlib import Path

import click

from api.cli.common import checked_engine, console, friendly_errors
from spatial.config import Settings


@click.group()
def categories() -> None:
    """The catalogue of 部件 (components) and 事件 (events) with departments and time limits."""


@categories.command("load")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False), required=False)
@click.pass_obj
@friendly_errors
def load(settings: Settings, path: Path | None) -> None:
    """Load a catalogue file (default: the shipped categories-v1.yaml)."""
    from layers.grid_layers import register_grid_layers
    from spatial import migrate
    from spatial.access.principal import local_operator
    from spatial.incidents.calendar import default_calendar
    from spatial.incidents.categories import DEFAULT_FILE, load_catalogue, read_catalogue

    catalogue = read_catalogue(path or DEFAULT_FILE, default_calendar().minutes_per_day)
    engine = checked_engine(settings)
    migrate.upgrade(engine)
    counts = load_catalogue(engine, catalogue, principal=local_operator())
    with engine.begin() as conn:
        register_grid_layers(conn)
    console.print(
        f"catalogue {catalogue.version}: {counts['categories']} categories, {counts['departments']} "
        f"departments, {counts['rules']} routing rules, {counts['street_offices']} street offices added"
    )


@categories.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@friendly_errors
def list_(settings: Settings, as_json: bool) -> None:
    """The active categories."""
    from spatial.incidents.categories import list_categories

    with checked_engine(settings).connect() as conn:
        rows = list_categories(conn)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, default=str))
        return
    for row in rows:
        click.echo(f"{row['code']}  {row['kind']:<9}  {row['name_zh']} ({row['name_en']})  → {row['department_code']}")


@click.group()
def incidents() -> None:
    """Incidents: supervision (overdue) and KPIs."""


@incidents.command("overdue")
@click.option("--department", default=None)
@click.pass_obj
@friendly_errors
def overdue(settings: Settings, department: str | None) -> None:
    """Incidents past (or close to) their stage deadline, as JSON lines."""
    from spatial.incidents.supervision import due_incidents

    with checked_engine(settings).connect() as conn:
        for item in due_incidents(conn, department=department):
            click.echo(json.dumps(item, ensure_ascii=False, default=str))


@incidents.command("kpis")
@click.option("--by", default="department", show_default=True,
              type=click.Choice(["department", "district", "street", "community", "cell", "inspector"]))
@click.pass_obj
@friendly_errors
def kpis(settings: Settings, by: str) -> None:
    """Closure, on-time closure and rework rates and mean handling time per group, as JSON."""
    from spatial.incidents.kpis import kpis as compute

    with checked_engine(settings).connect() as conn:
        click.echo(json.dumps(compute(conn, by), ensure_ascii=False, default=str, indent=1))
