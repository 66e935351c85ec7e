"""`onemap layers`: list the catalog, load a vector file as a layer, remove, history, rollback."""

from __future__ import annotations

import datetime as dt
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
from spatial.access.principal import local_operator
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
    default=None,
    help="who may see it (default: public for a new layer; unchanged on a replace)",
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
@click.option(
    "--new-schema",
    is_flag=True,
    help="replace an existing layer even though the file's attributes differ from its own",
)
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
    visibility: str | None,
    keywords: tuple[str, ...],
    as_json: bool,
    **options: Any,
) -> None:
    """Load a GeoJSON, GeoPackage, zipped Shapefile, FlatGeobuf or lon/lat CSV as layer NAME.

    Loading onto an existing layer replaces its features (recorded in its history); the file
    must then match the layer's attributes unless --new-schema is given.
    """
    from layers.catalog import LayerSpec
    from layers.vector import load_vector_file
    from spatial.extent import ExtentRule

    spec = LayerSpec(
        id=name,
        title_zh=title,
        title_en=title_en or title,
        department_code=department,
        visibility=visibility or "public",
        description=description,
        keywords=list(keywords),
    )
    engine = checked_engine(settings)
    bar = LoadBar()
    try:
        report = load_vector_file(
            engine, path, spec, **options, progress=bar, door="cli", principal=local_operator(),
            keep=() if visibility else ("visibility",), extent=ExtentRule.from_settings(settings),
        )
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

    remove_layer(checked_engine(settings), name, principal=local_operator())
    console.print(f"layer {name} removed")


@layers.command("history")
@click.argument("name")
@click.option("--feature", default=None, help="only this feature's changes")
@click.option("--since", default=None, help="from this time (ISO 8601; local time without an offset)")
@click.option("--until", default=None, help="up to this time")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_obj
@friendly_errors
def history_command(
    settings: Settings, name: str, feature: str | None, since: str | None, until: str | None,
    as_json: bool,
) -> None:
    """Changes to layer NAME's features: when, who, through which door, what."""
    from spatial.history.changes import list_changes

    rows = list_changes(
        checked_engine(settings), name, feature=feature, since=_local_time(since),
        until=_local_time(until), limit=10_000,
    )
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, default=str, indent=1))
        return
    table = Table(title=f"{len(rows)} changes to {name}")
    for header in ("at", "feature", "operation", "path", "actor", "department"):
        table.add_column(header)
    for row in rows:
        table.add_row(
            f"{row['at']:%Y-%m-%d %H:%M:%S%z}", row["feature_id"] or "(all)", row["operation"],
            row["path"], row["actor"], row["department_code"] or "",
        )
    Console().print(table)


@layers.command("rollback")
@click.argument("name")
@click.option("--to", "to", required=True, help="the time to go back to (ISO 8601; local time without an offset)")
@click.option("--feature", default=None, help="roll back only this feature")
@click.pass_obj
@friendly_errors
def rollback_command(settings: Settings, name: str, to: str, feature: str | None) -> None:
    """Restore layer NAME (or one --feature) as it was at --to; recorded in its history."""
    from layers.rollback import rollback_layer

    moment = _local_time(to)
    assert moment is not None
    report = rollback_layer(
        checked_engine(settings), name, moment, principal=local_operator(), feature=feature
    )
    console.print(report.summary(), highlight=False)


def _local_time(value: str | None) -> dt.datetime | None:
    """An ISO 8601 time; without an offset it is this machine's local time."""
    if value is None:
        return None
    from spatial.params import parse_instant

    return parse_instant(value, name="--to", naive_is_local=True)
