"""Sunlight hours (日照) at points on the ground or on façades, over LoD1 buildings.

Practice followed (GB 50180-2018 城市居住区规划设计标准 §4.0.9, table 4.0.9, and GB/T 50947-2014
建筑日照计算参数标准): sunlight is counted on the *standard day* within the *effective window*
(有效日照时间带) in local **true solar time** (真太阳时):

- 大寒日 (Great Cold, the day the sun reaches ecliptic longitude 300°, Jan 20/21): 8:00–16:00;
- 冬至日 (Winter Solstice, longitude 270°, Dec 21/22): 9:00–15:00.

The requirement for dwellings is a number of hours on that day (大寒日 ≥ 2 h or ≥ 3 h by climate
zone and city size, 冬至日 ≥ 1 h), measured at the ground-floor window sill (底层窗台面, here a
point with a height ``z``). The national standards sum every sunny spell in the window (累计,
``rule="total"``, the default); some local rules accept only a continuous spell or drop spells
shorter than a few minutes — ``rule="continuous"`` and ``min_spell_minutes`` express those.

True solar time is UTC + 4 min per degree of longitude + the equation of time (``sun.py``).
The window is sampled every ``step`` minutes at the middle of each step; a step is sunny when the
sun is above the horizon, in front of the façade (a façade point sees only the half-space its
facing azimuth points into), and the ray towards it is not blocked by a building within the
search radius (``scene.blocked_rays``). An unobstructed point therefore gets exactly the window's
length (when the sun is up all through it, as everywhere south of about 55° N).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from spatial.analysis3d.scene import Prisms, blocked_rays
from spatial.analysis3d.sun import _horizontal, solar_term_day, sun_terms, true_solar_to_utc
from spatial.errors import InvalidInput

DAYS = {"dahan": (300.0, 8 * 60, 16 * 60, 2.0), "dongzhi": (270.0, 9 * 60, 15 * 60, 1.0)}
"""Standard day → (solar longitude, window start and end in true-solar minutes, default hours)."""
DAY_NAMES = {"dahan": "dahan", "大寒": "dahan", "大寒日": "dahan", "dongzhi": "dongzhi", "冬至": "dongzhi",
             "冬至日": "dongzhi"}  # fmt: skip
RULES = ("total", "continuous")
FACADE_OFFSET_M = 0.05
"""A façade point is moved this far out of its wall so the wall itself is not in the way."""


@dataclass(frozen=True)
class SunDay:
    """The standard day and its effective window (true solar minutes after midnight)."""

    kind: str
    date: dt.date
    start: int
    end: int


@dataclass(frozen=True)
class Spot:
    """A point in the local frame: height z (m) and, on a façade, the azimuth it faces (deg)."""

    x: float
    y: float
    z: float
    facing: float | None = None


@dataclass(frozen=True)
class Sunlight:
    """One point's answer: sunny minutes, spells [start, end) in true-solar minutes, the verdict."""

    minutes: float
    longest_minutes: float
    spells: list[tuple[float, float]]
    passed: bool


def sun_day(kind: str, year: int, date: dt.date | None = None) -> SunDay:
    """The standard day of ``year`` (大寒 or 冬至; ``date`` overrides the day, the window stays)."""
    longitude, start, end, _ = DAYS[kind]
    return SunDay(kind, date or solar_term_day(year, longitude), start, end)


def sample_minutes(day: SunDay, step: float) -> np.ndarray:
    """The middles of the steps that tile the window (true solar minutes)."""
    count = int(round((day.end - day.start) / step))
    if count < 1 or abs(count * step - (day.end - day.start)) > 1e-6:
        raise InvalidInput(f"step must divide the {day.end - day.start} minute window, not {step:g} minutes")
    return day.start + (np.arange(count) + 0.5) * step


def sun_track(day: SunDay, step: float, lon: float, lat: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample times (true solar minutes), sun azimuths and elevations (deg) over the window."""
    minutes = sample_minutes(day, step)
    jd = true_solar_to_utc(day.date, minutes, lon)
    azimuth, elevation = _horizontal(minutes, sun_terms(jd).declination, lat)
    return minutes, azimuth, elevation


def sunlight_at(
    prisms: Prisms, spot: Spot, minutes: np.ndarray, azimuth: np.ndarray, elevation: np.ndarray, *,
    step: float, reach: float, required_hours: float, rule: str = "total", min_spell_minutes: float = 0.0,
) -> Sunlight:  # fmt: skip
    """Sunny steps at one point, merged into spells, judged against ``required_hours``."""
    az = np.radians(azimuth)
    directions = np.column_stack([np.sin(az), np.cos(az)])
    lit = elevation > 0
    x, y = spot.x, spot.y
    if spot.facing is not None:
        normal = np.array([np.sin(np.radians(spot.facing)), np.cos(np.radians(spot.facing))])
        lit &= directions @ normal > 0
        x, y = x + FACADE_OFFSET_M * normal[0], y + FACADE_OFFSET_M * normal[1]
    if lit.any():
        rise = np.tan(np.radians(np.clip(elevation, 0, 89.9)))
        shaded = blocked_rays(prisms, (x, y), spot.z, directions[lit], rise[lit], reach)
        lit[np.flatnonzero(lit)[shaded]] = False
    spells = [s for s in _spells(minutes, lit, step) if s[1] - s[0] >= min_spell_minutes - 1e-9]
    lengths = [end - start for start, end in spells]
    total, longest = float(sum(lengths)), float(max(lengths, default=0.0))
    counted = total if rule == "total" else longest
    return Sunlight(total, longest, spells, counted >= required_hours * 60 - 1e-9)


def _spells(minutes: np.ndarray, lit: np.ndarray, step: float) -> list[tuple[float, float]]:
    """Runs of sunny steps as [start, end) in true solar minutes."""
    if not lit.any():
        return []
    padded = np.concatenate([[False], lit, [False]]).astype(np.int8)
    edges = np.diff(padded)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    half = step / 2
    return [(float(minutes[a] - half), float(minutes[b - 1] + half)) for a, b in zip(starts, ends, strict=True)]


def clock(minutes: float) -> str:
    """True solar minutes as 'HH:MM' (rounded to the minute)."""
    whole = int(round(minutes))
    return f"{whole // 60:02d}:{whole % 60:02d}"
