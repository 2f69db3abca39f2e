"""Learning paths in the database: read them, and keep assignments in step with them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import insert, select, update
from sqlmodel import Session

from learning.clock import Clock, local_date
from learning.curriculum import ProgramSettings
from learning.due_changes import LADDER_RESET, DueChange, apply_due_changes, basis_of, basis_values
from learning.enrollment import (
    PREREQUISITE,
    ROLE,
    ROLE_START,
    EnrollmentChanges,
    Held,
    LearningPath,
    PathItem,
    Update,
    Wanted,
    plan_enrollment,
)
from learning.enrollment import Person as Enrollee
from learning.enrollment_schedule import schedule_next_enrollment
from models import (
    Assignment,
    AssignmentStatus,
    ConfigSnapshot,
    Item,
    ItemPrerequisite,
    Person,
    Program,
    Tier,
    TierItem,
)

BATCH_SIZE = 1000
EXAMPLES = 5  # re-dated items named in a summary


@dataclass
class EnrollmentSummary:
    """Counts of what enrollment wrote, of the people it looked at, and a few re-dated items."""

    created: int = 0
    updated: int = 0  # re-dated: open items whose due date changed
    reopened: int = 0
    closed: int = 0
    people_changed: int = 0
    kept_overdue: int = 0  # overdue items whose inputs changed but which keep their date
    examples: list[str] = field(default_factory=list)
    visited: int = 0

    def add(self, changes: EnrollmentChanges) -> None:
        self.created += len(changes.create)
        self.updated += len(changes.redated)
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
        self.kept_overdue += other.kept_overdue
        self.examples.extend(other.examples[: max(0, EXAMPLES - len(self.examples))])

    def __str__(self) -> str:
        return (
            f"{self.people_changed} people's assignments changed: {self.created} assigned, "
            f"{self.updated} re-dated, {self.reopened} reopened, {self.closed} closed"
        )

    def redate_lines(self, *, dry_run: bool = False) -> list[str]:
        """``N open items would get a new due date: ...`` (or ``got``), with examples."""
        lines = []
        if self.updated:
            verb = "would get" if dry_run else "got"
            more = self.updated - len(self.examples)
            lines.append(
                f"{self.updated} open item{'s' if self.updated != 1 else ''} {verb} a new due "
                f"date: {'; '.join(self.examples)}" + (f"; and {more} more" if more > 0 else "")
            )
        if self.kept_overdue:
            lines.append(
                f"{self.kept_overdue} overdue item{'s' if self.kept_overdue != 1 else ''} "
                "keep their due date and their place on the escalation ladder"
            )
        return lines


def current_settings(session: Session) -> ProgramSettings | None:
    """The settings of the newest applied configuration, or None before the first load."""
    snapshot = session.scalars(
        select(ConfigSnapshot).order_by(ConfigSnapshot.id.desc()).limit(1)  # type: ignore[union-attr]
    ).first()
    return ProgramSettings.model_validate(snapshot.settings) if snapshot else None


def load_paths(session: Session, *, roles: Iterable[str] | None = None) -> dict[str, LearningPath]:
    """Every active program's path (or only those of ``roles``), keyed by role."""
    prerequisites: dict[int, list[int]] = defaultdict(list)
    for item_id, needed in session.execute(
        select(ItemPrerequisite.item_id, ItemPrerequisite.requires_item_id)
    ):
        prerequisites[item_id].append(needed)
    rows = (
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
    if roles is not None:
        rows = rows.where(Program.role.in_(sorted(set(roles))))  # type: ignore[attr-defined]
    items: dict[str, list[PathItem]] = defaultdict(list)
    for role, tier_id, start_day, item_id, required, due_days in session.execute(rows):
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

    New assignments get their due date from ``learning.enrollment``; open ones keep
    theirs unless an input of it changed, and every change of a date goes through
    ``learning.due_changes.apply_due_changes`` (audited, ladder reset, the learner told).

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
    item_keys: dict[int, str] = {}
    for people in _batches(session, person_ids):
        held: dict[int, list[Any]] = defaultdict(list)
        ids = [person.id for person in people]
        for row in session.execute(
            select(*_HELD_COLUMNS).where(Assignment.person_id.in_(ids))  # type: ignore[attr-defined]
        ):
            held[row.person_id].append(row)
        writes = _Writes()
        for person in people:
            assert person.id is not None
            if not person.active:
                continue  # a deactivated person's record stays as it was
            zone = person.timezone or settings.organisation.timezone
            mine = [_held(row, zone) for row in held[person.id]]
            enrollee = Enrollee(
                person.role,
                person.role_start_date,
                local_date(now, zone),
                calendars(zone),
                settings.due_dates.after_prerequisite,
            )
            changes = plan_enrollment(paths.get(person.role), enrollee, mine)
            summary.add(changes)
            writes.add(person, changes, today=enrollee.today, now=now, summary=summary)
        writes.execute(session)
        if writes.redates:
            if not item_keys:
                item_keys.update(
                    {row[0]: row[1] for row in session.execute(select(Item.id, Item.key))}
                )
            _redate(session, writes.redates, item_keys, summary, clock=clock)
        summary.visited += schedule_next_enrollment(
            session, people, paths, now=now, default_zone=settings.organisation.timezone
        )
    return summary


@dataclass
class _Writes:
    """One batch's assignment writes, gathered to go in with one statement per kind."""

    creates: list[dict[str, object]] = field(default_factory=list)
    quiet: list[dict[str, object]] = field(default_factory=list)
    requirement: list[dict[str, object]] = field(default_factory=list)
    reopens: list[dict[str, object]] = field(default_factory=list)
    closes: list[dict[str, object]] = field(default_factory=list)
    redates: list[tuple[Person, Update]] = field(default_factory=list)

    def add(
        self,
        person: Person,
        changes: EnrollmentChanges,
        *,
        today: date,
        now: datetime,
        summary: EnrollmentSummary,
    ) -> None:
        """Add one person's planned ``changes`` (``plan_enrollment``)."""
        assert person.id is not None
        for want in changes.create:
            self.creates.append(_new_row(person.id, want, now))
        for change in changes.update:
            if change.redates:
                self.redates.append((person, change))
                continue
            if (
                change.event is not None
                and change.required
                and change.old_due is not None
                and change.old_due < today
            ):
                summary.kept_overdue += 1
            row = {
                "id": change.assignment_id,
                "tier_id": change.tier_id,
                "required": change.required,
                **basis_values(change.basis),
            }
            if change.was_required != change.required:
                self.requirement.append({**row, **LADDER_RESET})  # suggested items never climb
            else:
                self.quiet.append(row)
        for assignment_id, want in changes.reopen:
            # A reopened item starts over, as a new assignment: no old pin, ladder or notice.
            self.reopens.append(
                {
                    "id": assignment_id,
                    "tier_id": want.tier_id,
                    "required": want.required,
                    "status": AssignmentStatus.OPEN,
                    "due_date": want.due_date,
                    **basis_values(want.basis),
                    "closed_at": None,
                    "due_pinned": False,
                    "due_notice": None,
                    **LADDER_RESET,
                }
            )
        self.closes.extend(
            {"id": assignment_id, "status": AssignmentStatus.CLOSED, "closed_at": now}
            for assignment_id in changes.close
        )

    def execute(self, session: Session) -> None:
        """Insert the new assignments and apply the plain updates (not the redates)."""
        if self.creates:
            session.execute(insert(Assignment.__table__), self.creates)  # Core: no ORM overhead
        for rows in (self.quiet, self.requirement, self.reopens, self.closes):
            if rows:
                session.execute(update(Assignment), rows)


_HELD_COLUMNS = (
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
    Assignment.due_role,
    Assignment.due_role_start,
    Assignment.due_start_day,
    Assignment.due_offset,
    Assignment.due_counted_from,
    Assignment.due_released_on,
)


def _held(row: Any, zone: str) -> Held:
    basis = basis_of(row)
    # The day it was assigned matters only to adopt an open item made outside the path
    # rules; a time-zone conversion per row is most of enrollment's time otherwise.
    adopt = basis is None and row.status == AssignmentStatus.OPEN and row.cycle == 0
    return Held(
        row.id,
        row.item_id,
        row.cycle,
        row.status,
        row.tier_id,
        row.required,
        row.due_date,
        local_date(row.assigned_at, zone) if adopt else None,
        row.due_pinned,
        basis,
    )


def _reason(event: str, person: Person, change: Update) -> str:
    """The audit log's reason for a re-date by enrollment."""
    basis = change.basis  # the new inputs (the entry has the old and the new date)
    if event == ROLE:
        return f"role changed to {person.role}"
    if event == ROLE_START:
        return f"role start date changed to {person.role_start_date.isoformat()}"
    if event == PREREQUISITE:
        return "its prerequisites are done (found by enrollment)"
    return (
        f"the program changed the item: offset {basis.offset} working days from tier day "
        f"{basis.start_day}, {'required' if change.required else 'suggested'}"
    )


def _redate(
    session: Session,
    redates: list[tuple[Person, Update]],
    item_keys: dict[int, str],
    summary: EnrollmentSummary,
    *,
    clock: Clock,
) -> None:
    changes = []
    for person, change in redates:
        assert person.id is not None and change.event is not None
        event = change.event
        told = change.required and change.new_due is not None
        changes.append(
            DueChange(
                assignment_id=change.assignment_id,
                person_id=person.id,
                item=item_keys.get(change.item_id, str(change.item_id)),
                new_due=change.new_due,
                event=event,
                reason=_reason(event, person, change),
                notice=event if told else None,
                values={
                    "tier_id": change.tier_id,
                    "required": change.required,
                    **basis_values(change.basis),
                },
            )
        )
        if len(summary.examples) < EXAMPLES:
            summary.examples.append(
                f"{person.email} {item_keys.get(change.item_id, change.item_id)} "
                f"{_short(change.old_due)} -> {_short(change.new_due)} ({event.replace('_', ' ')})"
            )
    apply_due_changes(session, changes, clock=clock)


def _short(day: date | None) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}" if day is not None else "waiting"


def _new_row(person_id: int, want: Wanted, now: datetime) -> dict[str, object]:
    return {
        "person_id": person_id,
        "item_id": want.item_id,
        "tier_id": want.tier_id,
        "cycle": 0,
        "required": want.required,
        "status": AssignmentStatus.OPEN,
        "assigned_at": now,
        "due_date": want.due_date,
        **basis_values(want.basis),
    }
