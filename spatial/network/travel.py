"""Travel time over the road network from the nearest of many origins to each of many places.

    >>> reach = travel_minutes(engine, hospitals, buildings)        # doctest: +SKIP
    >>> (reach.minutes > 8).sum()                                    # doctest: +SKIP

The prepared graph (prepared.py: built once per road-network version, rebuilt after the roads
change) is used. Each place joins the network at its nearest routable node; the legs between a place and its node (the
driveway, the last stretch of a lane the base map does not draw) are covered at ``access_kmh``.
pgRouting (``pgr_dijkstraCost``, directed: one-way roads are driven their way only) gives the
cost from every origin node to every node; each node keeps its cheapest origin. Times run from
the origin to the place. Places on a part of the network no origin reaches get NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, Engine, text

from spatial.errors import InvalidInput
from spatial.network.prepared import EDGES_QUERY, ensure_graph, require_roads

DEFAULT_ACCESS_KMH = 20.0

SNAP_SQL = """
CREATE TEMP TABLE {name} ON COMMIT DROP AS
SELECT p.ord, n.id AS node, n.dist_m
FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[])) WITH ORDINALITY AS p(lon, lat, ord)
CROSS JOIN LATERAL (
    SELECT r.id, ST_Distance(r.geom::geography,
                             ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326)::geography) AS dist_m
    FROM network.node r WHERE r.routable
    ORDER BY r.geom <-> ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326) LIMIT 1
) AS n
"""
NODE_REACH_SQL = """
CREATE TEMP TABLE node_reach ON COMMIT DROP AS
SELECT DISTINCT ON (node) node, origin, seconds FROM (
    SELECT c.end_vid AS node, o.ord AS origin, c.agg_cost + o.dist_m / :access_ms AS seconds
    FROM pgr_dijkstraCost(:edges, (SELECT array_agg(DISTINCT node) FROM origin_place),
                          (SELECT array_agg(id) FROM network.node), true) AS c
    JOIN origin_place o ON o.node = c.start_vid
    UNION ALL
    SELECT node, ord, dist_m / :access_ms FROM origin_place
) AS costs
ORDER BY node, seconds
"""
PLACE_REACH_SQL = """
SELECT d.ord, r.origin, r.seconds + d.dist_m / :access_ms AS seconds
FROM destination_place d LEFT JOIN node_reach r ON r.node = d.node
ORDER BY d.ord
"""


@dataclass(frozen=True)
class Place:
    """Points as parallel lon/lat sequences (storage CRS, degrees)."""

    lons: Sequence[float]
    lats: Sequence[float]

    def __post_init__(self) -> None:
        if len(self.lons) != len(self.lats):
            raise InvalidInput(f"{len(self.lons)} longitudes but {len(self.lats)} latitudes")

    def __len__(self) -> int:
        return len(self.lons)


@dataclass(frozen=True)
class Reach:
    """Per destination: minutes from the nearest origin and that origin's position (-1: none)."""

    minutes: np.ndarray
    origin: np.ndarray
    nodes: int
    edges: int


def travel_minutes(
    engine: Engine, origins: Place, destinations: Place, *, access_kmh: float = DEFAULT_ACCESS_KMH
) -> Reach:
    """Minutes by road from the nearest of ``origins`` to each of ``destinations``."""
    if not len(origins):
        raise InvalidInput("travel times need at least one origin")
    if access_kmh <= 0:
        raise InvalidInput(f"access_kmh must be positive, not {access_kmh}")
    access_ms = access_kmh / 3.6
    with engine.begin() as conn:
        graph = ensure_graph(conn)
        require_roads(graph)
        snap(conn, "origin_place", origins)
        snap(conn, "destination_place", destinations)
        conn.execute(text(NODE_REACH_SQL), {"edges": EDGES_QUERY, "access_ms": access_ms})
        rows = conn.execute(text(PLACE_REACH_SQL), {"access_ms": access_ms}).all()
    minutes = np.array([np.nan if r[2] is None else r[2] / 60 for r in rows], dtype=float)
    origin = np.array([-1 if r[1] is None else r[1] - 1 for r in rows], dtype=np.int64)
    return Reach(minutes, origin, graph.nodes, graph.edges)


def snap(conn: Connection, name: str, places: Place) -> None:
    """Temporary table ``name`` (ord, node, dist_m): each place's nearest road node."""
    conn.execute(
        text(SNAP_SQL.format(name=name)),
        {"lons": [float(v) for v in places.lons], "lats": [float(v) for v in places.lats]},
    )
