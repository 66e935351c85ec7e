"""The database door: the same questions answered by the library functions the server calls.

Features come from ``layers.features`` (the SQL behind the OGC API, so the GeoJSON is the
same text), incidents from ``spatial.incidents``, geocoding from ``spatial.geocoding``. The
caller acts as ``principal``; by default the local operator, who holds the database's own
credentials and so sees every layer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import Engine

from layers import features as feature_sql
from layers.catalog import find_layer, list_layers
from layers.client.backend import Record
from layers.client.frames import Fields
from layers.client.query import LayerQuery, cql_filter
from spatial.access.policy import LayerRef, can_read, require_read
from spatial.access.principal import Principal
from spatial.errors import InvalidInput
from spatial.params import parse_instant


class LocalBackend:
    """Library calls on ``engine``, acting as ``principal`` (named by the caller; None: anonymous)."""

    def __init__(self, engine: Engine, principal: Principal | None) -> None:
        self.engine = engine
        self.principal = principal
        self.rows: dict[str, dict[str, Any]] = {}

    def describe(self) -> str:
        """The database URL without its password."""
        return self.engine.url.render_as_string(hide_password=True)

    # ------------------------------------------------------------------------- catalog
    def layers(self) -> list[Record]:
        """Catalog rows the principal may read."""
        rows = [r for r in list_layers(self.engine) if can_read(self.principal, LayerRef.from_row(r))]
        return [jsonable(row) for row in rows]

    def table(self, layer: str) -> feature_sql.FeatureTable:
        """The layer's table description, after THE read check."""
        row = find_layer(self.engine, layer)
        require_read(self.principal, LayerRef.from_row(row) if row else None, layer)
        assert row is not None
        if not row.get("storage_table"):
            raise InvalidInput(f"layer {layer!r} is {row['kind']}: it has no features to read")
        self.rows[layer] = row
        return feature_sql.describe_table(
            self.engine, row["storage_schema"], row["storage_table"], id_field=row["id_field"],
            geom_field=row["geom_field"], time_field=row["time_field"],
        )  # fmt: skip

    def fields(self, layer: str) -> Fields:
        """The fields the OGC API's queryables list."""
        return self.table(layer).fields()

    def feature_pages(self, layer: str, query: LayerQuery, page_size: int) -> Iterator[list[Record]]:
        """Pages of GeoJSON features written by the OGC API's own SQL."""
        table = self.table(layer)
        request = feature_query(table, query)  # a datetime outside the layer's time: no features
        fetched = 0
        while True:
            left = query.remaining(fetched)
            request.offset, request.limit = fetched, page_size if left is None else min(page_size, left)
            page = list(feature_sql.query_features(self.engine, table, request)["features"]) if request.limit else []
            fetched += len(page)
            yield page
            if len(page) < page_size or query.remaining(fetched) == 0:
                return

    # ------------------------------------------------------------------------- imagery
    def zonal_statistics(self, imagery: str, zones: str, options: Mapping[str, Any]) -> list[Record]:
        """``layers.imagery.zonal.zonal_statistics`` with the REST door's argument checks."""
        from layers.imagery.arguments import statistics_arguments
        from layers.imagery.zonal import zonal_statistics

        arguments = statistics_arguments({"zones": zones, **options})
        zone_layer = arguments.pop("zones")
        result = zonal_statistics(self.engine, imagery, zone_layer, principal=self.principal, **arguments)
        return list(result.feature_collection()["features"])

    # ------------------------------------------------------------------------ geocoding
    def geocode(self, address: str, limit: int) -> list[Record]:
        """``spatial.geocoding.geocode``."""
        from spatial.geocoding import geocode

        return [m.as_feature() for m in geocode(self.engine, address, limit=limit)]

    def reverse(self, lon: float, lat: float, limit: int, radius_m: float) -> list[Record]:
        """``spatial.geocoding.reverse.reverse``."""
        from spatial.geocoding.reverse import reverse

        _, matches = reverse(self.engine, lon, lat, limit=limit, radius_m=radius_m)
        return [m.as_feature() for m in matches]

    # ------------------------------------------------------------------------ incidents
    def categories(self) -> list[Record]:
        """The active categories."""
        from spatial.incidents.categories import list_categories

        with self.engine.connect() as conn:
            return [jsonable(row) for row in list_categories(conn)]

    def file_incident(self, report: Mapping[str, Any]) -> Record:
        """``spatial.incidents.filing.file_incident`` as the principal."""
        from spatial.incidents.filing import file_incident

        return jsonable(file_incident(self.engine, incident_report(report), principal=self.principal).as_dict())

    def incident(self, incident_id: int) -> Record:
        """The staff record."""
        from spatial.incidents.queries import incident

        with self.engine.connect() as conn:
            return jsonable(incident(conn, int(incident_id)))

    def incident_events(self, incident_id: int) -> list[Record]:
        """The event log."""
        from spatial.incidents.queries import events, incident

        with self.engine.connect() as conn:
            incident(conn, int(incident_id))
            return [jsonable(row) for row in events(conn, int(incident_id))]

    def transition(self, incident_id: int, fields: Mapping[str, Any], photos: list[bytes]) -> Record:
        """``spatial.incidents.workflow.transition`` as the principal."""
        from spatial.incidents.photos import check_photos
        from spatial.incidents.workflow import TransitionRequest, transition

        request = TransitionRequest(
            action=str(fields.get("action") or ""), reason=fields.get("reason"),
            photos=check_photos([(f"photo{i}", data) for i, data in enumerate(photos)]),
            department=fields.get("department"), extension_minutes=fields.get("extension_minutes"),
            merge_into=fields.get("merge_into"), expected_version=fields.get("version"),
        )  # fmt: skip
        return jsonable(transition(self.engine, int(incident_id), request, principal=self.principal).as_dict())

    def kpis(self, by: str, since: str | None, until: str | None) -> list[Record]:
        """``spatial.incidents.kpis.kpis``."""
        from spatial.incidents.kpis import kpis

        with self.engine.connect() as conn:
            return [jsonable(r) for r in kpis(conn, by, since=instant(since), until=instant(until))]

    def overdue(self, department: str | None, warnings: bool) -> list[Record]:
        """``spatial.incidents.supervision.due_incidents``."""
        from spatial.incidents.supervision import due_incidents

        with self.engine.connect() as conn:
            return [jsonable(r) for r in due_incidents(conn, department=department, include_warnings=warnings)]


def feature_query(table: feature_sql.FeatureTable, query: LayerQuery) -> feature_sql.FeatureQuery:
    """The OGC API provider's query for a planner's question."""
    return feature_sql.FeatureQuery(
        bbox=list(query.bbox or []),
        datetime_=query.datetime,
        filter_ast=cql_filter(query.filter, table.geom_field) if query.filter else None,
        select_properties=list(query.properties),
        output=feature_sql.OutputCrs(srid=query.crs.epsg, lat_first=query.crs.lat_first),
    )


def incident_report(report: Mapping[str, Any]) -> Any:
    """An IncidentReport from the fields of POST /api/v1/incidents."""
    from spatial.incidents.filing import IncidentReport

    return IncidentReport(
        category_code=str(report.get("category_code") or ""),
        description=str(report.get("description") or ""),
        lon=report.get("lon"), lat=report.get("lat"), address=report.get("address"),
        source=str(report.get("source") or "public"), reporter_name=report.get("reporter_name"),
        reporter_contact=report.get("reporter_contact"), reported_at=instant(report.get("reported_at")),
        external_id=report.get("external_id"),
    )  # fmt: skip


def instant(value: str | dt.datetime | None) -> dt.datetime | None:
    """An ISO 8601 string (or datetime) as an aware datetime."""
    if value is None or isinstance(value, dt.datetime):
        return value
    return parse_instant(value)


def jsonable(value: Any) -> Any:
    """Datetimes as ISO 8601, as the REST doors write them; containers recursively."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
