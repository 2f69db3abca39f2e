"""Snoozing an item: hide it from digests for a while, never past a required due date."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from learning import audit
from learning.clock import Clock, ensure_utc
from learning.errors import LearnbotError, NotFound
from models import Assignment, AssignmentStatus, Person


class SnoozeRefused(LearnbotError):
    """The item cannot be snoozed (done already, or a required item due today or overdue)."""


def snooze_end(
    *, now: datetime, days: int, zone: str, required: bool, due_date: date | None
) -> datetime:
    """When a snooze of ``days`` local days taken at ``now`` ends.

    A snooze ends at the start of a local day ("1 day" means: remind me tomorrow). A
    required item's snooze ends no later than the start of its due date, so a snooze
    never hides a required item past its due date.
    """
    if days < 1:
        raise ValueError("a snooze lasts at least one day")
    tz = ZoneInfo(zone)
    today = ensure_utc(now).astimezone(tz).date()
    end_day = today + timedelta(days=days)
    if required and due_date is not None:
        if due_date <= today:
            raise SnoozeRefused(
                "this item is required and due "
                + ("today" if due_date == today else "already")
                + ", so it cannot be snoozed"
            )
        end_day = min(end_day, due_date)
    return datetime.combine(end_day, time(0), tzinfo=tz).astimezone(ZoneInfo("UTC"))


def snooze(
    session: Session,
    *,
    assignment_id: int,
    days: int,
    clock: Clock,
    actor: str,
    default_zone: str,
) -> datetime:
    """Snooze an open assignment; return when the snooze ends (aware UTC)."""
    assignment = session.get(Assignment, assignment_id)
    if assignment is None:
        raise NotFound(f"no assignment {assignment_id}")
    if assignment.status != AssignmentStatus.OPEN:
        raise SnoozeRefused(f"this item is {assignment.status}, there is nothing to snooze")
    person = session.get(Person, assignment.person_id)
    assert person is not None
    until = snooze_end(
        now=clock.now(),
        days=days,
        zone=person.timezone or default_zone,
        required=assignment.required,
        due_date=assignment.due_date,
    )
    assignment.snoozed_until = until
    audit.record(
        session,
        clock=clock,
        actor=actor,
        action="assignment.snooze",
        person_id=person.id,
        subject=str(assignment_id),
        details={"days": days, "until": until.isoformat()},
    )
    return until
