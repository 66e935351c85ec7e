"""The scratch database benchmarks run in: the demo city in its own database of the embedded cluster."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from sqlalchemy import text

from spatial.config import PROJECT_ROOT, Settings
from spatial.db import embedded_cluster, make_engine
from spatial.postgis import create_database, drop_database


@contextmanager
def scratch_demo_database(
    *, size: str, keep: bool, console: Console
) -> Iterator[tuple[str, Settings, Any]]:
    """Yield (url, settings, load results) for a database holding the demo city of ``size``."""
    from benchmarks.workloads.demo_load import measure_demo_load
    from spatial import migrate

    base = Settings()
    cluster = embedded_cluster(base)
    state = cluster.start()
    name = f"onemap_bench_{size}"
    created = create_database(state, name)
    url = state.url(name)
    settings = Settings(database_url=url, var_dir=PROJECT_ROOT / "var" / f"bench-{size}")
    engine = make_engine(url, pool_size=2)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        loaded = conn.execute(text("SELECT count(*) FROM catalog.layer")).scalar_one() > 0
    load_results = None
    if created or not loaded or not keep:
        started = time.perf_counter()
        load_results = measure_demo_load(engine, settings, size=size, console=console)
        console.print(f"demo ({size}) ready in {time.perf_counter() - started:.1f} s")
    engine.dispose()
    try:
        yield url, settings, load_results
    finally:
        if not keep:
            drop_database(state, name)
