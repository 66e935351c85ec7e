"""Location codes (issue 17, deliverable 3): plates on lamp posts (路灯贴牌) and plus codes.

The scheme alone (round trip, every single-character substitution caught and nearly every
swap of neighbours, stable road codes); the demo city's generated plates (count against road length, near
their roads, unique, catalogued, served by OGC API Features, identical when regenerated); the
geocoder both ways over REST and as a library; a city's own plate file (GeoJSON, GeoPackage)
through ``onemap city load``; bad input; the Manhattan city's real OSM roads.
"""

from __future__ import annotations

import contextlib
import json
import random
from pathlib import Path

import geopandas as gpd
import httpx
import pytest
import shapely
from click.testing import CliRunner
from openlocationcode import openlocationcode as olc
from pyproj import Geod
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from api.app import create_app
from layers.city.load import load_city
from layers.city.profile import profile_from_dict
from layers.plates import regenerate
from spatial import location_codes, migrate
from spatial.access.principal import local_operator
from spatial.config import Settings
from spatial.db import make_engine
from spatial.errors import InvalidInput, NotFound
from spatial.geocoding import geocode
from spatial.geocoding.reverse import reverse
from spatial.incidents.filing import IncidentReport, place
from spatial.plates.placement import Spacing
from spatial.plates.scheme import (
    ALPHABET,
    assign_road_codes,
    parse_plate_code,
    plate_code,
    road_stem,
    single_substitutions,
)

GEOD = Geod(ellps="WGS84")
SPACING_M = 50.0
NEAR_ROAD_M = 15.0


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Geodesic distance between two lon/lat points."""
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


def plate_rows(engine: Engine, where: str = "TRUE", limit: int = 20) -> list[dict]:
    """Some stored plates (code, lon, lat, …), in code order."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            f"SELECT code, road_code, pole, side, road_name_zh, ST_X(geom) AS lon, ST_Y(geom) AS lat "
            f"FROM basemap.plate WHERE {where} ORDER BY code LIMIT :n"), {"n": limit}).mappings().all()  # fmt: skip
    return [dict(r) for r in rows]


def lonely_plates(engine: Engine, limit: int = 5) -> list[dict]:
    """Plates with no other plate within 12 m (reverse must find exactly them)."""
    return plate_rows(engine, "NOT EXISTS (SELECT 1 FROM basemap.plate o WHERE o.id <> plate.id AND "
                      "ST_DWithin(o.geom::geography, plate.geom::geography, 12)) AND id % 97 = 0", limit)  # fmt: skip


def plates_state(engine: Engine) -> tuple[int, str]:
    """Count and a digest of every plate (to prove nothing changed)."""
    with engine.connect() as conn:
        return tuple(conn.execute(text(
            "SELECT count(*), md5(coalesce(string_agg(code || ST_AsText(geom), ',' ORDER BY code), '')) "
            "FROM basemap.plate")).one())  # type: ignore[return-value]  # fmt: skip


@pytest.fixture(scope="module")
def client(demo_settings: Settings):
    with TestClient(create_app(demo_settings)) as test_client:
        yield test_client


# ------------------------------------------------------------------------------------ the scheme
def test_scheme_round_trip_and_forgiving_reading() -> None:
    code = plate_code("XFDL", 12, "L")
    assert code == "XFDL-012-L-7"
    parsed = parse_plate_code(code)
    assert (parsed.road, parsed.pole, parsed.side, parsed.valid, parsed.text) == (
        "XFDL",
        12,
        "L",
        True,
        code,
    )
    for written in ("xfdl-012-l-7", " XFDL 012 L 7 ", "ＸＦＤＬ－０１２－Ｌ－７"):
        assert parse_plate_code(written).text == code and parse_plate_code(written).valid
    assert plate_code("W42S", 1234, "R").startswith("W42S-1234-R-")
    for bad in ("XFDL012L7", "XFDL-12-L-7", "XFDL-012-X-7", "XFDL-000-L-7", "兴福-012-L-7"):
        with pytest.raises(InvalidInput):
            parse_plate_code(bad)


def test_every_single_substitution_is_caught_and_nearly_every_swap() -> None:
    rng = random.Random(17)
    codes = [plate_code("".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 8))),
                        rng.randint(1, 9999), rng.choice("LR")) for _ in range(60)]  # fmt: skip
    slipped: list[bool] = []  # neighbours swapped that still pass: MOD 37,36 misses a few
    for code in codes:
        positions = [i for i, ch in enumerate(code) if ch != "-"]
        for i in positions:
            for ch in ALPHABET:
                if ch == code[i]:
                    continue
                misread = code[:i] + ch + code[i + 1 :]
                with contextlib.suppress(InvalidInput):  # a letter among the pole digits: no code
                    assert not parse_plate_code(misread).valid, (code, misread)
        for a, b in zip(positions, positions[1:], strict=False):
            if b == a + 1 and code[a] != code[b]:
                swapped = code[:a] + code[b] + code[a] + code[b + 1 :]
                try:
                    slipped.append(parse_plate_code(swapped).valid)
                except InvalidInput:
                    slipped.append(False)
        # and the way back: the true code is among the valid codes one character away
        wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
        assert code in [c.text for c in single_substitutions(parse_plate_code(wrong))]
    assert sum(slipped) <= 0.01 * len(slipped)


def test_road_codes_are_initials_unique_and_stable() -> None:
    assert road_stem("兴福东路") == "XFDL" and road_stem("West 42nd Street") == "W42S"
    assert road_stem("Broadway") == "BRO" and road_stem("Avenue of the Americas") == "AOTA"
    names = [
        "兴福东路",
        "西峰东路",
        "新丰大路",
        "Xingfu Road",
        "兴福东路",
        "West 42nd Street",
        "W 42 S",
    ]
    codes = assign_road_codes(names)
    assert len(set(codes.values())) == len(codes) == len(set(names))
    assert (
        codes["兴福东路"] == "XFDL"
        and codes["新丰大路"] == "XFDL2"
        and codes["西峰东路"] == "XFDL3"
    )
    shuffled = names[::-1]
    assert assign_road_codes(shuffled) == codes


# ------------------------------------------------------------------------------------ the demo
def test_demo_city_has_plates_along_its_roads(demo_engine: Engine) -> None:
    with demo_engine.connect() as conn:
        count, distinct, roads = conn.execute(text(
            "SELECT count(*), count(DISTINCT code), count(DISTINCT road_code) FROM basemap.plate")).one()  # fmt: skip
        length_m = conn.execute(text(
            "SELECT sum(ST_Length(geom::geography)) FROM basemap.road WHERE coalesce(nullif(name_zh, ''), name_en) <> ''"
        )).scalar_one()  # fmt: skip
        names = conn.execute(text(
            "SELECT count(DISTINCT coalesce(nullif(name_zh, ''), name_en)) FROM basemap.road")).scalar_one()  # fmt: skip
        far = conn.execute(text(
            "SELECT count(*) FROM basemap.plate p WHERE NOT EXISTS (SELECT 1 FROM basemap.road r "
            "WHERE r.name_zh = p.road_name_zh AND ST_DWithin(r.geom::geography, p.geom::geography, :m))"
        ), {"m": NEAR_ROAD_M}).scalar_one()  # fmt: skip
        layer = conn.execute(text(
            "SELECT storage_table, feature_count, id_field, title_en FROM catalog.layer WHERE id = 'plates'")).one()  # fmt: skip
        sides = dict(
            conn.execute(text("SELECT side, count(*) FROM basemap.plate GROUP BY side")).all()
        )
    expected = length_m / SPACING_M
    assert abs(count - expected) <= 0.05 * expected + roads, (count, expected)
    assert distinct == count and roads == names and far == 0
    assert abs(sides["L"] - sides["R"]) <= roads
    assert (
        layer.storage_table == "plate" and layer.feature_count == count and layer.id_field == "code"
    )
    assert layer.title_en.endswith("location plates")
    for row in plate_rows(demo_engine, limit=200):
        assert parse_plate_code(row["code"]).valid


def test_plates_are_served_as_a_base_map_layer(client: TestClient, demo_engine: Engine) -> None:
    page = client.get("/ogc/collections/plates/items", params={"limit": 3, "f": "json"})
    assert page.status_code == 200, page.text
    features = page.json()["features"]
    assert len(features) == 3 and all("road_code" in f["properties"] for f in features)
    code = plate_rows(demo_engine, limit=1)[0]["code"]
    one = client.get(f"/ogc/collections/plates/items/{code}", params={"f": "json"})
    assert (
        one.status_code == 200 and one.json()["properties"]["pole"] == parse_plate_code(code).pole
    )


def test_regenerating_gives_the_same_plates(demo_engine: Engine) -> None:
    before = plates_state(demo_engine)
    summary = regenerate(demo_engine, Spacing(), principal=local_operator())
    assert summary.plates == before[0] and plates_state(demo_engine) == before


# ------------------------------------------------------------------------------------ geocoder
def test_geocode_a_plate_code(client: TestClient, demo_engine: Engine) -> None:
    for plate in plate_rows(demo_engine, "id % 211 = 0", limit=5):
        found = geocode(demo_engine, plate["code"].lower().replace("-", " "))
        assert found[0].level == "plate" and found[0].location_code == plate["code"]
        assert metres((found[0].lon, found[0].lat), (plate["lon"], plate["lat"])) < 1.0
        body = client.get("/api/v1/geocode", params={"q": plate["code"]}).json()
        assert body["parsed"] == {"location_code": plate["code"]}
        feature = body["features"][0]
        assert metres(tuple(feature["geometry"]["coordinates"]), (plate["lon"], plate["lat"])) < 1.0
        assert feature["properties"]["road"] == plate["road_name_zh"]
        with demo_engine.connect() as conn:
            point = location_codes.resolve(conn, plate["code"])
            # an incident filed with the plate code as its address is placed at the plate
            filed_at = place(conn, IncidentReport("0101", address=plate["code"]))
        assert metres(filed_at[:2], (plate["lon"], plate["lat"])) < 1.0
        assert point.kind == "plate" and point.code == plate["code"]


def test_reverse_near_a_plate_gives_that_plate(client: TestClient, demo_engine: Engine) -> None:
    plates = lonely_plates(demo_engine)
    assert plates
    for plate in plates:
        lon, lat = plate["lon"] + 0.00002, plate["lat"]  # ~2 m east
        location, _ = reverse(demo_engine, lon, lat)
        assert (
            location.nearest_plate is not None and location.nearest_plate["code"] == plate["code"]
        )
        assert location.nearest_plate["distance_m"] == pytest.approx(
            metres((lon, lat), (plate["lon"], plate["lat"])), abs=0.1
        )
        body = client.get("/api/v1/reverse", params={"lon": lon, "lat": lat}).json()
        assert body["location"]["nearest_plate"]["code"] == plate["code"]
        assert (
            olc.decode(body["location"]["plus_code"]).latitudeLo
            <= lat
            <= olc.decode(body["location"]["plus_code"]).latitudeHi
        )


def test_plus_codes_round_trip(client: TestClient, demo_engine: Engine) -> None:
    with demo_engine.connect() as conn:
        centre = conn.execute(
            text("SELECT view->'center' FROM basemap.version WHERE is_current")
        ).scalar()
        box = conn.execute(text("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                                "(SELECT ST_Extent(geom) AS e FROM basemap.admin_division) x")).one()  # fmt: skip
    ref = centre or [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]
    for plate in plate_rows(demo_engine, "id % 101 = 0", limit=5):
        point = (plate["lon"], plate["lat"])
        full = client.get("/api/v1/reverse", params={"lon": point[0], "lat": point[1]}).json()[
            "location"
        ]["plus_code"]
        area = olc.decode(full)
        half_diagonal = (
            metres((area.longitudeLo, area.latitudeLo), (area.longitudeHi, area.latitudeHi)) / 2
        )
        found = geocode(demo_engine, full)[0]
        assert found.level == "plus_code" and metres((found.lon, found.lat), point) <= half_diagonal
        short = olc.shorten(full, ref[1], ref[0])
        body = client.get("/api/v1/geocode", params={"q": f"{short} 示范市"}).json()
        assert body["features"][0]["properties"]["location_code"] == full
        assert metres(tuple(body["features"][0]["geometry"]["coordinates"]), point) <= half_diagonal


def test_bad_codes_are_refused_and_change_nothing(client: TestClient, demo_engine: Engine) -> None:
    before = plates_state(demo_engine)
    plate = plate_rows(demo_engine, limit=1)[0]["code"]
    parsed = parse_plate_code(plate)
    wrong_check = plate[:-1] + next(ch for ch in ALPHABET if ch != parsed.check)
    answer = client.get("/api/v1/geocode", params={"q": wrong_check})
    assert answer.status_code == 400
    assert "check character does not match: did you mean" in answer.text and plate in answer.text
    digit = plate.index("-") + 3  # the last digit of the pole number
    misread = plate[:digit] + str((int(plate[digit]) + 1) % 10) + plate[digit + 1 :]
    answer = client.get("/api/v1/geocode", params={"q": misread})
    assert answer.status_code == 400 and plate in answer.text
    unknown = plate_code("QQQQQQ", 999, "R")
    answer = client.get("/api/v1/geocode", params={"q": unknown})
    assert answer.status_code == 404 and f"no plate has the code {unknown}" in answer.text
    assert geocode(demo_engine, unknown) == []
    with demo_engine.connect() as conn, pytest.raises(NotFound):
        location_codes.resolve(conn, unknown)
    with pytest.raises(InvalidInput, match="check character"):
        geocode(demo_engine, wrong_check)
    with demo_engine.connect() as conn, pytest.raises(InvalidInput):
        location_codes.resolve(conn, "<script>alert(1)</script>")
    script = client.get("/api/v1/geocode", params={"q": "XFDL-012-L-<script>alert(1)</script>"})
    assert script.status_code < 500 and (
        script.status_code >= 400 or script.json()["features"] == []
    )
    assert client.get("/api/v1/geocode", params={"q": plate + "-" * 600}).status_code == 400
    assert client.get("/api/v1/geocode", params={"q": "8P6C7W6R+2Z"}).status_code in (200, 400)
    assert plates_state(demo_engine) == before


def test_cli_checks_a_code() -> None:
    from api.cli.main import main

    ok = CliRunner().invoke(main, ["plates", "check", "xfdl 012 l 7"])
    assert ok.exit_code == 0 and json.loads(ok.output)["code"] == "XFDL-012-L-7"
    bad = CliRunner().invoke(main, ["plates", "check", "XFDL-012-L-3"])
    assert bad.exit_code != 0 and "XFDL-012-L-7" in bad.output


# ------------------------------------------------------------------------------------ own file
def small_city(folder: Path, plates_file: str | None) -> dict:
    """A one-district city with two named roads (and a plate file when named)."""
    west, south = 108.90, 34.20
    district = shapely.box(west, south, west + 0.02, south + 0.02)
    gpd.GeoDataFrame({"code": ["610101"], "name": ["测试区"]}, geometry=[district], crs=4326).to_file(
        folder / "divisions.geojson", driver="GeoJSON")  # fmt: skip
    roads = [shapely.LineString([(west + 0.002, south + 0.01), (west + 0.018, south + 0.01)]),
             shapely.LineString([(west + 0.01, south + 0.002), (west + 0.01, south + 0.018)])]  # fmt: skip
    gpd.GeoDataFrame({"name": ["兴福东路", "长安路"]}, geometry=roads, crs=4326).to_file(
        folder / "roads.geojson", driver="GeoJSON")  # fmt: skip
    profile = {
        "code": "plates-town", "name": {"zh": "贴牌镇", "en": "Plate Town"}, "crs": "EPSG:4326",
        "divisions": {"levels": [{"level": "district", "source": {"path": "divisions.geojson"},
                                  "code": "code", "name_zh": "name"}]},
        "roads": {"source": {"path": "roads.geojson"}, "name_zh": "name"},
    }  # fmt: skip
    if plates_file:
        profile["plates"] = {"source": {"path": plates_file}, "code_field": "plate_code"}
    return profile


def test_a_city_brings_its_own_plate_file(make_database, tmp_path: Path) -> None:
    west, south = 108.90, 34.20
    points = [shapely.Point(west + 0.003 + 0.001 * i, south + 0.01003) for i in range(6)]
    codes = [plate_code("XFDL", i + 1, "L") for i in range(6)]
    codes[4] = codes[4][:-1] + ("0" if codes[4][-1] != "0" else "1")  # a wrong check character
    codes[5] = codes[0]  # used twice
    frame = gpd.GeoDataFrame({"plate_code": codes}, geometry=points, crs=4326)
    frame.to_file(tmp_path / "plates.geojson", driver="GeoJSON")
    frame.to_file(tmp_path / "plates.gpkg", driver="GPKG")
    url = make_database("onemap_plates")
    engine = make_engine(url, pool_size=2)
    migrate.upgrade(engine)
    settings = Settings(database_url=url, var_dir=tmp_path / "var")
    try:
        generated = load_city(engine, profile_from_dict(small_city(tmp_path, None), folder=tmp_path),
                              principal=local_operator(), settings=settings)  # fmt: skip
        # two roads of ~1.5 km and ~1.8 km: one plate per 50 m
        assert 55 <= generated.counts["plates"] <= 70, generated.counts
        for name in ("plates.geojson", "plates.gpkg"):
            report = load_city(engine, profile_from_dict(small_city(tmp_path, name), folder=tmp_path),
                               principal=local_operator(), settings=settings)  # fmt: skip
            assert report.counts["plates"] == 4
            warning = next(f for f in report.findings if f.section == "plates")
            assert "2 plates left out" in warning.message
            stored = plate_rows(engine)
            assert [p["code"] for p in stored] == sorted(codes[:4])
            with engine.connect() as conn:
                roads = set(
                    conn.execute(text("SELECT DISTINCT road_name_zh FROM basemap.plate")).scalars()
                )
            assert roads == {"兴福东路"}
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------------ Manhattan
def test_manhattan_gets_plates_with_unique_codes(manhattan_city) -> None:
    engine = manhattan_city.engine
    with engine.connect() as conn:
        count, distinct, roads = conn.execute(text(
            "SELECT count(*), count(DISTINCT code), count(DISTINCT road_code) FROM basemap.plate")).one()  # fmt: skip
        names, length_m = conn.execute(text(
            "SELECT count(DISTINCT coalesce(nullif(name_zh, ''), name_en)), sum(ST_Length(geom::geography)) "
            "FROM basemap.road WHERE coalesce(nullif(name_zh, ''), name_en) <> ''")).one()  # fmt: skip
        far = conn.execute(text(
            "SELECT count(*) FROM basemap.plate p WHERE NOT EXISTS (SELECT 1 FROM basemap.road r "
            "WHERE ST_DWithin(r.geom::geography, p.geom::geography, :m))"), {"m": NEAR_ROAD_M}).scalar_one()  # fmt: skip
        broadway = conn.execute(text(
            "SELECT DISTINCT road_code FROM basemap.plate WHERE road_name_en = 'Broadway'")).scalars().all()  # fmt: skip
    expected = length_m / SPACING_M
    # short named pieces (links, OSM ways cut at the extract's edge) shorter than half a spacing get none
    assert expected * 0.8 - names <= count <= expected * 1.05, (count, expected, names)
    assert count > 1_000 and distinct == count and far == 0
    assert 0.5 * names < roads <= names
    assert broadway == ["BRO"]
    plate = plate_rows(engine, "road_name_en = 'Broadway'", limit=1)[0]
    body = httpx.get(
        f"{manhattan_city.base}/api/v1/geocode", params={"q": plate["code"]}, timeout=30
    ).json()
    assert (
        metres(tuple(body["features"][0]["geometry"]["coordinates"]), (plate["lon"], plate["lat"]))
        < 1.0
    )
