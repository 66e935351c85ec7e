"""The earthquake scenario for notebooks: zones as a GeoDataFrame, the shelter plan as DataFrames.

    >>> quake = om.earthquake(108.94, 34.26, magnitude=5.5, depth_km=10)   # doctest: +SKIP
    >>> quake["zones"].plot(column="intensity"); quake["communities"].sort_values("unassigned")  # doctest: +SKIP

Both doors give the same answer: the database door runs ``layers.emergency.earthquake`` as the
handle's principal, the HTTP door POSTs the same inputs to /api/v1/emergency/earthquake.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd

from layers.client.local import LocalBackend


class EmergencyMethods:
    """Mixed into ``Onemap``: emergency scenarios on the city's base map."""

    backend: Any

    def earthquake(self, lon: float, lat: float, *, magnitude: float, depth_km: float, **options: Any) -> dict[str, Any]:
        """Intensity zones with exposure (``zones``), ``communities``, ``assignments``, ``shelters``
        and ``totals`` of an earthquake; options: strike, region, distance, max_walk_m, save_as."""
        inputs = {"lon": lon, "lat": lat, "magnitude": magnitude, "depth_km": depth_km, **options}
        if isinstance(self.backend, LocalBackend):
            answer = _local(self.backend, inputs)
        else:
            answer = self.backend.post("/api/v1/emergency/earthquake", inputs)
        zones = gpd.GeoDataFrame.from_features(answer["features"], crs="EPSG:4326") if answer["features"] else \
            gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")  # fmt: skip
        frames = {key: pd.DataFrame(answer[key]) for key in ("communities", "assignments", "shelters")}
        return {"zones": zones, **frames, "totals": answer["totals"], "event": answer["event"],
                "relation": answer["relation"]}  # fmt: skip


def _local(backend: LocalBackend, inputs: dict[str, Any]) -> dict[str, Any]:
    from layers.emergency import earthquake, save_zones_as_layer, scenario_inputs

    event, max_walk, save = scenario_inputs(inputs)
    scenario = earthquake(backend.engine, event, principal=backend.principal, max_walk_m=max_walk)
    if save is not None:
        save_zones_as_layer(backend.engine, scenario, principal=backend.principal, door="cli", **save)
    return scenario.as_json()
