"""Roads, buildings and POIs mapped to the base map's columns (layers/city/features.py).

Synthetic frames for each rule; then Midtown Manhattan's OSM roads, whose network must hang
together once the ways are split at their junctions.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Point, box

from layers.city.features import (
    BUILDING_COLUMNS,
    POI_COLUMNS,
    ROAD_COLUMNS,
    prepare_buildings,
    prepare_pois,
    prepare_roads,
)
from layers.city.profile import Buildings, OneWay, Pois, Roads, Source
from layers.city.report import CityReport
from tests.conftest import realdata_path

SOURCE = Source(path="city.gpkg")
DRIVABLE = ["motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link",
            "secondary", "secondary_link", "tertiary", "tertiary_link", "unclassified",
            "residential", "living_street", "service"]  # fmt: skip


def source_frame(geometries: list, **fields: list) -> gpd.GeoDataFrame:
    """What a reader gives: the fields, feature numbers from 1, lon/lat geometries."""
    frame = gpd.GeoDataFrame(fields, geometry=geometries, crs=4326)
    frame["feature_no"] = np.arange(1, len(frame) + 1)
    return frame


def lines(count: int) -> list[LineString]:
    """``count`` separate east-west lines that share nothing."""
    return [LineString([(0, row), (1, row)]) for row in range(count)]


def notes(report: CityReport) -> list[str]:
    return [f.line() for f in report.findings if f.severity == "note"]


# ---------------------------------------------------------------------------------------- roads
def test_road_columns_and_names() -> None:
    frame = source_frame(lines(3), name=["Broadway", None, "7th Ave"], zh=["百老汇", None, None])
    report = CityReport("t")
    roads = prepare_roads(Roads(source=SOURCE, name_en="name", name_zh="zh"), frame, report)
    assert roads is not None and report.ok
    assert list(roads.columns) == ROAD_COLUMNS and roads.geometry.name == "geom"
    assert roads.crs.to_epsg() == 4326 and (roads.geom_type == "LineString").all()
    assert roads["name_zh"].tolist() == ["百老汇", "", "7th Ave"]
    assert roads["name_en"].tolist() == ["Broadway", "", "7th Ave"]
    assert roads["road_class"].tolist() == ["road"] * 3 and roads["district_code"].isna().all()
    assert roads["lanes"].tolist() == [2, 2, 2] and roads["speed_kmh"].tolist() == [30, 30, 30]


def test_speeds_from_the_field_else_the_class_else_the_default() -> None:
    frame = source_frame(lines(6), kind=["primary"] * 5 + ["alley"],
                         maxspeed=["25 mph", "50", "50 km/h", "walk", None, None])  # fmt: skip
    profile = Roads(source=SOURCE, road_class="kind", speed="maxspeed", speeds={"primary": 45},
                    default_speed_kmh=20)  # fmt: skip
    report = CityReport("t")
    roads = prepare_roads(profile, frame, report)
    assert roads is not None
    assert roads["speed_kmh"].tolist() == [40, 50, 50, 45, 45, 20]
    (junk,) = [n for n in notes(report) if "speed" in n]
    assert "1 speed(s) not understood ('walk')" in junk and "feature 4" in junk


def test_oneway_values_mapped() -> None:
    values = ["yes", "-1", "no", None, "reversible", "TRUE", "reverse"]
    frame = source_frame(lines(7), oneway=values)
    report = CityReport("t")
    roads = prepare_roads(Roads(source=SOURCE, oneway=OneWay(field="oneway")), frame, report)
    assert roads is not None
    assert roads["oneway"].tolist() == [1, -1, 0, 0, 0, 1, -1]
    (unknown,) = [n for n in notes(report) if "one-way" in n]
    assert "'reversible'" in unknown and "feature 5" in unknown


def test_osm_implies_one_way_for_motorways_and_roundabouts() -> None:
    frame = source_frame(
        lines(5),
        highway=["motorway", "motorway", "primary", "residential", "motorway_link"],
        other_tags=['"oneway"=>"no"', None, '"junction"=>"roundabout"', None, None],
    )
    osm = Roads(source=SOURCE, road_class="highway", oneway=OneWay(field="tags.oneway"))
    roads = prepare_roads(osm, frame, CityReport("t"))
    assert roads is not None and roads["oneway"].tolist() == [0, 1, 1, 0, 0]
    # a class field that is not OSM's highway implies nothing
    not_osm = prepare_roads(Roads(source=SOURCE, road_class="highway_kind"),
                            frame.rename(columns={"highway": "highway_kind"}), CityReport("t"))  # fmt: skip
    assert not_osm is not None and not_osm["oneway"].tolist() == [0] * 5


def test_keep_classes() -> None:
    frame = source_frame(lines(4), highway=["primary", "footway", "service", None])
    report = CityReport("t")
    roads = prepare_roads(Roads(source=SOURCE, road_class="highway", keep=["primary", "service", "trunk"]),
                          frame, report)  # fmt: skip
    assert roads is not None and roads["road_class"].tolist() == ["primary", "service"]
    assert any("kept 2 of 4 ways; left out 2" in n for n in notes(report))
    assert any("no way has the kept class(es) trunk" in n for n in notes(report))
    nothing = CityReport("t")
    assert (
        prepare_roads(Roads(source=SOURCE, road_class="highway", keep=["trunk"]), frame, nothing)
        is None
    )
    assert "none of the 4 ways has a class in keep" in nothing.errors[0].message


def test_lanes_and_long_classes() -> None:
    frame = source_frame(lines(4), lanes=["3", "2;4", "many", None], kind=["x" * 20] * 4)
    report = CityReport("t")
    roads = prepare_roads(Roads(source=SOURCE, lanes="lanes", road_class="kind"), frame, report)
    assert roads is not None and roads["lanes"].tolist() == [3, 4, 2, 2]
    assert roads["road_class"].str.len().max() == 16


def test_missing_field_is_an_error_naming_the_fields_the_file_has() -> None:
    frame = source_frame(lines(2), name=["a", "b"], highway=["primary", "primary"])
    report = CityReport("t")
    profile = Roads(
        source=SOURCE, road_class="highway", speed="maxspeed", oneway=OneWay(field="tags.oneway")
    )
    assert prepare_roads(profile, frame, report) is None
    assert {e.field for e in report.errors} == {"maxspeed", "tags.oneway"}
    message = next(e.message for e in report.errors if e.field == "maxspeed")
    assert "'maxspeed'" in message and "name, highway" in message and "feature_no" not in message


def test_noding_a_plus_crossing_sharing_its_middle_vertex() -> None:
    avenue = LineString([(0, -1), (0, 0), (0, 1)])
    street = LineString([(-1, 0), (0, 0), (1, 0)])
    report = CityReport("t")
    roads = prepare_roads(
        Roads(source=SOURCE, name_en="name"),
        source_frame([avenue, street], name=["Ave", "St"]),
        report,
    )
    assert roads is not None and len(roads) == 4
    assert roads["name_en"].tolist() == ["Ave", "Ave", "St", "St"]
    assert sorted(shapely.get_num_points(roads.geometry.to_numpy()).tolist()) == [2, 2, 2, 2]
    assert end_points(roads) == {(0.0, -1.0), (0.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (1.0, 0.0)}
    assert any("2 ways → 4 segments" in n for n in notes(report))


def test_noding_a_t_junction_and_keeping_direction() -> None:
    through = LineString([(0, 0), (1, 0), (2, 0), (3, 0)])
    side = LineString([(2, 0), (2, 1)])  # ends on the through road's third vertex
    roads = prepare_roads(Roads(source=SOURCE, oneway=OneWay(field="oneway")),
                          source_frame([through, side], oneway=["yes", None]), CityReport("t"))  # fmt: skip
    assert roads is not None and len(roads) == 3
    assert [list(g.coords) for g in roads.geometry] == [
        [(0, 0), (1, 0), (2, 0)], [(2, 0), (3, 0)], [(2, 0), (2, 1)]
    ]  # fmt: skip
    assert roads["oneway"].tolist() == [1, 1, 0]


def test_a_bridge_crossing_without_a_shared_vertex_stays_whole() -> None:
    bridge = LineString([(0, -1), (0, 1)])
    below = LineString([(-1, 0), (1, 0)])
    roads = prepare_roads(Roads(source=SOURCE), source_frame([bridge, below]), CityReport("t"))
    assert roads is not None and len(roads) == 2
    assert roads.geometry.geom_equals(gpd.GeoSeries([bridge, below], crs=4326)).all()


def test_multilines_exploded_and_zero_length_dropped() -> None:
    multi = MultiLineString([[(0, 0), (1, 0)], [(5, 5), (6, 5)]])
    degenerate = LineString([(3, 3), (3, 3)])
    repeated = LineString([(0, 2), (0, 2), (1, 2)])
    roads = prepare_roads(
        Roads(source=SOURCE), source_frame([multi, degenerate, repeated]), CityReport("t")
    )
    assert roads is not None and (roads.geom_type == "LineString").all()
    assert len(roads) == 3 and (shapely.length(roads.geometry.to_numpy()) > 0).all()
    assert list(roads.geometry.iloc[2].coords) == [(0, 2), (1, 2)]


def test_a_way_through_its_own_end_is_split_there() -> None:
    lollipop = LineString([(0, 0), (1, 0), (2, 0), (2, 1), (1, 1), (1, 0)])
    roads = prepare_roads(Roads(source=SOURCE), source_frame([lollipop]), CityReport("t"))
    assert roads is not None and len(roads) == 2


def end_points(roads: gpd.GeoDataFrame) -> set[tuple[float, float]]:
    geoms = roads.geometry.to_numpy()
    points = np.vstack([shapely.get_coordinates(shapely.get_point(geoms, i)) for i in (0, -1)])
    return {(float(x), float(y)) for x, y in points}


# ------------------------------------------------------------------------------------ buildings
def test_building_heights_and_floors() -> None:
    frame = source_frame(
        [box(i, 0, i + 0.5, 0.5) for i in range(7)],
        height=["12 m", "40'", None, None, "30", "tall", None],
        levels=[None, None, "3;4", "2.5", None, None, None],
        building=["yes", "apartments", None, "a_very_long_use_value", "office", "yes", "house"],
        name=["Empire", None, None, None, None, None, None],
    )
    profile = Buildings(source=SOURCE, use="building", floors="levels", height="height",
                        storey_height_m=3.0, default_floors=2)  # fmt: skip
    report = CityReport("t")
    buildings = prepare_buildings(profile, frame, report)
    assert buildings is not None and list(buildings.columns) == BUILDING_COLUMNS
    assert buildings["height_m"].round(2).tolist() == [12.0, 12.19, 12.0, 9.0, 30.0, 6.0, 6.0]
    assert buildings["floors"].tolist() == [4, 4, 4, 3, 10, 2, 2]
    assert buildings["use"].tolist() == ["building", "apartments", "building",
                                         "a_very_long_use_", "office", "building", "house"]  # fmt: skip
    assert buildings["name"].tolist()[:2] == ["Empire", None]
    assert buildings["community_code"].isna().all() and buildings["address_id"].isna().all()
    (junk,) = [n for n in notes(report) if "height" in n]
    assert "'tall'" in junk and "feature 6" in junk


def test_multipolygons_become_polygons_and_defaults_apply() -> None:
    two = MultiPolygon([box(0, 0, 1, 1), box(2, 2, 3, 3)])
    report = CityReport("t")
    buildings = prepare_buildings(
        Buildings(source=SOURCE), source_frame([two, box(5, 5, 6, 6)]), report
    )
    assert buildings is not None and len(buildings) == 3
    assert (buildings.geom_type == "Polygon").all() and buildings.crs.to_epsg() == 4326
    assert buildings["floors"].tolist() == [1, 1, 1] and buildings["height_m"].tolist() == [3.0] * 3
    assert buildings["use"].tolist() == ["building"] * 3 and buildings["name"].isna().all()
    assert any("2 footprints → 3 polygons" in n for n in notes(report))


def test_building_missing_field() -> None:
    report = CityReport("t")
    frame = source_frame([box(0, 0, 1, 1)], building=["yes"])
    assert (
        prepare_buildings(Buildings(source=SOURCE, floors="building:levels"), frame, report) is None
    )
    assert (
        report.errors[0].field == "building:levels"
        and "it has: building" in report.errors[0].message
    )


# ----------------------------------------------------------------------------------------- POIs
def test_pois_names_categories_and_unnamed() -> None:
    frame = source_frame(
        [Point(i, 0) for i in range(5)],
        name=["Joe's", None, "Plaza", None, "Café"],
        zh=[None, "图书馆", None, None, None],
        amenity=["restaurant", "library", None, "bench", None],
        shop=[None, None, "x" * 40, None, None],
    )
    profile = Pois(source=SOURCE, name_en="name", name_zh="zh", categories=["amenity", "shop"])
    report = CityReport("t")
    pois = prepare_pois(profile, frame, report)
    assert pois is not None and list(pois.columns) == POI_COLUMNS and pois.geometry.name == "geom"
    assert pois["name_en"].tolist() == ["Joe's", "图书馆", "Plaza", "Café"]
    assert pois["name_zh"].tolist() == ["Joe's", "图书馆", "Plaza", "Café"]
    assert pois["category"].tolist() == ["restaurant", "library", "x" * 32, "poi"]
    assert pois["aliases"].tolist() == [[]] * 4 and pois["former_names"].tolist() == [[]] * 4
    assert [p.x for p in pois.geometry] == [0, 1, 2, 4]
    assert any("1 of 5 points have no name" in n for n in notes(report))
    everyone = prepare_pois(
        profile.model_copy(update={"named_only": False}), frame, CityReport("t")
    )
    assert everyone is not None and len(everyone) == 5 and everyone["name_en"].iloc[3] == ""


def test_poi_category_field_comes_first_and_missing_fields_are_errors() -> None:
    frame = source_frame([Point(0, 0)], name=["A"], kind=["museum"], amenity=["toilets"])
    pois = prepare_pois(Pois(source=SOURCE, name_en="name", category="kind", categories=["amenity"]),
                        frame, CityReport("t"))  # fmt: skip
    assert pois is not None and pois["category"].tolist() == ["museum"]
    report = CityReport("t")
    assert (
        prepare_pois(Pois(source=SOURCE, name_en="name", categories=["shop"]), frame, report)
        is None
    )
    assert report.errors[0].field == "shop"


def test_tags_are_read_only_at_a_pair_start_and_unescaped() -> None:
    tags = [
        '"old_amenity"=>"pub","amenity"=>"cafe"',
        '"note"=>"not ,\\"amenity\\"=>\\"bar\\"","amenity"=>"say \\"hi\\" \\\\o/"',
        '"shop"=>"bakery"',
        None,
    ]
    frame = source_frame([Point(i, 0) for i in range(4)], name=["a", "b", "c", "d"],
                         other_tags=tags)  # fmt: skip
    pois = prepare_pois(Pois(source=SOURCE, name_en="name", categories=["tags.amenity", "tags.shop"]),
                        frame, CityReport("t"))  # fmt: skip
    assert pois is not None
    assert pois["category"].tolist() == ["cafe", 'say "hi" \\o/', "bakery", "poi"]


# ------------------------------------------------------------------------------ real Manhattan
def component_labels(start: np.ndarray, end: np.ndarray, nodes: int) -> np.ndarray:
    """Each node's component, as its smallest node number (label propagation, pointer jumps)."""
    label = np.arange(nodes)
    while True:
        low = np.minimum(label[start], label[end])
        spread = label.copy()
        np.minimum.at(spread, start, low)
        np.minimum.at(spread, end, low)
        spread = spread[spread]
        if (spread == label).all():
            return label
        label = spread


def test_midtown_osm_roads_make_one_network() -> None:
    path = realdata_path("nyc", "osm", "manhattan_midtown_osm.gpkg")
    frame = gpd.read_file(path, layer="roads")
    frame["feature_no"] = np.arange(1, len(frame) + 1)
    profile = Roads(source=SOURCE, name_en="name", road_class="highway", keep=DRIVABLE,
                    oneway=OneWay(field="tags.oneway"), speed="tags.maxspeed", lanes="tags.lanes")  # fmt: skip
    report = CityReport("manhattan")
    roads = prepare_roads(profile, frame, report)
    assert roads is not None and report.ok
    ways = int(frame["highway"].isin(DRIVABLE).sum())
    assert len(roads) > ways  # avenues run through junctions: split there
    geoms = roads.geometry.to_numpy()
    ends = np.vstack([shapely.get_coordinates(shapely.get_point(geoms, i)) for i in (0, -1)])
    _, node = np.unique(ends, axis=0, return_inverse=True)
    node = node.ravel()
    label = component_labels(node[: len(roads)], node[len(roads) :], int(node.max()) + 1)
    _, sizes = np.unique(label[node[: len(roads)]], return_counts=True)
    assert sizes.max() / len(roads) >= 0.9
    assert (roads["oneway"] != 0).mean() >= 0.3
    assert roads["speed_kmh"].between(5, 110).all() and (roads["speed_kmh"] == 40).mean() > 0.3
