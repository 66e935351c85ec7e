"""`onemap layers`: list the catalog, load a vector file as a layer, remove a layer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from api.cli.common import checked_engine, console, friendly_errors
from spatial.config import Settings

TABLE_COLUMNS = {  # catalog field → header
    "id": "id",
    "department_code": "department",
    "kind": "kind",
    "visibility": "visibility",
    "feature_count": "features",
    "title_zh": "title",
    "title_en": "title (en)",
}


@click.group()
def layers() -> None:
    """Layers of the one map: list the catalog, add a vector file, remove a layer."""


@layers.command("list")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_obj
@friendly_errors
def list_command(settings: Settings, as_json: bool) -> None:
    """Every catalogued layer: owner department, kind, visibility, features, titles."""
    from layers.catalog import list_layers

    rows = list_layers(checked_engine(settings))
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, default=str, indent=1))
    else:
        Console().print(layer_table(rows))


def layer_table(rows: list[dict[str, Any]]) -> Table:
    """The catalog as a rich table."""
    table = Table(title=f"{len(rows)} layers")
    for name, header in TABLE_COLUMNS.items():
        table.add_column(header, justify="right" if name == "feature_count" else "left")
    for row in rows:
        table.add_row(*("" if row.get(name) is None else str(row[name]) for name in TABLE_COLUMNS))
    return table


@layers.command("add")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="layer id and table name: lowercase letters, digits, _")
@click.option("--department", required=True, help="code of the owning department")
@click.option("--title", required=True, help="title in Chinese (or the only title)")
@click.option("--title-en", default=None, help="English title (default: --title)")
@click.option("--description", default="", help="what the layer shows")
@click.option(
    "--visibility",
    type=click.Choice(["public", "internal", "department"]),
    default="public",
    show_default=True,
)
@click.option(
    "--crs",
    default=None,
    help="CRS of the coordinates, e.g. EPSG:4490 (needed when the file has none)",
)
@click.option(
    "--layer", "source_layer", default=None, help="layer to read from a GeoPackage with several"
)
@click.option("--lon-field", default=None, help="CSV: longitude column (default: found by name)")
@click.option("--lat-field", default=None, help="CSV: latitude column (default: found by name)")
@click.option(
    "--invalid",
    type=click.Choice(["repair", "reject"]),
    default="repair",
    show_default=True,
    help="repair invalid geometries, or refuse the file",
)
@click.option("--keyword", "keywords", multiple=True, help="a keyword (repeat for several)")
@click.option("--json", "as_json", is_flag=True, help="print the load report as JSON")
@click.pass_obj
@friendly_errors
def add_command(
    settings: Settings,
    path: Path,
    name: str,
    department: str,
    title: str,
    title_en: str | None,
    description: str,
    visibility: str,
    keywords: tuple[str, ...],
    as_json: bool,
    **options: Any,
) -> None:
    """Load a GeoJSON, GeoPackage, zipped Shapefile, FlatGeobuf or lon/lat CSV as layer NAME."""
    from layers.catalog import LayerSpec
    from layers.vector import load_vector_file

    spec = LayerSpec(
        id=name,
        title_zh=title,
        title_en=title_en or title,
        department_code=department,
        visibility=visibility,
        description=description,
        keywords=list(keywords),
    )
    engine = checked_engine(settings)
    bar = LoadBar()
    try:
        report = load_vector_file(engine, path, spec, **options, progress=bar)
    finally:
        bar.close()
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    for line in report.summary():
        console.print(line, markup=False, highlight=False)


class LoadBar:
    """A transient progress bar on stderr, shown once rows start flowing (errors before print alone)."""

    def __init__(self) -> None:
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.progress is None:
            columns = (
                TextColumn("loading"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            self.progress = Progress(*columns, console=console, transient=True)
            self.progress.start()
            self.task = self.progress.add_task("load", total=total)
        assert self.task is not None
        self.progress.update(self.task, completed=done, total=total)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


@layers.command("remove")
@click.argument("name")
@click.pass_obj
@friendly_errors
def remove_command(settings: Settings, name: str) -> None:
    """Remove thematic layer NAME: its table and its catalog row (base-map layers are refused)."""
    from layers.vector import remove_layer

    remove_layer(checked_engine(settings), name)
    console.print(f"layer {name} removed")
