"""``Onemap``: a planner's handle on the one map, through the OGC API or straight from PostGIS.

    >>> om = Onemap.from_url("http://127.0.0.1:8000", token="om_…")      # doctest: +SKIP
    >>> om = Onemap.from_database("postgresql://…/onemap", principal=local_operator())  # doctest: +SKIP
    >>> om.layers()[["id", "department_code", "feature_count"]]          # doctest: +SKIP
    >>> om.read("buildings", bbox=(108.93, 34.25, 108.95, 34.27), filter="floors > 20")  # doctest: +SKIP

Both doors answer every question the same way: same rows, same columns, same dtypes (the
database door runs the OGC API's own SQL). A few analyses (road travel times, synthetic
incident histories) need the database door and say so over HTTP.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy import Engine

from layers.client.analysis3d import Analysis3dMethods
from layers.client.backend import Backend, Record
from layers.client.emergency import EmergencyMethods
from layers.client.frames import features_frame, records_frame
from layers.client.local import LocalBackend
from layers.client.network import NetworkMethods
from layers.client.query import LayerQuery, OutputCrs
from layers.client.remote import RemoteBackend
from spatial.access.principal import Principal
from spatial.errors import InvalidInput

CATALOG_COLUMNS = (
    "id", "department_code", "department_name_zh", "department_name_en", "kind", "visibility",
    "title_zh", "title_en", "geometry_type", "feature_count", "time_start", "time_end", "bbox",
    "keywords", "description", "updated_at",
)  # fmt: skip
PAGE_SIZE = 10_000
"""Features per request: the OGC API's largest page."""


class Onemap(EmergencyMethods, NetworkMethods, Analysis3dMethods):
    """The layers, imagery statistics, incidents and geocoder of one platform, as (Geo)DataFrames."""

    def __init__(self, backend: Backend, *, page_size: int = PAGE_SIZE) -> None:
        self.backend = backend
        self.page_size = page_size

    # ---------------------------------------------------------------------- opening
    @classmethod
    def from_url(cls, url: str, token: str | None = None, *, timeout: float = 120.0) -> Onemap:
        """Through the platform's OGC API and REST at ``url``, as the holder of ``token``."""
        return cls(RemoteBackend(url, token, timeout=timeout))

    @classmethod
    def from_database(cls, url: str | Engine | None = None, *, principal: Principal | None) -> Onemap:
        """Straight from PostGIS (``url``, an Engine, or the platform's configured database).

        ``principal`` is who reads and writes: nobody is assumed. Whoever holds the database's
        own credentials acts as its operator: ``principal=local_operator()``
        (``spatial.access.principal``); None reads as an anonymous caller would.
        """
        if isinstance(url, Engine):
            return cls(LocalBackend(url, principal))
        from spatial.config import Settings
        from spatial.db import database_url, make_engine, normalise_url

        target = normalise_url(url) if url else database_url(Settings())
        return cls(LocalBackend(make_engine(target, pool_size=2), principal))

    @classmethod
    def from_environment(cls) -> Onemap:
        """The platform at ``ONEMAP_URL`` as the holder of ``ONEMAP_TOKEN`` (none: anonymous).

        The database door is never opened from the environment alone: it needs a principal named
        (``Onemap.from_database(url, principal=…)``), and nobody is assumed.
        """
        url = os.environ.get("ONEMAP_URL")
        if not url:
            raise InvalidInput("ONEMAP_URL is not set: set it (and ONEMAP_TOKEN), or open the database "
                               "door with Onemap.from_database(url, principal=…)")  # fmt: skip
        return cls.from_url(url, os.environ.get("ONEMAP_TOKEN") or None)

    @property
    def door(self) -> str:
        """'http' or 'database'."""
        return "database" if isinstance(self.backend, LocalBackend) else "http"

    def __repr__(self) -> str:
        return f"<Onemap {self.door}: {self.backend.describe()}>"

    def close(self) -> None:
        """Release connections (the engine this client made, or the HTTP client)."""
        if isinstance(self.backend, LocalBackend):
            self.backend.engine.dispose()
        elif isinstance(self.backend, RemoteBackend):
            self.backend.client.close()

    def __enter__(self) -> Onemap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------------- layers
    def layers(self) -> pd.DataFrame:
        """The catalog: one row per layer the caller may see (owner department, kind, size…)."""
        rows = [{k: row.get(k) for k in CATALOG_COLUMNS} for row in self.backend.layers()]
        table = records_frame(rows, datetimes=("time_start", "time_end", "updated_at"))
        return table if len(table) else pd.DataFrame(columns=list(CATALOG_COLUMNS))

    def read(
        self, layer: str, *, bbox: Sequence[float] | None = None, filter: str | None = None,
        datetime: str | None = None, properties: Sequence[str] = (), crs: str | int | None = None,
        limit: int | None = None,
    ) -> gpd.GeoDataFrame:
        """A layer (or its features in a lon/lat ``bbox``, matching a CQL2 ``filter``, at a
        ``datetime`` instant or 'start/end' interval) as a GeoDataFrame indexed by feature id."""
        query = LayerQuery.build(bbox=bbox, filter=filter, datetime=datetime, properties=properties,
                                 crs=crs, limit=limit)  # fmt: skip
        fields = self.backend.fields(layer)
        features: list[Record] = []
        for page in self.backend.feature_pages(layer, query, self.page_size):
            features.extend(page)
        return features_frame(features, fields, query.crs)

    # ---------------------------------------------------------------------- imagery
    def imagery_statistics(
        self, imagery: str, zones: str, *, band: int | None = None, expression: str | None = None,
        percentiles: Sequence[float] = (), datetime: str | None = None, scene: str | None = None,
        properties: Sequence[str] = (), bbox: Sequence[float] | None = None, all_touched: bool = False,
    ) -> gpd.GeoDataFrame:
        """Statistics (count, mean, min, max, std, percentiles) of a band or band expression
        (e.g. NDVI ``(b4-b3)/(b4+b3)``) under each polygon of layer ``zones``."""
        options = {
            "band": band, "expression": expression, "percentiles": list(percentiles) or None,
            "datetime": datetime, "scene": scene, "properties": list(properties) or None,
            "bbox": list(bbox) if bbox is not None else None, "all_touched": all_touched or None,
        }  # fmt: skip
        found = self.backend.zonal_statistics(imagery, zones, {k: v for k, v in options.items() if v is not None})
        frame = features_frame(found, {}, OutputCrs())
        return frame

    # ---------------------------------------------------------------------- geocoding
    def geocode(self, address: str, *, limit: int = 5) -> gpd.GeoDataFrame:
        """Matches for an address (Chinese or Western, free text), best first."""
        return _matches_frame(self.backend.geocode(address, limit))

    def reverse(self, lon: float, lat: float, *, limit: int = 1, radius_m: float = 250.0) -> gpd.GeoDataFrame:
        """The door plates and POIs nearest a lon/lat point, nearest first."""
        return _matches_frame(self.backend.reverse(lon, lat, limit, radius_m))

    # ---------------------------------------------------------------------- incidents
    def categories(self) -> pd.DataFrame:
        """The incident categories (部件/事件) with their departments and time limits."""
        return records_frame(self.backend.categories())

    def file_incident(
        self, category_code: str, *, lon: float | None = None, lat: float | None = None,
        address: str | None = None, description: str = "", source: str = "public", **extra: Any,
    ) -> dict[str, Any]:
        """File a report at a point or an address; the routing, cell, department and deadline."""
        report = {"category_code": category_code, "lon": lon, "lat": lat, "address": address,
                  "description": description, "source": source, **extra}  # fmt: skip
        return self.backend.file_incident({k: v for k, v in report.items() if v is not None})

    def incident(self, incident_id: int) -> dict[str, Any]:
        """One incident's record."""
        return self.backend.incident(incident_id)

    def incident_events(self, incident_id: int) -> pd.DataFrame:
        """One incident's immutable event log, oldest first."""
        return records_frame(self.backend.incident_events(incident_id), datetimes=("at", "due_at"))

    def transition(
        self, incident_id: int, action: str, *, reason: str | None = None, photos: Iterable[bytes] = (),
        **fields: Any,
    ) -> dict[str, Any]:
        """One workflow action (register, dispatch, accept, handled, verify, close…)."""
        body = {"action": action, "reason": reason, **fields}
        return self.backend.transition(incident_id, {k: v for k, v in body.items() if v is not None}, list(photos))

    def incidents(
        self, *, staff: bool = True, bbox: Sequence[float] | None = None, filter: str | None = None,
        datetime: str | None = None,
    ) -> gpd.GeoDataFrame:
        """Incidents as points: the staff layer (``incidents_internal``) or the public one."""
        layer = "incidents_internal" if staff else "incidents"
        return self.read(layer, bbox=bbox, filter=filter, datetime=datetime)

    def kpis(self, by: str = "department", *, since: str | None = None, until: str | None = None) -> pd.DataFrame:
        """KPIs per department, district, street, community, cell or inspector (结案率, 按期结案率…)."""
        return records_frame(self.backend.kpis(by, since, until))

    def overdue(self, *, department: str | None = None, warnings: bool = True) -> pd.DataFrame:
        """Open incidents past their stage deadline (红灯) or close to it (黄灯)."""
        rows = self.backend.overdue(department, warnings)
        return records_frame(rows, datetimes=("stage_started_at", "stage_due_at"))

    # ---------------------------------------------------------------------- database only
    def database(self) -> Engine:
        """The SQLAlchemy engine of the database door (InvalidInput over HTTP)."""
        if not isinstance(self.backend, LocalBackend):
            raise InvalidInput("this needs the database door: open the client with Onemap.from_database()")
        return self.backend.engine

    def travel_minutes(
        self, origins: gpd.GeoDataFrame, destinations: gpd.GeoDataFrame, *, access_kmh: float = 20.0
    ) -> pd.DataFrame:
        """Minutes by road (pgRouting over the base map's roads) from the nearest origin to each
        destination (polygons: from their representative point); ``origin`` is its index label."""
        from spatial.network import Place, travel_minutes

        starts, ends = _lonlat_points(origins), _lonlat_points(destinations)
        reach = travel_minutes(self.database(), Place(starts.x.tolist(), starts.y.tolist()),
                               Place(ends.x.tolist(), ends.y.tolist()), access_kmh=access_kmh)  # fmt: skip
        labels = origins.index.to_numpy()
        nearest = [labels[i] if i >= 0 else None for i in reach.origin.tolist()]
        return pd.DataFrame({"minutes": reach.minutes, "origin": nearest}, index=destinations.index)

    def simulate_incidents(self, count: int = 400, *, seed: int = 8, days: int = 42) -> pd.DataFrame:
        """Add a SYNTHETIC incident history (filed and worked through the real workflow over the
        last ``days``) unless this seed's is already there; a summary per final state."""
        from layers.demo.incident_history import simulate_incidents

        return records_frame(simulate_incidents(self.database(), count=count, seed=seed, days=days))


def _matches_frame(features: list[Record]) -> gpd.GeoDataFrame:
    frame = features_frame(features, {"confidence": {"type": "number"}}, OutputCrs())
    return frame.reset_index(drop=True)


def _lonlat_points(frame: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """Points in lon/lat: the geometries' representative points (exact for points)."""
    geometry = frame.geometry.to_crs(4326) if frame.crs is not None else frame.geometry
    return geometry.representative_point()
