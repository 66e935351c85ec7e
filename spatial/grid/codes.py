"""Codes: the 15-digit unit-cell code, and the GB/T 12409-style geographic grid code of a point.

Unit cell: the area's code (12 digits for a community: 6 district + 3 street + 3 community)
followed by a sequence that fills the code to 15 digits (3 digits under a community).

Geographic grid (经纬坐标格网, after GB/T 12409-2009's five basic levels 1°, 10′, 1′, 10″,
1″): a quadrant digit (1 NE, 2 NW, 3 SW, 4 SE), then the whole degrees of longitude (3
digits) and latitude (2 digits), then one longitude digit and one latitude digit per finer
level (0–5 for 10′ and 10″, 0–9 for 1′ and 1″). The full 1″ code has 14 digits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from spatial.errors import InvalidInput

CELL_CODE_DIGITS = 15

# level name → (cell side in arc-seconds, how many of them make the level above)
GEO_LEVELS: dict[str, tuple[int, int]] = {
    "1d": (3600, 0), "10m": (600, 6), "1m": (60, 10), "10s": (10, 6), "1s": (1, 10),
}  # fmt: skip


def cell_code(area_code: str, sequence: int) -> str:
    """'610113001002' + 7 → '610113001002007'; InvalidInput when the sequence does not fit."""
    width = CELL_CODE_DIGITS - len(area_code)
    if width < 1:
        raise InvalidInput(f"area code {area_code!r} leaves no digits for the cell sequence")
    if not 1 <= sequence < 10**width:
        raise InvalidInput(
            f"area {area_code} needs {sequence} cells but its code leaves {width} digits "
            f"(at most {10**width - 1}): build with a larger --cell-size"
        )
    return f"{area_code}{sequence:0{width}d}"


@dataclass(frozen=True)
class GeoGridCell:
    """A geographic grid cell: its code, level and lon/lat bounds."""

    code: str
    level: str
    bounds: tuple[float, float, float, float]


def quadrant(lon: float, lat: float) -> int:
    """1 NE, 2 NW, 3 SW, 4 SE (the equator and Greenwich count as north and east)."""
    if lat >= 0:
        return 1 if lon >= 0 else 2
    return 3 if lon < 0 else 4


def geo_grid_code(lon: float, lat: float, level: str = "1s") -> GeoGridCell:
    """The geographic grid cell of a point at ``level`` (1d, 10m, 1m, 10s or 1s).

    >>> geo_grid_code(108.9402, 34.2583, "1m").code
    '1108345165'
    """
    if level not in GEO_LEVELS:
        raise InvalidInput(f"grid level {level!r} unknown; one of {', '.join(GEO_LEVELS)}")
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(f"coordinates out of range: lon {lon}, lat {lat}")
    # whole arc-seconds from the origin, away from the axes in every quadrant
    sx = min(math.floor(abs(lon) * 3600 + 1e-9), 180 * 3600 - 1)
    sy = min(math.floor(abs(lat) * 3600 + 1e-9), 90 * 3600 - 1)
    code = f"{quadrant(lon, lat)}{sx // 3600:03d}{sy // 3600:02d}"
    names = list(GEO_LEVELS)
    for name in names[1 : names.index(level) + 1]:
        side, per_parent = GEO_LEVELS[name]
        code += f"{(sx // side) % per_parent}{(sy // side) % per_parent}"
    side = GEO_LEVELS[level][0]
    x0, y0 = (sx // side) * side / 3600, (sy // side) * side / 3600
    x1, y1 = x0 + side / 3600, y0 + side / 3600
    if lon < 0:
        x0, x1 = -x1, -x0
    if lat < 0:
        y0, y1 = -y1, -y0
    return GeoGridCell(code=code, level=level, bounds=(x0, y0, x1, y1))
