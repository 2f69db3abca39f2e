"""The weekly game board: teams ranked fairly, plus the week's good news.

A board covers a period of org-local days, ``[start, end)`` as UTC instants of
org-local midnights. The posted board (``schedules.game_board``) covers the 7 days
before its post day; ``/learn leaderboard`` shows the week that began at the last
post day's midnight, so far.

Teams (``Person.team``, active people only) are ranked by the share of their required
items done, as of the period's end: required assignments assigned before the end that
are open or completed (waived and closed ones are left out), of which those completed
before the end are done. A share, not a count, so a team of 3 with 2 of 3 done ranks
above a team of 30 with half done. Teams smaller than ``game_board.min_team_size`` or
owing nothing are not ranked; ties go to the team with more done, then by name. The
change in percentage points since the start uses the same rule at the start instant;
a team that owed nothing then has no change.

People are named only when they chose to be: active, ``on_leaderboard`` (``/learn
leaderboard join``) and ``public_posts``. Everyone else is at most counted ("and 4
more"); nobody else's name or Slack id ever reaches a ``GameBoard``.

Every part is one grouped query over the whole organisation (teams, climbers, new
certifications, kudos), never one per team or per person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select
from sqlmodel import Session

from learning import audit
from learning.accounts import DELIVERY_PLATFORM, user_id_column
from learning.calendar import WEEKDAYS
from learning.clock import Clock
from learning.curriculum import ProgramSettings
from models import (
    Assignment,
    AssignmentStatus,
    Certification,
    CertificationAward,
    Kudos,
    Person,
    status_by_person,
)

NAMED_CERTIFICATIONS = 10  # new certifications named on a board (the rest are counted)
MOST_THANKED = 3


@dataclass(frozen=True)
class Period:
    """Org-local days ``first_day`` to ``last_day`` (inclusive), as UTC ``[start, end)``."""

    start: datetime
    end: datetime
    first_day: date
    last_day: date
    so_far: bool = False  # the current week, still running (``/learn leaderboard``)


@dataclass(frozen=True)
class TeamStanding:
    """A ranked team. ``change`` is in percentage points since the period's start."""

    rank: int
    team: str
    people: int  # active members
    done: int
    owed: int  # open + completed required items (waived and closed left out)
    change: float | None  # None when the team owed nothing at the start

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.owed


@dataclass(frozen=True)
class NamedPerson:
    """Someone who chose to be named, and their count (items done, kudos received)."""

    person_id: int
    name: str
    chat_user_id: str | None  # their user id on the delivery platform, for a mention
    count: int


@dataclass(frozen=True)
class NewCertification:
    """A first award in the period, of someone who chose to be named."""

    person_id: int
    name: str
    chat_user_id: str | None  # their user id on the delivery platform, for a mention
    certification: str


@dataclass(frozen=True)
class GameBoard:
    """Everything a board shows; only opted-in people appear by name."""

    period: Period
    ranking: tuple[TeamStanding, ...]  # every ranked team, best first
    top_teams: int
    min_team_size: int
    climbers: tuple[NamedPerson, ...]
    certifications: tuple[NewCertification, ...]
    certifications_total: int  # every first award in the period, named or not
    kudos: int
    most_thanked: tuple[NamedPerson, ...]

    @property
    def teams(self) -> tuple[TeamStanding, ...]:
        """The teams shown: the first ``top_teams`` of the ranking."""
        return self.ranking[: self.top_teams]

    def standing_of(self, team: str) -> TeamStanding | None:
        """``team``'s place in the ranking, or None when it is not ranked."""
        return next((s for s in self.ranking if s.team == team), None)


@dataclass(frozen=True)
class YourPlace:
    """Where the person asking ``/learn leaderboard`` stands."""

    team: str
    team_size: int  # active members of their team
    standing: TeamStanding | None
    teams_ranked: int
    min_team_size: int
    on_leaderboard: bool
    public_posts: bool

    @property
    def named(self) -> bool:
        return self.on_leaderboard and self.public_posts


# --- periods -------------------------------------------------------------------------


def local_midnight(day: date, zone: str) -> datetime:
    """The UTC instant when ``day`` begins in ``zone``."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def board_day(now: datetime, zone: str, weekday: str) -> date:
    """The latest ``weekday`` on or before today in ``zone``: this week's post day."""
    today = now.astimezone(ZoneInfo(zone)).date()
    return today - timedelta(days=(today.weekday() - WEEKDAYS.index(weekday)) % 7)


def week_before(post_day: date, zone: str) -> Period:
    """The 7 org-local days before ``post_day``: what the board posted that day covers."""
    first = post_day - timedelta(days=7)
    return Period(
        start=local_midnight(first, zone),
        end=local_midnight(post_day, zone),
        first_day=first,
        last_day=post_day - timedelta(days=1),
    )


def week_so_far(now: datetime, zone: str, weekday: str) -> Period:
    """The week since this week's post day began (``/learn leaderboard``).

    The period runs to next week's post day so that everything up to ``now`` (and at
    it) counts; nothing later exists yet.
    """
    first = board_day(now, zone, weekday)
    return Period(
        start=local_midnight(first, zone),
        end=local_midnight(first + timedelta(days=7), zone),
        first_day=first,
        last_day=now.astimezone(ZoneInfo(zone)).date(),
        so_far=True,
    )


# --- the board -----------------------------------------------------------------------


def _named() -> Any:
    """People who may be named on a board."""
    return and_(Person.active, Person.on_leaderboard, Person.public_posts)


def build_board(session: Session, *, period: Period, settings: ProgramSettings) -> GameBoard:
    """The game board for ``period`` (see the module docstring for the rules)."""
    spec = settings.game_board
    return GameBoard(
        period=period,
        ranking=tuple(team_ranking(session, period=period, min_team_size=spec.min_team_size)),
        top_teams=spec.top_teams,
        min_team_size=spec.min_team_size,
        climbers=tuple(climbers(session, period=period, limit=spec.top_people)),
        **_certifications(session, period),
        **_kudos(session, period),
    )


def team_ranking(session: Session, *, period: Period, min_team_size: int) -> list[TeamStanding]:
    """Every team that qualifies, best first: one grouped query over people and one over
    their required assignments."""
    sizes = dict(
        session.execute(
            select(Person.team, func.count())
            .where(Person.active, Person.team != "")
            .group_by(Person.team)
        ).all()
    )
    if not any(size >= min_team_size for size in sizes.values()):
        return []
    status = status_by_person()  # decision 18: walk each person's assignments

    def owed_at(at: datetime) -> Any:
        return func.sum(case((Assignment.assigned_at < at, 1), else_=0))

    def done_at(at: datetime) -> Any:
        done = and_(
            status == AssignmentStatus.COMPLETED,
            Assignment.assigned_at < at,
            Assignment.completed_at < at,  # type: ignore[operator]
        )
        return func.sum(case((done, 1), else_=0))

    rows = session.execute(
        select(
            Person.team,
            owed_at(period.end),
            done_at(period.end),
            owed_at(period.start),
            done_at(period.start),
        )
        .select_from(Person)
        .join(Assignment, Assignment.person_id == Person.id)
        .where(
            Person.active,
            Person.team != "",
            Assignment.required,
            status.in_((AssignmentStatus.OPEN, AssignmentStatus.COMPLETED)),
        )
        .group_by(Person.team)
    ).all()
    qualified = []
    for team, owed, done, owed_before, done_before in rows:
        owed, done = int(owed or 0), int(done or 0)
        if not owed or sizes.get(team, 0) < min_team_size:
            continue
        owed_before, done_before = int(owed_before or 0), int(done_before or 0)
        change = 100.0 * (done / owed - done_before / owed_before) if owed_before else None
        qualified.append((team, sizes[team], done, owed, change))
    # The share as a float orders exactly like the fraction: equal shares round to the
    # same float, and two different ones with fewer than 10**7 items a team are more than
    # a rounding error apart. Comparing Fractions took a second for 11,000 teams.
    qualified.sort(key=lambda t: (-(t[2] / t[3]), -t[2], t[0].casefold(), t[0]))
    return [
        TeamStanding(rank, team, people, done, owed, change)
        for rank, (team, people, done, owed, change) in enumerate(qualified, start=1)
    ]


def climbers(session: Session, *, period: Period, limit: int) -> list[NamedPerson]:
    """The opted-in people with the most items completed in ``period``, most first."""
    if limit <= 0:
        return []
    done = func.count()
    rows = session.execute(
        select(Person.id, Person.name, user_id_column(DELIVERY_PLATFORM), done)
        .join(Assignment, Assignment.person_id == Person.id)
        .where(
            _named(),
            status_by_person() == AssignmentStatus.COMPLETED,
            Assignment.completed_at >= period.start,  # type: ignore[operator]
            Assignment.completed_at < period.end,  # type: ignore[operator]
        )
        .group_by(Person.id, Person.name)
        .order_by(done.desc(), Person.name, Person.id)
        .limit(limit)
    ).all()
    return [NamedPerson(int(i), name, user_id, int(count)) for i, name, user_id, count in rows]


def _certifications(session: Session, period: Period) -> dict[str, Any]:
    """First awards in the period (not revoked, active people): the opted-in ones by
    name, all of them counted."""
    award = CertificationAward
    first = and_(
        award.cycle == 0,
        award.awarded_at >= period.start,
        award.awarded_at < period.end,
        award.lapsed_at.is_(None),  # type: ignore[union-attr]
        Person.active,
    )
    total = session.scalar(
        select(func.count())
        .select_from(award)
        .join(Person, Person.id == award.person_id)
        .where(first)
    )
    rows = session.execute(
        select(Person.id, Person.name, user_id_column(DELIVERY_PLATFORM), Certification.title)
        .select_from(award)
        .join(Person, Person.id == award.person_id)
        .join(Certification, Certification.id == award.certification_id)
        .where(first, _named())
        .order_by(award.awarded_at, Person.name, award.id)
        .limit(NAMED_CERTIFICATIONS)
    ).all()
    return {
        "certifications": tuple(
            NewCertification(int(i), name, user_id, title) for i, name, user_id, title in rows
        ),
        "certifications_total": int(total or 0),
    }


def _kudos(session: Session, period: Period) -> dict[str, Any]:
    """Kudos given in the period, and the most-thanked opted-in people."""
    given = and_(Kudos.given_at >= period.start, Kudos.given_at < period.end)
    total = session.scalar(select(func.count()).select_from(Kudos).where(given))
    thanks = func.count()
    rows = session.execute(
        select(Person.id, Person.name, user_id_column(DELIVERY_PLATFORM), thanks)
        .select_from(Kudos)
        .join(Person, Person.id == Kudos.recipient_id)
        .where(given, _named())
        .group_by(Person.id, Person.name)
        .order_by(thanks.desc(), Person.name, Person.id)
        .limit(MOST_THANKED)
    ).all()
    return {
        "kudos": int(total or 0),
        "most_thanked": tuple(
            NamedPerson(int(i), name, user_id, int(count)) for i, name, user_id, count in rows
        ),
    }


# --- /learn leaderboard --------------------------------------------------------------


def current_board(session: Session, *, now: datetime, settings: ProgramSettings) -> GameBoard:
    """This week's board so far: since this week's post day began, up to ``now``."""
    spec = settings.game_board
    period = week_so_far(now, settings.organisation.timezone, spec.weekday)
    return build_board(session, period=period, settings=settings)


def your_place(session: Session, person: Person, board: GameBoard) -> YourPlace:
    """Where ``person``'s team stands on ``board``, and whether they are named."""
    team = person.team or ""
    size = 0
    if team:
        size = int(
            session.scalar(
                select(func.count()).select_from(Person).where(Person.active, Person.team == team)
            )
            or 0
        )
    return YourPlace(
        team=team,
        team_size=size,
        standing=board.standing_of(team) if team else None,
        teams_ranked=len(board.ranking),
        min_team_size=board.min_team_size,
        on_leaderboard=person.on_leaderboard,
        public_posts=person.public_posts,
    )


def set_on_leaderboard(session: Session, *, person: Person, join: bool, clock: Clock) -> bool:
    """Name ``person`` on the game board (or stop); False if nothing changed.

    Audited as ``leaderboard.join`` / ``leaderboard.leave``. Whether they are named also
    needs ``public_posts`` (``/learn privacy public``), which this leaves alone.
    """
    return audit.set_person_setting(
        session,
        person=person,
        field="on_leaderboard",
        value=join,
        action="leaderboard.join" if join else "leaderboard.leave",
        clock=clock,
        details={"public_posts": person.public_posts},
    )
