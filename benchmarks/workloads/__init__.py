"""Workloads register themselves with @workload on import."""

from benchmarks.workloads import (
    city_load,  # noqa: F401
    deployment,  # noqa: F401
    downloads,  # noqa: F401
    features_bbox,  # noqa: F401
    filing,  # noqa: F401
    geocoding,  # noqa: F401
    imagery_tiles,  # noqa: F401
    imagery_url,  # noqa: F401
    imagery_zonal,  # noqa: F401
    incidents,  # noqa: F401
    kpis,  # noqa: F401
    mvt,  # noqa: F401
    network,  # noqa: F401
    point_lookup,  # noqa: F401
    replicas,  # noqa: F401
    tile_cache,  # noqa: F401
    tiles3d,  # noqa: F401
)
