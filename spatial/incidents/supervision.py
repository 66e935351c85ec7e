"""Supervision (电子监察): which open incidents are past their stage deadline (overdue, 红灯) or
close to it (warning, 黄灯: less than ``warn_fraction`` of the stage's working time left)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, text

from spatial.incidents.calendar import WorkingCalendar, default_calendar

DEFAULT_WARN_FRACTION = 0.2
HORIZON = dt.timedelta(days=14)  # a warning can never be further ahead than this

DUE_SQL = text(
    """
    SELECT i.id, i.category_code, c.name_zh AS category_zh, i.state, i.stage, i.stage_started_at,
           i.stage_due_at, i.department_code, i.district_code, i.street_code, i.cell_code,
           (c.time_limits ->> i.stage)::int + CASE WHEN i.stage = 'handle' THEN i.extension_minutes ELSE 0 END
               AS limit_minutes
    FROM incidents.incident i JOIN incidents.category c ON c.code = i.category_code
    WHERE i.stage IS NOT NULL AND i.stage_due_at < :horizon
      AND (CAST(:department AS text) IS NULL OR i.department_code = :department)
    ORDER BY i.stage_due_at LIMIT :limit
    """
)


def due_incidents(
    conn: Connection, *, now: dt.datetime | None = None, department: str | None = None,
    warn_fraction: float = DEFAULT_WARN_FRACTION, include_warnings: bool = True,
    calendar: WorkingCalendar | None = None, limit: int = 1000,
) -> list[dict[str, Any]]:
    """Overdue incidents (and, with ``include_warnings``, those about to be), most urgent first."""
    calendar = calendar or default_calendar()
    now = now or dt.datetime.now(dt.UTC)
    horizon = now + HORIZON if include_warnings else now
    out = []
    for row in conn.execute(DUE_SQL, {"horizon": horizon, "department": department, "limit": limit}).mappings():
        due = row["stage_due_at"]
        if due < now:
            level, minutes = "overdue", -calendar.working_minutes(due, now)
        else:
            minutes = calendar.working_minutes(now, due)
            if minutes > warn_fraction * (row["limit_minutes"] or 0):
                continue
            level = "warning"
        item = {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in row.items()}
        out.append(item | {"level": level, "working_minutes_left": round(minutes, 1)})
    return out
