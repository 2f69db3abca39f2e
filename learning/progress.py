"""Read-outs: one person's path, and completion by team and by role."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import Session

from learning.calendar import WorkCalendar
from learning.clock import Clock, local_date
from learning.curriculum import ProgramSettings
from learning.enrollment import waiting_for
from learning.errors import NotFound
from learning.paths import current_settings, load_paths
from models import (
    DEFAULT_WORKSPACE,
    Assignment,
    AssignmentStatus,
    Item,
    Person,
    Program,
    Tier,
    TierItem,
    status_by_person,
)


@dataclass(frozen=True)
class ItemLine:
    key: str
    title: str
    method: str
    minutes: int
    required: bool
    status: str  # done, waived, open, overdue, closed, upcoming
    due_date: date | None
    overdue_working_days: int = 0
    completed_on: date | None = None
    score: float | None = None
    waiting_for: tuple[str, ...] = ()  # open, no date yet: the prerequisites it waits for


@dataclass
class TierLine:
    title: str
    starts_on: date | None
    items: list[ItemLine] = field(default_factory=list)

    @property
    def required_done(self) -> tuple[int, int]:
        required = [i for i in self.items if i.required and i.status != "waived"]
        return sum(1 for i in required if i.status == "done"), len(required)


@dataclass
class PersonStatus:
    email: str
    name: str
    role: str
    program_title: str | None
    team: str
    manager: str | None
    timezone: str
    today: date
    active: bool
    away_until: date | None
    tiers: list[TierLine]
    other: list[ItemLine]


def _settings(session: Session) -> ProgramSettings:
    return current_settings(session) or ProgramSettings()


def person_by_email(
    session: Session, email: str, *, workspace_id: str = DEFAULT_WORKSPACE
) -> Person:
    """The person with ``email`` (any case) in ``workspace_id``; raise ``NotFound`` if none."""
    person = session.scalars(
        select(Person).where(
            Person.workspace_id == workspace_id, Person.email == email.strip().lower()
        )
    ).first()
    if person is None:
        raise NotFound(f"nobody with email {email!r}")
    return person


def item_title(session: Session, item_id: int) -> str:
    """The title of item ``item_id`` (its key when the title is blank)."""
    item = session.get(Item, item_id)
    if item is None:
        raise NotFound(f"no item {item_id}")
    return item.title or item.key


def waiting_titles(
    session: Session, person: Person, item_ids: Collection[int]
) -> dict[int, tuple[str, ...]]:
    """For ``person``'s open items without a due date among ``item_ids``: the titles of
    the prerequisites each waits for (``learning.enrollment.waiting_for``)."""
    if not item_ids:
        return {}
    path = load_paths(session, roles=[person.role]).get(person.role)
    if path is None:
        return {}
    done = set(
        session.scalars(
            select(Assignment.item_id).where(
                Assignment.person_id == person.id,
                Assignment.status.in_((AssignmentStatus.COMPLETED, AssignmentStatus.WAIVED)),  # type: ignore[attr-defined]
            )
        )
    )
    entries = {entry.item_id: entry for entry in path.items}
    needed = {
        item_id: waiting_for(entries[item_id], path, done)
        for item_id in item_ids
        if item_id in entries
    }
    ids = {i for wanted in needed.values() for i in wanted}
    titles: dict[int, str] = {
        row[0]: row[1]
        for row in (
            session.execute(select(Item.id, Item.title).where(Item.id.in_(ids)))  # type: ignore[union-attr]
            if ids
            else ()
        )
    }
    return {
        item_id: tuple(titles[i] for i in wanted if i in titles)
        for item_id, wanted in needed.items()
        if wanted
    }


def person_status(
    session: Session, email: str, *, clock: Clock, workspace_id: str = DEFAULT_WORKSPACE
) -> PersonStatus:
    """One person's path as of their local today; raise ``NotFound`` for an unknown email."""
    person = person_by_email(session, email, workspace_id=workspace_id)
    settings = _settings(session)
    zone = person.timezone or settings.organisation.timezone
    calendar = settings.calendar_for(zone)
    today = local_date(clock.now(), zone)
    manager = session.get(Person, person.manager_id) if person.manager_id else None
    program = session.scalars(select(Program).where(Program.role == person.role)).first()

    assignments: dict[int, Assignment] = {}
    for assignment in session.scalars(
        select(Assignment).where(Assignment.person_id == person.id).order_by(Assignment.cycle)
    ):
        assignments[assignment.item_id] = assignment  # newest cycle wins
    items = {i.id: i for i in session.scalars(select(Item))}
    waiting = waiting_titles(
        session,
        person,
        [
            a.item_id
            for a in assignments.values()
            if a.status == AssignmentStatus.OPEN and a.due_date is None
        ],
    )

    def line(item: Item, required: bool, assignment: Assignment | None) -> ItemLine:
        return _item_line(
            item, required, assignment, today=today, zone=zone, calendar=calendar, waiting=waiting
        )

    tiers: list[TierLine] = []
    on_path: set[int] = set()
    if program is not None and program.active:
        for tier in session.scalars(
            select(Tier).where(Tier.program_id == program.id, Tier.active).order_by(Tier.position)
        ):
            starts_on = person.role_start_date + timedelta(days=tier.start_day)
            tier_line = TierLine(tier.title, starts_on)
            for entry in session.scalars(
                select(TierItem).where(TierItem.tier_id == tier.id).order_by(TierItem.position)
            ):
                on_path.add(entry.item_id)
                tier_line.items.append(
                    line(items[entry.item_id], entry.required, assignments.get(entry.item_id))
                )
            tiers.append(tier_line)
    other = [
        line(items[item_id], a.required, a)
        for item_id, a in assignments.items()
        if item_id not in on_path
        and a.status in (AssignmentStatus.COMPLETED, AssignmentStatus.WAIVED, AssignmentStatus.OPEN)
    ]
    return PersonStatus(
        person.email,
        person.name,
        person.role,
        program.title if program else None,
        person.team,
        manager.email if manager else None,
        zone,
        today,
        person.active,
        person.away_until,
        tiers,
        other,
    )


def _item_line(
    item: Item,
    required: bool,
    assignment: Assignment | None,
    *,
    today: date,
    zone: str,
    calendar: WorkCalendar,
    waiting: Mapping[int, tuple[str, ...]],
) -> ItemLine:
    """How one item of a person's path stands on their ``today``."""
    if assignment is None:
        return ItemLine(item.key, item.title, item.method, item.minutes, required, "upcoming", None)
    status = {
        AssignmentStatus.COMPLETED: "done",
        AssignmentStatus.WAIVED: "waived",
        AssignmentStatus.CLOSED: "closed",
    }.get(assignment.status, "open")
    overdue = 0
    # Only required items are ever overdue: suggested ones are offered, never chased.
    if (
        status == "open"
        and assignment.required
        and assignment.due_date
        and assignment.due_date < today
    ):
        status = "overdue"
        overdue = calendar.working_days_between(assignment.due_date, today)
    completed_on = local_date(assignment.completed_at, zone) if assignment.completed_at else None
    return ItemLine(
        item.key,
        item.title,
        item.method,
        item.minutes,
        assignment.required if assignment.status == AssignmentStatus.OPEN else required,
        status,
        assignment.due_date,
        overdue,
        completed_on,
        assignment.score,
        waiting.get(item.id, ()) if status == "open" else (),
    )


@dataclass
class ReportRow:
    """Required items of active people in one group."""

    group: str
    people: int = 0
    done: int = 0
    due: int = 0
    overdue: int = 0
    waived: int = 0

    @property
    def percent(self) -> float:
        total = self.done + self.due + self.overdue
        return 100.0 * self.done / total if total else 100.0


@dataclass
class CompletionReport:
    as_of: datetime
    by_team: list[ReportRow]
    by_role: list[ReportRow]
    total: ReportRow


def completion_report(
    session: Session, *, clock: Clock, workspace_id: str = DEFAULT_WORKSPACE
) -> CompletionReport:
    """Completion of required items by team and by role, as of each person's local today.

    One grouped query: rows are (team, role, zone, status, due date) with counts, so the
    cost does not grow with the number of people, only with distinct due dates.
    """
    settings = _settings(session)
    now = clock.now()
    zone_col = func.coalesce(Person.timezone, settings.organisation.timezone)
    rows = session.execute(
        select(
            Person.team, Person.role, zone_col, Assignment.status, Assignment.due_date, func.count()
        )
        .join(Assignment, Assignment.person_id == Person.id)
        .where(
            Person.active,
            Person.workspace_id == workspace_id,
            Assignment.required,
            Assignment.status != AssignmentStatus.CLOSED,
        )
        .group_by(Person.team, Person.role, zone_col, Assignment.status, Assignment.due_date)
    )
    teams: dict[str, ReportRow] = {}
    roles: dict[str, ReportRow] = {}
    total = ReportRow("all")
    today_in: dict[str, date] = {}
    for team, role, zone, status, due, count in rows:
        today = today_in.setdefault(zone, local_date(now, zone))
        for row in (
            teams.setdefault(team or "(no team)", ReportRow(team or "(no team)")),
            roles.setdefault(role, ReportRow(role)),
            total,
        ):
            if status == AssignmentStatus.COMPLETED:
                row.done += count
            elif status == AssignmentStatus.WAIVED:
                row.waived += count
            elif due is not None and due < today:
                row.overdue += count
            else:
                row.due += count
    headcount: dict[tuple[str, str], int] = defaultdict(int)
    for team, role, count in session.execute(
        select(Person.team, Person.role, func.count())
        .where(Person.active, Person.workspace_id == workspace_id)
        .group_by(Person.team, Person.role)
    ):
        headcount[(team or "(no team)", role)] += count
    for (team, role), count in headcount.items():
        teams.setdefault(team, ReportRow(team)).people += count
        roles.setdefault(role, ReportRow(role)).people += count
        total.people += count
    return CompletionReport(
        now,
        sorted(teams.values(), key=lambda r: r.group),
        sorted(roles.values(), key=lambda r: r.group),
        total,
    )


@dataclass(frozen=True)
class TeamMember:
    """One person in a manager's reporting chain: required progress and lateness."""

    person_id: int
    name: str
    email: str
    required_done: int
    required_total: int  # required items owed now or done (waived ones excluded)
    overdue: int
    most_overdue_working_days: int

    @property
    def percent(self) -> float:
        total = self.required_total
        return 100.0 * self.required_done / total if total else 100.0


def team_progress(
    session: Session, *, person_ids: set[int] | list[int], clock: Clock
) -> list[TeamMember]:
    """Required progress of each active person in ``person_ids``, most overdue first.

    Pass ids from ``identity.reporting_chain_ids``, so a manager only ever sees their own
    chain. One grouped query per 1,000 people; each person's overdue days are counted
    on their own local calendar.
    """
    settings = _settings(session)
    now = clock.now()
    ids = sorted(set(person_ids))
    people: dict[int, Person] = {}
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # done, total, late, days
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        for person in session.scalars(
            select(Person).where(Person.id.in_(chunk), Person.active)  # type: ignore[union-attr]
        ):
            assert person.id is not None
            people[person.id] = person
        rows = session.execute(
            select(Assignment.person_id, Assignment.status, Assignment.due_date, func.count())
            .where(
                Assignment.person_id.in_(chunk),  # type: ignore[attr-defined]
                Assignment.required,
                status_by_person().in_((AssignmentStatus.OPEN, AssignmentStatus.COMPLETED)),
            )
            .group_by(Assignment.person_id, Assignment.status, Assignment.due_date)
        )
        for person_id, status, due, count in rows:
            person = people.get(person_id)
            if person is None:
                continue
            tally = counts[person_id]
            tally[1] += count
            if status == AssignmentStatus.COMPLETED:
                tally[0] += count
                continue
            zone = person.timezone or settings.organisation.timezone
            today = local_date(now, zone)
            if due is not None and due < today:
                tally[2] += count
                late = settings.calendar_for(zone).working_days_between(due, today)
                tally[3] = max(tally[3], late)
    members = [
        TeamMember(
            person_id,
            person.name,
            person.email,
            counts[person_id][0],
            counts[person_id][1],
            counts[person_id][2],
            counts[person_id][3],
        )
        for person_id, person in people.items()
    ]
    members.sort(
        key=lambda m: (-m.most_overdue_working_days, -m.overdue, m.percent, m.name.lower())
    )
    return members
