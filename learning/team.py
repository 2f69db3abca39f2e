"""A manager's team at a glance: completion, overdue counts and the most overdue people.

Set-based: the team's ids go to the database in chunks of ``CHUNK`` and each chunk is
answered by grouped queries (totals, people overdue, the most overdue people already
sorted and cut by the database), so there is no query per person and the rows that come
back do not grow with the team. Each person's "today" is their own local date: the
query compares due dates with a ``CASE`` over the few time zones in use.

Only required items count (suggested ones are never chased); waived and closed items
count for nobody; deactivated people are left out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, distinct, func, select
from sqlmodel import Session

from learning.accounts import DELIVERY_PLATFORM, user_id_column
from learning.clock import Clock, local_date
from learning.curriculum import ProgramSettings
from learning.paths import current_settings
from models import Assignment, AssignmentStatus, Person, status_by_person

CHUNK = 5000  # ids per query: far below SQLite's 32,766 and PostgreSQL's 65,535 parameters
MOST_OVERDUE = 10


@dataclass(frozen=True)
class OverduePerson:
    """Someone with overdue required items."""

    person_id: int
    name: str
    email: str
    chat_user_id: str | None  # their user id on the delivery platform, for a mention
    overdue_items: int
    oldest_due: date
    overdue_working_days: int  # of the oldest overdue item, on the person's own calendar


@dataclass(frozen=True)
class TeamSummary:
    """Required items of a team's active people.

    Attributes:
        people: Active people in the team.
        done: Required items completed.
        due: Required items open and not yet overdue.
        overdue: Required items open past their due date.
        waived: Required items waived (not counted in the percent).
        people_overdue: People with at least one overdue item.
        most_overdue: The most overdue people, longest overdue first.
    """

    people: int = 0
    done: int = 0
    due: int = 0
    overdue: int = 0
    waived: int = 0
    people_overdue: int = 0
    most_overdue: tuple[OverduePerson, ...] = ()

    @property
    def required_total(self) -> int:
        """Required items owed now or done (waived ones excluded)."""
        return self.done + self.due + self.overdue

    @property
    def percent(self) -> float:
        """Share of required items done; 100 when nothing is owed."""
        total = self.required_total
        return 100.0 * self.done / total if total else 100.0


def team_summary(
    session: Session,
    *,
    person_ids: Collection[int],
    clock: Clock,
    most_overdue: int = MOST_OVERDUE,
    settings: ProgramSettings | None = None,
) -> TeamSummary:
    """Completion and lateness of the active people in ``person_ids``.

    Pass ids from ``identity.reporting_chain_ids`` so a manager only ever sees their own
    chain; nobody outside ``person_ids`` is read.

    Args:
        session: The caller's session (read only).
        person_ids: The team.
        clock: Gives "now"; each person's today is taken in their own time zone.
        most_overdue: How many of the most overdue people to name.
        settings: The program settings (default zone, calendars); read when not given.

    Returns:
        The totals and up to ``most_overdue`` people, longest overdue first (then most
        overdue items, then name).
    """
    settings = settings or current_settings(session) or ProgramSettings()
    now = clock.now()
    ids = sorted(set(person_ids))
    if not ids:
        return TeamSummary()
    zone_col = func.coalesce(Person.timezone, settings.organisation.timezone)
    todays = _todays(session, zone_col, now)
    if not todays:
        return TeamSummary()  # nobody is active
    today_col = case(todays, value=zone_col)
    totals = {"people": 0, "done": 0, "due": 0, "overdue": 0, "waived": 0, "people_overdue": 0}
    candidates: list[tuple[Any, ...]] = []
    for chunk in _chunks(ids):
        candidates.extend(
            _count_chunk(
                session, chunk, totals, today_col=today_col, zone_col=zone_col, most=most_overdue
            )
        )
    return TeamSummary(
        **totals,
        most_overdue=_most_overdue(candidates, todays, settings, most_overdue),
    )


def _count_chunk(
    session: Session,
    chunk: list[int],
    totals: dict[str, int],
    *,
    today_col: Any,
    zone_col: Any,
    most: int,
) -> list[tuple[Any, ...]]:
    """Add one chunk of the team to ``totals``; its ``most`` most overdue people (by
    oldest due date), as candidates for the team's list."""
    in_team = and_(Person.id.in_(chunk), Person.active)  # type: ignore[union-attr]
    totals["people"] += session.scalar(select(func.count()).where(in_team)) or 0
    # Through the assignment's person index (``person_id IN chunk``): a CEO's Home
    # at 100,000 people took minutes from the status index.
    status = status_by_person()
    owed = and_(
        in_team,
        Assignment.person_id.in_(chunk),
        Assignment.required,
        status != AssignmentStatus.CLOSED,
    )
    late = and_(
        status == AssignmentStatus.OPEN,
        Assignment.due_date.is_not(None),  # type: ignore[union-attr]
        Assignment.due_date < today_col,  # type: ignore[operator]
    )
    late_flag = case((late, 1), else_=0)
    for status, is_late, count in session.execute(
        select(Assignment.status, late_flag, func.count())
        .join(Person, Person.id == Assignment.person_id)
        .where(owed)
        .group_by(Assignment.status, late_flag)
    ):
        if status == AssignmentStatus.COMPLETED:
            totals["done"] += count
        elif status == AssignmentStatus.WAIVED:
            totals["waived"] += count
        elif is_late:
            totals["overdue"] += count
        else:
            totals["due"] += count
    totals["people_overdue"] += (
        session.scalar(
            select(func.count(distinct(Assignment.person_id)))
            .join(Person, Person.id == Assignment.person_id)
            .where(owed, late)
        )
        or 0
    )
    if most < 1:
        return []
    oldest = func.min(Assignment.due_date)
    items = func.count()
    return list(
        session.execute(
            select(
                Person.id,
                Person.name,
                Person.email,
                user_id_column(DELIVERY_PLATFORM),
                zone_col,
                items,
                oldest,
            )
            .join(Assignment, Assignment.person_id == Person.id)
            .where(owed, late)
            .group_by(Person.id, Person.name, Person.email, zone_col)
            .order_by(oldest, items.desc(), Person.name, Person.id)
            .limit(most)
        ).all()
    )


def _todays(session: Session, zone_col: Any, now: datetime) -> dict[str, date]:
    """Today's local date in every zone active people are in (a handful of rows)."""
    zones = session.scalars(select(zone_col).where(Person.active).distinct())
    return {zone: local_date(now, zone) for zone in zones}


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _most_overdue(
    rows: list[tuple[Any, ...]],
    todays: dict[str, date],
    settings: ProgramSettings,
    limit: int,
) -> tuple[OverduePerson, ...]:
    """The first ``limit`` of every chunk's leaders, on each person's own calendar."""
    people = [
        OverduePerson(
            person_id=person_id,
            name=name,
            email=email,
            chat_user_id=chat_user_id,
            overdue_items=count,
            oldest_due=oldest,
            overdue_working_days=settings.calendar_for(zone).working_days_between(
                oldest, todays[zone]
            ),
        )
        for person_id, name, email, chat_user_id, zone, count, oldest in rows
    ]
    people.sort(
        key=lambda p: (-p.overdue_working_days, -p.overdue_items, p.name.lower(), p.person_id)
    )
    return tuple(people[:limit])
