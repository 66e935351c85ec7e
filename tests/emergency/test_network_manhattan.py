"""Real data: network analysis on Manhattan's OSM streets checked against networkx on the same graph.

The graph is read back from ``network.edge`` (directed: ``cost`` source → target, ``reverse_cost``
target → source, negative = closed) into a networkx DiGraph; places are snapped independently
(geodesic distance to every routable node, pyproj). Then:

- the routable flag is networkx's largest strongly connected component;
- the closest FDNY firehouses (units drive *to* the call) and hospitals (driven *from* the call)
  for 30 real 311 locations are networkx's, with the same seconds;
- service areas (4/8/15 min) hold exactly the nodes networkx reaches within the time;
- an OD matrix is networkx's, and the HTTP door answers what the library answers.
"""

from __future__ import annotations

import csv
import os
import random
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from pyproj import Geod
from sqlalchemy import text

from spatial.network import services
from spatial.network.services import ACCESS_MS, Candidate
from tests.conftest import realdata_path
from tests.live import ServedCity

pytestmark = [pytest.mark.realdata, pytest.mark.slow, pytest.mark.timeout(900)]
try:
    import networkx as nx
except ImportError:  # the dev extra has it; on CI it must be there
    if os.environ.get("CI"):
        raise
    pytest.skip("networkx (dev extra) checks pgRouting independently: not installed", allow_module_level=True)
GEOD = Geod(ellps="WGS84")
EPS = 1e-6  # seconds: nodes this close to a band's edge may fall either side of it


class Independent:
    """The graph of network.edge in networkx, and snapping by geodesic distance."""

    def __init__(self, city: ServedCity) -> None:
        with city.engine.connect() as conn:
            edges = conn.execute(text("SELECT source, target, cost, reverse_cost FROM network.edge")).all()
            nodes = conn.execute(text("SELECT id, ST_X(geom), ST_Y(geom), routable FROM network.node")).all()
        self.graph = nx.DiGraph()
        for source, target, cost, reverse in edges:
            for a, b, w in ((source, target, cost), (target, source, reverse)):
                if w >= 0 and (not self.graph.has_edge(a, b) or self.graph[a][b]["weight"] > w):
                    self.graph.add_edge(a, b, weight=w)
        self.flagged = {int(n) for n, _, _, r in nodes if r}
        self.component = max(nx.strongly_connected_components(self.graph), key=len)
        ids = [int(n) for n, _, _, r in nodes if r]
        self.ids = np.array(ids)
        self.lons = np.array([float(x) for n, x, _, r in nodes if r])
        self.lats = np.array([float(y) for n, _, y, r in nodes if r])

    def snap(self, lon: float, lat: float) -> tuple[int, float]:
        _, _, dist = GEOD.inv(np.full(self.lons.shape, lon), np.full(self.lats.shape, lat), self.lons, self.lats)
        i = int(np.argmin(dist))
        return int(self.ids[i]), float(dist[i])

    def to(self, node: int) -> dict[int, float]:
        """Seconds from every node to ``node``."""
        return nx.single_source_dijkstra_path_length(self.graph.reverse(copy=False), node, weight="weight")

    def from_(self, node: int) -> dict[int, float]:
        """Seconds from ``node`` to every node."""
        return nx.single_source_dijkstra_path_length(self.graph, node, weight="weight")


@pytest.fixture(scope="module")
def city(manhattan_city: ServedCity) -> ServedCity:
    return manhattan_city


@pytest.fixture(scope="module")
def independent(city: ServedCity) -> Independent:
    return Independent(city)


def facilities(path_parts: tuple[str, ...], name: str, lat: str, lon: str, keep) -> list[Candidate]:
    with realdata_path(*path_parts).open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if keep(r) and r[lat] and r[lon]]
    return [Candidate(f"{r[name]} #{i}", float(r[lon]), float(r[lat])) for i, r in enumerate(rows)]


@pytest.fixture(scope="module")
def firehouses(independent: Independent) -> list[Candidate]:
    found = facilities(("nyc", "fdny_firehouses.csv"), "FacilityName", "Latitude", "Longitude",
                       lambda r: r["Borough"].strip().lower() == "manhattan")  # fmt: skip
    inside = [c for c in found if independent.snap(c.lon, c.lat)[1] <= services.DEFAULT_TOLERANCE_M]
    assert len(inside) >= 5, f"only {len(inside)} Manhattan firehouses lie on the extract's streets"
    return found  # the rest must come back as unreachable (off the extract)


@pytest.fixture(scope="module")
def hospitals() -> list[Candidate]:
    return facilities(("nyc", "hospitals_nyc_hifld.csv"), "NAME", "LATITUDE", "LONGITUDE",
                      lambda r: r["COUNTY"].strip().upper() in ("NEW YORK", "MANHATTAN") and r["STATUS"] == "OPEN")  # fmt: skip


@pytest.fixture(scope="module")
def calls(independent: Independent) -> list[tuple[float, float]]:
    """30 real 311 locations on the extract's streets (within 150 m of a routable node)."""
    points: list[tuple[float, float]] = []
    for name in ("nyc311_2023-02-28_sample4999.csv", "nyc311_2024-04_api_sample.csv"):
        with realdata_path("nyc", name).open(encoding="utf-8", errors="replace", newline="") as fh:
            for row in csv.DictReader(fh):
                lat, lon = row.get("Latitude") or row.get("latitude"), row.get("Longitude") or row.get("longitude")
                if lat and lon and (row.get("Borough") or row.get("borough") or "").upper() == "MANHATTAN":
                    points.append((float(lon), float(lat)))
    near = [p for p in points if independent.snap(*p)[1] <= 150]
    assert len(near) >= 30, f"only {len(near)} 311 locations on the extract"
    return random.Random(17).sample(near, 30)


def expected_ranking(independent: Independent, target: tuple[float, float], candidates: list[Candidate],
                     towards: bool) -> tuple[list[tuple[float, str]], list[str]]:  # fmt: skip
    node, snap_t = independent.snap(*target)
    costs = independent.to(node) if towards else independent.from_(node)
    ranked, off = [], []
    for c in candidates:
        n, snap_c = independent.snap(c.lon, c.lat)
        if snap_c > services.DEFAULT_TOLERANCE_M or n not in costs:
            off.append(c.id)
            continue
        ranked.append((costs[n] + (snap_c + snap_t) / ACCESS_MS, str(c.id)))
    return sorted(ranked), off


def test_routable_nodes_are_the_largest_strongly_connected_component(independent: Independent) -> None:
    assert independent.flagged == {int(n) for n in independent.component}
    assert len(independent.flagged) > 1000


def test_closest_firehouses_for_311_calls_match_networkx(city, independent, firehouses, calls) -> None:
    with city.engine.begin() as conn:
        for target in calls:
            found = services.closest(conn, target, firehouses, k=3)
            ranked, off = expected_ranking(independent, target, firehouses, towards=True)
            assert sorted(map(str, found.unreachable)) == sorted(off)
            assert [r.seconds for r in found.items] == pytest.approx([s for s, _ in ranked[:3]], abs=1e-3)
            on_network = len(ranked)
            for item, (seconds, ident) in zip(found.items, ranked[:3], strict=True):
                assert str(item.id) == ident or item.seconds == pytest.approx(seconds, abs=1e-3)  # ties either way
    print(f"\n{len(calls)} calls × {len(firehouses)} firehouses ({on_network} on the extract's streets): "
          f"top 3 = networkx's; graph {independent.graph.number_of_nodes()} nodes, {independent.graph.number_of_edges()} arcs")


def test_closest_hospitals_driven_from_the_call_match_networkx(city, independent, hospitals, calls) -> None:
    with city.engine.begin() as conn:
        for target in calls[:10]:
            found = services.closest(conn, target, hospitals, k=2, towards_target=False)
            ranked, off = expected_ranking(independent, target, hospitals, towards=False)
            assert sorted(map(str, found.unreachable)) == sorted(off)
            assert [r.seconds for r in found.items] == pytest.approx([s for s, _ in ranked[:2]], abs=1e-3)


@pytest.mark.parametrize("origin_index", [0, 7, 19])
def test_service_area_nodes_are_exactly_those_networkx_reaches(city, independent, calls, origin_index) -> None:
    origin = calls[origin_index]
    node, snap_m = independent.snap(*origin)
    costs = independent.from_(node)
    with city.engine.begin() as conn:
        area = services.service_area(conn, origin, [4, 8, 15])
        for band in area.bands:
            budget = band.minutes * 60 - snap_m / ACCESS_MS
            expected = {n for n, c in costs.items() if c <= budget}
            borderline = {n for n, c in costs.items() if abs(c - budget) <= EPS}
            assert set(band.node_ids) ^ expected <= borderline, band.minutes
            uncovered = conn.execute(text(
                "SELECT count(*) FROM network.node WHERE id = ANY(:ids) AND NOT ST_Covers(ST_GeomFromGeoJSON(:p), geom)"),
                {"ids": band.node_ids, "p": __import__("json").dumps(band.polygon)}).scalar_one()  # fmt: skip
            assert uncovered == 0
    assert area.snap_m == pytest.approx(snap_m, abs=0.5)


def test_od_matrix_matches_networkx(city, independent, calls) -> None:
    origins, destinations = calls[:10], calls[10:20]
    with city.engine.begin() as conn:
        matrix = services.od_matrix(conn, origins, destinations)
    for i, a in enumerate(origins):
        node_a, snap_a = independent.snap(*a)
        costs = independent.from_(node_a)
        for j, b in enumerate(destinations):
            node_b, snap_b = independent.snap(*b)
            assert matrix[i, j] == pytest.approx(costs[node_b] + (snap_a + snap_b) / ACCESS_MS, abs=1e-3)


def test_route_time_matches_networkx_and_http_agrees(city, independent, calls, firehouses) -> None:
    a, b = calls[3], calls[4]
    node_a, snap_a = independent.snap(*a)
    node_b, snap_b = independent.snap(*b)
    with city.engine.begin() as conn:
        found = services.route(conn, a, b)
        nearest = services.closest(conn, b, firehouses, k=3)
    assert found.seconds == pytest.approx(independent.from_(node_a)[node_b] + (snap_a + snap_b) / ACCESS_MS, abs=1e-3)
    body = {"target": list(b), "k": 3, "facilities": [{"id": str(c.id), "lon": c.lon, "lat": c.lat} for c in firehouses]}
    answer = httpx.post(f"{city.base}/api/v1/network/closest", json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    assert [f["id"] for f in answer.json()["features"]] == [str(r.id) for r in nearest.items]
    route = httpx.get(f"{city.base}/api/v1/network/route", params={"a": f"{a[0]},{a[1]}", "b": f"{b[0]},{b[1]}"},
                      timeout=60)  # fmt: skip
    assert route.json()["features"][0]["properties"]["seconds"] == pytest.approx(found.seconds, abs=0.1)


def test_coverage_of_firehouses_on_buildings(city, firehouses) -> None:
    with city.engine.begin() as conn:
        four = services.coverage(conn, firehouses, 4)
        eight = services.coverage(conn, firehouses, 8)
    assert four.residents > 0 and four.share is not None and eight.share is not None
    assert 0 < four.share <= eight.share <= 1
    assert {r.code for r in four.rows} and all(r.covered <= r.residents + 1e-6 for r in eight.rows)


@pytest.fixture(scope="module", autouse=True)
def _no_stray_tables(city: ServedCity) -> Iterator[None]:
    yield
    with city.engine.connect() as conn:  # coverage's temporary table is gone with its transaction
        assert conn.execute(text("SELECT to_regclass('pg_temp.network_reach')")).scalar() is None
