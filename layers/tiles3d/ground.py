"""Ground levels of buildings: sampled from the city's DEM when it has one, else 0 (flat ground).

The city's DEM is the public imagery layer whose keywords include ``dem`` (or ``elevation``);
its first band is the terrain height in metres, read at each building's representative point
through ``layers.imagery.point`` (the latest scene covering the point). A point no scene
covers, or a nodata pixel, stands on 0 m.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import Engine, text

from layers.imagery.point import point_values
from layers.imagery.store import imagery_source
from spatial.errors import NotFound

DEM_KEYWORDS = ("dem", "elevation")


def dem_layer(engine: Engine) -> str | None:
    """The id of the city's DEM imagery layer, or None."""
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT id FROM catalog.layer WHERE kind = 'imagery' AND visibility = 'public' "
                "AND keywords && CAST(:k AS text[]) ORDER BY id LIMIT 1"
            ),
            {"k": list(DEM_KEYWORDS)},
        ).scalar()


def ground_levels(engine: Engine, dem: str | None, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Ground height (m) at every point: the DEM's first band, or 0 without a DEM."""
    ground = np.zeros(len(lon), dtype=np.float64)
    if dem is None or not len(lon):
        return ground
    source = imagery_source(engine, dem)
    for i, (x, y) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True)):
        try:
            values = point_values(source, x, y, bands="1")[0].values
        except NotFound:
            continue
        value = next(iter(values.values()), None)
        ground[i] = value if value is not None and np.isfinite(value) else 0.0
    return ground
