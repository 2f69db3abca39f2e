"""The certification job: recertification windows, lapses, and failed public posts.

Each tick, as of ``clock.now()``, for the newest award of each active person and active
certification:

* **Window.** From ``expires_at - recertify_window`` on (a calendar period, counted in
  the holder's time zone), the certification's items are assigned again as a new round
  (``Assignment.cycle = award.cycle + 1``, required, due on the expiry date in the
  holder's calendar, no tier: enrollment never closes them), so the daily digest and
  the escalation ladder take them up like any required item.
  The holder gets one DM (``cert_window:{award_id}``) in their next send window.
  Completing the round renews the certification (``learning.certifications``).
* **Lapse.** From ``expires_at + grace`` (calendar) without a renewal the award gets
  ``lapsed_at`` (that instant) and holder and manager are told
  (``cert_lapsed:{award_id}:holder`` and ``:manager``), each in their own next send
  window. An award recorded from history after it had run out is lapsed silently when
  it is recorded (``learning.certifications``), so this job never tells of it. The
  lapse is a guarded update under the person's lock, so it never races a renewal that
  lands at the same moment.

It also tells the admins (``channels.admins``, else the learnbot admins by DM) about each
public post (shout-out, milestone) the sender gave up on, e.g. ``not_in_channel`` when
learnbot was never invited to the recognition channel: key ``post_failed:{outbox_id}``.

Safe to run any number of times: assignments are unique per round, outbox keys are
unique, and a lapse is set once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import aliased
from sqlmodel import Session

from delivery.outbox import NewMessage, enqueue
from learning import audit
from learning import outbox_kinds as kinds
from learning.accounts import DELIVERY_PLATFORM, user_id_column, user_id_of
from learning.award_rules import lapses_at
from learning.certifications import (
    ACTOR,
    CertificationRule,
    Standing,
    certification_rules,
    dm,
    insert_ignoring_conflict,
    lock_person,
    next_send_at,
    reachable_manager,
    standing,
    zone_of,
)
from learning.clock import Clock, local_date
from learning.curriculum import ProgramSettings
from learning.outbox_kinds import facts
from learning.paths import current_settings
from learning.recertification import (
    lapse_horizon,
    lapses_due,
    newest_rounds,
    round_assignments,
    window_horizon,
    windows_open,
)
from models import (
    DEFAULT_WORKSPACE,
    Assignment,
    CertificationAward,
    OutboxMessage,
    OutboxStatus,
    Person,
    RecipientKind,
)
from models.db import Database

log = logging.getLogger(__name__)

PUBLIC_POST_KEYS = ("cert_award:%:shoutout", "milestone:%")
AWARDS_PER_TRANSACTION = 200
"""Windows opened or awards lapsed per transaction: each award's writes commit with its
messages, and the job commits between chunks so no write holds the lock for long."""


@dataclass
class CertPlan:
    """What one pass of the certification job did."""

    windows_opened: int = 0  # awards whose recertification round was assigned now
    assignments: int = 0  # recertification assignments created
    lapsed: int = 0
    messages: int = 0  # DMs and admin notices enqueued
    failed_posts: int = 0  # failed public posts the admins were told about now

    def summary(self) -> str:
        return (
            f"certifications: {self.windows_opened} recertification windows opened "
            f"({self.assignments} items assigned), {self.lapsed} lapsed, "
            f"{self.failed_posts} failed public posts reported, {self.messages} messages"
        )

    def __bool__(self) -> bool:
        return bool(self.windows_opened or self.lapsed or self.messages or self.failed_posts)


def plan_certifications(database: Database, clock: Clock) -> CertPlan:
    """Open recertification windows, lapse expired awards, report failed public posts."""
    plan = CertPlan()
    with database.session() as session:
        batches = database.batches(session)
        settings = current_settings(session)
        if settings is None:
            return plan
        rules = certification_rules(session)
        if rules:
            _open_windows(
                session, rules, clock=clock, settings=settings, plan=plan, commit=batches.commit
            )
            batches.commit()  # each part reads before it writes: no lock held over reads
            _lapse(session, rules, clock=clock, settings=settings, plan=plan, commit=batches.commit)
            batches.commit()
        _report_failed_posts(session, clock=clock, settings=settings, plan=plan)
    if plan:
        log.info(plan.summary())
    return plan


def _newest_awards(
    session: Session, rules: dict[int, CertificationRule], *, expiring_by: datetime
) -> list[tuple[CertificationAward, Person]]:
    """Newest, unlapsed awards of active certifications and people, expiring by then."""
    award = CertificationAward
    newer = aliased(CertificationAward)
    rows = session.execute(
        select(award, Person)
        .join(Person, Person.id == award.person_id)
        .where(
            award.certification_id.in_(list(rules)),  # type: ignore[attr-defined]
            award.lapsed_at.is_(None),  # type: ignore[union-attr]
            award.expires_at.is_not(None),  # type: ignore[union-attr]
            award.expires_at <= expiring_by,  # type: ignore[operator]
            Person.active,
            ~select(newer.id)
            .where(
                newer.person_id == award.person_id,
                newer.certification_id == award.certification_id,
                newer.cycle > award.cycle,
            )
            .exists(),
        )
        .order_by(award.expires_at, award.id)
    ).all()
    return [(row[0], row[1]) for row in rows]


# --- windows -------------------------------------------------------------------------------


def _open_windows(
    session: Session,
    rules: dict[int, CertificationRule],
    *,
    clock: Clock,
    settings: ProgramSettings,
    plan: CertPlan,
    commit: Callable[[], None],
) -> None:
    now = clock.now()
    candidates = _newest_awards(session, rules, expiring_by=window_horizon(rules, now=now))
    due = windows_open(candidates, rules, settings=settings, now=now)
    if not due:
        return
    newest_round = _newest_rounds(session, rules, {person.id for _, person in due})
    told = _existing_keys(session, {f"cert_window:{award.id}" for award, _ in due})
    messages: list[NewMessage] = []
    for count, (award, person) in enumerate(due, 1):
        if count % AWARDS_PER_TRANSACTION == 0:  # short writes: see AWARDS_PER_TRANSACTION
            plan.messages += enqueue(session, messages, now=now)
            messages = []
            commit()
        assert award.expires_at is not None and person.id is not None
        rule = rules[award.certification_id]
        _assign_round(
            session, award, person, rule, newest_round, clock=clock, settings=settings, plan=plan
        )
        if f"cert_window:{award.id}" in told:
            continue
        message = _window_dm(session, award, person, rule, now=now, settings=settings)
        if message is not None:
            messages.append(message)
    if messages:
        plan.messages += enqueue(session, messages, now=now)


def _newest_rounds(
    session: Session, rules: dict[int, CertificationRule], person_ids: set[int | None]
) -> dict[tuple[int, int], int]:
    """The newest round assigned per (person, item) of ``person_ids`` and the rules' items."""
    item_ids = {r.item_id for rule in rules.values() for r in rule.requirements}
    rows = session.execute(
        select(Assignment.person_id, Assignment.item_id, Assignment.cycle).where(
            Assignment.person_id.in_(list(person_ids)),  # type: ignore[attr-defined]
            Assignment.item_id.in_(list(item_ids)),  # type: ignore[attr-defined]
        )
    )
    return newest_rounds((person_id, item_id, cycle) for person_id, item_id, cycle in rows)


def _existing_keys(session: Session, keys: set[str]) -> set[str]:
    """Those of ``keys`` already in the outbox."""
    return set(
        session.scalars(
            select(OutboxMessage.key).where(
                OutboxMessage.key.in_(list(keys))  # type: ignore[attr-defined]
            )
        )
    )


def _assign_round(
    session: Session,
    award: CertificationAward,
    person: Person,
    rule: CertificationRule,
    newest_round: dict[tuple[int, int], int],
    *,
    clock: Clock,
    settings: ProgramSettings,
    plan: CertPlan,
) -> None:
    """Assign the award's recertification round (the items not assigned yet), audited."""
    assert award.expires_at is not None and person.id is not None
    cycle = award.cycle + 1
    due_on = local_date(award.expires_at, zone_of(person, settings))
    rows = round_assignments(
        rule,
        person_id=person.id,
        cycle=cycle,
        due_on=due_on,
        newest_round=newest_round,
        now=clock.now(),
    )
    created = insert_ignoring_conflict(
        session,
        Assignment.__table__,  # type: ignore[attr-defined]
        rows,
        index_elements=("person_id", "item_id", "cycle"),
    )
    if not created:
        return
    plan.windows_opened += 1
    plan.assignments += len(created)
    audit.record(
        session,
        clock=clock,
        actor=ACTOR,
        action="certification.window",
        person_id=person.id,
        subject=rule.key,
        details={
            "award_id": award.id,
            "cycle": cycle,
            "due": due_on.isoformat(),
            "assignments": created,
        },
    )


def _window_dm(
    session: Session,
    award: CertificationAward,
    person: Person,
    rule: CertificationRule,
    *,
    now: datetime,
    settings: ProgramSettings,
) -> NewMessage | None:
    """The holder's "your recertification window is open" DM, in their next send window."""
    zone = zone_of(person, settings)
    send_at = next_send_at(now, zone, settings)
    return dm(
        session,
        f"cert_window:{award.id}",
        person,
        facts(
            kinds.CERT_WINDOW,
            name=person.name,
            title=rule.title,
            standing=_standing(award, rule, zone),
            today=local_date(send_at, zone),  # "expires in N days" as read that morning
            requirements=rule.requirements,
        ),
        not_before=send_at,
    )


def _standing(award: CertificationAward, rule: CertificationRule, zone: str) -> Standing:
    return standing(
        title=rule.title,
        key=rule.key,
        certification_id=rule.id,
        cycle=award.cycle,
        awarded_at=award.awarded_at,
        expires_at=award.expires_at,
        lapsed_at=award.lapsed_at,
        window=rule.window,
        grace=rule.grace,
        zone=zone,
    )


# --- lapses ----------------------------------------------------------------------------------


def _lapse(
    session: Session,
    rules: dict[int, CertificationRule],
    *,
    clock: Clock,
    settings: ProgramSettings,
    plan: CertPlan,
    commit: Callable[[], None],
) -> None:
    now = clock.now()
    candidates = _newest_awards(session, rules, expiring_by=lapse_horizon(rules, now=now))
    due = lapses_due(candidates, rules, settings=settings, now=now)
    for count, (award, person) in enumerate(due, 1):
        if count % AWARDS_PER_TRANSACTION == 0:
            commit()
        assert award.expires_at is not None and person.id is not None
        rule = rules[award.certification_id]
        lapsed_at = lapses_at(rule, award.expires_at, zone_of(person, settings))
        lock_person(session, person.id)
        if not _set_lapsed(session, award, lapsed_at):
            continue
        plan.lapsed += 1
        audit.record(
            session,
            clock=clock,
            actor=ACTOR,
            action="certification.lapse",
            person_id=person.id,
            subject=rule.key,
            reason=f"not renewed by {lapsed_at:%Y-%m-%d %H:%M} UTC",
            details={"award_id": award.id, "cycle": award.cycle},
        )
        messages = [_lapsed_holder_dm(session, award, person, rule, now=now, settings=settings)]
        manager = reachable_manager(session, person)
        if manager is not None:
            messages.append(
                _lapsed_manager_dm(
                    session, award, person, manager, rule, now=now, settings=settings
                )
            )
        plan.messages += enqueue(session, [m for m in messages if m is not None], now=now)


def _set_lapsed(session: Session, award: CertificationAward, lapsed_at: datetime) -> bool:
    """Lapse ``award`` at ``lapsed_at``, guarded: not lapsed already, and no renewal
    committed in the meantime. Whether it lapsed now."""
    table = CertificationAward.__table__  # type: ignore[attr-defined]
    newer = aliased(CertificationAward)
    result = session.execute(
        update(table)
        .where(
            table.c.id == award.id,
            table.c.lapsed_at.is_(None),
            ~select(newer.id)
            .where(
                newer.person_id == table.c.person_id,
                newer.certification_id == table.c.certification_id,
                newer.cycle > table.c.cycle,
            )
            .exists(),
        )
        .values(lapsed_at=lapsed_at)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    award.lapsed_at = lapsed_at
    return True


def _lapsed_holder_dm(
    session: Session,
    award: CertificationAward,
    person: Person,
    rule: CertificationRule,
    *,
    now: datetime,
    settings: ProgramSettings,
) -> NewMessage | None:
    """The holder's "your certification lapsed" DM, in their next send window."""
    zone = zone_of(person, settings)
    return dm(
        session,
        f"cert_lapsed:{award.id}:holder",
        person,
        facts(
            kinds.CERT_LAPSED_HOLDER,
            name=person.name,
            title=rule.title,
            standing=_standing(award, rule, zone),
            today=local_date(now, zone),
        ),
        not_before=next_send_at(now, zone, settings),
    )


def _lapsed_manager_dm(
    session: Session,
    award: CertificationAward,
    person: Person,
    manager: Person,
    rule: CertificationRule,
    *,
    now: datetime,
    settings: ProgramSettings,
) -> NewMessage | None:
    """The manager's "their certification lapsed" DM, in the manager's next send window."""
    zone = zone_of(person, settings)
    return dm(
        session,
        f"cert_lapsed:{award.id}:manager",
        manager,
        facts(
            kinds.CERT_LAPSED_MANAGER,
            manager_name=manager.name,
            holder_name=person.name,
            holder_slack_id=user_id_of(session, person.id, DELIVERY_PLATFORM),
            title=rule.title,
            standing=_standing(award, rule, zone),
            today=local_date(now, zone),
        ),
        not_before=next_send_at(now, zone_of(manager, settings), settings),
    )


# --- failed public posts -------------------------------------------------------------------


def _report_failed_posts(
    session: Session, *, clock: Clock, settings: ProgramSettings, plan: CertPlan
) -> None:
    """Tell the admins once about each public post the sender gave up on."""
    failed = _failed_public_posts(session)
    if not failed:
        return
    told_ids = {
        int(key.split(":")[1])
        for key in session.scalars(
            select(OutboxMessage.key).where(
                OutboxMessage.key.like("post_failed:%")  # type: ignore[attr-defined]
            )
        )
    }
    now = clock.now()
    admins: list[tuple[int, str]] | None = None
    messages: list[NewMessage] = []
    for row in failed:
        if row.id in told_ids:
            continue
        to_channel = bool(settings.channels.admins and settings.channels.admins != row.recipient)
        if not to_channel and admins is None:
            admins = _admin_dms(session)
        row_messages = _post_failed_messages(row, settings=settings, admins=admins or [], now=now)
        if not row_messages:
            log.warning(
                "public post %s failed (%s) and there is no admins channel or admin "
                "to tell; see `python bot.py outbox --status failed`",
                row.key,
                row.last_error,
            )
            continue
        messages.extend(row_messages)
        plan.failed_posts += 1
    if messages:
        plan.messages += enqueue(session, messages, now=now)


def _failed_public_posts(session: Session) -> list[Any]:
    """The public posts (shout-outs, milestones) the sender gave up on."""
    return list(
        session.execute(
            select(
                OutboxMessage.id,
                OutboxMessage.key,
                OutboxMessage.recipient,
                OutboxMessage.last_error,
                OutboxMessage.workspace_id,
            ).where(
                OutboxMessage.status == OutboxStatus.FAILED,
                or_(*(OutboxMessage.key.like(p) for p in PUBLIC_POST_KEYS)),  # type: ignore[attr-defined]
            )
        ).all()
    )


def _admin_dms(session: Session) -> list[tuple[int, str]]:
    """(person id, chat user id) of the active learnbot admins on the delivery platform."""
    chat_id = user_id_column(DELIVERY_PLATFORM)
    return [
        (person_id, user_id)
        for person_id, user_id in session.execute(
            select(Person.id, chat_id).where(Person.is_admin, Person.active, chat_id.is_not(None))
        )
    ]


def _post_failed_messages(
    row: Any, *, settings: ProgramSettings, admins: list[tuple[int, str]], now: datetime
) -> list[NewMessage]:
    """The admins' notice of one failed public post: in ``channels.admins`` (unless the
    post failed there), else a DM to each admin; none when there is nobody to tell."""
    message = facts(
        kinds.POST_FAILED,
        outbox_id=row.id,
        key=row.key,
        channel=row.recipient,
        error=row.last_error or "failed",
    )
    workspace = row.workspace_id or DEFAULT_WORKSPACE
    channel = settings.channels.admins
    if channel and channel != row.recipient:
        return [
            NewMessage(
                key=f"post_failed:{row.id}",
                kind=message.kind,
                recipient_kind=RecipientKind.CHANNEL,
                recipient=channel,
                payload=message.values,
                workspace_id=workspace,
                not_before=now,
            )
        ]
    return [
        NewMessage(
            key=f"post_failed:{row.id}:{person_id}",
            kind=message.kind,
            recipient_kind=RecipientKind.PERSON,
            recipient=user_id,
            payload=message.values,
            person_id=person_id,
            workspace_id=workspace,
            not_before=now,
        )
        for person_id, user_id in admins
    ]
