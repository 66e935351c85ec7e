"""`onemap imagery …`: scenes of imagery layers (GeoTIFF → Cloud-Optimized GeoTIFF), statistics."""

from __future__ import annotations

import json
from pathlib import Path

import click

from api.cli.common import checked_engine, console, friendly_errors
from spatial.config import Settings
from spatial.models import VISIBILITIES


@click.group()
def imagery() -> None:
    """Imagery layers: scenes as Cloud-Optimized GeoTIFFs, XYZ tiles, coverages, zonal statistics."""


@imagery.command("add")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False), required=False)
@click.option("--url", default=None,
              help="read a Cloud-Optimized GeoTIFF in place at this http(s):// or s3:// URL instead of PATH")
@click.option("--layer", "--name", "layer", required=True,
              help="layer id (lowercase letters, digits, underscores); created if new")
@click.option("--time", "acquired", default=None, help="acquisition time, ISO 8601 (2024-05-01T10:30Z)")
@click.option("--sensor", default=None, help="sensor or platform, e.g. GF-2 PMS, Sentinel-2A MSI")
@click.option("--cloud", "cloud_percent", type=float, default=None, help="cloud cover in percent")
@click.option("--quality", default="", help="quality notes (haze, striping, partial scene…)")
@click.option("--scene", "scene_id", default=None, help="scene id (default: from the file name)")
@click.option("--replace", is_flag=True, help="drop the layer's other scenes: it becomes this one")
@click.option("--department", default=None, help="owner department code (new layers: planning)")
@click.option("--title", "title_zh", default=None, help="title in Chinese (new layers: the name)")
@click.option("--title-en", default=None, help="title in English (new layers: the name)")
@click.option("--visibility", type=click.Choice(VISIBILITIES), default=None,
              help="who may see the layer (new layers: public)")
@click.option(
    "--compression", type=click.Choice(["deflate", "webp"]), default="deflate", show_default=True,
    help="deflate (lossless, any data) or lossless webp (8-bit RGB/RGBA, smaller)",
)
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON on stdout")
@click.pass_obj
@friendly_errors
def add(settings: Settings, path: Path | None, url: str | None, layer: str, acquired: str | None,
        as_json: bool, **options: object) -> None:  # fmt: skip
    """Convert the raster at PATH to a COG and add it as a scene of imagery layer LAYER.

    With --url instead of PATH, the Cloud-Optimized GeoTIFF at that URL is added as it is and
    read in place by HTTP range requests (GDAL /vsicurl/; s3:// through /vsis3/ with the AWS_*
    variables): checked, validated and described from its headers and overviews, never downloaded.
    A scene with the same id is replaced; other scenes stay unless --replace.
    """
    from layers.imagery import add_remote_scene, add_scene, parse_acquired

    if (path is None) == (url is None):
        raise click.UsageError("give either PATH (a local raster) or --url (a remote COG), not both")
    when = parse_acquired(acquired) if acquired else None
    engine = checked_engine(settings)
    label = path.name if path is not None else str(url)
    with console.status(f"checking {label}") as status:

        def progress(stage: str, fraction: float) -> None:
            status.update(f"{stage} {label} ({fraction:.0%})")

        if path is not None:
            report = add_scene(engine, settings, path, layer=layer, acquired=when, progress=progress,
                               **options)  # type: ignore[arg-type]  # fmt: skip
        else:
            if options.pop("compression") != "deflate":
                raise click.UsageError("--compression applies to a converted PATH; a --url scene is read as it is")
            report = add_remote_scene(engine, settings, str(url), layer=layer, acquired=when, progress=progress,
                                      **options)  # type: ignore[arg-type]  # fmt: skip
    for warning in report.warnings:
        console.print(f"warning: {warning}")
    if as_json:
        click.echo(json.dumps(_report_json(report)))
    else:
        console.print(report.describe())


@imagery.command("scenes")
@click.argument("layer")
@click.option("--json", "as_json", is_flag=True, help="print the scenes as JSON")
@click.pass_obj
@friendly_errors
def scenes(settings: Settings, layer: str, as_json: bool) -> None:
    """The scenes of imagery layer LAYER, latest first."""
    from layers.imagery.store import imagery_source

    source = imagery_source(checked_engine(settings), layer)
    listed = [scene.as_json() | {"url": scene.url} for scene in source.scenes]
    if as_json:
        click.echo(json.dumps(listed, ensure_ascii=False))
        return
    for scene in listed:
        cloud = f"{scene['cloud_percent']:g}% cloud" if scene["cloud_percent"] is not None else ""
        resolution = f"{scene['resolution']:g} {scene['resolution_unit']}" if scene["resolution"] else ""
        console.print(
            f"{scene['id']}  {scene['acquired'] or '(no time)'}  {scene['sensor'] or ''}  "
            f"{resolution}  {cloud}  {scene['quality']}  {scene['url'] or ''}"
        )


@imagery.command("remove-scene")
@click.argument("layer")
@click.argument("scene_id")
@click.pass_obj
@friendly_errors
def remove_scene_command(settings: Settings, layer: str, scene_id: str) -> None:
    """Remove scene SCENE_ID of imagery layer LAYER (its last scene stays: remove the layer)."""
    from layers.imagery.ingest import remove_scene

    left = remove_scene(checked_engine(settings), settings, layer, scene_id)
    console.print(f"scene {scene_id} removed from {layer}; {left} scene(s) left")


def _report_json(report) -> dict:  # noqa: ANN001
    from dataclasses import asdict

    data = asdict(report)
    data["storage_path"] = str(report.storage_path)
    data["url"] = getattr(report.storage_path, "url", None)
    data["acquired"] = report.acquired.isoformat() if report.acquired else None
    return data
