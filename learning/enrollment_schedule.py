"""When enrollment must look at a person again, so that its cost follows change.

What enrollment makes of a person (``learning.enrollment``) changes with the passing of
time in one way only: a tier of their path opens on day ``tier_start_day`` of their
role, in their own time zone. Everything else it reads changes through an event that
enrolls the person itself (an import, a Slack profile change, a role assignment) or
marks them (a curriculum change; a completion, a waiver or an admin's assignment, which
change what the person holds). So each person carries ``next_enroll_on``: the local
date of their next tier opening, or ``ENROLL_NOW`` when a change marked them, or None
when nothing is ahead. The enrollment job visits only people whose date has come.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from learning.clock import local_date
from learning.enrollment import LearningPath
from models import Person

ENROLL_NOW = date(2000, 1, 1)
"""The mark of a person to enroll at the next pass: before every local today."""
MAX_UTC_OFFSET = timedelta(hours=14)  # Pacific/Kiritimati: the first local date anywhere
_PERSON = Person.__table__  # type: ignore[attr-defined]


def next_tier_opening(path: LearningPath | None, role_start: date, today: date) -> date | None:
    """The first day after ``today`` on which a tier of ``path`` opens (None: no more)."""
    if path is None:
        return None
    openings = {role_start + timedelta(days=entry.tier_start_day) for entry in path.items}
    return min((day for day in openings if day > today), default=None)


def latest_local_date(now: datetime) -> date:
    """The latest date it is anywhere on Earth at ``now``: a bound for every local today."""
    return (now + MAX_UTC_OFFSET).date()


def schedule_next_enrollment(
    session: Session,
    people: Sequence[Person],
    paths: Mapping[str, LearningPath],
    *,
    now: datetime,
    default_zone: str,
) -> int:
    """Store each active person's next tier opening, as enrollment just saw them.

    Args:
        session: the caller's transaction (nothing is committed here).
        people: the people enrollment just brought up to date.
        paths: every role's path, as enrollment used them.
        now: the instant enrollment ran for.
        default_zone: the organisation's time zone, for people without their own.

    Returns:
        How many active people were among ``people`` (enrollment's visits).
    """
    moved = []
    visited = 0
    for person in people:
        if not person.active:
            continue  # not looked at; reactivating someone enrolls them
        visited += 1
        today = local_date(now, person.timezone or default_zone)
        next_on = next_tier_opening(paths.get(person.role), person.role_start_date, today)
        if next_on != person.next_enroll_on:
            moved.append({"pid": person.id, "seen": person.next_enroll_on, "next_on": next_on})
            set_committed_value(person, "next_enroll_on", next_on)
    if moved:
        # Only where the date is still the one read: a curriculum change that marked the
        # person meanwhile (its enrollment read the old paths) keeps its mark.
        session.connection().execute(
            update(_PERSON)
            .where(
                _PERSON.c.id == bindparam("pid"),
                _PERSON.c.next_enroll_on.is_not_distinct_from(bindparam("seen")),
            )
            .values(next_enroll_on=bindparam("next_on")),
            moved,
        )
    return visited


def mark_for_enrollment(
    session: Session,
    *,
    roles: Collection[str] | None = None,
    person_ids: Collection[int] | None = None,
) -> int:
    """Mark active people for the next enrollment pass: of ``roles``, or ``person_ids``,
    or (neither given) everyone.

    One ``UPDATE``; the mark commits with the change that caused it, so a pass that is
    interrupted leaves the rest marked for the next one. Returns how many were marked.
    """
    statement = update(_PERSON).where(_PERSON.c.active).values(next_enroll_on=ENROLL_NOW)
    for column, values in ((_PERSON.c.role, roles), (_PERSON.c.id, person_ids)):
        if values is not None:
            if not values:
                return 0
            statement = statement.where(column.in_(sorted(values)))
    return int(session.connection().execute(statement).rowcount or 0)


def people_due(session: Session, *, now: datetime, default_zone: str) -> list[int]:
    """Active people whose ``next_enroll_on`` has come in their own time zone, by id.

    One range read of ``ix_person_next_enroll_on`` up to the latest date on Earth (no
    ``ORDER BY id``, which would make SQLite walk the whole table instead), then each
    candidate's own local date decides.
    """
    rows = session.execute(
        select(_PERSON.c.id, _PERSON.c.timezone, _PERSON.c.next_enroll_on).where(
            _PERSON.c.next_enroll_on <= latest_local_date(now), _PERSON.c.active
        )
    ).all()
    todays: dict[str, date] = {}
    due = []
    for person_id, zone, next_on in rows:
        zone = zone or default_zone
        today = todays.get(zone)
        if today is None:
            today = todays[zone] = local_date(now, zone)
        if next_on <= today:
            due.append(person_id)
    return sorted(due)
