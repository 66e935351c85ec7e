"""Emergency scenarios on the base map: earthquake intensity zones, exposure and shelters (issue 17).

``parameters`` reads the documented parameter file (``data/attenuation.yaml``), ``earthquake``
draws the intensity zones of an event from its attenuation relation, ``exposure`` counts the
buildings and residents in each zone (PostGIS), ``shelters`` assigns the residents who need
shelter to the city's shelters under their capacities (min-cost flow, OR-Tools).
"""

from spatial.emergency.earthquake import Event, Scenario, earthquake_scenario, zone_outlines
from spatial.emergency.parameters import Parameters, load_parameters

__all__ = ["Event", "Parameters", "Scenario", "earthquake_scenario", "load_parameters", "zone_outlines"]
