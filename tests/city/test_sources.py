"""layers.city.sources: every format a city profile names, read into checked lon/lat features.

Files are written on the fly (pyogrio) except the real ones under ../shared/realdata: the
midtown Manhattan OSM extract and Xi'an's 13 districts in GCJ-02.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from layers.city.profile import CityProfile, Source, profile_from_dict
from layers.city.report import CityReport
from layers.city.source_geometry import Family
from layers.city.sources import read_source
from spatial.webdatum import wgs84_to_gcj02
from tests.conftest import realdata_path

DISTRICTS = ["西安区", "碑林区", "鄠邑区"]
PBF = ("nyc", "osm", "manhattan.osm.pbf")


def profile(folder: Path, crs: str | None = None) -> CityProfile:
    """A minimal profile whose relative paths start at ``folder``."""
    raw: dict[str, Any] = {
        "code": "test",
        "name": {"zh": "测试", "en": "Test"},
        "divisions": {
            "levels": [{"level": "district", "source": {"path": "d.geojson"}, "name_zh": "n"}]
        },
    }
    if crs:
        raw["crs"] = crs
    return profile_from_dict(raw, folder=folder)


def read(
    folder: Path, section: str = "divisions.district", geometry: Family = "polygon", **source: Any
) -> tuple[gpd.GeoDataFrame | None, CityReport]:
    """read_source on a source given as keywords; the frame and the report."""
    report = CityReport("test")
    frame = read_source(profile(folder), Source(**source), section, report, geometry=geometry)
    return frame, report


def only_error(report: CityReport) -> str:
    assert len(report.errors) == 1, report.lines()
    return report.errors[0].message


def squares(n: int = 3, *, x0: float = 108.9, y0: float = 34.2) -> list[shapely.Geometry]:
    return [shapely.box(x0 + i * 0.01, y0, x0 + i * 0.01 + 0.009, y0 + 0.009) for i in range(n)]


def districts(crs: int | None = 4326) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"Name": DISTRICTS, "AdCode": [610102, 610103, 610118]}, geometry=squares(), crs=crs
    )


# --- formats -------------------------------------------------------------------------------


def test_geojson_columns_as_spelt_numbered_in_lonlat(tmp_path: Path) -> None:
    pyogrio.write_dataframe(districts(), tmp_path / "d.geojson")
    frame, report = read(tmp_path, path="d.geojson")
    assert frame is not None and report.ok
    assert list(frame.columns) == ["Name", "AdCode", "feature_no", "geometry"]
    assert frame["Name"].tolist() == DISTRICTS
    assert frame["feature_no"].tolist() == [1, 2, 3]
    assert frame.crs.to_epsg() == 4326 and frame.geometry.name == "geometry"
    assert report.findings == []


def test_where_keeps_file_positions_as_feature_numbers(tmp_path: Path) -> None:
    pyogrio.write_dataframe(districts(), tmp_path / "d.geojson")
    frame, report = read(tmp_path, path="d.geojson", where="AdCode > 610102")
    assert frame is not None, report.lines()
    assert frame["feature_no"].tolist() == [2, 3]
    assert frame["Name"].tolist() == DISTRICTS[1:]


@pytest.mark.parametrize("name", ["d.shp", "d.fgb", "d.gpkg", "d.geojson"])
def test_where_numbers_features_as_the_whole_file_does(tmp_path: Path, name: str) -> None:
    # FlatGeobuf stores features in its spatial index's order, not the order written
    pyogrio.write_dataframe(districts(), tmp_path / name)
    whole, _ = read(tmp_path, path=name)
    some, report = read(tmp_path, path=name, where="AdCode > 610102")
    assert whole is not None and some is not None, report.lines()
    number = dict(zip(whole["AdCode"], whole["feature_no"], strict=True))
    assert sorted(whole["feature_no"]) == [1, 2, 3] and sorted(some["AdCode"]) == [610103, 610118]
    assert some["feature_no"].tolist() == [number[code] for code in some["AdCode"]]


def test_where_numbers_geojson_features_by_position_not_by_id(tmp_path: Path) -> None:
    features = [{"type": "Feature", "id": fid, "properties": {"n": n}, "geometry": square(108.8)}
                for n, fid in enumerate([30, 10, 20], start=1)]  # fmt: skip
    (tmp_path / "g.geojson").write_text(json.dumps({"type": "FeatureCollection",
                                                    "features": features}))  # fmt: skip
    frame, report = read(tmp_path, path="g.geojson", where="n >= 2")
    assert frame is not None, report.lines()
    assert frame["feature_no"].tolist() == [2, 3] and frame["n"].tolist() == [2, 3]


def test_where_numbers_csv_rows_as_the_file_holds_them(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text('name,lon,lat\na,108.9,34.2\n"b\nc",108.91,34.2\n'
                                    "d,108.92,34.2\n", encoding="utf-8")  # fmt: skip
    frame, report = read(tmp_path, section="pois", geometry="point", path="p.csv",
                         where="name <> 'a'")  # fmt: skip
    assert frame is not None, report.lines()
    assert frame["feature_no"].tolist() == [2, 3] and frame["name"].tolist() == ["b\nc", "d"]


def test_an_unreadable_file_with_a_where_is_not_blamed_on_the_where(tmp_path: Path) -> None:
    (tmp_path / "d.geojson").write_text('{"type": "FeatureCollection", "features": [{"type": ')
    frame, report = read(tmp_path, path="d.geojson", where="AdCode > 1")
    assert frame is None and "cannot read d.geojson" in only_error(report)


def test_a_bad_where_is_an_error_naming_it(tmp_path: Path) -> None:
    pyogrio.write_dataframe(districts(), tmp_path / "d.geojson")
    frame, report = read(tmp_path, path="d.geojson", where="NoSuchField = 1")
    assert frame is None
    assert "`where: NoSuchField = 1`" in only_error(report)
    assert report.errors[0].section == "divisions.district"


def test_geopackage_layer_is_chosen_by_name(tmp_path: Path) -> None:
    path = tmp_path / "city.gpkg"
    pyogrio.write_dataframe(districts(), path, layer="district")
    streets = gpd.GeoDataFrame({"code": [1]}, geometry=squares(1), crs=4326)
    pyogrio.write_dataframe(streets, path, layer="street", append=True)
    frame, report = read(tmp_path, path="city.gpkg", layer="street")
    assert frame is not None and frame["code"].tolist() == [1]
    frame, report = read(tmp_path, path="city.gpkg")
    assert frame is None and "several layers (district, street)" in only_error(report)
    frame, report = read(tmp_path, path="city.gpkg", layer="community")
    assert frame is None and "city.gpkg has no 'community' features" in only_error(report)


def test_zipped_shapefile_with_cpg_reads_chinese(tmp_path: Path) -> None:
    folder = tmp_path / "shp"
    folder.mkdir()
    pyogrio.write_dataframe(districts(), folder / "districts.shp", encoding="GBK")
    assert (folder / "districts.cpg").read_text().strip() == "GBK"
    with zipfile.ZipFile(tmp_path / "districts.zip", "w") as archive:
        for part in folder.iterdir():
            archive.write(part, f"export/{part.name}")  # in a folder, as exports often are
    frame, report = read(tmp_path, path="districts.zip")
    assert frame is not None, report.lines()
    assert frame["Name"].tolist() == DISTRICTS
    assert report.ok and not report.findings


def test_gbk_shapefile_without_cpg_is_refused_as_mojibake(tmp_path: Path) -> None:
    pyogrio.write_dataframe(districts(), tmp_path / "d.shp", encoding="GBK")
    (tmp_path / "d.cpg").unlink()
    frame, report = read(tmp_path, path="d.shp")
    assert frame is None
    message = only_error(report)
    assert "d.shp: field Name looks like GBK/GB18030 text read as Latin-1" in message
    assert "'Î÷°²Çø' = '西安区'" in message
    assert "add `encoding: GBK`" in message
    assert report.errors[0].field == "Name"
    assert report.errors[0].features == ("feature 1", "feature 2", "feature 3")


def test_gbk_shapefile_with_encoding_key_reads_chinese(tmp_path: Path) -> None:
    pyogrio.write_dataframe(districts(), tmp_path / "d.shp", encoding="GBK")
    (tmp_path / "d.cpg").unlink()
    frame, report = read(tmp_path, path="d.shp", encoding="GBK")
    assert frame is not None, report.lines()
    assert frame["Name"].tolist() == DISTRICTS
    assert frame["AdCode"].tolist() == [610102, 610103, 610118]


def test_accented_european_names_are_not_mojibake(tmp_path: Path) -> None:
    names = ["Zürich", "São Paulo", "Informação Turística"]
    frame = gpd.GeoDataFrame({"name": names}, geometry=squares(), crs=4326)
    pyogrio.write_dataframe(frame, tmp_path / "d.shp", encoding="ISO-8859-1")
    (tmp_path / "d.cpg").unlink()
    frame, report = read(tmp_path, path="d.shp")
    assert frame is not None, report.lines()
    assert frame["name"].tolist() == names


def test_flatgeobuf_in_web_mercator_is_reprojected(tmp_path: Path) -> None:
    pyogrio.write_dataframe(districts().to_crs(3857), tmp_path / "d.fgb")
    frame, report = read(tmp_path, path="d.fgb")
    assert frame is not None, report.lines()
    assert np.allclose(frame.total_bounds, districts().total_bounds, atol=1e-7)
    assert any("reprojected from EPSG:3857" in f.message for f in report.findings)


def test_csv_with_lon_lat_columns_is_wgs84(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("名称,经度,纬度\n钟楼,108.9425,34.2597\n,,\n", encoding="utf-8")
    frame, report = read(tmp_path, section="pois", geometry="point", path="p.csv")
    assert frame is not None, report.lines()
    assert frame["名称"].tolist() == ["钟楼"] and frame["feature_no"].tolist() == [1]
    assert frame.geometry.iloc[0].equals(shapely.Point(108.9425, 34.2597))
    assert [f.features for f in report.findings if f.severity == "warning"] == [("feature 2",)]


def test_csv_in_gbk_needs_its_encoding(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_bytes("名称,lon,lat\n钟楼,108.9425,34.2597\n".encode("gbk"))
    frame, report = read(tmp_path, section="pois", geometry="point", path="p.csv")
    assert frame is None and "add `encoding: GBK`" in only_error(report)
    frame, report = read(tmp_path, section="pois", geometry="point", path="p.csv", encoding="GBK")
    assert frame is not None and frame["名称"].tolist() == ["钟楼"]


def test_csv_of_projected_columns_needs_a_crs(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("name,x,y\na,987000,212000\n", encoding="utf-8")
    frame, report = read(tmp_path, section="pois", geometry="point", path="p.csv")
    assert frame is None
    assert "CRS unknown: give `crs:` (EPSG code, gcj02 or bd09)" in only_error(report)
    frame, report = read(tmp_path, section="pois", geometry="point", path="p.csv", crs="EPSG:2263")
    assert frame is not None, report.lines()
    lon, lat = frame.geometry.iloc[0].x, frame.geometry.iloc[0].y
    assert -74.1 < lon < -73.9 and 40.6 < lat < 40.9  # Manhattan, x = longitude


# --- OpenStreetMap -------------------------------------------------------------------------


@pytest.mark.realdata
def test_osm_lines_carry_road_tags_as_columns() -> None:
    pbf = realdata_path(*PBF)
    frame, report = read(pbf.parent, section="roads", geometry="line", path=pbf.name)
    assert frame is not None, report.lines()
    for column in (
        "osm_id",
        "name",
        "highway",
        "oneway",
        "maxspeed",
        "lanes",
        "name:zh",
        "other_tags",
    ):
        assert column in frame, column
    assert frame["highway"].notna().sum() > 5000
    assert set(frame["oneway"].dropna()) >= {"yes"}
    assert set(frame.geom_type) <= {"LineString", "MultiLineString"}
    minx, miny, maxx, maxy = frame.total_bounds
    assert -74.03 < minx < maxx < -73.95 and 40.72 < miny < maxy < 40.77
    assert report.ok


@pytest.mark.realdata
def test_osm_buildings_and_points() -> None:
    pbf = realdata_path(*PBF)
    buildings, report = read(
        pbf.parent, section="buildings", geometry="polygon", path=pbf.name,
        where="building IS NOT NULL",
    )  # fmt: skip
    assert buildings is not None and report.ok, report.lines()
    assert len(buildings) > 5000 and buildings["building:levels"].notna().sum() > 500
    assert set(buildings.geom_type) <= {"Polygon", "MultiPolygon"}
    assert buildings.geometry.is_valid.all()
    # an OSM layer is GDAL's making: its features are named by OSM element, numbered as read
    named = [label for finding in report.findings for label in finding.features]
    left_out = [label for f in report.findings if f.severity == "warning" for label in f.features]
    numbers = buildings["feature_no"].to_numpy()
    assert numbers[0] == 1 and (np.diff(numbers) > 0).all()
    assert numbers[-1] == len(buildings) + len(left_out)  # 1…n over the features read
    assert named and all(label.split()[0] in ("way", "relation") for label in named), named
    assert all(label.split()[1].isdigit() for label in named)
    points, report = read(pbf.parent, section="pois", geometry="point", path=pbf.name)
    assert points is not None and report.ok
    assert {"amenity", "shop", "tourism", "addr:housenumber"} <= set(points.columns)
    assert (points.geom_type == "Point").all()


@pytest.mark.realdata
def test_osm_without_the_asked_layer_or_features_is_an_error() -> None:
    pbf = realdata_path(*PBF)
    frame, report = read(pbf.parent, section="roads", geometry="line", path=pbf.name,
                         layer="highways")  # fmt: skip
    assert frame is None and "manhattan.osm.pbf has no 'highways' features" in only_error(report)
    frame, report = read(pbf.parent, section="roads", geometry="line", path=pbf.name,
                         where="highway = 'no such class'")  # fmt: skip
    assert frame is None
    assert "manhattan.osm.pbf has no 'lines' features where highway" in only_error(report)


# --- CRS -----------------------------------------------------------------------------------


@pytest.mark.realdata
def test_xian_gcj02_districts_are_shifted_to_wgs84() -> None:
    path = realdata_path("xian", "610100_full.json")
    raw = pyogrio.read_dataframe(path)
    frame, report = read(path.parent, path=path.name, crs="gcj02")
    assert frame is not None, report.lines()
    assert len(frame) == 13 and "610113" in frame["adcode"].astype(str).tolist()
    before = shapely.get_coordinates(raw.geometry.to_numpy())
    after = shapely.get_coordinates(frame.geometry.to_numpy())
    assert before.shape == after.shape
    # converting back with the forward formula gives the file's coordinates
    back = np.column_stack(wgs84_to_gcj02(after[:, 0], after[:, 1]))
    assert np.abs(back - before).max() < 1e-7
    dx = (after[:, 0] - before[:, 0]) * 111_320 * np.cos(np.radians(before[:, 1]))
    dy = (after[:, 1] - before[:, 1]) * 111_320
    shift = np.hypot(dx, dy)
    assert 100 < np.median(shift) < 1000 and (dx < 0).all()  # WGS84 lies west of GCJ-02 here
    [note] = [f.message for f in report.findings if "GCJ-02" in f.message]
    assert "converted from GCJ-02 to WGS84: median shift" in note


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_a_file_without_crs_needs_one(tmp_path: Path) -> None:
    pyogrio.write_dataframe(districts(crs=None), tmp_path / "d.shp")
    assert not (tmp_path / "d.prj").exists()
    frame, report = read(tmp_path, path="d.shp")
    assert frame is None and "d.shp: CRS unknown: give `crs:`" in only_error(report)
    frame, report = read(tmp_path, path="d.shp", crs="EPSG:4490")
    assert frame is not None and np.allclose(frame.total_bounds, districts().total_bounds)


def test_coordinates_off_the_globe_question_the_crs(tmp_path: Path) -> None:
    metres = districts().to_crs(3857).set_crs(4326, allow_override=True)
    pyogrio.write_dataframe(metres, tmp_path / "d.geojson")
    frame, report = read(tmp_path, path="d.geojson")
    assert frame is None and "is the CRS right?" in only_error(report)
    assert report.errors[0].features == ("feature 1", "feature 2", "feature 3")


# --- bad files and geometries --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("d.geojson", b"", "cannot read d.geojson"),
        ("d.geojson", b'{"type": "FeatureCollection", "features": [{"type": ', "cannot read"),
        ("d.gpkg", b"SQLite format 3\x00" + b"\x00" * 200, "cannot read d.gpkg"),
        ("d.zip", b"PK\x03\x04 not really a zip", "not a readable zip archive"),
        ("d.dwg", b"AC1032", "unsupported file type '.dwg'"),
        ("d.geojson", b'{"type": "FeatureCollection", "features": []}', "has no"),
    ],
)
def test_unreadable_or_empty_files_are_errors(
    tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    (tmp_path / name).write_bytes(content)
    frame, report = read(tmp_path, path=name)
    assert frame is None and expected in only_error(report)


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    frame, report = read(tmp_path, path="nowhere/d.geojson")
    assert frame is None and "no such file" in only_error(report)


def features_file(folder: Path, geometries: list[dict[str, Any] | None]) -> str:
    """A GeoJSON of the given geometries, one feature each."""
    features = [{"type": "Feature", "properties": {"n": i + 1}, "geometry": g}
                for i, g in enumerate(geometries)]  # fmt: skip
    (folder / "g.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features})
    )
    return "g.geojson"


def square(x: float) -> dict[str, Any]:
    ring = [[x, 34.2], [x + 0.01, 34.2], [x + 0.01, 34.21], [x, 34.21], [x, 34.2]]
    return {"type": "Polygon", "coordinates": [ring]}


BOWTIE = {"type": "Polygon", "coordinates": [[[108.9, 34.2], [109.0, 34.3], [109.0, 34.2],
                                              [108.9, 34.3], [108.9, 34.2]]]}  # fmt: skip
FLAT = {"type": "Polygon", "coordinates": [[[108.9, 34.2], [109.0, 34.2], [108.95, 34.2],
                                            [108.9, 34.2]]]}  # fmt: skip
POINT = {"type": "Point", "coordinates": [108.9, 34.2]}


def test_invalid_polygons_are_repaired_with_a_note(tmp_path: Path) -> None:
    frame, report = read(tmp_path, path=features_file(tmp_path, [square(108.8), BOWTIE]))
    assert frame is not None and report.ok
    assert frame.geometry.is_valid.all() and frame.geom_type.tolist() == ["Polygon", "MultiPolygon"]
    [note] = [f for f in report.findings if f.severity == "note"]
    assert "1 invalid geometry repaired" in note.message and note.features == ("feature 2",)


def test_unrepairable_division_is_an_error_but_a_building_is_dropped(tmp_path: Path) -> None:
    path = features_file(tmp_path, [square(108.8), FLAT])
    frame, report = read(tmp_path, path=path)
    assert frame is None and "cannot be repaired as polygons" in only_error(report)
    assert report.errors[0].features == ("feature 2",)
    frame, report = read(tmp_path, section="buildings", path=path)
    assert frame is not None and report.ok and frame["n"].tolist() == [1]
    assert [f.features for f in report.findings if f.severity == "warning"] == [("feature 2",)]


def test_a_geometry_geos_cannot_build_is_named_with_its_reason(tmp_path: Path) -> None:
    ring = {"type": "Polygon", "coordinates": [[[108.9, 34.2], [109.0, 34.3]]]}
    path = features_file(tmp_path, [square(108.8), ring, None])
    frame, report = read(tmp_path, path=path)
    assert frame is None and "1 geometry GEOS cannot build" in only_error(report)
    assert "LinearRing" in report.errors[0].message and report.errors[0].features == ("feature 2",)
    frame, report = read(tmp_path, section="buildings", path=path)
    assert frame is not None and report.ok and frame["n"].tolist() == [1]
    warned = [f.features for f in report.findings if f.severity == "warning"]
    assert warned == [("feature 2",), ("feature 3",)]  # unbuildable, then without a geometry


def test_empty_geometries_are_dropped_with_a_warning(tmp_path: Path) -> None:
    frame, report = read(tmp_path, path=features_file(tmp_path, [square(108.8), None]))
    assert frame is not None and report.ok and frame["feature_no"].tolist() == [1]
    [warning] = [f for f in report.findings if f.severity == "warning"]
    assert "without a geometry" in warning.message and warning.features == ("feature 2",)


def test_wrong_family_dropped_when_some_refused_when_all(tmp_path: Path) -> None:
    frame, report = read(tmp_path, path=features_file(tmp_path, [square(108.8), POINT]))
    assert frame is not None and frame["n"].tolist() == [1] and report.ok
    [warning] = [f for f in report.findings if f.severity == "warning"]
    assert "not polygons (Point)" in warning.message and warning.features == ("feature 2",)
    frame, report = read(tmp_path, path=features_file(tmp_path, [POINT, POINT]))
    assert frame is None and "no polygon features: they are Point" in only_error(report)


def test_a_multipoint_of_one_point_is_a_point(tmp_path: Path) -> None:
    one = {"type": "MultiPoint", "coordinates": [[108.9, 34.2]]}
    frame, report = read(tmp_path, section="pois", geometry="point",
                         path=features_file(tmp_path, [one, POINT]))  # fmt: skip
    assert frame is not None and report.ok and frame.geom_type.tolist() == ["Point", "Point"]
