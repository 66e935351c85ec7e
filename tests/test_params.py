"""The request vocabulary (spatial.params): one parser per parameter kind, and nobody else parsing.

Properties (Hypothesis) for the parsers, the hostile values of issue 13, and a source check that
no door parses an ISO datetime or guards ``int()`` with ``str.isdigit`` on its own again.
"""

from __future__ import annotations

import ast
import datetime as dt
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spatial.errors import InvalidInput, NotFound
from spatial.params import (
    MAX_ID,
    parse_id,
    parse_instant,
    parse_int,
    parse_interval,
    parse_limit,
    parse_lonlat_bbox,
    parse_number,
    parse_path_id,
    parse_tile,
)

ROOT = Path(__file__).resolve().parents[1]
HOSTILE_NUMBERS = ["nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-1e400", "²", "١٢", "１２", "⑫", "", " ",
                   "0x10", "1_000", "12.5.1", "\u0000", "1e", "--1"]  # fmt: skip


@pytest.mark.parametrize("value", HOSTILE_NUMBERS)
def test_hostile_numbers_are_refused_as_integers(value: str) -> None:
    with pytest.raises(InvalidInput, match="limit"):
        parse_limit(value or "x", default=5, maximum=50)


@pytest.mark.parametrize("value", [v for v in HOSTILE_NUMBERS if v not in ("1_000",)])
def test_hostile_numbers_are_refused_as_numbers(value: str) -> None:
    with pytest.raises(InvalidInput, match="radius"):
        parse_number(value, name="radius")


@given(st.integers(min_value=1, max_value=MAX_ID))
def test_ascii_ids_round_trip(number: int) -> None:
    assert parse_id(str(number)) == number
    assert parse_path_id(str(number), what="incident") == number


@given(st.text(min_size=1, max_size=12))
def test_an_id_is_ascii_digits_or_not_found(text: str) -> None:
    if text.strip().isascii() and text.strip().lstrip("+").isdigit() and 0 < int(text) <= MAX_ID:
        assert parse_path_id(text, what="photo") == int(text)
    else:
        with pytest.raises(NotFound):
            parse_path_id(text, what="photo")


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_numbers_are_finite_or_refused(value: float) -> None:
    if math.isfinite(value):
        assert parse_number(value, name="x") == value
    else:
        with pytest.raises(InvalidInput):
            parse_number(value, name="x")


def test_limits_hold_their_range() -> None:
    assert parse_limit(None, default=5, maximum=50) == 5
    assert parse_limit("50", default=5, maximum=50) == 50
    with pytest.raises(InvalidInput, match="between 1 and 50"):
        parse_limit("51", default=5, maximum=50)
    with pytest.raises(InvalidInput):
        parse_int(True, name="x")


@pytest.mark.parametrize(
    "value, message",
    [("1,2,3", "four numbers"), ("a,b,c,d", "number"), ("nan,1,2,3", "finite"), ("1,2,3,inf", "finite"),
     ("200,0,201,1", "outside lon"), ("10,10,5,20", "minimum above"), ([1, 2, 3, 4, 5], "four numbers")],
)  # fmt: skip
def test_bad_boxes(value: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_lonlat_bbox(value)


def test_boxes_2d_and_3d() -> None:
    assert parse_lonlat_bbox("108.9,34.2,109,34.3").as_list() == [108.9, 34.2, 109.0, 34.3]
    assert parse_lonlat_bbox([108.9, 34.2, 0, 109, 34.3, 10]).as_tuple() == (108.9, 34.2, 109.0, 34.3)


def test_intervals() -> None:
    day = parse_interval("2024-05-01")
    assert day.start == dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    assert day.end == dt.datetime(2024, 5, 2, tzinfo=dt.UTC) - dt.timedelta(microseconds=1)
    assert parse_interval("2024-05-01", whole_days=False).is_instant
    open_start = parse_interval("../2024-06-30T00:00:00Z")
    assert open_start.start is None and open_start.end == dt.datetime(2024, 6, 30, tzinfo=dt.UTC)
    with pytest.raises(InvalidInput, match="ends before it starts"):
        parse_interval("2024-09-01/2024-01-01")
    for bad in ("²", "２０２４-01-01", "2024-13-01", "yesterday", "2024-01-01/xx", ""):
        with pytest.raises(InvalidInput):
            parse_interval(bad)


def test_naive_instants() -> None:
    assert parse_instant("2024-05-01T08:00:00").tzinfo == dt.UTC
    assert parse_instant("2024-05-01T08:00:00", naive_is_local=True).utcoffset() is not None
    assert parse_instant("2024-05-01T08:00:00+08:00").utcoffset() == dt.timedelta(hours=8)


@pytest.mark.parametrize("z, x, y", [("-1", "0", "0"), ("0", "1", "0"), ("3", "8", "0"), ("25", "0", "0"),
                                     ("²", "0", "0"), ("1e1", "0", "0")])  # fmt: skip
def test_tiles_outside_their_matrix(z: str, x: str, y: str) -> None:
    with pytest.raises(InvalidInput):
        parse_tile(z, x, y)


def test_a_tile_inside() -> None:
    tile = parse_tile("14", "13149", "6505")
    assert (tile.z, tile.x, tile.y) == (14, 13149, 6505)


# ------------------------------------------------------------------------------ nobody else parses
def _calls(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            base = node.func.value
            owner = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
            if node.func.attr == "fromisoformat" and owner == "datetime":
                found.append(("datetime.fromisoformat", node.lineno))
            if node.func.attr == "isdigit":
                found.append(("isdigit", node.lineno))
    return found


def test_datetimes_and_ids_are_parsed_in_one_place() -> None:
    allowed = {"spatial/params.py"}
    found = []
    for package in ("spatial", "layers", "api"):
        for path in sorted((ROOT / package).rglob("*.py")):
            where = path.relative_to(ROOT).as_posix()
            if where in allowed or "/migrations/" in where:
                continue
            for kind, line in _calls(path):
                if kind == "datetime.fromisoformat" or where.startswith("api/"):
                    found.append(f"{where}:{line} {kind}")
    assert found == [], "parse through spatial.params instead:\n" + "\n".join(found)


# ------------------------------------------------------------------------------ one position rule
def test_one_position_rule_for_edits_and_loads() -> None:
    """The feature gate and the file loader place geometries with the same verdicts."""
    import numpy as np
    import shapely

    from layers.feature_gate import FeatureProblems, check_position
    from spatial.extent import OFF_THE_GLOBE, OUTSIDE, PLACED, SWAPPED, CityExtent, place_geometries

    city = CityExtent(108.7, 34.0, 109.2, 34.5, "test")
    points = [shapely.Point(108.9, 34.2), shapely.Point(34.2, 108.9), shapely.Point(500_000, 3_800_000),
              shapely.Point(10, 10), shapely.Point(float("nan"), 1)]  # fmt: skip
    assert list(place_geometries(np.array(points), city)) == [PLACED, SWAPPED, OFF_THE_GLOBE, OUTSIDE, OFF_THE_GLOBE]
    words = {SWAPPED: "latitude/longitude order", OFF_THE_GLOBE: "outside longitude", OUTSIDE: "outside the city"}
    for point, verdict in zip(points, place_geometries(np.array(points), city), strict=True):
        problems = FeatureProblems("feature")
        check_position(point, city, problems)
        if verdict == PLACED:
            problems.raise_if_any()  # nothing to say
        else:
            with pytest.raises(InvalidInput, match=words[verdict]):
                problems.raise_if_any()


def test_field_names_are_understood_as_the_file_spells_them() -> None:
    from spatial.identifiers import sanitise_name, stored_column

    columns = {"borocd", "land_use_2020", "名称"}
    assert stored_column("BoroCD", columns) == "borocd"
    assert stored_column("Land Use (2020)", columns) == "land_use_2020"
    assert stored_column("名称", columns) == "名称"
    assert stored_column("nowhere", columns) is None
    assert sanitise_name("2020 pop") == "f_2020_pop"
