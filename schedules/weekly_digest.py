"""The weekly manager digest: plan it into the outbox, once per manager per ISO week.

The rules (when a zone's window is open, how a chain's counts become its summary) are
pure functions in ``learning.weekly_digest``; this job reads and enqueues.

When: on the ``manager_digest`` weekday of the programs file, from its ``time`` for its
``window``, in each manager's own time zone (default Friday 15:00 local, 4 hours). The
day must be a working day on the manager's own calendar: when it is a holiday there, that
week has no digest (it is not moved to another day). Past the window the week is skipped,
as daily digests skip a day after an outage.

Who: active people with a Slack user id, not away, with at least one active direct report
(``Person.manager_id``). Nobody else gets one, and a manager with no reports is skipped.

What: facts about the manager's whole reporting chain (everyone below them, directly or
through other managers; active people only), stored as JSON in the outbox row of kind
``weekly_manager`` with key ``weekly:{manager_id}:{ISO year}-W{ISO week}``, so planning
again, or in two processes at once, enqueues nothing twice. ``messages.weekly_digest``
renders the row when it is sent. Overdue names only ever go to the manager, in this DM.

Set-based: the managers due in a batch have their chains walked by one recursive query
(pairs of manager and person), and every fact is one grouped query over those pairs for
the whole batch, so the number of queries follows the number of batches, not of people.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, case, cast, exists, func, literal, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from delivery.outbox import NewMessage, enqueue
from learning.accounts import DELIVERY_PLATFORM, user_id_column
from learning.clock import Clock, local_date
from learning.curriculum import ProgramSettings
from learning.paths import current_settings
from learning.team import OverduePerson
from learning.weekly_digest import (
    CERTIFICATIONS_LISTED,
    OVERDUE_LISTED,
    Award,
    ChainFacts,
    DigestWindow,
    chain_summaries,
    count_items,
    digest_key,
    earned_since,
    expiring_until,
    new_counts,
    open_weekly_windows,
)
from models import (
    Assignment,
    AssignmentStatus,
    Certification,
    CertificationAward,
    OutboxMessage,
    Person,
    status_by_person,
)
from models.db import Database
from models.tables import RecipientKind

log = logging.getLogger(__name__)

KIND = "weekly_manager"
MANAGER_BATCH = 5000  # managers whose facts are computed together (ids in one IN list)
ENQUEUE_CHUNK = 500  # digests per transaction
PAYLOAD_VERSION = 1


@dataclass
class WeeklyPlan:
    """What one planning pass of the weekly digest did."""

    zones_open: list[str] = field(default_factory=list)
    managers: int = 0  # managers due now who had no digest yet this week
    enqueued: int = 0


def plan_weekly_digests(database: Database, clock: Clock) -> WeeklyPlan:
    """Plan every weekly manager digest due at ``clock.now()`` into the outbox.

    A transaction per ``ENQUEUE_CHUNK`` digests. A manager is due when, in their own
    time zone, it is the configured weekday (``manager_digest.weekday``, default
    Friday) between ``time`` and ``time`` + ``window`` (default 15:00-19:00), and that
    day is a working day on their calendar: when it is a holiday, that week's digest is
    skipped, not moved. Managers are active
    people with a Slack user id, not away, with at least one active report; anyone with
    no reports gets nothing. Safe to run twice or in two processes at once: the key
    ``weekly:{manager_id}:{ISO year}-W{ISO week}`` is unique in the outbox.
    """
    result = WeeklyPlan()
    now = clock.now()
    with database.session() as session:
        batches = database.batches(session)
        settings = current_settings(session)
        if settings is None:
            log.info("weekly digest skipped: no configuration loaded yet")
            return result
        org_zone = settings.organisation.timezone
        zone_of = func.coalesce(Person.timezone, org_zone)
        zones = sorted(session.scalars(select(zone_of).where(Person.active).distinct()))
        windows = open_weekly_windows(zones, now=now, settings=settings)
        result.zones_open = [w.zone for w in windows]
        for window in windows:
            managers = _due_managers(session, window, settings)
            result.managers += len(managers)
            for start in range(0, len(managers), MANAGER_BATCH):
                batch = managers[start : start + MANAGER_BATCH]
                facts = chain_facts(session, [m[0] for m in batch], now=now, settings=settings)
                messages = [
                    _message(manager, facts.get(manager[0], ChainFacts()), window, now)
                    for manager in batch
                ]
                # A transaction per chunk: no write holds the lock over the next
                # batch's reading, nor over thousands of inserts.
                for first in range(0, len(messages), ENQUEUE_CHUNK):
                    result.enqueued += enqueue(
                        session, messages[first : first + ENQUEUE_CHUNK], now=now
                    )
                    batches.commit()
    if result.enqueued:
        log.info(
            "planned %d weekly manager digests in zones %s",
            result.enqueued,
            ", ".join(result.zones_open) or "none",
        )
    return result


def _due_managers(
    session: Session, window: DigestWindow, settings: ProgramSettings
) -> list[tuple[Any, ...]]:
    """(id, name, chat user id, workspace) of the window's managers without this week's
    digest, by id."""
    org_zone = settings.organisation.timezone
    in_zone = (
        or_(Person.timezone == window.zone, Person.timezone.is_(None))  # type: ignore[union-attr]
        if window.zone == org_zone
        else Person.timezone == window.zone
    )
    report = aliased(Person)
    has_report = (
        exists()
        .where(report.manager_id == Person.id, report.active, report.id != Person.id)
        .correlate(Person)
    )
    key = literal("weekly:") + cast(Person.id, String) + literal(f":{window.week}")
    already = exists().where(OutboxMessage.key == key)
    chat_id = user_id_column(DELIVERY_PLATFORM)
    return list(
        session.execute(
            select(Person.id, Person.name, chat_id, Person.workspace_id)
            .where(
                Person.active,
                in_zone,
                chat_id.is_not(None),
                or_(Person.away_until.is_(None), Person.away_until < window.day),  # type: ignore[union-attr]
                has_report,
                ~already,
            )
            .order_by(Person.id)
        ).all()
    )


# --- the facts ---------------------------------------------------------------------


def chain_facts(
    session: Session,
    manager_ids: list[int],
    *,
    now: datetime,
    settings: ProgramSettings,
    overdue_listed: int = OVERDUE_LISTED,
    certifications_listed: int = CERTIFICATIONS_LISTED,
) -> dict[int, ChainFacts]:
    """Facts about each manager's reporting chain, for all of ``manager_ids`` at once.

    The chain is everyone below the manager, directly or through other managers (walking
    through deactivated managers, as ``identity.reporting_chain_ids`` does); only active
    people count and the manager never counts as their own report, even in a cycle.
    Required items count as in ``learning.team``: done / total (waived and closed ones
    left out), overdue by each person's own local date and calendar. Certifications:
    awarded in the last 7 days, and expiring in the next 30 days (not lapsed, not already
    renewed by a later cycle).

    A handful of grouped queries for the whole batch, none per manager or per person.
    Managers with nobody active below them get no entry.
    """
    if not manager_ids:
        return {}
    zone_col = func.coalesce(Person.timezone, settings.organisation.timezone)
    todays = {
        zone: local_date(now, zone)
        for zone in session.scalars(select(zone_col).where(Person.active).distinct())
    }
    if not todays:
        return {}
    chain = _Chain.of(manager_ids)
    counts: dict[int, dict[str, int]] = defaultdict(new_counts)
    for manager_id, people in _people_counts(session, chain):
        counts[manager_id]["people"] = people
    late = and_(
        status_by_person() == AssignmentStatus.OPEN,
        Assignment.due_date.is_not(None),  # type: ignore[union-attr]
        Assignment.due_date < case(todays, value=zone_col),  # type: ignore[operator]
    )
    for manager_id, status, is_late, count in _item_counts(session, chain, late):
        count_items(counts[manager_id], status=status, is_late=bool(is_late), count=count)
    leaders, people_overdue = _overdue_leaders(
        session,
        chain,
        late,
        zone_col=zone_col,
        todays=todays,
        settings=settings,
        listed=overdue_listed,
    )
    facts = chain_summaries(
        counts, leaders=leaders, people_overdue=people_overdue, overdue_listed=overdue_listed
    )
    _add_certification_news(session, facts, chain, now=now, listed=certifications_listed)
    return facts


@dataclass(frozen=True)
class _Chain:
    """The (manager, person) pairs of everyone below each manager, as a recursive CTE."""

    pairs: Any
    member: Any  # the person counts: active, and not the manager (even in a cycle)

    @classmethod
    def of(cls, manager_ids: list[int]) -> _Chain:
        # UNION drops pairs already found, so a cycle in the manager links ends the walk.
        pairs = (
            select(Person.manager_id.label("manager_id"), Person.id.label("person_id"))
            .where(Person.manager_id.in_(sorted(set(manager_ids))))  # type: ignore[union-attr]
            .cte("chain", recursive=True)
        )
        pairs = pairs.union(
            select(pairs.c.manager_id, Person.id).join(
                pairs, Person.manager_id == pairs.c.person_id
            )
        )
        return cls(pairs, and_(Person.active, pairs.c.person_id != pairs.c.manager_id))

    @property
    def manager(self) -> Any:
        return self.pairs.c.manager_id

    @property
    def owed(self) -> Any:
        """A member's required item that is not closed."""
        return and_(self.member, Assignment.required, status_by_person() != AssignmentStatus.CLOSED)


def _people_counts(session: Session, chain: _Chain) -> Any:
    """(manager id, active people below them)."""
    return session.execute(
        select(chain.manager, func.count())
        .select_from(chain.pairs)
        .join(Person, Person.id == chain.pairs.c.person_id)
        .where(chain.member)
        .group_by(chain.manager)
    )


def _item_counts(session: Session, chain: _Chain, late: Any) -> Any:
    """(manager id, status, late 1/0, required items) of everyone below each manager."""
    # Walk from the chain to each person's assignments, not from every open assignment
    # to the chain (8 minutes instead of a second at 100,000 people on SQLite).
    late_flag = case((late, 1), else_=0)
    return session.execute(
        select(chain.manager, Assignment.status, late_flag, func.count())
        .select_from(chain.pairs)
        .join(Person, Person.id == chain.pairs.c.person_id)
        .join(Assignment, Assignment.person_id == Person.id)
        .where(chain.owed)
        .group_by(chain.manager, Assignment.status, late_flag)
    )


def _overdue_leaders(
    session: Session,
    chain: _Chain,
    late: Any,
    *,
    zone_col: Any,
    todays: dict[str, date],
    settings: ProgramSettings,
    listed: int,
) -> tuple[dict[int, list[OverduePerson]], dict[int, int]]:
    """The most overdue people of each chain, and the number of overdue people per chain.

    Ranked by the database by oldest due date (twice as many as named, then re-sorted on
    each person's own calendar in working days, ``learning.weekly_digest.most_overdue``).
    """
    manager = chain.manager
    oldest = func.min(Assignment.due_date)
    items = func.count()
    ranked = (
        select(
            manager.label("manager_id"),
            Person.id.label("person_id"),
            Person.name.label("name"),
            Person.email.label("email"),
            user_id_column(DELIVERY_PLATFORM).label("chat_user_id"),
            zone_col.label("zone"),
            items.label("items"),
            oldest.label("oldest"),
            func.row_number()
            .over(partition_by=manager, order_by=(oldest, items.desc(), Person.name, Person.id))
            .label("rank"),
            func.count().over(partition_by=manager).label("people_overdue"),
        )
        .select_from(chain.pairs)
        .join(Person, Person.id == chain.pairs.c.person_id)
        .join(Assignment, Assignment.person_id == Person.id)
        .where(chain.owed, late)
        .group_by(manager, Person.id, Person.name, Person.email, zone_col)
        .subquery("ranked")
    )
    leaders: dict[int, list[OverduePerson]] = defaultdict(list)
    people_overdue: dict[int, int] = {}
    for row in session.execute(
        select(ranked).where(ranked.c.rank <= max(1, 2 * listed))
    ).mappings():
        people_overdue[row["manager_id"]] = row["people_overdue"]
        zone = row["zone"]
        leaders[row["manager_id"]].append(
            OverduePerson(
                person_id=row["person_id"],
                name=row["name"],
                email=row["email"],
                chat_user_id=row["chat_user_id"],
                overdue_items=row["items"],
                oldest_due=row["oldest"],
                overdue_working_days=settings.calendar_for(zone).working_days_between(
                    row["oldest"], todays[zone]
                ),
            )
        )
    return leaders, people_overdue


def _add_certification_news(
    session: Session, facts: dict[int, ChainFacts], chain: _Chain, *, now: datetime, listed: int
) -> None:
    """Certifications earned in the last week (newest first), and expiring within 30
    days (soonest first), for the chains in ``facts``."""
    award = CertificationAward
    earned_at = award.awarded_at
    for manager_id, rows, total in _awards(
        session,
        chain.pairs,
        chain.member,
        at=earned_at,
        where=and_(earned_at > earned_since(now), earned_at <= now),
        newest_first=True,
        limit=listed,
    ):
        if manager_id in facts:
            facts[manager_id].earned = rows
            facts[manager_id].earned_count = total
    # Expiring: not lapsed, and not renewed already (a later cycle of the same
    # certification for the same person).
    renewal = aliased(CertificationAward)
    renewed = (
        exists()
        .where(
            renewal.person_id == award.person_id,
            renewal.certification_id == award.certification_id,
            renewal.cycle > award.cycle,
        )
        .correlate(award)
    )
    expires_at = award.expires_at
    for manager_id, rows, total in _awards(
        session,
        chain.pairs,
        chain.member,
        at=expires_at,
        where=and_(
            award.lapsed_at.is_(None),  # type: ignore[union-attr]
            expires_at > now,  # type: ignore[operator]
            expires_at <= expiring_until(now),  # type: ignore[operator]
            ~renewed,
        ),
        newest_first=False,
        limit=listed,
    ):
        if manager_id in facts:
            facts[manager_id].expiring = rows
            facts[manager_id].expiring_count = total


def _awards(
    session: Session,
    pairs: Any,
    member: Any,
    *,
    at: Any,
    where: Any,
    newest_first: bool,
    limit: int,
) -> list[tuple[int, list[Award], int]]:
    """Per manager: the first ``limit`` awards matching ``where`` (ordered by ``at``) and
    how many match in all. One query, cut per manager by the database."""
    manager = pairs.c.manager_id
    order = at.desc() if newest_first else at
    ranked = (
        select(
            manager.label("manager_id"),
            Person.id.label("person_id"),
            Person.name.label("name"),
            Certification.title.label("certification"),
            at.label("at"),
            func.row_number()
            .over(
                partition_by=manager,
                order_by=(order, Person.name, Person.id, CertificationAward.id),
            )
            .label("rank"),
            func.count().over(partition_by=manager).label("total"),
        )
        .select_from(pairs)
        .join(Person, Person.id == pairs.c.person_id)
        .join(CertificationAward, CertificationAward.person_id == Person.id)
        .join(Certification, Certification.id == CertificationAward.certification_id)
        .where(member, where)
        .subquery("awards")
    )
    grouped: dict[int, tuple[list[Award], int]] = {}
    for row in session.execute(
        select(ranked).where(ranked.c.rank <= max(0, limit)).order_by(ranked.c.rank)
    ).mappings():
        rows, _ = grouped.setdefault(row["manager_id"], ([], row["total"]))
        rows.append(Award(row["person_id"], row["name"], row["certification"], row["at"]))
    return [(manager_id, rows, total) for manager_id, (rows, total) in grouped.items()]


# --- the outbox row ----------------------------------------------------------------


def weekly_payload(
    manager_name: str, manager_id: int, facts: ChainFacts, window: DigestWindow
) -> dict[str, Any]:
    """The outbox payload: the facts as JSON (``messages.weekly_digest`` renders them)."""
    summary = facts.summary
    zone = ZoneInfo(window.zone)
    words = (manager_name or "").split()
    return {
        "version": PAYLOAD_VERSION,
        "manager_id": manager_id,
        "first_name": words[0] if words else "",
        "week": window.week,
        "local_date": window.day.isoformat(),
        "people": summary.people,
        "required_done": summary.done,
        "required_total": summary.required_total,
        "percent": round(summary.percent, 1),
        "overdue_items": summary.overdue,
        "people_overdue": summary.people_overdue,
        "overdue": [
            {
                "person_id": p.person_id,
                "name": p.name,
                "overdue_items": p.overdue_items,
                "overdue_working_days": p.overdue_working_days,
                "oldest_due": p.oldest_due.isoformat(),
            }
            for p in summary.most_overdue
        ],
        "overdue_more": max(0, summary.people_overdue - len(summary.most_overdue)),
        "earned_count": facts.earned_count,
        "earned": [
            {
                "person_id": a.person_id,
                "name": a.name,
                "certification": a.certification,
                "awarded_on": a.at.astimezone(zone).date().isoformat(),
            }
            for a in facts.earned
        ],
        "expiring_count": facts.expiring_count,
        "expiring": [
            {
                "person_id": a.person_id,
                "name": a.name,
                "certification": a.certification,
                "expires_on": a.at.astimezone(zone).date().isoformat(),
            }
            for a in facts.expiring
        ],
    }


def _message(
    manager: tuple[Any, ...], facts: ChainFacts, window: DigestWindow, now: datetime
) -> NewMessage:
    manager_id, name, user_id, workspace_id = manager
    return NewMessage(
        key=digest_key(manager_id, window.day),
        kind=KIND,
        recipient_kind=RecipientKind.PERSON,
        recipient=user_id,
        payload=weekly_payload(name, manager_id, facts, window),
        person_id=manager_id,
        workspace_id=workspace_id,
        not_before=now,
    )
