"""`onemap grid …`: build unit-grid versions, and look up cells and geographic grid codes."""

from __future__ import annotations

import json

import click

from api.cli.common import checked_engine, console, friendly_errors
from spatial.config import Settings


@click.group()
def grid() -> None:
    """The unit grid (单元网格): ~10,000 m² cells with 15-digit codes, one version per build."""


@grid.command("build")
@click.option("--layer", default="admin_divisions", show_default=True, help="polygon layer to divide")
@click.option("--level", type=click.Choice(["community", "street", "district"]), default="community",
              show_default=True, help="division level (admin_divisions only)")
@click.option("--code-field", default=None, help="field holding each polygon's digit code (other layers)")
@click.option("--cell-size", type=float, default=100.0, show_default=True, help="cell side in metres")
@click.option("--min-fraction", type=float, default=0.2, show_default=True,
              help="clipped pieces smaller than this share of a cell join a neighbour")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON on stdout")
@click.pass_obj
@friendly_errors
def build(settings: Settings, layer: str, level: str, code_field: str | None, cell_size: float,
          min_fraction: float, as_json: bool) -> None:  # fmt: skip
    """Cut the areas into cells, check seams and overlaps, make it the current version."""
    from layers.grid_layers import register_grid_layers
    from spatial import migrate
    from spatial.access.principal import local_operator
    from spatial.grid.build import GridSource, build_grid

    engine = checked_engine(settings)
    migrate.upgrade(engine)
    report = build_grid(
        engine, GridSource(layer=layer, level=level, code_field=code_field),
        cell_size_m=cell_size, min_fraction=min_fraction, principal=local_operator(),
    )  # fmt: skip
    with engine.begin() as conn:
        register_grid_layers(conn)
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, default=str))
    console.print(report.describe())


@grid.command("code")
@click.argument("lon", type=float)
@click.argument("lat", type=float)
@click.option("--level", default="1s", show_default=True, help="geographic grid level: 1d, 10m, 1m, 10s, 1s")
@click.pass_obj
@friendly_errors
def code(settings: Settings, lon: float, lat: float, level: str) -> None:
    """The unit cell and the GB/T 12409-style geographic grid code of a point."""
    from spatial.grid.codes import geo_grid_code
    from spatial.grid.lookup import cell_at

    geo = geo_grid_code(lon, lat, level)
    with checked_engine(settings).connect() as conn:
        hit = cell_at(conn, lon, lat)
    click.echo(json.dumps({"geo_grid_code": geo.code, "level": geo.level, "bounds": geo.bounds,
                           "unit_cell": hit.code if hit else None}))  # fmt: skip
