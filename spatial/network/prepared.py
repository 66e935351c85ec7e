"""The prepared road graph: ``network.node``/``network.edge`` built once per road-network version.

Every request used to build its graph from ``basemap.road`` in temporary tables (graph.py, still
there for the naive baseline). Here the same graph is built once into the ``network`` schema and
reused. The database rebuilds it itself when roads change: a deferred trigger on ``basemap.road``
runs ``network.rebuild_graph()`` once at the commit of any transaction that wrote roads (a city
load, a rollback, an edit), so the new base map commits with its graph. ``ensure_graph(conn)``
checks ``network.graph.road_stamp`` against ``network.road_stamp`` (bumped by a statement trigger
on every road write) and rebuilds only a graph left stale, under an advisory lock so concurrent
requests build it once.

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

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from spatial.errors import InvalidInput
from spatial.network.graph import require_pgrouting

LOCK_KEY = "onemap-network-graph"

EDGES_QUERY = "SELECT id, source, target, cost, reverse_cost FROM network.edge"
"""What pgRouting reads from the prepared graph, free-flow (a negative cost: closed that way)."""
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
    built_at: str = ""
    """When it was built (with the database and stamp, it names this graph: a cache key)."""


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
            "g.build_seconds, g.built_at::text FROM network.graph g JOIN network.road_stamp s "
            "ON s.id = 1 AND s.stamp = g.road_stamp WHERE g.id = 1"
        )
    ).first()
    if row is None:
        return None
    return GraphInfo(
        row[0], int(row[1]), int(row[2]), int(row[3]), int(row[4]), float(row[5]), False
    )


def build_graph(conn: Connection) -> GraphInfo:
    """Replace the prepared graph by one built from the current ``basemap.road``.

    The SQL is the database's own ``network.rebuild_graph()`` (migration 0009), the function the
    deferred trigger on ``basemap.road`` runs at the commit of a road write.
    """
    conn.execute(text("SELECT network.rebuild_graph()"))
    info = current_graph(conn)
    assert info is not None  # just built with the current stamp
    return GraphInfo(info.road_version, info.road_stamp, info.nodes, info.edges, info.routable_nodes,
                     info.build_seconds, True, info.built_at)  # fmt: skip


def require_roads(info: GraphInfo) -> None:
    """InvalidInput when the base map has no routable road (nothing loaded yet)."""
    if not info.edges or not info.routable_nodes:
        raise InvalidInput("the base map holds no routable roads: load a city first")
