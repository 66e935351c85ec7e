"""The city's extent: where written features may lie (the administrative divisions, plus a margin).

Writes outside it are refused, which catches the two commonest coordinate mistakes: latitude and
longitude swapped, and coordinates in another CRS read as degrees.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Connection, text

from spatial.errors import InvalidInput
from spatial.params import parse_lonlat_bbox

METRES_PER_DEGREE = 111_320.0
DEFAULT_MARGIN_M = 10_000.0


@dataclass(frozen=True)
class CityExtent:
    """A lon/lat box and where it came from (for messages)."""

    minx: float
    miny: float
    maxx: float
    maxy: float
    source: str

    def covers(self, geometries: np.ndarray) -> np.ndarray:
        """True for each geometry lying wholly inside the box."""
        bounds = shapely.bounds(geometries)
        return (
            (bounds[:, 0] >= self.minx)
            & (bounds[:, 1] >= self.miny)
            & (bounds[:, 2] <= self.maxx)
            & (bounds[:, 3] <= self.maxy)
        )

    def describe(self) -> str:
        """'108.7,34.0,109.2,34.5 (administrative divisions + 10 km)'."""
        box = ",".join(f"{v:.4f}" for v in (self.minx, self.miny, self.maxx, self.maxy))
        return f"{box} ({self.source})"


def parse_bbox(value: str) -> tuple[float, float, float, float]:
    """'minx,miny,maxx,maxy' in lon/lat; InvalidInput when it is not one (``spatial.params``)."""
    box = parse_lonlat_bbox(value, name="ONEMAP_CITY_EXTENT")
    if box.is_empty:
        raise InvalidInput(f"ONEMAP_CITY_EXTENT {value!r} is not a lon/lat box (minimum first)")
    return box.as_tuple()


PLACED, SWAPPED, OFF_THE_GLOBE, OUTSIDE = "placed", "swapped", "off the globe", "outside"
"""Where a written geometry lies: in the city (or anywhere on the globe when no city is known),
lat/lon swapped (it would be in the city with its axes swapped), outside lon ±180 / lat ±90, or
on the globe but outside the city."""


def place_geometries(geometries: np.ndarray, extent: CityExtent | None) -> np.ndarray:
    """The one position rule of every write (feature edits and file loads): a verdict per geometry."""
    bounds = shapely.bounds(geometries).reshape(-1, 4)
    on_globe = (
        np.isfinite(bounds).all(axis=1)
        & (bounds[:, 0] >= -180) & (bounds[:, 2] <= 180) & (bounds[:, 1] >= -90) & (bounds[:, 3] <= 90)
    )  # fmt: skip
    verdicts = np.where(on_globe, PLACED, OFF_THE_GLOBE).astype(object)
    if extent is None or geometries.size == 0:
        return verdicts
    covered = extent.covers(geometries)
    verdicts[on_globe & ~covered] = OUTSIDE
    if (~covered).any():
        flipped = shapely.transform(geometries[~covered], lambda xy: xy[:, ::-1])
        swapped = np.zeros(len(geometries), dtype=bool)
        swapped[~covered] = extent.covers(flipped)
        verdicts[swapped] = SWAPPED
    return verdicts


DIVISIONS_BOX_SECONDS = 30.0
"""The divisions' extent is remembered this long per database (they change with a reload)."""
_divisions_box: dict[str, tuple[float, tuple[float, ...] | None]] = {}
_divisions_lock = threading.Lock()


def city_extent(
    conn: Connection, *, bbox: str | None = None, margin_m: float = DEFAULT_MARGIN_M
) -> CityExtent | None:
    """The configured box, else the divisions' extent grown by ``margin_m``; None if neither."""
    if bbox:
        return CityExtent(*parse_bbox(bbox), source="ONEMAP_CITY_EXTENT")
    row = divisions_box(conn)
    if row is None:
        return None
    return city_extent_of(tuple(float(v) for v in row), margin_m=margin_m)


def city_extent_of(
    box: tuple[float, ...], *, margin_m: float = DEFAULT_MARGIN_M, source: str = "administrative divisions"
) -> CityExtent:
    """The extent of divisions whose box is ``box`` (lon/lat), grown by ``margin_m``."""
    minx, miny, maxx, maxy = box
    dlat = margin_m / METRES_PER_DEGREE
    dlon = dlat / max(math.cos(math.radians(max(abs(miny), abs(maxy)))), 0.01)
    return CityExtent(
        max(minx - dlon, -180.0), max(miny - dlat, -90.0), min(maxx + dlon, 180.0),
        min(maxy + dlat, 90.0), source=f"{source} + {margin_m / 1000:g} km",
    )


def divisions_box(conn: Connection) -> tuple[float, ...] | None:
    """(minx, miny, maxx, maxy) of the administrative divisions, cached briefly per database.

    Every feature write and incident filing checks it; scanning every division's geometry each
    time would cost more than the write itself.
    """
    key = conn.engine.url.render_as_string(hide_password=True)
    now = time.monotonic()
    with _divisions_lock:
        cached = _divisions_box.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    row = conn.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_Extent(geom)::geometry AS e FROM basemap.admin_division) AS x"
        )
    ).one()
    box = None if row[0] is None else tuple(float(v) for v in row)
    with _divisions_lock:
        _divisions_box[key] = (now + DIVISIONS_BOX_SECONDS, box)
    return box


def forget_divisions_box() -> None:
    """Drop the remembered extents (this process loaded new divisions; others see them within
    ``DIVISIONS_BOX_SECONDS``)."""
    with _divisions_lock:
        _divisions_box.clear()


@dataclass(frozen=True)
class ExtentRule:
    """How to find the city's extent: a configured box, or the divisions plus a margin."""

    bbox: str | None = None
    margin_m: float = DEFAULT_MARGIN_M

    @classmethod
    def from_settings(cls, settings: Any) -> ExtentRule:
        """From ``Settings`` (ONEMAP_CITY_EXTENT, ONEMAP_CITY_EXTENT_MARGIN_M)."""
        return cls(bbox=settings.city_extent, margin_m=settings.city_extent_margin_m)

    def resolve(self, conn: Connection) -> CityExtent | None:
        """The extent now (None when there is nothing to derive it from)."""
        return city_extent(conn, bbox=self.bbox, margin_m=self.margin_m)
