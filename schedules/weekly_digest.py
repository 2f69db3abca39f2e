"""The weekly manager digest: plan it into the outbox, once per manager per ISO week.

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
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, case, cast, exists, func, literal, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from delivery.outbox import NewMessage, enqueue
from learning.calendar import WEEKDAYS
from learning.clock import Clock, local_date
from learning.curriculum import ProgramSettings
from learning.paths import current_settings
from learning.team import OverduePerson, TeamSummary
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
OVERDUE_LISTED = 10  # overdue people named in the payload (most overdue first)
CERTIFICATIONS_LISTED = 10  # earned / expiring awards named in the payload
EARNED_DAYS = 7
EXPIRING_DAYS = 30
PAYLOAD_VERSION = 1


@dataclass(frozen=True)
class DigestWindow:
    """A time zone where the weekly digest is due at the planning instant."""

    zone: str
    day: date  # the configured weekday, in that zone

    @property
    def week(self) -> str:
        """``2026-W11``: the ISO week of ``day``."""
        return iso_week(self.day)


@dataclass
class WeeklyPlan:
    """What one planning pass of the weekly digest did."""

    zones_open: list[str] = field(default_factory=list)
    managers: int = 0  # managers due now who had no digest yet this week
    enqueued: int = 0


@dataclass(frozen=True)
class Award:
    """A certification award of someone in a chain."""

    person_id: int
    name: str
    certification: str
    at: datetime  # awarded_at or expires_at


@dataclass
class ChainFacts:
    """One manager's chain: the team summary and the certification news."""

    summary: TeamSummary = field(default_factory=TeamSummary)
    earned: list[Award] = field(default_factory=list)
    earned_count: int = 0
    expiring: list[Award] = field(default_factory=list)
    expiring_count: int = 0


def iso_week(day: date) -> str:
    """``2026-W03``: ISO year and week (the ISO year differs around New Year)."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def digest_key(manager_id: int, day: date) -> str:
    """The outbox key of ``manager_id``'s digest for the ISO week of ``day``."""
    return f"weekly:{manager_id}:{iso_week(day)}"


def open_weekly_windows(
    zones: list[str], *, now: datetime, settings: ProgramSettings
) -> list[DigestWindow]:
    """The zones where the weekly digest's window is open at ``now``.

    The window runs from ``manager_digest.time`` on the configured weekday for
    ``manager_digest.window`` minutes of local wall-clock time (it may run past midnight).
    A zone whose configured day is not a working day on its calendar (a holiday) is left
    out: that week has no digest there.
    """
    config = settings.manager_digest
    if not config.enabled:
        return []
    weekday = WEEKDAYS.index(config.weekday)
    windows = []
    for zone in zones:
        tz = ZoneInfo(zone)
        local = now.astimezone(tz)
        # The latest configured weekday on or before today: a window that runs past
        # midnight still belongs to the day it opened on.
        day = local.date() - timedelta(days=(local.weekday() - weekday) % 7)
        if not settings.calendar_for(zone).is_working_day(day):
            continue
        opens = datetime.combine(day, config.time, tzinfo=tz)
        if not opens <= local < opens + timedelta(minutes=config.window):
            continue
        windows.append(DigestWindow(zone=zone, day=day))
    return windows


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
    """(id, name, slack user id, workspace) of the window's managers without this week's
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
    return list(
        session.execute(
            select(Person.id, Person.name, Person.slack_user_id, Person.workspace_id)
            .where(
                Person.active,
                in_zone,
                Person.slack_user_id.is_not(None),  # type: ignore[union-attr]
                Person.slack_user_id != "",
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
    org_zone = settings.organisation.timezone
    zone_col = func.coalesce(Person.timezone, org_zone)
    todays = {
        zone: local_date(now, zone)
        for zone in session.scalars(select(zone_col).where(Person.active).distinct())
    }
    if not todays:
        return {}
    today_col = case(todays, value=zone_col)

    # (manager, person) for everyone below each manager. UNION drops pairs already
    # found, so a cycle in the manager links ends the walk.
    pairs = (
        select(Person.manager_id.label("manager_id"), Person.id.label("person_id"))
        .where(Person.manager_id.in_(sorted(set(manager_ids))))  # type: ignore[union-attr]
        .cte("chain", recursive=True)
    )
    pairs = pairs.union(
        select(pairs.c.manager_id, Person.id).join(pairs, Person.manager_id == pairs.c.person_id)
    )
    manager = pairs.c.manager_id
    member = and_(Person.active, pairs.c.person_id != pairs.c.manager_id)

    facts: dict[int, ChainFacts] = {}
    counts: dict[int, dict[str, int]] = defaultdict(
        lambda: {"people": 0, "done": 0, "due": 0, "overdue": 0, "waived": 0}
    )
    for manager_id, people in session.execute(
        select(manager, func.count())
        .select_from(pairs)
        .join(Person, Person.id == pairs.c.person_id)
        .where(member)
        .group_by(manager)
    ):
        counts[manager_id]["people"] = people

    # Walk from the chain to each person's assignments, not from every open assignment
    # to the chain (8 minutes instead of a second at 100,000 people on SQLite).
    status = status_by_person()
    owed = and_(member, Assignment.required, status != AssignmentStatus.CLOSED)
    late = and_(
        status == AssignmentStatus.OPEN,
        Assignment.due_date.is_not(None),  # type: ignore[union-attr]
        Assignment.due_date < today_col,  # type: ignore[operator]
    )
    late_flag = case((late, 1), else_=0)
    for manager_id, status, is_late, count in session.execute(
        select(manager, Assignment.status, late_flag, func.count())
        .select_from(pairs)
        .join(Person, Person.id == pairs.c.person_id)
        .join(Assignment, Assignment.person_id == Person.id)
        .where(owed)
        .group_by(manager, Assignment.status, late_flag)
    ):
        if status == AssignmentStatus.COMPLETED:
            counts[manager_id]["done"] += count
        elif status == AssignmentStatus.WAIVED:
            counts[manager_id]["waived"] += count
        elif is_late:
            counts[manager_id]["overdue"] += count
        else:
            counts[manager_id]["due"] += count

    # The most overdue people of each chain, ranked by the database by oldest due date
    # (twice as many as named, then re-sorted on each person's own calendar in working
    # days), with the number of overdue people per chain alongside.
    oldest = func.min(Assignment.due_date)
    items = func.count()
    ranked = (
        select(
            manager.label("manager_id"),
            Person.id.label("person_id"),
            Person.name.label("name"),
            Person.email.label("email"),
            Person.slack_user_id.label("slack_user_id"),
            zone_col.label("zone"),
            items.label("items"),
            oldest.label("oldest"),
            func.row_number()
            .over(partition_by=manager, order_by=(oldest, items.desc(), Person.name, Person.id))
            .label("rank"),
            func.count().over(partition_by=manager).label("people_overdue"),
        )
        .select_from(pairs)
        .join(Person, Person.id == pairs.c.person_id)
        .join(Assignment, Assignment.person_id == Person.id)
        .where(owed, late)
        .group_by(manager, Person.id, Person.name, Person.email, Person.slack_user_id, zone_col)
        .subquery("ranked")
    )
    leaders: dict[int, list[OverduePerson]] = defaultdict(list)
    people_overdue: dict[int, int] = {}
    for row in session.execute(
        select(ranked).where(ranked.c.rank <= max(1, 2 * overdue_listed))
    ).mappings():
        people_overdue[row["manager_id"]] = row["people_overdue"]
        zone = row["zone"]
        leaders[row["manager_id"]].append(
            OverduePerson(
                person_id=row["person_id"],
                name=row["name"],
                email=row["email"],
                slack_user_id=row["slack_user_id"],
                overdue_items=row["items"],
                oldest_due=row["oldest"],
                overdue_working_days=settings.calendar_for(zone).working_days_between(
                    row["oldest"], todays[zone]
                ),
            )
        )

    for manager_id, totals in counts.items():
        most = sorted(
            leaders.get(manager_id, []),
            key=lambda p: (-p.overdue_working_days, -p.overdue_items, p.name.lower(), p.person_id),
        )
        facts[manager_id] = ChainFacts(
            summary=TeamSummary(
                **totals,
                people_overdue=people_overdue.get(manager_id, 0),
                most_overdue=tuple(most[: max(0, overdue_listed)]),
            )
        )

    # Certifications earned in the last week, newest first.
    award = CertificationAward
    earned_at = award.awarded_at
    for manager_id, rows, total in _awards(
        session,
        pairs,
        member,
        at=earned_at,
        where=and_(earned_at > now - timedelta(days=EARNED_DAYS), earned_at <= now),
        newest_first=True,
        limit=certifications_listed,
    ):
        if manager_id in facts:
            facts[manager_id].earned = rows
            facts[manager_id].earned_count = total

    # Certifications expiring within 30 days, soonest first: not lapsed, and not renewed
    # already (a later cycle of the same certification for the same person).
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
        pairs,
        member,
        at=expires_at,
        where=and_(
            award.lapsed_at.is_(None),  # type: ignore[union-attr]
            expires_at > now,  # type: ignore[operator]
            expires_at <= now + timedelta(days=EXPIRING_DAYS),  # type: ignore[operator]
            ~renewed,
        ),
        newest_first=False,
        limit=certifications_listed,
    ):
        if manager_id in facts:
            facts[manager_id].expiring = rows
            facts[manager_id].expiring_count = total
    return facts


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
    manager_id, name, slack_user_id, workspace_id = manager
    return NewMessage(
        key=digest_key(manager_id, window.day),
        kind=KIND,
        recipient_kind=RecipientKind.PERSON,
        recipient=slack_user_id,
        payload=weekly_payload(name, manager_id, facts, window),
        person_id=manager_id,
        workspace_id=workspace_id,
        not_before=now,
    )
