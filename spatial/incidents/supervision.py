"""Supervision (电子监察): which open incidents are past their stage deadline (overdue, 红灯) or
close to it (warning, 黄灯: less than ``warn_fraction`` of the stage's working time left).

``light`` is the one rule: the queue's traffic light (red/yellow/green) and the overdue list's
level (overdue/warning) both read it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, text

from spatial.incidents.calendar import WorkingCalendar, default_calendar

DEFAULT_WARN_FRACTION = 0.2
HORIZON = dt.timedelta(days=14)  # a warning can never be further ahead than this

LIMIT_MINUTES_SQL = (
    "(c.time_limits ->> i.stage)::int + CASE WHEN i.stage = 'handle' THEN i.extension_minutes ELSE 0 END"
)  # the working minutes the current stage may take (c: the category, i: the incident)
DUE_SQL = text(
    f"""
    SELECT i.id, i.category_code, c.name_zh AS category_zh, i.state, i.stage, i.stage_started_at,
           i.stage_due_at, i.department_code, i.district_code, i.street_code, i.cell_code,
           {LIMIT_MINUTES_SQL} AS limit_minutes
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
        colour, minutes = light(row["stage_due_at"], row["limit_minutes"], now, calendar, warn_fraction)
        if colour == "green" or colour is None:
            continue
        level = "overdue" if colour == "red" else "warning"
        item = {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in row.items()}
        out.append(item | {"level": level, "working_minutes_left": round(minutes, 1)})
    return out


def light(
    due: dt.datetime | None, limit_minutes: float | None, now: dt.datetime, calendar: WorkingCalendar,
    warn_fraction: float = DEFAULT_WARN_FRACTION,
) -> tuple[str | None, float]:
    """The traffic light of a stage clock and its working minutes left (negative: overdue).

    red: past ``due``; yellow: at most ``warn_fraction`` of the stage's ``limit_minutes`` of
    working time left; green otherwise; None without a running clock (ended or suspended).
    """
    if due is None:
        return None, 0.0
    if due < now:
        return "red", -calendar.working_minutes(due, now)
    minutes = calendar.working_minutes(now, due)
    return ("yellow" if minutes <= warn_fraction * (limit_minutes or 0) else "green"), minutes
