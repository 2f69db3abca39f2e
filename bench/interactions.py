"""Benchmark: Done button and App Home round trips with 100,000 people in the database.

    python -m bench.interactions [--people 100000] [--requests 300] [--database-url URL]
                                 [--reset] [--manager-requests 20] [--profile [N]]
                                 [--json PATH]

The acceptance benchmark of the chat interactions (issue 4): the round trip of a Done
button (signed request in, ack out) and of an App Home publish. Target: Done ack p99
under 100 ms (exit status 1 otherwise).

Set-up (not measured):

    * a temporary SQLite file (or ``--database-url``: it must hold no people unless
      ``--reset`` is given, which drops learnbot's tables there; see bench.import_people);
    * the schema (Alembic) and ``examples/programs.yml``;
    * the ``bench.orggen`` organisation (CEO -> VPs -> directors -> managers -> ICs),
      everyone with a Slack user id, 1% of the individual contributors inactive and 2%
      away, inserted with Core bulk inserts in chunks of 5,000 people;
    * ``--assignments`` (20) assignments per person: the items of their role's program
      (required as the program says, with their tier) and then other catalogue items
      (suggested) up to 20. Required ones: about 35% overdue, 25% due within the
      lookahead, 15% due later, 22% completed, 3% waived; suggested: 70% open, 30% done;
      3% of the open ones snoozed;
    * a ``FakeSlack`` Web API on 127.0.0.1 (real HTTP; the tests' fake);
    * for each sampled learner, today's digest DM: built like the planner's, rendered,
      posted to the fake and stored in the outbox as sent, so that a click carries the
      real message and the DM can be updated in place.

Measured, each with ``time.perf_counter``, after ``--warmup`` untimed rounds (the first
request also makes Bolt call ``auth.test``):

    1. Done click, as in production (``build_app(process_before_response=False)``): a
       signed ``block_actions`` request for ``digest_done`` from a random learner on an
       item of their own digest DM, timed from building the request (payload, signature)
       to the ``BoltResponse`` that ``App.dispatch`` returns: the ack, what Slack waits
       for (3 s at most). The listener goes on in Bolt's thread pool (identity check,
       ``views.open`` to the fake); the benchmark waits for it (bounded) before the next
       sample, so samples do not overlap, and reports the time until the fake received
       ``views.open`` ("modal opened") and how many modals were opened.
    2. Done modal submitted, in production mode: a signed ``view_submission`` of the
       modal opened in 1 (its ``private_metadata`` as ``views.open`` carried it; a 1-5
       rating on 60%, a comment on some, a score on assessments): the ack, then (after
       the ack, in the thread pool) the completion recorded, the DM updated
       (``chat.update``) and the App Home refreshed (``views.publish``), each timed to the
       fake's receipt.
    3. Done modal submitted, fully processed: the same on an app built with
       ``process_before_response=True``, on a second item of each learner's DM, so that
       ``dispatch`` returns only once everything is done.
    4. App Home: ``handlers.home.publish_home(client, ctx, slack_user_id)`` end to end
       (the queries, the rendering and the ``views.publish`` HTTP call to the fake) for
       ``--requests`` random learners, and ``--manager-requests`` times for one manager
       at each level of the org, the one with the largest reporting chain there (the
       CEO has everyone below), plus an admin (the program overview); with each view's
       block count (Slack's limit is 100).

Samples run one at a time (a sample's background work is awaited before the next).
``--budget`` SECONDS (default 90) stops a series early once it has 3 samples: without
it, slow App Homes would keep a run at 100,000 people going for hours; the notes column
says when a series was cut. The Done clicks always run in full. Between phases the
benchmark's own objects (the organisation it generated, the fake's stored messages and
views; the fake's call records are cleared after each sample) are frozen out of the
garbage collector (``gc.freeze``), so that full collections only walk what the bot
allocates; their pauses are reported by phase.

Percentiles are linearly interpolated between order statistics (NumPy's default).
``--profile`` adds a cProfile of the CEO's App Home and prints the top N functions by
cumulative time. What-ifs, to measure proposed fixes without changing the bot:
``--add-indexes`` creates the indexes of ``PROPOSED_INDEXES`` and ``--analyze`` runs
``ANALYZE`` after the set-up.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import logging
import math
import os
import platform
import pstats
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from slack_bolt import App
from sqlalchemy import func, insert, select

from bench.accounts import insert_people as insert_person_rows
from bench.import_people import (
    Refused,
    backend,
    peak_rss_mib,
    prepare,
    remove_sqlite,
    say,
)
from bench.orggen import iter_people, level_sizes
from bench.results import Figure, add_json_option, write_figures
from learning.calendar import WorkCalendar
from learning.clock import FrozenClock, local_date, parse_instant
from learning.curriculum import ProgramSettings, load_curriculum
from learning.curriculum_sync import apply_config
from learning.digest import Digest, DigestItem, digest_key
from learning.paths import current_settings
from models import (
    DEFAULT_WORKSPACE,
    Assignment,
    AssignmentStatus,
    Item,
    OutboxMessage,
    OutboxStatus,
    Person,
    Program,
    Tier,
    TierItem,
)
from models.db import Database, open_database
from platforms.slack.listeners.context import HandlerContext
from platforms.slack.listeners.home import publish_home
from platforms.slack.render import ids
from platforms.slack.render.digest import render_digest
from platforms.slack.render.modals import DoneModalMetadata
from platforms.slack.render.render import KIND_DIGEST
from platforms.slack.transport import outbox_metadata
from server.app import build_app, build_client
from settings import Settings
from tests.fakes.bolt_requests import SlackRequests
from tests.fakes.slack_api import Call, FakeSlack

BENCHMARK = True  # `python -m bench` runs every bench module that sets this

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "examples" / "programs.yml"
DEFAULT_AT = "2026-12-01T12:00:00Z"  # a Tuesday, a working day in every zone
SECRET = "bench-signing-secret"
ACK_TARGET_MS = 100.0
HOME_SLOW_MS = 2000.0
MAX_VIEW_BLOCKS = 100
SETUP_CHUNK = 5000
WAIT_S = 10.0  # bounded wait for a listener's work after the ack
MIN_SAMPLES = 3  # a series stopped by --budget still has this many

REQUIRED_STATES = (
    ("overdue", 0.35),
    ("due_soon", 0.25),
    ("later", 0.15),
    ("done", 0.22),
    ("waived", 0.03),
)
SUGGESTED_STATES = (("open", 0.7), ("done", 0.3))
SNOOZED_SHARE = 0.03
INACTIVE_SHARE = 0.01  # of individual contributors
AWAY_SHARE = 0.02


# --- statistics ----------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linearly interpolated between order statistics."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Series:
    """One measured operation: its samples in milliseconds and a note for the table."""

    name: str
    ms: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def p50(self) -> float:
        return percentile(self.ms, 50)

    @property
    def p99(self) -> float:
        return percentile(self.ms, 99)

    @property
    def max(self) -> float:
        return max(self.ms) if self.ms else math.nan


def results_table(rows: Sequence[Series]) -> str:
    header = ("operation", "n", "p50 ms", "p99 ms", "max ms", "notes")
    lines = [
        (s.name, str(len(s.ms)), f"{s.p50:.1f}", f"{s.p99:.1f}", f"{s.max:.1f}", s.note)
        for s in rows
    ]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def fmt(row: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(widths[i]) if i in (0, len(header) - 1) else cell.rjust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()

    return "\n".join(
        [fmt(header), fmt(["-" * width for width in widths]), *(fmt(row) for row in lines)]
    )


class Budget:
    """Stops a slow series early: after ``seconds``, once it has ``MIN_SAMPLES`` samples."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.perf_counter()

    def spent(self, samples: int) -> bool:
        return samples >= MIN_SAMPLES and time.perf_counter() - self.started > self.seconds


def budget_note(done: int, wanted: int) -> str:
    return f" (time budget: {done} of {wanted})" if done < wanted else ""


class GcWatch:
    """Records how long each full (generation 2) garbage collection pauses the process."""

    def __init__(self) -> None:
        self.pauses_ms: list[tuple[float, str]] = []  # (ms, phase)
        self.phase = ""
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif info.get("generation") == 2:
            self.pauses_ms.append(((time.perf_counter() - self._started) * 1000, self.phase))

    def start(self) -> None:
        gc.callbacks.append(self)

    def stop(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)

    def summary(self) -> str:
        if not self.pauses_ms:
            return "gc: no full collections during the measurements"
        longest: dict[str, float] = {}
        counts: dict[str, int] = {}
        for ms, phase in self.pauses_ms:
            longest[phase] = max(ms, longest.get(phase, 0.0))
            counts[phase] = counts.get(phase, 0) + 1
        return (
            f"gc: {len(self.pauses_ms)} full collections during the measurements "
            "(the benchmark's own objects frozen between phases); count and longest by phase: "
            + "; ".join(f"{phase} {counts[phase]}, {longest[phase]:.0f} ms" for phase in longest)
        )


# --- set-up --------------------------------------------------------------------------


@dataclass
class Org:
    """What the set-up made, and whom the measurements pick."""

    people: int = 0
    assignments: int = 0
    seconds: float = 0.0
    levels: list[int] = field(default_factory=list)
    slack_ids: dict[int, str] = field(default_factory=dict)
    learners: list[int] = field(default_factory=list)  # active, not away, individual contributors
    # (label, person id, people below) for one manager per level
    managers: list[tuple[str, int, int]] = field(default_factory=list)


def _choose(rng: random.Random, states: Sequence[tuple[str, float]]) -> str:
    draw = rng.random()
    for state, share in states:
        if draw < share:
            return state
        draw -= share
    return states[-1][0]


def _assignment(
    rng: random.Random,
    person_id: int,
    item_id: int,
    tier_id: int | None,
    required: bool,
    day: date,
    until: date,
) -> dict[str, Any]:
    state = _choose(rng, REQUIRED_STATES if required else SUGGESTED_STATES)
    if state == "overdue":
        due = day - timedelta(days=rng.randint(1, 60))
    elif state == "due_soon":
        due = day + timedelta(days=rng.randint(0, (until - day).days))
    elif state == "later":
        due = until + timedelta(days=rng.randint(1, 120))
    else:
        due = day + timedelta(days=rng.randint(-45, 60))
    assigned_at = datetime.combine(due - timedelta(days=30), datetime.min.time(), tzinfo=UTC)
    row: dict[str, Any] = {
        "person_id": person_id,
        "item_id": item_id,
        "tier_id": tier_id,
        "cycle": 0,
        "required": required,
        "status": AssignmentStatus.OPEN,
        "assigned_at": assigned_at,
        "due_date": due,
        "completed_at": None,
        "completion_source": None,
        "waived_reason": None,
        "snoozed_until": None,
    }
    if state == "done":
        row["status"] = AssignmentStatus.COMPLETED
        row["completed_at"] = assigned_at + timedelta(days=rng.randint(1, 25), hours=10)
        row["completion_source"] = "bench"
    elif state == "waived":
        row["status"] = AssignmentStatus.WAIVED
        row["waived_reason"] = "prior experience"
    elif rng.random() < SNOOZED_SHARE:
        row["snoozed_until"] = datetime.combine(
            day + timedelta(days=rng.randint(1, 5)), datetime.min.time(), tzinfo=UTC
        ) + timedelta(hours=23)
    return row


def set_up(db: Database, args: argparse.Namespace, clock: FrozenClock) -> Org:
    """Schema, configuration, people and their assignments (Core inserts; not measured)."""
    org = Org()
    started = time.perf_counter()
    now = clock.now()
    day = now.date()
    db.upgrade()
    loaded = load_curriculum(args.config)
    with db.session() as session:
        apply_config(session, loaded, clock=FrozenClock(now - timedelta(days=3)), actor="bench")
        settings = current_settings(session)
        assert settings is not None
        catalogue = list(session.scalars(select(Item.id).where(Item.active).order_by(Item.id)))
        paths: dict[str, list[tuple[int, int, bool]]] = {}
        for role, tier_id, item_id, required in session.execute(
            select(Program.role, Tier.id, TierItem.item_id, TierItem.required)
            .join(Tier, Tier.program_id == Program.id)
            .join(TierItem, TierItem.tier_id == Tier.id)
            .where(Program.active, Tier.active)
            .order_by(Program.role, Tier.position, TierItem.position)
        ):
            paths.setdefault(role, []).append((item_id, tier_id, required))
    if args.assignments > len(catalogue):
        raise Refused(
            f"--assignments {args.assignments}: the catalogue has only {len(catalogue)} items"
        )

    org.levels = level_sizes(args.people)
    managers_count = sum(org.levels[:-1])
    org_zone = settings.organisation.timezone
    lookahead: dict[str, date] = {}
    rng = random.Random(args.seed)
    manager_ids: dict[str, int] = {}
    manager_of: list[int | None] = [None]  # by person id (index 0 unused)
    rows = iter_people(args.people, seed=args.seed, as_of=day)
    next_id = 1
    while chunk := list(islice(rows, SETUP_CHUNK)):
        person_rows: list[dict[str, Any]] = []
        assignment_rows: list[dict[str, Any]] = []
        for row in chunk:
            person_id = next_id
            next_id += 1
            is_ic = person_id > managers_count
            if not is_ic:
                manager_ids[row["email"]] = person_id
            zone = row["timezone"] or org_zone
            if zone not in lookahead:
                lookahead[zone] = settings.calendar_for(zone).add_working_days(
                    day, settings.cadence.lookahead_working_days
                )
            active = not (is_ic and rng.random() < INACTIVE_SHARE)
            away = rng.random() < AWAY_SHARE
            slack_user_id = row["slack_user_id"] or f"UB{person_id:09d}"
            manager_id = manager_ids.get(row["manager_email"])
            manager_of.append(manager_id)
            org.slack_ids[person_id] = slack_user_id
            if is_ic and active and not away:
                org.learners.append(person_id)
            person_rows.append(
                {
                    "id": person_id,
                    "workspace_id": DEFAULT_WORKSPACE,
                    "email": row["email"],
                    "name": row["name"],
                    "slack_user_id": slack_user_id,
                    "manager_id": manager_id,
                    "role": row["role"],
                    "team": row["team"],
                    "role_start_date": date.fromisoformat(row["role_start_date"]),
                    "timezone": row["timezone"] or None,
                    "active": active,
                    "is_admin": False,
                    "away_until": day + timedelta(days=rng.randint(1, 14)) if away else None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            path = paths.get(row["role"], [])
            on_path = {item_id for item_id, _, _ in path}
            extras = rng.sample(
                [item_id for item_id in catalogue if item_id not in on_path],
                max(0, args.assignments - len(path)),
            )
            owed = path[: args.assignments] + [(item_id, None, False) for item_id in extras]
            for item_id, tier_id, required in owed:
                assignment_rows.append(
                    _assignment(rng, person_id, item_id, tier_id, required, day, lookahead[zone])
                )
        with db.engine.begin() as conn:
            insert_person_rows(conn, person_rows)
            conn.execute(insert(Assignment.__table__), assignment_rows)  # type: ignore[attr-defined]
        org.people += len(person_rows)
        org.assignments += len(assignment_rows)
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('person', 'id'), max(id)) FROM person"
            )
            conn.exec_driver_sql("ANALYZE")
    if db.engine.dialect.name == "sqlite":
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    # One manager per level, the one with the most people below (everyone counts here;
    # reporting_chain_ids keeps the active ones).
    below = [0] * len(manager_of)
    for person_id in range(len(manager_of) - 1, 0, -1):
        manager_id = manager_of[person_id]
        if manager_id is not None:
            below[manager_id] += below[person_id] + 1
    first = 1
    depth_labels = _level_labels(len(org.levels))
    for depth, size in enumerate(org.levels[:-1]):
        ids_at_level = range(first, first + size)
        chosen = max(ids_at_level, key=lambda person_id: (below[person_id], -person_id))
        org.managers.append((depth_labels[depth], chosen, below[chosen]))
        first += size
    org.seconds = time.perf_counter() - started
    return org


def _level_labels(levels: int) -> list[str]:
    """Names of the manager levels, top down (the last level is individual contributors)."""
    labels = []
    for depth in range(levels - 1):
        if depth == 0:
            labels.append("CEO")
        elif depth == 1:
            labels.append("VP")
        elif depth == levels - 2:
            labels.append("line manager")
        elif depth == levels - 3:
            labels.append("manager of managers")
        else:
            labels.append(f"director (L{depth})")
    return labels


# --- the learners' digest DMs ----------------------------------------------------------


@dataclass
class Dm:
    """A learner's digest DM as posted to the fake, and the items it has buttons for."""

    person_id: int
    slack_user_id: str
    channel: str
    ts: str
    clickable: list[tuple[int, str]]  # (assignment id, method) of items with a Done button


def digests_for(
    db: Database, person_ids: Sequence[int], settings: ProgramSettings, now: datetime
) -> dict[int, Digest]:
    """Today's digest of each person, built as the planner builds it (no suggestions)."""
    org_zone = settings.organisation.timezone
    calendars: dict[str, tuple[date, WorkCalendar, date]] = {}
    digests: dict[int, Digest] = {}
    with db.session() as session:
        rows = session.execute(
            select(
                Person.id,
                Person.name,
                Person.timezone,
                Assignment.id,
                Assignment.required,
                Assignment.due_date,
                Item.key,
                Item.title,
                Item.url,
                Item.method,
                Item.minutes,
            )
            .join(Assignment, Assignment.person_id == Person.id)
            .join(Item, Item.id == Assignment.item_id)
            .where(
                Person.id.in_(list(person_ids)),  # type: ignore[union-attr]
                Assignment.status == AssignmentStatus.OPEN,
                Assignment.required,
                Assignment.due_date.is_not(None),  # type: ignore[union-attr]
                (Assignment.snoozed_until.is_(None)) | (Assignment.snoozed_until <= now),  # type: ignore[union-attr,operator]
            )
            .order_by(Person.id, Assignment.due_date, Assignment.id)
        ).all()
    by_person: dict[int, list[Any]] = {}
    for row in rows:
        by_person.setdefault(row[0], []).append(row)
    for person_id, person_rows in by_person.items():
        zone = person_rows[0][2] or org_zone
        if zone not in calendars:
            calendar = settings.calendar_for(zone)
            today = local_date(now, zone)
            until = calendar.add_working_days(today, settings.cadence.lookahead_working_days)
            calendars[zone] = (today, calendar, until)
        today, calendar, until = calendars[zone]
        overdue, due_soon = [], []
        for _, _, _, assignment_id, required, due, key, title, url, method, minutes in person_rows:
            if due < today:
                overdue.append(
                    DigestItem(
                        assignment_id,
                        key,
                        title,
                        url,
                        method,
                        minutes,
                        required,
                        due,
                        "overdue",
                        calendar.working_days_between(due, today),
                        0,
                    )
                )
            elif due <= until:
                due_soon.append(
                    DigestItem(
                        assignment_id,
                        key,
                        title,
                        url,
                        method,
                        minutes,
                        required,
                        due,
                        "due_soon",
                        0,
                        calendar.working_days_between(today, due),
                    )
                )
        items = (*overdue, *due_soon)
        if items:
            name = (person_rows[0][1] or "").split()
            digests[person_id] = Digest(person_id, name[0] if name else "there", today, items)
    return digests


def send_dms(
    db: Database,
    fake: FakeSlack,
    settings: Settings,
    org: Org,
    wanted: int,
    rng: random.Random,
    now: datetime,
) -> list[Dm]:
    """Post today's digest DM to ``wanted`` random learners with two or more Done buttons."""
    with db.session() as session:
        program = current_settings(session)
    assert program is not None
    client = build_client(settings)
    pool = rng.sample(org.learners, min(len(org.learners), wanted * 3))
    digests = digests_for(db, pool, program, now)
    dms: list[Dm] = []
    outbox_rows: list[dict[str, Any]] = []
    for person_id in pool:
        digest = digests.get(person_id)
        if digest is None:
            continue
        message = render_digest(digest)
        clickable = []
        by_id = {item.assignment_id: item for item in digest.items}
        for block in message.blocks:
            block_id = str(block.get("block_id", ""))
            if block_id.endswith(ids.ACTIONS_SUFFIX):
                assignment_id = int(block_id[len(ids.ITEM_BLOCK_PREFIX) : -len(ids.ACTIONS_SUFFIX)])
                clickable.append((assignment_id, by_id[assignment_id].method))
        if len(clickable) < 2:
            continue
        slack_user_id = org.slack_ids[person_id]
        response = client.chat_postMessage(
            channel=slack_user_id,
            text=message.text,
            blocks=message.blocks,
            metadata=outbox_metadata(digest.key),
        )
        channel, ts = str(response["channel"]), str(response["ts"])
        dms.append(Dm(person_id, slack_user_id, channel, ts, clickable))
        outbox_rows.append(
            {
                "key": digest_key(person_id, digest.local_date),
                "workspace_id": DEFAULT_WORKSPACE,
                "kind": KIND_DIGEST,
                "person_id": person_id,
                "recipient_kind": "person",
                "recipient": slack_user_id,
                "payload": {"digest": digest.to_json()},
                "status": OutboxStatus.SENT,
                "attempts": 1,
                "not_before": now,
                "created_at": now,
                "sent_at": now,
                "posted_message": ts,
                "posted_conversation": channel,
            }
        )
        if len(dms) == wanted:
            break
    with db.engine.begin() as conn:
        conn.execute(insert(OutboxMessage.__table__), outbox_rows)  # type: ignore[attr-defined]
    if len(dms) < wanted:
        raise Refused(f"only {len(dms)} learners have a digest with two Done buttons")
    fake.clear_calls()
    return dms


# --- Bolt plumbing -----------------------------------------------------------------------


class TrackingExecutor(Executor):
    """Bolt's listener executor, remembering the work it was given so it can be awaited."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self._lock = threading.Lock()
        self._futures: list[Future[Any]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future = self.inner.submit(fn, *args, **kwargs)
        with self._lock:
            self._futures.append(future)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.inner.shutdown(wait=wait, cancel_futures=cancel_futures)

    def drain(self, timeout: float = WAIT_S) -> int:
        """Wait (bounded) for everything submitted so far; return how many did not finish."""
        with self._lock:
            futures, self._futures = self._futures, []
        _, pending = wait_futures(futures, timeout=timeout)
        with self._lock:
            self._futures.extend(pending)
        return len(pending)


def track(app: App) -> TrackingExecutor:
    runner = app.listener_runner
    tracker = TrackingExecutor(runner.listener_executor)
    runner.listener_executor = tracker
    return tracker


class Problems(logging.Handler):
    """Counts warnings and errors logged by Bolt and the handlers (a failed listener)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "`token` will be unused" in message:  # build_app passes both, by design
            return
        self.records.append(f"{record.name}: {message}")


def done_action(assignment_id: int) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": ids.DIGEST_DONE,
        "block_id": ids.item_actions_block_id(assignment_id),
        "value": ids.assignment_value(assignment_id),
        "text": {"type": "plain_text", "text": "Done", "emoji": True},
    }


def done_values(rng: random.Random, *, assessment: bool) -> dict[str, dict[str, Any]]:
    """The Done modal's ``state.values`` as Slack sends them: some answered, most not."""
    rated = rng.random() < 0.6
    rating = str(rng.randint(1, 5)) if rated else None
    comment = "Clear and to the point." if rated and rng.random() < 0.3 else None
    evidence = "https://lms.example.com/certificates/42" if rng.random() < 0.2 else None
    values: dict[str, dict[str, Any]] = {
        ids.DONE_EVIDENCE_BLOCK: {
            ids.DONE_EVIDENCE_ACTION: {"type": "url_text_input", "value": evidence}
        },
        ids.DONE_RATING_BLOCK: {
            ids.DONE_RATING_ACTION: {
                "type": "radio_buttons",
                "selected_option": (
                    {"value": rating, "text": {"type": "plain_text", "text": rating}}
                    if rating
                    else None
                ),
            }
        },
        ids.DONE_COMMENT_BLOCK: {
            ids.DONE_COMMENT_ACTION: {"type": "plain_text_input", "value": comment}
        },
    }
    if assessment:
        values[ids.DONE_SCORE_BLOCK] = {
            ids.DONE_SCORE_ACTION: {"type": "number_input", "value": str(rng.randint(60, 100))}
        }
    return values


def wait_call(fake: FakeSlack, method: str, timeout: float = WAIT_S) -> Call | None:
    """The first call to ``method`` since the fake's calls were cleared (bounded wait)."""
    try:
        return fake.wait_for_calls(method, 1, timeout=timeout)[0]
    except AssertionError:
        return None


def settle() -> None:
    """Between phases: collect, then freeze what is left (the fake's stored messages and
    views, caches) so that later full collections only walk what the bot allocates."""
    gc.collect()
    gc.freeze()


# --- the measurements ----------------------------------------------------------------


@dataclass
class Results:
    rows: list[Series] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    ack: Series | None = None
    ceo_home: Series | None = None
    learner_home: Series | None = None

    def figures(self, people: int) -> list[Figure]:
        """The headline figures for ``python -m bench``'s table."""
        rows = []
        if self.ack is not None:
            rows.append(
                Figure(
                    f"Done ack p50 / p99 ({len(self.ack.ms)} clicks, {people:,} people)",
                    f"{self.ack.p50:.1f} / {self.ack.p99:.1f} ms",
                    f"p99 < {ACK_TARGET_MS:.0f} ms",
                    self.ack.p99 < ACK_TARGET_MS,
                )
            )
        for label, series in (("a learner", self.learner_home), ("the CEO", self.ceo_home)):
            if series is not None:
                rows.append(
                    Figure(
                        f"App Home publish p50 / p99: {label} ({len(series.ms)} publishes)",
                        f"{series.p50:.1f} / {series.p99:.1f} ms",
                    )
                )
        rows.append(
            Figure(
                "Done ack and App Home: peak memory (process RSS, set-up included)",
                f"{peak_rss_mib():.0f} MiB",
            )
        )
        return rows


def click_done(
    requests: SlackRequests, fake: FakeSlack, tracker: TrackingExecutor, dm: Dm, item: int
) -> tuple[float, float | None, Call | None]:
    """One timed Done click: (ack ms, ms until the fake got views.open, that call)."""
    message = fake.messages(dm.channel)[-1]
    fake.clear_calls()  # each sample's calls only: the fake's records are not the bot's heap
    started_mono = time.monotonic()
    started = time.perf_counter()
    response = requests.block_action(
        user_id=dm.slack_user_id,
        action=done_action(item),
        message=message,
        channel_id=dm.channel,
    )
    acked = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise Refused(f"Done click answered {response.status}: {response.body}")
    tracker.drain()
    call = wait_call(fake, "views.open")
    if call is None:
        return acked, None, None
    return acked, (call.at - started_mono) * 1000, call


def measure_clicks(
    requests: SlackRequests,
    fake: FakeSlack,
    tracker: TrackingExecutor,
    dms: Sequence[Dm],
    warmup: Sequence[Dm],
    results: Results,
) -> dict[int, str]:
    """Phase 1; returns each learner's modal metadata (from ``views.open``)."""
    for dm in warmup:
        click_done(requests, fake, tracker, dm, dm.clickable[0][0])
    settle()
    ack = Series("Done click: ack (production mode)")
    modal = Series("Done click: modal opened (views.open at fake)")
    metadata: dict[int, str] = {}
    opened_ok = 0
    for dm in dms:
        acked, opened, call = click_done(requests, fake, tracker, dm, dm.clickable[0][0])
        ack.ms.append(acked)
        if call is not None and call.ok and opened is not None:
            opened_ok += 1
            modal.ms.append(opened)
            metadata[dm.person_id] = call.body["view"]["private_metadata"]
    ack.note = f"{opened_ok} of {len(dms)} modals opened"
    modal.note = "listener after the ack: identity check + views.open"
    if opened_ok != len(dms):
        results.problems.append(f"Done click: {opened_ok} modals opened for {len(dms)} clicks")
    results.rows += [ack, modal]
    results.ack = ack
    return metadata


def submit(
    requests: SlackRequests, dm: Dm, metadata: str, values: dict[str, Any]
) -> tuple[float, int]:
    started = time.perf_counter()
    response = requests.view_submission(
        user_id=dm.slack_user_id,
        callback_id=ids.DONE_MODAL,
        values=values,
        private_metadata=metadata,
    )
    return (time.perf_counter() - started) * 1000, response.status


def measure_submissions(
    requests: SlackRequests,
    fake: FakeSlack,
    tracker: TrackingExecutor,
    dms: Sequence[Dm],
    warmup: Sequence[Dm],
    metadata: dict[int, str],
    rng: random.Random,
    results: Results,
    budget_s: float,
) -> list[Dm]:
    """Phase 2: the modal's submission in production mode: ack, then the work after it.

    Returns the learners whose first item was submitted (warm-up rounds included).
    """
    ack = Series("Done submit: ack (production mode)")
    updated = Series("Done submit: DM updated (chat.update at fake)")
    refreshed = Series("Done submit: Home refreshed (views.publish at fake)")
    budget: Budget | None = None
    submitted: list[Dm] = []
    settle()
    for dm in [*warmup, *dms]:
        measured = dm not in warmup
        if measured:
            budget = budget or Budget(budget_s)
            if budget.spent(len(ack.ms)):
                break
        submitted.append(dm)
        assignment_id, method = dm.clickable[0]
        meta = (
            metadata.get(dm.person_id) or DoneModalMetadata(assignment_id, dm.channel, dm.ts).dump()
        )
        fake.clear_calls()
        started_mono = time.monotonic()
        acked, status = submit(
            requests, dm, meta, done_values(rng, assessment=method == "assessment")
        )
        if status != 200:
            results.problems.append(f"Done submit answered {status}")
        tracker.drain()
        update = wait_call(fake, "chat.update")
        publish = wait_call(fake, "views.publish")
        if not measured:
            if dm is warmup[-1]:
                settle()
            continue
        ack.ms.append(acked)
        if update and update.ok:
            updated.ms.append((update.at - started_mono) * 1000)
        if publish and publish.ok:
            refreshed.ms.append((publish.at - started_mono) * 1000)
    ack.note = f"{len(updated.ms)} DMs updated, {len(refreshed.ms)} Homes refreshed" + (
        budget_note(len(ack.ms), len(dms))
    )
    for series, what in ((updated, "DMs updated"), (refreshed, "Homes refreshed")):
        if len(series.ms) != len(ack.ms):
            results.problems.append(f"Done submit: {len(series.ms)} {what} for {len(ack.ms)}")
    results.rows += [ack, updated, refreshed]
    return submitted


def measure_full_flow(
    requests: SlackRequests,
    fake: FakeSlack,
    db: Database,
    dms: Sequence[Dm],
    warmup: Sequence[Dm],
    first_submitted: Sequence[Dm],
    rng: random.Random,
    results: Results,
    budget_s: float,
) -> None:
    """Phase 3: the submission on a process_before_response=True app, fully processed."""
    full = Series("Done submit: fully processed (process_before_response)")
    updates = publishes = 0
    budget: Budget | None = None
    submitted: list[Dm] = []
    settle()
    for dm in [*warmup, *dms]:
        measured = dm not in warmup
        if measured:
            budget = budget or Budget(budget_s)
            if budget.spent(len(full.ms)):
                break
        submitted.append(dm)
        assignment_id, method = dm.clickable[1]
        meta = DoneModalMetadata(assignment_id, dm.channel, dm.ts).dump()
        fake.clear_calls()
        elapsed, status = submit(
            requests, dm, meta, done_values(rng, assessment=method == "assessment")
        )
        if status != 200:
            results.problems.append(f"full Done flow answered {status}")
        updates += sum(1 for call in fake.calls_to("chat.update") if call.ok)
        publishes += sum(1 for call in fake.calls_to("views.publish") if call.ok)
        if measured:
            full.ms.append(elapsed)
        elif dm is warmup[-1]:
            settle()
    full.note = "record + chat.update + views.publish, before the response" + budget_note(
        len(full.ms), len(dms)
    )
    if updates != len(submitted) or publishes != len(submitted):
        results.problems.append(
            f"full Done flow: {updates} chat.update and {publishes} views.publish "
            f"for {len(submitted)} submissions"
        )
    results.rows.append(full)
    wanted = [dm.clickable[0][0] for dm in first_submitted] + [
        dm.clickable[1][0] for dm in submitted
    ]
    with db.session() as session:
        completed = session.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(
                Assignment.id.in_(wanted),  # type: ignore[union-attr]
                Assignment.status == AssignmentStatus.COMPLETED,
            )
        )
    results.facts.append(
        f"Done flow: {completed} of {len(wanted)} submitted assignments recorded completed"
    )
    if completed != len(wanted):
        results.problems.append(f"{completed} completions recorded for {len(wanted)} submits")


def measure_home(
    fake: FakeSlack,
    client: Any,
    ctx: HandlerContext,
    name: str,
    slack_user_ids: Sequence[str],
    results: Results,
    budget_s: float,
    note: str = "",
) -> Series:
    series = Series(name)
    blocks: list[int] = []
    fake.clear_calls()
    settle()
    budget = Budget(budget_s)
    for slack_user_id in slack_user_ids:
        if budget.spent(len(series.ms)):
            break
        started = time.perf_counter()
        ok = publish_home(client, ctx, slack_user_id)
        series.ms.append((time.perf_counter() - started) * 1000)
        [call] = fake.calls_to("views.publish")[-1:] or [None]
        fake.clear_calls()
        if not ok or call is None or not call.ok:
            results.problems.append(f"{name}: a publish for {slack_user_id} failed")
            continue
        blocks.append(len(call.body["view"]["blocks"]))
    if blocks:
        least, most = min(blocks), max(blocks)
        shown = f"blocks {least}-{most}" if least != most else f"blocks {most}"
        series.note = (f"{note}; {shown}" if note else shown) + budget_note(
            len(series.ms), len(slack_user_ids)
        )
        if most > MAX_VIEW_BLOCKS:
            results.problems.append(f"{name}: a view has {most} blocks (limit {MAX_VIEW_BLOCKS})")
    results.rows.append(series)
    return series


def profile_home(client: Any, ctx: HandlerContext, slack_user_id: str, top: int) -> str:
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    publish_home(client, ctx, slack_user_id)
    profiler.disable()
    elapsed = time.perf_counter() - started
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("cumulative").print_stats(top)
    return (
        f"profile of the CEO's App Home ({elapsed:.2f} s under cProfile), "
        f"top {top} by cumulative time:\n{buffer.getvalue().rstrip()}"
    )


# --- the command ---------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.interactions",
        description=__doc__.split("\n\n")[0],
        epilog="What is measured, and how: see the docstring of bench/interactions.py.",
    )
    parser.add_argument("--people", type=int, default=100_000, help="default 100000")
    parser.add_argument(
        "--requests",
        type=int,
        default=300,
        help="Done clicks, submissions of each kind, and learners' Homes (default 300)",
    )
    parser.add_argument(
        "--manager-requests",
        type=int,
        default=20,
        help="App Home publishes per manager and for the admin (default 20)",
    )
    parser.add_argument("--assignments", type=int, default=20, help="per person (default 20)")
    parser.add_argument(
        "--budget",
        type=float,
        default=90.0,
        metavar="SECONDS",
        help="stop a series after this long, once it has 3 samples (default 90); "
        "the Done clicks always run in full",
    )
    parser.add_argument(
        "--analyze",
        action="store_true",
        help="what-if: run ANALYZE after the set-up (query planner statistics)",
    )
    parser.add_argument(
        "--add-indexes",
        action="store_true",
        help="what-if: add the indexes proposed in the findings after the set-up",
    )
    parser.add_argument("--warmup", type=int, default=5, help="untimed rounds first (default 5)")
    parser.add_argument("--seed", type=int, default=1, help="organisation and sampling seed")
    parser.add_argument(
        "--database-url", help="default: $DATABASE_URL, else a temporary SQLite file"
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="drop learnbot's tables in that database first (deletes its data)",
    )
    parser.add_argument(
        "--config",
        default=str(DEFAULT_CONFIG),
        help="programs YAML (default examples/programs.yml)",
    )
    parser.add_argument("--at", default=DEFAULT_AT, help=f"frozen clock (default {DEFAULT_AT})")
    parser.add_argument(
        "--profile",
        type=int,
        nargs="?",
        const=25,
        default=0,
        metavar="N",
        help="profile one CEO App Home with cProfile; print the top N (25) functions",
    )
    add_json_option(parser)
    return parser


def bench_args(people: int) -> list[str]:
    """The arguments ``python -m bench --people N`` runs this benchmark with."""
    return ["--people", str(people)]


PROPOSED_INDEXES = (
    # open_items (learning/home.py) and team_summary (learning/team.py): a person's
    # assignments by status and due date, covering the team queries' columns.
    "CREATE INDEX IF NOT EXISTS ix_assignment_person_status_due "
    "ON assignment (person_id, status, due_date, required)",
)


def what_if(db: Database, args: argparse.Namespace, results: Results) -> None:
    """Apply ``--add-indexes`` and ``--analyze`` to the set-up's database (timed)."""
    for wanted, label, statements in (
        (args.add_indexes, "--add-indexes", PROPOSED_INDEXES),
        (args.analyze, "--analyze", ("ANALYZE",)),
    ):
        if not wanted:
            continue
        started = time.perf_counter()
        with db.engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
        note = f"what-if {label}: applied in {time.perf_counter() - started:.1f} s"
        say(note)
        results.facts.append(note)


def run(db: Database, args: argparse.Namespace, clock: FrozenClock, results: Results) -> None:
    say(f"set-up: {args.people:,} people, {args.assignments} assignments each ...")
    org = set_up(db, args, clock)
    say(
        f"set-up: {org.people:,} people (levels {'/'.join(map(str, org.levels))}), "
        f"{org.assignments:,} assignments in {org.seconds:.1f} s"
    )
    what_if(db, args, results)
    rng = random.Random(args.seed + 1)
    problems = Problems()
    for name in ("slack_bolt", "handlers", "learning", "delivery"):
        logging.getLogger(name).addHandler(problems)

    with FakeSlack() as fake:
        settings = Settings(
            database_url=str(db.engine.url),
            slack_bot_token="xoxb-bench",
            slack_signing_secret=SECRET,
            slack_api_url=fake.base_url,
        )
        started = time.perf_counter()
        dms = send_dms(db, fake, settings, org, args.requests + args.warmup, rng, clock.now())
        warmup, measured = dms[: args.warmup], dms[args.warmup :]
        say(
            f"set-up: {len(dms)} digest DMs posted to the fake "
            f"in {time.perf_counter() - started:.1f} s"
        )

        # The set-up's objects (the org, the fake's messages) are the benchmark's, not the
        # bot's: keep them out of the collector's full passes, which would stall samples.
        settle()
        watch = GcWatch()
        watch.start()
        production = build_app(settings, database=db, clock=clock, process_before_response=False)
        tracker = track(production)
        requests = SlackRequests(production, signing_secret=SECRET)
        say("1. Done clicks ...")
        watch.phase = "Done clicks"
        metadata = measure_clicks(requests, fake, tracker, measured, warmup, results)
        say("2. Done submissions (production mode) ...")
        watch.phase = "Done submit (production)"
        first_submitted = measure_submissions(
            requests, fake, tracker, measured, warmup, metadata, rng, results, args.budget
        )

        synchronous = build_app(settings, database=db, clock=clock, process_before_response=True)
        say("3. Done submissions (fully processed) ...")
        watch.phase = "Done submit (full)"
        measure_full_flow(
            SlackRequests(synchronous, signing_secret=SECRET),
            fake,
            db,
            measured,
            warmup,
            first_submitted,
            rng,
            results,
            args.budget,
        )

        say("4. App Home publishes ...")
        watch.phase = "App Home: learners"
        client = build_client(settings)
        ctx = HandlerContext(database=db, clock=clock, settings=settings)
        learners = [org.slack_ids[p] for p in rng.sample(org.learners, args.requests)]
        for slack_user_id in learners[: args.warmup]:
            publish_home(client, ctx, slack_user_id)
        results.learner_home = measure_home(
            fake, client, ctx, "App Home: random learners", learners, results, args.budget
        )
        for label, person_id, below in org.managers:
            say(f"   {label} ({below:,} below) ...")
            watch.phase = f"App Home: {label}"
            series = measure_home(
                fake,
                client,
                ctx,
                f"App Home: {label}",
                [org.slack_ids[person_id]] * args.manager_requests,
                results,
                args.budget,
                note=f"{below:,} below",
            )
            if label == "CEO":
                results.ceo_home = series
        admin = org.slack_ids[org.learners[0]]
        admin_ctx = HandlerContext(
            database=db,
            clock=clock,
            settings=Settings(
                database_url=settings.database_url,
                slack_bot_token=settings.slack_bot_token,
                slack_signing_secret=SECRET,
                slack_api_url=fake.base_url,
                admins=(admin.lower(),),
            ),
        )
        say("   admin (program overview) ...")
        watch.phase = "App Home: admin"
        measure_home(
            fake,
            client,
            admin_ctx,
            "App Home: admin (program overview)",
            [admin] * args.manager_requests,
            results,
            args.budget,
            note="a learner listed in LEARNBOT_ADMINS",
        )
        if args.profile:
            ceo = org.slack_ids[org.managers[0][1]]
            results.facts.append(profile_home(client, ctx, ceo, args.profile))
        for app in (production, synchronous):
            app.listener_runner.listener_executor.shutdown(wait=True)
        watch.stop()
        results.facts.append(watch.summary())
        gc.unfreeze()
    for name in ("slack_bolt", "handlers", "learning", "delivery"):
        logging.getLogger(name).removeHandler(problems)
    if problems.records:
        results.problems.append(
            f"{len(problems.records)} warnings/errors logged, first: {problems.records[0]}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.people < 20 or args.requests < 1:
        print("error: --people must be at least 20 and --requests at least 1", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    url = args.database_url or os.environ.get("DATABASE_URL", "").strip()
    clock = FrozenClock(parse_instant(args.at))
    results = Results()
    say(
        f"learnbot bench: Done button and App Home with {args.people:,} people "
        f"(seed {args.seed}, clock {clock.now():%Y-%m-%dT%H:%MZ}), {args.requests} requests"
    )
    with tempfile.TemporaryDirectory(prefix="learnbot-bench-") as tmp:
        sqlite_file = None if url else Path(tmp) / "interactions.db"
        db = open_database(url or f"sqlite:///{sqlite_file}")
        try:
            database = backend(db)
            backend_name = database + (f" ({db.url})" if url else ", temporary file")
            say(f"database: {backend_name}")
            prepare(db, reset=args.reset)
            run(db, args, clock, results)
        except Refused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            db.dispose()
            if sqlite_file:
                remove_sqlite(sqlite_file)

    say()
    say(results_table(results.rows))
    say()
    for fact in results.facts:
        say(fact)
    say(
        f"machine: {platform.platform()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs; database: {backend_name}"
    )
    write_figures(args.json, "interactions", database, results.figures(args.people))
    failed = False
    assert results.ack is not None
    verdict = "PASS" if results.ack.p99 < ACK_TARGET_MS else "FAIL"
    say(f"Done ack p99 {results.ack.p99:.1f} ms (target < {ACK_TARGET_MS:.0f} ms): {verdict}")
    if verdict == "FAIL":
        failed = True
    if results.ceo_home is not None and results.ceo_home.p50 > HOME_SLOW_MS:
        say(f"note: the CEO's App Home takes {results.ceo_home.p50 / 1000:.1f} s (p50)")
    for problem in results.problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if failed or results.problems else 0


if __name__ == "__main__":
    sys.exit(main())
