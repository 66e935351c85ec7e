"""Filing an incident: check the report, place it (a point, or an address through the geocoder),
route it, store it with its first event and deadline, and suggest possible duplicates.

Everything is checked before anything is written, and written in one transaction: a refused
report leaves no trace.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, text

from spatial.access.principal import Principal
from spatial.errors import InvalidInput
from spatial.extent import METRES_PER_DEGREE, CityExtent, ExtentRule
from spatial.incidents.calendar import WorkingCalendar, default_calendar
from spatial.incidents.duplicates import NEARBY_SQL, described, nearby_parameters
from spatial.incidents.models import SOURCES
from spatial.incidents.photos import Photo
from spatial.incidents.roles import require_reporter
from spatial.incidents.routing import (
    Routing,
    category_and_routing,
    route,
    route_outside_cells,
)
from spatial.incidents.store import add_photos, category_row, event_parameters, unknown_category

CLOCK_SKEW = dt.timedelta(minutes=5)
MIN_GEOCODE_CONFIDENCE = 0.5
MAX_TEXT = 4000

FILE_SQL = text(
    f"""
    WITH dup AS ({NEARBY_SQL.text}),
    new_incident AS (
    INSERT INTO incidents.incident (category_code, description, address, source, reporter_name,
        reporter_contact, reported_by, reporter_token_id, external_id, reported_at, created_at,
        updated_at, location_source, geocode_confidence, grid_version_id, cell_id, cell_code,
        community_code, street_code, district_code, department_code, routing, routing_flagged,
        state, version, stage, stage_started_at, stage_due_at, extension_minutes, rework_count, geom)
    VALUES (:category, :description, :address, :source, :reporter_name, :reporter_contact,
        :reported_by, :token, :external_id, :reported_at, :now, :now, :location_source,
        :confidence, :version, :cell_id, :cell_code, :community, :street, :district, :department,
        CAST(:routing AS jsonb), :flagged, 'reported', 1, 'register', :now, :due, 0, 0,
        ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
    RETURNING id
    ),
    dup_list AS (
    SELECT COALESCE(jsonb_agg(jsonb_build_object('id', d.id, 'state', d.state, 'reported_at', d.reported_at,
        'cell_code', d.cell_code, 'distance_m', d.distance_m) ORDER BY d.distance_m, d.reported_at DESC),
        '[]'::jsonb) AS rows FROM dup d
    ),
    new_event AS (
    INSERT INTO incidents.incident_event (incident_id, at, action, from_state, to_state, actor,
        actor_role, actor_department, token_id, department_code, reason, due_at, detail)
    SELECT n.id, :at, :action, :from_state, :to_state, :actor, :role, :actor_department,
        :token, :department, :reason, :due,
        CAST(:detail AS jsonb) || jsonb_build_object('possible_duplicates', (SELECT COALESCE(
            jsonb_agg(d.id ORDER BY d.distance_m, d.reported_at DESC), '[]'::jsonb) FROM dup d))
    FROM new_incident n
    RETURNING incident_id, id
    )
    SELECT e.incident_id, e.id, dup_list.rows FROM new_event e, dup_list
    """
)
"""One filing in one statement: the possible duplicates (``duplicates.NEARBY_SQL``, before the new
row exists), the incident, its first event ('report', naming the duplicates) and their ids.
The event's insert fires the SSE ``NOTIFY``; on an autocommit connection the statement commits
(synchronously) before it answers."""


@dataclass
class IncidentReport:
    """What a reporter sends: category, description, where (point or address), who, when, photos."""

    category_code: str
    description: str = ""
    lon: float | None = None
    lat: float | None = None
    address: str | None = None
    source: str = "public"
    reporter_name: str | None = None
    reporter_contact: str | None = None
    reported_at: dt.datetime | None = None
    external_id: str | None = None
    photos: list[Photo] = field(default_factory=list)


@dataclass
class FiledIncident:
    """The answer to a filing: the new incident, where it went and by when it must be registered."""

    id: int
    state: str
    category_code: str
    lon: float
    lat: float
    routing: Routing
    register_due_at: dt.datetime
    duplicates: list[dict[str, Any]]
    photo_ids: list[int]

    def as_dict(self) -> dict[str, Any]:
        r = self.routing
        return {
            "id": self.id, "state": self.state, "category_code": self.category_code,
            "location": {"lon": self.lon, "lat": self.lat}, "cell_code": r.cell_code,
            "community_code": r.community_code, "street_code": r.street_code,
            "district_code": r.district_code, "department_code": r.department_code,
            "routing": r.explanation, "routing_flagged": r.flagged,
            "register_due_at": self.register_due_at.isoformat(), "possible_duplicates": self.duplicates,
            "photos": self.photo_ids,
        }  # fmt: skip


def file_incident(
    engine: Engine, report: IncidentReport, *, principal: Principal | None, extent: ExtentRule | None = None,
    calendar: WorkingCalendar | None = None, now: dt.datetime | None = None,
) -> FiledIncident:
    """Check, place, route and store a report; InvalidInput (nothing stored) when it is not acceptable.

    A report with a point and no photos (the common case) costs two statements on one autocommit
    connection: category + cell + rule, then duplicates + incident + event (``FILE_SQL``), which
    commits before this returns. An address or photos take one transaction of several statements.
    """
    now = now or dt.datetime.now(dt.UTC)
    check_report(report, principal, now)
    one_statement = report.lon is not None and report.lat is not None and not report.photos
    session = engine.connect().execution_options(isolation_level="AUTOCOMMIT") if one_statement else engine.begin()
    with session as conn:
        return file_on(conn, report, principal, extent or ExtentRule(), calendar or default_calendar(), now)


def file_on(conn: Connection, report: IncidentReport, principal: Principal | None, extent: ExtentRule,
            calendar: WorkingCalendar, now: dt.datetime) -> FiledIncident:  # fmt: skip
    """Place, route and store a checked report on ``conn`` (the caller's session or transaction)."""
    category, lon, lat, confidence, routing = place_and_route(conn, report, extent)
    due = calendar.add_working(now, category["time_limits"]["register"])
    incident_id, event_id, duplicates = insert(conn, report, principal, now, lon, lat, confidence, routing, due)
    photo_ids = add_photos(conn, incident_id, event_id, "report", report.photos)
    return FiledIncident(incident_id, "reported", category["code"], lon, lat, routing, due, duplicates, photo_ids)


def place_and_route(
    conn: Connection, report: IncidentReport, extent: ExtentRule
) -> tuple[dict[str, Any], float, float, float | None, Routing]:
    """The category, the point (and its geocoding confidence) and the routing of a report.

    Checked in this order, whatever the path: the category, the location, the city's extent.
    A report with a point takes one statement for category, cell and rule; an address is
    geocoded first.
    """
    code = (report.category_code or "").strip()
    if report.lon is None or report.lat is None:
        category = category_row(conn, code)
        lon, lat, confidence = place(conn, report)
        check_in_city(conn, lon, lat, extent)
        return category, lon, lat, confidence, route(conn, lon, lat, category)
    lon, lat = float(report.lon), float(report.lat)
    placed = category_and_routing(conn, code, lon, lat)
    if placed is None:
        raise unknown_category(code)
    category, routing = placed
    check_in_city(conn, lon, lat, extent)
    return category, lon, lat, None, routing or route_outside_cells(conn, lon, lat, category)


def check_report(report: IncidentReport, principal: Principal | None, now: dt.datetime) -> None:
    """Everything that can be checked without the database."""
    if report.source not in SOURCES:
        raise InvalidInput(f"source {report.source!r} unknown; one of {', '.join(SOURCES)}")
    require_reporter(principal, report.source)
    for name in ("description", "address", "reporter_name", "reporter_contact", "external_id"):
        value = getattr(report, name)
        if value is not None and len(value) > MAX_TEXT:
            raise InvalidInput(f"{name} is longer than {MAX_TEXT} characters")
    if report.reported_at is not None:
        if report.reported_at.tzinfo is None:
            raise InvalidInput("the report time needs a time zone (e.g. 2026-11-22T09:30:00+08:00)")
        if report.reported_at > now + CLOCK_SKEW:
            raise InvalidInput(f"the report time {report.reported_at.isoformat()} is in the future")
    has_point = report.lon is not None or report.lat is not None
    if has_point and (report.lon is None or report.lat is None):
        raise InvalidInput("give both lon and lat (or an address)")
    if has_point:
        lon, lat = float(report.lon or 0), float(report.lat or 0)
        if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
            raise InvalidInput(f"coordinates out of range: lon {report.lon}, lat {report.lat}")
    elif not (report.address or "").strip():
        raise InvalidInput("an incident needs a location: lon and lat, or an address")


def place(conn: Connection, report: IncidentReport) -> tuple[float, float, float | None]:
    """(lon, lat, geocoding confidence): the point given, else the address's best match."""
    if report.lon is not None and report.lat is not None:
        return float(report.lon), float(report.lat), None
    from spatial.geocoding import geocode

    address = (report.address or "").strip()
    matches = geocode(conn, address, limit=1)
    if not matches or matches[0].confidence < MIN_GEOCODE_CONFIDENCE:
        raise InvalidInput(f"the address {address!r} could not be located; give lon and lat instead")
    return matches[0].lon, matches[0].lat, matches[0].confidence


def check_in_city(conn: Connection, lon: float, lat: float, rule: ExtentRule) -> None:
    """InvalidInput when the point lies outside the city (divisions, or the grid, plus a margin)."""
    box = rule.resolve(conn) or grid_extent(conn, rule.margin_m)
    if box is None:
        return
    if not (box.minx <= lon <= box.maxx and box.miny <= lat <= box.maxy):
        raise InvalidInput(f"the point {lon:.6f}, {lat:.6f} lies outside the city ({box.describe()})")


def grid_extent(conn: Connection, margin_m: float) -> CityExtent | None:
    """The current grid's extent (recorded by its build) plus a margin, for cities without divisions."""
    bounds = conn.execute(text("SELECT report -> 'bounds' FROM grid.grid_version WHERE is_current")).scalar()
    if not bounds:
        return None
    row = [float(b) for b in bounds]
    dlat = margin_m / METRES_PER_DEGREE
    dlon = dlat / max(math.cos(math.radians(max(abs(row[1]), abs(row[3])))), 0.01)
    return CityExtent(row[0] - dlon, row[1] - dlat, row[2] + dlon, row[3] + dlat,
                      source=f"unit grid + {margin_m / 1000:g} km")  # fmt: skip


def filing_parameters(
    report: IncidentReport, principal: Principal | None, now: dt.datetime, lon: float, lat: float,
    confidence: float | None, routing: Routing, due: dt.datetime,
) -> dict[str, Any]:
    """The bound values of ``FILE_SQL`` for one report."""
    at = report.reported_at or now
    return {
        **event_parameters(at=now, action="report", from_state=None, to_state="reported", principal=principal,
                           department=routing.department_code, due=due,
                           detail={"source": report.source, "routing": routing.explanation}),
        "category": report.category_code.strip(), "description": report.description or "",
        "address": report.address, "source": report.source, "reporter_name": report.reporter_name,
        "reporter_contact": report.reporter_contact, "reported_by": principal.name if principal else None,
        "token": principal.token_id if principal else None, "external_id": report.external_id,
        "reported_at": at, "now": now,
        "location_source": "point" if report.lon is not None else "address", "confidence": confidence,
        "version": routing.grid_version_id, "cell_id": routing.cell_id, "cell_code": routing.cell_code,
        "community": routing.community_code, "street": routing.street_code, "district": routing.district_code,
        "department": routing.department_code, "routing": json.dumps(routing.explanation, ensure_ascii=False),
        "flagged": routing.flagged, "due": due, "lon": lon, "lat": lat,
        **nearby_parameters(at),
    }  # fmt: skip


def insert(
    conn: Connection, report: IncidentReport, principal: Principal | None, now: dt.datetime,
    lon: float, lat: float, confidence: float | None, routing: Routing, due: dt.datetime,
) -> tuple[int, int, list[dict[str, Any]]]:
    """The incident row and its first event ('report', naming the possible duplicates), in one
    statement; their ids and the duplicates (``duplicates.described``)."""
    params = filing_parameters(report, principal, now, lon, lat, confidence, routing, due)
    incident_id, event_id, rows = conn.execute(FILE_SQL, params).one()
    return int(incident_id), int(event_id), described(rows)
