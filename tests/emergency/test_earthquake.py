"""The earthquake scenario (issue 17, deliverable 4) on the demo city.

The attenuation relation against its formula, the zones' geometry (geodesic, nested, disjoint
rings), exposure against a direct SQL count, the shelter flow's invariants and its optimum against
brute force on tiny instances, bad input (4xx, nothing changed), the OGC API process and save_as.
"""

from __future__ import annotations

import itertools
import math

import httpx
import numpy as np
import pytest
import shapely
from pyproj import Geod
from sqlalchemy import text

from spatial.emergency import Event, earthquake_scenario, load_parameters, zone_outlines
from spatial.emergency.earthquake import Attenuation
from spatial.emergency.shelters import min_cost_assignment
from tests.fingerprint import fingerprint

GEOD = Geod(ellps="WGS84")
CENTRE = {"lon": 108.94, "lat": 34.26}
MODERATE = {**CENTRE, "magnitude": 5.5, "depth_km": 10}  # VI and VII over the demo city
PARAMS = load_parameters()


def _attenuation(distance: str = "epicentral", **event: float) -> Attenuation:
    given = {"lon": 108.94, "lat": 34.26, "magnitude": 6.5, "depth_km": 15.0, **event}
    return Attenuation(Event(**given), PARAMS.relation("east"), distance)  # type: ignore[arg-type]


def _post(base: str, body: object, **kwargs: object) -> httpx.Response:
    return httpx.post(f"{base}/api/v1/emergency/earthquake", json=body, timeout=120, **kwargs)  # type: ignore[arg-type]


# ------------------------------------------------------------------------- the relation
@pytest.mark.parametrize("distance_km", [0.0, 5.0, 20.0, 80.0])
def test_intensity_follows_the_published_formula(distance_km: float) -> None:
    """East, long axis I = 6.046 + 1.480·M − 2.081·ln(R + 25); short I = 2.617 + 1.435·M − 1.441·ln(R + 7)."""
    quake = _attenuation(strike=30.0)
    long_i = 6.046 + 1.480 * 6.5 - 2.081 * math.log(distance_km + 25)
    short_i = 2.617 + 1.435 * 6.5 - 1.441 * math.log(distance_km + 7)
    assert quake.axis_intensity(distance_km, "long") == pytest.approx(long_i, abs=1e-9)
    assert quake.axis_intensity(distance_km, "short") == pytest.approx(short_i, abs=1e-9)
    if distance_km > 0:  # the ellipse passes the axes where each axis' relation says
        assert quake.intensity_at(distance_km, bearing=30.0) == pytest.approx(long_i, abs=1e-6)
        assert quake.intensity_at(distance_km, bearing=120.0) == pytest.approx(short_i, abs=1e-6)


def test_hypocentral_distance_and_the_mean_axis() -> None:
    quake = _attenuation("hypocentral")
    r = math.hypot(20.0, 15.0)
    assert quake.axis_intensity(20.0) == pytest.approx(6.046 + 1.480 * 6.5 - 2.081 * math.log(r + 25), abs=1e-9)
    for intensity in (6, 7):  # the circle's radius is the geometric mean of the axes' radii
        long_km = math.sqrt((math.exp((6.046 + 1.48 * 6.5 - intensity) / 2.081) - 25) ** 2 - 15.0**2)
        short_km = math.sqrt((math.exp((2.617 + 1.435 * 6.5 - intensity) / 1.441) - 7) ** 2 - 15.0**2)
        assert quake.radius_km(intensity) == pytest.approx(math.sqrt(long_km * short_km), rel=1e-9)
        assert quake.intensity_at(quake.radius_km(intensity)) == pytest.approx(intensity, abs=1e-6)


def test_zone_outlines_are_geodesic_and_nested() -> None:
    quake = _attenuation(strike=45.0)
    outlines = zone_outlines(quake, PARAMS.intensities, 72)
    assert list(outlines) == [6, 7, 8]  # M6.5 (east, epicentral R): I0 = 8.97, IX is not reached
    for intensity, outline in outlines.items():
        bearings = np.linspace(0, 360, 72, endpoint=False)
        lons, lats = np.asarray(outline.exterior.coords)[:-1].T
        _, _, metres = GEOD.inv(np.full(72, 108.94), np.full(72, 34.26), lons, lats)
        expected = [quake.radius_km(intensity, b) * 1000 for b in bearings]
        assert np.allclose(metres, expected, atol=0.01)
        if intensity + 1 in outlines:
            assert outline.contains(outlines[intensity + 1])


# ------------------------------------------------------------------------- zones and exposure
@pytest.fixture(scope="module")
def moderate(demo_engine):
    return earthquake_scenario(demo_engine, Event.parse(MODERATE))


def test_zones_are_disjoint_rings_highest_first(moderate) -> None:
    degrees = [z["properties"]["intensity"] for z in moderate.zones]
    assert degrees == sorted(degrees, reverse=True) and len(degrees) >= 2
    rings = [shapely.geometry.shape(z["geometry"]) for z in moderate.zones]
    for a, b in itertools.combinations(rings, 2):
        assert a.intersection(b).area < 1e-12
    # the higher zone lies around the epicentre, inside the outline of the lower one
    assert rings[0].contains(shapely.Point(CENTRE["lon"], CENTRE["lat"]))


def test_exposure_equals_a_direct_sql_count(moderate, demo_engine) -> None:
    with demo_engine.connect() as conn:
        for zone in moderate.zones:
            count, area = conn.execute(text(
                "SELECT count(*), sum(floors * ST_Area(geom::geography)) FROM basemap.building "
                "WHERE ST_Covers(ST_SetSRID(ST_GeomFromGeoJSON(:ring), 4326), ST_PointOnSurface(geom))"),
                {"ring": __import__("json").dumps(zone["geometry"])}).one()  # fmt: skip
            assert zone["properties"]["buildings"] == count
            assert zone["properties"]["floor_area_m2"] == pytest.approx(float(area or 0), rel=1e-6)


def test_a_city_wide_event_counts_every_building_and_resident_once(demo_engine) -> None:
    scenario = earthquake_scenario(demo_engine, Event.parse({**CENTRE, "magnitude": 6.5, "depth_km": 10}))
    with demo_engine.connect() as conn:
        buildings = conn.execute(text("SELECT count(*) FROM basemap.building")).scalar_one()
        population = conn.execute(text("SELECT sum(population) FROM basemap.admin_division "
                                       "WHERE level = 'community'")).scalar_one()  # fmt: skip
    totals = scenario.totals()
    assert totals["buildings"] == buildings
    assert totals["residents"] == pytest.approx(population, rel=1e-9)  # communities' populations shared


# ------------------------------------------------------------------------- shelters
def _check_plan(scenario, max_walk_m: float) -> None:
    shelters = {s["id"]: s for s in scenario.shelters}
    loads: dict[int, int] = dict.fromkeys(shelters, 0)
    sent: dict[str, int] = {}
    for a in scenario.assignments:
        assert a["people"] > 0 and a["distance_m"] <= max_walk_m
        loads[a["shelter"]] += a["people"]
        sent[a["community"]] = sent.get(a["community"], 0) + a["people"]
    for sid, shelter in shelters.items():
        assert shelter["load"] == loads[sid] <= shelter["capacity"]
    for c in scenario.communities:
        assert c["assigned"] == sent.get(c["code"], 0)
        assert c["assigned"] + c["unassigned"] == c["demand"]
        assert abs(c["demand"] - c["residents"] * PARAMS.shelter_share) <= 1  # whole people of the share


def test_no_shelter_over_capacity_and_every_person_counted_once(moderate) -> None:
    _check_plan(moderate, PARAMS.max_walk_m)
    assert moderate.totals()["shelter_demand"] > 0


def test_a_short_walk_leaves_people_unassigned(demo_engine) -> None:
    scenario = earthquake_scenario(demo_engine, Event.parse(MODERATE), max_walk_m=600)
    _check_plan(scenario, 600)
    assert scenario.totals()["unassigned"] > 0
    assert scenario.totals()["assigned"] + scenario.totals()["unassigned"] == scenario.totals()["shelter_demand"]


def _brute_force(demand: list[int], capacity: list[int], cost: np.ndarray) -> tuple[int, int]:
    """(most people assigned, least cost among those) by enumerating every integer flow."""
    options = [(c, s) for c in range(len(demand)) for s in range(len(capacity)) if cost[c, s] >= 0]
    best = (0, 0)
    for flows in itertools.product(*[range(min(demand[c], capacity[s]) + 1) for c, s in options]):
        out = [sum(f for f, (c, _) in zip(flows, options, strict=True) if c == i) for i in range(len(demand))]
        into = [sum(f for f, (_, s) in zip(flows, options, strict=True) if s == j) for j in range(len(capacity))]
        if any(o > d for o, d in zip(out, demand, strict=True)) or any(i > k for i, k in zip(into, capacity, strict=True)):
            continue
        value = (sum(flows), -sum(f * int(cost[c, s]) for f, (c, s) in zip(flows, options, strict=True)))
        best = max(best, value)
    return best[0], -best[1]


@pytest.mark.parametrize("seed", range(8))
def test_the_flow_is_optimal_on_tiny_instances(seed: int) -> None:
    rng = np.random.default_rng(seed)
    demand = rng.integers(0, 4, size=3).tolist()
    capacity = rng.integers(1, 4, size=2).tolist()
    cost = rng.integers(1, 20, size=(3, 2))
    cost[rng.random((3, 2)) < 0.25] = -1  # beyond the walking limit
    sent = min_cost_assignment(np.array(demand), np.array(capacity), cost)
    assert (sent.sum(axis=1) <= demand).all() and (sent.sum(axis=0) <= capacity).all()
    assert (sent[cost < 0] == 0).all()
    assigned, least = _brute_force(demand, capacity, cost)
    assert int(sent.sum()) == assigned
    assert int((sent * np.where(cost < 0, 0, cost)).sum()) == least


# ------------------------------------------------------------------------- doors
def test_rest_answers_geojson_with_the_plan(demo_server: str) -> None:
    answer = _post(demo_server, MODERATE)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/geo+json")
    body = answer.json()
    assert body["type"] == "FeatureCollection" and body["features"][0]["properties"]["degree"] == "VII"
    assert body["relation"]["long"] == {"a": 6.046, "b": 1.48, "c": 2.081, "r0": 25.0}
    assert {"communities", "assignments", "shelters", "totals"} <= set(body)


def test_a_small_event_in_the_city_has_no_zone(demo_server: str) -> None:
    answer = _post(demo_server, {**CENTRE, "magnitude": 3.0, "depth_km": 10})
    assert answer.status_code == 200, answer.text
    assert answer.json()["features"] == [] and answer.json()["totals"]["buildings"] == 0


SCRIPT = "</script><svg onload=alert(1)>"


@pytest.mark.parametrize(("body", "words"), [
    ({**MODERATE, "magnitude": 12}, "magnitude must lie between 3.0 and 9.5"),
    ({**MODERATE, "depth_km": -1}, "depth_km must lie between 0.0 and 700.0"),
    ({**MODERATE, "lon": "nan"}, "lon"),
    ({**MODERATE, "lon": 0.0, "lat": 0.0}, "km from the city"),
    ({**MODERATE, "lon": 34.26, "lat": 108.94}, "lat must lie between"),
    ({**MODERATE, "lon": 109.94, "lat": 35.26}, "check lon/lat"),
    ({**MODERATE, "region": SCRIPT}, "region: one of east, west"),
    ({**MODERATE, "distance": SCRIPT}, "distance: one of"),
    ({**MODERATE, "strike": SCRIPT}, "strike must be"),
    ({**MODERATE, "max_walk_m": 1e9}, "max_walk_m must lie between"),
    ({**MODERATE, SCRIPT: 1}, "unknown input"),
    ({"inputs": MODERATE}, "unknown input 'inputs'"),
    ({"lon": 108.9}, "lat is required"),
    ([1, 2], "JSON object"),
])  # fmt: skip
def test_bad_input_is_400_and_changes_nothing(demo_server: str, demo_engine, body: object, words: str) -> None:
    before = fingerprint(demo_engine)
    answer = _post(demo_server, body)
    assert answer.status_code == 400, answer.text
    assert words in answer.json()["description"]
    assert answer.headers["content-type"].startswith("application/json")  # words echoed in JSON, never HTML
    assert fingerprint(demo_engine) == before


def test_saving_needs_credentials_and_a_good_name(demo_server: str, demo_engine, emergency_editor) -> None:
    before = fingerprint(demo_engine)
    assert _post(demo_server, {**MODERATE, "save_as": "quake_zones"}).status_code == 401
    bad = _post(demo_server, {**MODERATE, "save_as": {"name": SCRIPT, "visibility": "public"}}, headers=emergency_editor)
    assert bad.status_code == 400 and "layer name" in bad.json()["description"]
    assert fingerprint(demo_engine) == before


def test_save_as_keeps_the_zones_as_a_layer(demo_server: str, demo_engine, emergency_editor) -> None:
    from layers.vector import remove_layer
    from spatial.access.principal import local_operator

    answer = _post(demo_server, {**MODERATE, "save_as": "quake_zones_test"}, headers=emergency_editor)
    assert answer.status_code == 201, answer.text
    assert answer.headers["location"].endswith("/api/v1/layers/quake_zones_test")
    try:
        items = httpx.get(f"{demo_server}/ogc/collections/quake_zones_test/items", headers=emergency_editor,
                          params={"f": "json"}, timeout=30).json()  # fmt: skip
        saved = sorted((f["properties"]["intensity"], f["properties"]["buildings"]) for f in items["features"])
        zones = sorted((z["properties"]["intensity"], z["properties"]["buildings"]) for z in answer.json()["features"])
        assert saved == zones
    finally:
        remove_layer(demo_engine, "quake_zones_test", principal=local_operator())


def test_the_process_through_pygeoapi(demo_server: str) -> None:
    url = f"{demo_server}/ogc/processes/earthquake-scenario"
    assert httpx.get(url, params={"f": "json"}, timeout=30).json()["id"] == "earthquake-scenario"
    done = httpx.post(f"{url}/execution", json={"inputs": MODERATE}, timeout=120)
    assert done.status_code == 200, done.text
    rest = _post(demo_server, MODERATE).json()
    assert done.json()["totals"] == rest["totals"]
    bad = httpx.post(f"{url}/execution", json={"inputs": {**MODERATE, "magnitude": 12}}, timeout=60)
    assert bad.status_code == 400 and "magnitude" in bad.text


@pytest.fixture(scope="module")
def emergency_editor(demo_engine) -> dict[str, str]:
    from spatial.access.principal import local_operator
    from spatial.access.tokens import create_token

    issued = create_token(demo_engine, department_code="emergency", role="editor", name="quake editor",
                          actor=local_operator())  # fmt: skip
    return {"Authorization": f"Bearer {issued.secret}"}


def test_the_parameters_in_use_are_shown(demo_server: str) -> None:
    shown = httpx.get(f"{demo_server}/api/v1/emergency/earthquake", timeout=30).json()
    assert shown["parameters"]["relations"]["east"]["short"] == {"a": 2.617, "b": 1.435, "c": 1.441, "r0": 7.0}
    assert "汪素云" in shown["parameters"]["source"]


def test_the_process_saves_for_an_editor_and_refuses_anonymous(demo_server: str, demo_engine, emergency_editor) -> None:
    from layers.vector import remove_layer
    from spatial.access.principal import local_operator

    url = f"{demo_server}/ogc/processes/earthquake-scenario/execution"
    before = fingerprint(demo_engine)
    refused = httpx.post(url, json={"inputs": {**MODERATE, "save_as": "quake_by_process"}}, timeout=120)
    assert refused.status_code == 401, refused.text
    assert fingerprint(demo_engine) == before
    done = httpx.post(url, json={"inputs": {**MODERATE, "save_as": "quake_by_process"}}, headers=emergency_editor,
                      timeout=120)  # fmt: skip
    try:
        assert done.status_code == 200, done.text
        with demo_engine.connect() as conn:
            row = conn.execute(text("SELECT department_code, visibility FROM catalog.layer WHERE id = 'quake_by_process'")).one()
        assert tuple(row) == ("emergency", "department")
    finally:
        remove_layer(demo_engine, "quake_by_process", principal=local_operator())
