"""Downloads for people (issue 15): a layer as GeoPackage, zipped Shapefile, CSV, GeoJSON, FlatGeobuf
or KML, opened again with GDAL: counts, fields, CRS, encodings, subsets, permissions and budgets.

Everything goes through the live demo server (``GET /api/v1/layers/{id}/download``) and the OGC
API items door that redirects ``f=gpkg|shp|csv|fgb|kml`` there.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyogrio
import pytest
from sqlalchemy import text

from layers.export_fields import short_field_names
from spatial.access.principal import local_operator
from spatial.access.tokens import create_token
from spatial.config import Settings
from tests.live import live_server

POINTS, POLYGONS, DEPARTMENT_ONLY = "emergency_facilities", "buildings", "city_components"
EXTENSIONS = {"gpkg": "gpkg", "shp": "shp.zip", "csv": "csv", "geojson": "geojson", "fgb": "fgb", "kml": "kml"}
DAY = r"_20[0-9]{6}\."
TIMEOUT = 120


def fetch(base: str, layer: str, tmp_path: Path, headers: dict[str, str] | None = None, **params: str) -> Path:
    """Download ``layer`` with ``params``; the file saved under the name the server gave it."""
    answer = httpx.get(f"{base}/api/v1/layers/{layer}/download", params=params, headers=headers or {},
                       timeout=TIMEOUT, follow_redirects=True)  # fmt: skip
    assert answer.status_code == 200, answer.text[:500]
    disposition = answer.headers["content-disposition"]
    name = re.fullmatch(r'attachment; filename="([^"]+)"', disposition)
    assert name, disposition
    path = tmp_path / name.group(1)
    path.write_bytes(answer.content)
    assert int(answer.headers["content-length"]) == len(answer.content)
    return path


def refused(base: str, layer: str, headers: dict[str, str] | None = None, **params: str) -> httpx.Response:
    return httpx.get(f"{base}/api/v1/layers/{layer}/download", params=params, headers=headers or {}, timeout=TIMEOUT)


def count(engine, table: str, where: str = "true", **bound: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table} WHERE {where}"), bound).scalar_one())


def downloads_left(settings: Settings) -> list[Path]:
    folder = settings.var_dir / "downloads"
    return sorted(folder.rglob("*")) if folder.exists() else []


def epsg_of(path: Path) -> str:
    return str(pyogrio.read_info(path)["crs"])


# ------------------------------------------------------------------------------ every format
@pytest.mark.parametrize("fmt", list(EXTENSIONS))
def test_every_format_opens_in_gdal_with_every_feature(demo_server, demo_engine, demo_settings, tmp_path, fmt) -> None:
    path = fetch(demo_server, POINTS, tmp_path, f=fmt)
    assert re.fullmatch(POINTS + DAY + re.escape(EXTENSIONS[fmt]), path.name)
    frame = pyogrio.read_dataframe(path)
    assert len(frame) == count(demo_engine, "thematic.emergency_facility") > 0
    names = set(frame["name_zh"]) if "name_zh" in frame else set(frame["Name"])
    with demo_engine.connect() as conn:
        expected = set(conn.execute(text("SELECT name_zh FROM thematic.emergency_facility")).scalars())
    assert names == expected  # Chinese text round-trips in every format (KML names its placemarks by it)
    if fmt != "csv":  # a CSV has no place for its CRS
        assert epsg_of(path) == "EPSG:4326"
    if fmt != "kml":
        assert {"kind", "name_zh", "capacity"} <= set(frame.columns)
        assert set(frame.geom_type) == {"Point"}
    assert downloads_left(demo_settings) == []


def test_geojson_is_the_default_and_keeps_ids(demo_server, demo_engine, tmp_path) -> None:
    path = fetch(demo_server, POINTS, tmp_path)
    assert path.suffix == ".geojson"
    frame = pyogrio.read_dataframe(path)
    with demo_engine.connect() as conn:
        ids = set(conn.execute(text("SELECT id FROM thematic.emergency_facility")).scalars())
    assert set(frame["id"]) == ids


# ------------------------------------------------------------------------------ CRS
@pytest.mark.parametrize(("crs", "epsg", "x_range"), [
    ("EPSG:4490", "EPSG:4490", (100, 120)), ("EPSG:3857", "EPSG:3857", (1.1e7, 1.3e7)),
    ("http://www.opengis.net/def/crs/EPSG/0/32649", "EPSG:32649", (2e5, 8e5)), ("CRS84", "EPSG:4326", (100, 120)),
])  # fmt: skip
def test_the_crs_asked_for(demo_server, tmp_path, crs, epsg, x_range) -> None:
    path = fetch(demo_server, POLYGONS, tmp_path, f="gpkg", crs=crs)
    info = pyogrio.read_info(path)
    assert info["crs"] == epsg
    minx, _, maxx, _ = pyogrio.read_bounds(path)[1].T[0]  # one feature's bounds, x first as GDAL writes
    assert x_range[0] < minx <= maxx < x_range[1]


def test_kml_is_always_wgs84(demo_server, demo_settings) -> None:
    answer = refused(demo_server, POINTS, f="kml", crs="EPSG:3857")
    assert answer.status_code == 400 and "KML is always WGS 84" in answer.json()["description"]
    assert downloads_left(demo_settings) == []


# ------------------------------------------------------------------------------ Shapefile
def test_shapefile_has_short_unique_names_listed_in_fields_txt(demo_server, tmp_path) -> None:
    path = fetch(demo_server, POLYGONS, tmp_path, f="shp")
    with zipfile.ZipFile(path) as archive:
        members = archive.namelist()
        fields = archive.read("fields.txt").decode()
        cpg = next(archive.read(m) for m in members if m.endswith(".cpg")).decode().strip()
    assert {m.rsplit(".", 1)[1] for m in members} >= {"shp", "shx", "dbf", "prj", "cpg", "txt"}
    assert cpg == "UTF-8"
    columns = pyogrio.read_info(path)["fields"]
    assert all(len(name.encode()) <= 10 for name in columns)
    assert "community_" in columns and "community_code" not in columns
    assert "community_\tcommunity_code" in fields.splitlines()


def test_shapefile_in_gbk_says_so_and_round_trips_chinese(demo_server, demo_engine, tmp_path) -> None:
    path = fetch(demo_server, POINTS, tmp_path, f="shp", encoding="gbk")
    with demo_engine.connect() as conn:
        first = conn.execute(text("SELECT name_zh FROM thematic.emergency_facility ORDER BY id LIMIT 1")).scalar_one()
    with zipfile.ZipFile(path) as archive:
        cpg = next(archive.read(m) for m in archive.namelist() if m.endswith(".cpg")).decode().strip()
        dbf = next(archive.read(m) for m in archive.namelist() if m.endswith(".dbf"))
        assert "text encoding: GBK" in archive.read("fields.txt").decode()
    assert cpg == "GBK"
    assert first.encode("gbk") in dbf and first.encode("utf-8") not in dbf
    frame = pyogrio.read_dataframe(path)
    assert frame["name_zh"].iloc[0] == first


def test_short_field_names_fit_ten_bytes_in_their_encoding() -> None:
    names = ["community_code", "community_name", "建筑物名称", "建筑物名字", "Community_x", "id"]
    utf8 = short_field_names(names, "utf-8")
    gbk = short_field_names(names, "gbk")
    for short, encoding in ((utf8, "utf-8"), (gbk, "gbk")):
        assert len({name.lower() for name in short.values()}) == len(names)
        assert all(0 < len(name.encode(encoding)) <= 10 for name in short.values())
    assert gbk["建筑物名称"] == "建筑物名称" and utf8["建筑物名称"] == "建筑物"
    assert utf8["id"] == "id"


# ------------------------------------------------------------------------------ CSV
def test_csv_writes_wkt_or_lon_lat_columns(demo_server, demo_engine, tmp_path) -> None:
    wkt = fetch(demo_server, POINTS, tmp_path, f="csv")
    assert wkt.read_text(encoding="utf-8").splitlines()[0].startswith("WKT,")
    lonlat = fetch(demo_server, POINTS, tmp_path, f="csv", geometry="lonlat", crs="EPSG:4490")
    header, first = lonlat.read_text(encoding="utf-8").splitlines()[:2]
    assert header.startswith("lon,lat,id,")
    with demo_engine.connect() as conn:
        lon, lat = conn.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM thematic.emergency_facility "
                                     "ORDER BY id LIMIT 1")).one()  # fmt: skip
    values = first.split(",")
    assert abs(float(values[0]) - lon) < 1e-6 and abs(float(values[1]) - lat) < 1e-6
    polygons = refused(demo_server, POLYGONS, f="csv", geometry="lonlat")
    assert polygons.status_code == 400 and "points" in polygons.json()["description"]


# ------------------------------------------------------------------------------ subsets
def _items_matched(base: str, layer: str, **params: str) -> int:
    answer = httpx.get(f"{base}/ogc/collections/{layer}/items", params={"f": "json", "resulttype": "hits", **params},
                       timeout=TIMEOUT)  # fmt: skip
    assert answer.status_code == 200, answer.text[:300]
    return int(answer.json()["numberMatched"])


def test_a_bbox_holds_what_the_items_door_finds(demo_server, demo_engine, tmp_path) -> None:
    with demo_engine.connect() as conn:
        x, y = conn.execute(text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Extent(geom)) c "
                                 "FROM basemap.building) s")).one()  # fmt: skip
    bbox = f"{x - 0.01:.6f},{y - 0.01:.6f},{x + 0.01:.6f},{y + 0.01:.6f}"
    path = fetch(demo_server, POLYGONS, tmp_path, f="fgb", bbox=bbox)
    got = pyogrio.read_info(path)["features"]
    assert 0 < got == _items_matched(demo_server, POLYGONS, bbox=bbox) < count(demo_engine, "basemap.building")


def test_a_filter_holds_what_the_items_door_finds(demo_server, demo_engine, tmp_path) -> None:
    path = fetch(demo_server, POINTS, tmp_path, f="gpkg", filter="kind = 'hospital'")
    frame = pyogrio.read_dataframe(path)
    assert set(frame["kind"]) == {"hospital"}
    assert len(frame) == _items_matched(demo_server, POINTS, filter="kind = 'hospital'")
    assert len(frame) == count(demo_engine, "thematic.emergency_facility", "kind = 'hospital'")


# ------------------------------------------------------------------------------ the OGC items door
@pytest.mark.parametrize("fmt", ["gpkg", "shp", "csv", "fgb", "kml"])
def test_items_redirect_file_formats_to_the_download(demo_server, demo_engine, tmp_path, fmt) -> None:
    items = f"{demo_server}/ogc/collections/{POINTS}/items"
    answer = httpx.get(items, params={"f": fmt, "filter": "kind = 'shelter'"}, timeout=TIMEOUT)
    assert answer.status_code == 303
    assert f"/api/v1/layers/{POINTS}/download?" in answer.headers["location"]
    followed = httpx.get(items, params={"f": fmt, "filter": "kind = 'shelter'"}, timeout=TIMEOUT, follow_redirects=True)
    assert followed.status_code == 200
    path = tmp_path / f"items.{EXTENSIONS[fmt]}"
    path.write_bytes(followed.content)
    assert pyogrio.read_info(path)["features"] == count(demo_engine, "thematic.emergency_facility", "kind = 'shelter'")


# ------------------------------------------------------------------------------ permission
@pytest.fixture(scope="module")
def urban_viewer(demo_url: str) -> dict[str, str]:
    from spatial.db import make_engine

    engine = make_engine(demo_url, pool_size=1)
    issued = create_token(engine, department_code="urban", role="viewer", name="download test", actor=local_operator())
    engine.dispose()
    return {"Authorization": f"Bearer {issued.secret}"}


def test_a_department_layer_downloads_as_it_reads(demo_server, demo_reader, urban_viewer, tmp_path) -> None:
    personas: list[dict[str, str]] = [{}, demo_reader]  # anonymous; a viewer of another department
    for headers in personas:
        for fmt in ("gpkg", "csv"):
            hidden = refused(demo_server, DEPARTMENT_ONLY, headers, f=fmt)
            missing = refused(demo_server, "no_such_layer", headers, f=fmt)
            items = httpx.get(f"{demo_server}/ogc/collections/{DEPARTMENT_ONLY}/items", params={"f": fmt},
                              headers=headers, timeout=TIMEOUT)  # fmt: skip
            assert hidden.status_code == missing.status_code == items.status_code == 404
            assert hidden.json()["description"].replace(DEPARTMENT_ONLY, "X") == \
                missing.json()["description"].replace("no_such_layer", "X")  # fmt: skip
    path = fetch(demo_server, DEPARTMENT_ONLY, tmp_path, urban_viewer, f="gpkg")
    assert pyogrio.read_info(path)["features"] > 0


# ------------------------------------------------------------------------------ refusals and budgets
@pytest.mark.parametrize(("params", "words"), [
    ({"f": "xlsx"}, "gpkg, shp, csv, geojson, fgb, kml"), ({"f": "gpkg", "crs": "EPSG:99999"}, "coordinate reference system"),
    ({"f": "gpkg", "crs": "'; DROP TABLE x"}, "coordinate reference system"), ({"f": "shp", "encoding": "latin1"}, "gbk"),
    ({"f": "csv", "encoding": "gbk"}, "Shapefiles"), ({"f": "gpkg", "geometry": "lonlat"}, "CSV"),
    ({"f": "gpkg", "bbox": "1,2,3"}, "bbox"), ({"f": "gpkg", "bbox": "120,40,110,30"}, "minimum"),
    ({"f": "gpkg", "filter": "kind = = 'x'"}, "CQL"), ({"f": "gpkg", "filter": "nosuchfield = 1"}, "property"),
    ({"f": "gpkg", "bbox-crs": "EPSG:3857", "bbox": "1,2,3,4"}, "bbox-crs"), ({"f": "gpkg", "crs": "EPSG:4978"}, "2D"),
    ({"f": "gpkg", "datetime": "2024-13-45"}, "datetime"), ({"f": "tif"}, "imagery"),
])  # fmt: skip
def test_bad_parameters_are_400_and_leave_nothing(demo_server, demo_settings, params, words) -> None:
    answer = refused(demo_server, POINTS, **params)
    assert answer.status_code == 400, answer.text[:300]
    assert words in answer.json()["description"], answer.json()
    assert downloads_left(demo_settings) == []


def test_imagery_downloads_as_its_geotiff(demo_server, tmp_path) -> None:
    path = fetch(demo_server, "demo_imagery", tmp_path)
    assert re.fullmatch("demo_imagery" + DAY + "tif", path.name)
    assert path.read_bytes()[:2] in (b"II", b"MM")
    answer = refused(demo_server, "demo_imagery", f="gpkg")
    assert answer.status_code == 400 and "GeoTIFF" in answer.json()["description"]


@pytest.fixture(scope="module")
def small_budget_server(demo_settings: Settings) -> Iterator[tuple[str, Settings]]:
    """The demo served with a budget of 10 features and 20 kB per download."""
    settings = demo_settings.model_copy(update={"max_download_features": 10, "max_download_bytes": 20_000})
    with live_server(settings) as base:
        yield base, settings


def test_over_the_budget_is_a_clear_refusal(small_budget_server, tmp_path) -> None:
    base, settings = small_budget_server
    many = refused(base, POLYGONS, f="gpkg")
    assert many.status_code == 400
    assert many.json()["code"] == "BudgetExceeded" and "ONEMAP_MAX_DOWNLOAD_FEATURES" in many.json()["description"]
    fetch(base, POLYGONS, tmp_path, f="geojson", filter="id <= 3")  # within both budgets
    big = refused(base, POLYGONS, f="gpkg", filter="id <= 3")  # an empty GeoPackage is about 100 kB
    assert big.status_code == 400 and "ONEMAP_MAX_DOWNLOAD_BYTES" in big.json()["description"], big.text[:300]
    assert downloads_left(settings) == []


def test_a_time_slice_holds_what_the_items_door_finds(demo_server, demo_engine, demo_reader, tmp_path) -> None:
    with demo_engine.connect() as conn:
        start = conn.execute(text("SELECT min(observed_at) FROM thematic.aq_reading")).scalar_one()
    end = start + dt.timedelta(hours=5)
    interval = f"{start.isoformat()}/{end.isoformat()}"
    path = fetch(demo_server, "aq_readings", tmp_path, demo_reader, f="gpkg", datetime=interval)
    frame = pyogrio.read_dataframe(path)
    items = httpx.get(f"{demo_server}/ogc/collections/aq_readings/items", headers=demo_reader, timeout=TIMEOUT,
                      params={"f": "json", "resulttype": "hits", "datetime": interval}).json()["numberMatched"]  # fmt: skip
    assert 0 < len(frame) == items == count(demo_engine, "thematic.aq_reading", "observed_at BETWEEN :a AND :b",
                                            a=start, b=end)  # fmt: skip
    assert frame["observed_at"].min() == start  # timestamps keep their instant
