"""Travel times honour one-way roads: a tiny synthetic street square in a throwaway database.

C ─────── D          A → B: the one-way street directly (one side of the square)
│         │          B → A: against it, so around by D and C (three sides)
A ──────▶ B
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyproj import Geod
from sqlalchemy import Engine, text

from spatial import migrate
from spatial.db import make_engine
from spatial.network import Place, travel_minutes

LON, LAT, SIDE = -73.99, 40.75, 0.004
A, B = (LON, LAT), (LON + SIDE, LAT)
C, D = (LON, LAT + SIDE), (LON + SIDE, LAT + SIDE)
SPEED_KMH = 36  # 10 m/s
GEOD = Geod(ellps="WGS84")


def metres(start: tuple[float, float], end: tuple[float, float]) -> float:
    return float(GEOD.inv(start[0], start[1], end[0], end[1])[2])


@pytest.fixture(scope="module")
def square(make_database) -> Iterator[Engine]:
    """A migrated database whose roads are the square; the A–B side is set per test."""
    engine = make_engine(make_database("onemap_oneway"), pool_size=1)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        for number, (start, end) in enumerate([(A, C), (C, D), (D, B)], start=2):
            insert_road(conn, number, start, end, oneway=0)
    yield engine
    engine.dispose()


def insert_road(conn, number: int, start, end, *, oneway: int) -> None:
    """One straight segment of ``basemap.road`` from start to end."""
    conn.execute(
        text(
            "INSERT INTO basemap.road (id, name_zh, name_en, road_class, lanes, speed_kmh, oneway, geom) "
            "VALUES (:id, :name, :name, 'residential', 1, :speed, :oneway, "
            "ST_SetSRID(ST_MakeLine(ST_MakePoint(:x0, :y0), ST_MakePoint(:x1, :y1)), 4326))"
        ),
        {"id": number, "name": f"road {number}", "speed": SPEED_KMH, "oneway": oneway,
         "x0": start[0], "y0": start[1], "x1": end[0], "y1": end[1]},
    )  # fmt: skip


def set_direct_street(engine: Engine, start, end, oneway: int) -> None:
    """Replace the A–B street (road 1) by one drawn from start to end with this one-way code."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM basemap.road WHERE id = 1"))
        insert_road(conn, 1, start, end, oneway=oneway)


def minutes(engine: Engine, origin, destination) -> float:
    reach = travel_minutes(
        engine, Place([origin[0]], [origin[1]]), Place([destination[0]], [destination[1]])
    )
    return float(reach.minutes[0])


def expected(*legs: tuple[tuple[float, float], tuple[float, float]]) -> float:
    return sum(metres(start, end) for start, end in legs) / (SPEED_KMH / 3.6) / 60


@pytest.mark.parametrize(
    ("drawn", "oneway"), [((A, B), 1), ((B, A), -1)], ids=["along the line", "against the line"]
)
def test_one_way_street_forces_the_detour_back(square: Engine, drawn, oneway: int) -> None:
    set_direct_street(square, *drawn, oneway)
    there, back = minutes(square, A, B), minutes(square, B, A)
    assert there == pytest.approx(expected((A, B)), rel=1e-3)
    assert back == pytest.approx(expected((B, D), (D, C), (C, A)), rel=1e-3)
    assert back > 2.5 * there


def test_two_way_street_costs_the_same_both_ways(square: Engine) -> None:
    set_direct_street(square, A, B, 0)
    assert minutes(square, B, A) == pytest.approx(minutes(square, A, B), rel=1e-9)
    assert minutes(square, B, A) == pytest.approx(expected((A, B)), rel=1e-3)
