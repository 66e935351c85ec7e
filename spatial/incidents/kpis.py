"""KPIs of the grid-management system, computed from the immutable event log.

For the incidents registered (立案) in the period [since, until) and a grouping (department,
district, street, community, cell or inspector), with ``as_of`` = until (or now):

- registered R: incidents with a ``register`` event in the period;
- due D (应结案数): of R, those closed by ``as_of`` or whose handling deadline (with granted
  extensions) has passed by ``as_of``; suspended (挂账) and merged incidents are not due;
- closed C (结案数): of R, those with a ``close`` event by ``as_of``;
- closed on time OT (按期结案数): of C, those whose last ``handled`` event (处置反馈) came no later
  than the handling deadline in force then (the ``handle_due_at`` of the latest dispatch,
  rework or extension event before it);
- handled H: of R, those with at least one ``handled`` event; reworked W: with a ``rework``.

closure rate (结案率) = C / D; on-time closure rate (按期结案率) = OT / D;
rework rate (返工率) = W / H; mean handling time = mean over C of the working hours from the
first ``dispatch`` to the last ``handled``. A rate with a zero denominator is None.

``inspector_work`` counts each inspector's own work in the period: ``filed`` (incidents they filed
as source inspector, by ``reported_at``), ``verified`` and ``rework_ordered`` (their ``verify``
and ``rework`` events: 核查), whether or not anything they filed was registered.

Over millions of incidents the counters come from ``incidents.kpi_rollup``, kept by the event
log (``spatial.incidents.rollups``), whenever the period runs from local midnight to local midnight
with the calendar the rollup was counted with; otherwise (and with ``source="plain"``) from the
event log itself. Both give the same answers.

``trend`` counts per local day (the calendar's time zone): incidents reported, closed, and open
and overdue at the day's end (from the event log: the state and stage deadline in force then).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from sqlalchemy import Connection, text

from spatial.errors import InvalidInput
from spatial.incidents import rollups
from spatial.incidents.calendar import WorkingCalendar, default_calendar

GROUPS = {
    "department": "i.department_code", "district": "i.district_code", "street": "i.street_code",
    "community": "i.community_code", "cell": "i.cell_code", "inspector": "i.reported_by",
}  # fmt: skip

TIMELINE_SQL = """
SELECT {group} AS key, i.id, i.state,
       min(e.at) FILTER (WHERE e.action = 'register') AS registered_at,
       min(e.at) FILTER (WHERE e.action = 'dispatch') AS dispatched_at,
       max(e.at) FILTER (WHERE e.action = 'handled' AND e.at <= :as_of) AS handled_at,
       max(e.at) FILTER (WHERE e.action = 'close' AND e.at <= :as_of) AS closed_at,
       count(*) FILTER (WHERE e.action = 'rework' AND e.at <= :as_of) AS reworks,
       (SELECT (d.detail ->> 'handle_due_at')::timestamptz FROM incidents.incident_event d
        WHERE d.incident_id = i.id AND d.detail ? 'handle_due_at' AND d.at <= :as_of
        ORDER BY d.at DESC, d.id DESC LIMIT 1) AS due_now,
       (SELECT (d.detail ->> 'handle_due_at')::timestamptz FROM incidents.incident_event d
        WHERE d.incident_id = i.id AND d.detail ? 'handle_due_at'
          AND d.at <= coalesce(max(e.at) FILTER (WHERE e.action = 'handled' AND e.at <= :as_of), :as_of)
        ORDER BY d.at DESC, d.id DESC LIMIT 1) AS due_at_handling
FROM incidents.incident i JOIN incidents.incident_event e ON e.incident_id = i.id
WHERE {where}
GROUP BY {group}, i.id, i.state
HAVING min(e.at) FILTER (WHERE e.action = 'register') >= :since
   AND min(e.at) FILTER (WHERE e.action = 'register') < :until
"""


@dataclass
class Kpi:
    """The counts and rates of one group."""

    key: str | None
    registered: int = 0
    due: int = 0
    closed: int = 0
    closed_on_time: int = 0
    handled: int = 0
    reworked: int = 0
    handling_hours: list[float] | None = None

    def as_dict(self) -> dict[str, Any]:
        hours = self.handling_hours or []
        return {
            "key": self.key, "registered": self.registered, "due": self.due, "closed": self.closed,
            "closed_on_time": self.closed_on_time, "handled": self.handled, "reworked": self.reworked,
            "closure_rate": _rate(self.closed, self.due), "on_time_closure_rate": _rate(self.closed_on_time, self.due),
            "rework_rate": _rate(self.reworked, self.handled),
            "mean_handling_hours": round(fmean(hours), 2) if hours else None,
        }  # fmt: skip


def rollup_kpi(row: Any) -> dict[str, Any]:
    """One group's KPIs from the rollup's sums (as ``Kpi.as_dict``)."""
    kpi = Kpi(row["key"], registered=int(row["registered"]), due=int(row["due"]), closed=int(row["closed"]),
              closed_on_time=int(row["closed_on_time"]), handled=int(row["handled"]),
              reworked=int(row["reworked"]))  # fmt: skip
    out = kpi.as_dict()
    n = int(row["handling_n"])
    out["mean_handling_hours"] = round(float(row["handling_minutes"]) / 60 / n, 2) if n else None
    return out


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


SOURCES = ("auto", "rollup", "plain")


def kpis(
    conn: Connection, by: str = "department", *, since: dt.datetime | None = None, until: dt.datetime | None = None,
    calendar: WorkingCalendar | None = None, source: str = "auto",
) -> list[dict[str, Any]]:
    """KPIs per group (``by``: department, district, street, community, cell or inspector).

    ``source``: ``auto`` (the rollup when it can answer, else the event log), ``rollup`` (only the
    rollup: InvalidInput when it cannot answer this period) or ``plain`` (the event log).
    """
    if by not in GROUPS:
        raise InvalidInput(f"KPIs by {by!r}? one of {', '.join(GROUPS)}")
    if source not in SOURCES:
        raise InvalidInput(f"KPIs from {source!r}? one of {', '.join(SOURCES)}")
    calendar = calendar or default_calendar()
    until = until or dt.datetime.now(dt.UTC)
    if source != "plain":
        rows = rollups.read(conn, by, since=since, until=until, calendar=calendar)
        if rows is not None:
            return [rollup_kpi(r) for r in sorted(rows, key=lambda r: str(r["key"]))]
        if source == "rollup":
            raise InvalidInput("the KPI rollup answers periods from local midnight to local midnight, "
                               "with the calendar it was counted with")  # fmt: skip
    since = since or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    where = "i.source = 'inspector'" if by == "inspector" else "true"
    sql = text(TIMELINE_SQL.format(group=GROUPS[by], where=where))
    groups: dict[Any, Kpi] = {}
    for row in conn.execute(sql, {"since": since, "until": until, "as_of": until}).mappings():
        add_incident(groups.setdefault(row["key"], Kpi(row["key"], handling_hours=[])), row, until, calendar)
    return [k.as_dict() for k in sorted(groups.values(), key=lambda k: str(k.key))]


INSPECTOR_WORK_SQL = text(
    """
    SELECT key, sum(filed) AS filed, sum(verified) AS verified, sum(rework_ordered) AS rework_ordered FROM (
        SELECT reported_by AS key, 1 AS filed, 0 AS verified, 0 AS rework_ordered FROM incidents.incident
        WHERE source = 'inspector' AND reported_at >= :since AND reported_at < :until
        UNION ALL
        SELECT actor, 0, (action = 'verify')::int, (action = 'rework')::int FROM incidents.incident_event
        WHERE action IN ('verify', 'rework') AND at >= :since AND at < :until
    ) work GROUP BY key ORDER BY key
    """
)


def inspector_work(
    conn: Connection, *, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """``[{"inspector", "filed", "verified", "rework_ordered"}]`` in [since, until), by name."""
    until = until or dt.datetime.now(dt.UTC)
    since = since or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    rows = conn.execute(INSPECTOR_WORK_SQL, {"since": since, "until": until}).mappings()
    return [{"inspector": r["key"], "filed": int(r["filed"]), "verified": int(r["verified"]),
             "rework_ordered": int(r["rework_ordered"])} for r in rows]  # fmt: skip


MAX_TREND_DAYS = 366
TREND_SQL = text(
    """
    WITH days AS (
        SELECT d::date AS day, (d::date::timestamp AT TIME ZONE :tz) AS starts,
               ((d::date + 1)::timestamp AT TIME ZONE :tz) AS ends
        FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') d
    )
    SELECT days.day,
        (SELECT count(*) FROM incidents.incident i WHERE i.reported_at >= days.starts AND i.reported_at < days.ends)
            AS reported,
        (SELECT count(*) FROM incidents.incident_event e WHERE e.action = 'close' AND e.at >= days.starts
            AND e.at < days.ends) AS closed,
        (SELECT count(*) FROM (
            SELECT DISTINCT ON (e.incident_id) e.to_state, e.due_at FROM incidents.incident_event e
            WHERE e.at < least(days.ends, :now) ORDER BY e.incident_id, e.at DESC, e.id DESC) latest
         WHERE latest.to_state NOT IN ('closed', 'not_registered', 'merged', 'suspended')
           AND latest.due_at < least(days.ends, :now)) AS overdue_open
    FROM days ORDER BY days.day
    """
)


def trend(
    conn: Connection, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
    calendar: WorkingCalendar | None = None, now: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Per local day from ``since`` to ``until`` (default: the last 30 days): reported, closed, overdue_open."""
    calendar = calendar or default_calendar()
    now = now or dt.datetime.now(dt.UTC)
    until = until or now
    since = since or until - dt.timedelta(days=29)
    first, last = since.astimezone(calendar.zone).date(), until.astimezone(calendar.zone).date()
    if last < first:
        raise InvalidInput("until is before since: the period ends before it starts")
    if (last - first).days + 1 > MAX_TREND_DAYS:
        raise InvalidInput(f"a trend has at most {MAX_TREND_DAYS} days: ask for a shorter period")
    rows = conn.execute(TREND_SQL, {"tz": calendar.timezone, "first": first, "last": last, "now": now}).mappings()
    return [{"day": r["day"].isoformat(), "reported": int(r["reported"]), "closed": int(r["closed"]),
             "overdue_open": int(r["overdue_open"])} for r in rows]  # fmt: skip


def add_incident(kpi: Kpi, row: Any, as_of: dt.datetime, calendar: WorkingCalendar) -> None:
    """Count one registered incident's timeline into its group."""
    kpi.registered += 1
    closed = row["closed_at"] is not None
    parked = row["state"] in ("suspended", "merged")
    if closed or (not parked and row["due_now"] is not None and row["due_now"] < as_of):
        kpi.due += 1
    if row["handled_at"] is not None:
        kpi.handled += 1
    if row["reworks"]:
        kpi.reworked += 1
    if closed:
        kpi.closed += 1
        due = row["due_at_handling"]
        if row["handled_at"] is not None and due is not None and row["handled_at"] <= due:
            kpi.closed_on_time += 1
        if row["dispatched_at"] is not None and row["handled_at"] is not None and kpi.handling_hours is not None:
            kpi.handling_hours.append(calendar.working_minutes(row["dispatched_at"], row["handled_at"]) / 60)
