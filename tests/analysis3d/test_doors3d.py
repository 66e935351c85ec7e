"""The 3D analyses through their doors on a small synthetic city of its own database.

Three boxes near CENTRE (local metres east/north): A 20×20 m, 30 m high at (0, 0); B 10×10 m,
60 m at (200, 0); C 10×10 m, 10 m at (-200, 0). Zones: Z1 (limit 50 m) over all three, Z2
(limit 25 m) over A only, and a department-only zone layer that other callers must not see.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from api.app import create_app
from layers.analysis3d import run_analysis
from layers.catalog import LayerSpec, upsert_department
from layers.vector import load_vector_file
from spatial.access.principal import local_operator
from spatial.access.tokens import create_token
from spatial.analysis3d.scene import LocalFrame
from spatial.config import Settings
from spatial.db import make_engine
from spatial.errors import InvalidInput

CENTRE = (108.94, 34.26)
FRAME = LocalFrame(*CENTRE)
BOXES = {"A": ((0.0, 0.0), 10.0, 30.0), "B": ((200.0, 0.0), 5.0, 60.0), "C": ((-200.0, 0.0), 5.0, 10.0)}


def lonlat(x: float, y: float) -> list[float]:
    lon, lat = FRAME.back([x], [y])
    return [float(lon[0]), float(lat[0])]


def local_box(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    return FRAME.to_lonlat(np.array([shapely.box(x0, y0, x1, y1)]))[0]


@dataclass
class City:
    engine: Engine
    client: TestClient
    editor: dict[str, str]
    viewer_other: dict[str, str]
    ids: dict[str, int]


def _load(engine: Engine, folder: Path, name: str, frame: gpd.GeoDataFrame, visibility: str = "public") -> None:
    path = folder / f"{name}.geojson"
    frame.to_file(path)
    spec = LayerSpec(name, name, name, "planning", visibility=visibility)
    load_vector_file(engine, path, spec, principal=local_operator())


@pytest.fixture(scope="module")
def city(make_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    from spatial import migrate

    url = make_database("onemap_3d")
    engine = make_engine(url, pool_size=2)
    migrate.upgrade(engine)
    folder = tmp_path_factory.mktemp("city3d")
    with engine.begin() as conn:
        upsert_department(conn, "planning", "自然资源和规划局", "Planning")
        upsert_department(conn, "water", "水务局", "Water")
        conn.execute(text("INSERT INTO basemap.admin_division (code, level, name_zh, name_en, geom) VALUES "
                          "('610101', 'district', '区', 'District', ST_Multi(ST_GeomFromText(:wkt, 4326)))"),
                     {"wkt": local_box(-1000, -1000, 1000, 1000).wkt})  # fmt: skip
    shapes = [local_box(x - w, y - w, x + w, y + w) for (x, y), w, _ in BOXES.values()]
    _load(engine, folder, "t3d_buildings", gpd.GeoDataFrame(
        {"name": list(BOXES), "height_m": [h for *_, h in BOXES.values()], "floors": [10, 20, 3]},
        geometry=shapes, crs=4326))  # fmt: skip
    zones = gpd.GeoDataFrame({"name": ["Z1", "Z2"], "max_height_m": [50.0, 25.0]},
                             geometry=[local_box(-300, -50, 300, 50), local_box(-20, -20, 20, 20)], crs=4326)  # fmt: skip
    _load(engine, folder, "t3d_zones", zones)
    _load(engine, folder, "t3d_secret_zones", zones, visibility="department")
    with engine.connect() as conn:
        table = conn.execute(text("SELECT storage_table FROM catalog.layer WHERE id = 't3d_buildings'")).scalar_one()
        ids = dict(conn.execute(text(f'SELECT name, id FROM thematic."{table}"')).all())  # noqa: S608
    editor = create_token(engine, department_code="planning", role="editor", name="ed", actor=local_operator()).secret
    other = create_token(engine, department_code="water", role="viewer", name="wv", actor=local_operator()).secret
    settings = Settings(database_url=url, var_dir=folder / "var", port=0)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield City(engine, client, {"Authorization": f"Bearer {editor}"}, {"Authorization": f"Bearer {other}"}, ids)
    engine.dispose()


def _direct_violations(engine: Engine) -> dict[int, float]:
    """The expected answer, written independently: per building the least limit of the zones whose
    interior it shares, and its height above that."""
    with engine.connect() as conn:
        tables = dict(conn.execute(text("SELECT id, storage_table FROM catalog.layer WHERE id LIKE 't3d_%'")).all())
        rows = conn.execute(text(f"""
            SELECT b.id, b.height_m - min(z.max_height_m) FROM thematic."{tables['t3d_buildings']}" b
            JOIN thematic."{tables['t3d_zones']}" z ON ST_Relate(b.geom, z.geom, 'T********')
            GROUP BY b.id, b.height_m HAVING b.height_m > min(z.max_height_m)""")).all()  # noqa: S608
    return {int(r[0]): round(float(r[1]), 2) for r in rows}


def test_height_check_finds_exactly_the_buildings_over_the_strictest_limit(city: City) -> None:
    answer = city.client.get("/api/v1/3d/height-check", params={"zones": "t3d_zones", "layer": "t3d_buildings"})
    assert answer.status_code == 200, answer.text
    found = {f["properties"]["building_id"]: f["properties"]["excess_m"] for f in answer.json()["features"]}
    assert found == _direct_violations(city.engine) == {city.ids["A"]: 5.0, city.ids["B"]: 10.0}
    assert answer.json()["checked"] == 3


def test_height_check_of_a_proposed_tower_against_in_memory_zones(city: City) -> None:
    tower = {"type": "Feature", "geometry": shapely.geometry.mapping(local_box(-5, -5, 5, 5)),
             "properties": {"height_m": 80, "id": "tower"}}  # fmt: skip
    zones = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": shapely.geometry.mapping(local_box(-300, -50, 300, 50)),
         "properties": {"limit": 70}},
        {"type": "Feature", "geometry": shapely.geometry.mapping(local_box(-20, -20, 20, 20)),
         "properties": {"limit": 45}}]}  # fmt: skip
    answer = city.client.post("/api/v1/3d/height-check", json={"zones": zones, "limit_field": "limit", "proposed": tower})
    assert answer.status_code == 200, answer.text
    [violation] = answer.json()["features"]
    assert violation["properties"]["excess_m"] == 35.0 and violation["properties"]["building_id"] == "tower"


def test_sunlight_north_of_a_building_and_in_the_open(city: City) -> None:
    points = [lonlat(0, 25), lonlat(600, 600)]
    answer = city.client.get("/api/v1/3d/sunlight", params={
        "points": ";".join(f"{lon},{lat}" for lon, lat in points), "layer": "t3d_buildings", "year": "2025",
        "step": "5"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    shaded, open_ = (f["properties"] for f in answer.json()["features"])
    assert open_["hours"] == 8.0 and open_["spells"] == ["08:00-16:00"] and open_["passed"]
    assert shaded["hours"] < 8.0
    assert answer.json()["date"] == "2025-01-20"


def test_a_proposed_tower_shades_a_neighbour(city: City) -> None:
    point = {"lon": lonlat(400, 60)[0], "lat": lonlat(400, 60)[1], "facing": 180, "id": "home"}
    tower = {"type": "Polygon", "coordinates": shapely.geometry.mapping(local_box(390, 0, 410, 20))["coordinates"],
             "height_m": 100}  # fmt: skip
    inputs = {"points": [point], "layer": "t3d_buildings", "year": 2025, "step": 1}
    before = run_analysis(city.engine, "sunlight", inputs, caller=None)["features"][0]["properties"]
    after = run_analysis(city.engine, "sunlight", {**inputs, "proposed": tower}, caller=None)["features"][0]["properties"]
    assert before["hours"] == 8.0
    assert after["hours"] < before["hours"]


def test_line_of_sight_blocked_by_the_known_building(city: City) -> None:
    a, b = lonlat(0, -60), lonlat(0, 60)
    blocked = city.client.get("/api/v1/3d/line-of-sight", params={"a": f"{a[0]},{a[1]},1.6", "b": f"{b[0]},{b[1]},1.6",
                                                                   "layer": "t3d_buildings"}).json()  # fmt: skip
    assert not blocked["visible"] and blocked["blocking"] == [city.ids["A"]]
    walls = [f["properties"]["distance_m"] for f in blocked["features"] if f["properties"]["kind"] == "obstruction"]
    assert walls == pytest.approx([50.0, 70.0], abs=0.5)
    c = lonlat(60, 60)
    clear = city.client.get("/api/v1/3d/line-of-sight", params={"a": f"{a[0]},{a[1]},1.6", "b": f"{c[0]},{c[1]},1.6",
                                                                 "layer": "t3d_buildings"}).json()  # fmt: skip
    assert clear["visible"] and clear["blocking"] == []


def test_viewshed_hides_the_cells_behind_the_tall_building(city: City) -> None:
    observer = lonlat(0, -100)
    answer = city.client.post("/api/v1/3d/viewshed", json={"observer": observer, "radius": 250, "resolution": 5,
                                                          "layer": "t3d_buildings"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    visible, hidden = (shapely.geometry.shape(f["geometry"]) for f in answer.json()["features"])
    behind, beside = shapely.Point(*lonlat(0, 60)), shapely.Point(*lonlat(80, 60))
    assert hidden.contains(behind) and not visible.contains(behind)
    assert visible.contains(beside) and not hidden.contains(beside)


def test_save_as_keeps_the_answer_through_the_write_gate(city: City) -> None:
    body = {"points": [lonlat(0, 25), lonlat(600, 600)], "layer": "t3d_buildings", "year": 2025, "step": 10,
            "save_as": "t3d_sun"}  # fmt: skip
    assert city.client.post("/api/v1/3d/sunlight", json=body).status_code == 401
    saved = city.client.post("/api/v1/3d/sunlight", json=body, headers=city.editor)
    assert saved.status_code == 201, saved.text
    assert saved.headers["Location"].endswith("/api/v1/layers/t3d_sun")
    with city.engine.connect() as conn:
        assert conn.execute(text("SELECT department_code FROM catalog.layer WHERE id = 't3d_sun'")).scalar() == "planning"


def test_save_as_for_another_department_is_refused_by_the_write_gate(city: City) -> None:
    body = {"points": [lonlat(0, 25)], "layer": "t3d_buildings", "year": 2025, "step": 10,
            "save_as": {"name": "t3d_sun_water", "department": "water"}}  # fmt: skip
    refused = city.client.post("/api/v1/3d/sunlight", json=body, headers=city.editor)
    assert refused.status_code == 403, refused.text
    with city.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM catalog.layer WHERE id = 't3d_sun_water'")).scalar() == 0
    odd = city.client.post("/api/v1/3d/sunlight", json={**body, "save_as": {"name": "t3d_x", "owner": "water"}},
                           headers=city.editor)  # fmt: skip
    assert odd.status_code == 400 and "unknown field" in odd.text


@pytest.mark.parametrize(("operation", "inputs", "rows"), [
    ("line-of-sight", {"a": lonlat(0, -60), "b": lonlat(0, 60)}, 1),
    ("viewshed", {"observer": lonlat(0, -100), "radius": 120, "resolution": 10}, 2),
    ("height-check", {"zones": "t3d_zones"}, 2),
])  # fmt: skip
def test_every_answer_can_be_saved_as_a_layer(city: City, operation: str, inputs: dict, rows: int) -> None:
    name = f"t3d_saved_{operation.replace('-', '_')}"
    saved = city.client.post(f"/api/v1/3d/{operation}", json={**inputs, "layer": "t3d_buildings", "save_as": name},
                             headers=city.editor)  # fmt: skip
    assert saved.status_code == 201, saved.text
    items = city.client.get(f"/ogc/collections/{name}/items", params={"f": "json"}, headers=city.editor)
    assert items.status_code == 200 and len(items.json()["features"]) == rows


def test_a_hidden_zone_layer_is_answered_as_a_missing_one(city: City) -> None:
    hidden = city.client.get("/api/v1/3d/height-check", params={"zones": "t3d_secret_zones"}, headers=city.viewer_other)
    missing = city.client.get("/api/v1/3d/height-check", params={"zones": "t3d_nowhere"}, headers=city.viewer_other)
    assert hidden.status_code == missing.status_code == 404
    own = city.client.get("/api/v1/3d/height-check", params={"zones": "t3d_secret_zones", "layer": "t3d_buildings"},
                          headers=city.editor)  # fmt: skip
    assert own.status_code == 200


SCRIPT = "<script>alert(1)</script>"
BAD_GETS = [
    ("sunlight", {"points": "200,34"}), ("sunlight", {"points": "10,10"}), ("sunlight", {"points": SCRIPT}),
    ("sunlight", {"points": "108.94,34.26", "step": "0"}), ("sunlight", {"points": "108.94,34.26", "step": "7"}),
    ("sunlight", {"points": "108.94,34.26", "year": "99999"}), ("sunlight", {"points": "108.94,34.26", "date": "2025-02-30"}),
    ("sunlight", {"points": "108.94,34.26", "day": "midsummer"}), ("sunlight", {"points": "108.94,34.26", "radius": "1e9"}),
    ("sunlight", {"points": "108.94,34.26", "rule": SCRIPT}), ("sunlight", {"points": "nan,inf"}),
    ("line-of-sight", {"a": "108.94,34.26"}), ("line-of-sight", {"a": "108.94,34.26,1e400", "b": "108.94,34.26"}),
    ("viewshed", {"observer": "108.94,34.26", "radius": "5000"}),
    ("viewshed", {"observer": "108.94,34.26", "radius": "1000", "resolution": "1"}),
    ("viewshed", {"observer": SCRIPT}), ("height-check", {}), ("height-check", {"zones": SCRIPT}),
    ("height-check", {"zones": "t3d_zones", "limit_field": "name"}),
    ("height-check", {"zones": "t3d_zones", "layer": "t3d_buildings", "height_field": "nowhere"}),
]  # fmt: skip


@pytest.mark.parametrize(("operation", "params"), BAD_GETS)
def test_bad_input_is_a_4xx_at_the_rest_door(city: City, operation: str, params: dict[str, str]) -> None:
    answer = city.client.get(f"/api/v1/3d/{operation}", params=params)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)
    assert "<script>" not in answer.text


BAD_BODIES = [
    ("sunlight", {"points": [[108.94, 34.26]] * 501}),
    ("sunlight", {"points": [[108.94, 34.26]] * 400, "step": 0.5}),
    ("sunlight", {"points": [{"lon": 108.94, "lat": 34.26, "facing": 400}]}),
    ("sunlight", {"points": [{"lon": 108.94, "lat": 34.26, "id": SCRIPT}]}),
    ("sunlight", {"points": [[108.94, 34.26]], "proposed": {"type": "Polygon", "coordinates": [[[1e400, 0]]]}}),
    ("height-check", {"zones": {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
                                                                           "geometry": None}]}}),
    ("viewshed", {"observer": [108.94, 34.26], "save_as": {"name": SCRIPT, "visibility": "public"}}),
    ("nowhere", {}),
]  # fmt: skip


@pytest.mark.parametrize(("operation", "body"), BAD_BODIES)
def test_bad_input_is_a_4xx_at_the_post_door(city: City, operation: str, body: dict) -> None:
    content = json.dumps(body, allow_nan=True)  # infinity as the bare token some clients send
    answer = city.client.post(f"/api/v1/3d/{operation}", content=content,
                              headers={**city.editor, "Content-Type": "application/json"})
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)


@pytest.mark.parametrize("process", ["height-check", "sunlight", "line-of-sight", "viewshed"])
def test_processes_answer_and_refuse_like_the_rest_door(city: City, process: str) -> None:
    inputs = {"height-check": {"zones": "t3d_zones", "layer": "t3d_buildings"},
              "sunlight": {"points": [lonlat(600, 600)], "layer": "t3d_buildings", "year": 2025, "step": 5},
              "line-of-sight": {"a": lonlat(0, -60), "b": lonlat(0, 60), "layer": "t3d_buildings"},
              "viewshed": {"observer": lonlat(0, -100), "radius": 100, "layer": "t3d_buildings"}}[process]  # fmt: skip
    good = city.client.post(f"/ogc/processes/{process}/execution", json={"inputs": inputs})
    assert good.status_code == 200, good.text
    rest = city.client.post(f"/api/v1/3d/{process}", json=inputs).json()
    assert good.json()["features"] == rest["features"]
    bad = city.client.post(f"/ogc/processes/{process}/execution", json={"inputs": {**inputs, "layer": SCRIPT}})
    assert 400 <= bad.status_code < 500, bad.text


def test_nothing_is_changed_by_bad_input(city: City) -> None:
    with city.engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM catalog.layer")).scalar()
    city.client.post("/api/v1/3d/viewshed", json={"observer": "nan", "save_as": "t3d_never"}, headers=city.editor)
    with city.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM catalog.layer")).scalar() == before


def test_library_refuses_unknown_operations() -> None:
    with pytest.raises(InvalidInput):
        run_analysis(None, "shadow-volume", {}, caller=None)  # type: ignore[arg-type]


def test_analyses_run_in_a_render_worker_held_to_the_time_budget(city: City, tmp_path: Path) -> None:
    """A 3D analysis is work of seconds for the CPU: it runs in a render worker (``api.workers``), not
    in the server's threads, so the process time budget holds it; over budget it is killed (503 with
    Retry-After) and the server goes on answering."""
    sunlight = {"points": [lonlat(0, 25)], "layer": "t3d_buildings", "year": 2025, "step": 1}
    assert city.client.post("/api/v1/3d/sunlight", json=sunlight).status_code == 200
    assert city.client.app.state.render_pool.worker_pids(), "the analysis ran in a worker process"
    url = city.engine.url.render_as_string(hide_password=False)
    tight = Settings(database_url=url, var_dir=tmp_path / "var", port=0, process_timeout_s=0.001)
    with TestClient(create_app(tight), raise_server_exceptions=False) as client:
        over = client.post("/api/v1/3d/sunlight", json=sunlight)
        assert over.status_code == 503 and over.headers.get("Retry-After"), over.text
        assert client.get("/api/v1/3d/line-of-sight", params={"a": "x"}).status_code == 400
        assert client.get("/health").status_code == 200
