"""Numbers with units as files and OSM write them: speeds, heights, counts of floors and lanes.

Each parser takes a column of text (None where empty) and returns floats, NaN where the text is
absent or not understood, so a caller can count what it could not read and fall back.

    >>> speed_kmh(pd.Series(["25 mph", "50", "50 km/h", "walk", None])).round(1).tolist()
    [40.2, 50.0, 50.0, nan, nan]
    >>> height_m(pd.Series(["12 m", "40'", "12.5", "tall"])).round(2).tolist()
    [12.0, 12.19, 12.5, nan]
    >>> count(pd.Series(["3;4", "2.5", "0", "x"])).tolist()
    [4.0, 3.0, nan, nan]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KMH_PER_MPH = 1.609344
M_PER_FOOT = 0.3048
MAX_SPEED_KMH = 200.0
MAX_HEIGHT_M = 1000.0
MAX_COUNT = 200

SPEED = r"^(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>mph|km/h|kmh|kph)?$"
HEIGHT = (
    r"^(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>m|metres?|meters?|ft|feet|')?"
    r"(?:\s*(?P<inches>\d+(?:\.\d+)?)\s*(?:\"|in))?$"
)


def speed_kmh(values: pd.Series) -> pd.Series:
    """'25 mph' → 40.2, '50' and '50 km/h' → 50; NaN for 'walk', 'none', 0 or above 200."""
    parts = _matches(values, SPEED)
    speed = pd.to_numeric(parts["value"], errors="coerce")
    speed = speed.where(parts["unit"] != "mph", speed * KMH_PER_MPH)
    return speed.where((speed > 0) & (speed <= MAX_SPEED_KMH))


def height_m(values: pd.Series) -> pd.Series:
    """'12', '12 m' → 12; "40'", '40 ft' → 12.19 (feet; "40'6\"" with inches); NaN otherwise."""
    parts = _matches(values, HEIGHT)
    height = pd.to_numeric(parts["value"], errors="coerce")
    inches = pd.to_numeric(parts["inches"], errors="coerce").fillna(0.0)
    in_feet = parts["unit"].isin(["ft", "feet", "'"])
    height = height.where(~in_feet, (height + inches / 12) * M_PER_FOOT)
    height = height.where(in_feet | parts["inches"].isna())
    return height.where((height > 0) & (height <= MAX_HEIGHT_M))


def count(values: pd.Series) -> pd.Series:
    """Floors or lanes: '3' → 3, '2.5' → 3 (half up), '3;4' → 4 (the most); NaN below 1."""
    listed = _as_text(values).str.split(";").explode()
    numbers = pd.to_numeric(listed.str.strip(), errors="coerce")
    most = numbers.groupby(level=0).max(min_count=1).reindex(values.index)
    rounded = np.floor(most + 0.5)
    return rounded.where((rounded >= 1) & (rounded <= MAX_COUNT))


def _matches(values: pd.Series, pattern: str) -> pd.DataFrame:
    """The pattern's named groups for each value (NaN where it does not match), units lowered."""
    parts = _as_text(values).str.strip().str.lower().str.extract(pattern)
    if "unit" in parts:
        parts["unit"] = parts["unit"].fillna("")
    return parts


def _as_text(values: pd.Series) -> pd.Series:
    """Values as str objects (None where missing), whatever the column's type."""
    return values.astype(object).where(values.notna(), None).map(str, na_action="ignore")
