"""A small city for tests of what follows the city: two districts of Xi'an, departments, imagery helpers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_bounds
from sqlalchemy import Engine, text

from layers.catalog import upsert_department
from spatial import migrate
from spatial.db import make_engine

XIAN = (108.80, 34.15, 109.10, 34.40)
"""The two districts' lon/lat box: west half 610101, east half 610102."""
BAHAMAS = (-78.9, 23.6, -77.9, 24.6)
"""Another continent (where the real Landsat RGB.byte.tif lies)."""


@contextmanager
def xian_database(make_database) -> Iterator[tuple[str, Engine]]:  # noqa: ANN001
    """A migrated database of its own holding two districts of Xi'an and two departments."""
    url = make_database("onemap_city")
    engine = make_engine(url, pool_size=2)
    migrate.upgrade(engine)
    west, south, east, north = XIAN
    middle = (west + east) / 2
    with engine.begin() as conn:
        upsert_department(conn, "planning", "自然资源和规划局", "Natural Resources and Planning")
        upsert_department(conn, "emergency", "应急管理局", "Emergency Management")
        for code, (left, right) in (("610101", (west, middle)), ("610102", (middle, east))):
            conn.execute(
                text(
                    "INSERT INTO basemap.admin_division (code, level, name_zh, name_en, geom, district_code) "
                    "VALUES (:code, 'district', :name, :name, "
                    "ST_Multi(ST_MakeEnvelope(:w, :s, :e, :n, 4326)), :code)"
                ),
                {"code": code, "name": f"区{code}", "w": left, "s": south, "e": right, "n": north},
            )
    try:
        yield url, engine
    finally:
        engine.dispose()


def write_scene(path: Path, lonlat_box: tuple[float, float, float, float], size: int = 256) -> Path:
    """A 3-band byte GeoTIFF in EPSG:4326 covering ``lonlat_box``, with a gradient to look at."""
    rows, cols = np.mgrid[0:size, 0:size]
    data = np.stack([cols % 256, rows % 256, (rows + cols) % 256]).astype("uint8")
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8",
               "crs": "EPSG:4326", "transform": from_bounds(*lonlat_box, size, size)}  # fmt: skip
    with rasterio.open(path, "w", **profile) as target:
        target.write(data)
    return path


def insert_version(engine: Engine, **fields: object) -> int:
    """A current base-map version row as ``onemap city load`` writes one; its id."""
    row = {"city_code": "xian", "name_zh": "西安市", "name_en": "Xi'an", "profile": {}, "counts": {},
           "report": {}, "view": {}, "loaded_by": "test"} | fields  # fmt: skip
    for key in ("profile", "counts", "report", "view"):
        row[key] = json.dumps(row[key])
    with engine.begin() as conn:
        conn.execute(text("UPDATE basemap.version SET is_current = false WHERE is_current"))
        return int(
            conn.execute(
                text(
                    "INSERT INTO basemap.version (city_code, name_zh, name_en, profile, counts, report, "
                    "view, loaded_by, is_current) VALUES (:city_code, :name_zh, :name_en, :profile, "
                    ":counts, :report, :view, :loaded_by, true) RETURNING id"
                ),
                row,
            ).scalar_one()
        )


def drop_versions(engine: Engine) -> None:
    """Forget every base-map version (back to a database filled before versions)."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM basemap.version"))
