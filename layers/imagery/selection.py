"""Which scenes a request means: ``datetime=`` (an instant, a day or an interval) or ``scene=``.

Semantics, as for time-enabled features: an interval ``A/B`` (either end open: ``..``) keeps
scenes acquired within it, ends included; an instant keeps scenes acquired at that instant; a
bare date (``2024-05-01``) keeps the scenes of that UTC day. ``../T`` is "the map as of T".
Scenes without an acquisition time never match a time filter. Order is kept: latest first.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from layers.imagery.scenes import Scene
from spatial.errors import InvalidInput, NotFound

DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
OPEN = ("", "..")


@dataclass(frozen=True)
class TimeFilter:
    """A closed time interval; None at an end means open."""

    start: dt.datetime | None
    end: dt.datetime | None
    text: str

    def matches(self, moment: dt.datetime | None) -> bool:
        """Whether a scene acquired at ``moment`` falls in the interval."""
        if moment is None:
            return False
        return (self.start is None or moment >= self.start) and (
            self.end is None or moment <= self.end
        )


def parse_datetime(value: str) -> TimeFilter:
    """``datetime=`` text as a TimeFilter; InvalidInput when malformed or inverted."""
    text = value.strip()
    if "/" not in text:
        if DATE_ONLY.fullmatch(text):
            day = _instant(text)
            return TimeFilter(day, day + dt.timedelta(days=1, microseconds=-1), text)
        instant = _instant(text)
        return TimeFilter(instant, instant, text)
    first, last = (part.strip() for part in text.split("/", 1))
    start = None if first in OPEN else _instant(first)
    end = None if last in OPEN else _day_end(last)
    if start is not None and end is not None and start > end:
        raise InvalidInput(f"datetime {value!r}: the interval ends before it starts")
    return TimeFilter(start, end, text)


def _instant(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"datetime {text!r} is not an RFC 3339 date-time or date "
            "(e.g. 2024-05-01T03:30:00Z, 2024-05-01, 2024-01-01/2024-06-30, ../2024-06-30)"
        ) from None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _day_end(text: str) -> dt.datetime:
    """An interval's end: a bare date includes its whole day."""
    moment = _instant(text)
    if DATE_ONLY.fullmatch(text):
        return moment + dt.timedelta(days=1, microseconds=-1)
    return moment


def select_scenes(
    scenes: Sequence[Scene],
    *,
    layer_id: str,
    datetime: str | None = None,
    scene: str | None = None,
) -> tuple[Scene, ...]:
    """The scenes a request picks, latest first; NotFound for an unknown scene or an empty time."""
    if scene:
        found = [s for s in scenes if s.scene_id == scene]
        if not found:
            known = ", ".join(s.scene_id for s in scenes[:20])
            raise NotFound(f"layer {layer_id!r} has no scene {scene!r} (its scenes: {known})")
        chosen = tuple(found)
    else:
        chosen = tuple(scenes)
    if datetime:
        window = parse_datetime(datetime)
        chosen = tuple(s for s in chosen if window.matches(s.acquired))
        if not chosen:
            raise NotFound(
                f"no scene of layer {layer_id!r} was acquired at datetime {window.text!r} "
                f"(its scenes span {_span(scenes)})"
            )
    if not chosen:
        raise NotFound(f"layer {layer_id!r} has no scenes")
    return chosen


def pick_scene(scenes: Sequence[Scene], reference: str, *, layer_id: str) -> Scene:
    """One scene by id, or the latest scene matching a datetime filter."""
    if any(s.scene_id == reference for s in scenes):
        return next(s for s in scenes if s.scene_id == reference)
    try:
        window = parse_datetime(reference)
    except InvalidInput:
        known = ", ".join(s.scene_id for s in scenes[:20])
        raise NotFound(
            f"{reference!r} is neither a scene of layer {layer_id!r} ({known}) nor a datetime"
        ) from None
    return select_scenes(scenes, layer_id=layer_id, datetime=window.text)[0]


def _span(scenes: Sequence[Scene]) -> str:
    times = sorted(s.acquired for s in scenes if s.acquired is not None)
    if not times:
        return "no acquisition times"
    iso = [t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") for t in (times[0], times[-1])]
    return f"{iso[0]} to {iso[1]}"
