"""imagery_zonal: mean NDVI (with min, max, std, median) of every unit-grid cell of the demo city.

- ours: ``layers.imagery.zonal.zonal_statistics`` (zones read from PostGIS, one read and one
  burn per chunk of neighbouring cells, statistics for all cells at once);
- baseline: what a notebook does without it: the cells from ``geopandas.read_postgis``, then
  ``rasterio.mask.mask`` per cell (crop to the cell, read, mask) and numpy statistics, the
  straightforward per-polygon loop that rasterstats also runs.

Both use the pixel-centre rule, so their answers are compared cell by cell (count and mean).
"""

from __future__ import annotations

import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import rasterio.mask
from sqlalchemy import text

from benchmarks.harness import Context, Figure, Result, workload
from layers.imagery.zonal import zonal_statistics
from spatial.access.principal import local_operator
from spatial.db import make_engine

NDVI = "(b4-b3)/(b4+b3)"


def ensure_grid(engine) -> int:  # type: ignore[no-untyped-def]
    """Build the unit grid over the demo's communities if the database has none; its cell count."""
    with engine.connect() as conn:
        cells = conn.execute(text("SELECT count(*) FROM grid.current_cell")).scalar_one()
    if cells:
        return int(cells)
    from layers.grid_layers import register_grid_layers
    from spatial.grid.build import build_grid

    report = build_grid(engine, principal=local_operator())
    with engine.begin() as conn:
        register_grid_layers(conn)
    return report.cell_count


def baseline(engine, path: Path, limit: int | None) -> tuple[float, dict[int, tuple[int, float]]]:  # type: ignore[no-untyped-def]
    """Seconds, and per cell id (count, mean NDVI), with rasterio.mask per polygon."""
    started = time.perf_counter()
    cells = gpd.read_postgis("SELECT id, geom FROM grid.current_cell ORDER BY id", engine, geom_col="geom")
    if limit:
        cells = cells.iloc[:limit]
    found = {}
    with rasterio.open(path) as scene:
        cells = cells.to_crs(scene.crs)
        for cell_id, geometry in zip(cells["id"], cells.geometry, strict=True):
            try:
                data, _ = rasterio.mask.mask(scene, [geometry], crop=True, indexes=[3, 4], filled=False)
            except ValueError:  # outside the scene
                found[int(cell_id)] = (0, float("nan"))
                continue
            red, nir = data.astype("float64")
            ndvi = ((nir - red) / (nir + red)).compressed()
            if ndvi.size:
                np.min(ndvi), np.max(ndvi), np.std(ndvi), np.median(ndvi)
            found[int(cell_id)] = (int(ndvi.size), float(ndvi.mean()) if ndvi.size else float("nan"))
    return time.perf_counter() - started, found


@workload("imagery_zonal")
def imagery_zonal(ctx: Context) -> list[Result]:
    engine = make_engine(ctx.url, pool_size=2)
    cells = ensure_grid(engine)
    with engine.connect() as conn:
        path = Path(conn.execute(text("SELECT storage_path FROM catalog.layer WHERE id = 'demo_imagery'")).scalar_one())
    zonal_statistics(engine, "demo_imagery", "unit_grid", expression=NDVI, bbox=(0, 0, 1, 1), principal=local_operator())  # warm-up
    runs = []
    for _ in range(1 if ctx.quick else 3):
        started = time.perf_counter()
        result = zonal_statistics(engine, "demo_imagery", "unit_grid", expression=NDVI, percentiles=[50], principal=local_operator())
        runs.append(time.perf_counter() - started)
    ours_s = min(runs)
    limit = 500 if ctx.quick else None
    base_s, base = baseline(engine, path, limit)
    engine.dispose()
    records = {int(r["zone_id"]): r for r in result.records()}
    same = [cid for cid, (count, mean) in base.items()
            if records[cid]["count"] == count and (count == 0 or abs(records[cid]["mean"] - mean) < 1e-9)]  # fmt: skip
    n_base = len(base)
    return [
        Result(
            workload="imagery_zonal",
            metric=f"NDVI statistics per unit-grid cell ({cells:,} cells, median included)",
            ours=Figure(cells / ours_s, "cells/s"),
            baseline=Figure(n_base / base_s, "cells/s"),
            baseline_name="geopandas read_postgis + rasterio.mask per cell + numpy",
            notes=f"ours {ours_s:.2f} s for all cells (best of {len(runs)}); baseline {base_s:.1f} s for "
                  f"{n_base:,} cells; count and mean agree for {len(same) / n_base:.2%} of them",
            extra={"cells": cells, "ours_s": ours_s, "baseline_s": base_s, "agree": len(same) / n_base},
        )
    ]  # fmt: skip
