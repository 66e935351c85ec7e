"""demo_load: how long ``onemap demo`` takes, and how its table writes compare with to_postgis.

- whole load: ``layers.demo.load.load_demo`` (generate, COPY, imagery, catalog), seconds;
- table writes: our COPY path (``layers.bulk.copy_frame``) vs ``GeoDataFrame.to_postgis``
  (geoalchemy2 INSERTs, the usual path) writing the same frames into the same empty tables,
  each in a transaction that is rolled back afterwards.
"""

from __future__ import annotations

import time

from rich.console import Console
from sqlalchemy import Engine, text

from benchmarks.harness import Figure, Result
from layers.bulk import copy_frame
from layers.demo.generate import generate_city
from layers.demo.load import DEMO_TABLES, load_demo
from spatial.access.principal import local_operator


def _write_with_copy(engine: Engine, city) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    with engine.connect() as conn, conn.begin() as tx:
        conn.execute(text(f"TRUNCATE {', '.join(DEMO_TABLES)} RESTART IDENTITY CASCADE"))
        for (schema, table), frame in city.tables().items():
            frame = frame.rename_geometry("geom") if frame.geometry.name != "geom" else frame
            columns = [c for c in frame.columns if c != "geom"] + ["geom"]
            copy_frame(conn, schema, table, frame, columns)
        elapsed = time.perf_counter() - started
        tx.rollback()
    return elapsed


def _pg_array(values) -> str | None:  # type: ignore[no-untyped-def]
    """A Python list as a PostgreSQL text[] literal (to_postgis writes arrays as text)."""
    if values is None:
        return None
    quoted = ('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


def _arrays_as_literals(frame):  # type: ignore[no-untyped-def]
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object and frame[column].map(lambda v: isinstance(v, list | tuple)).any():
            frame[column] = frame[column].map(_pg_array)
    return frame


def _write_with_to_postgis(engine: Engine, city) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    with engine.connect() as conn, conn.begin() as tx:
        conn.execute(text(f"TRUNCATE {', '.join(DEMO_TABLES)} RESTART IDENTITY CASCADE"))
        for (schema, table), frame in city.tables().items():
            frame = frame.rename_geometry("geom") if frame.geometry.name != "geom" else frame
            frame = _arrays_as_literals(frame)
            frame.to_postgis(table, conn, schema=schema, if_exists="append", index=False, chunksize=10_000)
        elapsed = time.perf_counter() - started
        tx.rollback()
    return elapsed


def measure_demo_load(engine: Engine, settings, *, size: str, console: Console | None) -> list[Result]:  # type: ignore[no-untyped-def]
    """Load the demo (timed), then time both write paths on the same generated frames."""
    started = time.perf_counter()
    summary = load_demo(engine, settings, size=size, seed=42, imagery=True, console=console, principal=local_operator())
    whole = time.perf_counter() - started
    city = generate_city(size, 42)
    ours = _write_with_copy(engine, city)
    baseline = _write_with_to_postgis(engine, city)
    rows = sum(len(frame) for frame in city.tables().values())
    return [
        Result(
            workload="demo_load",
            metric=f"write all demo tables ({rows:,} rows, {size})",
            ours=Figure(ours, "s", higher_is_better=False),
            baseline=Figure(baseline, "s", higher_is_better=False),
            baseline_name="GeoDataFrame.to_postgis (geoalchemy2)",
            notes=f"whole `onemap demo --size {size}` (generate + COPY + imagery + catalog): {whole:.1f} s",
            extra={"whole_load_s": whole, "counts": summary.counts if hasattr(summary, "counts") else {}},
        )
    ]
