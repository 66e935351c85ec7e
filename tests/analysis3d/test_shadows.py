"""Shadows of a box building against the analytic answer (no database: the geometry alone).

A box of half-width ``w`` and height ``h`` centred at the origin; a point at height 0 due north
of it at distance ``d`` from the centre. A ray towards the sun (azimuth A, elevation e) from the
point meets the box's footprint first at a distance found here independently (slab method); the
point is shaded exactly when such a distance exists within reach and tan(e) × distance < h.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import shapely

from spatial.analysis3d import scene, sunlight

W, H, D = 10.0, 30.0, 40.0


def box_prisms(height: float = H) -> scene.Prisms:
    return scene.Prisms.build([7], [height], [shapely.box(-W, -W, W, W)])


def first_entry(px: float, py: float, dx: float, dy: float) -> float | None:
    """Where the ray (px, py) + t (dx, dy), t > 0, enters the square [-W, W]²: the slab method."""
    low, high = 0.0, np.inf
    for p, d in ((px, dx), (py, dy)):
        if abs(d) < 1e-15:
            if not -W <= p <= W:
                return None
            continue
        a, b = (-W - p) / d, (W - p) / d
        low, high = max(low, min(a, b)), min(high, max(a, b))
    return low if low <= high else None


def analytic_shade(azimuth: np.ndarray, elevation: np.ndarray, point: tuple[float, float] = (0.0, D)) -> np.ndarray:
    out = np.zeros(len(azimuth), dtype=bool)
    for i, (a, e) in enumerate(zip(np.radians(azimuth), np.radians(elevation), strict=True)):
        entry = first_entry(point[0], point[1], np.sin(a), np.cos(a))
        out[i] = entry is not None and np.tan(e) * entry < H
    return out


def test_due_south_sun_shades_exactly_below_the_angle_of_the_roof_edge() -> None:
    threshold = np.degrees(np.arctan(H / (D - W)))  # the north face stands D - W in front of the point
    elevation = np.array([threshold - 0.01, threshold + 0.01, 5.0, 80.0])
    azimuth = np.full(4, 180.0)
    rise = np.tan(np.radians(elevation))
    directions = np.column_stack([np.zeros(4), -np.ones(4)])
    blocked = scene.blocked_rays(box_prisms(), (0.0, D), 0.0, directions, rise, 500.0)
    assert blocked.tolist() == [True, False, True, False]
    assert blocked.tolist() == analytic_shade(azimuth, elevation).tolist()


def test_shade_over_every_direction_matches_the_analytic_box() -> None:
    azimuth, elevation = np.meshgrid(np.arange(0.0, 360.0, 0.5), np.arange(0.25, 80.0, 0.5))
    azimuth, elevation = azimuth.ravel(), elevation.ravel()
    a = np.radians(azimuth)
    directions = np.column_stack([np.sin(a), np.cos(a)])
    blocked = scene.blocked_rays(box_prisms(), (0.0, D), 0.0, directions, np.tan(np.radians(elevation)), 500.0)
    expected = analytic_shade(azimuth, elevation)
    assert expected.sum() > 100  # the box does shade the point
    assert (blocked == expected).all()
    half_width = np.degrees(np.arctan(W / (D - W)))  # no shade outside the box's angular width
    assert not blocked[np.abs(azimuth - 180) > half_width + 1e-9].any()


def test_a_ray_out_of_reach_or_over_a_lower_roof_is_not_blocked() -> None:
    directions = np.array([[0.0, -1.0]])
    assert not scene.blocked_rays(box_prisms(), (0.0, D), 0.0, directions, np.array([0.01]), 25.0)[0]
    assert not scene.blocked_rays(box_prisms(), (0.0, D), 31.0, directions, np.array([0.0]), 500.0)[0]


def test_sunlight_of_a_point_north_of_the_box_on_dahan_is_the_analytic_count() -> None:
    day = sunlight.sun_day("dahan", 2025)
    minutes, azimuth, elevation = sunlight.sun_track(day, 1.0, 108.94, 34.26)
    expected_lit = ~analytic_shade(azimuth, elevation) & (elevation > 0)
    found = sunlight.sunlight_at(box_prisms(), sunlight.Spot(0.0, D, 0.0), minutes, azimuth, elevation, step=1.0,
                                 reach=500.0, required_hours=2.0)  # fmt: skip
    assert found.minutes == pytest.approx(float(expected_lit.sum()))
    assert 0 < found.minutes < 480  # part of the day in the shadow, part not
    assert found.passed == (found.minutes >= 120)


@pytest.mark.parametrize(("kind", "length"), [("dahan", 480), ("dongzhi", 360)])
@pytest.mark.parametrize("step", [1.0, 5.0])
def test_an_open_point_gets_the_whole_window(kind: str, length: int, step: float) -> None:
    day = sunlight.sun_day(kind, 2025)
    minutes, azimuth, elevation = sunlight.sun_track(day, step, 108.94, 34.26)
    found = sunlight.sunlight_at(box_prisms(), sunlight.Spot(500.0, 500.0, 0.0), minutes, azimuth, elevation,
                                 step=step, reach=300.0, required_hours=2.0)  # fmt: skip
    assert found.minutes == length
    assert found.spells == [(day.start, day.end)]
    assert day.date == {"dahan": dt.date(2025, 1, 20), "dongzhi": dt.date(2025, 12, 21)}[kind]


def test_a_facade_sees_only_the_sun_in_front_of_it() -> None:
    day = sunlight.sun_day("dahan", 2025)
    minutes, azimuth, elevation = sunlight.sun_track(day, 1.0, 108.94, 34.26)
    args = {"step": 1.0, "reach": 300.0, "required_hours": 2.0}
    north = sunlight.sunlight_at(box_prisms(), sunlight.Spot(0.0, W, 0.9, facing=0.0), minutes, azimuth, elevation, **args)
    south = sunlight.sunlight_at(box_prisms(), sunlight.Spot(0.0, -W, 0.9, facing=180.0), minutes, azimuth, elevation,
                                 **args)  # fmt: skip
    east = sunlight.sunlight_at(box_prisms(), sunlight.Spot(W, 0.0, 0.9, facing=90.0), minutes, azimuth, elevation, **args)
    assert north.minutes == 0 and not north.passed  # in winter the sun stays south of east-west
    assert south.minutes == 480 and south.passed  # its own wall is behind it
    assert east.minutes == float((np.sin(np.radians(azimuth)) > 0).sum())  # the morning only
    assert east.spells[0][0] == day.start and 0 < east.minutes < 480


def test_rule_continuous_takes_the_longest_spell() -> None:
    minutes = np.arange(480) + 480.5
    lit = np.zeros(480, dtype=bool)
    lit[:70] = lit[100:170] = True
    spells = sunlight._spells(minutes, lit, 1.0)
    assert spells == [(480.0, 550.0), (580.0, 650.0)]


def test_line_of_sight_and_viewshed_behind_the_box() -> None:
    prisms = box_prisms()
    assert [o.building for o in scene.segment_obstructions(prisms, (0.0, -50.0, 1.6), (0.0, 50.0, 1.6))] == [0, 0]
    assert scene.segment_obstructions(prisms, (0.0, -50.0, 1.6), (0.0, 50.0, 100.0)) == []  # over the roof
    assert len(scene.segment_obstructions(prisms, (0.0, -50.0, 1.6), (0.0, 50.0, 70.0))) == 1  # 28.96 m at its wall
    assert scene.segment_obstructions(prisms, (30.0, -50.0, 1.6), (30.0, 50.0, 1.6)) == []  # beside it
    targets = np.array([[0.0, 40.0], [0.0, 100.0], [40.0, 0.0], [0.0, -40.0]])
    hidden = scene.hidden_targets(prisms, (0.0, -100.0, 1.6), targets, np.zeros(4))
    assert hidden.tolist() == [True, True, False, False]
