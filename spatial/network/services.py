"""Network analysis on the prepared road graph: route, closest facilities, service areas, coverage, OD.

    >>> found = closest(conn, (-73.98, 40.75), firehouses, k=3)           # doctest: +SKIP
    >>> [(r.id, round(r.seconds)) for r in found.items]                   # doctest: +SKIP

Every function takes a connection, makes sure the prepared graph is current (prepared.py) and
answers with one pgRouting call on ``network.edge``. Places (lon/lat, storage CRS) join the
network at their nearest *routable* node (the largest strongly connected component); the
distance is reported as ``snap_m``. A place farther than ``tolerance_m`` (default 500 m) from it
is refused (InvalidInput naming the point and the distance) — except a candidate facility of
``closest``, which is then listed as unreachable instead of failing the whole request.

Times are seconds: the road part (pgRouting's cost over the directed graph, one-way streets
driven their way only, optional time-of-day factors with ``hour``) plus the legs between each
place and its node at ``ACCESS_KMH`` (20 km/h: a driveway, the last stretch of a lane the base
map does not draw). Metres are the roads' geodesic lengths plus those legs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Connection, text

from spatial.errors import InvalidInput
from spatial.network.prepared import edges_sql as prepared_edges_sql
from spatial.network.prepared import ensure_graph, require_roads

ACCESS_KMH = 20.0
ACCESS_MS = ACCESS_KMH / 3.6
DEFAULT_TOLERANCE_M = 500.0
MAX_K = 50
MAX_MINUTES = 60.0
MAX_BANDS = 6
MAX_CANDIDATES = 5000
MAX_OD_CELLS = 10_000
"""100 × 100 origins × destinations per OD matrix."""
MAX_FACILITIES = 500
RESIDENTS_PER_FLOOR_M2 = 1 / 35
"""Residents from buildings: one resident per 35 m² of floor area (floors × footprint), the
order of magnitude of dense housing (about 30 m² of dwelling per person plus walls and stairs)."""
HULL_BUFFER_M = 25.0

SNAP_SQL = """
SELECT p.ord, n.id, n.dist_m, ST_X(n.geom), ST_Y(n.geom)
FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[])) WITH ORDINALITY AS p(lon, lat, ord)
LEFT JOIN LATERAL (
    SELECT c.id, c.geom,
           ST_Distance(c.geom::geography, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326)::geography) AS dist_m
    FROM (SELECT id, geom FROM network.node WHERE routable
          ORDER BY geom <-> ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326) LIMIT 8) AS c
    ORDER BY dist_m LIMIT 1
) AS n ON true
ORDER BY p.ord
"""
REVERSED = "SELECT id, target AS source, source AS target, cost, reverse_cost FROM ({edges}) AS e"
"""The graph with every edge turned round: one search from a target gives the costs *to* it."""


# ------------------------------------------------------------------------------ results
@dataclass(frozen=True)
class Candidate:
    """A facility or unit that may be chosen: any hashable id and its place."""

    id: Hashable
    lon: float
    lat: float


@dataclass(frozen=True)
class Snap:
    """Where a place joins the network: its node, the node's point, the distance."""

    node: int
    lon: float
    lat: float
    snap_m: float


@dataclass(frozen=True)
class Ranked:
    """A candidate with its travel time and distance over the network (access legs included)."""

    id: Hashable
    seconds: float
    meters: float
    snap_m: float


@dataclass(frozen=True)
class Closest:
    """The target's snap distance, the k fastest candidates, the ones no road reaches.

    ``unreachable``: off the network beyond the tolerance or without a path; ``over_limit``:
    reachable, but slower than ``max_seconds``.
    """

    snap_m: float
    items: list[Ranked]
    unreachable: list[Hashable]
    over_limit: list[Hashable] = field(default_factory=list)


@dataclass(frozen=True)
class Route:
    """A fastest path: seconds, metres, its LineString (GeoJSON dict), both snap distances."""

    seconds: float
    meters: float
    geometry: dict[str, Any]
    snap_a_m: float
    snap_b_m: float


@dataclass(frozen=True)
class Band:
    """A service area band: the polygon (GeoJSON dict) around every node reached within ``minutes``."""

    minutes: float
    polygon: dict[str, Any] | None
    node_ids: list[int]


class ServiceArea(list[Band]):
    """The bands (a list, as the contract says: ``list[Band]``) and the origin's snap distance."""

    def __init__(self, snap_m: float, bands: Sequence[Band]) -> None:
        super().__init__(bands)
        self.snap_m = snap_m

    @property
    def bands(self) -> list[Band]:
        return list(self)


@dataclass(frozen=True)
class OdMatrix:
    """Seconds from each origin (rows) to each destination (columns), NaN: unreachable."""

    seconds: np.ndarray
    meters_snap_origins: list[float]
    meters_snap_destinations: list[float]


@dataclass(frozen=True)
class CoverageRow:
    """Residents of one division and how many of them live within the time of a facility."""

    code: str
    name: str
    residents: float
    covered: float

    @property
    def share(self) -> float | None:
        return None if self.residents <= 0 else self.covered / self.residents


@dataclass(frozen=True)
class Coverage:
    """Coverage per division and in total; where residents came from."""

    minutes: float
    level: str
    source: str
    rows: list[CoverageRow]
    residents: float
    covered: float
    facilities_unreachable: list[Hashable]

    @property
    def share(self) -> float | None:
        return None if self.residents <= 0 else self.covered / self.residents


# ------------------------------------------------------------------------------ checks
def check_point(point: Sequence[Any], name: str) -> tuple[float, float]:
    """(lon, lat) as finite numbers within -180..180 / -90..90."""
    if isinstance(point, str | bytes) or not isinstance(point, Sequence) or len(point) != 2:
        raise InvalidInput(f"{name} must be a point [lon, lat], not {_shown(point)}")
    lon, lat = (_number(point[0], f"{name} longitude"), _number(point[1], f"{name} latitude"))
    if not -180 <= lon <= 180 or not -90 <= lat <= 90:
        raise InvalidInput(f"{name} ({lon}, {lat}) is outside lon -180..180 / lat -90..90")
    return lon, lat


def check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidInput(f"k must be a whole number from 1 to {MAX_K}, not {_shown(k)}")
    return k


def check_minutes(minutes: Any, name: str = "minutes") -> float:
    value = _number(minutes, name)
    if not 0 < value <= MAX_MINUTES:
        raise InvalidInput(f"{name} must be more than 0 and at most {MAX_MINUTES:g}, not {value:g}")
    return value


def check_bands(minutes: Sequence[Any]) -> list[float]:
    if isinstance(minutes, str | bytes) or not isinstance(minutes, Sequence) or not minutes:
        raise InvalidInput("minutes must be a list of 1 to 6 times, e.g. [4, 8, 15]")
    if len(minutes) > MAX_BANDS:
        raise InvalidInput(f"at most {MAX_BANDS} service-area bands, not {len(minutes)}")
    values = sorted({check_minutes(m) for m in minutes})
    return values


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{name} must be a number, not {_shown(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInput(f"{name} must be a finite number, not {value!r}")
    return number


def _shown(value: Any) -> str:
    text_ = repr(value)
    return text_ if len(text_) <= 60 else text_[:57] + "…"


def _tolerance(tolerance_m: float) -> float:
    value = _number(tolerance_m, "tolerance_m")
    if not 0 < value <= 5000:
        raise InvalidInput(
            f"the snapping tolerance must be more than 0 and at most 5000 m, not {value:g}"
        )
    return value


# ------------------------------------------------------------------------------ snapping
def snap_points(
    conn: Connection, points: Sequence[tuple[float, float]], graph: GraphKey | None = None
) -> list[Snap | None]:
    """Each point's nearest routable node (None: the graph has no routable node).

    With ``graph`` (the key ``_prepared`` gives: database, stamp, build time), snaps are
    remembered per graph: facilities asked for again and again (the stations of a closest-unit
    request) are snapped once per road version.
    """
    if not points:
        return []
    key = graph
    cache = _SNAPS.get(key) if key is not None else None
    found: list[Snap | None] = [None] * len(points)
    missing = []
    for i, p in enumerate(points):
        hit = cache.get((float(p[0]), float(p[1]))) if cache is not None else None
        if hit is None:
            missing.append(i)
        else:
            found[i] = hit
    if missing:
        rows = conn.execute(
            text(SNAP_SQL),
            {"lons": [float(points[i][0]) for i in missing], "lats": [float(points[i][1]) for i in missing]},
        ).all()
        for i, r in zip(missing, rows, strict=True):
            found[i] = None if r[1] is None else Snap(int(r[1]), float(r[3]), float(r[4]), float(r[2]))
        if key is not None:
            if key not in _SNAPS:
                _SNAPS.clear()  # one graph per database at a time is enough to keep
            cache = _SNAPS.setdefault(key, {})
            if len(cache) < SNAP_CACHE_SIZE:
                for i in missing:
                    if found[i] is not None:
                        cache[(float(points[i][0]), float(points[i][1]))] = found[i]  # type: ignore[assignment]
    return found


SNAP_CACHE_SIZE = 20_000
GraphKey = tuple[str, int, str]
_SNAPS: dict[GraphKey, dict[tuple[float, float], Snap]] = {}


def snap_one(
    conn: Connection, point: tuple[float, float], name: str, tolerance_m: float, graph: GraphKey | None = None
) -> Snap:
    """The point's snap, or InvalidInput naming it and its distance from the network."""
    found = snap_points(conn, [point], graph)[0]
    return _within(found, point, name, tolerance_m)


def _within(found: Snap | None, point: tuple[float, float], name: str, tolerance_m: float) -> Snap:
    if found is None:
        raise InvalidInput("the base map holds no routable roads: load a city first")
    if found.snap_m > tolerance_m:
        raise InvalidInput(
            f"{name} ({point[0]:.6f}, {point[1]:.6f}) is {found.snap_m:.0f} m from the nearest "
            f"routable road, farther than the tolerance of {tolerance_m:g} m"
        )
    return found


def _prepared(conn: Connection, hour: int | None) -> tuple[str, GraphKey | None]:
    """pgRouting's edge query on the current graph, and the graph's key for the snap cache."""
    info = ensure_graph(conn)
    require_roads(info)
    # a graph built in this very transaction is not yet one other requests see: not cached
    key = None if info.rebuilt else (conn.engine.url.render_as_string(hide_password=True), info.road_stamp,
                                     info.built_at)  # fmt: skip
    return prepared_edges_sql(hour), key


# ------------------------------------------------------------------------------ closest
def closest(
    conn: Connection,
    target: Sequence[float],
    candidates: Sequence[Candidate],
    k: int,
    max_seconds: float | None = None,
    towards_target: bool = True,
    *,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    hour: int | None = None,
) -> Closest:
    """The ``k`` candidates fastest to reach ``target`` (or from it, ``towards_target=False``).

    One pgRouting search from the target's node: on the reversed graph when travel runs from
    the candidates to the target (units drive to the call), so one-way streets count the right
    way. Candidates off the network (beyond ``tolerance_m``) or without a path are
    ``unreachable``; those slower than ``max_seconds`` are ``over_limit``.
    """
    point = check_point(target, "target")
    k = check_k(k)
    tolerance_m = _tolerance(tolerance_m)
    limit = None if max_seconds is None else _number(max_seconds, "max_seconds")
    if limit is not None and limit <= 0:
        raise InvalidInput(f"max_seconds must be positive, not {limit:g}")
    if not candidates:
        raise InvalidInput("closest needs at least one candidate")
    if len(candidates) > MAX_CANDIDATES:
        raise InvalidInput(f"at most {MAX_CANDIDATES} candidates, not {len(candidates)}")
    places = [check_point((c.lon, c.lat), f"candidate {c.id}") for c in candidates]
    edges, graph = _prepared(conn, hour)
    origin = snap_one(conn, point, "target", tolerance_m)
    snaps = snap_points(conn, places, graph)
    unreachable: list[Hashable] = []
    nodes: set[int] = set()
    for candidate, snap in zip(candidates, snaps, strict=True):
        if snap is None or snap.snap_m > tolerance_m:
            unreachable.append(candidate.id)
        else:
            nodes.add(snap.node)
    road: dict[int, float] = {origin.node: 0.0}
    metres: dict[int, float] = {origin.node: 0.0}
    others = sorted(nodes - {origin.node})
    if others:
        query = REVERSED.format(edges=edges) if towards_target else edges
        rows = conn.execute(
            text(
                "SELECT d.end_vid, max(d.agg_cost), coalesce(sum(e.length_m), 0) "
                "FROM pgr_dijkstra(:edges, :start, CAST(:ends AS bigint[]), true) AS d "
                "LEFT JOIN network.edge e ON e.id = d.edge GROUP BY d.end_vid"
            ),
            {"edges": query, "start": origin.node, "ends": others},
        ).all()
        for node, cost, length in rows:
            road[int(node)] = float(cost)
            metres[int(node)] = float(length or 0.0)
    ranked: list[Ranked] = []
    over: list[Hashable] = []
    for candidate, snap in zip(candidates, snaps, strict=True):
        if snap is None or snap.snap_m > tolerance_m:
            continue
        if snap.node not in road:
            unreachable.append(candidate.id)
            continue
        seconds = road[snap.node] + (snap.snap_m + origin.snap_m) / ACCESS_MS
        if limit is not None and seconds > limit:
            over.append(candidate.id)
            continue
        ranked.append(
            Ranked(
                candidate.id, seconds, metres[snap.node] + snap.snap_m + origin.snap_m, snap.snap_m
            )
        )
    ranked.sort(key=lambda r: (r.seconds, str(r.id)))
    return Closest(origin.snap_m, ranked[:k], unreachable, over)


# ------------------------------------------------------------------------------ route
ROUTE_SQL = """
WITH path AS (
    SELECT p.seq, p.node, p.edge, p.agg_cost FROM pgr_dijkstra(:edges, :a, :b, true) AS p
), legs AS (
    SELECT path.seq, e.length_m,
           CASE WHEN e.source = path.node THEN e.geom ELSE ST_Reverse(e.geom) END AS geom
    FROM path JOIN network.edge e ON e.id = path.edge
), points AS (
    SELECT legs.seq, d.path[1] AS i, d.geom FROM legs, ST_DumpPoints(legs.geom) AS d
)
SELECT (SELECT max(agg_cost) FROM path), (SELECT sum(length_m) FROM legs),
       (SELECT ST_AsGeoJSON(ST_RemoveRepeatedPoints(ST_MakeLine(geom ORDER BY seq, i)), 7) FROM points)
"""


def route(
    conn: Connection,
    a: Sequence[float],
    b: Sequence[float],
    *,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    hour: int | None = None,
) -> Route:
    """The fastest path from ``a`` to ``b`` (pgr_dijkstra on the prepared, directed graph)."""
    start, end = check_point(a, "a"), check_point(b, "b")
    tolerance_m = _tolerance(tolerance_m)
    edges, _ = _prepared(conn, hour)
    snap_a = snap_one(conn, start, "a", tolerance_m)
    snap_b = snap_one(conn, end, "b", tolerance_m)
    access = (snap_a.snap_m + snap_b.snap_m) / ACCESS_MS
    if snap_a.node == snap_b.node:
        line = {
            "type": "LineString",
            "coordinates": [[snap_a.lon, snap_a.lat], [snap_b.lon, snap_b.lat]],
        }
        return Route(access, snap_a.snap_m + snap_b.snap_m, line, snap_a.snap_m, snap_b.snap_m)

    cost, length, geometry = conn.execute(
        text(ROUTE_SQL), {"edges": edges, "a": snap_a.node, "b": snap_b.node}
    ).one()
    if cost is None:  # both are routable, so only a time-of-day factor could cut them apart
        raise InvalidInput(
            f"no road leads from a ({start[0]}, {start[1]}) to b ({end[0]}, {end[1]})"
        )
    return Route(
        float(cost) + access,
        float(length) + snap_a.snap_m + snap_b.snap_m,
        json.loads(geometry),
        snap_a.snap_m,
        snap_b.snap_m,
    )


# ------------------------------------------------------------------------------ service area
REACHED_SQL = """
SELECT node, agg_cost FROM pgr_drivingDistance(:edges, :start, :distance, true)
"""
HULL_SQL = """
SELECT ST_AsGeoJSON(ST_Buffer(ST_ConcaveHull(ST_Collect(geom), 0.2)::geography, :buffer)::geometry, 7)
FROM network.node WHERE id = ANY(CAST(:ids AS bigint[]))
"""


def service_area(
    conn: Connection,
    origin: Sequence[float],
    minutes: Sequence[float] = (4, 8, 15),
    *,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    hour: int | None = None,
    towards_origin: bool = False,
) -> ServiceArea:
    """Nodes reached from ``origin`` within each time (one pgr_drivingDistance), and a polygon each.

    A node is in the band of T minutes when the access leg plus the road time is at most T·60 s.
    The polygon is the concave hull of the band's nodes widened by 25 m: it covers every one of
    them. ``towards_origin``: nodes from which the origin is reached within T (a station's
    catchment for calls) instead of nodes reached from it.
    """
    point = check_point(origin, "origin")
    bands = check_bands(minutes)
    tolerance_m = _tolerance(tolerance_m)
    edges, _ = _prepared(conn, hour)
    snap = snap_one(conn, point, "origin", tolerance_m)
    access = snap.snap_m / ACCESS_MS
    budget = max(bands) * 60 - access
    reached: list[tuple[int, float]] = []
    if budget >= 0:
        query = REVERSED.format(edges=edges) if towards_origin else edges
        reached = [
            (int(n), float(c))
            for n, c in conn.execute(
                text(REACHED_SQL), {"edges": query, "start": snap.node, "distance": budget}
            )
        ]
        if not any(n == snap.node for n, _ in reached):
            reached.append((snap.node, 0.0))
    result: list[Band] = []
    for band in bands:
        ids = sorted(n for n, c in reached if c + access <= band * 60)
        polygon = None
        if ids:
            geojson = conn.execute(text(HULL_SQL), {"ids": ids, "buffer": HULL_BUFFER_M}).scalar()
            import json

            polygon = json.loads(geojson) if geojson else None
        result.append(Band(band, polygon, ids))
    return ServiceArea(snap.snap_m, result)


# ------------------------------------------------------------------------------ OD matrix
def od_matrix_detail(
    conn: Connection,
    origins: Sequence[Sequence[float]],
    destinations: Sequence[Sequence[float]],
    *,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    hour: int | None = None,
    max_cells: int = MAX_OD_CELLS,
) -> OdMatrix:
    """Seconds from every origin to every destination (one many-to-many pgr_dijkstraCost)."""
    if not origins or not destinations:
        raise InvalidInput("an OD matrix needs at least one origin and one destination")
    if len(origins) * len(destinations) > max_cells:
        raise InvalidInput(
            f"{len(origins)} origins × {len(destinations)} destinations = "
            f"{len(origins) * len(destinations)} cells, more than the {max_cells} allowed"
        )
    starts = [check_point(p, f"origin {i + 1}") for i, p in enumerate(origins)]
    ends = [check_point(p, f"destination {i + 1}") for i, p in enumerate(destinations)]
    tolerance_m = _tolerance(tolerance_m)
    edges, _ = _prepared(conn, hour)
    snapped = snap_points(conn, starts + ends)
    a = [
        _within(s, p, f"origin {i + 1}", tolerance_m)
        for i, (s, p) in enumerate(zip(snapped, starts, strict=False))
    ]
    b = [
        _within(s, p, f"destination {i + 1}", tolerance_m)
        for i, (s, p) in enumerate(zip(snapped[len(starts) :], ends, strict=True))
    ]
    costs: dict[tuple[int, int], float] = {}
    a_nodes, b_nodes = sorted({s.node for s in a}), sorted({s.node for s in b})
    rows = conn.execute(
        text("SELECT start_vid, end_vid, agg_cost FROM pgr_dijkstraCost(:edges, "
             "CAST(:a AS bigint[]), CAST(:b AS bigint[]), true)"),
        {"edges": edges, "a": a_nodes, "b": b_nodes},
    ).all()  # fmt: skip
    for start, end, cost in rows:
        costs[(int(start), int(end))] = float(cost)
    for node in set(a_nodes) & set(b_nodes):
        costs[(node, node)] = 0.0
    seconds = np.full((len(a), len(b)), np.nan)
    for i, sa in enumerate(a):
        for j, sb in enumerate(b):
            cost = costs.get((sa.node, sb.node))
            if cost is not None:
                seconds[i, j] = cost + (sa.snap_m + sb.snap_m) / ACCESS_MS
    return OdMatrix(seconds, [s.snap_m for s in a], [s.snap_m for s in b])


def od_matrix(
    conn: Connection,
    origins: Sequence[Sequence[float]],
    destinations: Sequence[Sequence[float]],
    *,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    hour: int | None = None,
) -> np.ndarray:
    """Seconds matrix (origins × destinations), NaN where no road leads."""
    return od_matrix_detail(conn, origins, destinations, tolerance_m=tolerance_m, hour=hour).seconds


# ------------------------------------------------------------------------------ coverage
COVERAGE_LEVELS = ("district", "street", "community")
COVERAGE_SOURCES = ("buildings", "divisions")

REACH_ALL_SQL = """
CREATE TEMP TABLE network_reach ON COMMIT DROP AS
SELECT DISTINCT ON (node) node, agg_cost + s.access AS seconds
FROM pgr_drivingDistance(:edges, CAST(:starts AS bigint[]), :distance, true, true) AS d
JOIN unnest(CAST(:starts AS bigint[]), CAST(:access AS float8[])) AS s(start, access) ON s.start = d.from_v
ORDER BY node, agg_cost + s.access
"""
BUILDING_COVERAGE_SQL = """
WITH homes AS (
    SELECT b.id, b.floors, ST_Area(b.geom::geography) AS area_m2, ST_PointOnSurface(b.geom) AS p
    FROM basemap.building b
), placed AS (
    SELECT h.id, h.floors * h.area_m2 * :density AS residents, d.code, d.name_en, d.name_zh, n.node, n.dist_m
    FROM homes h
    JOIN basemap.admin_division d ON d.level = :level AND ST_Intersects(d.geom, h.p)
    LEFT JOIN LATERAL (
        SELECT c.id AS node,
               ST_Distance(c.geom::geography, h.p::geography) AS dist_m
        FROM (SELECT id, geom FROM network.node WHERE routable ORDER BY geom <-> h.p LIMIT 4) AS c
        ORDER BY 2 LIMIT 1
    ) AS n ON true
)
SELECT p.code, min(p.name_en), min(p.name_zh), sum(p.residents),
       coalesce(sum(p.residents) FILTER (
           WHERE p.dist_m <= :tolerance AND r.seconds + p.dist_m / :access_ms <= :limit), 0)
FROM placed p LEFT JOIN network_reach r ON r.node = p.node
GROUP BY p.code ORDER BY p.code
"""
DIVISION_COVERAGE_SQL = """
WITH cells AS (
    SELECT d.code, d.name_en, d.name_zh, coalesce(d.population, 0) AS population, d.geom
    FROM basemap.admin_division d WHERE d.level = :level
), nodes AS (
    SELECT c.code, count(*) AS n,
           count(*) FILTER (WHERE r.seconds <= :limit) AS reached
    FROM cells c JOIN network.node n ON n.routable AND ST_Intersects(c.geom, n.geom)
    LEFT JOIN network_reach r ON r.node = n.id
    GROUP BY c.code
)
SELECT c.code, c.name_en, c.name_zh, c.population,
       CASE WHEN coalesce(n.n, 0) = 0 THEN 0 ELSE c.population * n.reached::float8 / n.n END
FROM cells c LEFT JOIN nodes n ON n.code = c.code ORDER BY c.code
"""


def coverage(
    conn: Connection,
    facilities: Sequence[Candidate],
    minutes: float,
    *,
    level: str = "street",
    source: str = "buildings",
    density: float = RESIDENTS_PER_FLOOR_M2,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    hour: int | None = None,
) -> Coverage:
    """Share of residents within ``minutes`` of any facility, per division of ``level``.

    ``source='buildings'``: residents = floors × footprint (m²) × ``density`` per building, the
    building counted when its nearest routable node (within the tolerance) is reached from a
    facility within the time, access legs included. ``source='divisions'``: the divisions'
    ``population``, spread evenly over their routable nodes (share of nodes reached).
    One multi-source pgr_drivingDistance from all facilities (each node keeps its nearest).
    """
    limit_minutes = check_minutes(minutes)
    if level not in COVERAGE_LEVELS:
        raise InvalidInput(
            f"level must be one of {', '.join(COVERAGE_LEVELS)}, not {_shown(level)}"
        )
    if source not in COVERAGE_SOURCES:
        raise InvalidInput(
            f"source must be one of {', '.join(COVERAGE_SOURCES)}, not {_shown(source)}"
        )
    density = _number(density, "density")
    if not 0 < density <= 1:
        raise InvalidInput(
            f"density (residents per m² of floor) must be in (0, 1], not {density:g}"
        )
    if not facilities:
        raise InvalidInput("coverage needs at least one facility")
    if len(facilities) > MAX_FACILITIES:
        raise InvalidInput(f"at most {MAX_FACILITIES} facilities, not {len(facilities)}")
    places = [check_point((f.lon, f.lat), f"facility {f.id}") for f in facilities]
    tolerance_m = _tolerance(tolerance_m)
    edges, graph = _prepared(conn, hour)
    snaps = snap_points(conn, places, graph)
    unreachable: list[Hashable] = []
    starts: dict[int, float] = {}
    for facility, snap in zip(facilities, snaps, strict=True):
        if snap is None or snap.snap_m > tolerance_m:
            unreachable.append(facility.id)
        else:
            access = snap.snap_m / ACCESS_MS
            starts[snap.node] = min(starts.get(snap.node, access), access)
    limit = limit_minutes * 60
    conn.execute(text("DROP TABLE IF EXISTS network_reach"))
    if starts:
        nodes = sorted(starts)
        conn.execute(
            text(REACH_ALL_SQL),
            {
                "edges": edges,
                "starts": nodes,
                "access": [starts[n] for n in nodes],
                "distance": limit,
            },
        )
        conn.execute(
            text(
                "INSERT INTO network_reach SELECT s.node, s.access FROM unnest(CAST(:starts AS bigint[]), "
                "CAST(:access AS float8[])) AS s(node, access) "
                "WHERE NOT EXISTS (SELECT 1 FROM network_reach r WHERE r.node = s.node)"
            ),
            {"starts": nodes, "access": [starts[n] for n in nodes]},
        )
    else:
        conn.execute(
            text("CREATE TEMP TABLE network_reach (node bigint, seconds float8) ON COMMIT DROP")
        )
    if source == "buildings":
        rows = conn.execute(
            text(BUILDING_COVERAGE_SQL),
            {"density": density, "level": level, "tolerance": tolerance_m, "access_ms": ACCESS_MS,
             "limit": limit},
        ).all()  # fmt: skip
        result = [
            CoverageRow(r[0], r[1] or r[2] or r[0], float(r[3] or 0), float(r[4] or 0))
            for r in rows
        ]
    else:
        rows = conn.execute(text(DIVISION_COVERAGE_SQL), {"level": level, "limit": limit}).all()
        result = [
            CoverageRow(r[0], r[1] or r[2] or r[0], float(r[3] or 0), float(r[4] or 0))
            for r in rows
        ]
    conn.execute(text("DROP TABLE IF EXISTS network_reach"))
    return Coverage(
        limit_minutes, level, source, result,
        sum(r.residents for r in result), sum(r.covered for r in result), unreachable,
    )  # fmt: skip
