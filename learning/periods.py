"""Calendar periods: how long a certification is valid, counted on the calendar.

A ``Period`` is some calendar months and some days (a year is 12 months, a week 7
days). Added to a date, the months go first and land on the same day of the month,
or on the month's last day when it is shorter (29 Feb 2028 + 1y = 28 Feb 2029,
31 Jan + 1mo = 28 or 29 Feb); then the days. Added to an instant, it is counted in a
person's time zone: the same local time on the resulting local date.

Pure: no clock, no database.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Period:
    """``months`` calendar months, then ``days`` days (both 0 or more)."""

    months: int = 0
    days: int = 0

    def __post_init__(self) -> None:
        if self.months < 0 or self.days < 0:
            raise ValueError(f"a period is never negative (got {self.months}mo {self.days}d)")

    def __bool__(self) -> bool:
        return bool(self.months or self.days)

    def __str__(self) -> str:
        """The shortest way to write it in the programs file: ``1y``, ``18mo``, ``2w``, ``30d``."""
        parts = []
        if self.months:
            years, months = divmod(self.months, 12)
            parts.append(f"{years}y" if not months else f"{self.months}mo")
        if self.days or not parts:
            weeks, days = divmod(self.days, 7)
            parts.append(f"{weeks}w" if weeks and not days else f"{self.days}d")
        return " ".join(parts)

    @property
    def longest_days(self) -> int:
        """At most this many days, whatever the date it is counted from."""
        return self.months * 31 + self.days

    @property
    def shortest_days(self) -> int:
        """At least this many days, whatever the date it is counted from."""
        return self.months * 28 + self.days

    def after(self, day: date) -> date:
        """The date this period after ``day``."""
        return add_months(day, self.months) + timedelta(days=self.days)

    def before(self, day: date) -> date:
        """The date this period before ``day`` (days, then months: ``after`` reversed)."""
        return add_months(day - timedelta(days=self.days), -self.months)


def add_months(day: date, months: int) -> date:
    """``day`` moved by ``months`` calendar months; the 31st becomes the month's last day."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def later(instant: datetime, period: Period, zone: str) -> datetime:
    """``instant`` plus ``period`` on the calendar of ``zone``: the same local time, later date."""
    return _moved(instant, zone, period.after)


def earlier(instant: datetime, period: Period, zone: str) -> datetime:
    """``instant`` minus ``period`` on the calendar of ``zone``."""
    return _moved(instant, zone, period.before)


def _moved(instant: datetime, zone: str, move: Callable[[date], date]) -> datetime:
    tz = ZoneInfo(zone)
    local = instant.astimezone(tz)
    day = move(local.date())
    # A local time that a DST change skips on the new date maps to the instant an hour on
    # (zoneinfo reads it with the offset before the change): still that local date.
    return datetime.combine(day, local.time().replace(tzinfo=None), tzinfo=tz).astimezone(UTC)
