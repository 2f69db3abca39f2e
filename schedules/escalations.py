"""The escalation job: tell managers, skip-levels (or the admins) about overdue items.

Each tick, for every open *required* item of an active learner who is not away, the
ladder (learning.ladder) says which steps are reached on the learner's local date.
Steps that notify the learner need no message: the learner's digest shows them. Steps
that notify the manager or the skip-level become one bundled DM per recipient per
local working day, sent in the recipient's own send window (their ``send_time`` +
``send_window``), outbox key ``escalation:{recipient}:{their local date}``.

Rules kept here:

* Steps go in order: a skip-level is never told before the manager was.
* A step is marked done (``Assignment.ladder_step``) in the same transaction that puts
  its DM in the outbox, so a step is notified once, however often the job runs.
* A recipient who already had today's DM waits for their next working day; an item that
  reached the manager step while its manager is asleep waits for the manager's morning.
* Chain rules (learning.chain): inactive, away or unreachable managers are skipped; when
  nobody is left, the admins' channel (``channels.admins``) gets the notice instead, at
  the organisation's send time; without that channel, the learnbot admins by DM.
* An open extension request pauses the item's ladder; deciding it moves it on.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, or_, select, update
from sqlmodel import Session

from delivery.outbox import NewMessage, enqueue_new_keys
from learning import audit
from learning.calendar import WorkCalendar
from learning.chain import ChainPerson, PeopleIndex
from learning.clock import Clock
from learning.curriculum import ProgramSettings
from learning.ladder import (
    TELLS_SOMEONE_ELSE,
    SendWindow,
    escalation_window,
    notice_day,
    overdue_working_days,
    reached_steps,
    step_date,
)
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
ADMINS = "admins"
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


@dataclass(frozen=True)
class Recipient:
    """Who gets a notice: a person, or the admins (channel, or DMs when none is set)."""

    key: str  # "person:{id}" or "admins"
    person: ChainPerson | None


@dataclass
class _Notice:
    assignment_id: int
    step_index: int
    step: str  # "manager" | "skip_level"
    recipient: Recipient
    learner: ChainPerson
    item_key: str
    item_title: str
    due: date
    overdue: int
    told_first: str | None  # for a skip-level notice: who was told at the manager step
    tell_on: date  # the recipient's local date it is told (learning.ladder.notice_day)


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
    now = clock.now()
    steps = settings.escalation.steps
    telling = [step.after_overdue for step in steps if step.notify in TELLS_SOMEONE_ELSE]
    if not telling:
        return
    org_zone = settings.organisation.timezone
    zones = set(session.scalars(select(Person.timezone).where(Person.active).distinct()))
    if not open_windows(
        sorted({z or org_zone for z in zones} | {org_zone}), now=now, settings=settings
    ):
        return  # nobody's send window is open: nobody can be told now
    # No time zone is more than a day ahead of UTC; overdue working days never exceed
    # calendar days, so nothing due after the cutoff can have reached a telling step.
    latest_today = (now + timedelta(days=1)).date()
    cutoff = latest_today - timedelta(days=max(1, min(telling)))
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
            Assignment.ladder_step < len(steps),
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
    plan.candidates = len(rows)
    if not rows:
        return
    paused = set(
        session.scalars(
            select(ExtensionRequest.assignment_id).where(
                ExtensionRequest.status == ExtensionStatus.OPEN
            )
        )
    )
    people = PeopleIndex(session, org_zone=org_zone)
    people.load_chains({row[1] for row in rows})
    calendars: dict[str, WorkCalendar] = {}
    todays: dict[str, date] = {}
    reached_of: dict[tuple[str, date, int], tuple[int, ...]] = {}
    bookmarks: list[dict[str, Any]] = []
    next_of: dict[tuple[date, int, int], date] = {}
    # Holidays only ever push a step later, so dates counted without them are a lower
    # bound that holds in every region (a person may move zones between ticks).
    plain = WorkCalendar(settings.calendar_for(org_zone).working_weekdays)
    takers_of: dict[int, tuple[ChainPerson | None, ChainPerson | None]] = {}
    windows: dict[str, SendWindow] = {}
    tell_on_of: dict[tuple[str, date, int, int, str], date] = {}

    def tell_on(zone: str, due: date, paused_days: int, index: int, taker_zone: str) -> date:
        """The day the learner's digest announced: the job keeps it."""
        key = (zone, due, paused_days, index, taker_zone)
        if key not in tell_on_of:
            if taker_zone not in windows:
                windows[taker_zone] = escalation_window(settings, taker_zone)
            step_on = step_date(
                steps[index], due=due, calendar=calendars[zone], paused_days=paused_days
            )
            tell_on_of[key] = notice_day(step_on, learner_zone=zone, window=windows[taker_zone])
        return tell_on_of[key]

    # 1. Every reached, un-notified step of every item, in ladder order.
    pending: dict[int, list[_Notice]] = {}
    advance_only: dict[int, int] = {}  # learner steps reached: no message needed
    for row in rows:
        assignment_id, person_id, due, done_steps, paused_days, item_key, title = row[:7]
        if assignment_id in paused:
            continue
        learner = people.get(person_id)
        if learner is None:
            continue
        zone = learner.timezone or org_zone
        today = todays.get(zone)
        if today is None:
            today = todays[zone] = now.astimezone(ZoneInfo(zone)).date()
            calendars[zone] = settings.calendar_for(zone)
        calendar = calendars[zone]
        if learner.away_until is not None and learner.away_until >= today:  # type: ignore[operator]
            continue  # away people are not chased, and not counted against
        all_reached = reached_of.get((zone, due, paused_days))
        if all_reached is None:
            all_reached = reached_of[(zone, due, paused_days)] = reached_steps(
                settings.escalation,
                due=due,
                today=today,
                calendar=calendar,
                paused_days=paused_days,
            )
        reached = [i for i in all_reached if i >= done_steps]
        if not reached:
            key = (due, paused_days, done_steps)
            if key not in next_of:
                next_of[key] = step_date(
                    steps[done_steps], due=due, calendar=plain, paused_days=paused_days
                )
            if (row.ladder_next_on, row.ladder_next_due) != (next_of[key], due):
                bookmarks.append({"aid": assignment_id, "next": next_of[key], "due": due})
            continue
        if person_id not in takers_of:
            takers_of[person_id] = people.takers(person_id, now)
        manager, skip = takers_of[person_id]
        overdue = overdue_working_days(
            due=due, today=today, calendar=calendar, paused_days=paused_days
        )
        notices: list[_Notice] = []
        for index in reached:
            step = steps[index].notify
            if step == "learner":
                if not notices:
                    advance_only[assignment_id] = index + 1
                continue
            taker = manager if step == "manager" else skip
            told_first = manager.name if step == "skip_level" and manager else None
            recipient = Recipient(f"person:{taker.id}", taker) if taker else Recipient(ADMINS, None)
            taker_zone = (taker.timezone if taker else None) or org_zone
            notices.append(
                _Notice(
                    assignment_id,
                    index,
                    step,
                    recipient,
                    learner,
                    item_key,
                    title,
                    due,
                    overdue,
                    told_first,
                    tell_on(zone, due, paused_days, index, taker_zone),
                )
            )
        if notices:
            pending[assignment_id] = notices

    # 2. Which recipients can be told now: their send window is open, no DM yet today.
    recipients = {n.recipient.key: n.recipient for ns in pending.values() for n in ns}
    zone_days: dict[str, str | None] = {}
    keys = {
        key: _today_key(r, now=now, settings=settings, cache=zone_days)
        for key, r in recipients.items()
    }
    open_keys = {key: k for key, k in keys.items() if k is not None}
    already = set(
        session.scalars(
            select(OutboxMessage.key).where(OutboxMessage.key.in_(list(open_keys.values())))
        )
    )
    can_tell = {key for key, k in open_keys.items() if k not in already}

    # 3. Take each item's steps in order while their recipient can be told now.
    bundles: dict[str, list[_Notice]] = defaultdict(list)
    new_step: dict[int, int] = dict(advance_only)
    waits: list[dict[str, Any]] = []
    for assignment_id, notices in pending.items():
        for notice in notices:
            if (
                notice.recipient.key not in can_tell
                or _recipient_day(open_keys[notice.recipient.key]) < notice.tell_on
            ):
                # Not their window, told already today, or not yet the announced day
                # (the step came in the middle of their window: their next morning).
                plan.waiting += 1
                if assignment_id not in new_step:  # nothing to mark: not read until then
                    until = _next_send_at(notice.recipient, now=now, settings=settings)
                    waits.append({"aid": assignment_id, "until": until, "due": notice.due})
                break
            bundles[notice.recipient.key].append(notice)
            new_step[assignment_id] = notice.step_index + 1

    # 4. One message per recipient; the steps are marked only if the message is new,
    #    in the transaction that enqueues it. A chunk of recipients per transaction
    #    (an item's recipients always share one), so no write holds the lock for long.
    table = Assignment.__table__  # type: ignore[attr-defined]
    for chunk in _chunks(bundles, NOTICES_PER_TRANSACTION):
        # The chunk's DMs are built before its transaction and go in with one insert.
        messages_of = {
            key: _messages(
                session,
                recipients[key],
                bundles[key],
                key=open_keys[key],
                now=now,
                settings=settings,
            )
            for key in chunk
        }
        new_keys = enqueue_new_keys(
            session, [m for messages in messages_of.values() for m in messages], now=now
        )
        told: list[dict[str, Any]] = []
        for key in chunk:
            notices = bundles[key]
            recipient = recipients[key]
            if not any(m.key in new_keys for m in messages_of[key]):
                for notice in notices:  # told already (a race), or nowhere to send: wait
                    new_step.pop(notice.assignment_id, None)
                continue
            plan.messages += 1
            for notice in notices:
                plan.notices += 1
                plan.by_step[notice.step] = plan.by_step.get(notice.step, 0) + 1
                if recipient.person is None:
                    plan.to_admins += 1
                told.append(
                    {
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
                )
        audit.record_many(session, clock=clock, entries=told)
        items = {notice.assignment_id for key in chunk for notice in bundles[key]}
        _mark_steps(session, {aid: new_step.pop(aid) for aid in items if aid in new_step})
        commit()
    # Learner steps (no message) and bookmarks: plain updates, a chunk per transaction.
    advanced = list(new_step.items())
    for start in range(0, len(advanced), ROWS_PER_TRANSACTION):
        _mark_steps(session, dict(advanced[start : start + ROWS_PER_TRANSACTION]))
        commit()
    for start in range(0, len(bookmarks), ROWS_PER_TRANSACTION):
        session.connection().execute(
            update(table)
            .where(table.c.id == bindparam("aid"))
            .values(
                ladder_next_on=bindparam("next"),
                ladder_next_due=bindparam("due"),
                ladder_wait_until=None,
            ),
            bookmarks[start : start + ROWS_PER_TRANSACTION],
        )
        commit()
    for start in range(0, len(waits), ROWS_PER_TRANSACTION):
        session.connection().execute(
            update(table)
            .where(table.c.id == bindparam("aid"))
            .values(
                ladder_wait_until=bindparam("until"),
                ladder_next_due=bindparam("due"),
                ladder_next_on=None,
            ),
            waits[start : start + ROWS_PER_TRANSACTION],
        )
        commit()
    plan.bookmarked = len(bookmarks) + len(waits)


def _next_send_at(recipient: Recipient, *, now: datetime, settings: ProgramSettings) -> datetime:
    """The next start of ``recipient``'s send window after ``now`` (UTC): the earliest
    they can be told, whether their window is not open yet, is over, or they had today's
    DM. A holiday or weekend there just means the item is looked at and waits again."""
    zone = ZoneInfo(
        (recipient.person.timezone if recipient.person else None) or settings.organisation.timezone
    )
    local = now.astimezone(zone)
    send_at = datetime.combine(local.date(), settings.cadence.send_time, tzinfo=zone)
    if send_at <= local:
        send_at = datetime.combine(
            local.date() + timedelta(days=1), settings.cadence.send_time, tzinfo=zone
        )
    return send_at.astimezone(UTC)


def _mark_steps(session: Session, steps: dict[int, int]) -> None:
    if not steps:
        return
    table = Assignment.__table__  # type: ignore[attr-defined]
    session.connection().execute(
        update(table)
        .where(table.c.id == bindparam("aid"))
        .values(
            ladder_step=bindparam("step"),
            ladder_next_on=None,
            ladder_next_due=None,
            ladder_wait_until=None,
        ),
        [{"aid": aid, "step": step} for aid, step in steps.items()],
    )


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


def _recipient_day(key: str) -> date:
    """The recipient's local date in an ``escalation:{who}:{date}`` key."""
    return date.fromisoformat(key.rsplit(":", 1)[1])


def _today_key(
    recipient: Recipient,
    *,
    now: datetime,
    settings: ProgramSettings,
    cache: dict[str, str | None],
) -> str | None:
    """The outbox key of ``recipient``'s DM today, or None if their window is not open."""
    zone = (
        recipient.person.timezone if recipient.person else None
    ) or settings.organisation.timezone
    if zone not in cache:
        windows = open_windows([zone], now=now, settings=settings)
        cache[zone] = windows[0].today.isoformat() if windows else None
    day = cache[zone]
    if day is None:
        return None
    who = recipient.person.id if recipient.person else ADMINS
    return f"escalation:{who}:{day}"


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
                recipient=recipient.person.slack_user_id or "",
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
    admins = session.execute(
        select(Person.id, Person.slack_user_id).where(
            Person.is_admin, Person.active, Person.slack_user_id.is_not(None)
        )
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
            recipient=slack_user_id,
            payload=payload,
            person_id=person_id,
            workspace_id=workspace,
            not_before=now,
        )
        for person_id, slack_user_id in admins
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
                "slack_user_id": learner.slack_user_id,
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
