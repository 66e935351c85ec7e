"""The working calendar: which days are working days (weekends, public holidays, make-up
working days 调休) and which hours of them count, and deadline arithmetic in working time.

Every deadline is ``add_working(start, minutes)``; every duration a KPI reports is
``working_minutes(start, end)``. A working day counts as the day's working hours (8 h by
default), so "3d" is 3 × 8 working hours from the moment the stage starts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import yaml

from spatial.errors import InvalidInput

DEFAULT_CALENDAR = Path(__file__).parent / "data" / "calendar-cn.yaml"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_DAYS = 3 * 366  # no deadline lies further than this


@dataclass(frozen=True)
class WorkingCalendar:
    """Time zone, daily working periods, weekend days, holidays and make-up working days."""

    timezone: str = "Asia/Shanghai"
    periods: tuple[tuple[dt.time, dt.time], ...] = ((dt.time(8, 30), dt.time(12)), (dt.time(13, 30), dt.time(18)))
    weekend: frozenset[int] = frozenset({5, 6})
    country: str | None = "CN"
    extra_holidays: frozenset[dt.date] = field(default_factory=frozenset)
    extra_workdays: frozenset[dt.date] = field(default_factory=frozenset)

    @classmethod
    def from_file(cls, path: Path = DEFAULT_CALENDAR) -> WorkingCalendar:
        """Read a calendar YAML file (see data/calendar-cn.yaml)."""
        with path.open(encoding="utf-8") as fh:
            return cls.from_dict(yaml.safe_load(fh) or {})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkingCalendar:
        try:
            periods = tuple(parse_period(p) for p in data.get("working_hours", ["08:30-12:00", "13:30-18:00"]))
            weekend = frozenset(WEEKDAYS.index(str(d).lower()) for d in data.get("weekend", ["saturday", "sunday"]))
            extra_h = frozenset(dt.date.fromisoformat(str(d)) for d in data.get("extra_holidays") or [])
            extra_w = frozenset(dt.date.fromisoformat(str(d)) for d in data.get("extra_workdays") or [])
            ZoneInfo(data.get("timezone", "Asia/Shanghai"))
        except (ValueError, KeyError) as err:
            raise InvalidInput(f"the working calendar is not valid: {err}") from None
        if not periods or any(a >= b for a, b in periods):
            raise InvalidInput("the working calendar needs working hours like '08:30-12:00'")
        return cls(data.get("timezone", "Asia/Shanghai"), periods, weekend,
                   data.get("holidays_country", "CN"), extra_h, extra_w)  # fmt: skip

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def minutes_per_day(self) -> int:
        """Working minutes of one working day."""
        return sum(_minutes(b) - _minutes(a) for a, b in self.periods)

    def is_working_day(self, day: dt.date) -> bool:
        """Whether ``day`` is worked: not a weekend or holiday, or made a working day (调休)."""
        if day in self.extra_workdays:
            return True
        if day in self.extra_holidays:
            return False
        public = _public_holidays(self.country, day.year)
        if day.weekday() in self.weekend:
            return public is not None and day in public.weekend_workdays
        return public is None or day not in public

    def add_working(self, start: dt.datetime, minutes: float) -> dt.datetime:
        """The instant ``minutes`` of working time after ``start`` (an aware datetime)."""
        remaining = dt.timedelta(minutes=minutes)
        local = start.astimezone(self.zone)
        for day in _days_from(local.date()):
            if not self.is_working_day(day):
                continue
            for begin, end in self._periods_of(day):
                if end <= local:
                    continue
                available = end - max(begin, local)
                if remaining <= available:
                    return (max(begin, local) + remaining).astimezone(dt.UTC)
                remaining -= available
        raise InvalidInput(f"no deadline within {MAX_DAYS} days: is every day a holiday?")

    def working_minutes(self, start: dt.datetime, end: dt.datetime) -> float:
        """Working minutes between two instants (0 when ``end`` is not after ``start``)."""
        if end <= start:
            return 0.0
        a, b = start.astimezone(self.zone), end.astimezone(self.zone)
        total = dt.timedelta()
        day = a.date()
        while day <= b.date():
            if self.is_working_day(day):
                for begin, finish in self._periods_of(day):
                    lo, hi = max(begin, a), min(finish, b)
                    if hi > lo:
                        total += hi - lo
            day += dt.timedelta(days=1)
        return total.total_seconds() / 60.0

    def _periods_of(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        return [
            (dt.datetime.combine(day, a, self.zone), dt.datetime.combine(day, b, self.zone))
            for a, b in self.periods
        ]


def parse_period(text: str) -> tuple[dt.time, dt.time]:
    """'08:30-12:00' → (08:30, 12:00)."""
    begin, _, end = str(text).partition("-")
    return dt.time.fromisoformat(begin.strip()), dt.time.fromisoformat(end.strip())


def _minutes(t: dt.time) -> int:
    return t.hour * 60 + t.minute


def _days_from(first: dt.date) -> Iterator[dt.date]:
    return (first + dt.timedelta(days=i) for i in range(MAX_DAYS))


@lru_cache(maxsize=32)
def _public_holidays(country: str | None, year: int) -> Any:
    """The ``holidays`` calendar of a country and year (with its make-up working days)."""
    if not country:
        return None
    return holidays.country_holidays(country, years=year)


@lru_cache(maxsize=1)
def default_calendar() -> WorkingCalendar:
    """The calendar shipped in data/calendar-cn.yaml."""
    return WorkingCalendar.from_file()
