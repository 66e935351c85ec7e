"""Road-network analysis with pgRouting: travel times over the base map's roads.

The road table is never altered: each analysis builds its graph (nodes at the segments' shared
end points, edges costed in seconds at the road's speed) in temporary tables of its own
transaction, which vanish at commit.
"""

from spatial.network.travel import Place, Reach, travel_minutes

__all__ = ["Place", "Reach", "travel_minutes"]
