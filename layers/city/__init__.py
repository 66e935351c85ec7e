"""Your own city: a profile (YAML) names a city's files; they are read, checked and loaded as the base map.

Flow: ``profile`` (what the city is) → ``sources`` (read each file into lon/lat frames) →
``divisions`` and ``features`` (map and check fields; the report) → ``load`` (one transaction
replacing the base map, a new ``basemap.version``, derived things rebuilt) → ``versions``
(compare, roll back).
"""
