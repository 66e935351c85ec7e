"""`onemap city …`: load a city's own base map from a profile, check one, list, compare, roll back."""

from __future__ import annotations

import json
from pathlib import Path

import click

from api.cli.common import EXIT_USER_ERROR, checked_engine, console, friendly_errors
from spatial.config import Settings


@click.group()
def city() -> None:
    """Your own city: the base map from a profile (YAML) naming the city's files (README "Your own city")."""


def _print_report(report: object, as_json: bool) -> None:
    """The report on stdout as JSON, or as lines on stderr."""
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, default=str))  # type: ignore[attr-defined]
    else:
        for line in report.lines():  # type: ignore[attr-defined]
            console.print(line, markup=False, highlight=False)


@city.command("check")
@click.argument("profile", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON on stdout")
@friendly_errors
def check(profile: Path, as_json: bool) -> None:
    """Read and check every file of PROFILE; write nothing. Exit 2 when the check finds errors."""
    from layers.city.load import check_city
    from layers.city.profile import read_profile
    from layers.city.report import CityReport

    parsed = read_profile(profile)
    report = CityReport(parsed.code)
    check_city(parsed, report, step=lambda name: console.print(f"checking {name}…", style="dim"))
    _print_report(report, as_json)
    if not report.ok:
        raise SystemExit(EXIT_USER_ERROR)


@city.command("load")
@click.argument("profile", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON on stdout")
@click.pass_obj
@friendly_errors
def load(settings: Settings, profile: Path, as_json: bool) -> None:
    """Check PROFILE, then replace the base map with it (one transaction; a new version)."""
    from layers.city.load import CityRefused, load_city
    from layers.city.profile import read_profile
    from spatial import migrate
    from spatial.access.principal import local_operator

    parsed = read_profile(profile)
    engine = checked_engine(settings)
    migrate.upgrade(engine)
    try:
        report = load_city(engine, parsed, principal=local_operator(), settings=settings,
                           step=lambda name: console.print(f"{name}…", style="dim"))  # fmt: skip
    except CityRefused as refused:
        _print_report(refused.report, as_json)
        raise SystemExit(EXIT_USER_ERROR) from None
    _print_report(report, as_json)
    console.print(
        f"base map version {report.version} of {parsed.name.zh} {parsed.name.en} is current"
    )
    if not report.ok:  # a scene that could not be published after the commit
        raise SystemExit(EXIT_USER_ERROR)


@city.command("versions")
@click.pass_obj
@friendly_errors
def versions(settings: Settings) -> None:
    """Every base-map version, newest first (* current, a archived: can be restored)."""
    from layers.city.versions import list_versions

    engine = checked_engine(settings)
    with engine.connect() as conn:
        rows = list_versions(conn)
    if not rows:
        console.print("no base map has been loaded with `onemap city load` (or `onemap demo`)")
    for row in rows:
        click.echo(row.line())


@city.command("diff")
@click.argument("old", type=int)
@click.argument("new", type=int, required=False)
@click.pass_obj
@friendly_errors
def diff(settings: Settings, old: int, new: int | None) -> None:
    """Compare version OLD with NEW (the current one when absent): counts and divisions."""
    from layers.city.versions import compare_versions, current_version

    engine = checked_engine(settings)
    with engine.connect() as conn:
        target = new if new is not None else current_version(conn)
        if target is None:
            raise click.UsageError("no current base map to compare with")
        for line in compare_versions(conn, old, target).lines():
            click.echo(line)


@city.command("rollback")
@click.argument("version", type=int)
@click.pass_obj
@friendly_errors
def rollback(settings: Settings, version: int) -> None:
    """Make archived VERSION the current base map again (the replaced one is archived)."""
    from layers.city.rollback import rollback_city
    from spatial.access.principal import local_operator

    engine = checked_engine(settings)
    replaced = rollback_city(engine, version, principal=local_operator())
    console.print(f"base map version {version} is current again (version {replaced} archived)")
