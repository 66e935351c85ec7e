"""Imagery in the one map: scenes as Cloud-Optimized GeoTIFFs, tiles, coverages, maps, statistics.

Rooms: ``source`` (is the input a usable raster?), ``cog`` (conversion and validation),
``describe`` (what the catalog records: footprint, bands, statistics), ``ingest`` (adding a
scene, atomic), ``scenes`` (the ``imagery.scene`` rows), ``selection`` (``datetime=``/``scene=``),
``store`` (where scenes live; catalog look-ups), ``remote``/``remote_check`` (scenes behind a URL), ``readers`` (rio-tiler readers per overview),
``budget`` (what a render may read, planned per scene before any pixel is read),
``mosaic`` and ``tiles`` (XYZ tiles, latest scene on top), ``expression`` (band maths),
``maps`` (OGC API Maps), ``coverage`` (bbox subsets), ``point`` (values at a point),
``zones``/``measure``/``zonal_engine``/``zonal``/``change`` (statistics per polygon),
``zonal_result``, ``overlay`` (keeping a result as a layer), ``access`` (the read check for
notebooks and doors), ``arguments`` (request inputs from any door).
"""

from layers.imagery.ingest import (
    ImageryReport,
    add_imagery,
    add_remote_scene,
    add_scene,
    parse_acquired,
    remove_scene,
)

__all__ = ["ImageryReport", "add_imagery", "add_remote_scene", "add_scene", "parse_acquired", "remove_scene"]
