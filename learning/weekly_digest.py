"""The weekly manager digest's rules: when it is due, and what a chain's facts say.

When: on the ``manager_digest`` weekday of the programs file, from its ``time`` for its
``window``, in each manager's own time zone (default Friday 15:00 local, 4 hours). The
day must be a working day on the manager's own calendar: when it is a holiday there, that
week has no digest (it is not moved to another day). Past the window the week is skipped,
as daily digests skip a day after an outage.

What: a summary of the manager's whole reporting chain (required items done, due and
overdue; the most overdue people on their own calendars) and the certification news.

Nothing here reads the database or the clock: ``schedules.weekly_digest`` reads the
grouped counts and passes ``now``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from learning.calendar import WEEKDAYS
from learning.curriculum import ProgramSettings
from learning.team import OverduePerson, TeamSummary
from models import AssignmentStatus

OVERDUE_LISTED = 10  # overdue people named in the payload (most overdue first)
CERTIFICATIONS_LISTED = 10  # earned / expiring awards named in the payload
EARNED_DAYS = 7
EXPIRING_DAYS = 30


@dataclass(frozen=True)
class DigestWindow:
    """A time zone where the weekly digest is due at the planning instant."""

    zone: str
    day: date  # the configured weekday, in that zone

    @property
    def week(self) -> str:
        """``2026-W11``: the ISO week of ``day``."""
        return iso_week(self.day)


@dataclass(frozen=True)
class Award:
    """A certification award of someone in a chain."""

    person_id: int
    name: str
    certification: str
    at: datetime  # awarded_at or expires_at


@dataclass
class ChainFacts:
    """One manager's chain: the team summary and the certification news."""

    summary: TeamSummary = field(default_factory=TeamSummary)
    earned: list[Award] = field(default_factory=list)
    earned_count: int = 0
    expiring: list[Award] = field(default_factory=list)
    expiring_count: int = 0


def iso_week(day: date) -> str:
    """``2026-W03``: ISO year and week (the ISO year differs around New Year)."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def digest_key(manager_id: int, day: date) -> str:
    """The outbox key of ``manager_id``'s digest for the ISO week of ``day``."""
    return f"weekly:{manager_id}:{iso_week(day)}"


def open_weekly_windows(
    zones: list[str], *, now: datetime, settings: ProgramSettings
) -> list[DigestWindow]:
    """The zones where the weekly digest's window is open at ``now``.

    The window runs from ``manager_digest.time`` on the configured weekday for
    ``manager_digest.window`` minutes of local wall-clock time (it may run past midnight).
    A zone whose configured day is not a working day on its calendar (a holiday) is left
    out: that week has no digest there.
    """
    config = settings.manager_digest
    if not config.enabled:
        return []
    weekday = WEEKDAYS.index(config.weekday)
    windows = []
    for zone in zones:
        tz = ZoneInfo(zone)
        local = now.astimezone(tz)
        # The latest configured weekday on or before today: a window that runs past
        # midnight still belongs to the day it opened on.
        day = local.date() - timedelta(days=(local.weekday() - weekday) % 7)
        if not settings.calendar_for(zone).is_working_day(day):
            continue
        opens = datetime.combine(day, config.time, tzinfo=tz)
        if not opens <= local < opens + timedelta(minutes=config.window):
            continue
        windows.append(DigestWindow(zone=zone, day=day))
    return windows


def earned_since(now: datetime) -> datetime:
    """Awards after this instant (and up to ``now``) count as earned this week."""
    return now - timedelta(days=EARNED_DAYS)


def expiring_until(now: datetime) -> datetime:
    """Awards expiring after ``now`` and up to this instant count as expiring soon."""
    return now + timedelta(days=EXPIRING_DAYS)


def new_counts() -> dict[str, int]:
    """A chain's counters before any row is counted."""
    return {"people": 0, "done": 0, "due": 0, "overdue": 0, "waived": 0}


def count_items(counts: dict[str, int], *, status: str, is_late: bool, count: int) -> None:
    """Add ``count`` required items of ``status`` (late or not) to a chain's ``counts``."""
    if status == AssignmentStatus.COMPLETED:
        counts["done"] += count
    elif status == AssignmentStatus.WAIVED:
        counts["waived"] += count
    elif is_late:
        counts["overdue"] += count
    else:
        counts["due"] += count


def most_overdue(people: Iterable[OverduePerson], *, listed: int) -> tuple[OverduePerson, ...]:
    """The ``listed`` most overdue people: longest overdue in working days on their own
    calendar first, then most items, then by name."""
    ranked = sorted(
        people,
        key=lambda p: (-p.overdue_working_days, -p.overdue_items, p.name.lower(), p.person_id),
    )
    return tuple(ranked[: max(0, listed)])


def chain_summaries(
    counts: Mapping[int, dict[str, int]],
    *,
    leaders: Mapping[int, list[OverduePerson]],
    people_overdue: Mapping[int, int],
    overdue_listed: int,
) -> dict[int, ChainFacts]:
    """Each counted chain's facts (without certification news yet), by manager id."""
    return {
        manager_id: ChainFacts(
            summary=TeamSummary(
                **totals,
                people_overdue=people_overdue.get(manager_id, 0),
                most_overdue=most_overdue(leaders.get(manager_id, []), listed=overdue_listed),
            )
        )
        for manager_id, totals in counts.items()
    }
