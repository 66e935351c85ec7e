"""Ground levels of buildings: sampled from the city's DEM when it has one, else 0 (flat ground).

The city's DEM is the public imagery layer whose keywords include ``dem`` (or ``elevation``);
band 1 of its scenes is the terrain height in metres. Every building's representative point is
read from the latest scene covering it (the imagery layer's mosaic rule, ``select_scenes``),
all points of a scene in one ``rasterio`` sample call. A point no scene covers, or a nodata
pixel, stands on 0 m.
"""

from __future__ import annotations

import numpy as np
import rasterio
import shapely
from pyproj import Transformer
from sqlalchemy import Engine, text

from layers.imagery.readers import GDAL_ENV
from layers.imagery.selection import select_scenes
from layers.imagery.store import imagery_source

DEM_KEYWORDS = ("dem", "elevation")


def dem_layer(engine: Engine) -> str | None:
    """The id of the city's DEM imagery layer, or None."""
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT id FROM catalog.layer WHERE kind = 'imagery' AND visibility = 'public' "
                "AND storage_path IS NOT NULL AND keywords && CAST(:k AS text[]) ORDER BY id LIMIT 1"
            ),
            {"k": list(DEM_KEYWORDS)},
        ).scalar()


def ground_levels(engine: Engine, dem: str | None, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Ground height (m) at every point: the DEM's band 1, or 0 without a DEM."""
    ground = np.full(len(lon), np.nan)
    if dem is not None and len(lon):
        source = imagery_source(engine, dem)
        points = shapely.points(lon, lat)
        with rasterio.Env(**GDAL_ENV):
            for scene in select_scenes(source.scenes, layer_id=dem):
                todo = np.flatnonzero(np.isnan(ground) & shapely.covers(scene.footprint, points))
                if len(todo):
                    ground[todo] = _sample(scene.path, lon[todo], lat[todo])
    return np.where(np.isfinite(ground), ground, 0.0)


def _sample(path: object, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Band 1 at the points (NaN where nodata)."""
    with rasterio.open(path) as dataset:
        xs, ys = Transformer.from_crs("OGC:CRS84", dataset.crs, always_xy=True).transform(lon, lat)
        samples = list(dataset.sample(zip(xs, ys, strict=True), indexes=1, masked=True))
    return np.array([np.nan if np.ma.is_masked(s[0]) else float(s[0]) for s in samples], dtype=np.float64)
