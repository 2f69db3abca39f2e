"""``python bot.py simulate``: the real planner, outbox and sender on a simulated clock.

A temporary SQLite database, the console transport, and simulated learners who
complete each item they are reminded of with a given daily probability. Deterministic
for a seed. Prints a transcript (local day, recipient, message) and a summary.
"""

from __future__ import annotations

import io
import random
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from delivery.rendering import Route
from delivery.sender import Sender
from delivery.transport import ConsoleMessage, ConsoleTransport, Transport
from learning.clock import FrozenClock
from learning.completions import Completion, record_completion
from learning.curriculum import ProgramSettings, load_curriculum
from learning.curriculum_sync import apply_config
from learning.digest import Digest
from learning.enrollment import LearningPath
from learning.mentoring import MentorFound, find_mentor
from learning.paths import current_settings, load_paths
from learning.paths import enroll as enroll_people
from learning.peer_prompts import record_click
from learning.people_import import AccountColumn, import_people
from learning.planner import open_windows
from learning.progress import completion_report
from messages.report import render_report
from models import (
    Assignment,
    AssignmentStatus,
    CertificationAward,
    OutboxMessage,
    PeerPrompt,
    Person,
    RecipientKind,
)
from models.db import Database, open_database
from schedules.escalations import plan_escalations
from schedules.game_board import plan_game_board
from schedules.nudges import plan_nudges
from schedules.peer_prompts import plan_peer_prompts

PEER_CLICK_RATE = 0.4  # chance that someone a prompt concerns clicks one of its buttons
MENTOR_CLICK_RATE = 0.1  # chance that a learner clicks "Find a mentor" on an offered item


@dataclass
class SimulationOptions:
    people: Path
    programs: Path
    start: date
    days: int = 30
    completion_rate: float = 0.6
    seed: int = 1
    tick: timedelta = timedelta(minutes=15)
    # the people file's chat account columns (the composition root passes Slack's)
    account_columns: tuple[AccountColumn, ...] = ()
    # the sender's routes (platform -> renderer and transport) around the console
    # transport the simulation prints through; the composition root builds them
    routes_for: Callable[[Transport], Mapping[str, Route]] | None = None


@dataclass
class SimulationSummary:
    dms: int = 0
    people_reached: set[int] = field(default_factory=set)
    completed: int = 0
    overdue_at_end: int = 0
    unreachable: int = 0
    escalations: int = 0  # overdue items told to a manager, skip-level or the admins
    escalation_messages: int = 0
    awards: int = 0  # certifications awarded
    game_boards: int = 0
    peer_prompts: int = 0
    peer_clicks: int = 0
    pairings: int = 0
    by_step: dict[str, int] = field(default_factory=dict)

    def table(self, options: SimulationOptions) -> str:
        rows = [
            ("days simulated", f"{options.days} (from {options.start:%a %d %b %Y})"),
            ("DMs sent", str(self.dms)),
            ("people who got a DM", str(len(self.people_reached))),
            ("items completed by learners", str(self.completed)),
            (
                "escalations (overdue items told)",
                f"{self.escalations} in {self.escalation_messages} messages"
                + (
                    " ("
                    + ", ".join(f"{n} {step.replace('_', '-')}" for step, n in self.by_step.items())
                    + ")"
                    if self.by_step
                    else ""
                ),
            ),
            ("certifications awarded", str(self.awards)),
            ("game boards posted", str(self.game_boards)),
            (
                "peer-learning prompts",
                f"{self.peer_prompts} ({self.peer_clicks} button clicks)",
            ),
            ("mentor pairings", str(self.pairings)),
            ("required items overdue at the end", str(self.overdue_at_end)),
            ("people with items due but no Slack id", str(self.unreachable)),
        ]
        width = max(len(label) for label, _ in rows)
        return "\n".join(f"  {label.ljust(width)}  {value}" for label, value in rows)


def simulate(options: SimulationOptions, out: TextIO) -> SimulationSummary:
    """Run the simulation in a temporary database; print transcript and summary."""
    with tempfile.TemporaryDirectory(prefix="learnbot-sim-") as folder:
        database = open_database(f"sqlite:///{Path(folder) / 'simulation.db'}")
        try:
            database.upgrade()
            return _run(database, options, out)
        finally:
            database.dispose()


def _run(database: Database, options: SimulationOptions, out: TextIO) -> SimulationSummary:
    rng = random.Random(options.seed)
    start = datetime.combine(options.start, datetime.min.time(), tzinfo=UTC) - timedelta(hours=14)
    clock = FrozenClock(start)  # the earliest zone's midnight: nobody's day has begun
    loaded = load_curriculum(options.programs)
    with database.session() as session:
        apply_config(session, loaded, clock=clock, actor="simulation")
        import_people(
            session,
            options.people,
            clock=clock,
            actor="simulation",
            account_columns=options.account_columns,
        )
    transport = ConsoleTransport(io.StringIO(), clock=clock)
    sender = Sender(
        database,
        options.routes_for(transport) if options.routes_for else {},
        clock,
        sleep=_advance(clock),
        rng=random.Random(options.seed),
        worker="simulation",
    )
    summary = SimulationSummary()
    settings, zones, names, person_zones, paths = _directory(database)
    end = datetime.combine(
        options.start + timedelta(days=options.days), datetime.min.time(), tzinfo=UTC
    )
    print(
        f"Simulating {options.days} days from {options.start:%a %d %b %Y}: "
        f"{len(names)} people, {len(zones)} time zones, completion rate "
        f"{options.completion_rate:.0%}, seed {options.seed}\n",
        file=out,
    )
    tick_at = start
    last_enrolled_hour: datetime | None = None
    planned_zone_days: set[tuple[str, date]] = set()
    while tick_at < end:
        clock.set(max(tick_at, clock.now()))
        hour = tick_at.replace(minute=0, second=0, microsecond=0)
        if hour != last_enrolled_hour:  # the scheduler enrolls hourly
            with database.session() as session:
                enroll_people(session, clock=clock, settings=settings, paths=paths)
            last_enrolled_hour = hour
        windows = [
            w
            for w in open_windows(zones, now=clock.now(), settings=settings)
            if (w.zone, w.today) not in planned_zone_days
        ]
        board = plan_game_board(database, clock)
        peer = plan_peer_prompts(database, clock)
        summary.game_boards += board.enqueued
        summary.peer_prompts += len(peer.prompt_ids)
        if windows:
            _escalate_and_nudge(database, clock, summary)
            planned_zone_days.update((w.zone, w.today) for w in windows)
        if windows or board or peer.prompt_ids or peer.followed_up:
            already = len(transport.sent)
            sender.drain()
            for message in transport.sent[already:]:
                if not message.key.startswith("digest:"):
                    _report_other(
                        database, message, names, person_zones, out, settings.organisation.timezone
                    )
                    continue
                digest = _digest(database, message.key)
                _report(digest, message, names, person_zones, out, summary)
                summary.completed += _learn(database, digest, clock, rng, options.completion_rate)
                summary.pairings += _ask_for_mentors(database, digest, clock, rng)
            for prompt_id in peer.prompt_ids:
                summary.peer_clicks += _click_prompt(database, prompt_id, clock, rng)
        tick_at += options.tick
    clock.set(end)
    _finish(database, clock, summary, settings=settings, options=options, out=out)
    return summary


def _directory(
    database: Database,
) -> tuple[ProgramSettings, list[str], dict[int, str], dict[int, str], dict[str, LearningPath]]:
    """The settings, the time zones in use, names and zones by person id, and the paths."""
    with database.session() as session:
        settings = current_settings(session)
        assert settings is not None
        zones = sorted(
            session.scalars(
                select(func.coalesce(Person.timezone, settings.organisation.timezone)).distinct()
            )
        )
        names = dict(session.execute(select(Person.id, Person.name)).all())
        person_zones = dict(
            session.execute(
                select(Person.id, func.coalesce(Person.timezone, settings.organisation.timezone))
            ).all()
        )
        paths = load_paths(session)
    return settings, zones, names, person_zones, paths


def _escalate_and_nudge(database: Database, clock: FrozenClock, summary: SimulationSummary) -> None:
    """Plan escalations, then digests, as a tick does; count them in ``summary``."""
    escalated = plan_escalations(database, clock)  # first, as a tick does
    plan = plan_nudges(database, clock)
    summary.unreachable = max(summary.unreachable, plan.stats.unreachable)
    summary.escalations += escalated.notices
    summary.escalation_messages += escalated.messages
    for step, count in escalated.by_step.items():
        summary.by_step[step] = summary.by_step.get(step, 0) + count


def _finish(
    database: Database,
    clock: FrozenClock,
    summary: SimulationSummary,
    *,
    settings: ProgramSettings,
    options: SimulationOptions,
    out: TextIO,
) -> None:
    """Count what is overdue and awarded at the end; print the summary and the report."""
    summary.overdue_at_end = _overdue(database, clock.now(), settings.organisation.timezone)
    with database.session() as session:
        summary.awards = session.scalar(select(func.count()).select_from(CertificationAward)) or 0
    print("\nSummary", file=out)
    print(summary.table(options), file=out)
    with database.session() as session:
        report = completion_report(session, clock=clock)
    print("\n" + render_report(report), file=out)


def _advance(clock: FrozenClock) -> Callable[[float], None]:
    def sleep(seconds: float) -> None:
        clock.advance(timedelta(seconds=seconds))

    return sleep


def _digest(database: Database, key: str) -> Digest:
    with database.session() as session:
        row = session.scalars(select(OutboxMessage).where(OutboxMessage.key == key)).one()
    return Digest.from_json(row.payload["digest"])


def _report(
    digest: Digest,
    message: ConsoleMessage,
    names: dict[int, str],
    zones: dict[int, str],
    out: TextIO,
    summary: SimulationSummary,
) -> None:
    summary.dms += 1
    summary.people_reached.add(digest.person_id)
    local = message.at.astimezone(ZoneInfo(zones[digest.person_id]))
    print(
        f"{local:%a %d %b %H:%M} {zones[digest.person_id]:<20} "
        f"{names.get(digest.person_id, '?')}: {message.text}",
        file=out,
    )


def _report_other(
    database: Database,
    message: ConsoleMessage,
    names: dict[int, str],
    zones: dict[int, str],
    out: TextIO,
    org_zone: str,
) -> None:
    """A transcript line for a message that is not a digest (an escalation, say); a
    channel post is shown at the organisation's time."""
    with database.session() as session:
        row = session.scalars(select(OutboxMessage).where(OutboxMessage.key == message.key)).one()
    if row.person_id is not None:
        zone, who = zones[row.person_id], names.get(row.person_id, "?")
    else:
        zone, who = org_zone, row.recipient
    local = message.at.astimezone(ZoneInfo(zone))
    mark = "⚠️ " if row.kind == "escalation" else ""
    where = " (thread)" if row.recipient_kind == RecipientKind.THREAD else ""
    if row.recipient_kind == RecipientKind.GROUP:
        where = " (group DM)"
    print(f"{local:%a %d %b %H:%M} {zone:<20} {who}{where}: {mark}{message.text}", file=out)


def _learn(
    database: Database, digest: Digest, clock: FrozenClock, rng: random.Random, rate: float
) -> int:
    """Each reminded item is done later that day with probability ``rate``."""
    done = 0
    with database.session() as session:
        for item in digest.items:
            if rng.random() >= rate:
                continue
            assignment = session.get(Assignment, item.assignment_id)
            if assignment is None or assignment.status != AssignmentStatus.OPEN:
                continue
            at = clock.now() + timedelta(hours=rng.randint(1, 6))
            scored = item.method == "assessment"
            done += record_completion(
                session,
                Completion(
                    assignment.person_id,
                    assignment.item_id,
                    at,
                    # An assessment's score comes from the LMS, as in real life (a typed
                    # score would be self-reported and not count for a certification).
                    "import" if scored else "simulation",
                    f"simulation:{assignment.id}",
                    # Assessments get a score, and not always a pass.
                    score=float(rng.randint(60, 100)) if scored else None,
                ),
                clock=FrozenClock(at),
            )
    return done


def _ask_for_mentors(
    database: Database, digest: Digest, clock: FrozenClock, rng: random.Random
) -> int:
    """A learner may click "Find a mentor" on an item still open that offers it."""
    paired = 0
    with database.session() as session:
        settings = current_settings(session)
        learner = session.get(Person, digest.person_id)
        if settings is None or learner is None:
            return 0
        for item in digest.items:
            if not item.mentor_offer or rng.random() >= MENTOR_CLICK_RATE:
                continue
            assignment = session.get(Assignment, item.assignment_id)
            if assignment is None or assignment.status != AssignmentStatus.OPEN:
                continue
            found = find_mentor(
                session,
                learner=learner,
                assignment_id=item.assignment_id,
                clock=clock,
                settings=settings,
            )
            paired += isinstance(found, MentorFound) and not found.already
    return paired


def _click_prompt(
    database: Database, prompt_id: int, clock: FrozenClock, rng: random.Random
) -> int:
    """People who finished the prompt's item may click "I can help"; those working on it
    "I'm learning this"."""
    clicks = 0
    with database.session() as session:
        item_id = session.scalars(
            select(PeerPrompt.item_id).where(PeerPrompt.id == prompt_id)
        ).one()
        rows = session.execute(
            select(Person, Assignment.status)
            .join(Assignment, Assignment.person_id == Person.id)
            .where(
                Assignment.item_id == item_id,
                Assignment.status.in_([AssignmentStatus.OPEN, AssignmentStatus.COMPLETED]),
                Person.active,
            )
            .order_by(Person.id)
        ).all()
        for person, status in rows:
            if rng.random() >= PEER_CLICK_RATE:
                continue
            kind = "help" if status == AssignmentStatus.COMPLETED else "learning"
            clicks += record_click(
                session, prompt_id=prompt_id, person=person, kind=kind, clock=clock
            )
    return clicks


def _overdue(database: Database, now: datetime, default_zone: str) -> int:
    count = 0
    with database.session() as session:
        rows = session.execute(
            select(Person.timezone, Assignment.due_date)
            .join(Assignment, Assignment.person_id == Person.id)
            .where(
                Person.active,
                Assignment.required,
                Assignment.status == AssignmentStatus.OPEN,
                Assignment.due_date.is_not(None),
            )
        )
        for zone, due in rows:
            if due < now.astimezone(ZoneInfo(zone or default_zone)).date():
                count += 1
    return count
