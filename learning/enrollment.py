"""Enrollment rules: role + time in role + local today -> what a person owes, by when.

Pure functions; the database side is ``learning.paths``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from learning.calendar import WorkCalendar

OPEN, COMPLETED, WAIVED, CLOSED = "open", "completed", "waived", "closed"


@dataclass(frozen=True)
class PathItem:
    """An item's place on a role's path."""

    item_id: int
    tier_id: int
    tier_start_day: int
    required: bool
    due_working_days: int
    prerequisites: tuple[int, ...] = ()


@dataclass(frozen=True)
class LearningPath:
    """The items of one role, in delivery order."""

    role: str
    items: tuple[PathItem, ...]


@dataclass(frozen=True)
class Wanted:
    """An assignment the path calls for today."""

    item_id: int
    tier_id: int
    required: bool
    due_date: date


@dataclass(frozen=True)
class Held:
    """An assignment the person already has (the newest cycle of each item)."""

    id: int
    item_id: int
    cycle: int
    status: str
    tier_id: int | None
    required: bool
    due_date: date | None
    assigned_on: date | None = None
    due_pinned: bool = False


@dataclass
class EnrollmentChanges:
    """What to write so a person's assignments match their path."""

    create: list[Wanted] = field(default_factory=list)
    update: list[tuple[int, Wanted]] = field(default_factory=list)
    reopen: list[tuple[int, Wanted]] = field(default_factory=list)
    close: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.create or self.update or self.reopen or self.close)


def due_dates(
    path: LearningPath,
    role_start: date,
    calendar: WorkCalendar,
    assigned_on: dict[int, date] | None = None,
) -> dict[int, date]:
    """Each item's due date.

    An item is due its working-day offset after its tier's start. An item assigned
    late (someone enrolled long after their role began, or an item added to a running
    program) gets its full offset from the day it was assigned instead, so nobody
    starts overdue. An item is never due before a prerequisite on the same path.
    """
    assigned_on = assigned_on or {}
    due = {}
    for entry in path.items:
        from_tier = calendar.add_working_days(
            role_start + timedelta(days=entry.tier_start_day), entry.due_working_days
        )
        assigned = assigned_on.get(entry.item_id)
        due[entry.item_id] = (
            max(from_tier, calendar.add_working_days(assigned, entry.due_working_days))
            if assigned is not None
            else from_tier
        )
    prerequisites = {entry.item_id: entry.prerequisites for entry in path.items}
    settled: dict[int, date] = {}

    def settle(item_id: int, trail: frozenset[int]) -> date:
        if item_id in settled:
            return settled[item_id]
        result = due[item_id]
        for needed in prerequisites[item_id]:
            if needed in due and needed not in trail:  # cycles are refused at load time
                result = max(result, settle(needed, trail | {item_id}))
        settled[item_id] = result
        return result

    for item_id in due:
        settle(item_id, frozenset())
    return settled


def wanted_assignments(
    path: LearningPath,
    role_start: date,
    today: date,
    calendar: WorkCalendar,
    held: Sequence[Held] = (),
) -> list[Wanted]:
    """The assignments a person on ``path`` should hold on their local ``today``.

    A tier's items appear once the tier has started (day ``tier_start_day`` of the role).
    ``held`` gives the days existing open assignments were made; new ones are made today.
    """
    assigned_on = {entry.item_id: today for entry in path.items}
    for assignment in held:
        if assignment.status == OPEN and assignment.cycle == 0 and assignment.assigned_on:
            assigned_on[assignment.item_id] = assignment.assigned_on
    due = due_dates(path, role_start, calendar, assigned_on)
    return [
        Wanted(entry.item_id, entry.tier_id, entry.required, due[entry.item_id])
        for entry in path.items
        if today >= role_start + timedelta(days=entry.tier_start_day)
    ]


def reconcile(wanted: Iterable[Wanted], held: Sequence[Held]) -> EnrollmentChanges:
    """The changes that turn ``held`` into ``wanted``.

    Completed and waived items stay as they are: a completion counts on any path that
    has the item. Open items no longer wanted are closed, never deleted. Open
    recertification rounds (cycle > 0) belong to the certification rules and are kept,
    and so are open items an admin assigned off the path (no tier). A due date an admin
    pinned is kept when the path would re-date the item.
    """
    newest: dict[int, Held] = {}
    for assignment in held:
        current = newest.get(assignment.item_id)
        if current is None or assignment.cycle > current.cycle:
            newest[assignment.item_id] = assignment
    changes = EnrollmentChanges()
    wanted_ids = set()
    for want in wanted:
        wanted_ids.add(want.item_id)
        have = newest.get(want.item_id)
        if have is None:
            changes.create.append(want)
        elif have.status == CLOSED:
            changes.reopen.append((have.id, want))
        elif have.status == OPEN and have.cycle == 0:
            if have.due_pinned and have.due_date is not None:
                want = replace(want, due_date=have.due_date)
            if (
                have.due_date != want.due_date
                or have.required != want.required
                or have.tier_id != want.tier_id
            ):
                changes.update.append((have.id, want))
    for item_id, have in newest.items():
        if (
            item_id not in wanted_ids
            and have.status == OPEN
            and have.cycle == 0
            and have.tier_id is not None
        ):
            changes.close.append(have.id)
    return changes
