"""Keep a statistic as a layer: the polygons with their numbers, published like any upload.

The result is kept by ``layers.saved_results.save_frame``, which loads it through
``layers.vector.load_vector_file``, the path every department upload takes: the same permission
check (publishing for the caller's department), quality gate, history row and catalog entry.
"""

from __future__ import annotations

from typing import Unpack

import geopandas as gpd
from sqlalchemy import Engine

from layers.imagery.access import Caller
from layers.imagery.zonal_result import ZonalResult
from layers.saved_results import About, SaveAs, save_frame
from layers.vector import LoadReport
from spatial.extent import ExtentRule


def save_as_layer(
    engine: Engine, result: ZonalResult, *, principal: Caller, door: str = "cli", extent: ExtentRule | None = None,
    **save: Unpack[SaveAs],
) -> LoadReport:  # fmt: skip
    """Publish ``result`` as a new overlay layer (``save``: ``layers.saved_results.save_arguments``)."""
    about = About(
        title_zh=f"{result.zones.layer} 上的 {result.measure} 统计", title_en=f"{result.measure} over {result.zones.layer}",
        description=f"Zonal statistics of {result.measure} of imagery layer {result.layer} over {result.zones.layer} "
                    f"(scenes: {', '.join(s.scene_id for s in result.scenes)}).",
        keywords=["imagery statistics", "影像统计", result.layer, result.zones.layer],
        nothing="the statistics cover no polygons: there is nothing to save",
    )  # fmt: skip
    frame = result.to_geodataframe() if len(result.zones) else gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    return save_frame(engine, frame, about, save, principal=principal, door=door, extent=extent)
