"""`onemap plates …`: location plates (路灯贴牌) along the current city's roads, and code checks."""

from __future__ import annotations

import json

import click

from api.cli.common import checked_engine, console, friendly_errors
from spatial.config import Settings


@click.group()
def plates() -> None:
    """Coded plates on lamp posts (路灯贴牌): <road>-<pole>-<L|R>-<check>, e.g. XFDL-012-L-7."""


@plates.command("generate")
@click.option(
    "--spacing",
    type=click.FloatRange(5, 1000),
    default=50.0,
    show_default=True,
    help="metres between poles along a road",
)
@click.option(
    "--offset",
    type=click.FloatRange(0, 50),
    default=6.0,
    show_default=True,
    help="metres from the centreline",
)
@click.pass_obj
@friendly_errors
def generate(settings: Settings, spacing: float, offset: float) -> None:
    """Replace the plates with new ones along the current base map's named roads."""
    from layers.plates import regenerate
    from spatial import migrate
    from spatial.access.principal import local_operator
    from spatial.plates.placement import Spacing

    engine = checked_engine(settings)
    migrate.upgrade(engine)
    summary = regenerate(engine, Spacing(spacing, offset), principal=local_operator())
    console.print(summary.describe())


@plates.command("check")
@click.argument("code")
@friendly_errors
def check(code: str) -> None:
    """Whether CODE is a well-formed plate code with a matching check character."""
    from spatial.errors import InvalidInput
    from spatial.plates.scheme import parse_plate_code, single_substitutions

    parsed = parse_plate_code(code)
    if not parsed.valid:
        near = ", ".join(c.text for c in single_substitutions(parsed)[:10])
        raise InvalidInput(
            f"{parsed.text}: check character does not match (one character away: {near})"
        )
    click.echo(
        json.dumps(
            {"code": parsed.text, "road": parsed.road, "pole": parsed.pole, "side": parsed.side}
        )
    )
