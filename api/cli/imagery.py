"""`onemap imagery …`: publish rasters as Cloud-Optimized GeoTIFF imagery layers."""

from __future__ import annotations

import json
from pathlib import Path

import click

from api.cli.common import checked_engine, console, friendly_errors
from spatial.config import Settings
from spatial.models import VISIBILITIES


@click.group()
def imagery() -> None:
    """Imagery layers: GeoTIFF → Cloud-Optimized GeoTIFF, served as XYZ tiles and OGC API Coverages."""


@imagery.command("add")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--name", required=True, help="layer id: lowercase letters, digits and underscores")
@click.option("--department", default="planning", show_default=True, help="owner department code")
@click.option("--title", "title_zh", default=None, help="title in Chinese (default: the name)")
@click.option("--title-en", default=None, help="title in English (default: the name)")
@click.option("--visibility", type=click.Choice(VISIBILITIES), default="public", show_default=True)
@click.option(
    "--time", "acquired", default=None, help="acquisition time, ISO 8601 (2024-05-01T10:30Z)"
)
@click.option(
    "--compression",
    type=click.Choice(["deflate", "webp"]),
    default="deflate",
    show_default=True,
    help="deflate (lossless, any data) or lossless webp (8-bit RGB/RGBA, smaller)",
)
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON on stdout")
@click.pass_obj
@friendly_errors
def add(
    settings: Settings,
    path: Path,
    name: str,
    department: str,
    title_zh: str | None,
    title_en: str | None,
    visibility: str,
    acquired: str | None,
    compression: str,
    as_json: bool,
) -> None:
    """Convert the raster at PATH to a COG and publish it as imagery layer NAME (replacing it)."""
    from layers.imagery import add_imagery, parse_acquired

    when = parse_acquired(acquired) if acquired else None
    engine = checked_engine(settings)
    with console.status(f"checking {path.name}") as status:
        report = add_imagery(
            engine,
            settings,
            path,
            name=name,
            department=department,
            title_zh=title_zh,
            title_en=title_en,
            visibility=visibility,
            acquired=when,
            compression=compression,
            progress=lambda stage, fraction: status.update(f"{stage} {path.name} ({fraction:.0%})"),
        )
    for warning in report.warnings:
        console.print(f"warning: {warning}")
    if as_json:
        click.echo(json.dumps(_report_json(report)))
    else:
        console.print(report.describe())


def _report_json(report) -> dict:  # type: ignore[no-untyped-def]
    from dataclasses import asdict

    data = asdict(report)
    data["storage_path"] = str(report.storage_path)
    data["acquired"] = report.acquired.isoformat() if report.acquired else None
    return data
