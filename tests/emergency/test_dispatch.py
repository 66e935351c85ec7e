"""Dispatch (119/120/110) through the REST API: the whole call lifecycle, concurrent dispatchers,
permissions, bad input (nothing changed), KPIs against a hand-checked case, Manhattan's FDNY."""

from __future__ import annotations

import csv
import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from spatial.access.principal import local_operator
from spatial.config import Settings
from spatial.db import make_engine
from spatial.dispatch.seed import seed_city_units
from tests.fingerprint import fingerprint
from tests.live import ServedCity
from tests.reliability.conftest import demo_dump  # noqa: F401  (the session's demo, dumped once)

API = "/api/v1/dispatch"
ROLES = {
    "dispatcher": ("command", "editor"),
    "dispatcher2": ("command", "editor"),
    "fire": ("fire", "editor"),
    "ems": ("ems", "editor"),
    "fire_viewer": ("fire", "viewer"),
    "other_editor": ("water", "editor"),
    "admin": ("urban", "admin"),
}
EMERGENCY_TABLES = ["emergency.unit", "emergency.call", "emergency.assignment", "emergency.dispatch_event"]


@dataclass
class DispatchCity(ServedCity):
    def client(self, role: str | None) -> httpx.Client:
        headers = self.auth(role) if role else {}
        return httpx.Client(base_url=self.base + API, headers=headers, timeout=60)


@pytest.fixture(scope="session")
def dispatch_city(make_database, demo_dump: Path, demo_settings: Settings) -> Iterator[DispatchCity]:  # noqa: F811
    """The small demo city restored into a database of its own, a unit grid, units seeded from its
    emergency facilities and a token per role; served over HTTP."""
    from spatial.access.tokens import create_token
    from spatial.backup import restore
    from spatial.grid.build import build_grid
    from tests.live import live_server

    url = make_database("onemap_dispatch")
    engine = make_engine(url, pool_size=6)
    restore(engine, demo_dump)
    build_grid(engine, principal=local_operator())
    with engine.begin() as conn:
        seed_city_units(conn, principal=local_operator())
    tokens = {name: create_token(engine, department_code=dept, role=role, name=name, actor=local_operator()).secret
              for name, (dept, role) in ROLES.items()}  # fmt: skip
    settings = Settings(database_url=url, var_dir=demo_settings.var_dir, port=0, rate_limit_writes="off",
                        rate_limit_anonymous="off")  # fmt: skip
    with live_server(settings) as base:
        yield DispatchCity(url, settings, engine, base, tokens)
    engine.dispose()


def _units(city: DispatchCity, **params: str) -> list[dict]:
    with city.client("dispatcher") as client:
        answer = client.get("/units", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()["units"]


def _address(city: DispatchCity, offset: int = 100) -> tuple[str, float, float]:
    with city.engine.connect() as conn:
        row = conn.execute(text("SELECT full_zh, ST_X(geom), ST_Y(geom) FROM basemap.address ORDER BY id "
                                "LIMIT 1 OFFSET :o"), {"o": offset}).one()  # fmt: skip
    return row[0], row[1], row[2]


def _take(city: DispatchCity, role: str = "dispatcher", **body: object) -> dict:
    with city.client(role) as client:
        answer = client.post("/calls", json={"service": "119", "call_type": "fire", "priority": 1, **body})
    assert answer.status_code == 201, answer.text
    return answer.json()


def _release(city: DispatchCity, unit_id: int, owner: str = "fire") -> None:
    """Bring a unit back to available (whatever it is doing)."""
    with city.client(owner) as client:
        for status in ("on_scene", "returning", "available"):
            client.post(f"/units/{unit_id}/status", json={"status": status})
        assert client.get(f"/units/{unit_id}").json()["status"] == "available"


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    from pyproj import Geod

    return abs(Geod(ellps="WGS84").inv(a[0], a[1], b[0], b[1])[2])


# ------------------------------------------------------------------------------ units
def test_units_are_seeded_from_the_emergency_facilities(dispatch_city: DispatchCity) -> None:
    with dispatch_city.engine.connect() as conn:
        kinds = dict(conn.execute(text("SELECT kind, count(*) FROM thematic.emergency_facility GROUP BY kind")).all())
    units = _units(dispatch_city)
    count = {t: sum(1 for u in units if u["unit_type"] == t) for t in ("engine", "ladder", "ambulance")}
    assert count == {"engine": 2 * kinds["fire_station"], "ladder": kinds["fire_station"],
                     "ambulance": 2 * kinds["hospital"]}  # fmt: skip
    assert {u["department_code"] for u in units if u["service"] == "119"} == {"fire"}
    assert {u["department_code"] for u in units if u["service"] == "120"} == {"ems"}
    with dispatch_city.engine.begin() as conn:  # seeding again adds nothing
        assert set(seed_city_units(conn, principal=local_operator()).values()) == {0}


# ------------------------------------------------------------------------------ the lifecycle
def test_a_call_by_address_from_intake_to_close(dispatch_city: DispatchCity) -> None:
    words, x, y = _address(dispatch_city)
    call = _take(dispatch_city, located_by="address", text=words)
    assert call["status"] == "open" and call["located_by"] == "address" and call["given_text"] == words
    assert _metres((call["lon"], call["lat"]), (x, y)) < 30
    assert call["street_code"] and call["cell_code"]  # placed in the unit grid

    with dispatch_city.client("dispatcher") as client:
        advice = client.get(f"/calls/{call['id']}/recommend", params={"k": 3}).json()
        assert advice["service"] == "119" and len(advice["units"]) == 3
        etas = [u["eta_seconds"] for u in advice["units"]]
        assert etas == sorted(etas) and etas[0] > 0
        assert all(u["status"] == "available" and u["service"] == "119" for u in advice["units"])
        # the first is the fastest of all available fire units (k = every one of them)
        everyone = client.get(f"/calls/{call['id']}/recommend", params={"k": 20}).json()["units"]
        assert everyone[0]["id"] == advice["units"][0]["id"]
        first = advice["units"][0]
        sent = client.post(f"/calls/{call['id']}/dispatch", json={"units": [first["id"]]})
        assert sent.status_code == 200, sent.text
        assignment = sent.json()["assignments"][0]
        assert assignment["unit_id"] == first["id"] and assignment["unit_status"] == "en_route"
        assert assignment["eta_seconds"] == pytest.approx(first["eta_seconds"], rel=1e-6)
        assert first["id"] not in [u["id"] for u in client.get(f"/calls/{call['id']}/recommend").json()["units"]]

    with dispatch_city.client("fire") as crew:
        arrived = crew.post(f"/units/{first['id']}/status", json={"status": "on_scene", "lon": call["lon"],
                                                                   "lat": call["lat"]}).json()  # fmt: skip
        assert arrived["status"] == "on_scene" and (arrived["lon"], arrived["lat"]) == (call["lon"], call["lat"])
        assert crew.post(f"/units/{first['id']}/status", json={"status": "returning"}).json()["status"] == "returning"
        back = crew.post(f"/units/{first['id']}/status", json={"status": "available"}).json()
        assert back["status"] == "available" and (back["lon"], back["lat"]) == (back["base_lon"], back["base_lat"])

    with dispatch_city.client("dispatcher") as client:
        closed = client.post(f"/calls/{call['id']}/close", json={"outcome": "resolved"}).json()
        assert closed["status"] == "closed" and closed["outcome"] == "resolved"
        assignment = closed["assignments"][0]
        assert assignment["dispatched_at"] <= assignment["on_scene_at"] <= assignment["cleared_at"]
        assert [e["action"] for e in closed["events"]] == ["call.received", "unit.dispatched", "unit.on_scene",
                                                           "unit.returning", "unit.available", "call.resolved"]  # fmt: skip
        assert closed["events"][0]["actor"].startswith("dispatcher (command editor)")
        assert closed["events"][2]["actor"].startswith("fire (fire editor)")
        assert client.post(f"/calls/{call['id']}/close", json={}).status_code == 409  # already closed
        assert client.post(f"/calls/{call['id']}/dispatch", json={"units": [first["id"]]}).status_code == 409


def test_cancelling_a_call_sends_its_units_back(dispatch_city: DispatchCity) -> None:
    words, _, _ = _address(dispatch_city, 300)
    call = _take(dispatch_city, located_by="address", text=words)
    with dispatch_city.client("dispatcher") as client:
        chosen = [u["id"] for u in client.get(f"/calls/{call['id']}/recommend", params={"k": 2}).json()["units"]]
        assert client.post(f"/calls/{call['id']}/dispatch", json={"units": chosen}).status_code == 200
        cancelled = client.post(f"/calls/{call['id']}/close", json={"outcome": "cancelled"}).json()
    assert cancelled["outcome"] == "cancelled" and cancelled["active_units"] == 0
    assert {a["unit_status"] for a in cancelled["assignments"]} == {"returning"}
    for unit in chosen:
        _release(dispatch_city, unit)


def test_other_ways_of_locating_a_call(dispatch_city: DispatchCity) -> None:
    from spatial.grid.codes import geo_grid_code
    from spatial.plates.plus_codes import encode
    from spatial.plates.scheme import parse_plate_code, plate_code
    from spatial.webdatum import gcj02_to_wgs84, wgs84_to_gcj02

    _, x, y = _address(dispatch_city, 50)
    gx, gy = wgs84_to_gcj02(x, y)
    gcj = _take(dispatch_city, located_by="coordinates", lon=gx, lat=gy, datum="gcj02")
    assert _metres((gcj["lon"], gcj["lat"]), gcj02_to_wgs84(gx, gy)) < 0.01 and _metres((gcj["lon"], gcj["lat"]), (x, y)) < 0.01
    typed = _take(dispatch_city, located_by="coordinates", text=f"{x:.6f}, {y:.6f}")
    assert _metres((typed["lon"], typed["lat"]), (x, y)) < 0.2
    with dispatch_city.engine.connect() as conn:
        code, cx, cy = conn.execute(text("SELECT code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
                                         "FROM grid.current_cell ORDER BY code LIMIT 1 OFFSET 40")).one()  # fmt: skip
    cell = _take(dispatch_city, located_by="grid_cell", text=code)
    assert cell["cell_code"] == code and _metres((cell["lon"], cell["lat"]), (cx, cy)) < 0.01
    geo = geo_grid_code(x, y, "10s")
    by_geo = _take(dispatch_city, located_by="grid_cell", text=geo.code)
    west, south, east, north = geo.bounds
    assert (by_geo["lon"], by_geo["lat"]) == pytest.approx(((west + east) / 2, (south + north) / 2), abs=1e-9)
    with dispatch_city.engine.connect() as conn:
        plate, px, py = conn.execute(text("SELECT code, ST_X(geom), ST_Y(geom) FROM basemap.plate ORDER BY code "
                                          "LIMIT 1 OFFSET 7")).one()  # fmt: skip
    by_plate = _take(dispatch_city, located_by="location_code", text=plate.lower())
    assert _metres((by_plate["lon"], by_plate["lat"]), (px, py)) < 1 and plate in by_plate["place"]
    plus = encode(x, y)
    by_plus = _take(dispatch_city, located_by="location_code", text=plus)
    assert _metres((by_plus["lon"], by_plus["lat"]), (x, y)) < 10
    road, pole, side = parse_plate_code(plate).road, 999, "L"
    with dispatch_city.client("dispatcher") as client:
        missing = client.post("/calls", json={"service": "119", "call_type": "fire", "located_by": "location_code",
                                              "text": plate_code(road, pole, side)})  # fmt: skip
        assert missing.status_code == 404, missing.text
        wrong_check = plate[:-1] + ("A" if plate[-1] != "A" else "B")
        refused = client.post("/calls", json={"service": "119", "call_type": "fire", "located_by": "location_code",
                                              "text": wrong_check})  # fmt: skip
        assert refused.status_code == 400 and "check character" in refused.json()["description"], refused.text
    with dispatch_city.client("dispatcher") as client:
        for call in (gcj, typed, cell, by_geo, by_plate, by_plus):
            assert client.post(f"/calls/{call['id']}/close", json={"outcome": "cancelled"}).status_code == 200


# ------------------------------------------------------------------------------ concurrency
def test_two_dispatchers_sending_the_same_unit_one_gets_409(dispatch_city: DispatchCity) -> None:
    words, _, _ = _address(dispatch_city, 200)
    calls = [_take(dispatch_city, located_by="address", text=words)["id"] for _ in range(2)]
    with dispatch_city.client("dispatcher") as client:
        unit = client.get(f"/calls/{calls[0]}/recommend", params={"k": 1}).json()["units"][0]["id"]
    for _ in range(3):  # several rounds: the race is real each time
        start = threading.Barrier(2)
        answers: dict[str, httpx.Response] = {}

        def send(role: str, call_id: int, start: threading.Barrier, answers: dict[str, httpx.Response]) -> None:
            with dispatch_city.client(role) as client:
                start.wait()
                answers[role] = client.post(f"/calls/{call_id}/dispatch", json={"units": [unit]})

        threads = [threading.Thread(target=send, args=(role, call_id, start, answers))
                   for role, call_id in (("dispatcher", calls[0]), ("dispatcher2", calls[1]))]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(a.status_code for a in answers.values()) == [200, 409], [a.text for a in answers.values()]
        refused = next(a for a in answers.values() if a.status_code == 409).json()
        assert "no longer available" in refused["description"]
        with dispatch_city.engine.connect() as conn:
            open_assignments = conn.execute(text("SELECT count(*) FROM emergency.assignment WHERE unit_id = :u "
                                                 "AND cleared_at IS NULL"), {"u": unit}).scalar()  # fmt: skip
        assert open_assignments == 1
        _release(dispatch_city, unit)
    with dispatch_city.client("dispatcher") as client:
        for call_id in calls:
            client.post(f"/calls/{call_id}/close", json={"outcome": "cancelled"})


def test_closing_a_call_while_its_crew_reports_arrival(dispatch_city: DispatchCity) -> None:
    """The close and the crew's report race for the same rows: one order or the other, never a 5xx."""
    words, _, _ = _address(dispatch_city, 210)
    for _ in range(6):
        call = _take(dispatch_city, located_by="address", text=words)["id"]
        with dispatch_city.client("dispatcher") as client:
            unit = client.get(f"/calls/{call}/recommend", params={"k": 1}).json()["units"][0]["id"]
            assert client.post(f"/calls/{call}/dispatch", json={"units": [unit]}).status_code == 200
        start = threading.Barrier(2)
        answers: dict[str, httpx.Response] = {}

        def act(role: str, path: str, body: dict, start: threading.Barrier, answers: dict[str, httpx.Response]) -> None:
            with dispatch_city.client(role) as client:
                start.wait()
                answers[role] = client.post(path, json=body)

        threads = [threading.Thread(target=act, args=("dispatcher", f"/calls/{call}/close", {}, start, answers)),
                   threading.Thread(target=act, args=("fire", f"/units/{unit}/status", {"status": "on_scene"}, start,
                                                      answers))]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert answers["dispatcher"].status_code == 200, answers["dispatcher"].text
        assert answers["fire"].status_code in (200, 409), answers["fire"].text
        with dispatch_city.client("dispatcher") as client:
            assert client.get(f"/units/{unit}").json()["status"] == "returning"
            closed = client.get(f"/calls/{call}").json()
        assert closed["status"] == "closed" and closed["assignments"][0]["cleared_at"]
        _release(dispatch_city, unit)


# ------------------------------------------------------------------------------ permissions
def test_who_may_do_what(dispatch_city: DispatchCity) -> None:
    words, x, y = _address(dispatch_city, 400)
    engines = _units(dispatch_city, service="119", status="available")
    ambulance = _units(dispatch_city, service="120", status="available")[0]
    before = fingerprint(dispatch_city.engine, EMERGENCY_TABLES)
    call_body = {"service": "119", "call_type": "fire", "located_by": "address", "text": words}
    refusals = [
        (None, "GET", "/units", None, 401),
        (None, "GET", "/kpis", None, 401),
        (None, "POST", "/calls", call_body, 401),
        ("fire_viewer", "POST", "/calls", call_body, 403),
        ("fire", "POST", "/calls", call_body, 403),  # a crew does not take calls
        ("other_editor", "POST", f"/units/{engines[0]['id']}/status", {"status": "out_of_service"}, 403),
        ("ems", "POST", f"/units/{engines[0]['id']}/status", {"status": "out_of_service"}, 403),
        ("dispatcher", "POST", f"/units/{engines[0]['id']}/status", {"status": "out_of_service"}, 403),
        ("fire", "POST", f"/units/{ambulance['id']}/status", {"status": "out_of_service"}, 403),
        ("ems", "POST", "/units", {"call_sign": "X1", "unit_type": "engine", "lon": x, "lat": y,
                                   "department": "fire"}, 403),  # fmt: skip
        ("fire_viewer", "POST", "/units", {"call_sign": "X2", "unit_type": "engine", "lon": x, "lat": y}, 403),
        ("fire", "POST", "/calls/1/dispatch", {"units": [engines[0]["id"]]}, 403),
        ("fire", "POST", "/calls/1/close", {"outcome": "cancelled"}, 403),
    ]
    for role, method, path, body, status in refusals:
        with dispatch_city.client(role) as client:
            answer = client.request(method, path, json=body)
        assert answer.status_code == status, (role, method, path, answer.text)
        assert answer.json()["description"]
    assert fingerprint(dispatch_city.engine, EMERGENCY_TABLES) == before

    with dispatch_city.client("fire") as crew:  # the owner takes a unit out of service and back
        assert crew.post(f"/units/{engines[0]['id']}/status", json={"status": "out_of_service"}).status_code == 200
        assert crew.post(f"/units/{engines[0]['id']}/status", json={"status": "available"}).status_code == 200
        added = crew.post("/units", json={"call_sign": "归义消防特勤1", "unit_type": "rescue", "lon": x, "lat": y,
                                          "station": "特勤站"})  # fmt: skip
        assert added.status_code == 201, added.text
        assert added.json()["department_code"] == "fire" and added.json()["service"] == "119"
        assert crew.post("/units", json={"call_sign": "归义消防特勤1", "unit_type": "rescue", "lon": x,
                                         "lat": y}).status_code == 409  # fmt: skip
    # a dispatcher relays a crew's arrival on the radio
    call = _take(dispatch_city, located_by="address", text=words)
    with dispatch_city.client("dispatcher") as client:
        assert client.post(f"/calls/{call['id']}/dispatch", json={"units": [engines[1]["id"]]}).status_code == 200
        assert client.post(f"/units/{engines[1]['id']}/status", json={"status": "on_scene"}).status_code == 200
        assert client.post(f"/calls/{call['id']}/close", json={}).status_code == 200
        assert client.post(f"/units/{engines[1]['id']}/status", json={"status": "available"}).status_code == 200


# ------------------------------------------------------------------------------ bad input
def test_bad_input_is_refused_and_changes_nothing(dispatch_city: DispatchCity) -> None:
    words, _, _ = _address(dispatch_city, 500)
    call = _take(dispatch_city, located_by="address", text=words)
    unit = _units(dispatch_city, service="119", status="available")[0]
    before = fingerprint(dispatch_city.engine, EMERGENCY_TABLES)
    script = "<script>alert(1)</script>"
    base = {"service": "119", "call_type": "fire"}
    cases = [
        ("GET", "/units/999999", None, 404, "no unit 999999"),
        ("GET", "/units/abc", None, 404, "no unit"),
        ("GET", "/calls/999999", None, 404, "no call 999999"),
        ("GET", "/calls/999999/recommend", None, 404, "no call"),
        ("POST", "/units/999999/status", {"status": "on_scene"}, 404, "no unit"),
        ("POST", "/calls/999999/dispatch", {"units": [unit["id"]]}, 404, "no call"),
        ("POST", f"/calls/{call['id']}/dispatch", {"units": [999999]}, 404, "no unit 999999"),
        ("POST", f"/calls/{call['id']}/dispatch", {"units": []}, 400, "units"),
        ("POST", "/calls", {**base, "located_by": "grid_cell", "text": "610151001001999"}, 404,
         "grid cell 610151001001999 does not exist"),
        ("POST", "/calls", {**base, "located_by": "address", "text": "火星大道九千号"}, 404, "not found"),
        ("POST", "/calls", {**base, "located_by": "grid_cell", "text": "99"}, 400, "not a grid code"),
        ("POST", "/calls", {**base, "located_by": "address", "text": script}, 400, "markup"),
        ("POST", "/calls", {**base, "call_type": script, "located_by": "address", "text": words}, 400, "markup"),
        ("POST", "/calls", {**base, "located_by": "coordinates", "lon": "nan", "lat": 34.2}, 400, "lon"),
        ("POST", "/calls", {**base, "located_by": "coordinates", "lon": 108.9, "lat": 95}, 400, "lat"),
        ("POST", "/calls", {**base, "located_by": "coordinates", "lon": 108.9, "lat": 34.2, "datum": "klingon"}, 400,
         "datum"),
        ("POST", "/calls", {**base, "located_by": "smoke signals", "text": "x"}, 400, "located_by"),
        ("POST", "/calls", {**base, "service": "999", "located_by": "address", "text": words}, 400, "service"),
        ("POST", "/units", {"call_sign": script, "unit_type": "engine", "lon": 108.9, "lat": 34.2}, 400, "call_sign"),
        ("POST", f"/units/{unit['id']}/status", {"status": "en_route"}, 400, "status"),
        ("POST", f"/units/{unit['id']}/status", {"status": "on_scene"}, 409, "available"),
        ("GET", f"/calls/{call['id']}/recommend?k=0", None, 400, "k"),
        ("GET", f"/calls/{call['id']}/recommend?k=21", None, 400, "k"),
        ("GET", f"/calls/{call['id']}/recommend?k=nan", None, 400, "k"),
        ("GET", f"/calls/{call['id']}/recommend?max_seconds=-5", None, 400, "max_seconds"),
        ("GET", "/kpis?by=moon", None, 400, "by"),
        ("GET", "/kpis?since=2026-02-01&until=2026-01-01", None, 400, "before"),
    ]
    with dispatch_city.client("admin") as client:
        for method, path, body, status, words_ in cases:
            answer = client.request(method, path, json=body)
            assert answer.status_code == status, (method, path, body, answer.text)
            assert words_ in answer.json()["description"], (path, answer.json()["description"])
            assert "<script>" not in answer.text
    assert fingerprint(dispatch_city.engine, EMERGENCY_TABLES) == before
    # a call taken far from every road: the network refuses to guess (400 naming the distance)
    far = _take(dispatch_city, located_by="coordinates", lon=120.0, lat=30.0)
    with dispatch_city.client("dispatcher") as client:
        refused = client.get(f"/calls/{far['id']}/recommend")
        assert refused.status_code == 400 and "target" in refused.json()["description"], refused.text
        for done in (far, call):
            client.post(f"/calls/{done['id']}/close", json={"outcome": "cancelled"})


def test_the_event_log_is_append_only(dispatch_city: DispatchCity) -> None:
    with dispatch_city.engine.connect() as conn, pytest.raises(Exception, match="append-only"):
        conn.execute(text("UPDATE emergency.dispatch_event SET actor = 'someone else'"))


# ------------------------------------------------------------------------------ KPIs
def test_response_kpis_against_a_hand_checked_case(dispatch_city: DispatchCity) -> None:
    """Six calls on 2026-01-05 (UTC), each first unit sent at the call's own minute:

    ====  =======  ==========================================  ==========  ======================
    call  service  first unit                                  on scene    standard met?
    ====  =======  ==========================================  ==========  ======================
    A     119      engine at its own station (ETA ≈ 0)          +200 s      yes (≤ 320 s, ETA ≤ 240)
    B     119      engine at its own station                    +400 s      no (400 > 320 s)
    C     119      engine, call closed before it arrived        —           no
    D     120      ambulance at its own hospital (0 m)          +900 s      yes (within 3 km)
    E     120      the farthest ambulance (> 3 km)              +900 s      no (> 720 s and > 3 km)
    F     110      none: cancelled                              —           not counted
    ====  =======  ==========================================  ==========  ======================
    119: 3 calls, 1 met of 3; 120: 1 of 2; 110: 1 call, none evaluated. Overall 2 of 5.
    """
    day = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)
    engines = _units(dispatch_city, service="119", status="available")
    engines = [u for u in engines if u["unit_type"] == "engine"]
    ambulances = _units(dispatch_city, service="120", status="available")

    def at(minutes: float, seconds: float = 0) -> str:
        return (day + dt.timedelta(minutes=minutes, seconds=seconds)).isoformat()

    def run(service: str, unit: dict | None, where: tuple[float, float], minute: int, scene_s: float | None,
            outcome: str = "resolved", owner: str = "fire") -> dict:  # fmt: skip
        call = _take(dispatch_city, service=service, located_by="coordinates", lon=where[0], lat=where[1],
                     received_at=at(minute))  # fmt: skip
        with dispatch_city.client("dispatcher") as client:
            if unit is not None:
                sent = client.post(f"/calls/{call['id']}/dispatch", json={"units": [unit["id"]], "at": at(minute)})
                assert sent.status_code == 200, sent.text
                if scene_s is not None:
                    with dispatch_city.client(owner) as crew:
                        assert crew.post(f"/units/{unit['id']}/status",
                                         json={"status": "on_scene", "at": at(minute, scene_s)}).status_code == 200  # fmt: skip
            closed = client.post(f"/calls/{call['id']}/close", json={"outcome": outcome, "at": at(minute + 30)})
            assert closed.status_code == 200, closed.text
        if unit is not None:
            _release(dispatch_city, unit["id"], owner)
        return closed.json()

    home = lambda u: (u["base_lon"], u["base_lat"])  # noqa: E731
    a = run("119", engines[0], home(engines[0]), 0, 200)
    run("119", engines[1], home(engines[1]), 1, 400)
    run("119", engines[2], home(engines[2]), 2, None)
    run("120", ambulances[0], home(ambulances[0]), 3, 900, owner="ems")
    far = max(ambulances[1:], key=lambda u: _metres(home(u), home(ambulances[0])))
    e = run("120", far, home(ambulances[0]), 4, 900, owner="ems")
    run("110", None, home(engines[0]), 5, None, outcome="cancelled")
    assert a["assignments"][0]["eta_seconds"] < 60 and a["assignments"][0]["distance_m"] < 200
    assert e["assignments"][0]["distance_m"] > 3000  # the case's premise

    with dispatch_city.client("fire_viewer") as client:
        answer = client.get("/kpis", params={"since": "2026-01-05", "until": "2026-01-06", "by": "service"}).json()
    groups = {g["key"]: g for g in answer["groups"]}
    assert (groups["119"]["calls"], groups["119"]["evaluated"], groups["119"]["met"]) == (3, 3, 1)
    assert groups["119"]["share_met"] == pytest.approx(1 / 3, abs=1e-4)
    assert (groups["120"]["calls"], groups["120"]["evaluated"], groups["120"]["met"]) == (2, 2, 1)
    assert (groups["110"]["calls"], groups["110"]["evaluated"], groups["110"]["share_met"]) == (1, 0, None)
    assert (answer["totals"]["evaluated"], answer["totals"]["met"]) == (5, 2)
    assert groups["119"]["median_response_seconds"] == 300  # 200 and 400
    per_call = {c["call_id"]: c for c in answer["calls"]}
    assert per_call[a["id"]]["response_seconds"] == 200 and per_call[a["id"]]["met"] is True
    assert per_call[e["id"]]["met"] is False
    by_department = client_get(dispatch_city, "/kpis?since=2026-01-05&until=2026-01-06&by=department")
    departments = {g["key"]: (g["evaluated"], g["met"]) for g in by_department["groups"]}
    assert departments["fire"] == (2, 1) and departments["ems"] == (2, 1)
    by_street = client_get(dispatch_city, "/kpis?since=2026-01-05&until=2026-01-06&by=street")
    assert sum(g["calls"] for g in by_street["groups"]) == 6 and sum(g["met"] for g in by_street["groups"]) == 2
    assert {g["key"] for g in by_street["groups"]} == {c["street_code"] for c in answer["calls"]}


def client_get(city: DispatchCity, path: str) -> dict:
    with city.client("dispatcher") as client:
        answer = client.get(path)
    assert answer.status_code == 200, answer.text
    return answer.json()


# ------------------------------------------------------------------------------ Manhattan (real data)
def test_fdny_engines_recommended_for_a_midtown_call(manhattan_city: ServedCity) -> None:
    """FDNY firehouses (real data) as engine units; a call at the Empire State Building gets the
    engines the road network brings there first, nearest first."""
    from spatial.dispatch.recommend import recommend
    from spatial.dispatch.seed import Station, ensure_departments, units_at_stations
    from tests.conftest import realdata_path

    path = realdata_path("nyc", "fdny_firehouses.csv")
    with path.open(encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["Borough"] == "Manhattan" and r["Latitude"]]
    with manhattan_city.engine.connect() as conn:
        box = conn.execute(text("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                                "(SELECT ST_Extent(geom) AS e FROM basemap.road) AS r")).one()  # fmt: skip
    inside = [r for r in rows if box[0] <= float(r["Longitude"]) <= box[2] and box[1] <= float(r["Latitude"]) <= box[3]]
    stations = [Station(f"{i:03d}", r["FacilityName"], float(r["Longitude"]), float(r["Latitude"]))
                for i, r in enumerate(inside)]  # fmt: skip
    assert len(stations) >= 5, "the Manhattan extract holds too few firehouses"
    target = (-73.98566, 40.74844)  # 350 Fifth Avenue
    with manhattan_city.engine.begin() as conn:
        ensure_departments(conn, ["fire"])
        assert units_at_stations(conn, stations, [("engine", "FDNY-")], principal=local_operator()) == len(stations)
        from spatial.dispatch.calls import NewCall, take_call

        admin = local_operator()
        call = take_call(conn, NewCall("119", "fire", "coordinates", lon=target[0], lat=target[1]), principal=admin)
        advice = recommend(conn, call["id"], principal=admin, k=3)
    etas = [u["eta_seconds"] for u in advice["units"]]
    assert len(etas) == 3 and etas == sorted(etas)
    assert etas[0] < 300, advice["units"][0]
    nearest = sorted(stations, key=lambda s: _metres((s.lon, s.lat), target))[:8]
    assert advice["units"][0]["station"] in {s.name for s in nearest}


# ------------------------------------------------------------------------------ the command line
def test_the_command_line(dispatch_city: DispatchCity) -> None:
    import json
    import os
    import subprocess
    import sys

    onemap = Path(sys.executable).with_name("onemap")
    env = {**os.environ, "ONEMAP_DATABASE_URL": dispatch_city.url}

    def run(*args: str) -> str:
        done = subprocess.run([str(onemap), "dispatch", *args], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout + done.stderr if args[0] == "seed" else done.stdout

    assert "units added: 0 at fire stations, 0 at hospitals, 0 at police stations" in run("seed")
    board = json.loads(run("units", "--service", "120", "--json"))
    assert board and {u["unit_type"] for u in board} == {"ambulance"}
    report = json.loads(run("kpis", "--since", "2026-01-05T00:00:00Z", "--until", "2026-01-06T00:00:00Z"))
    assert report["by"] == "service" and {g["key"] for g in report["groups"]} <= {"119", "120", "110"}
