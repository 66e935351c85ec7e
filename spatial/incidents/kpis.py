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
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from sqlalchemy import Connection, text

from spatial.errors import InvalidInput
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


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def kpis(
    conn: Connection, by: str = "department", *, since: dt.datetime | None = None, until: dt.datetime | None = None,
    calendar: WorkingCalendar | None = None,
) -> list[dict[str, Any]]:
    """KPIs per group (``by``: department, district, street, community, cell or inspector)."""
    if by not in GROUPS:
        raise InvalidInput(f"KPIs by {by!r}? one of {', '.join(GROUPS)}")
    calendar = calendar or default_calendar()
    until = until or dt.datetime.now(dt.UTC)
    since = since or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    where = "i.source = 'inspector'" if by == "inspector" else "true"
    sql = text(TIMELINE_SQL.format(group=GROUPS[by], where=where))
    groups: dict[Any, Kpi] = {}
    for row in conn.execute(sql, {"since": since, "until": until, "as_of": until}).mappings():
        add_incident(groups.setdefault(row["key"], Kpi(row["key"], handling_hours=[])), row, until, calendar)
    return [k.as_dict() for k in sorted(groups.values(), key=lambda k: str(k.key))]


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
