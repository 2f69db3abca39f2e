"""What a person's App Home shows, as facts: their path, open items, certifications, and
their team or the whole program when they may see it.

``home_for`` answers for a caller (resolved by the platform adapter): a ``HomePage`` for a
person learnbot knows, or a
``Welcome`` for someone it does not (yet). Rendering is ``messages.home``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import select
from sqlmodel import Session

from learning.award_rules import score_counts
from learning.certifications import certification_rules, completion_facts, person_certifications
from learning.clock import Clock, local_date
from learning.curriculum import ProgramSettings
from learning.identity import Caller, reporting_chain_ids
from learning.paths import current_settings
from learning.progress import (
    CompletionReport,
    PersonStatus,
    completion_report,
    person_status,
    waiting_titles,
)
from learning.team import TeamSummary, team_summary
from models import (
    DEFAULT_WORKSPACE,
    Assignment,
    AssignmentStatus,
    Item,
    Person,
    status_by_person,
)


@dataclass(frozen=True)
class HomeItem:
    """An open assignment, with what its buttons need."""

    assignment_id: int
    key: str
    title: str
    url: str | None
    method: str
    minutes: int
    required: bool
    due_date: date | None
    overdue: bool  # a required item past its due date (suggested items never are)
    overdue_working_days: int  # working days since the due date (0 over a weekend)
    snoozed_until: datetime | None  # set while a snooze is running
    waiting_for: tuple[str, ...] = ()  # no date yet: the prerequisites it waits for


@dataclass(frozen=True)
class HeldCertification:
    """A certification the person holds (or held: ``lapsed_on``), in their own dates.

    ``messages.certifications.validity_of`` writes its state.
    """

    title: str
    expires_on: date | None
    lapsed_on: date | None = None
    window_opens_on: date | None = None  # from then on it reads "expires in N days"
    lapses_on: date | None = None  # expiry plus grace


@dataclass(frozen=True)
class CertificationGoal:
    """A certification the person is working towards: requirements met so far."""

    title: str
    met: int
    needed: int


@dataclass(frozen=True)
class HomePage:
    """Everything one person's App Home shows.

    Attributes:
        status: Their path per tier (``learning.progress.person_status``).
        items: Open assignments, snoozed ones included (``HomeItem.snoozed_until``):
            overdue first (longest overdue first), then by due date, required before
            suggested on the same day.
        certifications: Certifications held, or held and lapsed (the newest award of
            each), by title.
        goals: Certifications whose requirements are on their path.
        team: Their reporting chain's summary, if they manage anyone.
        program: The whole program, for admins.
    """

    status: PersonStatus
    items: tuple[HomeItem, ...]
    certifications: tuple[HeldCertification, ...]
    goals: tuple[CertificationGoal, ...]
    team: TeamSummary | None
    program: CompletionReport | None

    @property
    def away(self) -> bool:
        """Whether the person is away today (reminders paused)."""
        away_until = self.status.away_until
        return away_until is not None and away_until >= self.status.today


@dataclass(frozen=True)
class Welcome:
    """For a chat user learnbot does not know, or whose profile is switched off."""

    inactive: bool = False
    program: CompletionReport | None = None  # admins listed by platform user id still see this


def home_for(
    session: Session,
    *,
    caller: Caller,
    clock: Clock,
    workspace_id: str = DEFAULT_WORKSPACE,
) -> HomePage | Welcome:
    """The App Home facts for ``caller`` (resolved by the platform adapter).

    Managers get a summary of their own reporting chain only; admins (``is_admin`` or
    ``LEARNBOT_ADMINS``) get the program overview.
    """
    person, admin = caller.person, caller.admin
    program = completion_report(session, clock=clock, workspace_id=workspace_id) if admin else None
    if person is None or not person.active:
        return Welcome(inactive=person is not None, program=program)
    return home_page(session, person, clock=clock, program=program)


def home_page(
    session: Session,
    person: Person,
    *,
    clock: Clock,
    program: CompletionReport | None = None,
) -> HomePage:
    """One known person's App Home facts (their team's summary if they manage anyone)."""
    assert person.id is not None
    settings = current_settings(session) or ProgramSettings()
    status = person_status(session, person.email, clock=clock, workspace_id=person.workspace_id)
    chain = reporting_chain_ids(session, person.id)
    standings = person_certifications(session, person, settings=settings)
    return HomePage(
        status=status,
        items=open_items(session, person, clock=clock, settings=settings),
        certifications=tuple(
            HeldCertification(s.title, s.expires_on, s.lapsed_on, s.window_opens_on, s.lapses_on)
            for s in standings
        ),
        goals=certification_goals(
            session,
            person.id,
            held_ids={s.certification_id for s in standings if s.held and s.certification_id},
        ),
        team=team_summary(session, person_ids=chain, clock=clock, settings=settings)
        if chain
        else None,
        program=program,
    )


def open_items(
    session: Session, person: Person, *, clock: Clock, settings: ProgramSettings
) -> tuple[HomeItem, ...]:
    """``person``'s open assignments, most urgent first (see ``HomePage.items``)."""
    zone = person.timezone or settings.organisation.timezone
    now = clock.now()
    today = local_date(now, zone)
    calendar = settings.calendar_for(zone)
    items: list[HomeItem] = []
    undated: dict[int, int] = {}  # assignment id -> item id, for items without a date
    for row in session.execute(
        select(
            Assignment.id,
            Assignment.required,
            Assignment.due_date,
            Assignment.snoozed_until,
            Assignment.item_id,
            Item.key,
            Item.title,
            Item.url,
            Item.method,
            Item.minutes,
        )
        .join(Item, Item.id == Assignment.item_id)
        .where(
            Assignment.person_id == person.id,
            status_by_person() == AssignmentStatus.OPEN,
        )
    ):
        overdue = bool(row.required and row.due_date is not None and row.due_date < today)
        late = calendar.working_days_between(row.due_date, today) if overdue else 0
        snoozed = row.snoozed_until if row.snoozed_until and row.snoozed_until > now else None
        if row.due_date is None:
            undated[row.id] = row.item_id
        items.append(
            HomeItem(
                assignment_id=row.id,
                key=row.key,
                title=row.title,
                url=row.url,
                method=row.method,
                minutes=row.minutes,
                required=row.required,
                due_date=row.due_date,
                overdue=overdue,
                overdue_working_days=late,
                snoozed_until=snoozed,
            )
        )
    waiting = waiting_titles(session, person, list(undated.values()))
    if waiting:
        items = [
            replace(i, waiting_for=waiting.get(undated.get(i.assignment_id, 0), ())) for i in items
        ]
    items.sort(
        key=lambda i: (
            not i.overdue,
            i.due_date is None,
            i.due_date or date.max,
            not i.required,
            i.title.lower(),
            i.assignment_id,
        )
    )
    return tuple(items)


def certification_goals(
    session: Session, person_id: int, *, held_ids: Collection[int] = ()
) -> tuple[CertificationGoal, ...]:
    """Active certifications needing an item on ``person_id``'s path, with requirements met.

    A requirement is met by a completed assignment of its item, with at least the
    minimum score when one is set, from a trusted source (``learning.award_rules``). A
    certification in ``held_ids`` (held, not lapsed) is left out while all its
    requirements are met: it only shows again as a goal when its renewal round is open.
    """
    held = {
        row.item_id: row
        for row in session.execute(
            select(Assignment.item_id, Assignment.status)
            .where(
                Assignment.person_id == person_id,
                Assignment.status != AssignmentStatus.CLOSED,
            )
            .order_by(Assignment.cycle)  # the newest cycle wins
        )
    }
    if not held:
        return ()
    rules = certification_rules(session)
    wanted = {r.item_id for rule in rules.values() for r in rule.requirements}
    facts = completion_facts(session, person_id, wanted & set(held))
    goals = []
    for rule in rules.values():
        if not any(r.item_id in held for r in rule.requirements):
            continue
        met = sum(
            1
            for r in rule.requirements
            if r.item_id in held
            and held[r.item_id].status == AssignmentStatus.COMPLETED
            # A minimum score needs a trusted score (or a self-reported one where allowed).
            and any(score_counts(r, fact) for fact in facts.get(r.item_id, ()))
        )
        if rule.id in held_ids and met == len(rule.requirements):
            continue
        goals.append(CertificationGoal(rule.title, met, len(rule.requirements)))
    goals.sort(key=lambda g: (g.met == g.needed, -g.met / g.needed, g.title.lower()))
    return tuple(goals)
