"""`onemap dispatch …`: units for the demo city, the unit board, response-time KPIs."""

from __future__ import annotations

import json
from pathlib import Path

import click

from api.cli.common import checked_engine, console, friendly_errors
from spatial.config import Settings


@click.group()
def dispatch() -> None:
    """Dispatch of emergency units, 119/120/110 (接警调度): units, calls, response KPIs."""


@dispatch.command("seed")
@click.pass_obj
@friendly_errors
def seed(settings: Settings) -> None:
    """Units at the city's fire stations (engines, ladder), hospitals (ambulances), police stations."""
    from spatial import migrate
    from spatial.access.principal import local_operator
    from spatial.dispatch.seed import seed_city_units

    engine = checked_engine(settings)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        counts = seed_city_units(conn, principal=local_operator())
    console.print(f"units added: {counts.get('fire_station', 0)} at fire stations, {counts.get('hospital', 0)} "
                  f"at hospitals, {counts.get('police', 0)} at police stations")  # fmt: skip


@dispatch.command("units")
@click.option("--service", type=click.Choice(["119", "120", "110"]), default=None, help="one service")
@click.option("--json", "as_json", is_flag=True, help="print JSON on stdout")
@click.pass_obj
@friendly_errors
def unit_board(settings: Settings, service: str | None, as_json: bool) -> None:
    """The unit board: call sign, type, department, status."""
    from spatial.dispatch.units import list_units

    with checked_engine(settings).connect() as conn:
        found = list_units(conn, services=(service,) if service else ())
    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False, default=str))
        return
    for unit in found:
        console.print(f"{unit['service']}  {unit['call_sign']:<12} {unit['unit_type']:<10} "
                      f"{unit['department_code']:<8} {unit['status']}")  # fmt: skip


@dispatch.command("kpis")
@click.option("--by", type=click.Choice(["service", "department", "street"]), default="service", show_default=True)
@click.option("--since", default=None, help="RFC 3339 date-time or date (calls received from)")
@click.option("--until", default=None, help="RFC 3339 date-time or date (calls received before)")
@click.option("--standards", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="a YAML file of response standards (default: spatial/dispatch/standards.yaml)")
@click.pass_obj
@friendly_errors
def kpi_report(settings: Settings, by: str, since: str | None, until: str | None, standards: Path | None) -> None:
    """Share of calls meeting the response standards per group, as JSON."""
    from spatial.dispatch.kpis import read_standards, response_kpis
    from spatial.params import parse_instant

    start = parse_instant(since, name="since", naive_is_local=True) if since else None
    end = parse_instant(until, name="until", naive_is_local=True) if until else None
    rules = read_standards(standards)
    with checked_engine(settings).connect() as conn:
        answer = response_kpis(conn, rules, by=by, since=start, until=end)
    click.echo(json.dumps({"by": by, "groups": answer["groups"], "totals": answer["totals"]}, ensure_ascii=False,
                          default=str))  # fmt: skip
