"""Certifications: award them from the dates of the work, tell people, and read them out.

``check_awards`` runs in the caller's transaction after completions are recorded
(``learning.completions.record_completion``, which every completion path goes through:
the Done button, ``/learn done``, admin actions; ``import-completions`` checks each
person once after all their rows, and ``load-config`` checks everyone who may qualify
for a certification it added or changed). For each active certification it asks the
pure rules (``learning.award_rules``) which rounds the person's completions earn and
inserts one ``CertificationAward`` row per round: awarded at the instant the last
requirement was met (``completed_at``, not the day learnbot heard of it), valid for a
calendar period from there.

Telling. In the same transaction it puts the notifications in the outbox: a
congratulation DM to the holder, a note to their manager, and (first award only) a
shout-out in the recognition channel; and the "finished their first tier" milestone.
An award whose work is older than ``awards.silent_after`` (default 14 days: an LMS
history import, a certification added later) is recorded silently: no DM, no post. An
award from history that has already run out (expiry plus grace in the past) is recorded
as lapsed at once, silently too.

Exactly once. Two completions of one person arriving at the same time must award once:
``check_awards`` first locks the person's row (``FOR NO KEY UPDATE`` on PostgreSQL; on
SQLite the transaction already holds the database's write lock after the completion was
written), so two checks for one person run one after the other and the second sees the
first's completion. The award row itself goes in with ``INSERT ... ON CONFLICT DO
NOTHING`` on ``(person, certification, cycle)``, and only the transaction that inserted
it enqueues notifications; outbox keys (``cert_award:{award_id}:holder|manager|shoutout``)
are unique as well.

Public posts only ever carry good news and never name someone who opted out
(``Person.public_posts``, ``/learn privacy private``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased
from sqlmodel import Session

from delivery.outbox import NewMessage, enqueue
from learning import audit
from learning import outbox_kinds as kinds
from learning.accounts import DELIVERY_PLATFORM, user_id_of
from learning.award_rules import (
    FIRST,
    REGAINED,
    RENEWAL,
    TRUSTED_SCORE_SOURCES,
    CertificationRule,
    CompletionFact,
    PastAward,
    PlannedAward,
    Requirement,
    award_chain,
    lapses_at,
    only_self_reported,
)
from learning.clock import Clock, local_date
from learning.curriculum import ProgramSettings
from learning.outbox_kinds import Facts, facts
from learning.periods import Period, earlier, later
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
    RecipientKind,
    Tier,
    TierItem,
)

__all__ = [
    "FIRST",
    "REGAINED",
    "RENEWAL",
    "TRUSTED_SCORE_SOURCES",
    "CertificationRule",
    "Requirement",
]

ACTOR = "learnbot"


# --- the rules in force -------------------------------------------------------------


def certification_rules(session: Session) -> dict[int, CertificationRule]:
    """Every active certification with at least one active requirement, by id."""
    requirements: dict[int, list[Requirement]] = defaultdict(list)
    certs: dict[int, Any] = {}
    for row in session.execute(
        select(
            Certification.id,
            Certification.key,
            Certification.title,
            Certification.valid_months,
            Certification.valid_days,
            Certification.recertify_window_months,
            Certification.recertify_window_days,
            Certification.grace_months,
            Certification.grace_days,
            Item.id.label("item_id"),  # type: ignore[union-attr]
            Item.key.label("item_key"),
            Item.title.label("item_title"),
            Item.method,
            Item.minutes,
            CertificationRequirement.min_score,
            CertificationRequirement.self_reported_scores,
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
                row.item_id,
                row.item_key,
                row.item_title,
                row.method,
                row.minutes,
                row.min_score,
                bool(row.self_reported_scores),
            )
        )
    return {
        cert_id: CertificationRule(
            cert_id,
            row.key,
            row.title,
            Period(row.valid_months, row.valid_days),
            Period(row.recertify_window_months, row.recertify_window_days),
            Period(row.grace_months, row.grace_days),
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
    awarded_at: datetime  # when the last requirement was met: the work's date
    expires_at: datetime | None
    kind: str  # FIRST, RENEWAL (extends a held one) or REGAINED (after it lapsed)
    silent: bool = False  # old news: recorded without a DM or a post
    lapsed_at: datetime | None = None  # set when it had run out before it was recorded


def check_awards(
    session: Session,
    *,
    person_id: int,
    clock: Clock,
    settings: ProgramSettings,
    certification_ids: Collection[int] | None = None,
    milestone: bool = True,
    rules: dict[int, CertificationRule] | None = None,
) -> list[Award]:
    """Award every round of every certification ``person_id``'s completions earn.

    Call it after completions are flushed, in the same transaction. Safe to call any
    number of times: a certification is awarded once per round (see the module
    docstring for how concurrent calls are kept apart). Also posts the first-tier
    milestone (unless ``milestone`` is false).

    Args:
        certification_ids: Only these certifications (default: every active one).
        rules: ``certification_rules(session)``, when the caller checks many people.

    Returns:
        The awards this call inserted, oldest first (recent ones were notified).
    """
    lock_person(session, person_id)
    person = session.get(Person, person_id)
    if person is None:
        return []
    if rules is None:
        rules = certification_rules(session)
    if certification_ids is not None:
        rules = {cert_id: rule for cert_id, rule in rules.items() if cert_id in certification_ids}
    awards: list[Award] = []
    if rules:
        zone = zone_of(person, settings)
        item_ids = {r.item_id for rule in rules.values() for r in rule.requirements}
        facts = completion_facts(session, person_id, item_ids)
        rounds = rounds_assigned(session, person_id, item_ids)
        latest = latest_awards(session, person_id)
        now = clock.now()
        quiet_before = earlier(now, settings.awards.silent_after, zone)
        for rule in rules.values():
            newest = latest.get(rule.id)
            previous = (
                None
                if newest is None
                else PastAward(newest.cycle, newest.awarded_at, newest.expires_at, newest.lapsed_at)
            )
            chain = award_chain(rule, facts, previous=previous, rounds_assigned=rounds, zone=zone)
            awards.extend(
                _award_rounds(
                    session, person, rule, previous, chain, quiet_before, zone=zone, clock=clock
                )
            )
        for award in awards:
            if not award.silent:
                _notify_award(
                    session,
                    person,
                    rules[award.certification_id],
                    award,
                    clock=clock,
                    settings=settings,
                )
    if milestone:
        _check_milestone(session, person, clock=clock, settings=settings)
    return awards


def _award_rounds(
    session: Session,
    person: Person,
    rule: CertificationRule,
    previous: PastAward | None,
    chain: list[PlannedAward],
    quiet_before: datetime,
    *,
    zone: str,
    clock: Clock,
) -> list[Award]:
    """Insert the rounds of ``chain`` in order; awards older than ``quiet_before`` are silent.

    Stops at a round another transaction inserted first (that one notifies). The newest
    round made here is recorded as lapsed if it ran out before it was recorded.
    """
    made: list[Award] = []
    for planned in chain:
        silent = planned.awarded_at < quiet_before
        award = _award(
            session, person, rule, previous, planned, silent=silent, zone=zone, clock=clock
        )
        if award is None:
            break
        if award.kind == REGAINED and made and made[-1].expires_at is not None:
            # The round before (from this same history) ran out first.
            made[-1] = replace(made[-1], lapsed_at=lapses_at(rule, made[-1].expires_at, zone))
        made.append(award)
        previous = PastAward(award.cycle, award.awarded_at, award.expires_at)
    if made:
        made[-1] = _lapse_from_history(session, rule, made[-1], zone=zone, clock=clock)
    return made


def lock_person(session: Session, person_id: int) -> None:
    """Serialise certification work on one person until the transaction ends.

    ``SELECT ... FOR NO KEY UPDATE`` on PostgreSQL (it does not block the key-share locks
    foreign keys take, so inserting rows that point at the person still works). SQLite
    has no row locks and needs none: a writing transaction holds the database's lock.
    """
    session.execute(select(Person.id).where(Person.id == person_id).with_for_update(key_share=True))


def completion_facts(
    session: Session, person_id: int, item_ids: Collection[int]
) -> dict[int, list[CompletionFact]]:
    """The person's recorded completions of ``item_ids``, by item id.

    Plain columns, not ORM objects, so a stale object in the session's identity map can
    never hide a completion another transaction committed.
    """
    facts: dict[int, list[CompletionFact]] = defaultdict(list)
    for row in session.execute(
        select(
            CompletionEvent.item_id,
            CompletionEvent.completed_at,
            CompletionEvent.recorded_at,
            CompletionEvent.score,
            CompletionEvent.source,
        ).where(
            CompletionEvent.person_id == person_id,
            CompletionEvent.item_id.in_(list(item_ids)),  # type: ignore[attr-defined]
        )
    ):
        facts[row.item_id].append(
            CompletionFact(row.item_id, row.completed_at, row.recorded_at, row.score, row.source)
        )
    return facts


def rounds_assigned(
    session: Session, person_id: int, item_ids: Collection[int]
) -> dict[tuple[int, int], datetime]:
    """When the window job assigned each recertification round: (item id, cycle) -> instant."""
    return {
        (item_id, cycle): assigned_at
        for item_id, cycle, assigned_at in session.execute(
            select(Assignment.item_id, Assignment.cycle, Assignment.assigned_at).where(
                Assignment.person_id == person_id,
                Assignment.cycle > 0,
                Assignment.item_id.in_(list(item_ids)),  # type: ignore[attr-defined]
            )
        )
    }


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
    previous: PastAward | None,
    planned: PlannedAward,
    *,
    silent: bool,
    zone: str,
    clock: Clock,
) -> Award | None:
    """Insert ``planned``; None if that round was there already (someone else's)."""
    assert person.id is not None
    inserted = insert_ignoring_conflict(
        session,
        CertificationAward.__table__,  # type: ignore[attr-defined]
        [
            {
                "person_id": person.id,
                "certification_id": rule.id,
                "cycle": planned.cycle,
                "awarded_at": planned.awarded_at,
                "expires_at": planned.expires_at,
                "lapsed_at": None,
            }
        ],
        index_elements=("person_id", "certification_id", "cycle"),
    )
    if not inserted:
        return None
    award_id = inserted[0]
    details: dict[str, Any] = {
        "award_id": award_id,
        "cycle": planned.cycle,
        "awarded_at": planned.awarded_at.isoformat(),
        "expires_at": planned.expires_at.isoformat(),
    }
    if silent:
        details["silent"] = True
    if previous is not None and previous.expires_at is not None:
        if planned.kind == REGAINED and previous.lapsed_at is None:
            # It ran out before the lapse job saw it: the history says it lapsed.
            lapse = lapses_at(rule, previous.expires_at, zone)
            _set_lapsed(session, person.id, rule.id, previous.cycle, lapse)
        elif planned.kind == RENEWAL and previous.lapsed_at is not None:
            # Renewed before it lapsed, as a back-dated completion shows: it never lapsed.
            _set_lapsed(session, person.id, rule.id, previous.cycle, None)
            details["previous_lapse_cleared"] = previous.lapsed_at.isoformat()
    audit.record(
        session,
        clock=clock,
        actor=ACTOR,
        action={FIRST: "certification.award", RENEWAL: "certification.renew"}.get(
            planned.kind, "certification.regain"
        ),
        person_id=person.id,
        subject=rule.key,
        details=details,
    )
    return Award(
        award_id,
        person.id,
        rule.id,
        rule.key,
        rule.title,
        planned.cycle,
        planned.awarded_at,
        planned.expires_at,
        planned.kind,
        silent=silent,
    )


def _set_lapsed(
    session: Session, person_id: int, cert_id: int, cycle: int, lapsed_at: datetime | None
) -> None:
    session.execute(
        update(CertificationAward)
        .where(
            CertificationAward.person_id == person_id,
            CertificationAward.certification_id == cert_id,
            CertificationAward.cycle == cycle,
        )
        .values(lapsed_at=lapsed_at)
    )


def _lapse_from_history(
    session: Session, rule: CertificationRule, award: Award, *, zone: str, clock: Clock
) -> Award:
    """Record ``award`` as lapsed if it ran out before it was recorded (history), silently."""
    assert award.expires_at is not None
    lapse = lapses_at(rule, award.expires_at, zone)
    if lapse > clock.now():
        return award
    _set_lapsed(session, award.person_id, rule.id, award.cycle, lapse)
    audit.record(
        session,
        clock=clock,
        actor=ACTOR,
        action="certification.lapse",
        person_id=award.person_id,
        subject=rule.key,
        reason=f"expired before it was recorded: not renewed by {lapse:%Y-%m-%d %H:%M} UTC",
        details={"award_id": award.id, "cycle": award.cycle, "silent": True},
    )
    return replace(award, lapsed_at=lapse, silent=True)


@dataclass
class AwardTally:
    """Awards made by a batch (an import, a configuration load), for its summary."""

    awarded: int = 0
    silent: int = 0  # old news: recorded without a DM or a post
    lapsed: int = 0  # had already run out when they were recorded (history)

    def add(self, awards: Iterable[Award]) -> None:
        for award in awards:
            self.awarded += 1
            self.silent += award.silent
            self.lapsed += award.lapsed_at is not None

    def describe(self) -> str:
        """``3 awarded (2 recorded silently: old completions; 1 already lapsed)``."""
        if not self.awarded:
            return "0 awarded"
        notes = []
        if self.silent:
            notes.append(f"{self.silent} recorded silently: old completions")
        if self.lapsed:
            notes.append(f"{self.lapsed} already lapsed")
        return f"{self.awarded} awarded" + (f" ({'; '.join(notes)})" if notes else "")


def award_qualifiers(
    session: Session,
    *,
    certification_ids: Collection[int],
    clock: Clock,
    settings: ProgramSettings,
) -> AwardTally:
    """Award these certifications to everyone whose recorded completions already earn them.

    For a certification ``load-config`` added (or whose requirements it changed): the
    same rules as a completion, so people whose work is old are awarded silently.
    """
    tally = AwardTally()
    rules = {
        cert_id: rule
        for cert_id, rule in certification_rules(session).items()
        if cert_id in certification_ids
    }
    candidates: set[int] = set()
    for rule in rules.values():
        item_ids = [r.item_id for r in rule.requirements]
        # Only people with a completion of every requirement can qualify.
        candidates.update(
            session.scalars(
                select(CompletionEvent.person_id)
                .where(CompletionEvent.item_id.in_(item_ids))  # type: ignore[attr-defined]
                .group_by(CompletionEvent.person_id)
                .having(func.count(func.distinct(CompletionEvent.item_id)) == len(item_ids))
            )
        )
    for person_id in sorted(candidates):
        tally.add(
            check_awards(
                session,
                person_id=person_id,
                clock=clock,
                settings=settings,
                milestone=False,
                rules=rules,
            )
        )
    return tally


def self_reported_only(
    session: Session, *, item_id: int, score: float | None, source: str
) -> list[str]:
    """Titles of active certifications that ``score`` would count for if it were trusted.

    What a learner who typed a passing score is told: the certification waits for a
    score from the LMS or an admin (``TRUSTED_SCORE_SOURCES``).
    """
    if score is None or source in TRUSTED_SCORE_SOURCES:
        return []
    titles = []
    for rule in certification_rules(session).values():
        if any(
            r.item_id == item_id and only_self_reported(r, score, source) for r in rule.requirements
        ):
            titles.append(rule.title)
    return sorted(titles, key=str.lower)


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
    """The person's direct manager, if they have one who is active and reachable in chat."""
    if person.manager_id is None or person.manager_id == person.id:
        return None
    manager = session.get(Person, person.manager_id)
    if (
        manager is None
        or not manager.active
        or not user_id_of(session, manager.id, DELIVERY_PLATFORM)
    ):
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
    session: Session, key: str, person: Person, message: Facts, *, not_before: datetime
) -> NewMessage | None:
    """A DM to ``person`` (None when they cannot be reached: inactive or no chat account)."""
    address = user_id_of(session, person.id, DELIVERY_PLATFORM)
    if not person.active or not address:
        return None
    return NewMessage(
        key=key,
        kind=message.kind,
        recipient_kind=RecipientKind.PERSON,
        recipient=address,
        payload=message.values,
        person_id=person.id,
        workspace_id=person.workspace_id or DEFAULT_WORKSPACE,
        not_before=not_before,
    )


def _post(
    key: str, channel: str, message: Facts, *, workspace_id: str, now: datetime
) -> NewMessage:
    return NewMessage(
        key=key,
        kind=message.kind,
        recipient_kind=RecipientKind.CHANNEL,
        recipient=channel,
        payload=message.values,
        workspace_id=workspace_id or DEFAULT_WORKSPACE,
        not_before=now,
    )


def _recent(session: Session, person_id: int, item_ids: Collection[int], since: datetime) -> bool:
    """Whether the newest completion of these items is news (done at ``since`` or later)."""
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
    return bool(newest >= since)


def _held_standing(rule: CertificationRule, award: Award, zone: str) -> Standing:
    """Where a new award stands, as its holder reads it in ``zone``."""
    return standing(
        title=rule.title,
        key=rule.key,
        certification_id=rule.id,
        cycle=award.cycle,
        awarded_at=award.awarded_at,
        expires_at=award.expires_at,
        lapsed_at=None,
        window=rule.window,
        grace=rule.grace,
        zone=zone,
    )


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
    held = _held_standing(rule, award, zone)
    messages: list[NewMessage | None] = [
        dm(
            session,
            f"cert_award:{award.id}:holder",
            person,
            facts(
                kinds.CERT_AWARD_HOLDER,
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
                session,
                f"cert_award:{award.id}:manager",
                manager,
                facts(
                    kinds.CERT_AWARD_MANAGER,
                    manager_name=manager.name,
                    holder_name=person.name,
                    holder_slack_id=user_id_of(session, person.id, DELIVERY_PLATFORM),
                    title=rule.title,
                    kind=award.kind,
                    standing=held,
                    today=today,
                ),
                not_before=now,
            )
        )
    channel = settings.channels.recognition
    # Only news is told at all (check_awards leaves old awards silent); a renewal is
    # told in private.
    if award.kind == FIRST and channel and _announces(person, settings):
        messages.append(
            _post(
                f"cert_award:{award.id}:shoutout",
                channel,
                facts(
                    kinds.CERT_SHOUTOUT,
                    name=person.name,
                    slack_user_id=user_id_of(session, person.id, DELIVERY_PLATFORM),
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
    since = earlier(now, settings.awards.silent_after, zone_of(person, settings))
    if not _recent(session, person.id, [row.id for row in completed], since):
        return False
    message = facts(
        kinds.CERT_MILESTONE,
        name=person.name,
        slack_user_id=user_id_of(session, person.id, DELIVERY_PLATFORM),
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
    window: Period,
    grace: Period,
    zone: str,
) -> Standing:
    """A ``Standing`` from an award's instants, as dates in ``zone``."""
    return Standing(
        title=title,
        expires_on=local_date(expires_at, zone) if expires_at else None,
        lapsed_on=local_date(lapsed_at, zone) if lapsed_at else None,
        window_opens_on=local_date(earlier(expires_at, window, zone), zone) if expires_at else None,
        lapses_on=local_date(later(expires_at, grace, zone), zone) if expires_at else None,
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
            Certification.recertify_window_months,
            Certification.recertify_window_days,
            Certification.grace_months,
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
        window=Period(row.recertify_window_months, row.recertify_window_days),
        grace=Period(row.grace_months, row.grace_days),
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
