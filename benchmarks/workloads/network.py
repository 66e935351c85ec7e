"""network: closest facilities, service areas and OD matrices on the Manhattan streets, three ways, same run.

The Manhattan profile (examples/cities/manhattan.yaml: OSM streets of Midtown/Chelsea) is loaded
into a database of its own; its load commits the prepared graph (``network.node/edge``).

- facilities: 100 named POIs of the base map on the extract's streets (fixed seed); requests: real
  311 locations on the extract (fixed seed); every request is one transaction of its own;
- ours: ``spatial.network.services`` on the prepared graph (snapping, one pgRouting search from
  the target on the reversed graph, top k) — ``closest`` k=5 among the 100, ``service_area`` 15 min
  (reached nodes + the band's polygon), ``od_matrix`` 100 × 100 (one many-to-many pgr_dijkstraCost);
- naive pgRouting: what a notebook did per request — the graph built from ``basemap.road`` in
  temporary tables (``spatial.network.graph.build_road_graph``), places snapped to it, then
  ``pgr_dijkstra`` one-to-many (closest: from each facility's node towards the target, reversed
  graph), ``pgr_drivingDistance`` (service area, nodes only) or ``pgr_dijkstraCost`` many-to-many;
- networkx: the same graph read once from ``network.edge`` into a DiGraph (load time reported
  apart), per request a Dijkstra (closest: from the target on the reversed graph, to all nodes;
  service area: cut off at 15 min; OD: one per origin), snapping by geodesic distance in numpy.

Latencies are p50/p95 in ms over the requests. The real data absent: skipped with a reason, an
error when ``CI`` is set.
"""

from __future__ import annotations

import csv
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, text

from benchmarks.harness import Context, Figure, Result, percentile, workload
from spatial.config import PROJECT_ROOT, Settings
from spatial.db import connection_info, make_engine
from spatial.network import services
from spatial.network.graph import EDGES_QUERY as NAIVE_EDGES
from spatial.network.graph import build_road_graph
from spatial.network.services import ACCESS_MS, Candidate
from spatial.postgis import ClusterState, create_database, drop_database

PROFILE = PROJECT_ROOT / "examples" / "cities" / "manhattan.yaml"
REALDATA = PROJECT_ROOT.parent / "shared" / "realdata" / "nyc"
DATABASE = "onemap_bench_network"
K = 5
FACILITIES = 100
AREA_MINUTES = 15


def skip_or_fail(reason: str) -> None:
    if os.environ.get("CI"):
        raise RuntimeError(f"network: {reason} (CI is set: not skipped)")
    print(f"network: skipped — {reason}")


# ------------------------------------------------------------------------------ the city
def load_manhattan(state: ClusterState, folder: str) -> Engine:
    from layers.city.load import load_city
    from layers.city.profile import read_profile
    from spatial import migrate
    from spatial.access.principal import local_operator

    drop_database(state, DATABASE)
    create_database(state, DATABASE)
    url = state.url(DATABASE)
    engine = make_engine(url, pool_size=2)
    migrate.upgrade(engine)
    settings = Settings(database_url=url, var_dir=Path(folder) / "var")
    report = load_city(engine, read_profile(PROFILE), principal=local_operator(), settings=settings)
    if not report.ok:
        raise RuntimeError("network: the Manhattan profile did not load: " + "; ".join(report.lines()[-5:]))
    return engine


def facilities(engine: Engine, n: int) -> list[Candidate]:
    """``n`` named POIs within 100 m of a routable node (a fixed sample)."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT p.id, ST_X(p.geom), ST_Y(p.geom) FROM basemap.poi p WHERE EXISTS ("
            "SELECT 1 FROM network.node n WHERE n.routable AND ST_DWithin(n.geom::geography, p.geom::geography, 100)) "
            "ORDER BY p.id"
        )).all()  # fmt: skip
    chosen = random.Random(100).sample(rows, n)
    return [Candidate(int(i), float(x), float(y)) for i, x, y in chosen]


def calls(engine: Engine, n: int) -> list[tuple[float, float]]:
    """``n`` real 311 locations within 150 m of a routable node."""
    points = []
    with (REALDATA / "nyc311_2023-02-28_sample4999.csv").open(encoding="utf-8", errors="replace", newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("Latitude") and row.get("Longitude") and row.get("Borough") == "MANHATTAN":
                points.append((float(row["Longitude"]), float(row["Latitude"])))
    with engine.connect() as conn:
        near = conn.execute(text(
            "SELECT p.ord FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) WITH ORDINALITY AS p(x, y, ord) "
            "WHERE EXISTS (SELECT 1 FROM network.node n WHERE n.routable AND ST_DWithin(n.geom::geography, "
            "ST_SetSRID(ST_MakePoint(p.x, p.y), 4326)::geography, 150)) ORDER BY p.ord"),
            {"x": [p[0] for p in points], "y": [p[1] for p in points]}).scalars().all()  # fmt: skip
    on_streets = [points[int(i) - 1] for i in near]
    return random.Random(311).sample(on_streets, min(n, len(on_streets)))


# ------------------------------------------------------------------------------ naive pgRouting
NAIVE_SNAP = """
SELECT p.ord, n.id, n.dist_m
FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) WITH ORDINALITY AS p(x, y, ord)
CROSS JOIN LATERAL (
    SELECT r.id, ST_Distance(r.geom::geography, ST_SetSRID(ST_MakePoint(p.x, p.y), 4326)::geography) AS dist_m
    FROM road_node r WHERE r.routable ORDER BY r.geom <-> ST_SetSRID(ST_MakePoint(p.x, p.y), 4326) LIMIT 1
) AS n ORDER BY p.ord
"""
NAIVE_REVERSED = f"SELECT id, target AS source, source AS target, cost, reverse_cost FROM ({NAIVE_EDGES}) AS e"


def naive_snap(conn: Any, points: list[tuple[float, float]]) -> list[tuple[int, float]]:
    rows = conn.execute(text(NAIVE_SNAP), {"x": [p[0] for p in points], "y": [p[1] for p in points]}).all()
    return [(int(r[1]), float(r[2])) for r in rows]


def naive_closest(engine: Engine, target: tuple[float, float], candidates: list[Candidate], k: int) -> list[Any]:
    with engine.begin() as conn:
        build_road_graph(conn)
        (node, snap), *snaps = naive_snap(conn, [target, *((c.lon, c.lat) for c in candidates)])
        rows = conn.execute(
            text("SELECT end_vid, max(agg_cost) FROM pgr_dijkstra(:edges, :start, CAST(:ends AS bigint[]), true) "
                 "GROUP BY end_vid"),
            {"edges": NAIVE_REVERSED, "start": node, "ends": sorted({n for n, _ in snaps} - {node})},
        ).all()  # fmt: skip
    costs = {int(n): float(c) for n, c in rows} | {node: 0.0}
    ranked = sorted((costs[n] + (d + snap) / ACCESS_MS, c.id) for c, (n, d) in zip(candidates, snaps, strict=True)
                    if n in costs)  # fmt: skip
    return ranked[:k]


def naive_service_area(engine: Engine, origin: tuple[float, float], minutes: float) -> int:
    with engine.begin() as conn:
        build_road_graph(conn)
        [(node, snap)] = naive_snap(conn, [origin])
        rows = conn.execute(text("SELECT node FROM pgr_drivingDistance(:edges, :start, :d, true)"),
                            {"edges": NAIVE_EDGES, "start": node, "d": minutes * 60 - snap / ACCESS_MS}).all()  # fmt: skip
    return len(rows)


def naive_od(engine: Engine, origins: list[tuple[float, float]], destinations: list[tuple[float, float]]) -> int:
    with engine.begin() as conn:
        build_road_graph(conn)
        a = naive_snap(conn, origins)
        b = naive_snap(conn, destinations)
        rows = conn.execute(
            text("SELECT count(*) FROM pgr_dijkstraCost(:edges, CAST(:a AS bigint[]), CAST(:b AS bigint[]), true)"),
            {"edges": NAIVE_EDGES, "a": sorted({n for n, _ in a}), "b": sorted({n for n, _ in b})},
        ).scalar_one()  # fmt: skip
    return int(rows)


# ------------------------------------------------------------------------------ networkx
class NetworkxSide:
    """The prepared graph in a networkx DiGraph, snapping by geodesic distance (numpy + pyproj)."""

    def __init__(self, engine: Engine) -> None:
        import networkx as nx
        from pyproj import Geod

        self.nx = nx
        self.geod = Geod(ellps="WGS84")
        started = time.perf_counter()
        with engine.connect() as conn:
            edges = conn.execute(text("SELECT source, target, cost, reverse_cost FROM network.edge")).all()
            nodes = conn.execute(text("SELECT id, ST_X(geom), ST_Y(geom) FROM network.node WHERE routable")).all()
        self.graph = nx.DiGraph()
        for s, t, c, r in edges:
            for a, b, w in ((s, t, c), (t, s, r)):
                if w >= 0 and (not self.graph.has_edge(a, b) or self.graph[a][b]["weight"] > w):
                    self.graph.add_edge(a, b, weight=w)
        self.reversed = self.graph.reverse(copy=True)
        self.ids = np.array([int(n) for n, _, _ in nodes])
        self.lons = np.array([float(x) for _, x, _ in nodes])
        self.lats = np.array([float(y) for _, _, y in nodes])
        self.load_seconds = time.perf_counter() - started

    def snap(self, point: tuple[float, float]) -> tuple[int, float]:
        _, _, dist = self.geod.inv(np.full(self.lons.shape, point[0]), np.full(self.lats.shape, point[1]),
                                   self.lons, self.lats)  # fmt: skip
        i = int(np.argmin(dist))
        return int(self.ids[i]), float(dist[i])

    def closest(self, target: tuple[float, float], candidates: list[Candidate], k: int) -> list[Any]:
        node, snap = self.snap(target)
        costs = self.nx.single_source_dijkstra_path_length(self.reversed, node, weight="weight")
        ranked = []
        for c in candidates:
            n, d = self.snap((c.lon, c.lat))
            if n in costs:
                ranked.append((costs[n] + (d + snap) / ACCESS_MS, c.id))
        return sorted(ranked)[:k]

    def service_area(self, origin: tuple[float, float], minutes: float) -> int:
        node, snap = self.snap(origin)
        reached = self.nx.single_source_dijkstra_path_length(self.graph, node, cutoff=minutes * 60 - snap / ACCESS_MS,
                                                             weight="weight")  # fmt: skip
        return len(reached)

    def od(self, origins: list[tuple[float, float]], destinations: list[tuple[float, float]]) -> int:
        targets = [self.snap(p)[0] for p in destinations]
        cells = 0
        for p in origins:
            costs = self.nx.single_source_dijkstra_path_length(self.graph, self.snap(p)[0], weight="weight")
            cells += sum(1 for t in targets if t in costs)
        return cells


# ------------------------------------------------------------------------------ measuring
def ms(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(samples, 50), 2), "p95_ms": round(percentile(samples, 95), 2),
            "n": len(samples)}  # fmt: skip


@workload("network")
def network(ctx: Context) -> list[Result]:
    if not (REALDATA / "osm" / "manhattan.osm.pbf").exists():
        skip_or_fail(f"the real data is absent ({REALDATA / 'osm' / 'manhattan.osm.pbf'})")
        return []
    try:
        import networkx  # noqa: F401
    except ImportError:
        skip_or_fail("networkx is not installed (dev extra)")
        return []
    import tempfile

    info = connection_info(ctx.url)
    state = ClusterState(port=info.port, user=info.user, password=info.password)
    with tempfile.TemporaryDirectory() as folder:
        engine = load_manhattan(state, folder)
        try:
            return measure(engine, ctx.quick)
        finally:
            engine.dispose()
            drop_database(state, DATABASE)


def measure(engine: Engine, quick: bool) -> list[Result]:
    with engine.connect() as conn:
        graph = conn.execute(text("SELECT nodes, edges, routable_nodes, build_seconds FROM network.graph")).one()
    pool = facilities(engine, FACILITIES)
    requests = calls(engine, 10 if quick else 40)
    areas = requests[: 5 if quick else 20]
    nxside = NetworkxSide(engine)

    def ours_closest(target: tuple[float, float]) -> Any:
        with engine.begin() as conn:
            return services.closest(conn, target, pool, k=K)

    def ours_area(origin: tuple[float, float]) -> Any:
        with engine.begin() as conn:
            return services.service_area(conn, origin, [AREA_MINUTES])

    ours_closest(requests[0])  # warm caches alike for every side
    naive_closest(engine, requests[0], pool, K)
    # interleaved: each request measured on every side before the next one
    samples: dict[str, list[float]] = {"ours": [], "naive": [], "networkx": []}
    agree = 0
    closest_sides: list[tuple[str, Callable[[Any], Any]]] = [
        ("ours", ours_closest), ("naive", lambda t: naive_closest(engine, t, pool, K)),
        ("networkx", lambda t: nxside.closest(t, pool, K))]  # fmt: skip
    mine: list[float] = []
    for target in requests:
        for name, func in closest_sides:
            started = time.perf_counter()
            answer = func(target)
            samples[name].append((time.perf_counter() - started) * 1000)
            if name == "ours":
                mine = [round(r.seconds, 3) for r in answer.items]
            if name == "networkx":
                agree += int(mine == [round(s, 3) for s, _ in answer])
    area_samples: dict[str, list[float]] = {"ours": [], "naive": [], "networkx": []}
    reached: dict[str, int] = {}
    area_sides: list[tuple[str, Callable[[Any], Any]]] = [
        ("ours", ours_area), ("naive", lambda o: naive_service_area(engine, o, AREA_MINUTES)),
        ("networkx", lambda o: nxside.service_area(o, AREA_MINUTES))]  # fmt: skip
    for origin in areas:
        for name, func in area_sides:
            started = time.perf_counter()
            answer = func(origin)
            area_samples[name].append((time.perf_counter() - started) * 1000)
            reached[name] = len(answer.bands[0].node_ids) if name == "ours" else int(answer)
    od_points = calls(engine, 100)
    od_points = (od_points * (100 // len(od_points) + 1))[:100]
    od_runs = 2 if quick else 5
    od: dict[str, list[float]] = {"ours": [], "naive": [], "networkx": []}
    od_sides: list[tuple[str, Callable[[], Any]]] = [
        ("ours", lambda: _ours_od(engine, od_points)), ("naive", lambda: naive_od(engine, od_points, od_points)),
        ("networkx", lambda: nxside.od(od_points, od_points))]  # fmt: skip
    for _ in range(od_runs):
        for name, run in od_sides:
            started = time.perf_counter()
            run()
            od[name].append(time.perf_counter() - started)
    sizes = {"nodes": graph[0], "edges": graph[1], "routable_nodes": graph[2], "graph_build_s": round(graph[3], 3),
             "networkx_graph_load_s": round(nxside.load_seconds, 3), "facilities": len(pool),
             "requests": len(requests)}  # fmt: skip
    closest_extra = {**sizes, "ours": ms(samples["ours"]), "naive_pgrouting": ms(samples["naive"]),
                     "networkx": ms(samples["networkx"]), "top_k_equal_to_networkx": f"{agree}/{len(requests)}"}  # fmt: skip
    area_extra = {**sizes, "ours": ms(area_samples["ours"]), "naive_pgrouting": ms(area_samples["naive"]),
                  "networkx": ms(area_samples["networkx"]), "reached_nodes_last": reached}  # fmt: skip
    od_rate = {name: 1 / float(np.median(v)) for name, v in od.items()}
    od_extra = {**sizes, "seconds_median": {k: round(float(np.median(v)), 3) for k, v in od.items()},
                "matrices_per_s": {k: round(v, 2) for k, v in od_rate.items()}, "runs": od_runs}  # fmt: skip
    naive_name = "naive pgRouting per request: graph from basemap.road in temp tables + pgr_dijkstra one-to-many"
    return [
        Result("network", f"closest-{K} among {FACILITIES} facilities, p95 latency",
               Figure(percentile(samples["ours"], 95), "ms", False), Figure(percentile(samples["naive"], 95), "ms", False),
               naive_name, target="p95 ≤ 1/5 of the naive call (ratio ≥ 5×)", extra=closest_extra),
        Result("network", f"closest-{K} among {FACILITIES} facilities, p95 latency (vs networkx)",
               Figure(percentile(samples["ours"], 95), "ms", False),
               Figure(percentile(samples["networkx"], 95), "ms", False),
               "networkx Dijkstra on the same graph (in memory, graph load apart)", extra=closest_extra),
        Result("network", f"service area {AREA_MINUTES} min (nodes + polygon), p95 latency",
               Figure(percentile(area_samples["ours"], 95), "ms", False),
               Figure(percentile(area_samples["naive"], 95), "ms", False),
               "naive pgRouting per request: temp-table graph + pgr_drivingDistance (nodes only)",
               target="≤ 1 s", extra=area_extra),
        Result("network", f"service area {AREA_MINUTES} min, p95 latency (vs networkx, nodes only)",
               Figure(percentile(area_samples["ours"], 95), "ms", False),
               Figure(percentile(area_samples["networkx"], 95), "ms", False),
               "networkx Dijkstra with cutoff on the same graph", extra=area_extra),
        Result("network", "OD matrix 100 × 100 per second", Figure(od_rate["ours"], "matrices/s"),
               Figure(od_rate["naive"], "matrices/s"), "naive pgRouting: temp-table graph + pgr_dijkstraCost many-to-many",
               extra=od_extra),
        Result("network", "OD matrix 100 × 100 per second (vs networkx)", Figure(od_rate["ours"], "matrices/s"),
               Figure(od_rate["networkx"], "matrices/s"), "networkx: 100 single-source Dijkstras", extra=od_extra),
    ]  # fmt: skip


def _ours_od(engine: Engine, points: list[tuple[float, float]]) -> Any:
    with engine.begin() as conn:
        return services.od_matrix(conn, points, points)
