"""Division checks (layers.city.divisions): codes, parents, containment, overlaps, gaps, names.

Synthetic cities are boxes laid out in kilometres east/north of a point in Xi'an; the real-data
test loads Manhattan's borough and its community districts as NYC publishes them.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from shapely.geometry import MultiPolygon

from layers.city.divisions import check_divisions
from layers.city.profile import Divisions
from layers.city.report import CityReport
from tests.conftest import realdata_path

ORIGIN = (108.90, 34.20)
KM_LON = 1 / (111.32 * math.cos(math.radians(ORIGIN[1])))
KM_LAT = 1 / 110.57

Cell = tuple[Any, Any, tuple[float, float, float, float]]
"""(code, name, (west, south, east, north) in km)."""


def km_box(west: float, south: float, east: float, north: float) -> shapely.Polygon:
    """A lon/lat box given in kilometres from ORIGIN."""
    lon, lat = ORIGIN
    return shapely.box(
        lon + west * KM_LON, lat + south * KM_LAT, lon + east * KM_LON, lat + north * KM_LAT
    )


def frame(cells: list[Cell], **columns: list[Any]) -> gpd.GeoDataFrame:
    """A source frame as the reader yields it: code, name, extra columns, feature_no, lon/lat."""
    return gpd.GeoDataFrame(
        {
            "code": [c for c, _, _ in cells],
            "name": [n for _, n, _ in cells],
            **columns,
            "feature_no": range(1, len(cells) + 1),
        },
        geometry=[km_box(*box) for _, _, box in cells],
        crs=4326,
    )


def xian_cells() -> dict[str, list[Cell]]:
    """Two districts, three streets, four communities, tiling 8 km × 2 km without gaps."""
    return {
        "district": [
            ("610113", "雁塔区", (0, 0, 4, 2)),
            ("610112", "未央区", (4, 0, 8, 2)),
        ],
        "street": [
            ("610113001", "小寨路街道", (0, 0, 2, 2)),
            ("610113002", "大雁塔街道", (2, 0, 4, 2)),
            ("610112001", "张家堡街道", (4, 0, 8, 2)),
        ],
        "community": [
            ("610113001001", "西影路社区", (0, 0, 2, 1)),
            ("610113001002", "长延堡社区", (0, 1, 2, 2)),
            ("610113002001", "雁南社区", (2, 0, 4, 2)),
            ("610112001001", "凤城社区", (4, 0, 8, 2)),
        ],
    }


def level(name: str, **settings: Any) -> dict[str, Any]:
    """A profile level reading fields code and name, parents by code prefix below the top."""
    spec: dict[str, Any] = {"level": name, "source": {"path": f"{name}.gpkg"}, "code": "code"}
    spec |= {"name_zh": "name"}
    if name != "district":
        spec["parent"] = {"by": "code_prefix"}
    return spec | settings


def divisions(
    names: tuple[str, ...] = ("district", "street", "community"), **settings: Any
) -> Divisions:
    """A gb2260 profile section for the given levels; ``street={...}`` overrides one level."""
    levels = [level(name, **settings.pop(name, {})) for name in names]
    return Divisions.model_validate({"scheme": "gb2260", "levels": levels, **settings})


def check(
    profile: Divisions, cells: dict[str, list[Cell]], **columns: dict[str, list[Any]]
) -> tuple[gpd.GeoDataFrame | None, CityReport]:
    """Run the checks on frames built from cells; extra columns per level."""
    report = CityReport("xian")
    frames = {
        spec.level: frame(cells[spec.level], **columns.get(spec.level, {}))
        for spec in profile.levels
    }
    return check_divisions(profile, frames, report), report


def messages(report: CityReport, severity: str = "error") -> list[str]:
    """The findings of one severity as report lines."""
    return [f.line() for f in report.findings if f.severity == severity]


def test_a_good_three_level_city_makes_the_division_table() -> None:
    table, report = check(divisions(), xian_cells())
    assert report.ok, messages(report)
    assert table is not None
    assert list(table.columns) == [
        "code", "level", "parent_code", "district_code", "street_code", "name_zh", "name_en",
        "population", "geometry",
    ]  # fmt: skip
    rows = table.set_index("code")
    assert rows.loc["610113001002", "parent_code"] == "610113001"
    assert rows.loc["610113001002", "district_code"] == "610113"
    assert rows.loc["610113001002", "street_code"] == "610113001"
    assert rows.loc["610113001", "street_code"] == "610113001"
    assert rows.loc["610113", "parent_code"] is None and rows.loc["610113", "street_code"] is None
    assert rows.loc["610112001001", "name_en"] == "凤城社区"  # only name_zh given: it stands in
    assert str(table["population"].dtype) == "Int64"
    assert table.crs.to_epsg() == 4326
    assert all(isinstance(g, MultiPolygon) for g in table.geometry)
    assert len(table) == 9 and not report.findings


def test_a_code_field_not_in_the_file_names_the_fields_it_has() -> None:
    profile = divisions(street={"code": "XZQDM"})
    table, report = check(profile, xian_cells())
    assert table is None
    [error] = report.errors
    assert error.section == "divisions.street" and error.field == "XZQDM"
    assert "'XZQDM' is not in the file" in error.message and "code, name" in error.message


def test_a_name_field_not_in_the_file_is_an_error() -> None:
    table, report = check(divisions(community={"name_en": "NAME_EN"}), xian_cells())
    assert table is None
    assert [(e.section, e.field) for e in report.errors] == [("divisions.community", "NAME_EN")]


def test_a_missing_level_frame_gives_no_table() -> None:
    profile = divisions()
    frames = {"district": frame(xian_cells()["district"])}
    assert check_divisions(profile, frames, CityReport("xian")) is None


def test_missing_codes_are_named_by_feature() -> None:
    cells = xian_cells()
    cells["community"][2] = (None, "雁南社区", (2, 0, 4, 2))
    cells["community"][3] = ("  ", "凤城社区", (4, 0, 8, 2))
    table, report = check(divisions(), cells)
    assert table is None
    [missing] = [e for e in report.errors if e.message == "no code"]
    assert missing.features == ("feature 3", "feature 4") and missing.field == "code"


def test_a_duplicate_code_names_the_code_and_its_features() -> None:
    cells = xian_cells()
    cells["street"][1] = ("610113001", "大雁塔街道", (2, 0, 4, 2))
    table, report = check(divisions(("district", "street")), cells)
    assert table is None
    [error] = report.errors
    assert "duplicate code 610113001: given to 2 features" in error.message
    assert error.features == ("feature 1", "feature 2")


def test_a_code_used_at_two_levels_is_an_error() -> None:
    profile = Divisions.model_validate(
        {
            "levels": [
                level("district"),
                level("street", parent={"by": "containment"}),
            ]
        }
    )
    cells = {
        "district": [("1", "North", (0, 0, 2, 2))],
        "street": [("1", "North One", (0, 0, 2, 2))],
    }
    table, report = check(profile, cells)
    assert table is None
    [error] = report.errors
    assert error.section == "divisions.street"
    assert "code 1 is also the code of district feature 1" in error.message


def test_codes_must_be_ascii_digits_and_numbers_read_as_floats_are_understood() -> None:
    profile = Divisions.model_validate({"levels": [level("district")]})
    cells = {
        "district": [
            (101.0, "A", (0, 0, 1, 1)),
            ("1O2", "B", (1, 0, 2, 1)),
            ("１０３", "C", (2, 0, 3, 1)),  # full-width digits
            ("1234567890123", "D", (3, 0, 4, 1)),
            ("104.0", "E", (4, 0, 5, 1)),
        ]
    }
    table, report = check(profile, cells)
    assert table is None
    [error] = report.errors
    assert error.features == ("feature 2 ('1O2')", "feature 3 ('１０３')",
                              "feature 4 ('1234567890123')")  # fmt: skip
    assert "1–12 digits" in error.message


def test_gb2260_codes_have_their_level_s_length() -> None:
    cells = xian_cells()
    cells["street"][2] = ("61011200", "张家堡街道", (4, 0, 8, 2))
    _, report = check(divisions(("district", "street")), cells)
    [error] = report.errors
    assert "GB/T 2260 street codes have 9 digits" in error.message
    assert error.features == ("feature 3 ('61011200')",)


def test_a_code_prefix_matching_no_parent_names_the_child() -> None:
    cells = xian_cells()
    cells["street"][2] = ("610199001", "张家堡街道", (4, 0, 8, 2))
    _, report = check(divisions(("district", "street")), cells)
    orphans = [e for e in report.errors if "first 6 digits" in e.message]
    assert [e.features for e in orphans] == [("code 610199001",)]


def test_a_prefix_length_is_asked_for_when_parent_codes_differ_in_length() -> None:
    profile = Divisions.model_validate(
        {"levels": [level("district"), level("street", parent={"by": "code_prefix"})]}
    )
    cells = {
        "district": [("1", "A", (0, 0, 1, 1)), ("22", "B", (1, 0, 2, 1))],
        "street": [("101", "A1", (0, 0, 1, 1))],
    }
    _, report = check(profile, cells)
    assert any("give parent.prefix_length" in e.message for e in report.errors)


def test_a_child_outside_its_parent_is_an_error_beyond_the_tolerance_only() -> None:
    cells = xian_cells()
    cells["street"][2] = ("610112001", "张家堡街道", (4, 0, 8, 2.02))  # 20 m out: tolerated
    table, report = check(divisions(("district", "street")), cells)
    assert report.ok, messages(report)
    cells["street"][2] = ("610112001", "张家堡街道", (4, 0, 8, 2.3))  # 300 m out
    table, report = check(divisions(("district", "street")), cells)
    assert table is None
    [error] = report.errors
    assert error.features == ("code 610112001",)
    assert "lies outside its parent 610112 by" in error.message
    area = float(error.message.split(" by ")[1].split(" m²")[0].replace(",", ""))
    assert 4 * 250 * 1000 * 0.97 < area < 4 * 250 * 1000 * 1.03  # 4 km × (300 − 50) m


def test_a_code_that_says_one_parent_while_the_shape_lies_in_another_is_named() -> None:
    cells = xian_cells()
    cells["street"][1] = ("610113002", "大雁塔街道", (4, 0, 6, 2))  # inside 610112
    cells["street"][2] = ("610112001", "张家堡街道", (6, 0, 8, 2))
    _, report = check(divisions(("district", "street")), cells)
    [error] = [e for e in report.errors if e.features == ("code 610113002",)]
    assert "its code says parent 610113 but it lies in 610112 (100% of its area)" in error.message


def test_overlapping_siblings_are_an_error_touching_ones_are_not() -> None:
    cells = xian_cells()
    cells["street"][0] = ("610113001", "小寨路街道", (0, 0, 2.5, 2))  # 0.5 km × 2 km overlap
    _, report = check(divisions(("district", "street")), cells)
    [error] = report.errors
    assert error.features == ("code 610113001", "code 610113002")
    assert error.message.startswith("overlap by 1,0") or error.message.startswith("overlap by 99")
    _, report = check(divisions(("district", "street")), xian_cells())
    assert report.ok and not report.findings  # the streets touch along x = 2 km and 4 km


def test_a_gap_inside_a_parent_is_a_warning() -> None:
    cells = xian_cells()
    cells["street"][2] = ("610112001", "张家堡街道", (4, 0, 7.5, 2))  # leaves 0.5 km × 2 km
    table, report = check(divisions(("district", "street")), cells)
    assert report.ok and table is not None
    [warning] = messages(report, "warning")
    assert "code 610112: 1 part(s) covered by no street" in warning
    assert "near 108.98" in warning


def test_codes_are_numbered_when_a_level_has_no_code_field() -> None:
    profile = Divisions.model_validate(
        {
            "levels": [
                level("district", code=None),
                level("street", code=None, parent={"by": "containment"}),
            ]
        }
    )
    cells = {
        "district": [(None, "West", (0, 0, 2, 2)), (None, "East", (2, 0, 4, 2))],
        "street": [
            (None, "b", (2, 0, 3, 2)),
            (None, "a", (3, 0, 4, 2)),
            (None, "c", (0, 0, 2, 2)),
        ],
    }
    table, report = check(profile, cells)
    assert report.ok, messages(report)
    assert table is not None
    codes = dict(zip(table["name_en"], table["code"], strict=True))
    assert codes == {"East": "1", "West": "2", "a": "11", "b": "12", "c": "21"}
    notes = messages(report, "note")
    assert "codes are numbered in 1 digits" in notes[0]
    assert "the parent's code, then numbered in 1 digits" in notes[1]


def test_a_level_without_codes_cannot_find_parents_by_code_prefix() -> None:
    profile = divisions(("district", "street"), street={"code": None})
    table, report = check(profile, xian_cells())
    assert table is None
    assert any("number" in e.message or "code" in e.message for e in report.errors)


def test_numbered_codes_under_gb2260_take_the_level_s_length() -> None:
    profile = divisions(
        ("district", "street"), street={"code": None, "parent": {"by": "containment"}}
    )
    table, report = check(profile, xian_cells())
    assert report.ok, messages(report)
    assert table is not None
    streets = table[table["level"] == "street"].set_index("name_zh")["code"]
    assert streets.to_dict() == {
        "大雁塔街道": "610113001",
        "小寨路街道": "610113002",
        "张家堡街道": "610112001",
    }


def test_containment_finds_the_parent_sharing_most_area_and_refuses_strays() -> None:
    profile = Divisions.model_validate(
        {
            "levels": [
                level("district"),
                level("street", parent={"by": "containment"}),
            ],
            "tolerances": {"outside_parent_m": 300},
        }
    )
    cells = {
        "district": [("7", "West", (0, 0, 2, 2)), ("8", "East", (2, 0, 4, 2))],
        "street": [
            ("31", "mostly east", (1.9, 0, 4, 2)),  # 100 m into the west: within tolerance
            ("32", "west", (0, 0, 1.9, 2)),
            ("33", "far away", (50, 50, 51, 51)),
        ],
    }
    table, report = check(profile, cells)
    assert table is None
    [error] = report.errors
    assert error.features == ("code 33",) and "lies in no district" in error.message
    cells["street"].pop()
    table, report = check(profile, cells)
    assert table is not None, messages(report)
    assert table.set_index("code").loc[["31", "32"], "parent_code"].tolist() == ["8", "7"]


def test_gb2260_children_found_by_containment_must_carry_their_parent_s_prefix() -> None:
    profile = divisions(("district", "street"), street={"parent": {"by": "containment"}})
    cells = xian_cells()
    cells["street"][2] = ("610113003", "张家堡街道", (4, 0, 8, 2))
    _, report = check(profile, cells)
    [error] = report.errors
    assert "lies in district 610112 but its code does not start with that code" in error.message


def test_names_come_from_the_template_else_a_warning() -> None:
    cells = xian_cells()
    cells["street"][0] = ("610113001", None, (0, 0, 2, 2))
    template = {"name_zh": None, "name_en": "name", "name_template": "Street {code}"}
    table, report = check(divisions(("district", "street"), street=template), cells)
    assert table is not None and not messages(report, "warning")
    row = table.set_index("code").loc["610113001"]
    assert row["name_en"] == "Street 610113001" == row["name_zh"]
    assert table.set_index("code").loc["610113002", "name_zh"] == "大雁塔街道"
    table, report = check(divisions(("district", "street")), cells)
    assert table is not None
    [warning] = [f for f in report.findings if f.severity == "warning"]
    assert warning.features == ("code 610113001",) and warning.field == "name"
    assert table.set_index("code").loc["610113001", "name_en"] == ""


def test_a_population_that_is_not_a_whole_number_is_warned_of_and_left_empty() -> None:
    profile = divisions(("district",), district={"population": "pop"})
    table, report = check(profile, xian_cells(), district={"pop": ["1,234,567", "about 9"]})
    assert table is not None
    assert table["population"].tolist()[0] == 1234567 and pd.isna(table["population"].iloc[1])
    [warning] = [f for f in report.findings if f.severity == "warning"]
    assert warning.features == ("feature 2 ('about 9')",) and warning.field == "pop"


def test_a_city_of_two_thousand_communities_is_checked_in_one_pass() -> None:
    """40 streets of 50 communities each (100 m squares), one pair overlapping."""
    cells: dict[str, list[Cell]] = {"district": [("610113", "雁塔区", (0, 0, 4, 5))]}
    cells["street"] = [
        (f"610113{s + 1:03d}", f"街道{s}", (s % 8 * 0.5, s // 8, s % 8 * 0.5 + 0.5, s // 8 + 1))
        for s in range(40)
    ]
    cells["community"] = []
    for street, _, (west, south, _, _) in cells["street"]:
        for c in range(50):
            box = (west + c % 5 * 0.1, south + c // 5 * 0.1)
            cells["community"].append(
                (f"{street}{c + 1:03d}", "", (*box, box[0] + 0.1, box[1] + 0.1))
            )
    code, name, (w, s, e, n) = cells["community"][0]
    cells["community"][0] = (code, name, (w, s, e + 0.06, n))  # 6,000 m² over its neighbour
    profile = divisions(tolerances={"overlap_m2": 5_000}, community={"name_template": "社区{code}"})
    table, report = check(profile, cells)
    assert [e.features for e in report.errors] == [("code 610113001001", "code 610113001002")]
    assert table is None
    profile = divisions(
        tolerances={"overlap_m2": 10_000}, community={"name_template": "社区{code}"}
    )
    table, report = check(profile, cells)
    assert table is not None and len(table) == 2041
    assert set(table[table["level"] == "community"]["district_code"]) == {"610113"}


@pytest.mark.realdata
def test_manhattan_borough_and_community_districts_pass() -> None:
    boroughs = gpd.read_file(realdata_path("nyc", "boroughs.geojson"), where="BoroCode = 1")
    districts = gpd.read_file(
        realdata_path("nyc", "community_districts.geojson"),
        where="BoroCD >= 101 AND BoroCD <= 199",
    )
    for source in (boroughs, districts):
        source["feature_no"] = range(1, len(source) + 1)
    profile = Divisions.model_validate(
        {
            "scheme": "digits",
            "levels": [
                {"level": "district", "source": {"path": "boroughs.geojson"},
                 "code": "BoroCode", "name_en": "BoroName"},
                {"level": "street", "source": {"path": "community_districts.geojson"},
                 "code": "BoroCD", "name_template": "Manhattan Community District {code}",
                 "parent": {"by": "code_prefix", "prefix_length": 1}},
            ],
            "tolerances": {"outside_parent_m": 0, "overlap_m2": 1},
        }
    )  # fmt: skip
    report = CityReport("manhattan")
    table = check_divisions(profile, {"district": boroughs, "street": districts}, report)
    assert report.ok, messages(report)
    assert table is not None
    streets = table[table["level"] == "street"]
    assert len(streets) == 13 and set(streets["parent_code"]) == {"1"}
    assert "164" in set(streets["code"])  # Central Park, a joint interest area
    assert set(streets["district_code"]) == {"1"}
    assert table.set_index("code").loc["1", "name_zh"] == "Manhattan"
    # the borough's water-edge slivers and Marble Hill (Manhattan, served by Bronx CD 8)
    [gaps] = messages(report, "warning")
    assert "code 1: 11 part(s)" in gaps and "-73.91" in gaps


def test_a_feature_without_area_is_refused() -> None:
    profile = divisions(("district",))
    sources = {"district": frame(xian_cells()["district"])}
    sources["district"].loc[1, "geometry"] = shapely.LineString([(108.9, 34.2), (109.0, 34.3)])
    report = CityReport("xian")
    assert check_divisions(profile, sources, report) is None
    assert [(e.message, e.features) for e in report.errors] == [("no polygon area", ("feature 2",))]
