"""Imagery in the one map: GeoTIFF → Cloud-Optimized GeoTIFF, footprints, catalog rows, tiles, coverages.

Rooms: ``source`` (is the input a usable raster?), ``cog`` (conversion and validation),
``describe`` (what the catalog records: footprint, bands, statistics), ``ingest`` (the whole
add-a-layer journey, atomic), ``store`` (where scenes live; catalog look-ups), ``tiles``
(XYZ tiles and TileJSON) and ``coverage`` (bbox subsets as GeoTIFF or CoverageJSON).
"""

from layers.imagery.ingest import (
    ImageryReport,
    add_imagery,
    add_scene,
    parse_acquired,
    remove_scene,
)

__all__ = ["ImageryReport", "add_imagery", "add_scene", "parse_acquired", "remove_scene"]
