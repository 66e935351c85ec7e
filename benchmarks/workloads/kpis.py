"""kpis: the monthly KPIs of ``GET /api/v1/supervision/kpis`` over a hotline-scale history, from
the KPI rollup kept by the event log (ours) next to the same KPIs computed from the event log over
the partitioned tables (the plain query, baseline), interleaved in the same run, answers compared.

The history comes from ``benchmarks/hotline.py`` into its own database (``onemap_hotline``), not
the demo database the harness loads: ``ONEMAP_HOTLINE_INCIDENTS`` incidents (default 1 000 000;
``--quick``: 20 000; 10 000 000 works, given the time), regenerated when the count differs or
``ONEMAP_HOTLINE_FRESH=1``. Generation time and table sizes are quoted in the notes.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import time
from typing import Any

from benchmarks.harness import Context, Figure, Result, workload
from benchmarks.hotline import generate, generated, hotline_url
from spatial.db import make_engine, replica_read
from spatial.incidents.calendar import default_calendar
from spatial.incidents.kpis import kpis

GROUPINGS = ("department", "street", "cell")


def _months(first: str, end: str) -> list[tuple[dt.datetime, dt.datetime]]:
    """The last whole local month of the history, and one in its middle."""
    zone = default_calendar().zone
    stop = dt.date.fromisoformat(end)
    last_first = (stop - dt.timedelta(days=1)).replace(day=1)
    start = dt.date.fromisoformat(first)
    middle = (start + (stop - start) / 2).replace(day=1)
    out = []
    for month in (last_first, middle):
        following = (month + dt.timedelta(days=32)).replace(day=1)
        out.append((dt.datetime.combine(month, dt.time(0), zone), dt.datetime.combine(following, dt.time(0), zone)))
    return out


def _timed(engine: Any, by: str, since: dt.datetime, until: dt.datetime, source: str) -> tuple[float, list]:
    with replica_read(engine) as conn:
        started = time.perf_counter()
        answer = kpis(conn, by, since=since, until=until, source=source)
        return time.perf_counter() - started, answer


@workload("kpis")
def run(ctx: Context) -> list[Result]:
    wanted = 20_000 if ctx.quick else int(os.environ.get("ONEMAP_HOTLINE_INCIDENTS", "1000000"))
    fresh = os.environ.get("ONEMAP_HOTLINE_FRESH") == "1"
    url = hotline_url()
    engine = make_engine(url, pool_size=2)
    info = generated(engine)
    if fresh or info is None or info.get("incidents") != wanted:
        info = generate(url, incidents=wanted)
    sizes = ", ".join(f"{t} {s['pretty']}" for t, s in info["sizes"].items())
    made = (f"{info['incidents']:,} incidents + {info['events']:,} events over {info['months']} months generated in "
            f"{info['total_s']} s ({info['timings_s']}); sizes {sizes}")  # fmt: skip
    repeats = 1 if ctx.quick else 3
    results = []
    for since, until in _months(info["first"], info["end"]):
        for by in GROUPINGS:
            ours, plain = [], []
            same = True
            for _ in range(repeats):  # interleaved: rollup, plain, rollup, plain …
                t_ours, a = _timed(engine, by, since, until, "rollup")
                ours.append(t_ours)
                if len(plain) < max(1, repeats - 1):
                    t_plain, b = _timed(engine, by, since, until, "plain")
                    plain.append(t_plain)
                    same = same and a == b
            results.append(Result(
                workload="kpis", metric=f"KPIs of {since:%Y-%m} by {by} ({len(a)} groups), median s",
                ours=Figure(statistics.median(ours), "s", higher_is_better=False),
                baseline=Figure(statistics.median(plain), "s", higher_is_better=False),
                baseline_name="the same KPIs from the event log (plain query, partitioned tables)",
                target="seconds at 10 M",
                notes=f"answers equal: {same}; {made}; shared 2-core machine, absolute times rough",
                extra={"incidents": info["incidents"], "events": info["events"], "ours_s": ours, "plain_s": plain,
                       "equal": same, "generation": info},
            ))  # fmt: skip
    engine.dispose()
    return results
