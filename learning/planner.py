"""The nudge planner: at an instant, who gets today's digest and what it says.

Set-based: for each time zone whose send window is open, its people a page at a time
and each page's items in one query, so the cost follows the number of rows to send
and memory stays flat.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, cast, exists, func, literal, or_, select, type_coerce
from sqlmodel import Session

from learning.accounts import DELIVERY_PLATFORM, user_id_column
from learning.calendar import WEEKDAYS, WorkCalendar
from learning.chain import ChainPerson, PeopleIndex
from learning.curriculum import ProgramSettings
from learning.digest import Digest, DigestItem
from learning.enrollment import PREREQUISITE
from learning.ladder import (
    SendWindow,
    escalation_window,
    next_telling_step,
    notice_day,
    standing,
    step_date,
)
from models import (
    Assignment,
    AssignmentStatus,
    Certification,
    CertificationRequirement,
    ExtensionRequest,
    ExtensionStatus,
    Item,
    OutboxMessage,
    Person,
    status_by_person,
)

PEOPLE_PAGE = 1000  # people per page; their items are one query with an IN list


@dataclass(frozen=True)
class ZoneWindow:
    """A time zone whose digest window is open at the planning instant."""

    zone: str
    today: date
    calendar: WorkCalendar
    lookahead_until: date
    suggestions: bool


@dataclass(frozen=True)
class PlannedDigest:
    """A digest and where it goes."""

    digest: Digest
    channel: str
    workspace_id: str


@dataclass
class PlanStats:
    """What a planning pass looked at; filled in while the plan is consumed."""

    zones_open: list[str] = field(default_factory=list)
    digests: int = 0
    items: int = 0
    unreachable: int = 0  # people with something to say but no Slack user id


def open_windows(zones: list[str], *, now: datetime, settings: ProgramSettings) -> list[ZoneWindow]:
    """The zones where it is a working day and the send window is open at ``now``.

    The window runs from the configured send time for ``send_window`` minutes, in local
    wall-clock time; past it the day is skipped (no evening nudges after an outage).
    """
    cadence = settings.cadence
    windows = []
    for zone in zones:
        tz = ZoneInfo(zone)
        local = now.astimezone(tz)
        today = local.date()
        calendar = settings.calendar_for(zone)
        if not calendar.is_working_day(today):
            continue
        send_at = datetime.combine(today, cadence.send_time, tzinfo=tz)
        if not send_at <= local < send_at + timedelta(minutes=cadence.send_window):
            continue
        windows.append(
            ZoneWindow(
                zone=zone,
                today=today,
                calendar=calendar,
                lookahead_until=calendar.add_working_days(today, cadence.lookahead_working_days),
                suggestions=WEEKDAYS[today.weekday()] == cadence.suggestions_weekday,
            )
        )
    return windows


def plan_digests(
    session: Session,
    *,
    now: datetime,
    settings: ProgramSettings,
    stats: PlanStats | None = None,
    workspace_id: str | None = None,
) -> Iterator[PlannedDigest]:
    """Yield today's digest for everyone whose send time has come and who has not had it.

    A digest lists overdue required items (most overdue first), then required items
    due within the lookahead, then, on the suggestions weekday, a few suggested items.
    Left out: inactive and away people, snoozed items, people already sent today's
    digest (its outbox key exists). Nothing to say means no digest. With
    ``settings.mentoring.enabled``, items that are a requirement of an active
    certification, and overdue required items, offer "Find a mentor".
    """
    stats = stats if stats is not None else PlanStats()
    org_zone = settings.organisation.timezone
    zone_of = func.coalesce(Person.timezone, org_zone)
    zones = sorted(session.scalars(select(zone_of).where(Person.active).distinct()))
    windows = open_windows(zones, now=now, settings=settings)
    stats.zones_open = [w.zone for w in windows]
    if not windows:
        return
    # The catalogue is small (hundreds of items): read it once rather than join it into
    # every assignment row.
    catalogue = {
        row[0]: tuple(row[1:])
        for row in session.execute(
            select(Item.id, Item.key, Item.title, Item.url, Item.method, Item.minutes)
        )
    }
    mentors = _MentorOffers(session) if settings.mentoring.enabled else _NO_MENTOR_OFFERS
    announcer = _Announcer(session, settings=settings, now=now)
    for window in windows:
        yield from _plan_zone(
            session,
            window,
            catalogue,
            mentors,
            announcer,
            now=now,
            settings=settings,
            stats=stats,
            workspace_id=workspace_id,
        )


def _plan_zone(
    session: Session,
    window: ZoneWindow,
    catalogue: dict[int, tuple[Any, ...]],
    mentors: _MentorOffers,
    announcer: _Announcer,
    *,
    now: datetime,
    settings: ProgramSettings,
    stats: PlanStats,
    workspace_id: str | None,
) -> Iterator[PlannedDigest]:
    """The zone's people a page at a time (keyset on id), then each page's items.

    Two queries rather than one join, so that every database walks the same way: the
    zone's people, then each one's assignments through the ``person_id`` index. As one
    join, SQLite (no statistics) starts from the open-assignment index instead, i.e.
    from every zone's open assignments for each zone: 8x slower at 100,000 people.
    """
    people = _zone_people(window, settings=settings, workspace_id=workspace_id)
    items = _zone_items(window, now=now)
    # Core execution (the connection, not the ORM session): these rows are plain tuples,
    # and the ORM's row processing was a fifth of the planner's time.
    connection = session.connection()
    facts = _DueFacts(window, settings)
    paused = _open_requests(connection)
    last_id = 0
    while True:
        page = connection.execute(people.where(Person.id > last_id)).all()
        if not page:
            return
        last_id = page[-1][0]
        rows_of: dict[int, list] = {}
        for row in _fetch_raw(
            connection, items.where(Assignment.person_id.in_([p[0] for p in page]))
        ):
            rows_of.setdefault(row[0], []).append(row)
        announcer.prepare(
            person_id
            for person_id, rows in rows_of.items()
            if any(row[2] and facts.required(row[3], row[5])[5] for row in rows)
        )
        for person in page:
            rows = rows_of.get(person[0])
            if rows:
                planned = _digest(
                    person,
                    rows,
                    window,
                    catalogue,
                    settings,
                    stats,
                    facts,
                    paused,
                    mentors,
                    announcer,
                )
                if planned:
                    yield planned


def _zone_people(window: ZoneWindow, *, settings: ProgramSettings, workspace_id: str | None) -> Any:
    """A page of the zone's people due today's digest (not away, not sent yet), by id."""
    org_zone = settings.organisation.timezone
    in_zone = (
        or_(Person.timezone == window.zone, Person.timezone.is_(None))
        if window.zone == org_zone
        else Person.timezone == window.zone
    )
    key = literal("digest:") + cast(Person.id, String) + literal(f":{window.today.isoformat()}")
    already_sent = exists().where(OutboxMessage.key == key)
    people = (
        select(Person.id, Person.name, user_id_column(DELIVERY_PLATFORM), Person.workspace_id)
        .where(
            Person.active,
            in_zone,
            or_(Person.away_until.is_(None), Person.away_until < window.today),
            ~already_sent,
        )
        .order_by(Person.id)
        .limit(PEOPLE_PAGE)
    )
    if workspace_id is not None:
        people = people.where(Person.workspace_id == workspace_id)
    return people


def _zone_items(window: ZoneWindow, *, now: datetime) -> Any:
    """The open items a digest may list (required ones due within the lookahead or with
    a due-date notice; suggested ones on suggestion days), by person, date, id."""
    wanted = Assignment.required & (
        (Assignment.due_date <= window.lookahead_until) | Assignment.due_notice.is_not(None)  # type: ignore[union-attr]
    )
    if window.suggestions:
        wanted = or_(wanted, ~Assignment.required)
    return (
        select(
            Assignment.person_id,
            Assignment.id,
            Assignment.required,
            # As stored (SQLite: text): a page has few distinct due dates, so _dates
            # parses each once instead of once per row.
            type_coerce(Assignment.due_date, String),
            Assignment.item_id,
            Assignment.ladder_paused_days,
            Assignment.ladder_step,
            Assignment.due_notice,
        )
        .where(
            status_by_person() == AssignmentStatus.OPEN,
            Assignment.due_date.is_not(None),
            or_(Assignment.snoozed_until.is_(None), Assignment.snoozed_until <= now),
            wanted,
        )
        .order_by(Assignment.person_id, Assignment.due_date, Assignment.id)
    )


def _fetch_raw(connection: Any, statement: Any) -> list[tuple[Any, ...]]:
    """The rows as the driver returns them, without SQLAlchemy's Row objects (half the
    cost at a million rows). The planner's item query has no column needing a result
    processor: integers, a boolean (SQLite: 0/1), and a due date it parses itself."""
    result = connection.execute(statement)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def _as_date(value: Any) -> date:
    """A date column's value as the driver returns it (SQLite text, PostgreSQL date)."""
    return value if isinstance(value, date) else date.fromisoformat(value)


class _DueFacts:
    """What a due date means today, computed once per (due date, paused days) and zone.

    A zone's digests share a few hundred due dates, so the working-day arithmetic and
    the ladder's rules run once per date, not once per item (a million a day at scale).
    For a required item: (due date, section, overdue working days, working days ahead,
    reminder, warned); for a suggested one the first four. Who is told next, and when,
    is ``_Announcer``'s (it depends on the item's ladder state and the recipient). The
    driver's due value (SQLite: text) is the key, so it is parsed once too.
    """

    def __init__(self, window: ZoneWindow, settings: ProgramSettings) -> None:
        self._today = window.today
        self._calendar = window.calendar
        self._lookahead_until = window.lookahead_until
        self._escalation = settings.escalation
        self._required: dict[tuple[Any, int], tuple[Any, ...]] = {}
        self._suggested: dict[Any, tuple[Any, ...]] = {}

    def required(self, raw_due: Any, paused_days: int) -> tuple[Any, ...]:
        key = (raw_due, paused_days)
        found = self._required.get(key)
        if found is not None:
            return found
        due = _as_date(raw_due)
        today = self._today
        offset = self._calendar.working_days_between(today, due)
        where = standing(
            self._escalation,
            due=due,
            today=today,
            calendar=self._calendar,
            paused_days=paused_days,
        )
        if due < today:
            head: tuple[Any, ...] = (due, "overdue", -offset, 0)
        elif due > self._lookahead_until:
            head = (due, "rescheduled", 0, offset)  # listed only to tell its new date
        else:
            head = (due, "due_soon", 0, offset)
        found = (*head, where.reminder, where.warned)
        self._required[key] = found
        return found

    def suggested(self, raw_due: Any) -> tuple[Any, ...]:
        found = self._suggested.get(raw_due)
        if found is None:
            due = _as_date(raw_due)
            ahead = max(0, self._calendar.working_days_between(self._today, due))
            found = self._suggested[raw_due] = (due, "suggested", 0, ahead)
        return found


class _Announcer:
    """Who is told next about a flagged item, and on which of *their* days.

    The date is ``learning.ladder.notice_day``: the day the escalation job will really
    tell them (their working day, their send window), so the digest never announces a
    date the ladder does not keep. The next step is the first not yet acted on
    (``ladder_step``), so a re-dated item, whose ladder starts again, is announced
    afresh. Chains are loaded only for people with a flagged item.
    """

    def __init__(self, session: Session, *, settings: ProgramSettings, now: datetime) -> None:
        self._settings = settings
        self._now = now
        self._index = PeopleIndex(session, org_zone=settings.organisation.timezone)
        self._takers: dict[int, tuple[ChainPerson | None, ChainPerson | None]] = {}
        self._windows: dict[str, SendWindow] = {}
        self._days: dict[tuple[Any, ...], date] = {}

    def prepare(self, person_ids: Any) -> None:
        ids = [i for i in person_ids if i not in self._takers]
        if ids:
            self._index.load_chains(ids)

    def next_notice(
        self,
        person_id: int,
        window: ZoneWindow,
        *,
        due: date,
        paused_days: int,
        told: int,
    ) -> tuple[str | None, date | None]:
        found = next_telling_step(self._settings.escalation, told=told)
        if found is None:
            return None, None
        index, step = found
        takers = self._takers.get(person_id)
        if takers is None:
            takers = self._takers[person_id] = self._index.takers(person_id, self._now)
        taker = takers[0] if step.notify == "manager" else takers[1]
        zone = (taker.timezone if taker else None) or self._settings.organisation.timezone
        key = (window.zone, due, paused_days, index, zone)
        day = self._days.get(key)
        if day is None:
            if zone not in self._windows:
                self._windows[zone] = escalation_window(self._settings, zone)
            step_on = step_date(step, due=due, calendar=window.calendar, paused_days=paused_days)
            day = self._days[key] = notice_day(
                step_on, learner_zone=window.zone, window=self._windows[zone], not_before=self._now
            )
        return step.notify, day


class _MentorOffers:
    """Which digest items offer "Find a mentor" (``learning.mentoring``).

    ``items``: the requirements of active certifications, read once per planning run
    (a few hundred ids at most), so the offer costs a set lookup per item and no query
    per person; ``overdue``: whether every overdue required item offers it too.
    """

    def __init__(self, session: Session | None) -> None:
        self.overdue = session is not None
        self.items: frozenset[int] = frozenset(
            session.scalars(
                select(CertificationRequirement.item_id)
                .join(Certification, Certification.id == CertificationRequirement.certification_id)
                .where(Certification.active)
                .distinct()
            )
            if session is not None
            else ()
        )


_NO_MENTOR_OFFERS = _MentorOffers(None)  # mentoring switched off: no item offers it


def _open_requests(connection: Any) -> set[int]:
    """Assignments with an open extension request (few: read them all at once)."""
    return set(
        connection.execute(
            select(ExtensionRequest.assignment_id).where(
                ExtensionRequest.status == ExtensionStatus.OPEN
            )
        ).scalars()
    )


def _digest(
    person: Any,
    rows: list,
    window: ZoneWindow,
    catalogue: dict[int, tuple[Any, ...]],
    settings: ProgramSettings,
    stats: PlanStats,
    facts: _DueFacts,
    paused: set[int],
    mentors: _MentorOffers,
    announcer: _Announcer,
) -> PlannedDigest | None:
    person_id, name, user_id, workspace_id = person
    max_suggestions = settings.cadence.max_suggestions
    mentor_items, mentor_overdue = mentors.items, mentors.overdue
    overdue: list[DigestItem] = []
    due_soon: list[DigestItem] = []
    rescheduled: list[DigestItem] = []
    suggested: list[DigestItem] = []
    for _, assignment_id, required, raw_due, item_id, paused_days, told, notice in rows:
        if required:
            known = facts.required(raw_due, paused_days)
            late = known[1] == "overdue"
            if known[1] == "rescheduled" and notice is None:
                continue  # beyond the lookahead, and nothing new to say about it
            next_to, next_on = (
                announcer.next_notice(
                    person_id, window, due=known[0], paused_days=paused_days, told=told
                )
                if known[5]
                else (None, None)
            )
            changed, after = _changed(notice, catalogue)
            item = DigestItem(
                assignment_id,
                *catalogue[item_id],
                True,
                *known,
                next_to,
                next_on,
                assignment_id in paused,
                mentor_overdue if late else item_id in mentor_items,
                changed,
                after,
            )
            {"overdue": overdue, "due_soon": due_soon}.get(known[1], rescheduled).append(item)
        elif len(suggested) < max_suggestions:
            suggested.append(
                DigestItem(
                    assignment_id,
                    *catalogue[item_id],
                    False,
                    *facts.suggested(raw_due),
                    mentor_offer=item_id in mentor_items,
                )
            )
    items = (*overdue, *due_soon, *rescheduled, *suggested)
    if not items:
        return None
    if not user_id:
        stats.unreachable += 1
        return None
    stats.digests += 1
    stats.items += len(items)
    first_name = (name or "").split()[0] if (name or "").split() else "there"
    return PlannedDigest(Digest(person_id, first_name, window.today, items), user_id, workspace_id)


def _changed(notice: str | None, catalogue: dict[int, tuple[Any, ...]]) -> tuple[Any, Any]:
    """A stored ``due_notice`` as the digest's (reason, prerequisite title)."""
    if notice is None:
        return None, None
    event, _, item_id = notice.partition(":")
    if event == PREREQUISITE and item_id.isdigit() and int(item_id) in catalogue:
        return event, catalogue[int(item_id)][1]
    return event, None
