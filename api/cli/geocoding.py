"""`onemap addresses …` (load address sources, rebuild the index) and `onemap geocode`."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from api.cli.common import checked_engine, console, friendly_errors
from api.cli.layers import LoadBar
from spatial.config import Settings


@click.group()
def addresses() -> None:
    """The address layer (门牌地址): load address files, rebuild the geocoding index."""


@addresses.command("load")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--map", "mapping", required=True,
    help="FIELD=COLUMN pairs: house_number, street, building, unit, city, postcode, province, "
    "district, address (one column to parse), lon, lat — e.g. house_number=num,street=road,lon=x,lat=y",
)  # fmt: skip
@click.option("--from-crs", default=None, help="CRS of the coordinates: EPSG:n, gcj02 or bd09 (default EPSG:4326)")
@click.option("--source", default=None, help="source name (default: the file name); reloading replaces it")
@click.option("--layer", default=None, help="GeoPackage layer to read")
@click.option("--strict", is_flag=True, help="refuse the whole file when any row is bad")
@click.option("--json", "as_json", is_flag=True, help="print the load report as JSON")
@click.pass_obj
@friendly_errors
def load_command(
    settings: Settings, path: Path, mapping: str, from_crs: str | None, source: str | None,
    layer: str | None, strict: bool, as_json: bool,
) -> None:  # fmt: skip
    """Load the door plates in PATH (CSV, GeoJSON, GeoPackage) as an address source."""
    from layers.addresses import load_addresses, parse_mapping

    fields = parse_mapping(mapping)
    engine = checked_engine(settings)
    bar = LoadBar()
    try:
        report = load_addresses(engine, path, mapping=fields, source=source, from_crs=from_crs,
                                layer=layer, strict=strict, progress=bar)  # fmt: skip
    finally:
        bar.close()
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    for line in report.summary():
        console.print(line, markup=False, highlight=False)


@addresses.command("index")
@click.pass_obj
@friendly_errors
def index_command(settings: Settings) -> None:
    """Rebuild the geocoding index from the address layer, roads, divisions and POIs."""
    from spatial.geocoding import refresh_index

    engine = checked_engine(settings)
    with engine.begin() as conn:
        counts = refresh_index(conn)
    console.print(f"geocoding index: {counts.addresses:,} door-plate rows, {counts.places:,} names")


@click.command()
@click.argument("query", nargs=-1)
@click.option("--reverse", "point", nargs=2, type=float, default=None, metavar="LON LAT",
              help="reverse geocode this point instead")  # fmt: skip
@click.option("--limit", type=int, default=None, help="most matches (default 5; reverse 1)")
@click.option("--crs", default=None, help="output CRS: CRS84 (default), EPSG:4490, gcj02, bd09")
@click.option("--json", "as_json", is_flag=True, help="GeoJSON on stdout")
@click.pass_obj
@friendly_errors
def geocode(
    settings: Settings, query: tuple[str, ...], point: tuple[float, float] | None,
    limit: int | None, crs: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Geocode an address ("陕西省西安市兴福路88号", "333 W 17th St") or, with --reverse, a point."""
    from spatial.errors import InvalidInput
    from spatial.geocoding import geocode as forward
    from spatial.geocoding.reverse import reverse

    engine = checked_engine(settings)
    if point is not None:
        if query:
            raise InvalidInput("give either an address or --reverse LON LAT, not both")
        _, matches = reverse(engine, point[0], point[1], limit=limit or 1, crs=crs)
    else:
        if not query:
            raise InvalidInput('give an address to geocode, e.g. onemap geocode "兴福路88号"')
        matches = forward(engine, " ".join(query), limit=limit or 5, crs=crs)
    if as_json:
        features = [m.as_feature() for m in matches]
        click.echo(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False))
        return
    if not matches:
        console.print("no match")
        return
    Console().print(match_table(matches))


def match_table(matches: list) -> Table:
    """Matches as a rich table."""
    table = Table()
    for header in ("level", "confidence", "lon", "lat", "label", "district", "distance"):
        table.add_column(header)
    for m in matches:
        distance = "" if m.distance_m is None else f"{m.distance_m:.0f} m"
        table.add_row(m.level, f"{m.confidence:.2f}", f"{m.lon:.6f}", f"{m.lat:.6f}", m.label,
                      m.district_code or "", distance)  # fmt: skip
    return table
