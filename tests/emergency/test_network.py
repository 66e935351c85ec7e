"""Network analysis on the small demo city: every door (REST GET/POST, OGC API Processes, the client),
the prepared graph (built once, rebuilt when the roads change) and bad input (4xx, nothing changed).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from sqlalchemy import Engine, text

from spatial import migrate
from spatial.access.principal import local_operator
from spatial.access.tokens import create_token
from spatial.db import make_engine
from spatial.errors import InvalidInput
from spatial.network import prepared, services
from spatial.network.services import Candidate
from tests.fingerprint import fingerprint


@pytest.fixture(scope="module")
def nodes(demo_engine: Engine) -> list[tuple[float, float]]:
    """Routable node points of the demo roads (spread over the city)."""
    prepared.refresh_graph(demo_engine)
    with demo_engine.connect() as conn:
        rows = conn.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM network.node WHERE routable ORDER BY id")).all()
    return [(float(x), float(y)) for x, y in rows[:: max(1, len(rows) // 60)]]


@pytest.fixture(scope="module")
def fire_stations(demo_engine: Engine) -> list[Candidate]:
    with demo_engine.connect() as conn:
        rows = conn.execute(text("SELECT id, ST_X(geom), ST_Y(geom) FROM thematic.emergency_facility "
                                 "WHERE kind = 'fire_station' ORDER BY id")).all()  # fmt: skip
    return [Candidate(int(i), float(x), float(y)) for i, x, y in rows]


@pytest.fixture(scope="module")
def editor(demo_engine: Engine) -> dict[str, str]:
    issued = create_token(demo_engine, department_code="emergency", role="editor", name="network editor",
                          actor=local_operator())  # fmt: skip
    return {"Authorization": f"Bearer {issued.secret}"}


def pt(p: tuple[float, float]) -> str:
    return f"{p[0]},{p[1]}"


# ------------------------------------------------------------------------------ the prepared graph
@pytest.fixture(scope="module")
def square(make_database) -> Iterator[Engine]:
    """A migrated database with three streets of a square (two-way)."""
    engine = make_engine(make_database("onemap_net_square"), pool_size=2)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        for number, (x0, y0, x1, y1) in enumerate([(0, 0, 0, 1), (0, 1, 1, 1), (1, 1, 1, 0)], start=1):
            conn.execute(
                text("INSERT INTO basemap.road (id, name_zh, name_en, road_class, lanes, speed_kmh, oneway, geom) "
                     "VALUES (:id, 'r', 'r', 'residential', 1, 36, 0, ST_SetSRID(ST_MakeLine("
                     "ST_MakePoint(-73.99 + :x0 * 0.004, 40.75 + :y0 * 0.004), "
                     "ST_MakePoint(-73.99 + :x1 * 0.004, 40.75 + :y1 * 0.004)), 4326))"),
                {"id": number, "x0": x0, "y0": y0, "x1": x1, "y1": y1},
            )  # fmt: skip
    yield engine
    engine.dispose()


def test_the_graph_is_built_at_the_commit_of_a_road_write_and_reused(square: Engine) -> None:
    with square.begin() as conn:
        built = prepared.ensure_graph(conn)
    assert not built.rebuilt and built.nodes == 4 and built.edges == 3 and built.routable_nodes == 4
    with square.begin() as conn:
        again = prepared.ensure_graph(conn)
    assert not again.rebuilt and again.road_stamp == built.road_stamp
    with square.begin() as conn:  # a fourth side closes the square: the trigger rebuilds at commit
        conn.execute(text("INSERT INTO basemap.road (id, name_zh, name_en, road_class, lanes, speed_kmh, oneway, geom) "
                          "VALUES (4, 'r', 'r', 'residential', 1, 36, 1, ST_SetSRID(ST_MakeLine("
                          "ST_MakePoint(-73.99, 40.75), ST_MakePoint(-73.986, 40.75)), 4326))"))  # fmt: skip
    with square.begin() as conn:
        after = prepared.ensure_graph(conn)
        one_way = conn.execute(text("SELECT cost > 0, reverse_cost FROM network.edge WHERE id = 4")).one()
    assert not after.rebuilt and after.edges == 4 and after.road_stamp > built.road_stamp
    assert one_way == (True, -1)


def test_a_rollback_that_empties_and_refills_the_roads_commits_with_its_graph(square: Engine) -> None:
    with square.begin() as conn:  # what layers.city.versions.restore_version does: TRUNCATE, then INSERT
        conn.execute(text("CREATE TEMP TABLE kept AS TABLE basemap.road"))
        conn.execute(text("TRUNCATE basemap.road"))
        conn.execute(text("INSERT INTO basemap.road SELECT * FROM kept WHERE id <> 2"))
    with square.begin() as conn:
        info = prepared.ensure_graph(conn)
    # two two-way sides joined by the one-way bottom: the largest strongly connected part has 2 nodes
    assert not info.rebuilt and info.edges == 3 and info.routable_nodes == 2
    with square.begin() as conn:
        conn.execute(text("INSERT INTO basemap.road (id, name_zh, name_en, road_class, lanes, speed_kmh, oneway, geom) "
                          "VALUES (2, 'r', 'r', 'residential', 1, 36, 0, ST_SetSRID(ST_MakeLine("
                          "ST_MakePoint(-73.99, 40.754), ST_MakePoint(-73.986, 40.754)), 4326))"))  # fmt: skip
    with square.begin() as conn:
        assert prepared.ensure_graph(conn).edges == 4


def test_a_stale_graph_is_rebuilt_by_the_next_request(square: Engine) -> None:
    with square.begin() as conn:
        conn.execute(text("UPDATE network.road_stamp SET stamp = stamp + 1"))  # as if roads changed unseen
    with square.begin() as conn:
        info = prepared.ensure_graph(conn)
    assert info.rebuilt and info.edges == 4
    with square.begin() as conn:
        assert not prepared.ensure_graph(conn).rebuilt


def test_time_of_day_factors_slow_a_road_class(square: Engine) -> None:
    a, b = (-73.99, 40.75), (-73.986, 40.754)
    with square.begin() as conn:
        free = services.route(conn, a, b).seconds
        conn.execute(text("INSERT INTO network.speed_factor (road_class, hour, factor) VALUES ('residential', 8, 0.5)"))
        rush = services.route(conn, a, b, hour=8).seconds
        other = services.route(conn, a, b, hour=9).seconds
        conn.rollback()
    assert rush == pytest.approx(2 * free, rel=1e-6) and other == pytest.approx(free, rel=1e-9)


# ------------------------------------------------------------------------------ services on the demo
def test_closest_agrees_with_the_od_matrix_of_the_same_graph(demo_engine: Engine, nodes, fire_stations) -> None:
    target = (nodes[10][0] + 0.0003, nodes[10][1] + 0.0002)
    with demo_engine.begin() as conn:
        found = services.closest(conn, target, fire_stations, k=len(fire_stations))
        matrix = services.od_matrix(conn, [(c.lon, c.lat) for c in fire_stations], [target])
        back = services.closest(conn, target, fire_stations, k=3, towards_target=False)
        reverse = services.od_matrix(conn, [target], [(c.lon, c.lat) for c in fire_stations])
    by_id = {c.id: matrix[i, 0] for i, c in enumerate(fire_stations)}
    assert [r.id for r in found.items] == sorted(by_id, key=lambda i: (by_id[i], str(i)))
    for r in found.items:
        assert r.seconds == pytest.approx(by_id[r.id], abs=0.01)
    assert [r.seconds for r in found.items] == sorted(r.seconds for r in found.items)
    from_target = sorted(reverse[0])[:3]
    assert [r.seconds for r in back.items] == pytest.approx(from_target, abs=0.01)
    assert found.unreachable == [] and 0 <= found.snap_m < 100


def test_candidates_off_the_network_are_reported_unreachable(demo_engine: Engine, nodes) -> None:
    far = Candidate("sea", 0.0, 0.0)
    near = Candidate("near", *nodes[3])
    with demo_engine.begin() as conn:
        found = services.closest(conn, nodes[5], [far, near], k=2)
        limited = services.closest(conn, nodes[5], [near], k=1, max_seconds=0.001)
    assert [r.id for r in found.items] == ["near"] and found.unreachable == ["sea"]
    assert limited.items == [] and limited.over_limit == ["near"]


def test_route_seconds_match_the_matrix_and_the_line_joins_the_ends(demo_engine: Engine, nodes) -> None:
    a, b = nodes[0], nodes[40]
    with demo_engine.begin() as conn:
        found = services.route(conn, a, b)
        matrix = services.od_matrix(conn, [a], [b])
    assert found.seconds == pytest.approx(matrix[0, 0], abs=0.01)
    line = found.geometry["coordinates"]
    assert found.geometry["type"] == "LineString" and line[0] == pytest.approx(list(a), abs=1e-6)
    assert line[-1] == pytest.approx(list(b), abs=1e-6) and found.meters > 0


def test_service_area_bands_are_nested_and_cover_their_nodes(demo_engine: Engine, nodes) -> None:
    with demo_engine.begin() as conn:
        area = services.service_area(conn, nodes[20], [2, 4])
        small, large = area.bands
        assert set(small.node_ids) < set(large.node_ids)
        uncovered = conn.execute(text(
            "SELECT count(*) FROM network.node WHERE id = ANY(:ids) AND NOT ST_Covers(ST_GeomFromGeoJSON(:poly), geom)"),
            {"ids": large.node_ids, "poly": json.dumps(large.polygon)}).scalar_one()  # fmt: skip
    assert uncovered == 0 and small.minutes == 2 and large.minutes == 4


def test_coverage_grows_with_time_and_stays_a_share(demo_engine: Engine, fire_stations) -> None:
    with demo_engine.begin() as conn:
        short = services.coverage(conn, fire_stations, 2)
        long = services.coverage(conn, fire_stations, 10)
        divisions = services.coverage(conn, fire_stations, 10, source="divisions", level="community")
    assert short.share is not None and long.share is not None and 0 <= short.share <= long.share <= 1
    assert long.residents > 0 and all(0 <= r.covered <= r.residents + 1e-6 for r in long.rows)
    assert divisions.residents > 0 and divisions.share is not None and 0 <= divisions.share <= 1


# ------------------------------------------------------------------------------ doors
def test_rest_doors_answer_geojson(demo_server: str, nodes) -> None:
    api = f"{demo_server}/api/v1/network"
    with httpx.Client(timeout=60) as client:
        route = client.get(f"{api}/route", params={"a": pt(nodes[0]), "b": pt(nodes[30])})
        closest = client.get(f"{api}/closest", params={"target": pt(nodes[12]), "layer": "emergency_facilities",
                                                       "where": "kind:hospital", "k": 3})  # fmt: skip
        area = client.get(f"{api}/service-area", params={"origin": pt(nodes[7]), "minutes": "2,4"})
        cover = client.get(f"{api}/coverage", params={"layer": "emergency_facilities", "where": "kind:fire_station",
                                                      "minutes": 5})  # fmt: skip
        od = client.post(f"{api}/od-matrix", json={"origins": [nodes[1], nodes[2]],
                                                   "destinations": [nodes[3], nodes[4], nodes[5]]})  # fmt: skip
        posted = client.post(f"{api}/closest", json={"target": nodes[12], "k": 2, "facilities": [
            {"id": "a", "lon": nodes[13][0], "lat": nodes[13][1]}, {"id": "b", "lon": nodes[40][0], "lat": nodes[40][1]}]})
    for answer in (route, closest, area, cover, od, posted):
        assert answer.status_code == 200, answer.text
    assert route.headers["content-type"].startswith("application/geo+json")
    assert route.json()["features"][0]["geometry"]["type"] == "LineString"
    ranked = closest.json()["features"]
    assert [f["properties"]["rank"] for f in ranked] == [1, 2, 3]
    assert all(f["properties"]["kind"] == "hospital" for f in ranked)
    assert [f["properties"]["minutes"] for f in area.json()["features"]] and len(area.json()["features"]) == 2
    assert all(f["geometry"]["type"] == "Polygon" for f in area.json()["features"])
    assert 0 <= cover.json()["share"] <= 1 and cover.json()["features"][0]["geometry"] is not None
    assert np.array(od.json()["seconds"]).shape == (2, 3)
    seconds = [f["properties"]["seconds"] for f in posted.json()["features"]]
    assert {f["id"] for f in posted.json()["features"]} == {"a", "b"} and seconds == sorted(seconds)


@pytest.mark.parametrize("process", ["route", "closest-facility", "service-area", "coverage", "od-matrix"])
def test_ogc_processes_execute(demo_server: str, nodes, process: str) -> None:
    inputs = {
        "route": {"a": nodes[0], "b": nodes[30]},
        "closest-facility": {"target": nodes[12], "layer": "emergency_facilities", "where": {"kind": "shelter"}, "k": 4},
        "service-area": {"origin": nodes[7], "minutes": [3]},
        "coverage": {"layer": "emergency_facilities", "where": {"kind": "hospital"}, "minutes": 6, "level": "district"},
        "od-matrix": {"origins": [nodes[1]], "destinations": [nodes[2], nodes[3]]},
    }[process]  # fmt: skip
    listed = httpx.get(f"{demo_server}/ogc/processes/{process}?f=json", timeout=30)
    assert listed.status_code == 200, listed.text
    answer = httpx.post(f"{demo_server}/ogc/processes/{process}/execution", json={"inputs": inputs}, timeout=60)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body.get("type") == "FeatureCollection" or "seconds" in body


def test_the_client_gives_frames(demo_url: str, demo_server: str, nodes) -> None:
    from layers.client import Onemap

    for om in (Onemap.from_database(demo_url, principal=None), Onemap.from_url(demo_server)):
        with om:
            route = om.route(nodes[0], nodes[30])
            near = om.closest(nodes[12], layer="emergency_facilities", where={"kind": "fire_station"}, k=2)
            area = om.service_area(nodes[7], minutes=[2, 4])
            matrix = om.od_matrix([nodes[1], nodes[2]], [nodes[3]])
            cover = om.coverage(layer="emergency_facilities", where={"kind": "hospital"}, minutes=5)
        assert route.geometry.iloc[0].geom_type == "LineString" and route["seconds"].iloc[0] > 0
        assert list(near["rank"]) == [1, 2] and near.crs.to_epsg() == 4326
        assert list(area["minutes"]) == [2, 4]
        assert matrix.shape == (2, 1)
        assert {"code", "residents", "covered", "share"} <= set(cover.columns)


# ------------------------------------------------------------------------------ bad input
BAD_GETS = [
    ("route", {"a": "0,0", "b": "108.9,34.2"}, "from the nearest routable road"),
    ("route", {"a": "nan,34"}, "finite"),
    ("route", {"a": "1,2,3", "b": "1,2"}, "two numbers"),
    ("route", {}, "a is required"),
    ("closest", {"target": "{p}", "layer": "emergency_facilities", "k": "0"}, "k must lie between 1 and 50"),
    ("closest", {"target": "{p}", "layer": "emergency_facilities", "k": "51"}, "k must lie between 1 and 50"),
    ("closest", {"target": "{p}", "layer": "emergency_facilities", "k": "2.5"}, "k must be an integer"),
    ("closest", {"target": "{p}", "layer": "emergency_facilities", "k": "١٢"}, "k must be an integer"),
    ("closest", {"target": "{p}", "layer": "emergency_facilities", "where": "kind:none"}, "matches"),
    ("closest", {"target": "{p}", "layer": "emergency_facilities", "where": "nosuch:1"}, "no field"),
    ("closest", {"target": "{p}"}, "name the facilities"),
    ("closest", {"target": "{p}", "layer": "emergency_facilities", "max_minutes": "0"}, "more than 0"),
    ("service-area", {"origin": "{p}", "minutes": "0"}, "more than 0"),
    ("service-area", {"origin": "{p}", "minutes": "61"}, "at most 60"),
    ("service-area", {"origin": "{p}", "minutes": "1e400"}, "finite"),
    ("service-area", {"origin": "{p}", "minutes": "1,2,3,4,5,6,7"}, "at most 6"),
    ("service-area", {"origin": "{p}", "hour": "24"}, "hour must lie between 0 and 23"),
    ("coverage", {"layer": "emergency_facilities", "minutes": "-3"}, "more than 0"),
    ("coverage", {"layer": "emergency_facilities", "level": "planet"}, "level must be one of"),
]


def test_bad_input_is_a_400_with_a_message_and_changes_nothing(demo_server: str, demo_engine: Engine, nodes) -> None:
    before = fingerprint(demo_engine, ["network.node", "network.edge", "network.graph", "catalog.layer"])
    api = f"{demo_server}/api/v1/network"
    with httpx.Client(timeout=60) as client:
        for operation, params, words in BAD_GETS:
            given = {k: v.replace("{p}", pt(nodes[4])) for k, v in params.items()}
            answer = client.get(f"{api}/{operation}", params=given)
            assert answer.status_code == 400, (operation, params, answer.text)
            assert words in answer.json()["description"], (operation, params, answer.text)
        huge = [[nodes[0][0], nodes[0][1]]] * 101
        answer = client.post(f"{api}/od-matrix", json={"origins": huge, "destinations": huge})
        assert answer.status_code == 400 and "cells" in answer.json()["description"]
        answer = client.post(f"{api}/od-matrix", json={"origins": [[0, 0]], "destinations": [nodes[0]]})
        assert answer.status_code == 400 and "origin 1 (0.000000, 0.000000)" in answer.json()["description"]
        for body in ([1, 2], {"facilities": "x", "target": nodes[0]}, {"target": [1e308, 0]}):
            answer = client.post(f"{api}/closest", json=body)
            assert answer.status_code == 400, answer.text
        answer = client.post(f"{api}/od-matrix", content=b'{"origins": [[NaN, 1]], "destinations": [[1, 2]]}',
                             headers={"Content-Type": "application/json"})
        assert answer.status_code == 400, answer.text
        answer = client.post(f"{api}/route", content=b"{not json", headers={"Content-Type": "application/json"})
        assert answer.status_code == 400
        assert client.post(f"{api}/nowhere", json={}).status_code == 400
    assert fingerprint(demo_engine, ["network.node", "network.edge", "network.graph", "catalog.layer"]) == before


def test_direct_calls_refuse_out_of_range(demo_engine: Engine, nodes, fire_stations) -> None:
    with demo_engine.begin() as conn:
        for call in (
            lambda: services.closest(conn, nodes[0], fire_stations, k=0),
            lambda: services.closest(conn, nodes[0], fire_stations, k=True),
            lambda: services.closest(conn, nodes[0], [], k=1),
            lambda: services.closest(conn, (200.0, 0.0), fire_stations, k=1),
            lambda: services.service_area(conn, nodes[0], [0]),
            lambda: services.service_area(conn, nodes[0], [float("nan")]),
            lambda: services.od_matrix(conn, [nodes[0]] * 101, [nodes[0]] * 100),
            lambda: services.coverage(conn, fire_stations, 61),
            lambda: services.route(conn, (0.0, 0.0), nodes[1]),
        ):
            with pytest.raises(InvalidInput):
                call()


def test_a_hidden_facility_layer_is_missing_for_anonymous(demo_server: str, nodes) -> None:
    params = {"target": pt(nodes[3])}
    hidden = httpx.get(f"{demo_server}/api/v1/network/closest", params={**params, "layer": "aq_readings"}, timeout=30)
    missing = httpx.get(f"{demo_server}/api/v1/network/closest", params={**params, "layer": "no_such_layer"}, timeout=30)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["description"].replace("aq_readings", "X") == missing.json()["description"].replace(
        "no_such_layer", "X")
    process = httpx.post(f"{demo_server}/ogc/processes/closest-facility/execution",
                         json={"inputs": {"target": nodes[3], "layer": "aq_readings"}}, timeout=30)  # fmt: skip
    assert process.status_code == 404


def test_save_as_keeps_a_service_area_for_the_callers_department(
    demo_server: str, demo_engine: Engine, nodes, editor
) -> None:  # fmt: skip
    api = f"{demo_server}/api/v1/network"
    body = {"origin": nodes[9], "minutes": [2, 4], "save_as": {"name": "net_area_test", "title": "服务区测试"}}
    before = fingerprint(demo_engine, ["catalog.layer"])
    anonymous = httpx.post(f"{api}/service-area", json=body, timeout=60)
    assert anonymous.status_code == 401
    refused = httpx.post(f"{api}/od-matrix", json={**body, "origins": [nodes[0]], "destinations": [nodes[1]]},
                         headers=editor, timeout=60)  # fmt: skip
    assert refused.status_code == 400 and "save_as" in refused.json()["description"]
    assert fingerprint(demo_engine, ["catalog.layer"]) == before
    try:
        saved = httpx.post(f"{api}/service-area", json=body, headers=editor, timeout=60)
        assert saved.status_code == 201, saved.text
        assert saved.headers["Location"].endswith("/api/v1/layers/net_area_test")
        with demo_engine.connect() as conn:
            row = conn.execute(text("SELECT department_code, visibility, feature_count FROM catalog.layer "
                                    "WHERE id = 'net_area_test'")).one()  # fmt: skip
        assert row[0] == "emergency" and row[1] == "department"
        again = httpx.post(f"{api}/service-area", json=body, headers=editor, timeout=60)  # replaced, as an upload
        assert again.status_code == 201 and "v2" in again.json()["summary"][0], again.text
        other = create_token(demo_engine, department_code="environment", role="editor", name="other editor",
                             actor=local_operator())  # fmt: skip
        taken = httpx.post(f"{api}/service-area", json=body, timeout=60,
                           headers={"Authorization": f"Bearer {other.secret}"})  # fmt: skip
        assert taken.status_code in (403, 404, 409), taken.text
    finally:
        from layers.vector import remove_layer

        with contextlib.suppress(Exception):
            remove_layer(demo_engine, "net_area_test", principal=local_operator())


def test_a_process_saves_a_route_for_its_caller_and_reports_unreachable_facilities(
    demo_server: str, demo_engine: Engine, nodes, editor
) -> None:  # fmt: skip
    execution = f"{demo_server}/ogc/processes/route/execution"
    inputs = {"a": nodes[2], "b": nodes[50], "hour": 8, "save_as": "net_route_test"}
    assert httpx.post(execution, json={"inputs": inputs}, timeout=60).status_code == 401
    try:
        saved = httpx.post(execution, json={"inputs": inputs}, headers=editor, timeout=60)
        assert saved.status_code == 200, saved.text
        assert saved.json()["layer_saved"] == "net_route_test"
        with demo_engine.connect() as conn:
            owner = conn.execute(text("SELECT department_code FROM catalog.layer WHERE id = 'net_route_test'")).scalar()
        assert owner == "emergency"
    finally:
        from layers.vector import remove_layer

        with contextlib.suppress(Exception):
            remove_layer(demo_engine, "net_route_test", principal=local_operator())
    body = {"target": nodes[5], "k": 3, "facilities": [{"id": 1, "lon": 0, "lat": 0},
                                                       {"id": 2, "lon": nodes[6][0], "lat": nodes[6][1]}]}  # fmt: skip
    answer = httpx.post(f"{demo_server}/api/v1/network/closest", json=body, timeout=60)
    assert answer.status_code == 200 and answer.json()["unreachable"] == [1]
    assert [f["id"] for f in answer.json()["features"]] == [2]
