"""Keep a statistic as a layer: the polygons with their numbers, published like any upload.

The result is written to a GeoPackage and loaded by ``layers.vector.load_vector_file``, the
path every department upload takes: the same permission check (publishing for the caller's
department), quality gate, history row and catalog entry.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from sqlalchemy import Engine

from layers.catalog import LayerSpec
from layers.imagery.access import Caller
from layers.imagery.zonal_result import ZonalResult
from layers.vector import LoadReport, load_vector_file
from spatial.errors import InvalidInput, Unauthorized
from spatial.extent import ExtentRule


def save_as_layer(
    engine: Engine,
    result: ZonalResult,
    *,
    name: str,
    title_zh: str | None = None,
    title_en: str | None = None,
    department: str | None = None,
    visibility: str = "department",
    principal: Caller,
    door: str = "cli",
    extent: ExtentRule | None = None,
) -> LoadReport:
    """Publish ``result`` as a new overlay layer ``name`` owned by the caller's department."""
    who = principal
    if who is None:  # refused before anything about the layers is looked at or said
        raise Unauthorized("saving a result as a layer needs credentials: send Authorization: Bearer <token>")
    owner = department or who.department_code
    if not owner:
        raise InvalidInput("say which department owns the new layer (department=…)")
    if not len(result.zones):
        raise InvalidInput("the statistics cover no polygons: there is nothing to save")
    title = title_zh or f"{result.zones.layer} 上的 {result.measure} 统计"
    spec = LayerSpec(
        id=name,
        title_zh=title,
        title_en=title_en or f"{result.measure} over {result.zones.layer}",
        department_code=owner,
        visibility=visibility,
        description=(
            f"Zonal statistics of {result.measure} of imagery layer {result.layer} over "
            f"{result.zones.layer} (scenes: {', '.join(s.scene_id for s in result.scenes)})."
        ),
        keywords=["imagery statistics", "影像统计", result.layer, result.zones.layer],
    )
    with tempfile.TemporaryDirectory(prefix="onemap-stats-") as folder:
        path = Path(folder) / f"{name}.gpkg"
        result.to_geodataframe().to_file(path, driver="GPKG", layer=name, engine="pyogrio")
        return load_vector_file(engine, path, spec, principal=who, door=door, extent=extent)
