"""The benchmark harness: a registry of workloads, a scratch database, one table, one JSON file."""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"


@dataclass
class Figure:
    """One measured number with its unit; ``higher_is_better`` decides how the ratio reads."""

    value: float
    unit: str
    higher_is_better: bool = True


@dataclass
class Result:
    workload: str
    metric: str
    ours: Figure
    baseline: Figure
    baseline_name: str
    target: str = ""
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """How many times better we are than the baseline (>1 = better)."""
        if self.ours.value == 0 or self.baseline.value == 0:
            return float("nan")
        if self.ours.higher_is_better:
            return self.ours.value / self.baseline.value
        return self.baseline.value / self.ours.value


@dataclass
class Context:
    """What a workload gets: a database URL with the demo loaded, settings, and knobs."""

    url: str
    settings: Any
    size: str
    quick: bool


Workload = Callable[[Context], list[Result]]
WORKLOADS: dict[str, Workload] = {}


def workload(name: str) -> Callable[[Workload], Workload]:
    def register(func: Workload) -> Workload:
        WORKLOADS[name] = func
        return func

    return register


@contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    start = time.perf_counter()
    elapsed: list[float] = []
    yield lambda: elapsed[0] if elapsed else time.perf_counter() - start
    elapsed.append(time.perf_counter() - start)


def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[int(q) - 1]


def write_json(results: list[Result], path: Path, meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "meta": meta | {"machine": platform.node(), "python": platform.python_version()},
        "results": [asdict(r) | {"ratio": r.ratio} for r in results],
    }
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str))


def render_table(results: list[Result]) -> Any:
    from rich.table import Table

    table = Table(title="onemap benchmarks (ours vs baseline, same run)")
    for column in ("workload", "metric", "ours", "baseline", "baseline is", "ratio", "target"):
        table.add_column(column)
    for r in results:
        table.add_row(
            r.workload,
            r.metric,
            f"{r.ours.value:,.2f} {r.ours.unit}",
            f"{r.baseline.value:,.2f} {r.baseline.unit}",
            r.baseline_name,
            f"{r.ratio:,.2f}×",
            r.target,
        )
    return table
