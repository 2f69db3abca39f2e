"""The escalation ladder's actions: managers remind, extend, excuse; learners ask for time.

Service functions in the caller's ``Session`` (the caller owns the transaction, as in
``learning.actions``). Each one changes the database, writes audit entries and puts the
DMs it owes in the outbox (``delivery.outbox.enqueue``, rendered by
``messages.extensions``) in that same transaction, so a DM goes out exactly when its
change is committed. Nothing here talks to Slack.

Who may act on someone's escalation: people above them in their reporting chain
(``learning.chain.PeopleIndex.is_above``) and learnbot admins; nobody acts on their own.
Anyone else gets ``NotAllowed`` with an audited refusal (run the call in
``learning.actions.unit_of_work`` to keep it).

Extension requests (``ExtensionRequest``): a learner asks for more time on an open
required item; the request goes to their manager under the chain rules
(``PeopleIndex.takers``), else to the admins' channel, else to each admin by DM. While a
request is open the ladder is paused; a decline or a lapse adds the learner's working
days it was open (at most ``escalation.extension_pause_max_days``) to the assignment's
``ladder_paused_days``; an approval moves the due date and restarts the ladder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select, update
from sqlmodel import Session

from delivery.outbox import NewMessage, enqueue
from learning import audit
from learning import outbox_kinds as kinds
from learning.accounts import DELIVERY_PLATFORM, user_id_of
from learning.actions import (
    MAX_REASON,
    InvalidInput,
    NotAllowed,
    NotOpen,
    my_assignment,
)
from learning.chain import PeopleIndex
from learning.clock import Clock, local_date
from learning.curriculum import ProgramSettings
from learning.due_changes import DueChange, apply_due_changes, release_dependants
from learning.enrollment import EXTENSION
from learning.errors import LearnbotError, NotFound
from learning.identity import AdminList, Caller, admin_contacts
from learning.locks import lock_person
from learning.outbox_kinds import Facts, facts
from learning.paths import current_settings
from learning.plain_text import clip
from models import (
    Assignment,
    AssignmentStatus,
    ExtensionRequest,
    ExtensionStatus,
    Item,
    Person,
    RecipientKind,
)

log = logging.getLogger(__name__)

MAX_AHEAD_DAYS = 365
LAPSED_BY = "learnbot"  # ``decided_by`` of a request nobody decided in time


class AlreadyRequested(LearnbotError):
    """The learner already has an open request on this assignment."""


class NotEligible(LearnbotError):
    """The item cannot be extended (a suggested item, or one without a due date)."""


@dataclass(frozen=True)
class RequestCard:
    """What the approver's message says about one extension request.

    ``decision`` is empty while the request is open; otherwise ``approved``,
    ``declined`` or ``expired``, by ``decided_by`` on ``decided_on``.
    """

    request_id: int
    learner_name: str
    item_title: str
    due: date
    proposed: date
    reason: str
    today: date
    overdue_working_days: int = 0
    to_admins: bool = False
    decision: str = ""
    decided_by: str = ""
    decided_on: date | None = None


NAME_MAX = 80


def already_decided_text(card: RequestCard) -> str:
    """The answer to a second decision on the same request (plain text: the message of
    a domain error, escaped where it is shown)."""
    if card.decision == "expired":
        return (
            f"This request lapsed{_on(card)} because nobody decided in time. Nothing was changed."
        )
    by = (
        clip(" ".join(card.decided_by.split()) or "someone", NAME_MAX)
        if card.decided_by
        else "someone"
    )
    return f"This request was already {card.decision} by {by}{_on(card)}. Nothing was changed."


def _on(card: RequestCard) -> str:
    """`` on Tue 3 Mar`` (the year only when it is not ``today``'s), or nothing."""
    day, today = card.decided_on, card.today
    if day is None:
        return ""
    return f" on {day:%a} {day.day} {day:%b}" + (f" {day.year}" if day.year != today.year else "")


class AlreadyDecided(LearnbotError):
    """Someone decided on the request before; ``card`` shows how, to update old copies."""

    def __init__(self, message: str, card: RequestCard) -> None:
        super().__init__(message)
        self.card = card


# --- who is clicking ------------------------------------------------------------------


# The user acting: a ``Caller`` the platform adapter resolved (their person, None for an
# admin listed only by platform user id, and whether they are an admin).
Clicker = Caller


# --- shared helpers --------------------------------------------------------------------


def _settings(session: Session) -> ProgramSettings:
    return current_settings(session) or ProgramSettings()


def _zone(person: Person, settings: ProgramSettings) -> str:
    return person.timezone or settings.organisation.timezone


def _day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


def check_reason(reason: str) -> str:
    """The reason, whitespace tidied.

    Raises:
        InvalidInput: empty or over 500 characters (``field`` is ``reason``).
    """
    why = " ".join((reason or "").split())
    if not why:
        raise InvalidInput("reason", "Give a reason; it goes to them and to the audit log.")
    if len(why) > MAX_REASON:
        raise InvalidInput("reason", f"A reason is at most {MAX_REASON} characters.")
    return why


def check_new_due(
    new_due: date | None, *, today: date, current_due: date | None = None, own: bool = False
) -> date:
    """A new due date: after ``today`` (the learner's), within a year, and after
    ``current_due`` when given. ``own``: the learner is asking (the message says "you").

    Raises:
        InvalidInput: otherwise (``field`` is ``due``).
    """
    if new_due is None:
        raise InvalidInput("due", "Pick the new due date.")
    if new_due <= today:
        where = "you are" if own else "they are"
        raise InvalidInput("due", f"Pick a date after today ({_day(today)} where {where}).")
    latest = today + timedelta(days=MAX_AHEAD_DAYS)
    if new_due > latest:
        raise InvalidInput("due", f"Pick a date within a year, by {_day(latest)}.")
    if current_due is not None and new_due <= current_due:
        raise InvalidInput("due", f"Pick a date after the current due date, {_day(current_due)}.")
    return new_due


def new_due_problem(
    session: Session, *, assignment_id: int, new_due: date | None, clock: Clock, request: bool
) -> str | None:
    """What is wrong with ``new_due`` for this assignment, or None (read-only check).

    For a modal's field error before anything is written. ``request``: a learner's
    request, which must also propose a date after the current due date. An unknown
    assignment passes here: the action itself reports it.
    """
    assignment = session.get(Assignment, assignment_id)
    learner = session.get(Person, assignment.person_id) if assignment is not None else None
    if assignment is None or learner is None:
        return None
    today = local_date(clock.now(), _zone(learner, _settings(session)))
    try:
        check_new_due(
            new_due,
            today=today,
            current_due=assignment.due_date if request else None,
            own=request,
        )
    except InvalidInput as error:
        return str(error)
    return None


def _dm(session: Session, *, key: str, to: Person, message: Facts, now: datetime) -> bool:
    """Put a DM to ``to`` in the outbox (once per ``key``); False if they have no chat
    account or the key was already used."""
    address = user_id_of(session, to.id, DELIVERY_PLATFORM)
    if not address:
        log.warning("outbox %s: person %s has no chat account; not sent", key, to.id)
        return False
    new = NewMessage(
        key=key[:200],
        kind=message.kind,
        recipient_kind=RecipientKind.PERSON,
        recipient=address,
        payload=message.values,
        person_id=to.id,
        workspace_id=to.workspace_id,
        not_before=now,
    )
    return enqueue(session, [new], now=now) == 1


def _not_open(assignment: Assignment, item: Item, learner: Person, *, own: bool) -> NotOpen:
    title = " ".join(item.title.split())
    if assignment.status == AssignmentStatus.COMPLETED:
        who = "You" if own else learner.name
        return NotOpen(f"“{title}” is already done: {who} finished it. Nothing more to do.")
    if assignment.status == AssignmentStatus.WAIVED:
        whom = "you" if own else learner.name
        return NotOpen(f"“{title}” was already excused for {whom}. Nothing more to do.")
    where = "your" if own else f"{learner.name}'s"
    return NotOpen(f"“{title}” is no longer on {where} path. Nothing more to do.")


def _refuse(
    session: Session,
    *,
    clicker: Clicker,
    learner: Person,
    clock: Clock,
    action: str,
    attempted: str,
    subject: str,
    message: str,
) -> NotAllowed:
    entry = {
        "at": clock.now(),
        "actor": clicker.actor,
        "action": action,
        "person_id": learner.id,
        "subject": subject,
        "reason": f"{attempted}: not in {learner.email}'s management chain nor an admin",
        "details": {
            "attempted": attempted,
            "actor_person_id": clicker.person.id if clicker.person else None,
            **clicker.audit_details,
        },
    }
    audit.record(session, clock=clock, **{k: v for k, v in entry.items() if k != "at"})
    session.flush()
    return NotAllowed(message, audit_entry=entry)


def _relation(
    session: Session,
    clicker: Clicker,
    learner: Person,
    *,
    settings: ProgramSettings,
    also: Collection[int] = (),
) -> str | None:
    """How ``clicker`` may act on ``learner``'s items: ``manager`` (direct), ``chain``
    (further up, or the request's approver), ``admin``; None: they may not."""
    me = clicker.person
    if me is not None and me.id == learner.id:
        return None  # nobody escalates, extends or excuses their own items
    if me is not None and me.active and me.id is not None and learner.id is not None:
        if me.id == learner.manager_id:
            return "manager"
        index = PeopleIndex(session, org_zone=settings.organisation.timezone)
        if me.id in also or index.is_above(me.id, learner.id):
            return "chain"
    return "admin" if clicker.admin else None


# --- the manager's side: remind, extend, excuse ------------------------------------------


@dataclass(frozen=True)
class Target:
    """An open assignment someone may act on, and how they relate to its learner."""

    assignment: Assignment
    item: Item
    learner: Person
    relation: str
    today: date  # the learner's local date

    @property
    def learner_name(self) -> str:
        return self.learner.name

    @property
    def item_title(self) -> str:
        return self.item.title


def escalation_target(
    session: Session, *, clicker: Clicker, assignment_id: int, clock: Clock, attempted: str
) -> Target:
    """The open assignment ``clicker`` wants to act on, once they are allowed to.

    ``attempted`` names the action in a refusal's audit entry (``escalation.extend``...).

    Raises:
        NotFound: no such assignment.
        NotAllowed: not above the learner and not an admin (audited).
        NotOpen: the item is done, excused or off the path meanwhile.
    """
    assignment = session.get(Assignment, assignment_id)
    learner = session.get(Person, assignment.person_id) if assignment is not None else None
    item = session.get(Item, assignment.item_id) if assignment is not None else None
    if assignment is None or learner is None or item is None:
        raise NotFound("That item is no longer on anyone's path.")
    settings = _settings(session)
    relation = _relation(session, clicker, learner, settings=settings)
    if relation is None:
        raise _refuse(
            session,
            clicker=clicker,
            learner=learner,
            clock=clock,
            action="escalation.refused",
            attempted=attempted,
            subject=str(assignment_id),
            message=f"Only {learner.name}'s managers or a learnbot admin can do that. "
            "Nothing was changed.",
        )
    if assignment.status != AssignmentStatus.OPEN:
        raise _not_open(assignment, item, learner, own=False)
    today = local_date(clock.now(), _zone(learner, settings))
    return Target(assignment, item, learner, relation, today)


@dataclass(frozen=True)
class Reminded:
    """What ``remind`` did: ``sent`` False when already reminded today (or unreachable)."""

    learner_name: str
    sent: bool
    reachable: bool


def reminder_key(assignment_id: int, actor_key: str, actor_today: date) -> str:
    """One manager's reminder about one item, once a day (their day)."""
    return f"manager_reminder:{assignment_id}:{actor_key}:{actor_today.isoformat()}"


def remind(session: Session, *, clicker: Clicker, assignment_id: int, clock: Clock) -> Reminded:
    """DM the learner that ``clicker`` asked them to finish the item (once a day).

    Raises:
        NotFound, NotAllowed, NotOpen: as ``escalation_target``.
    """
    target = escalation_target(
        session,
        clicker=clicker,
        assignment_id=assignment_id,
        clock=clock,
        attempted="escalation.remind",
    )
    learner, item, assignment = target.learner, target.item, target.assignment
    if not user_id_of(session, learner.id, DELIVERY_PLATFORM):
        return Reminded(learner.name, sent=False, reachable=False)
    settings = _settings(session)
    now = clock.now()
    if clicker.person is not None:
        actor_key = str(clicker.person.id)
        actor_today = local_date(now, _zone(clicker.person, settings))
    else:
        actor_key = clicker.handle
        actor_today = local_date(now, settings.organisation.timezone)
    due = assignment.due_date or target.today
    sent = _dm(
        session,
        key=reminder_key(assignment_id, actor_key, actor_today),
        to=learner,
        message=facts(
            kinds.EXTENSION_REMINDER,
            actor_name=clicker.name,
            relation=target.relation,
            item_title=item.title,
            due=due,
            today=target.today,
        ),
        now=now,
    )
    if sent:
        audit.record(
            session,
            clock=clock,
            actor=clicker.actor,
            action="escalation.remind",
            person_id=learner.id,
            subject=str(assignment_id),
            reason=f"{target.relation} asked {learner.email} to finish {item.key}",
            details={
                "item": item.key,
                "due": assignment.due_date.isoformat() if assignment.due_date else None,
                "relation": target.relation,
                "actor_person_id": clicker.person.id if clicker.person else None,
            },
        )
    return Reminded(learner.name, sent=sent, reachable=True)


@dataclass(frozen=True)
class Extended:
    """What an extension did: the new due date, as the learner's ``today`` sees it."""

    learner_name: str
    item_title: str
    due: date
    today: date
    requests_closed: tuple[int, ...]


def _apply_extension(
    session: Session,
    *,
    clicker: Clicker,
    target: Target,
    new_due: date,
    reason: str,
    clock: Clock,
    request_id: int | None,
) -> Extended:
    """Move the due date, pin it, restart the ladder, close open requests as approved,
    audit it and tell the learner."""
    assignment, item, learner = target.assignment, target.item, target.learner
    assert assignment.id is not None and learner.id is not None
    now = clock.now()
    old_due = assignment.due_date.isoformat() if assignment.due_date else None
    closed = tuple(
        session.scalars(
            update(ExtensionRequest)
            .where(
                ExtensionRequest.assignment_id == assignment.id,
                ExtensionRequest.status == ExtensionStatus.OPEN,
            )
            .values(
                status=ExtensionStatus.APPROVED,
                decided_at=now,
                decided_by=clicker.actor[:254],
                decision_note=f"due date moved to {new_due.isoformat()}: {reason}"[:500],
            )
            .returning(ExtensionRequest.id),
            execution_options={"synchronize_session": "fetch"},
        )
    )
    # The one audited path for a new due date: pinned (enrollment keeps it), the ladder
    # starts again from it; the learner is told by the DM below, not in the digest.
    apply_due_changes(
        session,
        [
            DueChange(
                assignment_id=assignment.id,
                person_id=learner.id,
                item=item.key,
                new_due=new_due,
                event=EXTENSION,
                reason=reason,
                values={"due_pinned": True},
                details={
                    "relation": target.relation,
                    "extension_request_id": request_id,
                    "requests_closed": list(closed),
                },
            )
        ],
        clock=clock,
        actor=clicker.actor,
        action="assignment.extend",
    )
    _dm(
        session,
        key=f"extended:{assignment.id}:{old_due}:{new_due.isoformat()}:{target.today.isoformat()}",
        to=learner,
        message=facts(
            kinds.EXTENSION_GRANTED,
            actor_name=clicker.name,
            item_title=item.title,
            due=new_due,
            today=target.today,
            reason=reason,
            answered_request=request_id is not None or bool(closed),
        ),
        now=now,
    )
    return Extended(learner.name, item.title, new_due, target.today, closed)


def extend(
    session: Session,
    *,
    clicker: Clicker,
    assignment_id: int,
    new_due: date | None,
    reason: str,
    clock: Clock,
) -> Extended:
    """Give the learner until ``new_due`` (their local date) for an open item.

    The due date is pinned (enrollment leaves it), the ladder starts again
    (``ladder_step`` and ``ladder_paused_days`` back to 0) and any open extension request
    on the assignment is closed as approved. Audited as ``assignment.extend``; the
    learner is told by DM.

    Raises:
        NotFound, NotAllowed, NotOpen: as ``escalation_target``.
        InvalidInput: ``new_due`` not after the learner's today or more than a year
            away (``due``); no reason or one over 500 characters (``reason``).
    """
    target = escalation_target(
        session,
        clicker=clicker,
        assignment_id=assignment_id,
        clock=clock,
        attempted="escalation.extend",
    )
    due = check_new_due(new_due, today=target.today)
    if due == target.assignment.due_date:
        raise InvalidInput("due", f"{_day(due)} is already the due date: pick another day.")
    why = check_reason(reason)
    return _apply_extension(
        session,
        clicker=clicker,
        target=target,
        new_due=due,
        reason=why,
        clock=clock,
        request_id=None,
    )


@dataclass(frozen=True)
class Excused:
    learner_name: str
    item_title: str


def excuse(
    session: Session, *, clicker: Clicker, assignment_id: int, reason: str, clock: Clock
) -> Excused:
    """Waive an open item for its learner, with the reason (as ``/learn admin waive``).

    Audited as ``assignment.waive``; open extension requests on it lapse; the learner is
    told by DM.

    Raises:
        NotFound, NotAllowed, NotOpen: as ``escalation_target``.
        InvalidInput: no reason, or one over 500 characters (``reason``).
    """
    target = escalation_target(
        session,
        clicker=clicker,
        assignment_id=assignment_id,
        clock=clock,
        attempted="escalation.excuse",
    )
    why = check_reason(reason)
    assignment, item, learner = target.assignment, target.item, target.learner
    now = clock.now()
    assignment.status = AssignmentStatus.WAIVED
    assignment.waived_reason = why
    assignment.closed_at = None
    assignment.snoozed_until = None
    session.execute(
        update(ExtensionRequest)
        .where(
            ExtensionRequest.assignment_id == assignment_id,
            ExtensionRequest.status == ExtensionStatus.OPEN,
        )
        .values(
            status=ExtensionStatus.EXPIRED,
            decided_at=now,
            decided_by=clicker.actor[:254],
            decision_note="the item was excused",
        ),
        execution_options={"synchronize_session": "fetch"},
    )
    session.flush()
    audit.record(
        session,
        clock=clock,
        actor=clicker.actor,
        action="assignment.waive",
        person_id=learner.id,
        subject=str(assignment_id),
        reason=why,
        details={
            "item": item.key,
            "admin_person_id": clicker.person.id if clicker.person else None,
            "relation": target.relation,
            "via": "escalation",
        },
    )
    assert learner.id is not None and item.id is not None
    # An excused prerequisite counts as done: what waited for it gets its date.
    release_dependants(
        session, person_id=learner.id, item_ids=[item.id], clock=clock, settings=_settings(session)
    )
    _dm(
        session,
        key=f"excused:{assignment_id}:{assignment.cycle}:{target.today.isoformat()}",
        to=learner,
        message=facts(
            kinds.EXTENSION_EXCUSED, actor_name=clicker.name, item_title=item.title, reason=why
        ),
        now=now,
    )
    return Excused(learner.name, item.title)


# --- the learner's side: ask for more time ---------------------------------------------------


@dataclass(frozen=True)
class RequestForm:
    """What the learner's request modal shows."""

    assignment_id: int
    item_title: str
    due: date
    today: date
    approver_name: str | None


def _requestable(
    session: Session, *, learner: Person, assignment_id: int, clock: Clock
) -> tuple[Assignment, Item, date, ProgramSettings]:
    assignment, item = my_assignment(
        session,
        actor=learner,
        assignment_id=assignment_id,
        clock=clock,
        attempted="extension_request",
    )
    if assignment.status != AssignmentStatus.OPEN:
        raise _not_open(assignment, item, learner, own=True)
    title = " ".join(item.title.split())
    if not assignment.required:
        raise NotEligible(f"“{title}” is suggested, so it has no deadline to move.")
    if assignment.due_date is None:
        raise NotEligible(
            f"“{title}” waits for something you have to do first, so it has no deadline yet."
        )
    pending = session.scalars(
        select(ExtensionRequest).where(
            ExtensionRequest.assignment_id == assignment_id,
            ExtensionRequest.status == ExtensionStatus.OPEN,
        )
    ).first()
    if pending is not None:
        raise AlreadyRequested(
            f"You already asked for more time on “{title}” ({_day(pending.requested_on)}) "
            "and it is waiting for an answer. One request at a time."
        )
    settings = _settings(session)
    return assignment, item, local_date(clock.now(), _zone(learner, settings)), settings


def request_form(
    session: Session, *, learner: Person, assignment_id: int, clock: Clock
) -> RequestForm:
    """The request modal's contents, for the learner's own open required item.

    Raises:
        NotFound, NotAllowed: no such assignment, or someone else's (audited).
        NotOpen: done or excused meanwhile.
        NotEligible: a suggested item.
        AlreadyRequested: a request on it is still open.
    """
    assignment, item, today, settings = _requestable(
        session, learner=learner, assignment_id=assignment_id, clock=clock
    )
    assert assignment.due_date is not None and learner.id is not None
    index = PeopleIndex(session, org_zone=settings.organisation.timezone)
    approver, _ = index.takers(learner.id, clock.now())
    return RequestForm(
        assignment_id, item.title, assignment.due_date, today, approver.name if approver else None
    )


@dataclass(frozen=True)
class Requested:
    """What ``request_extension`` did: who was asked (None: the admins), and whether
    anyone could be told at all."""

    request_id: int
    item_title: str
    proposed: date
    today: date
    approver_name: str | None
    delivered: bool


def _card(
    session: Session,
    request: ExtensionRequest,
    *,
    assignment: Assignment,
    item: Item,
    learner: Person,
    today: date,
    calendar_settings: ProgramSettings,
) -> RequestCard:
    assert request.id is not None
    due = assignment.due_date or request.proposed_due
    late = 0
    if today > due:
        calendar = calendar_settings.calendar_for(_zone(learner, calendar_settings))
        late = max(0, calendar.working_days_between(due, today) - assignment.ladder_paused_days)
    decided_on = None
    if request.decided_at is not None:
        decided_on = local_date(request.decided_at, _zone(learner, calendar_settings))
    return RequestCard(
        request_id=request.id,
        learner_name=learner.name,
        item_title=item.title,
        due=due,
        proposed=request.proposed_due,
        reason=request.reason,
        today=today,
        overdue_working_days=late,
        to_admins=request.approver_id is None,
        decision="" if request.status == ExtensionStatus.OPEN else request.status,
        decided_by=_decider_name(session, request.decided_by, learner.workspace_id),
        decided_on=decided_on,
    )


def _decider_name(session: Session, label: str | None, workspace_id: str) -> str:
    """The name behind an audit label (an email), else the label itself."""
    if not label:
        return ""
    if "@" in label:
        name = session.scalars(
            select(Person.name).where(Person.workspace_id == workspace_id, Person.email == label)
        ).first()
        if name:
            return name
    return label


def request_extension(
    session: Session,
    *,
    learner: Person,
    assignment_id: int,
    proposed: date | None,
    reason: str,
    clock: Clock,
    admins: AdminList,
) -> Requested:
    """Record the learner's request for more time and ask whoever can decide.

    The approver is the learner's manager under the chain rules; when nobody in the
    chain can take it, the admins' channel (``channels.admins``) gets it, or each admin
    by DM when no channel is configured. Audited as ``extension.request``.

    Raises:
        NotFound, NotAllowed, NotOpen, NotEligible, AlreadyRequested: as ``request_form``.
        InvalidInput: ``proposed`` not after today and the current due date, or more than
            a year away (``due``); no reason, or one over 500 characters (``reason``).
    """
    assert learner.id is not None
    # Before looking for an open request: a double submit waits here and then finds the
    # first one (``learning.locks``; a partial unique index backs this up).
    lock_person(session, learner.id)
    assignment, item, today, settings = _requestable(
        session, learner=learner, assignment_id=assignment_id, clock=clock
    )
    assert assignment.id is not None
    day = check_new_due(proposed, today=today, current_due=assignment.due_date, own=True)
    why = check_reason(reason)
    now = clock.now()
    index = PeopleIndex(session, org_zone=settings.organisation.timezone)
    approver_chain, _ = index.takers(learner.id, now)
    approver = session.get(Person, approver_chain.id) if approver_chain is not None else None
    request = ExtensionRequest(
        assignment_id=assignment.id,
        person_id=learner.id,
        approver_id=approver.id if approver is not None else None,
        proposed_due=day,
        reason=why,
        status=ExtensionStatus.OPEN,
        requested_at=now,
        requested_on=today,
    )
    session.add(request)
    session.flush()
    assert request.id is not None
    messages, recipients = _request_messages(
        session,
        request,
        (assignment, item, learner, today),
        approver=approver,
        settings=settings,
        admins=admins,
        now=now,
    )
    if messages:
        enqueue(session, messages, now=now)
    else:
        log.warning(
            "extension request %s: nobody to ask (no manager, admins or channel)", request.id
        )
    _audit_request(
        session, request, assignment, item, approver=approver, sent_to=recipients, clock=clock
    )
    return Requested(
        request.id,
        item.title,
        day,
        today,
        approver.name if approver is not None else None,
        delivered=bool(messages),
    )


def _audit_request(
    session: Session,
    request: ExtensionRequest,
    assignment: Assignment,
    item: Item,
    *,
    approver: Person | None,
    sent_to: list[str],
    clock: Clock,
) -> None:
    """Audit a new request as ``extension.request``, by the learner."""
    learner = session.get(Person, request.person_id)
    assert learner is not None
    audit.record(
        session,
        clock=clock,
        actor=learner.email,
        action="extension.request",
        person_id=learner.id,
        subject=str(request.id),
        reason=request.reason,
        details={
            "assignment_id": assignment.id,
            "item": item.key,
            "due": assignment.due_date.isoformat() if assignment.due_date else None,
            "proposed": request.proposed_due.isoformat(),
            "approver_person_id": approver.id if approver is not None else None,
            "sent_to": sent_to,
        },
    )


def _request_messages(
    session: Session,
    request: ExtensionRequest,
    about: tuple[Assignment, Item, Person, date],
    *,
    approver: Person | None,
    settings: ProgramSettings,
    admins: tuple[str, ...],
    now: datetime,
) -> tuple[list[NewMessage], list[str]]:
    """The request card to whoever decides (the approver, else the admins' channel, else
    each admin but the learner by DM), and who that is, for the audit row.

    ``about``: the request's assignment, item, learner and the learner's today.
    """
    assignment, item, learner, today = about
    card = facts(
        kinds.EXTENSION_REQUEST,
        card=_card(
            session,
            request,
            assignment=assignment,
            item=item,
            learner=learner,
            today=today,
            calendar_settings=settings,
        ),
    )
    messages: list[NewMessage] = []

    def to(channel: str, person_id: int | None) -> None:
        messages.append(
            NewMessage(
                key=f"extension_request:{request.id}:{channel}"[:200],
                kind=card.kind,
                recipient_kind=RecipientKind.CHANNEL if person_id is None else RecipientKind.PERSON,
                recipient=channel,
                payload=card.values,
                person_id=person_id,
                workspace_id=learner.workspace_id,
                not_before=now,
            )
        )

    recipients: list[str] = []
    approver_address = user_id_of(session, approver.id if approver else None, DELIVERY_PLATFORM)
    if approver is not None and approver_address:
        to(approver_address, approver.id)
        recipients.append(approver.email)
    elif settings.channels.admins:
        to(settings.channels.admins, None)
        recipients.append(settings.channels.admins)
    else:
        for contact in admin_contacts(session, admins=admins, workspace_id=learner.workspace_id):
            if contact.person_id == learner.id:
                continue  # nobody decides on their own request
            to(contact.user_id, contact.person_id)
            recipients.append(contact.user_id)
    return messages, recipients


@dataclass(frozen=True)
class Decided:
    """A decision on a request: the card to show in place of the old one."""

    card: RequestCard
    approved: bool
    learner_name: str


def _paused_days(
    settings: ProgramSettings, learner: Person, requested_on: date, until: date
) -> int:
    """The learner's working days from ``requested_on`` to ``until``, at most the max."""
    calendar = settings.calendar_for(_zone(learner, settings))
    days = max(0, calendar.working_days_between(requested_on, until))
    return min(days, settings.escalation.extension_pause_max_days)


def decide(
    session: Session, *, clicker: Clicker, request_id: int, approve: bool, clock: Clock
) -> Decided:
    """Approve or decline an extension request, once.

    Who may: the request's approver, anyone above the learner, or an admin (never the
    learner). Approve: the due date becomes the proposed date, as ``extend``. Decline:
    the ladder's pause (working days since the request, capped) is added to the
    assignment. The learner is told either way; both steps are audited.

    Raises:
        NotFound: no such request (or its assignment is gone).
        NotAllowed: not someone who may decide (audited).
        AlreadyDecided: decided (or lapsed) before; nothing changes.
        NotOpen: the item is done or excused meanwhile.
        InvalidInput: approving a proposed date that has passed (``due``).
    """
    request = session.get(ExtensionRequest, request_id)
    assignment = session.get(Assignment, request.assignment_id) if request is not None else None
    learner = session.get(Person, request.person_id) if request is not None else None
    item = session.get(Item, assignment.item_id) if assignment is not None else None
    if request is None or assignment is None or learner is None or item is None:
        raise NotFound("That request is no longer in learnbot.")
    settings = _settings(session)
    attempted = "extension.approve" if approve else "extension.decline"
    also = [request.approver_id] if request.approver_id is not None else []
    relation = _relation(session, clicker, learner, settings=settings, also=also)
    if relation is None:
        raise _refuse(
            session,
            clicker=clicker,
            learner=learner,
            clock=clock,
            action="extension.refused",
            attempted=attempted,
            subject=str(request_id),
            message=f"Only {learner.name}'s managers or a learnbot admin can decide on this. "
            "Nothing was changed.",
        )
    now = clock.now()
    today = local_date(now, _zone(learner, settings))

    def card() -> RequestCard:
        session.refresh(request)
        return _card(
            session,
            request,
            assignment=assignment,
            item=item,
            learner=learner,
            today=today,
            calendar_settings=settings,
        )

    if request.status == ExtensionStatus.EXPIRED and assignment.status != AssignmentStatus.OPEN:
        raise _not_open(assignment, item, learner, own=False)  # excused or done meanwhile
    if request.status != ExtensionStatus.OPEN:
        shown = card()
        raise AlreadyDecided(already_decided_text(shown), shown)
    if assignment.status != AssignmentStatus.OPEN:
        raise _not_open(assignment, item, learner, own=False)
    target = Target(assignment, item, learner, relation, today)
    decide_one = _approve if approve else _decline
    decide_one(
        session,
        request=request,
        target=target,
        clicker=clicker,
        clock=clock,
        now=now,
        settings=settings,
        card=card,
    )
    return Decided(card(), approved=approve, learner_name=learner.name)


def _approve(
    session: Session,
    *,
    request: ExtensionRequest,
    target: Target,
    clicker: Clicker,
    clock: Clock,
    now: datetime,
    settings: ProgramSettings,
    card: Callable[[], RequestCard],
) -> None:
    """Approve an open ``request``: the due date becomes the proposed date (audited)."""
    assignment, item, learner, today = target.assignment, target.item, target.learner, target.today
    request_id = request.id
    assert request_id is not None
    try:
        check_new_due(request.proposed_due, today=today)
    except InvalidInput:
        raise InvalidInput(
            "due",
            f"The proposed date, {_day(request.proposed_due)}, is not after "
            f"{learner.name}'s today any more. Decline it and use Extend on the "
            "escalation to give a new date.",
        ) from None
    if not _settle(session, request_id, ExtensionStatus.APPROVED, clicker=clicker, now=now):
        shown = card()
        raise AlreadyDecided(already_decided_text(shown), shown)
    audit.record(
        session,
        clock=clock,
        actor=clicker.actor,
        action="extension.approve",
        person_id=learner.id,
        subject=str(request_id),
        reason=request.reason,
        details={
            "assignment_id": assignment.id,
            "item": item.key,
            "proposed": request.proposed_due.isoformat(),
            "relation": target.relation,
        },
    )
    _apply_extension(
        session,
        clicker=clicker,
        target=target,
        new_due=request.proposed_due,
        reason=request.reason,
        clock=clock,
        request_id=request_id,
    )


def _decline(
    session: Session,
    *,
    request: ExtensionRequest,
    target: Target,
    clicker: Clicker,
    clock: Clock,
    now: datetime,
    settings: ProgramSettings,
    card: Callable[[], RequestCard],
) -> None:
    """Decline an open ``request``: the ladder's pause is added; the learner is told."""
    assignment, item, learner, today = target.assignment, target.item, target.learner, target.today
    request_id = request.id
    assert request_id is not None
    if not _settle(session, request_id, ExtensionStatus.DECLINED, clicker=clicker, now=now):
        shown = card()
        raise AlreadyDecided(already_decided_text(shown), shown)
    paused = _paused_days(settings, learner, request.requested_on, today)
    assignment.ladder_paused_days += paused
    session.flush()
    audit.record(
        session,
        clock=clock,
        actor=clicker.actor,
        action="extension.decline",
        person_id=learner.id,
        subject=str(request_id),
        reason=f"declined; the ladder was paused {paused} working days",
        details={
            "assignment_id": assignment.id,
            "item": item.key,
            "proposed": request.proposed_due.isoformat(),
            "request_reason": request.reason,
            "paused_days": paused,
            "relation": target.relation,
        },
    )
    assert assignment.due_date is not None
    _dm(
        session,
        key=f"extension_decided:{request_id}",
        to=learner,
        message=facts(
            kinds.EXTENSION_DECLINED,
            actor_name=clicker.name,
            item_title=item.title,
            due=assignment.due_date,
            today=today,
        ),
        now=now,
    )


def _settle(
    session: Session, request_id: int, status: str, *, clicker: Clicker, now: datetime
) -> bool:
    """Move an open request to ``status``; False if it was not open any more (a race)."""
    settled = session.execute(
        update(ExtensionRequest)
        .where(ExtensionRequest.id == request_id, ExtensionRequest.status == ExtensionStatus.OPEN)
        .values(status=status, decided_at=now, decided_by=clicker.actor[:254])
        .returning(ExtensionRequest.id),
        execution_options={"synchronize_session": "fetch"},
    ).first()
    return settled is not None


# --- jobs and queries ----------------------------------------------------------------------


def expire_extension_requests(
    session: Session, *, now: datetime, settings: ProgramSettings, clock: Clock
) -> int:
    """Let requests nobody decided lapse; return how many lapsed.

    A request lapses once its ``requested_on`` is ``extension_pause_max_days`` or more
    calendar days before the learner's local today: the assignment's
    ``ladder_paused_days`` grows by the working days it paused (at most the max), the
    learner is told that reminders continue, and ``extension.expire`` is audited.
    Requests on items no longer open (done, excused) lapse quietly.
    """
    max_days = settings.escalation.extension_pause_max_days
    # No one's local date is more than a day past UTC's: a cheap upper bound.
    latest = now.date() + timedelta(days=1) - timedelta(days=max_days)
    rows = session.execute(
        select(ExtensionRequest, Assignment, Person, Item)
        .join(Assignment, Assignment.id == ExtensionRequest.assignment_id)
        .join(Person, Person.id == ExtensionRequest.person_id)
        .join(Item, Item.id == Assignment.item_id)
        .where(
            ExtensionRequest.status == ExtensionStatus.OPEN,
            ExtensionRequest.requested_on <= latest,
        )
        .order_by(ExtensionRequest.id)
    ).all()
    lapsed = 0
    for request, assignment, learner, item in rows:
        assert request.id is not None
        today = local_date(now, _zone(learner, settings))
        if (today - request.requested_on).days < max_days:
            continue
        if not _lapse(session, request.id, now=now, max_days=max_days):
            continue
        lapsed += 1
        still_open = assignment.status == AssignmentStatus.OPEN
        paused = _paused_days(settings, learner, request.requested_on, today) if still_open else 0
        assignment.ladder_paused_days += paused
        audit.record(
            session,
            clock=clock,
            actor=LAPSED_BY,
            action="extension.expire",
            person_id=learner.id,
            subject=str(request.id),
            reason=f"no decision in {max_days} days",
            details={
                "assignment_id": assignment.id,
                "item": item.key,
                "paused_days": paused,
                "item_open": still_open,
            },
        )
        if still_open and assignment.due_date is not None:
            _dm(
                session,
                key=f"extension_decided:{request.id}",
                to=learner,
                message=facts(
                    kinds.EXTENSION_EXPIRED,
                    item_title=item.title,
                    days=max_days,
                    due=assignment.due_date,
                    today=today,
                ),
                now=now,
            )
    session.flush()
    return lapsed


def _lapse(session: Session, request_id: int, *, now: datetime, max_days: int) -> bool:
    """Mark an open request expired; False if someone decided it meanwhile."""
    settled = session.execute(
        update(ExtensionRequest)
        .where(
            ExtensionRequest.id == request_id,
            ExtensionRequest.status == ExtensionStatus.OPEN,
        )
        .values(
            status=ExtensionStatus.EXPIRED,
            decided_at=now,
            decided_by=LAPSED_BY,
            decision_note=f"no decision in {max_days} days",
        )
        .returning(ExtensionRequest.id),
        execution_options={"synchronize_session": "fetch"},
    ).first()
    return settled is not None


def open_request_assignment_ids(session: Session, assignment_ids: Collection[int]) -> set[int]:
    """Which of ``assignment_ids`` have an open extension request (the ladder is paused)."""
    wanted = sorted(set(assignment_ids))
    found: set[int] = set()
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start : start + 1000]
        found.update(
            session.scalars(
                select(ExtensionRequest.assignment_id).where(
                    ExtensionRequest.status == ExtensionStatus.OPEN,
                    ExtensionRequest.assignment_id.in_(chunk),  # type: ignore[attr-defined]
                )
            )
        )
    return found
