"""The prepared road graph: ``network.node``/``network.edge`` built once per road-network version.

Every request used to build its graph from ``basemap.road`` in temporary tables (graph.py, still
there for the naive baseline). Here the same graph is built once into the ``network`` schema and
reused: ``ensure_graph(conn)`` compares ``network.graph.road_stamp`` with ``network.road_stamp``
(bumped by a trigger on every write to ``basemap.road``: a city load, a rollback, an edit) and
rebuilds only when they differ, under an advisory lock so concurrent requests build it once.

Costs as graph.py: seconds at the road's ``speed_kmh`` over the geodesic length, directed
(``cost`` along the line, ``reverse_cost`` against it; a one-way road has -1, pgRouting's "no
edge", the other way). Nodes of the largest strongly connected component are ``routable``:
places are snapped only to them, so any two snapped places reach each other.

Time-of-day factors (optional, ``network.speed_factor``): a speed multiplier per road class and
hour of the day (road class ``'*'`` for every class without its own row; no row: 1.0). A factor
of 0.5 at hour 8 for ``primary`` halves the speed, doubling the seconds, of primary roads
between 08:00 and 08:59. ``edges_sql(hour)`` gives pgRouting's edge query with the factors of
that hour applied; ``hour=None`` uses the free-flow costs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from spatial.errors import InvalidInput
from spatial.network.graph import require_pgrouting

LOCK_KEY = "onemap-network-graph"

NODES_SQL = """
INSERT INTO network.node (id, geom, routable)
SELECT row_number() OVER (ORDER BY x, y), ST_SetSRID(ST_MakePoint(x, y), 4326), false
FROM (SELECT ST_X(ST_StartPoint(geom)) AS x, ST_Y(ST_StartPoint(geom)) AS y FROM basemap.road
      UNION SELECT ST_X(ST_EndPoint(geom)), ST_Y(ST_EndPoint(geom)) FROM basemap.road) AS ends
"""
EDGES_SQL = """
INSERT INTO network.edge (id, road_id, source, target, cost, reverse_cost, length_m, road_class, geom)
SELECT r.id, r.id, a.id, b.id,
       CASE WHEN r.oneway = -1 THEN -1 ELSE r.seconds END,
       CASE WHEN r.oneway = 1 THEN -1 ELSE r.seconds END,
       r.length_m, r.road_class, r.geom
FROM (
    SELECT id, oneway, road_class, geom, length_m,
           length_m / (greatest(speed_kmh, 1) / 3.6) AS seconds,
           ST_X(ST_StartPoint(geom)) AS x0, ST_Y(ST_StartPoint(geom)) AS y0,
           ST_X(ST_EndPoint(geom)) AS x1, ST_Y(ST_EndPoint(geom)) AS y1
    FROM (SELECT *, ST_Length(geom::geography) AS length_m FROM basemap.road) AS measured
) AS r
JOIN network.node a ON ST_X(a.geom) = r.x0 AND ST_Y(a.geom) = r.y0
JOIN network.node b ON ST_X(b.geom) = r.x1 AND ST_Y(b.geom) = r.y1
"""
EDGES_QUERY = "SELECT id, source, target, cost, reverse_cost FROM network.edge"
"""What pgRouting reads from the prepared graph, free-flow (a negative cost: closed that way)."""
ROUTABLE_SQL = """
WITH c AS (SELECT component, node FROM pgr_strongComponents(:edges))
UPDATE network.node n SET routable = true FROM c
WHERE c.node = n.id AND c.component = (
    SELECT component FROM c GROUP BY component ORDER BY count(*) DESC, component LIMIT 1)
"""
FACTOR_EDGES = """
SELECT e.id, e.source, e.target,
       CASE WHEN e.cost < 0 THEN -1 ELSE e.cost / f.factor END AS cost,
       CASE WHEN e.reverse_cost < 0 THEN -1 ELSE e.reverse_cost / f.factor END AS reverse_cost
FROM network.edge e CROSS JOIN LATERAL (
    SELECT coalesce(
        (SELECT factor FROM network.speed_factor WHERE road_class = e.road_class AND hour = {hour}),
        (SELECT factor FROM network.speed_factor WHERE road_class = '*' AND hour = {hour}),
        1.0) AS factor) AS f
"""


@dataclass(frozen=True)
class GraphInfo:
    """The prepared graph in use: its road version (None: no city load recorded) and size."""

    road_version: int | None
    road_stamp: int
    nodes: int
    edges: int
    routable_nodes: int
    build_seconds: float
    rebuilt: bool


def edges_sql(hour: int | None = None) -> str:
    """pgRouting's edge query on the prepared graph; with ``hour``, that hour's speed factors."""
    if hour is None:
        return EDGES_QUERY
    if not isinstance(hour, int) or isinstance(hour, bool) or not 0 <= hour <= 23:
        raise InvalidInput(f"hour must be a whole number from 0 to 23, not {hour!r}")
    return FACTOR_EDGES.format(hour=int(hour))


def ensure_graph(conn: Connection) -> GraphInfo:
    """The prepared graph, rebuilt first (in ``conn``'s transaction) when the roads changed."""
    info = current_graph(conn)
    if info is not None:
        return info
    require_pgrouting(conn)
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": LOCK_KEY})
    info = current_graph(conn)  # another request may have built it while we waited
    if info is not None:
        return info
    return build_graph(conn)


def refresh_graph(engine: Engine) -> GraphInfo:
    """``ensure_graph`` in a transaction of its own (committed whatever the caller does next)."""
    with engine.begin() as conn:
        return ensure_graph(conn)


def current_graph(conn: Connection) -> GraphInfo | None:
    """The built graph when it matches the roads' current stamp, else None."""
    row = conn.execute(
        text(
            "SELECT g.road_version, g.road_stamp, g.nodes, g.edges, g.routable_nodes, "
            "g.build_seconds FROM network.graph g JOIN network.road_stamp s "
            "ON s.id = 1 AND s.stamp = g.road_stamp WHERE g.id = 1"
        )
    ).first()
    if row is None:
        return None
    return GraphInfo(
        row[0], int(row[1]), int(row[2]), int(row[3]), int(row[4]), float(row[5]), False
    )


def build_graph(conn: Connection) -> GraphInfo:
    """Replace the prepared graph by one built from the current ``basemap.road``."""
    started = time.perf_counter()
    stamp = int(
        conn.execute(text("SELECT stamp FROM network.road_stamp WHERE id = 1")).scalar_one()
    )
    version = conn.execute(text("SELECT id FROM basemap.version WHERE is_current")).scalar()
    conn.execute(text("DELETE FROM network.edge"))
    conn.execute(text("DELETE FROM network.node"))
    conn.execute(text(NODES_SQL))
    conn.execute(text("ANALYZE network.node"))
    conn.execute(text(EDGES_SQL))
    edges = int(conn.execute(text("SELECT count(*) FROM network.edge")).scalar_one())
    if edges:
        conn.execute(text(ROUTABLE_SQL), {"edges": EDGES_QUERY})
    conn.execute(text("ANALYZE network.node"))
    conn.execute(text("ANALYZE network.edge"))
    nodes = int(conn.execute(text("SELECT count(*) FROM network.node")).scalar_one())
    routable = int(
        conn.execute(text("SELECT count(*) FROM network.node WHERE routable")).scalar_one()
    )
    seconds = time.perf_counter() - started
    conn.execute(
        text(
            "INSERT INTO network.graph (id, road_version, road_stamp, built_at, nodes, edges, "
            "routable_nodes, build_seconds) VALUES (1, :v, :s, now(), :n, :e, :r, :t) "
            "ON CONFLICT (id) DO UPDATE SET road_version = EXCLUDED.road_version, "
            "road_stamp = EXCLUDED.road_stamp, built_at = EXCLUDED.built_at, "
            "nodes = EXCLUDED.nodes, edges = EXCLUDED.edges, "
            "routable_nodes = EXCLUDED.routable_nodes, build_seconds = EXCLUDED.build_seconds"
        ),
        {"v": version, "s": stamp, "n": nodes, "e": edges, "r": routable, "t": seconds},
    )
    return GraphInfo(None if version is None else int(version), stamp, nodes, edges, routable,
                     seconds, True)  # fmt: skip


def require_roads(info: GraphInfo) -> None:
    """InvalidInput when the base map has no routable road (nothing loaded yet)."""
    if not info.edges or not info.routable_nodes:
        raise InvalidInput("the base map holds no routable roads: load a city first")
