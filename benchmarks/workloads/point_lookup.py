"""point_lookup: which community is this point in? Bulk and single-point, with named baselines.

- bulk: ``spatial.divisions.locate`` (one set-based PostGIS query, GiST) vs geopandas
  ``read_postgis`` + ``sjoin`` in the client (what a notebook would do);
- single: one request-sized lookup with the GiST index vs the same query with index scans
  disabled (sequential scan), p50 latency.
"""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
from sqlalchemy import text

from benchmarks.harness import Context, Figure, Result, percentile, workload
from spatial.db import make_engine
from spatial.divisions import locate


def _random_points(engine, n: int, seed: int = 7) -> list[tuple[float, float]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        xmin, ymin, xmax, ymax = conn.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                "(SELECT ST_Extent(geom)::geometry e FROM basemap.admin_division) s"
            )
        ).one()
    rng = np.random.default_rng(seed)
    return list(zip(rng.uniform(xmin, xmax, n).tolist(), rng.uniform(ymin, ymax, n).tolist(), strict=True))


def _bulk_ours(engine, points) -> tuple[float, list]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    with engine.connect() as conn:
        placements = locate(conn, points)
    return time.perf_counter() - started, [p.community_code for p in placements]


def _bulk_geopandas(engine, points) -> tuple[float, list]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    communities = gpd.read_postgis(
        "SELECT code, geom FROM basemap.admin_division WHERE level = 'community'", engine, geom_col="geom"
    )
    xs, ys = zip(*points, strict=True)
    frame = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xs, ys), crs=4326)
    joined = gpd.sjoin(frame, communities, how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")].sort_index()
    elapsed = time.perf_counter() - started
    return elapsed, [code if isinstance(code, str) else None for code in joined["code"]]


def _single_latencies(engine, points, *, use_index: bool) -> list[float]:  # type: ignore[no-untyped-def]
    samples = []
    with engine.connect() as conn:
        if not use_index:
            conn.execute(text("SET enable_indexscan = off"))
            conn.execute(text("SET enable_bitmapscan = off"))
        for point in points:
            started = time.perf_counter()
            locate(conn, [point])
            samples.append((time.perf_counter() - started) * 1000)
        conn.rollback()
    return samples


@workload("point_lookup")
def point_lookup(ctx: Context) -> list[Result]:
    engine = make_engine(ctx.url, pool_size=2)
    n_bulk = 2_000 if ctx.quick else 100_000
    n_single = 50 if ctx.quick else 1_000
    points = _random_points(engine, n_bulk)
    ours_s, ours_codes = _bulk_ours(engine, points)
    base_s, base_codes = _bulk_geopandas(engine, points)
    agree = sum(a == b for a, b in zip(ours_codes, base_codes, strict=True)) / len(points)
    singles = points[:n_single]
    with_index = _single_latencies(engine, singles, use_index=True)
    without_index = _single_latencies(engine, singles, use_index=False)
    engine.dispose()
    return [
        Result(
            workload="point_lookup",
            metric=f"bulk points→community ({n_bulk:,} points)",
            ours=Figure(n_bulk / ours_s, "points/s"),
            baseline=Figure(n_bulk / base_s, "points/s"),
            baseline_name="geopandas read_postgis + sjoin",
            notes=f"answers agree for {agree:.2%} of points",
        ),
        Result(
            workload="point_lookup",
            metric=f"single lookup p50 ({n_single} requests)",
            ours=Figure(percentile(with_index, 50), "ms", higher_is_better=False),
            baseline=Figure(percentile(without_index, 50), "ms", higher_is_better=False),
            baseline_name="same query, sequential scan (no GiST)",
            extra={"ours_p95_ms": percentile(with_index, 95), "baseline_p95_ms": percentile(without_index, 95)},
        ),
    ]
