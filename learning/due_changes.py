"""Due-date changes: the one way a stored due date moves (docs/decisions.md, item 22).

Every change of an assignment's due date, whatever caused it (a role change, a new role
start date, a curriculum change, a released prerequisite, an extension, an admin's
assignment), goes through ``apply_due_changes``, in the caller's transaction. It

* writes the new date (and the inputs it was computed from),
* resets the item's escalation state (``ladder_step``, ``ladder_paused_days`` and the
  job's bookmark), so the ladder runs again from the new date, and ends a snooze,
* records a pending notice (``assignment.due_notice``) that the learner's next digest
  tells once ("new due date Tue 9 Mar: your role changed"), unless they are told
  another way (an extension is told by DM),
* writes one audit entry per item: old date, new date, the event and the reason.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlmodel import Session

from learning import audit
from learning.calendar import WorkCalendar
from learning.clock import Clock, local_date
from learning.curriculum import ProgramSettings
from learning.enrollment import PREREQUISITE, DueBasis, LearningPath, release
from models import Assignment, AssignmentStatus, Item, ItemPrerequisite, Person

ACTION = "assignment.redate"
LEARNBOT = "learnbot"
LADDER_RESET: dict[str, Any] = {
    "ladder_step": 0,
    "ladder_paused_days": 0,
    "ladder_next_on": None,
    "ladder_next_due": None,
    "ladder_wait_until": None,
    "snoozed_until": None,
}


@dataclass(frozen=True)
class DueChange:
    """One due-date change to apply.

    Attributes:
        assignment_id: The assignment.
        person_id: Its learner.
        item: The item's key (for the audit log).
        new_due: The new date; None: the item now waits for a prerequisite.
        event: What caused it (``learning.enrollment.EVENTS``).
        reason: The cause in words, for the audit log.
        notice: What the learner's next digest tells (``due_notice``); None when there
            is nothing to tell (a suggested item, no date) or they are told otherwise.
        values: Other columns written with it (the new inputs, tier, pin...).
        details: More facts for the audit entry.
    """

    assignment_id: int
    person_id: int
    item: str
    new_due: date | None
    event: str
    reason: str
    notice: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)


def basis_values(basis: DueBasis) -> dict[str, Any]:
    """The ``assignment`` columns that store ``basis``."""
    return {
        "due_role": basis.role,
        "due_role_start": basis.role_start,
        "due_start_day": basis.start_day,
        "due_offset": basis.offset,
        "due_counted_from": basis.counted_from,
        "due_released_on": basis.released_on,
    }


def basis_of(row: Any) -> DueBasis | None:
    """The stored inputs of an assignment row (or object); None if it has none."""
    if (
        row.due_role is None
        or row.due_role_start is None
        or row.due_start_day is None
        or row.due_offset is None
        or row.due_counted_from is None
    ):
        return None
    return DueBasis(
        row.due_role,
        row.due_role_start,
        row.due_start_day,
        row.due_offset,
        row.due_counted_from,
        row.due_released_on,
    )


def apply_due_changes(
    session: Session,
    changes: Sequence[DueChange],
    *,
    clock: Clock,
    actor: str = LEARNBOT,
    action: str = ACTION,
) -> int:
    """Apply ``changes`` in the caller's transaction (see the module docstring).

    Returns how many were applied. Objects of these assignments already loaded in the
    session are expired, so they read the new values.
    """
    if not changes:
        return 0
    session.flush()
    ids = [change.assignment_id for change in changes]
    before = _ladder_before(session, ids)
    _write_due_changes(session, changes)
    changed = set(ids)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Assignment) and obj.id in changed:
            session.expire(obj)
    entries = [
        _audit_entry(change, before.get(change.assignment_id), actor=actor, action=action)
        for change in changes
    ]
    audit.record_many(session, clock=clock, entries=entries)
    return len(changes)


def _ladder_before(session: Session, ids: list[int]) -> dict[int, Any]:
    """The due date and ladder of assignments ``ids`` before the change, by id."""
    return {
        row.id: row
        for start in range(0, len(ids), 1000)
        for row in session.execute(
            select(
                Assignment.id,
                Assignment.due_date,
                Assignment.ladder_step,
                Assignment.ladder_paused_days,
            ).where(Assignment.id.in_(ids[start : start + 1000]))  # type: ignore[union-attr]
        )
    }


def _write_due_changes(session: Session, changes: Sequence[DueChange]) -> None:
    """New dates, notices and values, ladders reset: one statement per set of columns."""
    table = Assignment.__table__  # type: ignore[attr-defined]
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for change in changes:
        columns = tuple(sorted(change.values))
        groups[columns].append(
            {
                "aid": change.assignment_id,
                "new_due": change.new_due,
                "new_notice": change.notice,
                **{f"v_{name}": value for name, value in change.values.items()},
            }
        )
    for columns, rows in groups.items():
        session.connection().execute(
            update(table)
            .where(table.c.id == bindparam("aid"))
            .values(
                due_date=bindparam("new_due"),
                due_notice=bindparam("new_notice"),
                **LADDER_RESET,
                **{name: bindparam(f"v_{name}") for name in columns},
            ),
            rows,
        )


def _audit_entry(change: DueChange, old: Any, *, actor: str, action: str) -> dict[str, Any]:
    """The audit row of one due-date change (``old``: the values before, if known)."""
    return {
        "actor": actor,
        "action": action,
        "person_id": change.person_id,
        "subject": str(change.assignment_id),
        "reason": change.reason,
        "details": {
            "assignment_id": change.assignment_id,
            "item": change.item,
            "event": change.event,
            "due": _iso(change.new_due),
            "before": {
                "due_date": _iso(old.due_date) if old else None,
                "ladder_step": old.ladder_step if old else None,
                "ladder_paused_days": old.ladder_paused_days if old else None,
            },
            **change.details,
        },
    }


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def prerequisite_notice(item_id: int) -> str:
    """The ``due_notice`` of an item released because prerequisite ``item_id`` is done."""
    return f"{PREREQUISITE}:{item_id}"


def release_dependants(
    session: Session,
    *,
    person_id: int,
    item_ids: Iterable[int],
    clock: Clock,
    settings: ProgramSettings,
) -> int:
    """Fix the due dates of ``person_id``'s items that waited for ``item_ids``, now done.

    Call it in the transaction that records the completion (or the waiver). An item is
    released once nothing else holds it back (``learning.enrollment.waiting_for``); its
    date counts from the learner's local today, the day learnbot *recorded* the
    prerequisite done, so a back-dated LMS import never makes anyone start overdue.
    Items that already have a date (a recertified prerequisite's dependants) are left
    alone. Returns how many items got a date.
    """
    from learning.paths import load_paths  # paths re-enrolls through this module

    done_now = set(item_ids)
    waiting = session.execute(
        select(Assignment, Item.key, ItemPrerequisite.requires_item_id)
        .join(ItemPrerequisite, ItemPrerequisite.item_id == Assignment.item_id)
        .join(Item, Item.id == Assignment.item_id)
        .where(
            Assignment.person_id == person_id,
            ItemPrerequisite.requires_item_id.in_(done_now),  # type: ignore[attr-defined]
            Assignment.status == AssignmentStatus.OPEN,
            Assignment.cycle == 0,
            Assignment.due_date.is_(None),  # type: ignore[union-attr]
        )
    ).all()
    if not waiting:
        return 0
    person = session.get(Person, person_id)
    if person is None:
        return 0
    path = load_paths(session, roles=[person.role]).get(person.role)
    done = _done_items(session, person_id)
    zone = person.timezone or settings.organisation.timezone
    today = local_date(clock.now(), zone)
    calendar = settings.calendar_for(zone)
    keys = {
        row[0]: row[1]
        for row in session.execute(select(Item.id, Item.key).where(Item.id.in_(done_now)))  # type: ignore[union-attr]
    }
    changes = _release_changes(
        waiting,
        path,
        person_id=person_id,
        done=done,
        today=today,
        calendar=calendar,
        keys=keys,
        settings=settings,
    )
    return apply_due_changes(session, changes, clock=clock)


def _done_items(session: Session, person_id: int) -> set[int]:
    """The items ``person_id`` completed or was excused from."""
    return set(
        session.scalars(
            select(Assignment.item_id).where(
                Assignment.person_id == person_id,
                Assignment.status.in_((AssignmentStatus.COMPLETED, AssignmentStatus.WAIVED)),  # type: ignore[attr-defined]
            )
        )
    )


def _release_changes(
    waiting: Sequence[Any],
    path: LearningPath | None,
    *,
    person_id: int,
    done: set[int],
    today: date,
    calendar: WorkCalendar,
    keys: dict[int, str],
    settings: ProgramSettings,
) -> list[DueChange]:
    """The due dates of the ``waiting`` (assignment, item key, prerequisite) rows that
    nothing holds back any more, counted from the learner's ``today``."""
    entries = {entry.item_id: entry for entry in path.items} if path else {}
    changes: list[DueChange] = []
    seen: set[int] = set()
    for assignment, key, prerequisite in waiting:
        entry = entries.get(assignment.item_id)
        basis = basis_of(assignment)
        if assignment.id in seen or entry is None or basis is None or path is None:
            continue
        released = release(
            entry,
            path,
            basis,
            done=done,
            today=today,
            calendar=calendar,
            after_prerequisite=settings.due_dates.after_prerequisite,
        )
        if released is None:
            continue
        seen.add(assignment.id)
        new_basis, due = released
        changes.append(
            DueChange(
                assignment_id=assignment.id,
                person_id=person_id,
                item=key,
                new_due=due,
                event=PREREQUISITE,
                reason=f"prerequisite {keys.get(prerequisite, prerequisite)} recorded done "
                f"on {today.isoformat()}",
                notice=prerequisite_notice(prerequisite) if assignment.required else None,
                values=basis_values(new_basis),
                details={"prerequisite_item_id": prerequisite},
            )
        )
    return changes
