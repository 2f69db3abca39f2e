"""What people do from chat, as service functions: done, snooze, away, waive, assign, feedback.

Every function takes the caller's ``Session`` and never commits: the caller owns the
transaction. Errors are typed (``learning.errors``) with a message a person can act on.
Every change writes an audit entry.

Refusals are audited. A learner acting on someone else's assignment (a tampered button
value) gets ``NotAllowed``; the refusal's audit entry has been added and flushed to the
caller's session before the raise, so it must be committed for it to stay. Either run the
call in ``unit_of_work(database)`` (it keeps just the refusal's audit entry and re-raises),
or catch ``NotAllowed`` inside a ``Database.session()`` block so the block commits. A
``Database.session()`` that lets ``NotAllowed`` escape rolls the audit entry back.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlmodel import Session

from learning import audit
from learning import snooze as snoozing
from learning.calendar import WorkCalendar
from learning.certifications import self_reported_only
from learning.clock import Clock, local_date
from learning.completions import Completion, record_completion
from learning.curriculum import ProgramSettings
from learning.digest import ItemOutcome
from learning.due_changes import DueChange, apply_due_changes, release_dependants
from learning.enrollment import ADMIN
from learning.enrollment_schedule import mark_for_enrollment
from learning.errors import LearnbotError, NotFound
from learning.paths import current_settings, load_paths
from models import (
    Assignment,
    AssignmentStatus,
    AuditEntry,
    Item,
    ItemFeedback,
    Person,
)
from models.db import Database

DEFAULT_DUE_WORKING_DAYS = 5
_Thing = TypeVar("_Thing")  # what _match picks: an item, or an assignment with its item
MAX_COMMENT = 1000
MAX_REASON = 500
MAX_EVIDENCE_URL = 500
MAX_CANDIDATES_NAMED = 10

NOT_YOURS = "You can only update your own items."


class NotAllowed(LearnbotError):
    """The person may not do this (e.g. act on someone else's assignment).

    ``audit_entry`` holds the refusal's audit entry (``AuditEntry`` fields), so
    ``unit_of_work`` can keep it after rolling everything else back.
    """

    def __init__(self, message: str = NOT_YOURS, *, audit_entry: dict[str, Any] | None = None):
        super().__init__(message)
        self.audit_entry = audit_entry


class AmbiguousItem(LearnbotError):
    """Several items match what the person typed; ``candidates`` are (key, title) pairs."""

    def __init__(self, text: str, candidates: list[tuple[str, str]]) -> None:
        self.text = text
        self.candidates = candidates
        named = ", ".join(f"{key} ({title})" for key, title in candidates[:MAX_CANDIDATES_NAMED])
        more = len(candidates) - MAX_CANDIDATES_NAMED
        if more > 0:
            named += f" and {more} more"
        super().__init__(f"“{text}” matches {len(candidates)} items: {named}. Name one by its key.")


class InvalidInput(LearnbotError):
    """A value the person gave is wrong; ``field`` names it (``score``, ``evidence_url``...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class NotOpen(LearnbotError):
    """The assignment is settled (waived, completed) so the action does not apply."""


@dataclass(frozen=True)
class DoneResult:
    """What ``complete_assignment`` did."""

    assignment_id: int
    item_key: str
    item_title: str
    already_done: bool
    # Certifications the typed score would count for if it came from a trusted source
    # (the LMS, an admin): the learner is told they wait for that score.
    needs_trusted_score: tuple[str, ...] = ()


# --- Transactions ----------------------------------------------------------------


@contextmanager
def unit_of_work(database: Database) -> Iterator[Session]:
    """A transaction for chat actions that keeps refusals on the record.

    Commits on success and rolls back on error, like ``Database.session()``, except that
    on ``NotAllowed`` everything is rolled back *but* the refusal's audit entry, which is
    committed before ``NotAllowed`` is re-raised.
    """
    with Session(database.engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except NotAllowed as refused:
            session.rollback()
            if refused.audit_entry is not None:
                session.add(AuditEntry(**refused.audit_entry))
                session.commit()
            raise
        except BaseException:
            session.rollback()
            raise


# --- Helpers -------------------------------------------------------------------------


def actor_label(person: Person) -> str:
    """How a person appears as the actor of an audit entry."""
    return person.email


def org_timezone(session: Session) -> str:
    """The organisation's default time zone from the configuration in force (else UTC)."""
    settings = current_settings(session)
    return settings.organisation.timezone if settings else "UTC"


def _zone(session: Session, person: Person) -> str:
    return person.timezone or org_timezone(session)


def my_assignment(
    session: Session, *, actor: Person, assignment_id: int, clock: Clock, attempted: str
) -> tuple[Assignment, Item]:
    """The actor's assignment and its item, e.g. to build the Done modal.

    ``attempted`` names the action in the refusal's audit entry (``done``, ``snooze``...).

    Raises:
        NotFound: no such assignment.
        NotAllowed: it is someone else's (audited; see the module docstring).
    """
    assignment = _own_assignment(
        session, actor=actor, assignment_id=assignment_id, clock=clock, attempted=attempted
    )
    item = session.get(Item, assignment.item_id)
    assert item is not None
    return assignment, item


def item_outcomes(
    session: Session, *, person: Person, assignment_ids: Collection[int], clock: Clock
) -> dict[int, ItemOutcome]:
    """What became of these assignments of ``person``'s (done, waived, snoozed), by id.

    Open, unsnoozed assignments (and other people's) are left out: they keep their buttons.
    """
    if not assignment_ids:
        return {}
    zone = _zone(session, person)
    now = clock.now()
    outcomes: dict[int, ItemOutcome] = {}
    for assignment in session.scalars(
        select(Assignment).where(
            Assignment.person_id == person.id,
            Assignment.id.in_(list(assignment_ids)),  # type: ignore[union-attr]
        )
    ):
        assert assignment.id is not None
        if assignment.status == AssignmentStatus.COMPLETED:
            outcomes[assignment.id] = ItemOutcome("done")
        elif assignment.status == AssignmentStatus.WAIVED:
            outcomes[assignment.id] = ItemOutcome("waived")
        elif (
            assignment.status == AssignmentStatus.OPEN
            and assignment.snoozed_until is not None
            and assignment.snoozed_until > now
        ):
            outcomes[assignment.id] = ItemOutcome(
                "snoozed", local_date(assignment.snoozed_until, zone)
            )
    return outcomes


def _own_assignment(
    session: Session, *, actor: Person, assignment_id: int, clock: Clock, attempted: str
) -> Assignment:
    """The assignment, if it is ``actor``'s; otherwise audit the attempt and refuse."""
    assignment = session.get(Assignment, assignment_id)
    if assignment is None:
        raise NotFound("That item is no longer on anyone's path.")
    if assignment.person_id != actor.id:
        entry: dict[str, Any] = {
            "at": clock.now(),
            "actor": actor_label(actor),
            "action": "assignment.refused",
            "person_id": assignment.person_id,
            "subject": str(assignment_id),
            "reason": f"{attempted} on another person's assignment",
            "details": {
                "attempted": attempted,
                "actor_person_id": actor.id,
                "owner_person_id": assignment.person_id,
            },
        }
        audit.record(
            session,
            clock=clock,
            **{k: v for k, v in entry.items() if k != "at"},
        )
        session.flush()
        raise NotAllowed(NOT_YOURS, audit_entry=entry)
    return assignment


def check_score(score: float | str | None) -> float | None:
    """A score from 0 to 100 (a number, or text as typed); None when not given.

    Raises:
        InvalidInput: not a number, or outside 0-100 (``field`` is ``score``).
    """
    if score is None or (isinstance(score, str) and not score.strip()):
        return None
    try:
        value = float(score.strip().rstrip("%") if isinstance(score, str) else score)
    except ValueError:
        raise InvalidInput("score", "A score is a number from 0 to 100.") from None
    if not math.isfinite(value) or not 0 <= value <= 100:
        raise InvalidInput("score", "A score is a number from 0 to 100.")
    return value


def check_evidence_url(url: str | None) -> str | None:
    """A web link (http or https, at most 500 characters); None when not given.

    Raises:
        InvalidInput: not a web link, or too long (``field`` is ``evidence_url``).
    """
    if url is None or not url.strip():
        return None
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in url:
        raise InvalidInput("evidence_url", "Give a web link starting with https:// or http://.")
    if len(url) > MAX_EVIDENCE_URL:
        raise InvalidInput(
            "evidence_url", f"That link is too long (at most {MAX_EVIDENCE_URL} characters)."
        )
    return url


def _item_by_key(session: Session, item_key: str) -> Item:
    """The active catalogue item ``item_key`` names: its key, its exact title, or an
    unambiguous part of its title (as for a learner's own items)."""
    wanted = " ".join(item_key.split())
    if not wanted:
        raise InvalidInput("item", "Say which item, by its key or part of its title.")
    items = list(session.scalars(select(Item).where(Item.active)))
    item = _match(wanted, [(item, item) for item in items])
    if item is None:
        raise NotFound(f"There is no item “{wanted}” in the catalogue.")
    return item


def _match(wanted: str, candidates: list[tuple[_Thing, Item]]) -> _Thing | None:
    """The one candidate whose item ``wanted`` names: an exact key wins, then an exact
    title, then a case-insensitive part of the title. None if nothing matches.

    Raises:
        AmbiguousItem: several candidates match at the first rule that matches any.
    """
    folded = wanted.casefold()
    for rule in (
        lambda i: i.key.casefold() == folded,
        lambda i: " ".join(i.title.split()).casefold() == folded,
        lambda i: folded in " ".join(i.title.split()).casefold(),
    ):
        matches = [(thing, item) for thing, item in candidates if rule(item)]
        if len(matches) == 1:
            return matches[0][0]
        if matches:
            raise AmbiguousItem(wanted, sorted((i.key, i.title) for _, i in matches))
    return None


def _newest_assignment(session: Session, person_id: int, item_id: int) -> Assignment | None:
    return session.scalars(
        select(Assignment)
        .where(Assignment.person_id == person_id, Assignment.item_id == item_id)
        .order_by(Assignment.cycle.desc())  # type: ignore[attr-defined]
        .limit(1)
    ).first()


# --- Learner actions ---------------------------------------------------------------


def complete_assignment(
    session: Session,
    *,
    actor: Person,
    assignment_id: int,
    clock: Clock,
    source: str,
    evidence_url: str | None = None,
    score: float | None = None,
) -> DoneResult:
    """Mark the actor's assignment done, once.

    Idempotent: the completion's dedupe key is ``assignment:{id}:{cycle}``, so a second
    click (or a second submit of the Done modal) records nothing and says
    ``already_done``.

    Raises:
        NotFound: no such assignment.
        NotAllowed: it is someone else's (audited; see the module docstring).
        InvalidInput: ``score`` outside 0-100 or ``evidence_url`` not a web link.
        NotOpen: the item was waived for the actor.
    """
    assignment = _own_assignment(
        session, actor=actor, assignment_id=assignment_id, clock=clock, attempted="done"
    )
    score = check_score(score)
    evidence_url = check_evidence_url(evidence_url)
    item = session.get(Item, assignment.item_id)
    assert item is not None and assignment.id is not None and actor.id is not None
    result = DoneResult(assignment.id, item.key, item.title, already_done=True)
    if assignment.status == AssignmentStatus.COMPLETED:
        return result
    if assignment.status == AssignmentStatus.WAIVED:
        raise NotOpen(f"“{item.title}” was waived for you, so there is nothing to mark done.")
    recorded = record_completion(
        session,
        Completion(
            person_id=actor.id,
            item_id=item.id,  # type: ignore[arg-type]
            completed_at=clock.now(),
            source=source,
            dedupe_key=f"assignment:{assignment.id}:{assignment.cycle}",
            score=score,
            evidence_url=evidence_url,
        ),
        clock=clock,
    )
    if not recorded:
        return result
    audit.record(
        session,
        clock=clock,
        actor=actor_label(actor),
        action="assignment.done",
        person_id=actor.id,
        subject=str(assignment.id),
        details={"item": item.key, "source": source, "score": score, "evidence_url": evidence_url},
    )
    assert item.id is not None
    waiting = self_reported_only(session, item_id=item.id, score=score, source=source)
    return DoneResult(
        assignment.id, item.key, item.title, already_done=False, needs_trusted_score=tuple(waiting)
    )


def snooze_assignment(
    session: Session,
    *,
    actor: Person,
    assignment_id: int,
    days: int,
    clock: Clock,
    default_zone: str,
) -> datetime:
    """Snooze the actor's open assignment for ``days`` local days; return the end (UTC).

    A required item's snooze ends no later than its due date (``learning.snooze``).

    Raises:
        NotFound, NotAllowed: as ``complete_assignment``.
        SnoozeRefused: the item is not open, or is required and due today or overdue.
    """
    _own_assignment(
        session, actor=actor, assignment_id=assignment_id, clock=clock, attempted="snooze"
    )
    return snoozing.snooze(
        session,
        assignment_id=assignment_id,
        days=days,
        clock=clock,
        actor=actor_label(actor),
        default_zone=default_zone,
    )


def find_assignment(session: Session, *, person: Person, text: str) -> Assignment:
    """The person's own assignment that ``text`` names.

    Looks at the newest round of each item the person holds (closed ones aside): an exact
    item key wins, then an exact title, then a case-insensitive part of the title.

    Raises:
        InvalidInput: ``text`` is empty.
        NotFound: nothing matches.
        AmbiguousItem: several items match; ``candidates`` lists them (key, title).
    """
    wanted = " ".join(text.split())
    if not wanted:
        raise InvalidInput("item", "Say which item, by its key or part of its title.")
    newest: dict[int, tuple[Assignment, Item]] = {}
    for assignment, item in session.execute(
        select(Assignment, Item)
        .join(Item, Item.id == Assignment.item_id)
        .where(Assignment.person_id == person.id)
        .order_by(Assignment.cycle)
    ):
        newest[item.id] = (assignment, item)  # type: ignore[index]
    held = [(a, i) for a, i in newest.values() if a.status != AssignmentStatus.CLOSED]
    found = _match(wanted, held)
    if found is None:
        raise NotFound(f"Nothing on your path matches “{wanted}”.")
    return found


def set_away(session: Session, *, person: Person, until: date, clock: Clock) -> None:
    """Pause nudges to ``person`` up to and including ``until`` (a date in their zone).

    Raises:
        InvalidInput: ``until`` is before the person's local today.
    """
    today = local_date(clock.now(), _zone(session, person))
    if until < today:
        raise InvalidInput(
            "until", f"{until.isoformat()} is in the past; give today or a later date."
        )
    before = person.away_until
    person.away_until = until
    person.updated_at = clock.now()
    audit.record(
        session,
        clock=clock,
        actor=actor_label(person),
        action="person.away",
        person_id=person.id,
        subject=person.email,
        details={"until": until.isoformat(), "before": before.isoformat() if before else None},
    )


def set_back(session: Session, *, person: Person, clock: Clock) -> bool:
    """End the person's away time; return False if they were not away (nothing changes)."""
    if person.away_until is None:
        return False
    before = person.away_until
    person.away_until = None
    person.updated_at = clock.now()
    audit.record(
        session,
        clock=clock,
        actor=actor_label(person),
        action="person.back",
        person_id=person.id,
        subject=person.email,
        details={"was_away_until": before.isoformat()},
    )
    return True


def record_feedback(
    session: Session,
    *,
    person: Person,
    assignment_id: int,
    rating: int,
    comment: str | None,
    clock: Clock,
) -> ItemFeedback:
    """Store the person's 1-5 reaction to an item; a second answer replaces the first.

    Raises:
        NotFound, NotAllowed: as ``complete_assignment``.
        InvalidInput: ``rating`` not 1-5, or ``comment`` longer than 1,000 characters.
    """
    assignment = _own_assignment(
        session, actor=person, assignment_id=assignment_id, clock=clock, attempted="feedback"
    )
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidInput("rating", "A rating is a whole number from 1 to 5.")
    text = comment.strip() if comment else ""
    if len(text) > MAX_COMMENT:
        raise InvalidInput(
            "comment", f"Comments are at most {MAX_COMMENT} characters ({len(text)} given)."
        )
    feedback = session.scalars(
        select(ItemFeedback).where(ItemFeedback.assignment_id == assignment_id)
    ).first()
    if feedback is None:
        feedback = ItemFeedback(
            person_id=assignment.person_id,
            item_id=assignment.item_id,
            assignment_id=assignment_id,
            rating=rating,
            comment=text or None,
            at=clock.now(),
        )
        session.add(feedback)
    else:
        feedback.rating, feedback.comment, feedback.at = rating, text or None, clock.now()
    audit.record(
        session,
        clock=clock,
        actor=actor_label(person),
        action="feedback.record",
        person_id=person.id,
        subject=str(assignment_id),
        details={"rating": rating, "comment": bool(text)},
    )
    session.flush()
    return feedback


# --- Admin actions -----------------------------------------------------------------
# Authorization (``learning.identity.is_admin``) is the caller's job: these functions
# trust that an admin asked, and record who did in the audit log.


def waive_item(
    session: Session,
    *,
    admin: Person | None,
    actor_label: str,
    person: Person,
    item_key: str,
    reason: str,
    clock: Clock,
) -> Assignment:
    """Waive ``item_key`` for ``person``: it no longer counts as owed, and is never nudged.

    An item not yet assigned (a later tier) is recorded as waived, so enrollment keeps it
    waived when the tier starts. Waiving a waived item again only updates the reason.

    Raises:
        InvalidInput: no reason given, or a reason over 500 characters.
        NotFound: no item with that key.
        NotOpen: the person already completed the item.
    """
    why = " ".join(reason.split())
    if not why:
        raise InvalidInput("reason", "Give a reason for the waiver; it goes in the audit log.")
    if len(why) > MAX_REASON:
        raise InvalidInput("reason", f"A reason is at most {MAX_REASON} characters.")
    item = _item_by_key(session, item_key)
    assert person.id is not None and item.id is not None
    assignment = _newest_assignment(session, person.id, item.id)
    now = clock.now()
    if assignment is not None and assignment.status == AssignmentStatus.COMPLETED:
        raise NotOpen(f"{person.email} already completed {item.key}; there is nothing to waive.")
    if assignment is None:
        assignment = Assignment(
            person_id=person.id,
            item_id=item.id,
            required=False,
            status=AssignmentStatus.WAIVED,
            assigned_at=now,
        )
        session.add(assignment)
    assignment.status = AssignmentStatus.WAIVED
    assignment.waived_reason = why
    assignment.closed_at = None
    assignment.snoozed_until = None
    mark_for_enrollment(session, person_ids=[person.id])  # enrollment checks what it holds
    session.flush()
    audit.record(
        session,
        clock=clock,
        actor=actor_label,
        action="assignment.waive",
        person_id=person.id,
        subject=str(assignment.id),
        reason=why,
        details={"item": item.key, "admin_person_id": admin.id if admin else None},
    )
    # A waived prerequisite counts as done: what waited for it gets its date.
    release_dependants(
        session,
        person_id=person.id,
        item_ids=[item.id],
        clock=clock,
        settings=current_settings(session) or ProgramSettings(),
    )
    return assignment


def assign_item(
    session: Session,
    *,
    actor_label: str,
    person: Person,
    item_key: str,
    due: date | None,
    clock: Clock,
) -> Assignment:
    """Assign ``item_key`` to ``person`` (or reopen a closed or waived assignment).

    Without ``due`` the item is due its path offset (if it is on the person's path) or
    5 working days from the person's today, on their calendar. A ``due`` given here is
    pinned: enrollment does not re-date it. An item off the person's path stays assigned
    (enrollment only closes items it assigned from a path).

    Raises:
        NotFound: no item with that key.
        InvalidInput: ``due`` is before the person's today, or the person is deactivated.
        NotOpen: the person already completed the item.
    """
    if not person.active:
        raise InvalidInput("person", f"{person.email} is deactivated; nothing was assigned.")
    item = _item_by_key(session, item_key)
    if not item.active:
        raise InvalidInput("item", f"{item.key} is retired; nothing was assigned.")
    assert person.id is not None and item.id is not None
    settings = current_settings(session)
    zone = person.timezone or (settings.organisation.timezone if settings else "UTC")
    today = local_date(clock.now(), zone)
    if due is not None and due < today:
        raise InvalidInput("due", f"{due.isoformat()} is in the past; give today or later.")
    due_on = due if due is not None else _default_due(session, person, item, today, settings, zone)
    assignment = _newest_assignment(session, person.id, item.id)
    now = clock.now()
    before: dict[str, Any] = {}
    if assignment is not None and assignment.status == AssignmentStatus.COMPLETED:
        raise NotOpen(f"{person.email} already completed {item.key}; nothing was assigned.")
    if assignment is not None and assignment.status == AssignmentStatus.OPEN:
        assert assignment.id is not None
        if assignment.due_date != due_on or assignment.due_pinned != (due is not None):
            # A new date for an open item: the one audited path (ladder reset, told once).
            _redate_open(
                session,
                assignment,
                item_key=item.key,
                due_on=due_on,
                pinned=due is not None,
                clock=clock,
                actor_label=actor_label,
            )
            return assignment
    if assignment is None:
        assignment = Assignment(
            person_id=person.id, item_id=item.id, required=True, assigned_at=now
        )
        session.add(assignment)
        action = "assignment.assign"
    else:
        before, action = _reopen(assignment, now=now)
    assignment.status = AssignmentStatus.OPEN
    assignment.due_date = due_on
    assignment.due_pinned = due is not None
    assignment.closed_at = None
    assignment.waived_reason = None
    mark_for_enrollment(session, person_ids=[person.id])  # enrollment checks what it holds
    session.flush()
    audit.record(
        session,
        clock=clock,
        actor=actor_label,
        action=action,
        person_id=person.id,
        subject=str(assignment.id),
        details={"item": item.key, "due": due_on.isoformat(), "before": before},
    )
    return assignment


def _reopen(assignment: Assignment, *, now: datetime) -> tuple[dict[str, Any], str]:
    """Ready ``assignment`` to be assigned again: a closed or waived one starts over as a
    new assignment. Its status and date before, and the audit action."""
    before = {
        "status": assignment.status,
        "due_date": assignment.due_date.isoformat() if assignment.due_date else None,
    }
    if assignment.status == AssignmentStatus.OPEN:
        return before, "assignment.assign"
    assignment.assigned_at = now
    # Reopened: a new assignment, with nothing left of an old ladder.
    assignment.ladder_step = assignment.ladder_paused_days = 0
    assignment.ladder_next_on = assignment.ladder_next_due = None
    assignment.due_notice = None
    return before, "assignment.reopen"


def _default_due(
    session: Session,
    person: Person,
    item: Item,
    today: date,
    settings: ProgramSettings | None,
    zone: str,
) -> date:
    """The item's path offset (if it is on the person's path) or 5 working days from
    the person's ``today``, on their calendar."""
    offset = DEFAULT_DUE_WORKING_DAYS
    path = load_paths(session).get(person.role)
    for entry in path.items if path else ():
        if entry.item_id == item.id:
            offset = entry.due_working_days
            break
    calendar = settings.calendar_for(zone) if settings else WorkCalendar()
    return calendar.add_working_days(today, offset)


def _redate_open(
    session: Session,
    assignment: Assignment,
    *,
    item_key: str,
    due_on: date,
    pinned: bool,
    clock: Clock,
    actor_label: str,
) -> None:
    """Give an open assignment a new due date through ``apply_due_changes``."""
    assert assignment.id is not None
    apply_due_changes(
        session,
        [
            DueChange(
                assignment_id=assignment.id,
                person_id=assignment.person_id,
                item=item_key,
                new_due=due_on,
                event=ADMIN,
                reason="assigned by an admin",
                notice=ADMIN,
                values={"due_pinned": pinned, "required": True},
            )
        ],
        clock=clock,
        actor=actor_label,
        action="assignment.assign",
    )
    session.refresh(assignment)
