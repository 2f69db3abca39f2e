"""The escalation job: tell managers, skip-levels (or the admins) about overdue items.

The rules (which reached ladder steps are told, to whom, when) are pure decisions in
``learning.escalations``; this job reads what they need, asks them, and writes the
outcome. Each bundled DM's outbox key is ``escalation:{recipient}:{their local date}``.

Rules kept here:

* A step is marked done (``Assignment.ladder_step``) in the same transaction that puts
  its DM in the outbox, so a step is notified once, however often the job runs.
* When nobody is left in the chain, the admins' channel (``channels.admins``) gets the
  notice instead; without that channel, the learnbot admins by DM.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlmodel import Session

from delivery.outbox import NewMessage, enqueue_new_keys
from learning import audit
from learning.accounts import DELIVERY_PLATFORM, user_id_column
from learning.chain import PeopleIndex
from learning.clock import Clock
from learning.curriculum import ProgramSettings
from learning.escalations import (
    ADMINS,
    Decision,
    LadderRow,
    Recipient,
    candidate_cutoff,
    reached_notices,
    take_steps,
    telling_days,
    todays_keys,
)
from learning.escalations import Notice as _Notice
from learning.paths import current_settings
from learning.planner import open_windows
from models import (
    Assignment,
    AssignmentStatus,
    ExtensionRequest,
    ExtensionStatus,
    Item,
    OutboxMessage,
    Person,
)
from models.db import Database
from models.tables import DEFAULT_WORKSPACE, RecipientKind

log = logging.getLogger(__name__)

KIND_ESCALATION = "escalation"
NOTICES_PER_TRANSACTION = 100  # items told (an audit row and a step mark each), with their DMs
ROWS_PER_TRANSACTION = 1000  # plain step and bookmark updates


@dataclass
class EscalationPlan:
    """What one pass of the escalation job did."""

    candidates: int = 0  # open required items far enough overdue to look at
    notices: int = 0  # manager / skip-level / admin notices put in DMs now
    messages: int = 0  # DMs (or admin-channel posts) enqueued
    to_admins: int = 0  # notices that went to the admins: nobody left in the chain
    waiting: int = 0  # reached steps whose recipient's window is not open (or had today's)
    expired_requests: int = 0
    # Items not looked at again until their next step's date, or (waiting) until their
    # recipient's next send window: bookmarks written by this pass.
    bookmarked: int = 0
    by_step: dict[str, int] = field(default_factory=dict)


def plan_escalations(database: Database, clock: Clock) -> EscalationPlan:
    """Put today's escalation DMs in the outbox, as of ``clock.now()``; safe to repeat.

    Reads first, then writes in short transactions (the DMs of about
    ``NOTICES_PER_TRANSACTION`` items, with their audit rows and step marks, each), so
    the write lock is never held for the whole pass; stopped half-way, the next pass
    tells the rest.
    """
    plan = EscalationPlan()
    with database.session() as session:
        batches = database.batches(session)
        settings = current_settings(session)
        if settings is None:
            return plan
        plan.expired_requests = _expire_requests(session, settings=settings, clock=clock)
        batches.commit()  # before the reading: a write would hold SQLite's lock through it
        _plan(session, settings=settings, clock=clock, plan=plan, commit=batches.commit)
    if plan.messages:
        log.info(
            "escalations: %d notices in %d messages (%d to admins); %d waiting",
            plan.notices,
            plan.messages,
            plan.to_admins,
            plan.waiting,
        )
    return plan


def _expire_requests(session: Session, *, settings: ProgramSettings, clock: Clock) -> int:
    try:
        from learning.extensions import expire_extension_requests
    except ImportError:  # the extension flow is optional in this layer
        return 0
    return int(expire_extension_requests(session, now=clock.now(), settings=settings, clock=clock))


def _plan(
    session: Session,
    *,
    settings: ProgramSettings,
    clock: Clock,
    plan: EscalationPlan,
    commit: Callable[[], None],
) -> None:
    """Read the candidates, decide (learning.escalations), write the decisions."""
    now = clock.now()
    if not telling_days(settings) or not _any_window_open(session, settings=settings, now=now):
        return  # no step tells anyone, or nobody's send window is open: nobody told now
    rows = _candidate_rows(session, settings=settings, now=now)
    plan.candidates = len(rows)
    if not rows:
        return
    people = PeopleIndex(session, org_zone=settings.organisation.timezone)
    people.load_chains({row.person_id for row in rows})
    reached = reached_notices(
        rows, paused=_paused_items(session), people=people, settings=settings, now=now
    )
    recipients = reached.recipients()
    keys = todays_keys(recipients, now=now, settings=settings)
    decision = take_steps(
        reached, keys=keys, sent=_sent_keys(session, keys), now=now, settings=settings
    )
    plan.waiting += decision.waiting
    for chunk in _chunks(decision.bundles, NOTICES_PER_TRANSACTION):
        told = {key: (recipients[key], keys[key]) for key in chunk}
        _tell_chunk(session, told, decision, settings=settings, clock=clock, now=now, plan=plan)
        commit()
    # Learner steps (no message) and bookmarks: plain updates, a chunk per transaction.
    _write_rows(session, _MARK_STEP, _step_rows(decision.new_step), commit=commit)
    bookmarks = [
        {"aid": b.assignment_id, "next": b.next_on, "due": b.due} for b in reached.bookmarks
    ]
    _write_rows(session, _BOOKMARK, bookmarks, commit=commit)
    waits = [{"aid": w.assignment_id, "until": w.until, "due": w.due} for w in decision.waits]
    _write_rows(session, _WAIT, waits, commit=commit)
    plan.bookmarked = len(bookmarks) + len(waits)


def _any_window_open(session: Session, *, settings: ProgramSettings, now: datetime) -> bool:
    """Whether anyone's send window is open at ``now`` (somebody can be told)."""
    org_zone = settings.organisation.timezone
    zones = set(session.scalars(select(Person.timezone).where(Person.active).distinct()))
    return bool(
        open_windows(
            sorted({z or org_zone for z in zones} | {org_zone}), now=now, settings=settings
        )
    )


def _candidate_rows(
    session: Session, *, settings: ProgramSettings, now: datetime
) -> list[LadderRow]:
    """Open required items of active people that may have reached a step by ``now``."""
    latest_today, cutoff = candidate_cutoff(settings, now=now)
    rows = session.execute(
        select(
            Assignment.id,
            Assignment.person_id,
            Assignment.due_date,
            Assignment.ladder_step,
            Assignment.ladder_paused_days,
            Item.key,
            Item.title,
            Assignment.ladder_next_on,
            Assignment.ladder_next_due,
        )
        .join(Item, Item.id == Assignment.item_id)
        .join(Person, Person.id == Assignment.person_id)
        .where(
            Assignment.status == AssignmentStatus.OPEN,
            Assignment.required,
            Assignment.due_date.is_not(None),
            Assignment.due_date <= cutoff,
            Assignment.ladder_step < len(settings.escalation.steps),
            # The bookmark: skip items whose next step cannot be reached yet.
            or_(
                Assignment.ladder_next_on.is_(None),  # type: ignore[union-attr]
                Assignment.ladder_next_on <= latest_today,  # type: ignore[operator]
                Assignment.ladder_next_due != Assignment.due_date,
            ),
            # The wait: skip items whose recipient cannot be told before that instant.
            or_(
                Assignment.ladder_wait_until.is_(None),  # type: ignore[union-attr]
                Assignment.ladder_wait_until <= now,  # type: ignore[operator]
                Assignment.ladder_next_due != Assignment.due_date,
            ),
            Person.active,
        )
        .order_by(Assignment.person_id, Assignment.due_date, Assignment.id)
    ).all()
    return [LadderRow._make(row) for row in rows]


def _paused_items(session: Session) -> set[int]:
    """Items with an open extension request: their ladder is paused."""
    return set(
        session.scalars(
            select(ExtensionRequest.assignment_id).where(
                ExtensionRequest.status == ExtensionStatus.OPEN
            )
        )
    )


def _sent_keys(session: Session, keys: dict[str, str]) -> set[str]:
    """Those of today's DM ``keys`` already in the outbox."""
    return set(
        session.scalars(select(OutboxMessage.key).where(OutboxMessage.key.in_(list(keys.values()))))
    )


def _tell_chunk(
    session: Session,
    told: dict[str, tuple[Recipient, str]],
    decision: Decision,
    *,
    settings: ProgramSettings,
    clock: Clock,
    now: datetime,
    plan: EscalationPlan,
) -> None:
    """Enqueue one chunk's DMs (``told``: recipient key -> recipient and DM key) with
    their audit rows and step marks; the steps are marked only if the message is new."""
    # The chunk's DMs are built before its transaction and go in with one insert.
    messages_of = {
        key: _messages(
            session, recipient, decision.bundles[key], key=dm_key, now=now, settings=settings
        )
        for key, (recipient, dm_key) in told.items()
    }
    new_keys = enqueue_new_keys(
        session, [m for messages in messages_of.values() for m in messages], now=now
    )
    entries: list[dict[str, Any]] = []
    for key, (recipient, _dm_key) in told.items():
        notices = decision.bundles[key]
        if not any(m.key in new_keys for m in messages_of[key]):
            for notice in notices:  # told already (a race), or nowhere to send: wait
                decision.new_step.pop(notice.assignment_id, None)
            continue
        plan.messages += 1
        for notice in notices:
            plan.notices += 1
            plan.by_step[notice.step] = plan.by_step.get(notice.step, 0) + 1
            if recipient.person is None:
                plan.to_admins += 1
            entries.append(_audit_entry(recipient, notice))
    audit.record_many(session, clock=clock, entries=entries)
    items = {notice.assignment_id for key in told for notice in decision.bundles[key]}
    new_step = decision.new_step
    _mark_steps(session, {aid: new_step.pop(aid) for aid in items if aid in new_step})


def _audit_entry(recipient: Recipient, notice: _Notice) -> dict[str, Any]:
    """The audit row of one notice told."""
    return {
        "actor": "learnbot",
        "action": f"escalation.{notice.step if recipient.person else 'admins'}",
        "person_id": notice.learner.id,
        "subject": notice.item_key,
        "reason": f"{notice.overdue} working days overdue",
        "details": {
            "assignment_id": notice.assignment_id,
            "to": recipient.person.email if recipient.person else ADMINS,
            "step": notice.step,
            "due": notice.due.isoformat(),
        },
    }


_TABLE = Assignment.__table__  # type: ignore[attr-defined]
_MARK_STEP = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("aid"))
    .values(
        ladder_step=bindparam("step"),
        ladder_next_on=None,
        ladder_next_due=None,
        ladder_wait_until=None,
    )
)
_BOOKMARK = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("aid"))
    .values(
        ladder_next_on=bindparam("next"),
        ladder_next_due=bindparam("due"),
        ladder_wait_until=None,
    )
)
_WAIT = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("aid"))
    .values(
        ladder_wait_until=bindparam("until"),
        ladder_next_due=bindparam("due"),
        ladder_next_on=None,
    )
)


def _step_rows(steps: dict[int, int]) -> list[dict[str, Any]]:
    return [{"aid": aid, "step": step} for aid, step in steps.items()]


def _mark_steps(session: Session, steps: dict[int, int]) -> None:
    if steps:
        session.connection().execute(_MARK_STEP, _step_rows(steps))


def _write_rows(
    session: Session, statement: Any, rows: list[dict[str, Any]], *, commit: Callable[[], None]
) -> None:
    """Execute ``statement`` for ``rows``, ``ROWS_PER_TRANSACTION`` per transaction."""
    for start in range(0, len(rows), ROWS_PER_TRANSACTION):
        session.connection().execute(statement, rows[start : start + ROWS_PER_TRANSACTION])
        commit()


def _chunks(bundles: dict[str, list[_Notice]], per_chunk: int) -> list[list[str]]:
    """Recipient keys in chunks of about ``per_chunk`` notices; recipients told about the
    same item (its manager and its skip-level on one tick) always land in the same chunk,
    so an item's step is marked in the transaction that enqueues every message about it."""
    parent = {key: key for key in bundles}

    def root(key: str) -> str:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    first_of: dict[int, str] = {}
    for key, notices in bundles.items():
        for notice in notices:
            other = first_of.setdefault(notice.assignment_id, key)
            parent[root(key)] = root(other)
    groups: dict[str, list[str]] = {}
    for key in bundles:
        groups.setdefault(root(key), []).append(key)
    chunks: list[list[str]] = []
    current: list[str] = []
    size = 0
    for group in groups.values():
        current.extend(group)
        size += sum(len(bundles[key]) for key in group)
        if size >= per_chunk:
            chunks.append(current)
            current, size = [], 0
    if current:
        chunks.append(current)
    return chunks


def _messages(
    session: Session,
    recipient: Recipient,
    notices: list[_Notice],
    *,
    key: str,
    now: datetime,
    settings: ProgramSettings,
) -> list[NewMessage]:
    payload = escalation_payload(recipient, notices, local_date=key.rsplit(":", 1)[1])
    if recipient.person is not None:
        return [
            NewMessage(
                key=key,
                kind=KIND_ESCALATION,
                recipient_kind=RecipientKind.PERSON,
                recipient=recipient.person.chat_user_id or "",
                payload=payload,
                person_id=recipient.person.id,
                workspace_id=recipient.person.workspace_id,
                not_before=now,
            )
        ]
    workspace = notices[0].learner.workspace_id or DEFAULT_WORKSPACE
    channel = settings.channels.admins
    if channel:
        return [
            NewMessage(
                key=key,
                kind=KIND_ESCALATION,
                recipient_kind=RecipientKind.CHANNEL,
                recipient=channel,
                payload=payload,
                workspace_id=workspace,
                not_before=now,
            )
        ]
    user_id = user_id_column(DELIVERY_PLATFORM)
    admins = session.execute(
        select(Person.id, user_id).where(Person.is_admin, Person.active, user_id.is_not(None))
    ).all()
    if not admins:
        log.warning(
            "escalations for %d items have nowhere to go: no manager in the chain, no "
            "channels.admins in the YAML and no learnbot admins; they wait",
            len(notices),
        )
        return []
    return [
        NewMessage(
            key=f"{key}:{person_id}",
            kind=KIND_ESCALATION,
            recipient_kind=RecipientKind.PERSON,
            recipient=user_id,
            payload=payload,
            person_id=person_id,
            workspace_id=workspace,
            not_before=now,
        )
        for person_id, user_id in admins
    ]


def escalation_payload(
    recipient: Recipient, notices: Iterable[_Notice], *, local_date: str
) -> dict[str, Any]:
    """The DM's facts as JSON: learners (most overdue first) and their items."""
    by_learner: dict[int, list[_Notice]] = defaultdict(list)
    for notice in notices:
        by_learner[notice.learner.id].append(notice)
    learners = []
    for items in by_learner.values():
        items.sort(key=lambda n: (-n.overdue, n.due, n.assignment_id))
        learner = items[0].learner
        learners.append(
            {
                "person_id": learner.id,
                "name": learner.name,
                "slack_user_id": learner.chat_user_id,
                "items": [
                    {
                        "assignment_id": n.assignment_id,
                        "key": n.item_key,
                        "title": n.item_title,
                        "due_date": n.due.isoformat(),
                        "overdue_working_days": n.overdue,
                        "step": n.step,
                        "told_first": n.told_first,
                    }
                    for n in items
                ],
            }
        )
    learners.sort(key=lambda p: (-p["items"][0]["overdue_working_days"], p["name"].lower()))
    return {
        "to": "admins" if recipient.person is None else "manager",
        "first_name": (recipient.person.name.split() or ["there"])[0] if recipient.person else "",
        "local_date": local_date,
        "learners": learners,
    }


def escalation_summary(payload: dict[str, Any]) -> str:
    """The notification text: how many people and items."""
    people = len(payload["learners"])
    items = sum(len(p["items"]) for p in payload["learners"])
    who = "person" if people == 1 else "people"
    things = "item" if items == 1 else "items"
    if payload["to"] == "admins":
        return (
            f"Overdue required training with no manager to tell: {people} {who}, {items} {things}"
        )
    return f"Overdue required training in your team: {people} {who}, {items} {things}"
