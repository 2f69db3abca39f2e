"""Working days: weekends and holidays skipped, in a person's own calendar."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class WorkCalendar:
    """Which local dates are working days for a group of people.

    Args:
        working_weekdays: ``date.weekday()`` numbers that are working days (Mon=0).
        holidays: dates that are never working days.
    """

    working_weekdays: frozenset[int] = frozenset(range(5))
    holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.working_weekdays:
            raise ValueError("a calendar needs at least one working weekday")

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.working_weekdays and day not in self.holidays

    def next_working_day(self, day: date) -> date:
        """``day`` itself if it is a working day, else the next one."""
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def add_working_days(self, start: date, count: int) -> date:
        """The date ``count`` working days after ``start`` (0: ``start`` or the next one)."""
        if count < 0:
            raise ValueError("count must not be negative")
        return _add_working_days(self, start, count)

    def working_days_between(self, earlier: date, later: date) -> int:
        """Working days in ``(earlier, later]``; negative when ``later`` is before ``earlier``."""
        if later < earlier:
            return -_working_days_between(self, later, earlier)
        return _working_days_between(self, earlier, later)

    def with_holidays(self, extra: Iterable[date]) -> WorkCalendar:
        return WorkCalendar(self.working_weekdays, self.holidays | frozenset(extra))


@lru_cache(maxsize=65536)
def _add_working_days(calendar: WorkCalendar, start: date, count: int) -> date:
    # Cached: enrollment asks the same few (calendar, tier start, offset) questions for
    # everyone who started on the same day.
    day = calendar.next_working_day(start)
    for _ in range(count):
        day = calendar.next_working_day(day + timedelta(days=1))
    return day


@lru_cache(maxsize=65536)
def _working_days_between(calendar: WorkCalendar, earlier: date, later: date) -> int:
    count = 0
    day = earlier + timedelta(days=1)
    while day <= later:
        if calendar.is_working_day(day):
            count += 1
        day += timedelta(days=1)
    return count
