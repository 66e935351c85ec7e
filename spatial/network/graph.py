"""The routable graph of ``basemap.road`` in scratch (temporary) tables: nodes and timed edges.

Requests use the prepared graph (prepared.py: the same nodes, costs and routable flag in the
``network`` schema, built once per road version by ``network.rebuild_graph()``); this per-call
build stays as the naive baseline of the ``network`` benchmark.

Demo and loaded roads are LINESTRING segments that meet exactly at junctions (a city's ways are
split there when loaded), so a node is a distinct end point and no snapping tolerance is needed.
Costs are seconds: the geodesic length at the segment's ``speed_kmh``. The graph is directed:
``cost`` runs along the line (start → end), ``reverse_cost`` against it, and a one-way road
(``oneway`` 1: along only, -1: against only) has -1, pgRouting's "no edge", the other way.
Demo roads are two-way (``oneway`` 0), so both costs are equal there.

With one-way streets, part of a real network can be entered but not left (a one-way stub cut
off by the edge of an extract, a car park's exit road): a place joined to such a node would be
unreachable, or could reach nothing. Nodes of the largest strongly connected component (every
node reaches every other) are marked ``routable``, and places join the network only there.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from spatial.errors import InvalidInput, MissingDependency

NODES_SQL = """
CREATE TEMP TABLE road_node ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY ST_X(p), ST_Y(p))::bigint AS id, p AS geom
FROM (SELECT ST_StartPoint(geom) AS p FROM basemap.road
      UNION SELECT ST_EndPoint(geom) FROM basemap.road) AS ends
"""
EDGES_SQL = """
CREATE TEMP TABLE road_edge ON COMMIT DROP AS
SELECT id, source, target,
       CASE WHEN oneway = -1 THEN -1 ELSE seconds END AS cost,
       CASE WHEN oneway = 1 THEN -1 ELSE seconds END AS reverse_cost
FROM (
    SELECT r.id, a.id AS source, b.id AS target, r.oneway,
           ST_Length(r.geom::geography) / (greatest(r.speed_kmh, 1) / 3.6) AS seconds
    FROM basemap.road r
    JOIN road_node a ON a.geom = ST_StartPoint(r.geom)
    JOIN road_node b ON b.geom = ST_EndPoint(r.geom)
) AS timed
"""
EDGES_QUERY = "SELECT id, source, target, cost, reverse_cost FROM road_edge"
"""What pgRouting reads, directed (a negative cost: that way is closed)."""
ROUTABLE_SQL = """
WITH c AS (SELECT component, node FROM pgr_strongComponents(:edges))
UPDATE road_node n SET routable = true FROM c
WHERE c.node = n.id AND c.component = (
    SELECT component FROM c GROUP BY component ORDER BY count(*) DESC, component LIMIT 1)
"""


@dataclass(frozen=True)
class RoadGraph:
    """Size of the graph built in this transaction."""

    nodes: int
    edges: int


def build_road_graph(conn: Connection) -> RoadGraph:
    """Create ``road_node`` and ``road_edge`` (dropped at commit) from ``basemap.road``."""
    require_pgrouting(conn)
    conn.execute(text(NODES_SQL))
    conn.execute(text("CREATE INDEX ON road_node USING gist (geom)"))
    conn.execute(text(EDGES_SQL))
    if conn.execute(text("SELECT 1 FROM road_edge LIMIT 1")).first():
        conn.execute(
            text("ALTER TABLE road_node ADD COLUMN routable boolean NOT NULL DEFAULT false")
        )
        conn.execute(text(ROUTABLE_SQL), {"edges": EDGES_QUERY})
    conn.execute(text("ANALYZE road_node"))
    nodes = int(conn.execute(text("SELECT count(*) FROM road_node")).scalar_one())
    edges = int(conn.execute(text("SELECT count(*) FROM road_edge")).scalar_one())
    if not edges:
        raise InvalidInput("basemap.road holds no roads: load the base map first")
    return RoadGraph(nodes, edges)


def require_pgrouting(conn: Connection) -> None:
    """MissingDependency naming the Debian package when pgRouting is not installed here."""
    found = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pgrouting'")).first()
    if found is None:
        raise MissingDependency(
            "road-network analysis needs pgRouting: apt-get install postgresql-15-pgrouting, "
            "then CREATE EXTENSION pgrouting in this database"
        )
