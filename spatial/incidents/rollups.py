"""KPI rollups kept by the event log: ``incidents.kpi_rollup`` (migration 0013).

Per grouping (department, district, street, community, cell, inspector), group key, registration
day (``reg_day``, local) and counting day (``day``), the counters of ``spatial.incidents.kpis``.
Every event inserted, and every incident change that moves it to another group or parks it
(suspended, merged), replaces that incident's contribution in the same transaction (triggers).

For a period of whole local days [since, until) with as_of = until, a KPI counter is the sum over
``reg_day`` in [since, until) and ``day`` < until: that is how each contribution is dated (a
handling deadline passing counts on its day, and stops counting when a later deadline replaces it
or the case closes). The handling time needs working minutes in SQL: ``incidents.kpi_calendar_day``
holds the working calendar day by day (``sync_calendar``); a calendar that differs from the one
the rollup was counted with, a period not on local midnights, or a handling time outside the
calendar's days makes :func:`read` answer None, and ``kpis`` computes from the event log instead.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from importlib.metadata import version
from typing import Any

from sqlalchemy import Connection, text

from spatial.incidents.calendar import WorkingCalendar, default_calendar

FIRST_DAY = dt.date(2015, 1, 1)
LAST_DAY = dt.date(2040, 12, 31)

READ_SQL = """
SELECT key, sum(registered) AS registered, sum(due) AS due, sum(closed) AS closed,
       sum(closed_on_time) AS closed_on_time, sum(handled) AS handled, sum(reworked) AS reworked,
       sum(handling_n) AS handling_n, sum(handling_minutes) AS handling_minutes,
       sum(handling_unknown) AS handling_unknown
FROM incidents.kpi_rollup
WHERE grouping = :by AND reg_day < :last AND day < :last {lower}
GROUP BY key HAVING sum(registered) > 0
"""


def fingerprint(calendar: WorkingCalendar) -> str:
    """What the working minutes depend on: the calendar's fields and the holidays data's version."""
    fields = (
        calendar.timezone, calendar.periods, sorted(calendar.weekend), calendar.country,
        sorted(calendar.extra_holidays), sorted(calendar.extra_workdays), version("holidays"),
    )  # fmt: skip
    return hashlib.sha256(repr(fields).encode()).hexdigest()[:32]


def _minutes(t: dt.time) -> int:
    return t.hour * 60 + t.minute


def sync_calendar(
    conn: Connection, calendar: WorkingCalendar | None = None, *, first: dt.date = FIRST_DAY,
    last: dt.date = LAST_DAY,
) -> bool:
    """Write the working calendar day by day into ``incidents.kpi_calendar_day``; whether it changed.

    After a change the rollup's handling minutes are stale: :func:`rebuild` recounts them.
    """
    calendar = calendar or default_calendar()
    mark = fingerprint(calendar)
    current = conn.execute(
        text("SELECT fingerprint, first_day, last_day FROM incidents.kpi_calendar WHERE id = 1")
    ).first()
    if current is not None and tuple(current) == (mark, first, last):
        return False
    days, working, before = [], [], []
    total = 0.0
    day = first
    while day <= last:
        worked = calendar.is_working_day(day)
        days.append(day)
        working.append(worked)
        before.append(total)
        total += calendar.minutes_per_day if worked else 0
        day += dt.timedelta(days=1)
    conn.execute(text("DELETE FROM incidents.kpi_calendar_day"))
    conn.execute(
        text(
            "INSERT INTO incidents.kpi_calendar_day (day, working, minutes_before) "
            "SELECT * FROM unnest(CAST(:d AS date[]), CAST(:w AS boolean[]), CAST(:b AS float8[]))"
        ),
        {"d": days, "w": working, "b": before},
    )
    conn.execute(
        text(
            """
            INSERT INTO incidents.kpi_calendar (id, timezone, begin_minutes, end_minutes, fingerprint,
                first_day, last_day)
            VALUES (1, :tz, :begins, :ends, :mark, :first, :last)
            ON CONFLICT (id) DO UPDATE SET timezone = EXCLUDED.timezone, begin_minutes = EXCLUDED.begin_minutes,
                end_minutes = EXCLUDED.end_minutes, fingerprint = EXCLUDED.fingerprint,
                first_day = EXCLUDED.first_day, last_day = EXCLUDED.last_day
            """
        ),
        {"tz": calendar.timezone, "begins": [_minutes(a) for a, _ in calendar.periods],
         "ends": [_minutes(b) for _, b in calendar.periods], "mark": mark, "first": first, "last": last},
    )  # fmt: skip
    return True


def rebuild(conn: Connection, calendar: WorkingCalendar | None = None) -> int:
    """Recount the whole rollup from the event log (after a bulk load or a calendar change); rows written."""
    sync_calendar(conn, calendar)
    return int(conn.execute(text("SELECT incidents.kpi_rebuild()")).scalar_one())


def _local_midnight(moment: dt.datetime, calendar: WorkingCalendar) -> dt.date | None:
    local = moment.astimezone(calendar.zone)
    return local.date() if local.time() == dt.time(0) else None


def read(
    conn: Connection, by: str, *, since: dt.datetime | None, until: dt.datetime, calendar: WorkingCalendar
) -> list[dict[str, Any]] | None:
    """Per group sums of the counters for incidents registered in [since, until) as of ``until``,
    or None when the rollup cannot answer exactly (see the module's note)."""
    last = _local_midnight(until, calendar)
    first = None if since is None else _local_midnight(since, calendar)
    if last is None or (since is not None and first is None):
        return None
    stored = conn.execute(text("SELECT fingerprint FROM incidents.kpi_calendar WHERE id = 1")).scalar()
    if stored != fingerprint(calendar):
        return None
    sql = READ_SQL.format(lower="AND reg_day >= :first" if first is not None else "")
    rows = [dict(r) for r in conn.execute(text(sql), {"by": by, "first": first, "last": last}).mappings()]
    if any(r["handling_unknown"] for r in rows):
        return None
    return rows
