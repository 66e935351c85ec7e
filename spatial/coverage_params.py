"""The coverage request vocabulary (OGC API Coverages): subset, subset-crs, scaleSize, scaleAxes, scaleFactor.

The same habit as ``spatial.params`` (whose number parsers these use): syntax only, one parser
per parameter kind, a bad value refused with ``InvalidInput`` naming the parameter. Axis names are
kept as written; which axes a coverage has, and in which CRS the numbers are, is the coverage's
business (``layers.imagery.coverage_query``).

    >>> parse_subsets(["Lon(108.9:109.0),Lat(34.2:34.3)"])["Lat"]
    (34.2, 34.3)
    >>> parse_scale_size("Lon(256),Lat(128)")
    {'Lon': 256, 'Lat': 128}
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from spatial.errors import InvalidInput
from spatial.params import parse_int, parse_number

AXIS_CALL = re.compile(r"\s*([A-Za-z][A-Za-z0-9_]{0,30})\s*\(([^()]*)\)\s*")
OPEN_END = "*"
MAX_SCALE_SIZE = 65_536  # cells along one axis; the render budget decides what is affordable
MAX_SUBSET_ITEMS = 8
Interval = tuple[float | None, float | None]  # None: open at that end (``*``)


class CoverageQuery(BaseModel):
    """What a coverage request asks, axis names as written: area by axis, CRS, output size."""

    model_config = ConfigDict(frozen=True)

    subsets: dict[str, Interval] = {}
    subset_crs: str | None = None
    scale_size: dict[str, int] = {}
    scale_axes: dict[str, float] = {}
    scale_factor: float | None = None

    @property
    def scaled(self) -> bool:
        """Whether an output grid other than the stored pixels is asked for."""
        return bool(self.scale_size or self.scale_axes or self.scale_factor is not None)


def parse_coverage_query(
    *,
    subset: Sequence[str] = (),
    subset_crs: str | None = None,
    scale_size: str | None = None,
    scale_axes: str | None = None,
    scale_factor: str | None = None,
) -> CoverageQuery:
    """The coverage parameters of one request (``subset`` may be repeated)."""
    if sum(v is not None for v in (scale_size, scale_axes, scale_factor)) > 1:
        raise InvalidInput("give one of scaleSize, scaleAxes and scaleFactor")
    if subset_crs is not None and not subset_crs.strip():
        raise InvalidInput("subset-crs must name a CRS, e.g. http://www.opengis.net/def/crs/OGC/1.3/CRS84")
    return CoverageQuery(
        subsets=parse_subsets(subset),
        subset_crs=subset_crs.strip() if subset_crs else None,
        scale_size=parse_scale_size(scale_size) if scale_size is not None else {},
        scale_axes=parse_scale_axes(scale_axes) if scale_axes is not None else {},
        scale_factor=_positive(scale_factor, "scaleFactor") if scale_factor is not None else None,
    )


def parse_subsets(values: Sequence[str]) -> dict[str, Interval]:
    """Axis intervals from ``subset`` values such as 'Lon(108.9:109),Lat(34.2:*)'."""
    intervals: dict[str, Interval] = {}
    for axis, text in _axis_calls(values, "subset"):
        intervals[axis] = _interval(axis, text)
    return intervals


def parse_scale_size(value: str) -> dict[str, int]:
    """Cells per axis from 'Lon(256),Lat(256)'."""
    return {
        axis: parse_int(text.strip(), name=f"scaleSize {axis}", minimum=1, maximum=MAX_SCALE_SIZE)
        for axis, text in _axis_calls([value], "scaleSize")
    }


def parse_scale_axes(value: str) -> dict[str, float]:
    """A factor per axis from 'Lon(2),Lat(2)': the resolution divided by it (2: half the cells)."""
    return {axis: _positive(text, f"scaleAxes {axis}") for axis, text in _axis_calls([value], "scaleAxes")}


def _axis_calls(values: Sequence[str], name: str) -> list[tuple[str, str]]:
    """('axis', 'inside') pairs of 'a(…),b(…)' texts; each axis once."""
    calls: list[tuple[str, str]] = []
    for value in values:
        text = str(value)
        if len(text) > 400:
            raise InvalidInput(f"{name} is too long: at most a few axes, e.g. Lon(108.9:109),Lat(34.2:34.3)")
        for part in _top_level_parts(text, name):
            match = AXIS_CALL.fullmatch(part)
            if match is None:
                raise InvalidInput(f"{name} {part[:60]!r} is not of the form axis(…), e.g. Lon(108.9:109)")
            calls.append((match.group(1), match.group(2)))
    axes = [axis for axis, _ in calls]
    repeated = sorted({a for a in axes if axes.count(a) > 1})
    if repeated:
        raise InvalidInput(f"{name} names the axis {repeated[0]} more than once")
    if len(calls) > MAX_SUBSET_ITEMS:
        raise InvalidInput(f"{name} names {len(calls)} axes; a coverage here has 2")
    return calls


def _top_level_parts(text: str, name: str) -> list[str]:
    """'a(1:2),b(3:4)' split at the commas outside parentheses."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth not in (0, 1):
            raise InvalidInput(f"{name} has unbalanced parentheses: {text[:60]!r}")
        if char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    if depth != 0:
        raise InvalidInput(f"{name} has unbalanced parentheses: {text[:60]!r}")
    parts.append(text[start:])
    return [p for p in parts if p.strip()] or [text]


def _interval(axis: str, text: str) -> Interval:
    ends = text.split(":")
    if len(ends) != 2:
        raise InvalidInput(
            f"subset {axis}({text[:40]}): give an interval low:high (slicing to one position is not offered)"
        )
    low, high = (None if e.strip() == OPEN_END else parse_number(e, name=f"subset {axis}") for e in ends)
    if low is not None and high is not None and low >= high:
        raise InvalidInput(f"subset {axis}({text[:40]}): low must be less than high")
    return (low, high)


def _positive(text: str, name: str) -> float:
    number = parse_number(str(text).strip(), name=name)
    if number <= 0:
        raise InvalidInput(f"{name} must be a positive number, not {number:g}")
    return number
