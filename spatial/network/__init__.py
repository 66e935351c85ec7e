"""Road-network analysis with pgRouting: travel times over the base map's roads.

The road table is never altered: its graph (nodes at the segments' shared end points, edges
costed in seconds at the road's speed, one-way streets directed) is prepared once per road-network
version in the ``network`` schema (prepared.py) and reused by every analysis: travel times
(travel.py) and the services (services.py: route, closest facilities, service areas, coverage,
OD matrix). graph.py keeps the per-analysis build in temporary tables (the naive baseline).
"""

from spatial.network.travel import Place, Reach, travel_minutes

__all__ = ["Place", "Reach", "travel_minutes"]
