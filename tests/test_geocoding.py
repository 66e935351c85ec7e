"""Geocoding against a real PostGIS: the demo city (Chinese) and the NYC OSM addresses (Western).

Library calls, REST over real HTTP, OGC API Processes, the CLI, the address loader, every
bad input, and accuracy on small perturbed samples (the benchmark measures the full sets).
"""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from spatial.access.principal import local_operator
from spatial.config import PROJECT_ROOT, Settings
from spatial.db import make_engine
from spatial.geocoding import geocode, geocode_many
from spatial.geocoding.evaluation import accuracy, chinese_cases, metres, western_cases
from spatial.geocoding.reverse import reverse
from spatial.geocoding.suggest import suggest
from tests.conftest import realdata_path

NYC_CSV = ("nyc", "osm", "manhattan_midtown_osm_addresses.csv")
NYC_MAP = "house_number=housenumber,street=street,unit=unit,city=city,postcode=postcode,lon=lon,lat=lat"
HELD_OUT = 150
BATCH_LIMIT = 40


# ---------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def geo_url(make_database, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database with the small demo city (its load builds the geocoding index)."""
    from layers.demo.load import load_demo
    from spatial import migrate

    url = make_database("onemap_geo")
    engine = make_engine(url, pool_size=2)
    migrate.upgrade(engine)
    settings = Settings(database_url=url, var_dir=tmp_path_factory.mktemp("geo-var"))
    load_demo(engine, settings, size="small", seed=42, imagery=False, console=None, principal=local_operator())
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def geo_engine(geo_url: str) -> Iterator[Engine]:
    engine = make_engine(geo_url, pool_size=4)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def nyc_held_out(geo_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, str]]:
    """Load the NYC OSM addresses minus a held-out sample; return the held-out rows."""
    from layers.addresses import load_addresses, parse_mapping

    with realdata_path(*NYC_CSV).open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    located = [i for i, row in enumerate(rows) if row["lon"] and row["lat"]]
    held = set(random.Random(5).sample(located, HELD_OUT))
    path = tmp_path_factory.mktemp("nyc") / "nyc_addresses.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(row for i, row in enumerate(rows) if i not in held)
    report = load_addresses(geo_engine, path, mapping=parse_mapping(NYC_MAP), source="nyc_osm")
    assert report.rows_loaded == len(rows) - HELD_OUT - 7
    assert len(report.bad_rows) == 7  # seven OSM rows have no coordinates: reported, left out
    return [rows[i] for i in sorted(held)]


@pytest.fixture(scope="module")
def geo_server(geo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tests.live import live_server

    settings = Settings(database_url=geo_url, var_dir=tmp_path_factory.mktemp("geo-serve"), port=0,
                        geocode_batch_max_items=BATCH_LIMIT, geocode_batch_max_bytes=20_000)  # fmt: skip
    with live_server(settings) as base:
        yield base


def demo_plates(engine: Engine, n: int, *, where: str = "true") -> list[tuple]:  # type: ignore[type-arg]
    """Some demo door plates: (id, full_zh, full_en, lon, lat, district, street, community)."""
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT id, full_zh, full_en, ST_X(geom), ST_Y(geom), district_code, street_code, "
            f"community_code FROM basemap.address WHERE source = 'demo' AND {where} "
            "ORDER BY id LIMIT :n"
        ), {"n": n}).all()  # fmt: skip


# ---------------------------------------------------------------------------------- library
def test_forward_finds_door_plates_buildings_and_units(geo_engine: Engine) -> None:
    for where, level in (("building IS NULL", "door_plate"), ("building IS NOT NULL AND unit IS NULL", "building"),
                         ("unit IS NOT NULL", "unit")):  # fmt: skip
        plate = demo_plates(geo_engine, 1, where=where)[0]
        best = geocode(geo_engine, plate[1])[0]
        assert (best.address_id, best.level, best.confidence) == (plate[0], level, 1.0)
        assert (best.lon, best.lat) == pytest.approx((plate[3], plate[4]))
        assert (best.district_code, best.subdistrict_code, best.community_code) == tuple(plate[5:8])


def test_forward_copes_with_numerals_variants_missing_levels_and_english(geo_engine: Engine) -> None:
    plate = demo_plates(geo_engine, 1, where="building IS NULL AND house_number::int BETWEEN 11 AND 99")[0]
    full = plate[1]
    from spatial.geocoding.evaluation import chinese_perturbations

    perturb = chinese_perturbations(random.Random(1), [])
    variants = [perturb["numerals"](full), perturb["variants"](full), full.replace("陕西省西安市", ""),
                perturb["extra_words"](full), perturb["full_width"](full), plate[2]]  # fmt: skip
    for query in variants:
        best = geocode(geo_engine, query)[0]
        assert best.address_id == plate[0], query


def test_structured_and_pois_by_alias_and_former_name(geo_engine: Engine) -> None:
    with geo_engine.connect() as conn:
        road, number, poi_id, alias, former = conn.execute(text(
            "SELECT a.road_zh, a.house_number, p.id, p.aliases[1], p.former_names[1] "
            "FROM basemap.poi p, basemap.address a WHERE cardinality(p.former_names) > 0 "
            "AND cardinality(p.aliases) > 0 AND a.source = 'demo' AND a.building IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM basemap.poi q WHERE q.id <> p.id AND (p.aliases[1] = "
            "ANY(q.aliases || q.former_names || q.name_zh) OR p.former_names[1] = "
            "ANY(q.aliases || q.former_names || q.name_zh))) "
            "ORDER BY p.id, a.id LIMIT 1"
        )).one()  # fmt: skip
    structured = geocode(geo_engine, fields={"street": road, "house_number": number})[0]
    assert structured.level == "door_plate" and structured.road == road
    for name, confidence in ((alias, 0.97), (former, 0.95)):
        best = geocode(geo_engine, name)[0]
        assert (best.level, best.poi_id, best.confidence) == ("poi", poi_id, confidence)


def test_divisions_roads_and_interpolation(geo_engine: Engine) -> None:
    with geo_engine.connect() as conn:
        district = conn.execute(text(
            "SELECT code, name_zh FROM basemap.admin_division WHERE level = 'district' ORDER BY code LIMIT 1"
        )).one()  # fmt: skip
        road, low, high = conn.execute(text(
            "SELECT road_zh, min(house_number::int), max(house_number::int) FROM basemap.address "
            "WHERE source = 'demo' GROUP BY road_zh, district_code HAVING count(*) > 20 ORDER BY 1 LIMIT 1"
        )).one()  # fmt: skip
    best = geocode(geo_engine, district[1])[0]
    assert (best.level, best.district_code) == ("district", district[0])
    assert geocode(geo_engine, road)[0].level == "road"
    far = geocode(geo_engine, f"{road}{high + 400}号")[0]
    assert far.level == "road" and far.confidence < 0.6
    with geo_engine.connect() as conn:
        numbers = set(conn.execute(text(
            "SELECT house_number::int FROM basemap.address WHERE road_zh = :r"), {"r": road}).scalars())
    missing = next(n for n in range(low + 2, high, 2) if n not in numbers and n - 2 in numbers)
    between = geocode(geo_engine, f"{road}{missing}号")[0]
    assert between.level == "interpolated" and between.interpolated and between.address_id is None


def test_no_match_is_an_empty_list(geo_engine: Engine) -> None:
    assert geocode(geo_engine, "火星大道99999号") == []
    assert geocode(geo_engine, "zzqx qqzy") == []


def test_results_in_cgcs2000_and_gcj02(geo_engine: Engine) -> None:
    plate = demo_plates(geo_engine, 1)[0]
    cgcs = geocode(geo_engine, plate[1], crs="EPSG:4490")[0]
    assert cgcs.crs.endswith("/4490") and (cgcs.lon, cgcs.lat) == pytest.approx((plate[3], plate[4]), abs=1e-6)
    gcj = geocode(geo_engine, plate[1], crs="gcj02")[0]
    assert gcj.crs == "gcj02" and 100 < metres(plate[3], plate[4], gcj.lon, gcj.lat) < 1000


def test_reverse_gives_the_nearest_plate_codes_and_the_grid_cell(geo_engine: Engine) -> None:
    plate = demo_plates(geo_engine, 1)[0]
    location, matches = reverse(geo_engine, plate[3], plate[4], limit=3)
    assert matches[0].address_id == plate[0] and matches[0].distance_m == pytest.approx(0, abs=0.5)
    assert (location.district_code, location.subdistrict_code, location.community_code) == tuple(plate[5:8])
    assert location.cell_code is None  # no grid built yet
    assert [m.distance_m for m in matches] == sorted(m.distance_m for m in matches)
    with geo_engine.begin() as conn:  # a one-cell grid around the plate
        version = conn.execute(text(
            "INSERT INTO grid.grid_version (source_layer, cell_size_m, is_current, cell_count) "
            "VALUES ('test', 100, true, 1) RETURNING id")).scalar_one()
        conn.execute(text(
            "INSERT INTO grid.unit_cell (version_id, code, district_code, street_code, community_code, "
            "area_m2, geom) VALUES (:v, :code, :d, :s, :c, 1e4, ST_Multi(ST_Buffer(ST_SetSRID("
            "ST_MakePoint(:x, :y), 4326), 0.0005)))"
        ), {"v": version, "code": plate[7] + "001", "d": plate[5], "s": plate[6], "c": plate[7],
            "x": plate[3], "y": plate[4]})  # fmt: skip
    try:
        location, matches = reverse(geo_engine, plate[3], plate[4])
        assert location.cell_code == plate[7] + "001" == matches[0].cell_code
    finally:
        with geo_engine.begin() as conn:
            conn.execute(text("DELETE FROM grid.unit_cell WHERE version_id = :v"), {"v": version})
            conn.execute(text("DELETE FROM grid.grid_version WHERE id = :v"), {"v": version})
    assert reverse(geo_engine, 0.0, 0.0)[1] == []  # nothing within 250 m: empty, not an error


def test_suggest_completes_roads_and_door_plates(geo_engine: Engine) -> None:
    plate = demo_plates(geo_engine, 1, where="building IS NULL AND house_number::int >= 10")[0]
    with geo_engine.connect() as conn:
        road, number = conn.execute(text(
            "SELECT road_zh, house_number FROM basemap.address WHERE id = :i"), {"i": plate[0]}).one()
    names = suggest(geo_engine, road[:1])
    assert names and all(m.label.startswith(road[:1]) for m in names if m.confidence == 1.0)
    plates = suggest(geo_engine, f"{road}{number[0]}")
    assert plates and all(m.house_number.startswith(number[0]) for m in plates)
    assert any(m.address_id == plate[0] for m in suggest(geo_engine, f"{road}{number}", limit=50))


# ------------------------------------------------------------------------------- accuracy
def test_chinese_accuracy_on_a_perturbed_sample(geo_engine: Engine) -> None:
    with geo_engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT full_zh, ST_X(geom), ST_Y(geom) FROM basemap.address WHERE source = 'demo' "
            "ORDER BY md5(id::text) LIMIT 200")).all()  # fmt: skip
        districts = conn.execute(text(
            "SELECT name_zh FROM basemap.admin_division WHERE level = 'district'")).scalars().all()
    cases = chinese_cases([tuple(r) for r in rows], districts)
    answers = [(m[0].lon, m[0].lat) if m else None for m in geocode_many(geo_engine, [c.query for c in cases])]
    assert accuracy(cases, answers) >= 0.95


@pytest.mark.realdata
def test_western_accuracy_on_held_out_perturbed_nyc_addresses(geo_engine: Engine, nyc_held_out) -> None:
    cases = western_cases(nyc_held_out)
    answers = [(m[0].lon, m[0].lat) if m else None for m in geocode_many(geo_engine, [c.query for c in cases])]
    assert accuracy(cases, answers) >= 0.9


@pytest.mark.realdata
def test_nyc_addresses_load_and_geocode(geo_engine: Engine, nyc_held_out) -> None:
    best = geocode(geo_engine, "333 W 17th St, New York, NY 10011")[0]
    assert best.level == "door_plate" and best.district_code is None and best.source == "nyc_osm"
    assert metres(best.lon, best.lat, -74.0025156, 40.7424139) < 30
    location, near = reverse(geo_engine, best.lon, best.lat)
    assert near[0].label.startswith("333 West 17th Street") and location.district_code is None


# ----------------------------------------------------------------------------------- loader
def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_loader_converts_gcj02_parses_chinese_text_and_reports_bad_rows(geo_engine: Engine, tmp_path: Path) -> None:
    from layers.addresses import load_addresses, parse_mapping
    from spatial.errors import InvalidInput
    from spatial.webdatum import wgs84_to_gcj02

    plate = demo_plates(geo_engine, 1)[0]
    glon, glat = wgs84_to_gcj02(plate[3] + 0.001, plate[4])
    rows = [["1", "西安市测试区试验路8号2栋", glon, glat], ["2", "试验路10号", glon + 0.0002, glat],
            ["3", "没有门牌", glon, glat], ["4", "试验路12号", "", glat]]  # fmt: skip
    path = write_csv(tmp_path / "plates.csv", ["id", "addr", "x", "y"], rows)
    mapping = parse_mapping("address=addr,lon=x,lat=y")
    with pytest.raises(InvalidInput, match="nothing was loaded"):
        load_addresses(geo_engine, path, mapping=mapping, source="test_gcj", from_crs="gcj02", strict=True)
    report = load_addresses(geo_engine, path, mapping=mapping, source="test_gcj", from_crs="gcj02")
    assert (report.rows_loaded, [line for line, _ in report.bad_rows]) == (2, [4, 5])
    best = geocode(geo_engine, "试验路8号2栋")[0]
    assert best.level == "building" and best.source == "test_gcj"
    assert metres(best.lon, best.lat, plate[3] + 0.001, plate[4]) < 0.01  # GCJ-02 undone
    assert best.district_code == plate[5]  # placed in the demo's divisions
    again = load_addresses(geo_engine, path, mapping=mapping, source="test_gcj", from_crs="gcj02")
    assert again.replaced == 2
    with geo_engine.begin() as conn:
        conn.execute(text("DELETE FROM basemap.address WHERE source = 'test_gcj'"))


def test_loader_refuses_bad_mappings_and_files(geo_engine: Engine, tmp_path: Path) -> None:
    from layers.addresses import load_addresses, parse_mapping
    from spatial.errors import InvalidInput

    path = write_csv(tmp_path / "a.csv", ["n", "s", "x", "y"], [["1", "Main St", "1", "2"]])
    with pytest.raises(InvalidInput, match="unknown field"):
        parse_mapping("colour=n")
    with pytest.raises(InvalidInput, match="does not have"):
        load_addresses(geo_engine, path, mapping=parse_mapping("house_number=nope,street=s,lon=x,lat=y"))
    with pytest.raises(InvalidInput, match="house_number"):
        load_addresses(geo_engine, path, mapping=parse_mapping("street=s,lon=x,lat=y"))
    with pytest.raises(InvalidInput, match="unknown coordinate"):
        load_addresses(geo_engine, path, mapping=parse_mapping("house_number=n,street=s,lon=x,lat=y"),
                       from_crs="EPSG:999999")  # fmt: skip
    bad = write_csv(tmp_path / "b.csv", ["n", "s", "x", "y"], [["1", "Main St", "500", "2"], ["", "x", "1", "1"]])
    with pytest.raises(InvalidInput, match="is the --map right"):
        load_addresses(geo_engine, bad, mapping=parse_mapping("house_number=n,street=s,lon=x,lat=y"))


def test_loader_reads_geojson(geo_engine: Engine, tmp_path: Path) -> None:
    from layers.addresses import load_addresses, parse_mapping

    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [-73.99, 40.74]},
                 "properties": {"num": "7", "road": "Test Lane", "zip": "10001"}}]  # fmt: skip
    path = tmp_path / "a.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    report = load_addresses(geo_engine, path, mapping=parse_mapping("house_number=num,street=road,postcode=zip"),
                            source="test_geojson")  # fmt: skip
    assert report.rows_loaded == 1
    best = geocode(geo_engine, "7 Test Ln")[0]
    assert best.source == "test_geojson" and best.postcode == "10001"
    with geo_engine.begin() as conn:
        conn.execute(text("DELETE FROM basemap.address WHERE source = 'test_geojson'"))


# -------------------------------------------------------------------------------------- HTTP
def get(base: str, path: str, **params: object) -> httpx.Response:
    return httpx.get(f"{base}/api/v1/{path}", params=params, timeout=30)


def test_http_forward_reverse_suggest(geo_server: str, geo_engine: Engine) -> None:
    plate = demo_plates(geo_engine, 1)[0]
    body = get(geo_server, "geocode", q=plate[1]).json()
    assert body["type"] == "FeatureCollection" and body["parsed"]["number"]
    feature = body["features"][0]
    assert feature["properties"]["address_id"] == plate[0]
    assert feature["geometry"]["coordinates"] == pytest.approx([plate[3], plate[4]])
    with geo_engine.connect() as conn:
        road, number = conn.execute(text(
            "SELECT road_zh, house_number FROM basemap.address WHERE id = :i"), {"i": plate[0]}).one()
    structured = get(geo_server, "geocode", street=road, house_number=number).json()
    assert structured["features"][0]["properties"]["house_number"] == number
    cgcs = get(geo_server, "geocode", q=plate[1], crs="EPSG:4490").json()
    assert cgcs["crs"].endswith("/4490")
    rev = get(geo_server, "reverse", lon=plate[3], lat=plate[4], limit=2).json()
    assert rev["features"][0]["properties"]["address_id"] == plate[0]
    assert rev["location"]["community_code"] == plate[7]
    sug = get(geo_server, "suggest", q=plate[1][9:11]).json()
    assert sug["features"]
    empty = get(geo_server, "geocode", q="火星大道99999号")
    assert empty.status_code == 200 and empty.json()["features"] == []


def test_http_batch_json_csv_and_upload(geo_server: str, geo_engine: Engine) -> None:
    plates = demo_plates(geo_engine, 3)
    url = f"{geo_server}/api/v1/geocode/batch"
    payload = [plates[0][1], {"id": "b", "q": plates[1][1]}, "", "火星大道99999号"]
    result = httpx.post(url, json=payload, timeout=30).json()
    assert result["count"] == 4 and result["matched"] == 2
    assert result["results"][1]["id"] == "b" and result["results"][1]["match"]["address_id"] == plates[1][0]
    assert "empty" in result["results"][2]["error"] and result["results"][3]["match"] is None
    csv_body = "id,q\n" + "\n".join(f"{p[0]},{p[1]}" for p in plates)
    as_csv = httpx.post(url, content=csv_body.encode(), headers={"content-type": "text/csv",
                        "accept": "text/csv"}, timeout=30)  # fmt: skip
    lines = list(csv.DictReader(as_csv.text.splitlines()))
    assert [int(line["id"]) for line in lines] == [p[0] for p in plates] and lines[0]["level"]
    upload = httpx.post(url, files={"file": ("a.csv", csv_body.encode(), "text/csv")}, timeout=30).json()
    assert upload["matched"] == 3


@pytest.mark.parametrize(("path", "params", "status"), [
    ("geocode", {"q": ""}, 400),
    ("geocode", {"q": "x" * 500}, 400),
    ("geocode", {"q": "兴福路\x0188号"}, 400),
    ("geocode", {}, 400),
    ("geocode", {"q": "兴福路88号", "crs": "EPSG:3857"}, 400),
    ("geocode", {"q": "兴福路88号", "limit": "many"}, 400),
    ("geocode", {"house_number": "abc", "street": "Main"}, 400),
    ("reverse", {"lon": 200, "lat": 30}, 400),
    ("reverse", {"lon": 108, "lat": -95}, 400),
    ("reverse", {"lon": "east", "lat": 30}, 400),
    ("reverse", {"lon": 108}, 400),
    ("reverse", {"lon": 108, "lat": 34, "radius": 1e9}, 400),
    ("suggest", {}, 400),
    ("suggest", {"q": " "}, 400),
])  # fmt: skip
def test_http_bad_input_is_a_clear_4xx(geo_server: str, path: str, params: dict, status: int) -> None:
    response = get(geo_server, path, **params)
    assert response.status_code == status
    assert response.json()["description"]


def test_http_bad_batches(geo_server: str) -> None:
    url = f"{geo_server}/api/v1/geocode/batch"
    over = httpx.post(url, json=["兴福路1号"] * (BATCH_LIMIT + 1), timeout=30)
    assert over.status_code == 413 and str(BATCH_LIMIT) in over.json()["description"]
    too_big = httpx.post(url, content=b"q\n" + b"x" * 30_000, headers={"content-type": "text/csv"}, timeout=30)
    assert too_big.status_code == 413
    for content, kind in ((b"[1, 2", "application/json"), (b'{"a": 1}', "application/json"),
                          (b"\xff\xfe\x00", "text/csv"), (b"colour,size\nx,y", "text/csv"),
                          (b"[]", "application/json")):  # fmt: skip
        response = httpx.post(url, content=content, headers={"content-type": kind}, timeout=30)
        assert response.status_code == 400, content
        assert response.json()["description"]


# --------------------------------------------------------------------------- OGC Processes
def test_ogc_processes_geocode_and_reverse(geo_server: str, geo_engine: Engine) -> None:
    listed = httpx.get(f"{geo_server}/ogc/processes", params={"f": "json"}, timeout=30).json()
    assert {"geocode", "reverse-geocode"} <= {p["id"] for p in listed["processes"]}
    plate = demo_plates(geo_engine, 1)[0]
    run = httpx.post(f"{geo_server}/ogc/processes/geocode/execution",
                     json={"inputs": {"q": plate[1], "limit": 2}}, timeout=60)  # fmt: skip
    assert run.status_code == 200, run.text
    assert run.json()["features"][0]["properties"]["address_id"] == plate[0]
    back = httpx.post(f"{geo_server}/ogc/processes/reverse-geocode/execution",
                      json={"inputs": {"lon": plate[3], "lat": plate[4]}}, timeout=60).json()  # fmt: skip
    assert back["features"][0]["properties"]["address_id"] == plate[0]
    assert back["location"]["district_code"] == plate[5]
    for process, inputs in (("geocode", {"q": ""}), ("reverse-geocode", {"lon": 500, "lat": 1}),
                            ("reverse-geocode", {"lat": 1})):  # fmt: skip
        bad = httpx.post(f"{geo_server}/ogc/processes/{process}/execution", json={"inputs": inputs}, timeout=60)
        assert bad.status_code == 400, bad.text


# ------------------------------------------------------------------------------------- CLI
def onemap(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMAP_")}
    env["ONEMAP_DATABASE_URL"] = url
    return subprocess.run([sys.executable, "-m", "api.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120, cwd=PROJECT_ROOT)  # fmt: skip


def test_cli_geocode_reverse_and_load(geo_url: str, geo_engine: Engine, tmp_path: Path) -> None:
    plate = demo_plates(geo_engine, 1)[0]
    forward = onemap(geo_url, "geocode", plate[1], "--json")
    assert forward.returncode == 0, forward.stderr
    assert json.loads(forward.stdout)["features"][0]["properties"]["address_id"] == plate[0]
    back = onemap(geo_url, "geocode", "--reverse", str(plate[3]), str(plate[4]), "--json")
    assert json.loads(back.stdout)["features"][0]["properties"]["address_id"] == plate[0]
    bad = onemap(geo_url, "geocode", "--reverse", "200", "1")
    assert bad.returncode == 2 and bad.stderr.startswith("onemap: error: coordinates out of range")
    path = write_csv(tmp_path / "w.csv", ["num", "road", "x", "y"],
                     [["5", "Cli Street", "-73.99", "40.74"], ["", "Cli Street", "-73.99", "40.74"]])  # fmt: skip
    loaded = onemap(geo_url, "addresses", "load", str(path), "--map",
                    "house_number=num,street=road,lon=x,lat=y", "--source", "test_cli")  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    assert "1 of 2 rows loaded" in loaded.stderr and "line 3" in loaded.stderr
    strict = onemap(geo_url, "addresses", "load", str(path), "--map",
                    "house_number=num,street=road,lon=x,lat=y", "--source", "test_cli", "--strict")  # fmt: skip
    assert strict.returncode == 2 and "nothing was loaded" in strict.stderr
    with geo_engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM basemap.address WHERE source = 'test_cli'")).scalar() == 1
        conn.execute(text("DELETE FROM basemap.address WHERE source = 'test_cli'"))
