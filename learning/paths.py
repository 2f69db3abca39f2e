"""Learning paths in the database: read them, and keep assignments in step with them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import insert, select, update
from sqlmodel import Session

from learning.clock import Clock, local_date
from learning.curriculum import ProgramSettings
from learning.enrollment import (
    EnrollmentChanges,
    Held,
    LearningPath,
    PathItem,
    Wanted,
    reconcile,
    wanted_assignments,
)
from learning.enrollment_schedule import schedule_next_enrollment
from models import (
    Assignment,
    AssignmentStatus,
    ConfigSnapshot,
    ItemPrerequisite,
    Person,
    Program,
    Tier,
    TierItem,
)

BATCH_SIZE = 1000


@dataclass
class EnrollmentSummary:
    """Counts of what enrollment wrote, and of the active people it looked at."""

    created: int = 0
    updated: int = 0
    reopened: int = 0
    closed: int = 0
    people_changed: int = 0
    visited: int = 0

    def add(self, changes: EnrollmentChanges) -> None:
        self.created += len(changes.create)
        self.updated += len(changes.update)
        self.reopened += len(changes.reopen)
        self.closed += len(changes.close)
        self.people_changed += 1 if changes else 0

    def include(self, other: EnrollmentSummary) -> None:
        """Add another pass's counts (the enrollment job sums its transactions)."""
        self.created += other.created
        self.updated += other.updated
        self.reopened += other.reopened
        self.closed += other.closed
        self.people_changed += other.people_changed
        self.visited += other.visited

    def __str__(self) -> str:
        return (
            f"{self.people_changed} people's assignments changed: {self.created} assigned, "
            f"{self.updated} re-dated, {self.reopened} reopened, {self.closed} closed"
        )


def current_settings(session: Session) -> ProgramSettings | None:
    """The settings of the newest applied configuration, or None before the first load."""
    snapshot = session.scalars(
        select(ConfigSnapshot).order_by(ConfigSnapshot.id.desc()).limit(1)  # type: ignore[union-attr]
    ).first()
    return ProgramSettings.model_validate(snapshot.settings) if snapshot else None


def load_paths(session: Session) -> dict[str, LearningPath]:
    """Every active program's path, keyed by role."""
    prerequisites: dict[int, list[int]] = defaultdict(list)
    for item_id, needed in session.execute(
        select(ItemPrerequisite.item_id, ItemPrerequisite.requires_item_id)
    ):
        prerequisites[item_id].append(needed)
    rows = session.execute(
        select(
            Program.role,
            Tier.id,
            Tier.start_day,
            TierItem.item_id,
            TierItem.required,
            TierItem.due_working_days,
        )
        .join(Tier, Tier.program_id == Program.id)
        .join(TierItem, TierItem.tier_id == Tier.id)
        .where(Program.active, Tier.active)
        .order_by(Program.role, Tier.position, TierItem.position)
    )
    items: dict[str, list[PathItem]] = defaultdict(list)
    for role, tier_id, start_day, item_id, required, due_days in rows:
        items[role].append(
            PathItem(
                item_id=item_id,
                tier_id=tier_id,
                tier_start_day=start_day,
                required=required,
                due_working_days=due_days,
                prerequisites=tuple(sorted(prerequisites[item_id])),
            )
        )
    return {role: LearningPath(role, tuple(entries)) for role, entries in items.items()}


def _batches(session: Session, person_ids: Iterable[int] | None) -> Iterator[list[Person]]:
    if person_ids is not None:
        ids = sorted(set(person_ids))
        for start in range(0, len(ids), BATCH_SIZE):
            chunk = ids[start : start + BATCH_SIZE]
            yield list(session.scalars(select(Person).where(Person.id.in_(chunk))))  # type: ignore[union-attr]
        return
    last_id = 0
    while True:
        people = list(
            session.scalars(
                select(Person)
                .where(Person.active, Person.id > last_id)
                .order_by(Person.id)
                .limit(BATCH_SIZE)
            )
        )
        if not people:
            return
        yield people
        last_id = people[-1].id or 0


def enroll(
    session: Session,
    *,
    clock: Clock,
    settings: ProgramSettings,
    person_ids: Iterable[int] | None = None,
    paths: dict[str, LearningPath] | None = None,
) -> EnrollmentSummary:
    """Bring assignments in line with each person's path as of their local today.

    Args:
        session: the caller's transaction; nothing is committed here.
        clock: gives "now"; each person's today is computed in their own time zone.
        settings: the calendar (working days, holidays) and default time zone.
        person_ids: limit to these people (active or not); default every active person.
        paths: preloaded paths (``load_paths``), to share across calls.

    Each active person's ``next_enroll_on`` is set to their next tier opening, the day
    the enrollment job must look at them again (``learning.enrollment_schedule``).
    """
    paths = load_paths(session) if paths is None else paths
    calendars = lru_cache(maxsize=None)(settings.calendar_for)
    summary = EnrollmentSummary()
    now = clock.now()
    for people in _batches(session, person_ids):
        held: dict[int, list[Any]] = defaultdict(list)
        ids = [person.id for person in people]
        for row in session.execute(
            select(
                Assignment.id,
                Assignment.person_id,
                Assignment.item_id,
                Assignment.cycle,
                Assignment.status,
                Assignment.tier_id,
                Assignment.required,
                Assignment.due_date,
                Assignment.assigned_at,
                Assignment.due_pinned,
            ).where(Assignment.person_id.in_(ids))  # type: ignore[attr-defined]
        ):
            held[row.person_id].append(row)
        creates: list[dict[str, object]] = []
        updates: list[dict[str, object]] = []
        reopens: list[dict[str, object]] = []
        closes: list[dict[str, object]] = []
        for person in people:
            assert person.id is not None
            if not person.active:
                continue  # a deactivated person's record stays as it was
            path = paths.get(person.role)
            zone = person.timezone or settings.organisation.timezone
            mine = [
                Held(
                    row.id,
                    row.item_id,
                    row.cycle,
                    row.status,
                    row.tier_id,
                    row.required,
                    row.due_date,
                    local_date(row.assigned_at, zone),
                    row.due_pinned,
                )
                for row in held[person.id]
            ]
            wanted = (
                wanted_assignments(
                    path, person.role_start_date, local_date(now, zone), calendars(zone), mine
                )
                if path
                else []
            )
            changes = reconcile(wanted, mine)
            summary.add(changes)
            for want in changes.create:
                creates.append(
                    _new_row(
                        person.id, want.item_id, want.tier_id, want.required, want.due_date, now
                    )
                )
            for assignment_id, want in changes.update:
                updates.append(_reset_row(assignment_id, want))
            for assignment_id, want in changes.reopen:
                # A reopened item starts over on the path's dates, without an old pin.
                reopens.append({**_reset_row(assignment_id, want), "due_pinned": False})
            closes.extend(
                {"id": assignment_id, "status": AssignmentStatus.CLOSED, "closed_at": now}
                for assignment_id in changes.close
            )
        if creates:
            session.execute(insert(Assignment.__table__), creates)  # Core: no ORM overhead
        if updates:
            session.execute(update(Assignment), updates)
        if reopens:
            session.execute(update(Assignment), reopens)
        if closes:
            session.execute(update(Assignment), closes)
        summary.visited += schedule_next_enrollment(
            session, people, paths, now=now, default_zone=settings.organisation.timezone
        )
    return summary


def _reset_row(assignment_id: int, want: Wanted) -> dict[str, object]:
    return {
        "id": assignment_id,
        "tier_id": want.tier_id,
        "required": want.required,
        "due_date": want.due_date,
        "status": AssignmentStatus.OPEN,
        "closed_at": None,
    }


def _new_row(
    person_id: int, item_id: int, tier_id: int, required: bool, due: date, now: object
) -> dict[str, object]:
    return {
        "person_id": person_id,
        "item_id": item_id,
        "tier_id": tier_id,
        "cycle": 0,
        "required": required,
        "status": AssignmentStatus.OPEN,
        "assigned_at": now,
        "due_date": due,
    }
