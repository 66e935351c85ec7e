"""China's web-map datums: GCJ-02 (国测局, "Mars coordinates") and BD-09 (Baidu) ↔ WGS84/CGCS2000.

GCJ-02 is WGS84 plus a deliberate, smooth, non-linear offset of a few hundred metres inside
China (none outside it); BD-09 adds a further rotation and shift on top of GCJ-02. Online maps
of Chinese cities (AMap/Gaode, Tencent, most government web portals: GCJ-02; Baidu: BD-09)
publish coordinates in these datums, so data scraped or exported from them must be converted
before it sits on a WGS84/CGCS2000 base map. CGCS2000 and WGS84 agree to within centimetres
for mapping purposes, so "WGS84" below stands for both.

Accuracy:
- the forward formulas (WGS84 → GCJ-02, GCJ-02 → BD-09) are the published public algorithm,
  reproduced exactly (reference points agree to 1e-9°);
- the inverses have no closed form; they are solved by fixed-point iteration until the
  forward image of the answer is within 1e-10° (≈ 0.01 mm) of the input, so a round trip is
  exact to better than 1e-9° (tested below 1e-6°). The commonly used one-step "approximate
  inverse" is off by up to ~2 m; we never use it.
- the offset is not applied outside a rough bounding box of China (72.004–137.8347°E,
  0.8293–55.8271°N), as in every other implementation; points near borders may therefore
  disagree with other tools by the size of the offset.

All functions take and return longitude first, and work on floats or numpy arrays alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

Coordinate = TypeVar("Coordinate", float, np.ndarray)

KRASOVSKY_A = 6378245.0  # semi-major axis the GCJ-02 algorithm uses
KRASOVSKY_EE = 0.00669342162296594323  # its first eccentricity squared
BD_X_PI = np.pi * 3000.0 / 180.0
BD_SHIFT = (0.0065, 0.006)
INVERSE_TOLERANCE_DEG = 1e-10
INVERSE_MAX_ITERATIONS = 40

WEB_DATUMS = ("gcj02", "bd09")
_ALIASES = {
    "gcj02": "gcj02", "gcj-02": "gcj02", "gcj": "gcj02", "mars": "gcj02", "amap": "gcj02",
    "gaode": "gcj02", "tencent": "gcj02",
    "bd09": "bd09", "bd-09": "bd09", "bd09ll": "bd09", "baidu": "bd09",
}  # fmt: skip


def web_datum(name: str | int) -> str | None:
    """'gcj02' or 'bd09' when ``name`` names a Chinese web datum (any common spelling), else None.

    >>> web_datum("GCJ-02"), web_datum("baidu"), web_datum("EPSG:4326")
    ('gcj02', 'bd09', None)
    """
    return _ALIASES.get(str(name).strip().lower())


def in_china(lon: Coordinate, lat: Coordinate) -> Coordinate:
    """Whether the GCJ-02 offset applies: the rough bounding box every implementation uses."""
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def _offset_lat(x: Coordinate, y: Coordinate) -> Coordinate:
    value = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    value = value + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    value = value + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    return value + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0


def _offset_lon(x: Coordinate, y: Coordinate) -> Coordinate:
    value = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    value = value + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    value = value + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    return value + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0


def wgs84_to_gcj02(lon: Coordinate, lat: Coordinate) -> tuple[Coordinate, Coordinate]:
    """WGS84/CGCS2000 → GCJ-02 (the public forward algorithm); unchanged outside China.

    >>> [round(v, 9) for v in wgs84_to_gcj02(121.5272106, 31.1774276)]
    [121.531541859, 31.175303984]
    """
    lon_a, lat_a = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    d_lat = _offset_lat(lon_a - 105.0, lat_a - 35.0)
    d_lon = _offset_lon(lon_a - 105.0, lat_a - 35.0)
    rad_lat = lat_a / 180.0 * np.pi
    magic = 1.0 - KRASOVSKY_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((KRASOVSKY_A * (1 - KRASOVSKY_EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = (d_lon * 180.0) / (KRASOVSKY_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    inside = in_china(lon_a, lat_a)
    return _like(lon, np.where(inside, lon_a + d_lon, lon_a)), _like(
        lat, np.where(inside, lat_a + d_lat, lat_a)
    )


def gcj02_to_bd09(lon: Coordinate, lat: Coordinate) -> tuple[Coordinate, Coordinate]:
    """GCJ-02 → BD-09 (Baidu's published forward formula).

    >>> [round(v, 8) for v in gcj02_to_bd09(123.0, 45.0)]
    [123.006365, 45.006369]
    """
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    z = np.hypot(x, y) + 0.00002 * np.sin(y * BD_X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * BD_X_PI)
    return _like(lon, z * np.cos(theta) + BD_SHIFT[0]), _like(lat, z * np.sin(theta) + BD_SHIFT[1])


def gcj02_to_wgs84(lon: Coordinate, lat: Coordinate) -> tuple[Coordinate, Coordinate]:
    """GCJ-02 → WGS84/CGCS2000, solved iteratively to 1e-10° (see the module notes)."""
    return _invert(wgs84_to_gcj02, lon, lat)


def bd09_to_gcj02(lon: Coordinate, lat: Coordinate) -> tuple[Coordinate, Coordinate]:
    """BD-09 → GCJ-02, solved iteratively to 1e-10°."""
    return _invert(gcj02_to_bd09, lon, lat)


def wgs84_to_bd09(lon: Coordinate, lat: Coordinate) -> tuple[Coordinate, Coordinate]:
    """WGS84/CGCS2000 → BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: Coordinate, lat: Coordinate) -> tuple[Coordinate, Coordinate]:
    """BD-09 → WGS84/CGCS2000 (both inverses iterated)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def to_wgs84(lon: Coordinate, lat: Coordinate, datum: str) -> tuple[Coordinate, Coordinate]:
    """Coordinates in web datum ``datum`` ('gcj02', 'bd09' or an alias) → WGS84/CGCS2000."""
    name = web_datum(datum)
    if name == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if name == "bd09":
        return bd09_to_wgs84(lon, lat)
    raise ValueError(f"not a Chinese web datum: {datum!r} (expected gcj02 or bd09)")


def from_wgs84(lon: Coordinate, lat: Coordinate, datum: str) -> tuple[Coordinate, Coordinate]:
    """WGS84/CGCS2000 → web datum ``datum`` ('gcj02', 'bd09' or an alias)."""
    name = web_datum(datum)
    if name == "gcj02":
        return wgs84_to_gcj02(lon, lat)
    if name == "bd09":
        return wgs84_to_bd09(lon, lat)
    raise ValueError(f"not a Chinese web datum: {datum!r} (expected gcj02 or bd09)")


def _invert(
    forward: Callable[[Any, Any], tuple[Any, Any]], lon: Coordinate, lat: Coordinate
) -> tuple[Coordinate, Coordinate]:
    """Solve forward(x) = target by fixed-point iteration x ← x − (forward(x) − target)."""
    target_lon, target_lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    x, y = target_lon.copy(), target_lat.copy()
    for _ in range(INVERSE_MAX_ITERATIONS):
        fx, fy = forward(x, y)
        dx, dy = np.asarray(fx) - target_lon, np.asarray(fy) - target_lat
        x, y = x - dx, y - dy
        if max(np.max(np.abs(dx), initial=0.0), np.max(np.abs(dy), initial=0.0)) < INVERSE_TOLERANCE_DEG:
            break
    return _like(lon, x), _like(lat, y)


def _like(template: float | np.ndarray, values: np.ndarray) -> Any:
    """A plain float when the caller passed one, else the array."""
    if np.ndim(template) == 0 and not isinstance(template, np.ndarray):
        return float(values)
    return values
