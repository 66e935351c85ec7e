"""The Python client planners use in notebooks: layers, imagery statistics, incidents, geocoding.

    >>> from layers.client import Onemap                                   # doctest: +SKIP
    >>> om = Onemap.from_environment()   # ONEMAP_URL + ONEMAP_TOKEN
    >>> buildings = om.read("buildings", filter="floors >= 20", crs="EPSG:3857")

Two doors, one call shape: ``Onemap.from_url(url, token=…)`` goes through the OGC API and REST
(what a department's analyst outside the server room has), ``Onemap.from_database(url)`` runs
the same queries in PostGIS (what the platform's own analysts and heavy notebooks use).
"""

from layers.client.onemap import Onemap
from layers.client.query import LayerQuery, OutputCrs

__all__ = ["LayerQuery", "Onemap", "OutputCrs"]
