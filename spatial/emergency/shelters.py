"""Shelters (应急避难场所) assigned to communities under their capacities: min-cost flow (OR-Tools).

Demand: per community, the residents of its buildings in zones of at least the shelter intensity
× the share who go to a public shelter (``data/attenuation.yaml``, ``shelters``), in whole people.
Supply: ``thematic.emergency_facility`` rows of kind ``shelter`` with a capacity (persons).
Cost of sending a person from a community to a shelter: the geodesic distance in metres from the
community's centre (the residents-weighted centre of its affected buildings) to the shelter; a
shelter farther than the walking limit is no option. ``SimpleMinCostFlow.solve_max_flow_with_min_cost``
assigns as many people as the capacities and the walking limit allow and, among such assignments,
the one with the least person-metres. No shelter is filled over its capacity; the rest of each
community is reported as unassigned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pyproj import Geod
from sqlalchemy import Connection, text

from spatial.emergency.parameters import Parameters

GEOD = Geod(ellps="WGS84")
SHELTERS_SQL = text("""
SELECT id, name_zh, name_en, capacity, ST_X(geom) AS lon, ST_Y(geom) AS lat
FROM thematic.emergency_facility WHERE kind = 'shelter' ORDER BY id
""")


@dataclass
class Assignment:
    """Communities (demand, assigned, unassigned), community → shelter flows, shelter loads."""

    communities: list[dict[str, Any]] = field(default_factory=list)
    assignments: list[dict[str, Any]] = field(default_factory=list)
    shelters: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def min_cost_assignment(demand: np.ndarray, capacity: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """People sent from each community (rows) to each shelter (columns): the most people that
    fit, at the least total cost. ``cost`` is integer, negative where a shelter is no option."""
    from ortools.graph.python import min_cost_flow

    communities, shelters = cost.shape
    source, sink = communities + shelters, communities + shelters + 1
    flow = min_cost_flow.SimpleMinCostFlow()
    for c in range(communities):
        flow.add_arc_with_capacity_and_unit_cost(source, c, int(demand[c]), 0)
    pairs = [(c, s) for c in range(communities) for s in range(shelters) if cost[c, s] >= 0 and demand[c] > 0]
    arcs = [flow.add_arc_with_capacity_and_unit_cost(c, communities + s, int(demand[c]), int(cost[c, s]))
            for c, s in pairs]  # fmt: skip
    for s in range(shelters):
        flow.add_arc_with_capacity_and_unit_cost(communities + s, sink, int(capacity[s]), 0)
    total = int(demand.sum())
    flow.set_node_supply(source, total)
    flow.set_node_supply(sink, -total)
    sent = np.zeros((communities, shelters), dtype=np.int64)
    if total == 0 or not pairs:
        return sent
    status = flow.solve_max_flow_with_min_cost()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow ended with status {status}")  # cannot happen on these arcs
    for (c, s), arc in zip(pairs, arcs, strict=True):
        sent[c, s] = flow.flow(arc)
    return sent


def assign_shelters(conn: Connection, need: list[dict[str, Any]], params: Parameters, *, max_walk_m: float) -> Assignment:
    """The shelter plan for the residents in ``need`` (``exposure.zone_exposure``)."""
    rows = [dict(r) for r in conn.execute(SHELTERS_SQL).mappings()]
    usable = [r for r in rows if r["capacity"] is not None and r["capacity"] > 0]
    result = Assignment()
    if len(usable) < len(rows):
        result.notes.append(f"{len(rows) - len(usable)} shelter(s) without a capacity left out")
    demand = np.array([round(n["residents"] * params.shelter_share) for n in need], dtype=np.int64)
    capacity = np.array([r["capacity"] for r in usable], dtype=np.int64)
    distance = distances_m(need, usable)
    cost = np.where(distance <= max_walk_m, np.rint(distance), -1).astype(np.int64)
    sent = min_cost_assignment(demand, capacity, cost)
    for c, community in enumerate(need):
        assigned = int(sent[c].sum())
        result.communities.append({
            "code": community["code"], "name": community["name"], "name_en": community["name_en"],
            "residents": round(community["residents"], 1), "demand": int(demand[c]), "assigned": assigned,
            "unassigned": int(demand[c]) - assigned,
            "centre": [round(community["lon"], 6), round(community["lat"], 6)],
        })  # fmt: skip
        for k in np.flatnonzero(sent[c]):
            result.assignments.append({
                "community": community["code"], "shelter": usable[k]["id"], "shelter_name": usable[k]["name_zh"],
                "people": int(sent[c, k]), "distance_m": round(float(distance[c, k]), 1),
            })  # fmt: skip
    for s, shelter in enumerate(usable):
        load = int(sent[:, s].sum())
        result.shelters.append({
            "id": shelter["id"], "name": shelter["name_zh"], "name_en": shelter["name_en"],
            "capacity": int(shelter["capacity"]), "load": load, "remaining": int(shelter["capacity"]) - load,
            "lon": shelter["lon"], "lat": shelter["lat"],
        })  # fmt: skip
    return result


def distances_m(need: list[dict[str, Any]], shelters: list[dict[str, Any]]) -> np.ndarray:
    """Geodesic metres from each community's centre (rows) to each shelter (columns)."""
    if not need or not shelters:
        return np.zeros((len(need), len(shelters)))
    c_lon, s_lon = np.meshgrid([n["lon"] for n in need], [s["lon"] for s in shelters], indexing="ij")
    c_lat, s_lat = np.meshgrid([n["lat"] for n in need], [s["lat"] for s in shelters], indexing="ij")
    _, _, metres = GEOD.inv(c_lon.ravel(), c_lat.ravel(), s_lon.ravel(), s_lat.ravel())
    return np.asarray(metres).reshape(len(need), len(shelters))
