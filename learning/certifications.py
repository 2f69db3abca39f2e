"""Certifications: award them the moment their requirements are met, and read them out.

``check_awards`` runs in the caller's transaction right after a completion is recorded
(``learning.completions.record_completion``, which every completion path goes through:
the Done button, ``/learn done``, ``import-completions``, admin actions). For each active
certification whose requirements the person now meets it inserts one
``CertificationAward`` row and, in the same transaction, puts the notifications in the
outbox: a congratulation DM to the holder, a note to their manager, and (first award
only) a shout-out in the recognition channel. It also posts the "finished their first
tier" milestone.

Rounds. ``CertificationAward.cycle`` and ``Assignment.cycle`` count the same rounds: the
first award (cycle 0) is earned by completing the items on the path (any cycle); when a
holder's recertification window opens, ``schedules.certifications`` assigns the items
again as cycle ``award.cycle + 1``, and completing those (cycle >= that round) earns the
renewal, a new award row of that cycle. A requirement with ``min_score`` needs the
completion's (best) score to be at least that.

Exactly once. Two completions of one person arriving at the same time must award once:
``check_awards`` first locks the person's row (``FOR NO KEY UPDATE`` on PostgreSQL; on
SQLite the transaction already holds the database's write lock after the completion was
written), so two checks for one person run one after the other and the second sees the
first's completion. The award row itself goes in with ``INSERT ... ON CONFLICT DO
NOTHING`` on ``(person, certification, cycle)``, and only the transaction that inserted
it enqueues notifications; outbox keys (``cert_award:{award_id}:holder|manager|shoutout``)
are unique as well.

Public posts only ever carry good news, never name someone who opted out
(``Person.public_posts``, ``/learn privacy private``), and are skipped for news that is
old by the time it arrives (an LMS history import): only when the latest completion that
led to it is at most ``ANNOUNCE_WITHIN`` old.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased
from sqlmodel import Session

from delivery.outbox import NewMessage, enqueue
from learning import audit
from learning.clock import Clock, local_date
from learning.curriculum import ProgramSettings
from messages import certifications as text
from messages.rendered import RenderedMessage
from models import (
    DEFAULT_WORKSPACE,
    Assignment,
    AssignmentStatus,
    Certification,
    CertificationAward,
    CertificationRequirement,
    CompletionEvent,
    Item,
    OutboxMessage,
    Person,
    Program,
    Tier,
    TierItem,
    status_by_person,
)

ACTOR = "learnbot"
KIND_TEXT = "text"
# Public posts are for news: a certification earned by completions this recent.
ANNOUNCE_WITHIN = timedelta(days=7)

FIRST, RENEWAL, REGAINED = "first", "renewal", "regained"


# --- the rules in force -------------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    """One item a certification needs, with the catalogue facts its messages show."""

    item_id: int
    key: str
    title: str
    method: str
    minutes: int
    min_score: float | None = None


@dataclass(frozen=True)
class CertificationRule:
    """An active certification and its requirements (active items only)."""

    id: int
    key: str
    title: str
    valid_days: int
    window_days: int
    grace_days: int
    requirements: tuple[Requirement, ...]

    @property
    def minutes(self) -> int:
        return sum(r.minutes for r in self.requirements)


def certification_rules(session: Session) -> dict[int, CertificationRule]:
    """Every active certification with at least one active requirement, by id."""
    requirements: dict[int, list[Requirement]] = defaultdict(list)
    certs: dict[int, Any] = {}
    for row in session.execute(
        select(
            Certification.id,
            Certification.key,
            Certification.title,
            Certification.valid_days,
            Certification.recertify_window_days,
            Certification.grace_days,
            Item.id.label("item_id"),  # type: ignore[union-attr]
            Item.key.label("item_key"),
            Item.title.label("item_title"),
            Item.method,
            Item.minutes,
            CertificationRequirement.min_score,
        )
        .join(
            CertificationRequirement,
            CertificationRequirement.certification_id == Certification.id,
        )
        .join(Item, Item.id == CertificationRequirement.item_id)
        .where(Certification.active, Item.active)
        .order_by(Certification.id, Item.id)
    ):
        certs[row.id] = row
        requirements[row.id].append(
            Requirement(
                row.item_id, row.item_key, row.item_title, row.method, row.minutes, row.min_score
            )
        )
    return {
        cert_id: CertificationRule(
            cert_id,
            row.key,
            row.title,
            row.valid_days,
            row.recertify_window_days,
            row.grace_days,
            tuple(requirements[cert_id]),
        )
        for cert_id, row in certs.items()
    }


# --- awarding -------------------------------------------------------------------------


@dataclass(frozen=True)
class Award:
    """A certification awarded just now (the row was inserted by this transaction)."""

    id: int
    person_id: int
    certification_id: int
    certification_key: str
    title: str
    cycle: int
    awarded_at: datetime
    expires_at: datetime | None
    kind: str  # FIRST, RENEWAL (extends a held one) or REGAINED (after it lapsed)


def check_awards(
    session: Session, *, person_id: int, clock: Clock, settings: ProgramSettings
) -> list[Award]:
    """Award every certification ``person_id`` now meets, and post the first-tier milestone.

    Call it right after a completion is flushed, in the same transaction. Safe to call
    any number of times: a certification is awarded once per round (see the module
    docstring for how concurrent calls are kept apart).

    Returns:
        The awards this call inserted (and notified).
    """
    lock_person(session, person_id)
    person = session.get(Person, person_id)
    if person is None:
        return []
    rules = certification_rules(session)
    awards: list[Award] = []
    if rules:
        item_ids = {r.item_id for rule in rules.values() for r in rule.requirements}
        done = _completed(session, person_id, item_ids)
        latest = latest_awards(session, person_id)
        for rule in rules.values():
            previous = latest.get(rule.id)
            cycle = 0 if previous is None else previous.cycle + 1
            if not requirements_met(rule, done, cycle):
                continue
            award = _award(session, person, rule, previous, cycle, clock=clock)
            if award is None:
                continue  # another transaction inserted this round first: it notifies
            awards.append(award)
            _notify_award(session, person, rule, award, clock=clock, settings=settings)
    _check_milestone(session, person, clock=clock, settings=settings)
    return awards


def lock_person(session: Session, person_id: int) -> None:
    """Serialise certification work on one person until the transaction ends.

    ``SELECT ... FOR NO KEY UPDATE`` on PostgreSQL (it does not block the key-share locks
    foreign keys take, so inserting rows that point at the person still works). SQLite
    has no row locks and needs none: a writing transaction holds the database's lock.
    """
    session.execute(select(Person.id).where(Person.id == person_id).with_for_update(key_share=True))


def _completed(
    session: Session, person_id: int, item_ids: Collection[int]
) -> dict[int, list[tuple[int, float | None]]]:
    """The person's completed assignments of ``item_ids``: item -> [(cycle, score)].

    Plain columns, not ORM objects, so a stale object in the session's identity map can
    never hide a completion another transaction committed.
    """
    done: dict[int, list[tuple[int, float | None]]] = defaultdict(list)
    for item_id, cycle, score in session.execute(
        select(Assignment.item_id, Assignment.cycle, Assignment.score).where(
            Assignment.person_id == person_id,
            status_by_person() == AssignmentStatus.COMPLETED,
            Assignment.item_id.in_(list(item_ids)),  # type: ignore[attr-defined]
        )
    ):
        done[item_id].append((cycle, score))
    return done


def requirements_met(
    rule: CertificationRule, done: dict[int, list[tuple[int, float | None]]], cycle: int
) -> bool:
    """Whether round ``cycle`` of ``rule`` is met by completions ``done`` (``_completed``).

    Each requirement needs a completed assignment of its item of round ``cycle`` or later,
    with at least ``min_score`` when one is set.
    """

    def ok(requirement: Requirement) -> bool:
        for round_, score in done.get(requirement.item_id, ()):
            if round_ < cycle:
                continue
            if requirement.min_score is None or (
                score is not None and score >= requirement.min_score
            ):
                return True
        return False

    return bool(rule.requirements) and all(ok(r) for r in rule.requirements)


@dataclass(frozen=True)
class _AwardRow:
    id: int
    cycle: int
    awarded_at: datetime
    expires_at: datetime | None
    lapsed_at: datetime | None


def latest_awards(session: Session, person_id: int) -> dict[int, _AwardRow]:
    """The person's newest award (highest cycle) of each certification, by certification id."""
    latest: dict[int, _AwardRow] = {}
    for row in session.execute(
        select(
            CertificationAward.certification_id,
            CertificationAward.id,
            CertificationAward.cycle,
            CertificationAward.awarded_at,
            CertificationAward.expires_at,
            CertificationAward.lapsed_at,
        )
        .where(CertificationAward.person_id == person_id)
        .order_by(CertificationAward.cycle)
    ):
        latest[row.certification_id] = _AwardRow(
            row.id, row.cycle, row.awarded_at, row.expires_at, row.lapsed_at
        )
    return latest


def _award(
    session: Session,
    person: Person,
    rule: CertificationRule,
    previous: _AwardRow | None,
    cycle: int,
    *,
    clock: Clock,
) -> Award | None:
    """Insert round ``cycle``'s award; None if it was there already (someone else's)."""
    now = clock.now()
    valid = timedelta(days=rule.valid_days)
    if previous is None:
        kind, expires_at = FIRST, now + valid
    elif previous.lapsed_at is not None or (
        previous.expires_at is not None
        and now >= previous.expires_at + timedelta(days=rule.grace_days)
    ):
        kind, expires_at = REGAINED, now + valid
    else:
        # Renewing early never loses time: the new period starts where the old one ends.
        kind, expires_at = RENEWAL, (previous.expires_at or now) + valid
    assert person.id is not None
    inserted = insert_ignoring_conflict(
        session,
        CertificationAward.__table__,  # type: ignore[attr-defined]
        [
            {
                "person_id": person.id,
                "certification_id": rule.id,
                "cycle": cycle,
                "awarded_at": now,
                "expires_at": expires_at,
                "lapsed_at": None,
            }
        ],
        index_elements=("person_id", "certification_id", "cycle"),
    )
    if not inserted:
        return None
    award_id = inserted[0]
    if kind == REGAINED and previous is not None and previous.lapsed_at is None:
        # It ran out before the lapse job saw it: the history says it lapsed.
        assert previous.expires_at is not None
        session.execute(
            update(CertificationAward)
            .where(
                CertificationAward.id == previous.id,
                CertificationAward.lapsed_at.is_(None),  # type: ignore[union-attr]
            )
            .values(lapsed_at=previous.expires_at + timedelta(days=rule.grace_days))
        )
    audit.record(
        session,
        clock=clock,
        actor=ACTOR,
        action={FIRST: "certification.award", RENEWAL: "certification.renew"}.get(
            kind, "certification.regain"
        ),
        person_id=person.id,
        subject=rule.key,
        details={"award_id": award_id, "cycle": cycle, "expires_at": expires_at.isoformat()},
    )
    return Award(award_id, person.id, rule.id, rule.key, rule.title, cycle, now, expires_at, kind)


def insert_ignoring_conflict(
    session: Session, table: Any, rows: list[dict[str, Any]], *, index_elements: Iterable[str]
) -> list[int]:
    """``INSERT ... ON CONFLICT (index_elements) DO NOTHING RETURNING id``: the new ids."""
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement: Any = postgresql.insert(table)
    elif dialect == "sqlite":
        statement = sqlite.insert(table)
    else:  # pragma: no cover - learnbot runs on PostgreSQL and SQLite
        raise NotImplementedError(f"learnbot supports PostgreSQL and SQLite, not {dialect}")
    statement = statement.on_conflict_do_nothing(index_elements=list(index_elements)).returning(
        table.c.id
    )
    return [row[0] for row in session.execute(statement, rows).all()]


# --- notifications -----------------------------------------------------------------------


def zone_of(person: Person, settings: ProgramSettings) -> str:
    return person.timezone or settings.organisation.timezone


def reachable_manager(session: Session, person: Person) -> Person | None:
    """The person's direct manager, if they have one who is active and on Slack."""
    if person.manager_id is None or person.manager_id == person.id:
        return None
    manager = session.get(Person, person.manager_id)
    if manager is None or not manager.active or not manager.slack_user_id:
        return None
    return manager


def next_send_at(now: datetime, zone: str, settings: ProgramSettings) -> datetime:
    """The first instant from ``now`` inside the send window of a working day in ``zone``.

    Notices a job decides (a window opening, a lapse) wait for the person's morning, like
    the digest; ``now`` itself when the window is open.
    """
    tz = ZoneInfo(zone)
    cadence = settings.cadence
    calendar = settings.calendar_for(zone)
    local = now.astimezone(tz)
    for offset in range(31):
        day = local.date() + timedelta(days=offset)
        if not calendar.is_working_day(day):
            continue
        start = datetime.combine(day, cadence.send_time, tzinfo=tz)
        if local < start:
            return start.astimezone(UTC)
        if local < start + timedelta(minutes=cadence.send_window):
            return now
    return now


def dm(
    key: str, person: Person, message: RenderedMessage, *, not_before: datetime
) -> NewMessage | None:
    """A DM to ``person`` (None when they cannot be reached: inactive or not on Slack)."""
    if not person.active or not person.slack_user_id:
        return None
    return NewMessage(
        key=key,
        kind=KIND_TEXT,
        channel=person.slack_user_id,
        text=message.text,
        payload=message.payload(),
        person_id=person.id,
        workspace_id=person.workspace_id or DEFAULT_WORKSPACE,
        not_before=not_before,
    )


def _post(
    key: str, channel: str, message: RenderedMessage, *, workspace_id: str, now: datetime
) -> NewMessage:
    return NewMessage(
        key=key,
        kind=KIND_TEXT,
        channel=channel,
        text=message.text,
        payload=message.payload(),
        workspace_id=workspace_id or DEFAULT_WORKSPACE,
        not_before=now,
    )


def _recent(session: Session, person_id: int, item_ids: Collection[int], now: datetime) -> bool:
    """Whether the newest completion of these items is news (at most ANNOUNCE_WITHIN old)."""
    newest = session.scalar(
        select(func.max(CompletionEvent.completed_at)).where(
            CompletionEvent.person_id == person_id,
            CompletionEvent.item_id.in_(list(item_ids)),  # type: ignore[attr-defined]
        )
    )
    if newest is None:
        return False
    if newest.tzinfo is None:  # aggregates bypass the column type on SQLite
        newest = datetime.fromisoformat(str(newest)).replace(tzinfo=UTC)
    return newest >= now - ANNOUNCE_WITHIN


def _notify_award(
    session: Session,
    person: Person,
    rule: CertificationRule,
    award: Award,
    *,
    clock: Clock,
    settings: ProgramSettings,
) -> None:
    now = clock.now()
    zone = zone_of(person, settings)
    today = local_date(now, zone)
    held = standing(
        title=rule.title,
        key=rule.key,
        certification_id=rule.id,
        cycle=award.cycle,
        awarded_at=award.awarded_at,
        expires_at=award.expires_at,
        lapsed_at=None,
        window_days=rule.window_days,
        grace_days=rule.grace_days,
        zone=zone,
    )
    messages: list[NewMessage | None] = [
        dm(
            f"cert_award:{award.id}:holder",
            person,
            text.award_holder_message(
                name=person.name,
                title=rule.title,
                kind=award.kind,
                standing=held,
                today=today,
                public=_announces(person, settings),
                channel=settings.channels.recognition,
            ),
            not_before=now,
        )
    ]
    manager = reachable_manager(session, person)
    if manager is not None:
        messages.append(
            dm(
                f"cert_award:{award.id}:manager",
                manager,
                text.award_manager_message(
                    manager_name=manager.name,
                    holder_name=person.name,
                    holder_slack_id=person.slack_user_id,
                    title=rule.title,
                    kind=award.kind,
                    standing=held,
                    today=today,
                ),
                not_before=now,
            )
        )
    channel = settings.channels.recognition
    if (
        award.kind == FIRST
        and channel
        and _announces(person, settings)
        and _recent(session, award.person_id, [r.item_id for r in rule.requirements], now)
    ):
        messages.append(
            _post(
                f"cert_award:{award.id}:shoutout",
                channel,
                text.shoutout_message(
                    name=person.name,
                    slack_user_id=person.slack_user_id,
                    title=rule.title,
                    requirements=rule.requirements,
                ),
                workspace_id=person.workspace_id,
                now=now,
            )
        )
    enqueue(session, [m for m in messages if m is not None], now=now)


def _announces(person: Person, settings: ProgramSettings) -> bool:
    """Whether good news about ``person`` may go in the recognition channel at all."""
    return bool(settings.channels.recognition and person.active and person.public_posts)


# --- the first-tier milestone ----------------------------------------------------------


def milestone_key(person_id: int, tier_id: int) -> str:
    return f"milestone:{person_id}:{tier_id}"


def _check_milestone(
    session: Session, person: Person, *, clock: Clock, settings: ProgramSettings
) -> bool:
    """Post "finished their first tier" once, when every required item of it is done.

    Waived items do not hold it back (as in ``TierLine.required_done``); at least one
    item must have been completed. Same rules as shout-outs: opt-out, recent news only.
    """
    channel = settings.channels.recognition
    if not channel or not _announces(person, settings):
        return False
    tier = session.execute(
        select(Tier.id, Tier.title, Program.title.label("program"))
        .join(Program, Program.id == Tier.program_id)
        .where(Program.role == person.role, Program.active, Tier.active)
        .order_by(Tier.position, Tier.id)
        .limit(1)
    ).first()
    if tier is None:
        return False
    assert person.id is not None
    key = milestone_key(person.id, tier.id)
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)) is not None:
        return False
    required = session.execute(
        select(Item.id, Item.minutes)
        .join(TierItem, TierItem.item_id == Item.id)
        .where(TierItem.tier_id == tier.id, TierItem.required)
    ).all()
    if not required:
        return False
    statuses: dict[int, list[str]] = defaultdict(list)
    for item_id, status in session.execute(
        select(Assignment.item_id, Assignment.status)
        .where(
            Assignment.person_id == person.id,
            Assignment.item_id.in_([row.id for row in required]),  # type: ignore[attr-defined]
        )
        .order_by(Assignment.cycle)
    ):
        statuses[item_id].append(status)
    completed = [row for row in required if AssignmentStatus.COMPLETED in statuses[row.id]]
    waived = [
        row
        for row in required
        if statuses[row.id] and statuses[row.id][-1] == AssignmentStatus.WAIVED
    ]
    if not completed or len(completed) + len(waived) < len(required):
        return False
    now = clock.now()
    if not _recent(session, person.id, [row.id for row in completed], now):
        return False
    message = text.milestone_message(
        name=person.name,
        slack_user_id=person.slack_user_id,
        tier_title=tier.title,
        program_title=tier.program,
        items=len(completed),
        minutes=sum(row.minutes for row in completed),
    )
    return bool(
        enqueue(
            session,
            [_post(key, channel, message, workspace_id=person.workspace_id, now=now)],
            now=now,
        )
    )


# --- read-outs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """Where someone stands with one certification (their newest award), in their dates.

    ``validity`` in ``messages.certifications`` turns it into "valid until D", "expires in
    N days" (inside the recertification window) or "lapsed on D".
    """

    title: str
    expires_on: date | None
    lapsed_on: date | None = None
    window_opens_on: date | None = None
    lapses_on: date | None = None  # expiry plus grace: when it lapses without renewal
    key: str = ""
    cycle: int = 0
    awarded_on: date | None = None
    certification_id: int | None = None

    @property
    def held(self) -> bool:
        return self.lapsed_on is None


def standing(
    *,
    title: str,
    key: str,
    certification_id: int | None,
    cycle: int,
    awarded_at: datetime,
    expires_at: datetime | None,
    lapsed_at: datetime | None,
    window_days: int,
    grace_days: int,
    zone: str,
) -> Standing:
    """A ``Standing`` from an award's instants, as dates in ``zone``."""
    return Standing(
        title=title,
        expires_on=local_date(expires_at, zone) if expires_at else None,
        lapsed_on=local_date(lapsed_at, zone) if lapsed_at else None,
        window_opens_on=local_date(expires_at - timedelta(days=window_days), zone)
        if expires_at
        else None,
        lapses_on=local_date(expires_at + timedelta(days=grace_days), zone) if expires_at else None,
        key=key,
        cycle=cycle,
        awarded_on=local_date(awarded_at, zone),
        certification_id=certification_id,
    )


def _latest_award_rows(session: Session, *, person_ids: Collection[int] | None = None) -> Any:
    award = CertificationAward
    newer = aliased(CertificationAward)
    query = (
        select(
            award.id,
            award.person_id,
            award.certification_id,
            award.cycle,
            award.awarded_at,
            award.expires_at,
            award.lapsed_at,
            Certification.key,
            Certification.title,
            Certification.recertify_window_days,
            Certification.grace_days,
        )
        .join(Certification, Certification.id == award.certification_id)
        .where(
            Certification.active,
            ~select(newer.id)
            .where(
                newer.person_id == award.person_id,
                newer.certification_id == award.certification_id,
                newer.cycle > award.cycle,
            )
            .exists(),
        )
    )
    if person_ids is not None:
        query = query.where(award.person_id.in_(list(person_ids)))  # type: ignore[attr-defined]
    return query


def _standing_of(row: Any, zone: str) -> Standing:
    """The ``Standing`` of one row of ``_latest_award_rows``, in ``zone``."""
    return standing(
        title=row.title,
        key=row.key,
        certification_id=row.certification_id,
        cycle=row.cycle,
        awarded_at=row.awarded_at,
        expires_at=row.expires_at,
        lapsed_at=row.lapsed_at,
        window_days=row.recertify_window_days,
        grace_days=row.grace_days,
        zone=zone,
    )


def person_certifications(
    session: Session, person: Person, *, settings: ProgramSettings
) -> list[Standing]:
    """The person's active certifications (held or lapsed), by title."""
    assert person.id is not None
    zone = zone_of(person, settings)
    standings = [
        _standing_of(row, zone)
        for row in session.execute(_latest_award_rows(session, person_ids=[person.id]))
    ]
    standings.sort(key=lambda s: (s.title.lower(), s.key))
    return standings


@dataclass(frozen=True)
class HolderLine:
    """One person's standing with one certification, for ``bot.py certs``."""

    email: str
    name: str
    team: str
    today: date  # the holder's local today
    standing: Standing


def list_holders(
    session: Session,
    *,
    clock: Clock,
    settings: ProgramSettings,
    expiring_within_days: int | None = None,
    workspace_id: str = DEFAULT_WORKSPACE,
) -> list[HolderLine]:
    """Active people's newest award of each active certification, soonest expiry first.

    With ``expiring_within_days``: only certifications not lapsed whose expiry is at most
    that many days away (including those already expired and in their grace period).
    """
    now = clock.now()
    rows = _latest_award_rows(session).subquery()
    query = (
        select(rows, Person.email, Person.name, Person.team, Person.timezone)
        .join(Person, Person.id == rows.c.person_id)
        .where(Person.active, Person.workspace_id == workspace_id)
    )
    if expiring_within_days is not None:
        query = query.where(
            rows.c.lapsed_at.is_(None),
            rows.c.expires_at.is_not(None),
            rows.c.expires_at <= now + timedelta(days=expiring_within_days),
        )
    lines = []
    for row in session.execute(query):
        zone = row.timezone or settings.organisation.timezone
        lines.append(
            HolderLine(
                row.email,
                row.name,
                row.team,
                local_date(now, zone),
                _standing_of(row, zone),
            )
        )
    lines.sort(
        key=lambda line: (
            line.standing.lapsed_on is None,  # lapsed first: they need attention
            line.standing.expires_on or date.max,
            line.standing.title.lower(),
            line.name.lower(),
            line.email,
        )
    )
    return lines


# --- privacy -------------------------------------------------------------------------------


def set_public_posts(session: Session, *, person: Person, public: bool, clock: Clock) -> bool:
    """Let learnbot name ``person`` in public posts (or not); False if nothing changed."""
    return audit.set_person_setting(
        session,
        person=person,
        field="public_posts",
        value=public,
        action="person.privacy",
        clock=clock,
    )
