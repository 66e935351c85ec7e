"""The answer of a zonal statistic: one row per polygon, as records, GeoJSON or a GeoDataFrame."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from layers.imagery.scenes import Scene
from layers.imagery.zones import Zones

INTEGER_COLUMNS = ("count", "nodata")


@dataclass
class ZonalResult:
    """Statistics per polygon of ``zones`` over imagery layer ``layer``."""

    layer: str
    zones: Zones
    measure: str
    statistics: dict[str, np.ndarray]
    scene_of: dict[str, list[str | None]]  # 'scene' (or 'before_scene', 'after_scene') per zone
    scenes: list[Scene] = field(default_factory=list)
    all_touched: bool = False

    @property
    def columns(self) -> list[str]:
        """Statistic columns in order (count, nodata, mean, min, max, std, p…, mean_…)."""
        return list(self.statistics)

    def records(self) -> list[dict[str, Any]]:
        """One plain dict per polygon: zone id, asked properties, scene(s), statistics."""
        key = f"zone_{self.zones.id_field}"
        rows = []
        for i, zone_id in enumerate(self.zones.ids):
            row: dict[str, Any] = {key: zone_id}
            row.update({name: values[i] for name, values in self.zones.properties.items()})
            row.update({name: values[i] for name, values in self.scene_of.items()})
            row.update({name: _number(name, column[i]) for name, column in self.statistics.items()})
            rows.append(row)
        return rows

    def feature_collection(self, *, geometry: bool = True) -> dict[str, Any]:
        """GeoJSON (CRS84): each polygon with its statistics as properties."""
        shapes = shapely.to_geojson(self.zones.geometries) if geometry and len(self.zones) else None
        features = []
        for i, record in enumerate(self.records()):
            feature: dict[str, Any] = {"type": "Feature", "id": self.zones.ids[i], "properties": record}
            feature["geometry"] = _json(shapes[i]) if shapes is not None else None
            features.append(feature)
        return {"type": "FeatureCollection", "features": features, **self.describe()}

    def describe(self) -> dict[str, Any]:
        """What was measured, over what, from which scenes."""
        counted = self.statistics["count"]
        return {
            "layer": self.layer,
            "zones": self.zones.layer,
            "measure": self.measure,
            "statistics": self.columns,
            "scenes": [s.as_json() for s in self.scenes],
            "zone_count": len(self.zones),
            "zones_with_pixels": int(np.count_nonzero(counted > 0)),
            "pixel_rule": "touched" if self.all_touched else "centre inside",
        }

    def to_geodataframe(self) -> Any:
        """A geopandas GeoDataFrame (EPSG:4326) of the records and polygons."""
        import geopandas as gpd

        return gpd.GeoDataFrame(self.records(), geometry=list(self.zones.geometries), crs=4326)


def _number(name: str, value: float) -> int | float | None:
    if not math.isfinite(value):
        return None
    return int(value) if name in INTEGER_COLUMNS else float(value)


def _json(text: str) -> Any:
    import orjson

    return orjson.loads(text)
