"""3D analyses for notebooks: height_check, sunlight, line_of_sight and viewshed as GeoDataFrames.

    >>> om.height_check(zones=zones_geojson, proposed=tower)                       # doctest: +SKIP
    >>> om.sunlight([(108.94, 34.26)], day="dahan", year=2025).plot(column="hours")  # doctest: +SKIP

Both doors give the same answer: the database door runs ``layers.analysis3d.run_analysis`` (the
caller is the handle's principal), the HTTP door POSTs the same inputs to /api/v1/3d/{operation}.
Footprints and zones may be given as GeoDataFrames (lon/lat): they travel as GeoJSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import geopandas as gpd

from layers.analysis3d import check_save, run_analysis, save_result
from layers.client.local import LocalBackend
from layers.saved_results import result_frame, save_arguments

Shapes: TypeAlias = gpd.GeoDataFrame | Mapping[str, Any] | Sequence[Mapping[str, Any]]
ANSWER_KEYS = ("checked", "violations", "day", "date", "window", "step_minutes", "rule", "min_hours", "passed",
               "buildings", "visible", "blocking", "visible_share", "cells", "layer_saved")  # fmt: skip


def _geojson(value: Any) -> Any:
    """GeoDataFrames as GeoJSON (lon/lat); anything else unchanged."""
    if isinstance(value, gpd.GeoDataFrame):
        return json.loads(value.to_crs(4326).to_json(drop_id=True))
    if isinstance(value, tuple):
        return list(value)
    return value


class Analysis3dMethods:
    """Mixed into ``Onemap``: planners' 3D analyses over the LoD1 buildings."""

    backend: Any

    def _analysis3d(self, operation: str, inputs: Mapping[str, Any]) -> gpd.GeoDataFrame:
        given = {k: _geojson(v) for k, v in inputs.items() if v is not None}
        if isinstance(self.backend, LocalBackend):
            engine, principal = self.backend.engine, self.backend.principal
            save = save_arguments(given.get("save_as"))
            check_save(save, principal)
            answer = run_analysis(engine, operation, given, caller=principal)
            if save is not None:
                save_result(engine, answer, principal=principal, door="cli", **save)
                answer = {**answer, "layer_saved": save["name"]}
        else:
            answer = self.backend.post(f"/api/v1/3d/{operation}", given)
        frame = result_frame(answer)
        frame.attrs.update({key: answer[key] for key in ANSWER_KEYS if key in answer})
        return frame

    def height_check(
        self, zones: str | Shapes, *, limit_field: str = "max_height_m", layer: str | None = None,
        proposed: Shapes | None = None, save_as: str | None = None,
    ) -> gpd.GeoDataFrame:  # fmt: skip
        """控高: buildings of ``layer`` (or the ``proposed`` footprints with ``height_m``) above the
        strictest limit of the ``zones`` (a layer id, or polygons with ``limit_field``), with
        ``excess_m``; ``frame.attrs['checked']`` counts the buildings standing in any zone."""
        return self._analysis3d("height-check", {"zones": zones, "limit_field": limit_field, "layer": layer,
                                                 "proposed": proposed, "save_as": save_as})  # fmt: skip

    def sunlight(
        self, points: Sequence[Any] | gpd.GeoDataFrame, *, day: str = "dahan", year: int | None = None,
        date: str | None = None, step: float = 1, radius: float = 500, rule: str = "total",
        min_hours: float | None = None, min_spell_minutes: float = 0, proposed: Shapes | None = None,
        layer: str | None = None, save_as: str | None = None,
    ) -> gpd.GeoDataFrame:  # fmt: skip
        """日照: hours of sun per point (lon, lat[, z] or {lon, lat, z, facing, id}) on 大寒日/冬至日
        in the standard's window, its spells and ``passed``; ``proposed`` buildings cast shadows too."""
        if isinstance(points, gpd.GeoDataFrame):
            points = _geojson(points)
        else:
            points = [list(p) if isinstance(p, tuple) else p for p in points]
        return self._analysis3d("sunlight", {
            "points": points, "day": day, "year": year, "date": date, "step": step, "radius": radius, "rule": rule,
            "min_hours": min_hours, "min_spell_minutes": min_spell_minutes, "proposed": proposed, "layer": layer,
            "save_as": save_as})  # fmt: skip

    def line_of_sight(self, a: Sequence[float], b: Sequence[float], *, proposed: Shapes | None = None,
                      layer: str | None = None) -> gpd.GeoDataFrame:  # fmt: skip
        """通视: the sight line a → b ([lon, lat, z]) and the points where buildings block it."""
        return self._analysis3d("line-of-sight", {"a": list(a), "b": list(b), "proposed": proposed, "layer": layer})

    def viewshed(
        self, observer: Sequence[float], *, observer_height: float = 1.6, target_height: float = 0,
        radius: float = 300, resolution: float = 10, proposed: Shapes | None = None, layer: str | None = None,
        save_as: str | None = None,
    ) -> gpd.GeoDataFrame:  # fmt: skip
        """可视域: the visible and the hidden cells around ``observer`` as two polygons."""
        return self._analysis3d("viewshed", {
            "observer": list(observer), "observer_height": observer_height, "target_height": target_height,
            "radius": radius, "resolution": resolution, "proposed": proposed, "layer": layer, "save_as": save_as})  # fmt: skip
