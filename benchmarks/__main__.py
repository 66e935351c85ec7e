"""`python -m benchmarks [--size small|large] [--only NAME] [--quick]`: run, print one table, write JSON."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click
from rich.console import Console

from benchmarks import workloads  # noqa: F401  (registers the workloads)
from benchmarks.database import scratch_demo_database
from benchmarks.harness import RESULTS_DIR, WORKLOADS, Context, render_table, write_json


@click.command()
@click.option("--size", type=click.Choice(["small", "large"]), default="small", show_default=True)
@click.option("--only", multiple=True, help="run only these workloads (repeatable)")
@click.option("--quick", is_flag=True, help="tiny repetitions: checks the harness, numbers mean little")
@click.option("--output", type=click.Path(path_type=Path), default=None, help="JSON file to write")
@click.option("--keep", is_flag=True, help="keep (and reuse) the scratch database")
def main(size: str, only: tuple[str, ...], quick: bool, output: Path | None, keep: bool) -> None:
    console = Console(width=200)
    names = list(only) or list(WORKLOADS)
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        raise click.UsageError(f"unknown workload(s) {unknown}; known: {sorted(WORKLOADS)}")
    results = []
    with scratch_demo_database(size=size, keep=keep, console=console) as (url, settings, load_result):
        context = Context(url=url, settings=settings, size=size, quick=quick)
        if load_result is not None:
            results.extend(load_result)
        for name in names:
            console.print(f"[bold]running[/] {name} …")
            results.extend(WORKLOADS[name](context))
    console.print(render_table(results))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = output or RESULTS_DIR / f"bench-{size}-{stamp}.json"
    write_json(results, path, {"size": size, "quick": quick, "at": stamp, "workloads": names})
    write_json(results, RESULTS_DIR / "latest.json", {"size": size, "quick": quick, "at": stamp})
    console.print(f"written {path}")


if __name__ == "__main__":
    sys.exit(main())
