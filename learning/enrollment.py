"""Enrollment rules: role + time in role + local today -> what a person owes, by when.

A due date is a recorded fact (docs/decisions.md, items 21-23). It is computed once, when
the assignment is made, from inputs stored with it (``DueBasis``), and afterwards changes
only when one of those inputs really changes: the person's role or role start date, the
program's offset or requirement for the item, or the release of a prerequisite it waited
for. "Today" moving on is never a reason; neither is a holiday-calendar edit or a move to
another time zone.

Pure functions of dates and configuration; the database side is ``learning.paths``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from learning.calendar import WorkCalendar

OPEN, COMPLETED, WAIVED, CLOSED = "open", "completed", "waived", "closed"

# Why a due date changed (``assignment.redate`` audit entries, the learner's notice).
ROLE = "role"  # the person's role changed: a new tier clock, counted from the change
ROLE_START = "role_start"  # the role start date changed: a new tier clock
CURRICULUM = "curriculum"  # the program changed the item's offset, tier or requirement
PREREQUISITE = "prerequisite"  # the prerequisites it waited for are done (or waived)
EXTENSION = "extension"  # a manager or admin extended it (``learning.extensions``)
ADMIN = "admin"  # an admin assigned it with a due date (``/learn admin assign``)
EVENTS = (ROLE, ROLE_START, CURRICULUM, PREREQUISITE, EXTENSION, ADMIN)

DEFAULT_AFTER_PREREQUISITE = 3  # working days; ``due_dates.after_prerequisite`` in the YAML


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
class DueBasis:
    """The inputs an assignment's due date was computed from, stored with it.

    Attributes:
        role: The person's role.
        role_start: Their role start date (the tier clock).
        start_day: The tier's ``starts_on_day``.
        offset: The item's due offset, in working days from the tier's start.
        counted_from: The learner's local day the item was assigned (or re-assigned by a
            role change): an item assigned after its tier began gets its full offset
            from this day, so nobody starts overdue (decision 4).
        released_on: The learner's local day learnbot recorded its prerequisites done,
            if it waited for them: the item is due at least ``after_prerequisite``
            working days after it.
    """

    role: str
    role_start: date
    start_day: int
    offset: int
    counted_from: date
    released_on: date | None = None


def due_on(basis: DueBasis, *, calendar: WorkCalendar, after_prerequisite: int) -> date:
    """The due date ``basis`` gives, on the learner's ``calendar``.

    The offset counts from the tier's start or, when the item was assigned later, from
    the day it was assigned; a released item is also due no earlier than
    ``after_prerequisite`` working days after its release.
    """
    tier_start = basis.role_start + timedelta(days=basis.start_day)
    due = calendar.add_working_days(max(tier_start, basis.counted_from), basis.offset)
    if basis.released_on is not None:
        due = max(due, calendar.add_working_days(basis.released_on, after_prerequisite))
    return due


def waiting_for(entry: PathItem, path: LearningPath, done: Collection[int]) -> tuple[int, ...]:
    """The prerequisites holding ``entry`` back: on the same path, not done (completed or
    waived, in any round), and not suggested while ``entry`` is required."""
    on_path = {item.item_id: item for item in path.items}
    return tuple(
        needed
        for needed in entry.prerequisites
        if needed in on_path
        and needed not in done
        and (on_path[needed].required or not entry.required)
    )


def changed_input(
    basis: DueBasis, *, entry: PathItem, role: str, role_start: date, required: bool
) -> str | None:
    """Which input of a stored date changed (``ROLE``, ``ROLE_START``, ``CURRICULUM``), if any."""
    if basis.role != role:
        return ROLE
    if basis.role_start != role_start:
        return ROLE_START
    if (
        basis.start_day != entry.tier_start_day
        or basis.offset != entry.due_working_days
        or required != entry.required
    ):
        return CURRICULUM
    return None


def settle_redate(*, old: date | None, recomputed: date, today: date, required: bool) -> date:
    """The date an input change gives an item that has one.

    Never before the learner's ``today`` (no file edit or HR correction makes anyone
    overdue on the spot). A required item already overdue whose recomputed date is past
    too keeps its date, and so its place on the escalation ladder: it is overdue under
    the old inputs and the new alike.
    """
    if required and old is not None and old < today and recomputed < today:
        return old
    return max(recomputed, today)


@dataclass(frozen=True)
class Held:
    """An assignment the person already has (every round of every item)."""

    id: int
    item_id: int
    cycle: int
    status: str
    tier_id: int | None
    required: bool
    due_date: date | None
    assigned_on: date | None = None
    due_pinned: bool = False
    basis: DueBasis | None = None


@dataclass(frozen=True)
class Wanted:
    """A new (or reopened) assignment the path calls for today; ``due_date`` None: it
    waits for a prerequisite."""

    item_id: int
    tier_id: int
    required: bool
    basis: DueBasis
    due_date: date | None


@dataclass(frozen=True)
class Update:
    """A change to an open assignment. ``event`` None: only the stored inputs, tier or
    requirement move with it and the due date stays (no audit, no notice)."""

    assignment_id: int
    item_id: int
    tier_id: int
    required: bool
    basis: DueBasis
    old_due: date | None
    new_due: date | None
    event: str | None = None
    was_required: bool | None = None

    @property
    def redates(self) -> bool:
        return self.event is not None and self.new_due != self.old_due


@dataclass
class EnrollmentChanges:
    """What to write so a person's assignments match their path."""

    create: list[Wanted] = field(default_factory=list)
    update: list[Update] = field(default_factory=list)
    reopen: list[tuple[int, Wanted]] = field(default_factory=list)
    close: list[int] = field(default_factory=list)

    @property
    def redated(self) -> list[Update]:
        return [u for u in self.update if u.redates]

    def __bool__(self) -> bool:
        return bool(self.create or self.redated or self.reopen or self.close)


@dataclass(frozen=True)
class Person:
    """What enrollment needs to know about the person, on their local ``today``."""

    role: str
    role_start: date
    today: date
    calendar: WorkCalendar
    after_prerequisite: int = DEFAULT_AFTER_PREREQUISITE


def plan_enrollment(
    path: LearningPath | None, person: Person, held: Sequence[Held] = ()
) -> EnrollmentChanges:
    """The changes that make ``held`` match ``path`` on the person's local today.

    * A tier's items are assigned once the tier has started (day ``tier_start_day`` of
      the role), due as ``due_on`` says, or waiting (no date) while a prerequisite holds
      them back (``waiting_for``).
    * An open first-round item keeps its date unless an input of it changed
      (``changed_input``): a role change re-dates it from today; a role start change or a
      curriculum change recomputes it from the stored inputs (``settle_redate``). A date an
      admin or an extension pinned is kept. A waiting item is released once nothing holds
      it back.
    * Completed and waived items stay as they are (a completion counts on any path that
      has the item). Open items no longer wanted are closed, never deleted; recertification
      rounds (cycle > 0) and items an admin assigned off the path (no tier) are kept.
    """
    newest: dict[int, Held] = {}
    done: set[int] = set()
    for assignment in held:
        if assignment.status in (COMPLETED, WAIVED):
            done.add(assignment.item_id)
        current = newest.get(assignment.item_id)
        if current is None or assignment.cycle > current.cycle:
            newest[assignment.item_id] = assignment
    changes = EnrollmentChanges()
    wanted_ids: set[int] = set()
    for entry in path.items if path is not None else ():
        if person.today < person.role_start + timedelta(days=entry.tier_start_day):
            continue
        assert path is not None
        wanted_ids.add(entry.item_id)
        have = newest.get(entry.item_id)
        if have is None or have.status == CLOSED:
            want = _new(entry, path, person, done)
            if have is None:
                changes.create.append(want)
            else:
                changes.reopen.append((have.id, want))
        elif have.status == OPEN and have.cycle == 0:
            update = _settle(have, entry, path, person, done)
            if update is not None:
                changes.update.append(update)
    for item_id, have in newest.items():
        if (
            item_id not in wanted_ids
            and have.status == OPEN
            and have.cycle == 0
            and have.tier_id is not None
        ):
            changes.close.append(have.id)
    return changes


def _new(entry: PathItem, path: LearningPath, person: Person, done: Collection[int]) -> Wanted:
    basis = DueBasis(
        person.role, person.role_start, entry.tier_start_day, entry.due_working_days, person.today
    )
    due = (
        None
        if waiting_for(entry, path, done)
        else due_on(basis, calendar=person.calendar, after_prerequisite=person.after_prerequisite)
    )
    return Wanted(entry.item_id, entry.tier_id, entry.required, basis, due)


def _settle(
    have: Held, entry: PathItem, path: LearningPath, person: Person, done: Collection[int]
) -> Update | None:
    """What becomes of an open first-round item that is still on the path."""

    def update(basis: DueBasis, due: date | None, event: str | None) -> Update:
        return Update(
            have.id,
            entry.item_id,
            entry.tier_id,
            entry.required,
            basis,
            have.due_date,
            due,
            event,
            have.required,
        )

    def compute(basis: DueBasis) -> date:
        return due_on(basis, calendar=person.calendar, after_prerequisite=person.after_prerequisite)

    current = DueBasis(
        person.role,
        person.role_start,
        entry.tier_start_day,
        entry.due_working_days,
        have.assigned_on or person.today,
    )
    stored = have.basis
    if stored is None:
        # Made outside the path rules (an admin's assignment of an item the path has):
        # the path adopts it with its date, which now counts as computed from these inputs.
        return update(current, have.due_date, None)
    event = changed_input(
        stored, entry=entry, role=person.role, role_start=person.role_start, required=have.required
    )
    if have.due_pinned:
        # A date an admin or an extension gave stays; the inputs are absorbed.
        if event is None and have.tier_id == entry.tier_id:
            return None
        kept = replace(current, counted_from=stored.counted_from, released_on=stored.released_on)
        return update(kept, have.due_date, None)
    if event == ROLE:
        basis = replace(current, counted_from=person.today)
        due = None if waiting_for(entry, path, done) else compute(basis)
        return update(basis, due, ROLE)
    if event is not None:
        # A suggested item made required is a new obligation: its full offset from today.
        made_required = entry.required and not have.required
        basis = replace(
            current,
            counted_from=person.today if made_required else stored.counted_from,
            released_on=stored.released_on,
        )
        if have.due_date is None:  # waiting: it stays so until released
            return update(basis, None, event)
        due = settle_redate(
            old=have.due_date,
            recomputed=compute(basis),
            today=person.today,
            required=entry.required,
        )
        return update(basis, due, event)
    if have.due_date is None and not waiting_for(entry, path, done):
        released = replace(stored, released_on=person.today)
        return update(released, compute(released), PREREQUISITE)
    if have.tier_id != entry.tier_id:
        return update(stored, have.due_date, None)
    return None


def release(
    entry: PathItem,
    path: LearningPath,
    basis: DueBasis,
    *,
    done: Iterable[int],
    today: date,
    calendar: WorkCalendar,
    after_prerequisite: int,
) -> tuple[DueBasis, date] | None:
    """The date a waiting item gets now that its prerequisites may be done, or None
    while one still holds it back. ``today`` is the learner's local day the last of them
    was recorded done (not the day the work was done: a late LMS import never makes
    anyone start overdue)."""
    if waiting_for(entry, path, set(done)):
        return None
    released = replace(basis, released_on=today)
    return released, due_on(released, calendar=calendar, after_prerequisite=after_prerequisite)
