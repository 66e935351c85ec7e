"""The two doors a client can use, one interface: the OGC API/REST over HTTP, or the database.

Each answers in the OGC API's own JSON (catalog rows, GeoJSON features, queryables, REST
records with ISO 8601 times), so ``Onemap`` turns either into the same frames.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from layers.client.frames import Fields
from layers.client.query import LayerQuery

Record = dict[str, Any]


class Backend(Protocol):
    """What ``Onemap`` needs of a door."""

    def describe(self) -> str:
        """Where this door leads, for repr (no secrets)."""
        ...

    def layers(self) -> list[Record]:
        """The catalog rows the caller may see."""
        ...

    def fields(self, layer: str) -> Fields:
        """The layer's properties and their JSON-schema types (the OGC API queryables)."""
        ...

    def feature_pages(self, layer: str, query: LayerQuery, page_size: int) -> Iterator[list[Record]]:
        """The matching GeoJSON features, a page at a time, in id order."""
        ...

    def zonal_statistics(self, imagery: str, zones: str, options: Mapping[str, Any]) -> list[Record]:
        """GeoJSON features: statistics of ``imagery`` under each polygon of ``zones``."""
        ...

    def geocode(self, address: str, limit: int) -> list[Record]:
        """GeoJSON features: matches for an address, best first."""
        ...

    def reverse(self, lon: float, lat: float, limit: int, radius_m: float) -> list[Record]:
        """GeoJSON features: the nearest door plates and POIs."""
        ...

    def categories(self) -> list[Record]:
        """The incident category catalogue."""
        ...

    def file_incident(self, report: Mapping[str, Any]) -> Record:
        """File a report (fields of POST /api/v1/incidents); the filing's answer."""
        ...

    def incident(self, incident_id: int) -> Record:
        """One incident's record."""
        ...

    def incident_events(self, incident_id: int) -> list[Record]:
        """One incident's event log, oldest first."""
        ...

    def transition(self, incident_id: int, fields: Mapping[str, Any], photos: list[bytes]) -> Record:
        """One workflow action on an incident (photos: image bytes, e.g. for 处置反馈)."""
        ...

    def kpis(self, by: str, since: str | None, until: str | None) -> list[Record]:
        """KPI groups (REST ``/supervision/kpis``)."""
        ...

    def overdue(self, department: str | None, warnings: bool) -> list[Record]:
        """Incidents past or near their deadline."""
        ...
