"""Mentor pairing: "Find a mentor" on a digest item pairs the learner with a colleague
who knows it, and introduces the two in a group DM.

``find_mentor`` runs in the caller's transaction (``learning.actions.unit_of_work``): it
checks the request, chooses a mentor, stores a ``MentorPairing``, puts the intro in the
outbox (key ``pairing:{id}:intro``, channel ``"{learner},{mentor}"``: the sender opens a
group DM with both) and audits ``mentor.pair``, all or nothing.

Who may mentor an item:

* people holding a certification that requires it, validly: their newest award of that
  certification is not lapsed and stays valid at least ``mentoring.min_valid_days`` more
  days (no expiry counts as valid); reason ``certified``;
* people who clicked "I can help" on a peer-learning prompt about it; reason
  ``offered_help``.

Fairness, each rule on its own: never the learner, nor the learner's own manager (the
direct one, and whoever takes the manager's place under the chain rules,
``learning.chain``); active and on Slack; not away on their own local date; not opted out
(``/learn mentor off``); at most ``mentoring.weekly_cap`` pairings as mentor in the last
7 days; and the same two people (either role) are not paired again within
``mentoring.no_repeat_weeks``. Among those left: the fewest pairings as mentor in the last
``LOAD_WEEKS`` weeks, then certified before offered help, then the learner's time zone,
then the lowest id.

Concurrency (``learning.locks.lock_person``): the learner's row is locked first, so a
double click pairs once (the second sees the first's pairing and is told about it). The
chosen mentor's row is then locked and the cap and the no-repeat rule are checked again,
so two learners asking at once cannot push a mentor past the cap: the later one moves on
to the next candidate. On SQLite the first lock holds the database's write lock, so the
whole choice is made by one request at a time.

Nobody qualifying is not an error: ``NoMentorFound`` says so, and nothing is stored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from delivery.outbox import NewMessage, enqueue
from learning import audit
from learning.accounts import DELIVERY_PLATFORM, user_id_column, user_id_of
from learning.actions import NotAllowed, NotOpen, actor_label, my_assignment
from learning.chain import PeopleIndex
from learning.clock import Clock, local_date
from learning.curriculum import ProgramSettings
from learning.errors import LearnbotError
from learning.locks import lock_person
from learning.outbox_kinds import PAIRING_INTRO, facts
from learning.plain_text import clip
from models import (
    DEFAULT_WORKSPACE,
    AssignmentStatus,
    Certification,
    CertificationAward,
    CertificationRequirement,
    Item,
    MentorPairing,
    PeerPrompt,
    PeerPromptResponse,
    Person,
    RecipientKind,
)

CERTIFIED, OFFERED_HELP = "certified", "offered_help"  # MentorPairing.reason
TITLE_MAX = 200

# Refusals (plain text: the typed errors' messages, escaped where they are shown).
NOT_YOURS = "You can only find a mentor for your own items."
SWITCHED_OFF = "Mentor pairing is switched off here, so I can't find you a mentor."
NOT_ON_SLACK = "I can only pair people who are on Slack, and I don't have you on Slack here."


def not_open_text(title: str) -> str:
    """The item is done, waived or no longer on the path."""
    plain = clip(" ".join(title.split()) or "-", TITLE_MAX)
    return (
        f"“{plain}” is no longer open (done, waived or off your path), "
        "so there is nothing to find a mentor for."
    )


HELP = "help"  # PeerPromptResponse.kind of "I can help"
WEEK = timedelta(days=7)
LOAD_WEEKS = 8  # the fewest pairings as mentor over this many weeks goes first
CHUNK = 1000  # ids per IN list


class MentoringOff(LearnbotError):
    """Mentor pairing is switched off (``mentoring.enabled: false``)."""


@dataclass(frozen=True)
class MentorFound:
    """The learner is paired (``already``: by an earlier request for this item)."""

    pairing_id: int
    mentor_name: str
    mentor_user_id: str  # the mentor's user id on the delivery platform, for a mention
    item_title: str
    reason: str  # CERTIFIED or OFFERED_HELP
    already: bool = False


@dataclass(frozen=True)
class NoMentorFound:
    """Nobody qualifies right now; nothing was stored or sent."""

    item_title: str
    community_channel: str | None


MentorResult = MentorFound | NoMentorFound


@dataclass(frozen=True)
class Candidate:
    """Someone who may mentor the item, and why."""

    id: int
    name: str
    email: str
    chat_user_id: str  # their user id on the delivery platform
    zone: str
    away_until: date | None
    reason: str
    certification_id: int | None = None
    certification_title: str | None = None


def find_mentor(
    session: Session,
    *,
    learner: Person,
    assignment_id: int,
    clock: Clock,
    settings: ProgramSettings,
) -> MentorResult:
    """Pair ``learner`` with a mentor for the item of their open assignment ``assignment_id``.

    Args:
        session: The caller's transaction (``unit_of_work``, so a refusal's audit stays).
        learner: Who clicked "Find a mentor".
        assignment_id: The digest item's assignment; it must be the learner's and open.
        clock: Now.
        settings: The configuration in force (``mentoring``, ``channels.community``).

    Returns:
        ``MentorFound`` (paired now, or already paired for this item within the no-repeat
        weeks), or ``NoMentorFound`` when nobody qualifies (nothing stored or sent).

    Raises:
        MentoringOff: mentoring is switched off.
        NotFound: no such assignment.
        NotAllowed: someone else's assignment (audited).
        NotOpen: the assignment is done, waived or closed.
        LearnbotError: the learner is not active on Slack.
    """
    spec = settings.mentoring
    if not spec.enabled:
        raise MentoringOff(SWITCHED_OFF)
    try:
        assignment, item = my_assignment(
            session, actor=learner, assignment_id=assignment_id, clock=clock, attempted="mentor"
        )
    except NotAllowed as refused:
        raise NotAllowed(NOT_YOURS, audit_entry=refused.audit_entry) from None
    if assignment.status != AssignmentStatus.OPEN:
        raise NotOpen(not_open_text(item.title))
    if not learner.active or not user_id_of(session, learner.id, DELIVERY_PLATFORM):
        raise LearnbotError(NOT_ON_SLACK)
    assert learner.id is not None and item.id is not None

    lock_person(session, learner.id)  # a double click waits here, then sees the pairing
    now = clock.now()
    since_repeat = now - spec.no_repeat_weeks * WEEK
    earlier = _earlier_pairing(session, learner.id, item, since=since_repeat)
    if earlier is not None:
        return earlier

    ranked = _ranked_mentors(
        session, learner, item.id, now=now, settings=settings, since_repeat=since_repeat
    )
    for mentor in ranked:
        lock_person(session, mentor.id)
        # Another request may have paired this mentor since the counts were read.
        if _paired_as_mentor(session, mentor.id, since=now - WEEK) >= spec.weekly_cap:
            continue
        if mentor.id in _recent_partners(session, learner.id, since=since_repeat):
            continue
        return _pair(session, learner=learner, mentor=mentor, item=item, clock=clock)
    return NoMentorFound(item.title, settings.channels.community)


def _ranked_mentors(
    session: Session,
    learner: Person,
    item_id: int,
    *,
    now: datetime,
    settings: ProgramSettings,
    since_repeat: datetime,
) -> list[Candidate]:
    """Who may mentor ``learner`` on ``item_id`` now, best first: not the learner nor
    their managers, not away, under the weekly cap, not paired with them recently; the
    least loaded first, then certified ones, then those in the learner's time zone."""
    assert learner.id is not None
    spec = settings.mentoring
    org_zone = settings.organisation.timezone
    learner_zone = learner.timezone or org_zone
    excluded = {learner.id, *_managers(session, learner, now=now, org_zone=org_zone)}
    candidates = [
        c
        for c in _candidates(
            session,
            item_id=item_id,
            workspace_id=learner.workspace_id or DEFAULT_WORKSPACE,
            valid_until=now + timedelta(days=spec.min_valid_days),
            org_zone=org_zone,
        )
        if c.id not in excluded and not _away(c, now)
    ]
    week, load = _pairing_counts(session, [c.id for c in candidates], now=now)
    paired_with = _recent_partners(session, learner.id, since=since_repeat)
    return sorted(
        (c for c in candidates if week.get(c.id, 0) < spec.weekly_cap and c.id not in paired_with),
        key=lambda c: (
            load.get(c.id, 0),
            c.reason != CERTIFIED,
            c.zone != learner_zone,
            c.id,
        ),
    )


def set_mentoring(session: Session, *, person: Person, available: bool, clock: Clock) -> bool:
    """``/learn mentor on|off``: whether ``person`` may be paired as a mentor; False if
    nothing changed."""
    return audit.set_person_setting(
        session,
        person=person,
        field="mentoring",
        value=available,
        action="person.mentoring",
        clock=clock,
    )


# --- who qualifies ---------------------------------------------------------------------


def _candidates(
    session: Session, *, item_id: int, workspace_id: str, valid_until: datetime, org_zone: str
) -> list[Candidate]:
    """Everyone who may mentor ``item_id``, certified ones first (one row per person).

    Active, reachable in chat and not opted out are checked here; the rest is per request.
    """
    chat_id = user_id_column(DELIVERY_PLATFORM)
    person = (
        Person.id,
        Person.name,
        Person.email,
        chat_id,
        Person.timezone,
        Person.away_until,
    )
    reachable = (
        Person.workspace_id == workspace_id,
        Person.active,
        Person.mentoring,
        chat_id.is_not(None),  # reachable: an account to be addressed at
    )
    newer = aliased(CertificationAward)
    newest_cycle = (
        select(func.max(newer.cycle))
        .where(
            newer.person_id == CertificationAward.person_id,
            newer.certification_id == CertificationAward.certification_id,
        )
        .scalar_subquery()
    )
    certified = (
        select(*person, Certification.id, Certification.title)
        .join(CertificationAward, CertificationAward.person_id == Person.id)
        .join(Certification, Certification.id == CertificationAward.certification_id)
        .join(
            CertificationRequirement,
            CertificationRequirement.certification_id == Certification.id,
        )
        .where(
            CertificationRequirement.item_id == item_id,
            Certification.active,
            CertificationAward.cycle == newest_cycle,
            CertificationAward.lapsed_at.is_(None),  # type: ignore[union-attr]
            or_(
                CertificationAward.expires_at.is_(None),  # type: ignore[union-attr]
                CertificationAward.expires_at >= valid_until,  # type: ignore[operator]
            ),
            *reachable,
        )
        .order_by(Person.id, Certification.id)
    )
    offered = (
        select(*person)
        .join(PeerPromptResponse, PeerPromptResponse.person_id == Person.id)
        .join(PeerPrompt, PeerPrompt.id == PeerPromptResponse.prompt_id)
        .where(PeerPrompt.item_id == item_id, PeerPromptResponse.kind == HELP, *reachable)
        .distinct()
    )
    found: dict[int, Candidate] = {}
    for row in session.execute(certified):
        if row[0] not in found:
            found[row[0]] = _candidate(row, CERTIFIED, org_zone, row[6], row[7])
    for row in session.execute(offered):
        if row[0] not in found:
            found[row[0]] = _candidate(row, OFFERED_HELP, org_zone)
    return list(found.values())


def _candidate(
    row: Any,
    reason: str,
    org_zone: str,
    certification_id: int | None = None,
    certification_title: str | None = None,
) -> Candidate:
    person_id, name, email, user_id, zone, away_until = row[:6]
    return Candidate(
        person_id,
        name,
        email,
        user_id,
        zone or org_zone,
        away_until,
        reason,
        certification_id,
        certification_title,
    )


def _away(candidate: Candidate, now: datetime) -> bool:
    """Away on their own local date (``/learn away until`` that day or later)."""
    return candidate.away_until is not None and candidate.away_until >= local_date(
        now, candidate.zone
    )


def _managers(session: Session, learner: Person, *, now: datetime, org_zone: str) -> set[int]:
    """The learner's direct manager, and whoever takes that place under the chain rules
    (the direct one may be inactive or away): never their mentor."""
    assert learner.id is not None
    managers = {learner.manager_id} if learner.manager_id is not None else set()
    manager, _ = PeopleIndex(session, org_zone=org_zone).takers(learner.id, now)
    if manager is not None:
        managers.add(manager.id)
    return managers


# --- pairings so far ---------------------------------------------------------------------


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _pairing_counts(
    session: Session, mentor_ids: Sequence[int], *, now: datetime
) -> tuple[dict[int, int], dict[int, int]]:
    """Pairings as mentor, by mentor: (in the last 7 days, in the last ``LOAD_WEEKS``)."""
    week: dict[int, int] = defaultdict(int)
    load: dict[int, int] = defaultdict(int)
    week_ago, since = now - WEEK, now - LOAD_WEEKS * WEEK
    for chunk in _chunks(mentor_ids):
        for mentor_id, paired_at in session.execute(
            select(MentorPairing.mentor_id, MentorPairing.paired_at).where(
                MentorPairing.mentor_id.in_(list(chunk)),  # type: ignore[attr-defined]
                MentorPairing.paired_at > since,  # type: ignore[operator]
            )
        ):
            load[mentor_id] += 1
            if paired_at > week_ago:
                week[mentor_id] += 1
    return week, load


def _paired_as_mentor(session: Session, mentor_id: int, *, since: datetime) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(MentorPairing)
            .where(
                MentorPairing.mentor_id == mentor_id,
                MentorPairing.paired_at > since,  # type: ignore[operator]
            )
        )
        or 0
    )


def _recent_partners(session: Session, person_id: int, *, since: datetime) -> set[int]:
    """Everyone paired with ``person_id`` (as learner or as mentor) after ``since``."""
    partners: set[int] = set()
    for learner_id, mentor_id in session.execute(
        select(MentorPairing.learner_id, MentorPairing.mentor_id).where(
            or_(MentorPairing.learner_id == person_id, MentorPairing.mentor_id == person_id),
            MentorPairing.paired_at > since,  # type: ignore[operator]
        )
    ):
        partners.add(mentor_id if learner_id == person_id else learner_id)
    return partners


def _earlier_pairing(
    session: Session, learner_id: int, item: Item, *, since: datetime
) -> MentorFound | None:
    """The learner's newest pairing for ``item`` after ``since``, to be told again (the
    button is on every day's digest while the item is open: one mentor per item)."""
    row = session.execute(
        select(
            MentorPairing.id,
            MentorPairing.reason,
            Person.name,
            user_id_column(DELIVERY_PLATFORM),
        )
        .join(Person, Person.id == MentorPairing.mentor_id)
        .where(
            MentorPairing.learner_id == learner_id,
            MentorPairing.item_id == item.id,
            MentorPairing.paired_at > since,  # type: ignore[operator]
        )
        .order_by(MentorPairing.paired_at.desc(), MentorPairing.id.desc())  # type: ignore[attr-defined,union-attr]
        .limit(1)
    ).first()
    if row is None:
        return None
    return MentorFound(row[0], row[2], row[3] or "", item.title, row[1], already=True)


# --- pairing ------------------------------------------------------------------------------


def _pair(
    session: Session, *, learner: Person, mentor: Candidate, item: Item, clock: Clock
) -> MentorFound:
    """Store the pairing, put the intro in the outbox and audit it."""
    now = clock.now()
    learner_user_id = user_id_of(session, learner.id, DELIVERY_PLATFORM)
    assert learner_user_id is not None
    pairing = MentorPairing(
        learner_id=learner.id,
        mentor_id=mentor.id,
        item_id=item.id,
        certification_id=mentor.certification_id,
        reason=mentor.reason,
        paired_at=now,
    )
    session.add(pairing)
    session.flush()
    assert pairing.id is not None
    intro = facts(
        PAIRING_INTRO,
        learner_name=learner.name,
        learner_slack_id=learner_user_id,
        mentor_name=mentor.name,
        mentor_slack_id=mentor.chat_user_id,
        item_title=item.title,
        item_url=item.url,
        reason=mentor.reason,
        certification_title=mentor.certification_title,
    )
    enqueue(
        session,
        [
            NewMessage(
                key=f"pairing:{pairing.id}:intro",
                kind=intro.kind,
                # Two user ids: the sender opens one group DM with both of them.
                recipient_kind=RecipientKind.GROUP,
                recipient=f"{learner_user_id},{mentor.chat_user_id}",
                payload=intro.values,
                person_id=learner.id,
                workspace_id=learner.workspace_id or DEFAULT_WORKSPACE,
                not_before=now,
            )
        ],
        now=now,
    )
    audit.record(
        session,
        clock=clock,
        actor=actor_label(learner),
        action="mentor.pair",
        person_id=learner.id,
        subject=item.key,
        reason=mentor.reason,
        details={
            "pairing_id": pairing.id,
            "mentor_id": mentor.id,
            "mentor": mentor.email,
            "item_id": item.id,
            "certification_id": mentor.certification_id,
        },
    )
    return MentorFound(pairing.id, mentor.name, mentor.chat_user_id, item.title, mentor.reason)
