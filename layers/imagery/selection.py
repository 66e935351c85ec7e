"""Which scenes a request means: ``datetime=`` (an instant, a day or an interval) or ``scene=``.

Semantics, as for time-enabled features: an interval ``A/B`` (either end open: ``..``) keeps
scenes acquired within it, ends included; an instant keeps scenes acquired at that instant; a
bare date (``2024-05-01``) keeps the scenes of that UTC day. ``../T`` is "the map as of T".
Scenes without an acquisition time never match a time filter. Order is kept: latest first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from layers.imagery.scenes import Scene
from spatial.errors import InvalidInput, NotFound
from spatial.params import Interval, parse_interval

TimeFilter = Interval  # the one time-interval model (spatial.params)


def parse_datetime(value: str) -> Interval:
    """``datetime=`` text as an interval (a bare date: its whole UTC day); InvalidInput when malformed."""
    return parse_interval(value, whole_days=True)


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
