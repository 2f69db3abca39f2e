"""Kudos: one person thanking another, told to the recipient and celebrated in public.

``give_kudos`` runs in the caller's transaction: it checks the request, stores a
``Kudos`` row (the game boards count them), leaves an audit entry and puts the messages
in the outbox in the same transaction, so a refused or failed request sends nothing.

Rules: the recipient is an active person learnbot knows, never the giver; a reason is
required (at most ``REASON_MAX`` characters); each giver may give
``settings.kudos.daily_quota`` kudos per day, counted on the giver's own local day (their
time zone, else the organisation's), so it resets at the giver's midnight. The public
post goes to ``channels.recognition`` only when that is configured and the recipient
allows public posts; a giver who keeps out of public posts is shown as "a colleague".
Outbox keys are ``kudos:{id}:post`` and ``kudos:{id}:dm``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import Session

from delivery.outbox import NewMessage, enqueue
from learning import audit
from learning.accounts import DELIVERY_PLATFORM, user_id_of
from learning.certifications import dm, zone_of
from learning.clock import Clock, local_date
from learning.curriculum import ProgramSettings
from learning.errors import LearnbotError
from learning.locks import lock_person
from learning.outbox_kinds import KUDOS_DM, KUDOS_POST, facts
from learning.plain_text import one_line
from models import DEFAULT_WORKSPACE, Kudos, Person, RecipientKind

REASON_MAX = 500


class KudosRefused(LearnbotError):
    """The kudos cannot be given; the message says why, in words for the giver."""


@dataclass(frozen=True)
class KudosGiven:
    kudos_id: int
    recipient: Person
    channel: str | None  # where it is posted; None when not posted in public
    left_today: int


def given_today(session: Session, giver_id: int, day: date) -> int:
    """How many kudos ``giver_id`` gave on their local ``day``."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Kudos)
            .where(Kudos.giver_id == giver_id, Kudos.giver_local_date == day)
        )
        or 0
    )


def give_kudos(
    session: Session,
    *,
    giver: Person,
    recipient: Person | None,
    reason: str,
    clock: Clock,
    settings: ProgramSettings,
) -> KudosGiven:
    """Give kudos from ``giver`` to ``recipient`` (the person the platform adapter found
    for the mention; None when it found nobody).

    Raises:
        KudosRefused: unknown or inactive recipient, self-kudos, no reason, a reason too
            long, or the giver's daily quota is used up (the message says when it resets).
    """
    assert giver.id is not None
    reason = one_line(reason)  # stored and shown on one line
    if not reason:
        raise KudosRefused("Say what the kudos are for: /learn kudos @someone for REASON")
    if len(reason) > REASON_MAX:
        raise KudosRefused(f"Keep the reason to {REASON_MAX} characters (it has {len(reason)}).")
    if recipient is None or not recipient.active:
        raise KudosRefused(
            "I don't know that person (or they have left), so I can't pass kudos on to them."
        )
    if recipient.id == giver.id:
        raise KudosRefused("Kudos are for thanking someone else — you can't give them to yourself.")
    quota = settings.kudos.daily_quota
    if quota == 0:
        raise KudosRefused("Kudos are switched off here (kudos.daily_quota is 0).")

    # Before counting: two requests at once (the command and the shortcut too) queue
    # here, and the second counts the first's kudos (``learning.locks``).
    lock_person(session, giver.id)
    now = clock.now()
    today = local_date(now, zone_of(giver, settings))
    count = _given_within_quota(session, giver, today=today, quota=quota, settings=settings)

    kudos = Kudos(
        giver_id=giver.id,
        recipient_id=recipient.id,
        reason=reason,
        given_at=now,
        giver_local_date=today,
    )
    session.add(kudos)
    session.flush()
    assert kudos.id is not None

    channel = settings.channels.recognition
    posted = channel if channel and recipient.public_posts else None
    messages = _kudos_messages(
        session, kudos.id, giver, recipient, reason=reason, posted=posted, now=now
    )
    enqueue(session, [m for m in messages if m is not None], now=now)
    audit.record(
        session,
        clock=clock,
        actor=giver.email,
        action="kudos.give",
        person_id=recipient.id,
        subject=recipient.email,
        reason=reason,
        details={
            "kudos_id": kudos.id,
            "giver_local_date": today.isoformat(),
            "posted": posted is not None,
        },
    )
    return KudosGiven(kudos.id, recipient, posted, quota - count - 1)


def _given_within_quota(
    session: Session, giver: Person, *, today: date, quota: int, settings: ProgramSettings
) -> int:
    """How many kudos ``giver`` gave on their ``today``; refused when that is the quota."""
    assert giver.id is not None
    count = given_today(session, giver.id, today)
    if count >= quota:
        zone = zone_of(giver, settings)
        tomorrow = today + timedelta(days=1)
        raise KudosRefused(
            f"You have given your {quota} kudos for today (the daily limit is {quota}). "
            f"It resets at midnight your time ({zone}): you can give more from "
            f"{tomorrow:%a} {tomorrow.day} {tomorrow:%b}."
        )
    return count


def _kudos_messages(
    session: Session,
    kudos_id: int,
    giver: Person,
    recipient: Person,
    *,
    reason: str,
    posted: str | None,
    now: datetime,
) -> list[NewMessage | None]:
    """The recognition-channel post (when ``posted``) and the recipient's DM."""
    giver_id = user_id_of(session, giver.id, DELIVERY_PLATFORM)
    recipient_id = user_id_of(session, recipient.id, DELIVERY_PLATFORM)
    messages: list[NewMessage | None] = []
    if posted:
        post = facts(
            KUDOS_POST,
            giver_name=giver.name if giver.public_posts else None,
            giver_slack_id=giver_id if giver.public_posts else None,
            recipient_name=recipient.name,
            recipient_slack_id=recipient_id,
            reason=reason,
        )
        messages.append(
            NewMessage(
                key=f"kudos:{kudos_id}:post",
                kind=post.kind,
                recipient_kind=RecipientKind.CHANNEL,
                recipient=posted,
                payload=post.values,
                workspace_id=recipient.workspace_id or DEFAULT_WORKSPACE,
                not_before=now,
            )
        )
    messages.append(
        dm(
            session,
            f"kudos:{kudos_id}:dm",
            recipient,
            facts(
                KUDOS_DM,
                giver_name=giver.name,
                giver_slack_id=giver_id,
                reason=reason,
                channel=posted,
            ),
            not_before=now,
        )
    )
    return messages
