"""Network analysis for notebooks: route, closest, service_area, od_matrix and coverage as (Geo)DataFrames.

    >>> om.closest((108.94, 34.26), layer="emergency_facilities", where={"kind": "fire_station"}, k=3)  # doctest: +SKIP
    >>> om.service_area((108.94, 34.26), minutes=[4, 8, 15]).plot(column="minutes")             # doctest: +SKIP

Both doors give the same answer: the database door runs ``layers.network_layers.run_network``
(the caller is the handle's principal), the HTTP door POSTs the same inputs to
/api/v1/network/{operation}, which runs that same function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import pandas as pd

from layers.client.local import LocalBackend
from layers.network_layers import result_frame, run_network

Point = Sequence[float]


class NetworkMethods:
    """Mixed into ``Onemap``: network analysis over the city's roads (pgRouting, prepared graph)."""

    backend: Any

    def _network(self, operation: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
        given = {k: (list(v) if isinstance(v, tuple) else v) for k, v in inputs.items() if v is not None}
        if isinstance(self.backend, LocalBackend):
            return run_network(self.backend.engine, operation, given, caller=self.backend.principal)
        answer: dict[str, Any] = self.backend.post(f"/api/v1/network/{operation}", given)
        return answer

    def route(self, a: Point, b: Point, *, hour: int | None = None) -> gpd.GeoDataFrame:
        """The fastest path from ``a`` to ``b`` (lon, lat): one LineString row with seconds, meters."""
        return result_frame(self._network("route", {"a": a, "b": b, "hour": hour}))

    def closest(
        self, target: Point, *, layer: str | None = None, where: Mapping[str, Any] | None = None,
        facilities: Sequence[Mapping[str, Any]] | None = None, k: int = 5, max_minutes: float | None = None,
        direction: str = "to_target", hour: int | None = None,
    ) -> gpd.GeoDataFrame:  # fmt: skip
        """The ``k`` facilities (a point layer, or [{id, lon, lat}]) fastest to reach ``target``.

        ``frame.attrs`` keeps the target's snap distance and the unreachable facilities.
        """
        answer = self._network("closest", {"target": target, "layer": layer, "where": dict(where) if where else None,
                                           "facilities": list(facilities) if facilities else None, "k": k,
                                           "max_minutes": max_minutes, "direction": direction, "hour": hour})  # fmt: skip
        frame = result_frame(answer)
        frame.attrs.update({key: answer.get(key) for key in ("target_snap_m", "unreachable", "over_limit")})
        return frame

    def service_area(
        self, origin: Point, minutes: Sequence[float] = (4, 8, 15), *, direction: str = "from_origin",
        hour: int | None = None,
    ) -> gpd.GeoDataFrame:  # fmt: skip
        """One polygon per time band (minutes, node count); ``frame.attrs['node_ids']`` per band."""
        answer = self._network("service-area", {"origin": origin, "minutes": list(minutes), "direction": direction,
                                                "hour": hour})  # fmt: skip
        frame = result_frame(answer)
        frame.attrs["node_ids"] = [f["properties"]["node_ids"] for f in answer["features"]]
        frame.attrs["snap_m"] = answer.get("snap_m")
        return frame

    def od_matrix(self, origins: Sequence[Point], destinations: Sequence[Point], *,
                  hour: int | None = None) -> pd.DataFrame:  # fmt: skip
        """Seconds from each origin (rows) to each destination (columns); NaN: unreachable."""
        answer = self._network("od-matrix", {"origins": [list(p) for p in origins],
                                             "destinations": [list(p) for p in destinations], "hour": hour})  # fmt: skip
        return pd.DataFrame(answer["seconds"], dtype=float)

    def coverage(
        self, minutes: float = 8, *, layer: str | None = None, where: Mapping[str, Any] | None = None,
        facilities: Sequence[Mapping[str, Any]] | None = None, level: str = "street", source: str = "buildings",
        density: float | None = None, hour: int | None = None,
    ) -> gpd.GeoDataFrame:  # fmt: skip
        """Residents within ``minutes`` of any facility, per division (code, residents, covered, share)."""
        answer = self._network("coverage", {"minutes": minutes, "layer": layer, "where": dict(where) if where else None,
                                            "facilities": list(facilities) if facilities else None, "level": level,
                                            "source": source, "density": density, "hour": hour})  # fmt: skip
        frame = result_frame(answer)
        frame.attrs.update({key: answer.get(key) for key in ("share", "residents", "covered", "facilities_unreachable")})
        return frame
