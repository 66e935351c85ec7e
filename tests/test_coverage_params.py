"""The coverage request vocabulary (spatial.coverage_params) and what it asks of a grid (layers.imagery.coverage_query)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rasterio.warp import transform_bounds

from layers.imagery.coverage import CoverageGrid
from layers.imagery.coverage_query import axis_names, lonlat_domain, plan_coverage
from spatial.coverage_params import (
    CoverageQuery,
    parse_coverage_query,
    parse_scale_size,
    parse_subsets,
)
from spatial.crs import CRS84_URI
from spatial.errors import InvalidInput

UTM = "http://www.opengis.net/def/crs/EPSG/0/32649"
# 1160 × 1267 cells of 10 m, UTM 49N, over Xi'an (the demo scene's grid)
GRID = CoverageGrid(
    crs_uri=UTM, geographic=False, width=1160, height=1267, resolution=(10.0, 10.0),
    bounds=(304_620.0, 3_786_560.0, 316_220.0, 3_799_230.0),
    bands=((1, "blue", "uint16"), (2, "green", "uint16"), (3, "red", "uint16"), (4, "nir", "uint16")),
)  # fmt: skip
LONLAT_BOX = (108.93, 34.25, 108.95, 34.27)


# ------------------------------------------------------------------------------ syntax
def test_subsets_in_one_or_several_parameters() -> None:
    together = parse_subsets(["Lon(108.93:108.95),Lat(34.25:34.27)"])
    apart = parse_subsets(["Lon(108.93:108.95)", "Lat(34.25:34.27)"])
    assert together == apart == {"Lon": (108.93, 108.95), "Lat": (34.25, 34.27)}
    assert parse_subsets(["x(*:310000)"]) == {"x": (None, 310_000.0)}


def test_scale_parameters() -> None:
    assert parse_scale_size("Lon(256),Lat(128)") == {"Lon": 256, "Lat": 128}
    query = parse_coverage_query(scale_axes="x(2),y(4)")
    assert query.scale_axes == {"x": 2.0, "y": 4.0} and query.scaled
    assert parse_coverage_query(scale_factor="0.5").scale_factor == 0.5
    assert not parse_coverage_query(subset=["Lon(1:2)"]).scaled


@pytest.mark.parametrize(
    "kwargs",
    [
        {"subset": ["Lon(2:1)"]}, {"subset": ["Lon(1)"]}, {"subset": ["Lon(1:2:3)"]}, {"subset": ["Lon(a:b)"]},
        {"subset": ["Lon(nan:1)"]}, {"subset": ["Lon(1e400:1)"]}, {"subset": ["Lon(1:2),Lon(3:4)"]},
        {"subset": ["Lon(1:2"]}, {"subset": ["Lon)1:2("]}, {"subset": ["(1:2)"]}, {"subset": ["Lon(１:2)"]},
        {"subset": ["Lon((1:2))"]}, {"subset": ["L" * 500 + "(1:2)"]}, {"subset": [""]},
        {"scale_size": "Lon(0)"}, {"scale_size": "Lon(1.5)"}, {"scale_size": "Lon(70000)"},
        {"scale_axes": "Lon(-1)"}, {"scale_factor": "0"}, {"scale_factor": "inf"},
        {"scale_size": "Lon(10)", "scale_factor": "2"}, {"subset_crs": " "},
    ],
)  # fmt: skip
def test_malformed_coverage_parameters_are_invalid_input(kwargs: dict) -> None:
    with pytest.raises(InvalidInput):
        parse_coverage_query(**kwargs)


@given(st.text(max_size=60))
def test_any_subset_text_is_parsed_or_refused(text: str) -> None:
    with contextlib.suppress(InvalidInput):
        parse_subsets([text])


# ------------------------------------------------------------------------------ meaning
def test_lonlat_subset_is_an_area_in_crs84() -> None:
    plan = plan_coverage(GRID, parse_coverage_query(subset=["Lon(108.93:108.95),Lat(34.25:34.27)"]))
    assert plan.area == LONLAT_BOX and plan.area_crs == CRS84_URI and plan.output is None
    assert plan.lonlat_area() == LONLAT_BOX


def test_stored_axes_and_subset_crs() -> None:
    native = plan_coverage(GRID, parse_coverage_query(subset=["x(305000:306000),y(3790000:3791000)"]))
    assert native.area == (305_000, 3_790_000, 306_000, 3_791_000) and native.area_crs == UTM
    by_crs = plan_coverage(GRID, parse_coverage_query(subset=["E(108.93:108.95),N(34.25:34.27)"], subset_crs="EPSG:4326"))
    assert by_crs.area == LONLAT_BOX and by_crs.area_crs == "EPSG:4326"


def test_scale_size_on_lonlat_axes_is_a_lonlat_grid() -> None:
    query = parse_coverage_query(subset=["Lon(108.93:108.95),Lat(34.25:34.27)"], scale_size="Lon(300),Lat(200)")
    output = plan_coverage(GRID, query).output
    assert output is not None and output.crs.to_epsg() == 4326
    assert output.bounds == LONLAT_BOX and (output.width, output.height) == (300, 200)


def test_scale_on_stored_axes_keeps_the_stored_crs() -> None:
    query = parse_coverage_query(subset=["Lon(108.93:108.95),Lat(34.25:34.27)"], scale_axes="x(2),y(2)")
    output = plan_coverage(GRID, query).output
    assert output is not None and output.crs.to_epsg() == 32649
    expected = transform_bounds("EPSG:4326", "EPSG:32649", *LONLAT_BOX, densify_pts=21)
    assert output.bounds == pytest.approx(expected)
    assert output.width == round((expected[2] - expected[0]) / 20)


def test_scale_factor_of_the_whole_coverage() -> None:
    output = plan_coverage(GRID, CoverageQuery(scale_factor=4.0)).output
    assert output is not None and (output.width, output.height) == (290, 317) and output.bounds == GRID.bounds


def test_one_scale_axis_leaves_the_other_natural() -> None:
    domain = lonlat_domain(GRID)
    output = plan_coverage(GRID, parse_coverage_query(scale_size="Lon(100)")).output
    assert output is not None and (output.width, output.height) == (100, domain.height)


def test_gdal_36_fallback_bbox_with_long_and_lat() -> None:
    query = parse_coverage_query(scale_size="Lat(20),Long(30)")
    output = plan_coverage(GRID, query, bbox=list(LONLAT_BOX), bbox_crs="CRS84").output
    assert output is not None and (output.width, output.height) == (30, 20) and output.bounds == LONLAT_BOX


@pytest.mark.parametrize(
    ("query", "bbox"),
    [
        (CoverageQuery(subsets={"Lon": (1.0, 2.0)}), list(LONLAT_BOX)),  # bbox and subset
        (CoverageQuery(subsets={"Lon": (108.9, 109.0), "y": (3.79e6, 3.8e6)}), None),  # systems mixed
        (CoverageQuery(subsets={"Lon": (108.9, 109.0), "x": (3e5, 3.1e5)}), None),  # one axis twice
        (CoverageQuery(subsets={"time": (1.0, 2.0)}), None),
        (CoverageQuery(subsets={"Lon": (108.9, 109.0)}, subset_crs=UTM), None),  # degrees in metres
        (CoverageQuery(subsets={"Lon": (120.0, None)}), None),  # open end past the coverage: empty
        (CoverageQuery(subsets={"Lon": (1.0, 2.0), "Lat": (3.0, 4.0)}, scale_size={"Lon": 10}), None),  # far away
    ],
)
def test_what_a_coverage_cannot_answer(query: CoverageQuery, bbox: list | None) -> None:
    with pytest.raises(InvalidInput):
        plan_coverage(GRID, query, bbox)


def test_pygeoapi_knows_every_axis_spelling() -> None:
    names = axis_names()
    assert {"Lon", "Lat", "LON", "lat", "Long", "x", "X", "E", "n"} <= set(names)
