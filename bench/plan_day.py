"""Benchmark: plan one day of digests (default 100,000 people, 20 assignments each).

    python -m bench.plan_day [--people 100000] [--assignments 20] [--scale 10000,100000]
                             [--database-url URL] [--reset] [--profile [N]] [--json PATH]

The acceptance benchmark of the nudge planner: ``schedules.nudges.plan_nudges`` (the
planner plus the enqueue into the outbox) for every time zone of one day, against a
floor measured in the same run on the same data. Target: at most 3x the floor, a
planning peak memory that does not grow with the number of people, and under 300 MB.

For each size in ``--scale`` (default ``people/10`` and ``people``, so 10,000 and
100,000), on a fresh database:

    1. Set-up (not measured): the schema, ``examples/programs.yml``, then the people of
       ``bench.orggen`` (managers resolved, seven time zones and a few people with none,
       everyone with a Slack user id) and ``--assignments`` assignments per person, all
       with Core bulk inserts in chunks of 5,000 people. Each person holds that many of
       the catalogue's items (required or suggested as in the programs), dated around
       the planning day: about 25% overdue required, 20% required due within the
       lookahead, 10% required due later, 20% completed, 25% open suggestions; 3% of the
       open ones snoozed past the send time (1% snoozed until before it); 2% of people
       away (1% back already), 1% inactive.
    2. The day (``--day``, a Monday that is a working day everywhere, so suggestions
       count): for each zone, in the order the day reaches them, a clock frozen at that
       zone's send time (09:30 local) and one ``plan_nudges`` call. A call plans every
       zone whose send window is open (4 h), so later calls also re-check earlier
       zones, which find everyone already planned; that is what the scheduler does.
    3. The floor, at each of those instants, just before the planner and against the
       same outbox: per open zone, one hand-written SQL query (same joins and
       conditions as the planner, same columns, same order) whose rows are all fetched
       through the raw DB-API cursor, then one ``executemany`` INSERT of one outbox row
       per person found (a minimal ``{}`` payload) and a commit. Its rows are deleted
       again (not timed) before the planner runs. The floor's people must be the
       planner's digests, and its rows, with at most ``max_suggestions`` suggestions
       per person kept, the planner's ``PlanStats.items``; the run fails otherwise.
       On SQLite the floor's text pins the join order to person first (see FLOOR_SQL:
       without statistics SQLite otherwise starts from every open assignment of every
       zone, ~10x slower); the "plain floor" columns time the same text with the
       planner's plain join, i.e. with the plan the planner gets (``--no-plain-floor``
       skips it). PostgreSQL plans from statistics and gets the plain text.
    4. A memory pass, before the timing pass (2 and 3): the day planned with
       ``tracemalloc`` on around each call ("py peak" is the largest call's peak); then
       its outbox rows are deleted again.

Wall times are ``time.perf_counter`` sums over the instants. "RSS": the process's peak
resident set during the planner calls of the memory pass, else of the timing pass
(Linux: ``VmHWM`` reset before each call through ``/proc/self/clear_refs``, after
``malloc_trim``; elsewhere the process peak so far).

Exit status 1 when the planner takes more than 3x the floor at the largest size, when
its RSS peaks at 300 MB or more there, when its py peak at the largest size is more than
2x that at the smallest, or when the floor and the planner disagree. ``--profile``
re-plans the day at the largest size under cProfile and prints the top N functions by
cumulative time.

The database: a temporary SQLite file per size, unless ``--database-url`` or
``DATABASE_URL`` names one. A named database must hold no people unless ``--reset`` is
given, which drops learnbot's tables there (all its data); the last size's data stays.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import ctypes
import gc
import io
import os
import platform
import pstats
import random
import re
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from itertools import islice
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Connection

from bench.accounts import insert_people as insert_person_rows
from bench.import_people import (
    Refused,
    backend,
    drop_learnbot_tables,
    peak_rss_mib,
    prepare,
    remove_sqlite,
    say,
)
from bench.orggen import iter_people, level_sizes
from bench.results import Figure, add_json_option, mib_as_mb, write_figures
from learning.calendar import WEEKDAYS
from learning.clock import FrozenClock
from learning.curriculum import ProgramSettings, load_curriculum
from learning.curriculum_sync import apply_config
from learning.paths import current_settings
from learning.planner import ZoneWindow, open_windows
from models import (
    DEFAULT_WORKSPACE,
    Assignment,
    AssignmentStatus,
    Item,
    OutboxMessage,
    TierItem,
)
from models.db import Database, open_database
from schedules.nudges import NudgePlan, plan_nudges

BENCHMARK = True  # `python -m bench` runs every bench module that sets this

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "examples" / "programs.yml"
DEFAULT_DAY = "2026-12-07"  # a Monday; no holiday in any zone of programs.yml
MIB = 1024 * 1024
SETUP_CHUNK = 5000  # people per Core insert batch (and per commit) during set-up
MAX_RATIO = 3.0
MAX_MEMORY_GROWTH = 2.0
MAX_RSS_MB = 300

# Shares of a person's assignments (see the docstring). Required items (those required
# somewhere in the programs) and suggested ones get their own mixes, weighted so that
# overall about 25% are overdue required and 20% required due within the lookahead.
REQUIRED_STATES = (("overdue", 0.385), ("due_soon", 0.31), ("later", 0.155), ("done", 0.15))
SUGGESTED_STATES = (("open", 0.7), ("done", 0.3))
SNOOZED_SHARE = 0.03  # of open assignments: snoozed past the send time (left out)
SNOOZE_OVER_SHARE = 0.01  # snoozed until before the send time (listed again)
AWAY_SHARE = 0.02  # people away on the day (left out)
BACK_SHARE = 0.01  # people whose away_until has passed (listed)
INACTIVE_SHARE = 0.01


def rss_reset() -> bool:
    """Reset the process's peak RSS (Linux ``VmHWM``); False where that is not possible.

    First glibc's ``malloc_trim`` hands freed heap back to the system, so the floor's
    fetched rows (freed, but kept by malloc) do not count in the planner's peak.
    """
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL(None).malloc_trim(0)
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def rss_now() -> float:
    """The process's resident set now, in MiB (0 where /proc is not there)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def rss_peak() -> float:
    """Peak RSS in MiB since the last ``rss_reset`` (else since the process started)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mib()


# --- set-up --------------------------------------------------------------------------


@dataclass
class Catalogue:
    """The catalogue's items: id and whether some program requires it."""

    items: list[tuple[int, bool]]


@dataclass
class SetupInfo:
    people: int = 0
    assignments: int = 0
    zones: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _choose(rng: random.Random, states: Sequence[tuple[str, float]]) -> str:
    draw = rng.random()
    for state, share in states:
        if draw < share:
            return state
        draw -= share
    return states[-1][0]


def set_up(db: Database, args: argparse.Namespace, people: int, day: date) -> SetupInfo:
    """Schema, configuration, ``people`` people and their assignments (Core inserts)."""
    info = SetupInfo()
    started = time.perf_counter()
    db.upgrade()
    loaded_at = datetime.combine(day - timedelta(days=3), clock_time(12), tzinfo=UTC)
    loaded = load_curriculum(args.config)
    with db.session() as session:
        apply_config(session, loaded, clock=FrozenClock(loaded_at), actor="bench")
        settings = current_settings(session)
        assert settings is not None
        required = set(session.scalars(select(TierItem.item_id).where(TierItem.required)))
        catalogue = [
            (item_id, item_id in required)
            for item_id in session.scalars(select(Item.id).where(Item.active).order_by(Item.id))
        ]
    if args.assignments > len(catalogue):
        raise Refused(
            f"--assignments {args.assignments}: the catalogue has only {len(catalogue)} items "
            "(one open assignment per person and item)"
        )

    org_zone = settings.organisation.timezone
    rng = random.Random(args.seed)
    managers = sum(level_sizes(people)[:-1])  # everyone above the individual contributors
    manager_ids: dict[str, int] = {}
    lookahead: dict[str, date] = {}
    zones: set[str] = set()
    rows = iter_people(people, seed=args.seed, as_of=day)
    next_id = 1
    while chunk := list(islice(rows, SETUP_CHUNK)):
        person_rows: list[dict[str, Any]] = []
        assignment_rows: list[dict[str, Any]] = []
        for row in chunk:
            person_id = next_id
            next_id += 1
            if person_id <= managers:
                manager_ids[row["email"]] = person_id
            zone = row["timezone"] or org_zone
            zones.add(zone)
            if zone not in lookahead:
                calendar = settings.calendar_for(zone)
                lookahead[zone] = calendar.add_working_days(
                    day, settings.cadence.lookahead_working_days
                )
            draw = rng.random()
            away_until = None
            if draw < AWAY_SHARE:
                away_until = day + timedelta(days=rng.randint(0, 14))
            elif draw < AWAY_SHARE + BACK_SHARE:
                away_until = day - timedelta(days=rng.randint(1, 30))
            person_rows.append(
                {
                    "id": person_id,
                    "workspace_id": DEFAULT_WORKSPACE,
                    "email": row["email"],
                    "name": row["name"],
                    "slack_user_id": row["slack_user_id"] or f"UB{person_id:09d}",
                    "manager_id": manager_ids.get(row["manager_email"]),
                    "role": row["role"],
                    "team": row["team"],
                    "role_start_date": date.fromisoformat(row["role_start_date"]),
                    "timezone": row["timezone"] or None,
                    "active": rng.random() >= INACTIVE_SHARE,
                    "is_admin": False,
                    "away_until": away_until,
                    "created_at": loaded_at,
                    "updated_at": loaded_at,
                }
            )
            for item_id, is_required in rng.sample(catalogue, args.assignments):
                assignment_rows.append(
                    _assignment(rng, person_id, item_id, is_required, day, lookahead[zone])
                )
        with db.engine.begin() as conn:
            insert_person_rows(conn, person_rows)
            conn.execute(insert(Assignment.__table__), assignment_rows)  # type: ignore[attr-defined]
        info.people += len(person_rows)
        info.assignments += len(assignment_rows)
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            # Explicit ids leave the sequence behind; and ANALYZE does what autovacuum
            # would do soon after a bulk load on a live server.
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('person', 'id'), max(id)) FROM person"
            )
            conn.exec_driver_sql("ANALYZE")
    if db.engine.dialect.name == "sqlite":
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    info.zones = sorted(zones)
    info.seconds = time.perf_counter() - started
    return info


def _assignment(
    rng: random.Random, person_id: int, item_id: int, is_required: bool, day: date, until: date
) -> dict[str, Any]:
    state = _choose(rng, REQUIRED_STATES if is_required else SUGGESTED_STATES)
    if state == "overdue":
        due = day - timedelta(days=rng.randint(1, 60))
    elif state == "due_soon":
        due = day + timedelta(days=rng.randint(0, (until - day).days))
    elif state == "later":
        due = until + timedelta(days=rng.randint(1, 120))
    else:  # done, or an open suggestion
        due = day + timedelta(days=rng.randint(-30, 60))
    assigned_at = datetime.combine(due - timedelta(days=30), clock_time(9), tzinfo=UTC)
    row: dict[str, Any] = {
        "person_id": person_id,
        "item_id": item_id,
        "tier_id": None,
        "cycle": 0,
        "required": is_required,
        "status": AssignmentStatus.OPEN,
        "assigned_at": assigned_at,
        "due_date": due,
        "completed_at": None,
        "completion_source": None,
        "snoozed_until": None,
    }
    if state == "done":
        row["status"] = AssignmentStatus.COMPLETED
        row["completed_at"] = assigned_at + timedelta(days=rng.randint(1, 25))
        row["completion_source"] = "bench"
        return row
    draw = rng.random()
    if draw < SNOOZED_SHARE:  # past the send time in every zone
        row["snoozed_until"] = datetime.combine(
            day + timedelta(days=rng.randint(1, 5)), clock_time(23), tzinfo=UTC
        )
    elif draw < SNOOZED_SHARE + SNOOZE_OVER_SHARE:
        row["snoozed_until"] = datetime.combine(
            day - timedelta(days=rng.randint(1, 5)), clock_time(12), tzinfo=UTC
        )
    return row


# --- the floor -----------------------------------------------------------------------


FLOOR_SQL = """
SELECT p.id, p.name, c.user_id, p.workspace_id,
       a.id, a.required, a.due_date,
       i.key, i.title, i.url, i.method, i.minutes
FROM person p
{join_assignment}
LEFT JOIN chat_account c
  ON c.person_id = p.id AND c.platform = 'slack' AND c.workspace = p.workspace_id
JOIN item i ON i.id = a.item_id
WHERE p.active
  AND {in_zone}
  AND (p.away_until IS NULL OR p.away_until < :today)
  AND {status} = 'open'
  AND a.due_date IS NOT NULL
  AND (a.snoozed_until IS NULL OR a.snoozed_until <= :now)
  AND ((a.required AND a.due_date <= :until){suggested})
  AND NOT EXISTS (
      SELECT 1 FROM outbox o
      WHERE o.key = 'digest:' || CAST(p.id AS VARCHAR) || :key_suffix
  )
ORDER BY p.id, a.due_date, a.id
"""
# The same join, two ways of writing it. "plain": as above with an inner join, as the
# planner writes it. "pinned" (SQLite only): CROSS JOIN, which SQLite takes as "person
# first", and `status || ''`, so that ix_assignment_status_due is not used: each person
# of the zone, then their assignments through the (person_id, item_id, cycle) index.
# Without statistics (no ANALYZE) SQLite otherwise starts from ix_assignment_status_due,
# i.e. from every open assignment of every zone, for each zone. PostgreSQL plans from
# statistics, so it gets the plain text both times.
PLAIN_JOIN = ("JOIN assignment a ON a.person_id = p.id", "a.status")
PINNED_JOIN = ("CROSS JOIN assignment a ON a.person_id = p.id", "a.status || ''")

FLOOR_INSERT = """
INSERT INTO outbox (key, platform, workspace_id, kind, person_id, recipient_kind, recipient,
                    payload, status, attempts, not_before, created_at)
VALUES (:key, 'slack', :workspace_id, 'digest', :person_id, 'person', :recipient, :payload,
        'pending', 0, :now, :now)
"""


@dataclass
class FloorResult:
    seconds: float = 0.0
    rows: int = 0  # every selected row: items before the suggestion cap
    items: int = 0  # with at most max_suggestions suggestions per person
    digests: int = 0
    windows: int = 0


class FloorSql:
    """The floor's statements in the driver's own parameter style."""

    def __init__(self, db: Database) -> None:
        self.dialect = db.engine.dialect.name

    def _native(self, sql: str) -> str:
        if self.dialect == "sqlite":  # sqlite3 takes :name
            return sql
        if self.dialect == "postgresql":  # psycopg takes %(name)s
            return re.sub(r"(?<![:\w]):([a-z_]+)", r"%(\1)s", sql)
        raise NotImplementedError(
            f"the floor is written for SQLite and PostgreSQL, not {self.dialect}"
        )

    def value(self, value: Any) -> Any:
        """What the driver gets: SQLite stores dates and UTC instants as text."""
        if self.dialect != "sqlite":
            return value
        if isinstance(value, datetime):
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        if isinstance(value, date):
            return value.isoformat()
        return value

    def select(self, window: ZoneWindow, org_zone: str, *, pinned: bool) -> str:
        join, status = PINNED_JOIN if pinned and self.dialect == "sqlite" else PLAIN_JOIN
        in_zone = "p.timezone = :zone"
        if window.zone == org_zone:
            in_zone = "(p.timezone = :zone OR p.timezone IS NULL)"
        suggested = " OR NOT a.required" if window.suggestions else ""
        return self._native(
            FLOOR_SQL.format(
                join_assignment=join, status=status, in_zone=in_zone, suggested=suggested
            )
        )

    def insert(self) -> str:
        sql = FLOOR_INSERT
        if self.dialect == "postgresql":
            sql = sql.replace(":payload", "CAST(:payload AS json)")
        return self._native(sql)


def floor_instant(
    db: Database, zones: list[str], now: datetime, settings: ProgramSettings, *, pinned: bool
) -> FloorResult:
    """The floor at ``now``: select every open zone's rows, insert one outbox row each."""
    result = FloorResult()
    sql = FloorSql(db)
    windows = open_windows(zones, now=now, settings=settings)
    result.windows = len(windows)
    statements = [
        sql.select(window, settings.organisation.timezone, pinned=pinned) for window in windows
    ]
    insert_sql = sql.insert()
    fetched: list[list[Any]] = []
    gc.collect()
    with db.engine.connect() as conn:
        raw: Any = conn.connection.dbapi_connection
        cursor = raw.cursor()
        started = time.perf_counter()
        digests: list[dict[str, Any]] = []
        for window, statement in zip(windows, statements, strict=True):
            cursor.execute(
                statement,
                {
                    "zone": window.zone,
                    "today": sql.value(window.today),
                    "now": sql.value(now),
                    "until": sql.value(window.lookahead_until),
                    "key_suffix": f":{window.today.isoformat()}",
                },
            )
            rows = cursor.fetchall()
            suffix = f":{window.today.isoformat()}"
            channels = {row[0]: (row[2], row[3]) for row in rows}
            digests.extend(
                {
                    "key": f"digest:{person_id}{suffix}",
                    "workspace_id": workspace_id,
                    "person_id": person_id,
                    "recipient": recipient,
                    "payload": "{}",
                    "now": sql.value(now),
                }
                for person_id, (recipient, workspace_id) in channels.items()
            )
            fetched.append(rows)
        if digests:
            cursor.executemany(insert_sql, digests)
        raw.commit()
        result.seconds = time.perf_counter() - started
        cursor.close()
    cap = settings.cadence.max_suggestions
    for rows in fetched:
        result.rows += len(rows)
        suggested: dict[int, int] = {}
        for row in rows:
            if row[5]:
                result.items += 1
            else:
                suggested[row[0]] = suggested.get(row[0], 0) + 1
        result.items += sum(min(count, cap) for count in suggested.values())
        result.digests += len({row[0] for row in rows})
    return result


# --- the day -------------------------------------------------------------------------


@dataclass
class Instant:
    """One planning instant: a zone's send time, and what was measured there."""

    zone: str
    at: datetime
    windows: int = 0
    plan_s: float = 0.0
    traced_s: float = 0.0
    py_peak_mib: float | None = None
    traced_digests: int = 0
    rss_mib: float = 0.0
    rss_growth_mib: float = 0.0  # the peak minus the resident set just before the call
    digests: int = 0
    items: int = 0
    floor: FloorResult = field(default_factory=FloorResult)
    plain: FloorResult | None = None  # SQLite: the floor with the planner's join order


@dataclass
class Scale:
    """One size: set-up, then the day measured."""

    people: int
    setup: SetupInfo = field(default_factory=SetupInfo)
    instants: list[Instant] = field(default_factory=list)
    rss_note: str = ""
    problems: list[str] = field(default_factory=list)

    def total(self, name: str) -> float:
        return sum(getattr(instant, name) for instant in self.instants)

    @property
    def floor_s(self) -> float:
        return sum(instant.floor.seconds for instant in self.instants)

    @property
    def plain_s(self) -> float | None:
        plain = [instant.plain for instant in self.instants]
        if not plain or any(result is None for result in plain):
            return None
        return sum(result.seconds for result in plain if result)

    @property
    def floor_rows(self) -> int:
        return sum(instant.floor.rows for instant in self.instants)

    @property
    def ratio(self) -> float:
        return self.total("plan_s") / self.floor_s if self.floor_s else float("nan")

    @property
    def plain_ratio(self) -> float | None:
        plain = self.plain_s
        return self.total("plan_s") / plain if plain else None

    @property
    def largest_rss(self) -> float:
        return max(instant.rss_mib for instant in self.instants)

    @property
    def py_peak(self) -> float | None:
        peaks = [i.py_peak_mib for i in self.instants if i.py_peak_mib is not None]
        return max(peaks) if peaks else None


def send_instants(zones: list[str], day: date, settings: ProgramSettings) -> list[Instant]:
    """Each zone's send time on ``day``, in the order the day reaches them."""
    instants = [
        Instant(zone, datetime.combine(day, settings.cadence.send_time, tzinfo=ZoneInfo(zone)))
        for zone in zones
    ]
    for instant in instants:
        instant.at = instant.at.astimezone(UTC)
    return sorted(instants, key=lambda instant: (instant.at, instant.zone))


def check_day(zones: list[str], day: date, settings: ProgramSettings) -> None:
    weekday = WEEKDAYS[day.weekday()]
    if weekday != settings.cadence.suggestions_weekday:
        raise Refused(
            f"--day {day} is a {weekday}; the suggestions weekday is "
            f"{settings.cadence.suggestions_weekday}, and the benchmark wants suggestions"
        )
    closed = [zone for zone in zones if not settings.calendar_for(zone).is_working_day(day)]
    if closed:
        raise Refused(f"--day {day} is not a working day in {', '.join(closed)}")


def clear_outbox(db: Database, above_id: int = 0) -> None:
    """Delete the outbox rows above ``above_id``, and on PostgreSQL vacuum the outbox.

    Without the VACUUM the deleted rows stay in ``outbox_key_key`` as dead entries
    with the very keys the planner inserts next, and its NOT EXISTS probes and
    ON CONFLICT checks visit them: the planner then measured 2x slower than it is.
    """
    with db.engine.begin() as conn:
        conn.execute(delete(OutboxMessage).where(OutboxMessage.id > above_id))  # type: ignore[arg-type]
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE) outbox")


def max_outbox_id(conn: Connection) -> int:
    return conn.execute(select(func.coalesce(func.max(OutboxMessage.id), 0))).scalar_one()


def plan_once(db: Database, at: datetime) -> NudgePlan:
    return plan_nudges(db, FrozenClock(at))


def run_day(db: Database, scale: Scale, day: date, *, trace: bool, plain: bool) -> None:
    """The memory pass (planner only), then the timing pass (floor, then planner).

    The memory pass goes first so that its RSS figures are the planner's own: the
    floor fetches whole zones (300,000 rows at 100,000 people), and the freed rows
    leave the heap fragmented, which would then count in every later call's RSS.
    """
    with db.session() as session:
        settings = current_settings(session)
    assert settings is not None
    check_day(scale.setup.zones, day, settings)
    scale.instants = send_instants(scale.setup.zones, day, settings)
    # Warm-up on the Saturday before (no window open anywhere): imports, settings.
    plan_once(db, datetime.combine(day - timedelta(days=2), clock_time(12), tzinfo=UTC))
    can_reset = rss_reset()
    scale.rss_note = (
        " (in the memory pass, tracemalloc's own records included)" if trace else ""
    ) + ("" if can_reset else " (process peak so far)")
    if trace:
        memory_pass(db, scale)
    plain = plain and db.engine.dialect.name == "sqlite"
    for instant in scale.instants:
        with db.engine.connect() as conn:
            before = max_outbox_id(conn)
        instant.floor = floor_instant(db, scale.setup.zones, instant.at, settings, pinned=True)
        clear_outbox(db, before)
        if plain:
            instant.plain = floor_instant(db, scale.setup.zones, instant.at, settings, pinned=False)
            clear_outbox(db, before)
        rss_reset()
        rss_before = rss_now()
        started = time.perf_counter()
        plan = plan_once(db, instant.at)
        instant.plan_s = time.perf_counter() - started
        if not trace:
            instant.rss_mib = rss_peak()
            instant.rss_growth_mib = instant.rss_mib - rss_before
        instant.windows = len(plan.stats.zones_open)
        instant.digests = plan.enqueued
        instant.items = plan.stats.items
        floor = instant.floor
        say(
            f"  {instant.at:%a %H:%MZ} {instant.zone:<20} {instant.windows} open: "
            f"planner {instant.plan_s:7.3f} s, {plan.enqueued:>7,} digests, "
            f"{plan.stats.items:>9,} items | floor {floor.seconds:7.3f} s, "
            f"{floor.digests:>7,} people, {floor.rows:>9,} rows ({floor.items:,} capped)"
            + (f" | plain floor {instant.plain.seconds:7.3f} s" if instant.plain else "")
        )
        checks = [
            ("digests", plan.enqueued, floor.digests, "floor"),
            ("digests (PlanStats)", plan.stats.digests, floor.digests, "floor"),
            ("items", plan.stats.items, floor.items, "floor"),
        ]
        if instant.plain:
            checks += [
                ("digests", plan.enqueued, instant.plain.digests, "plain floor"),
                ("items", plan.stats.items, instant.plain.items, "plain floor"),
                ("rows", floor.rows, instant.plain.rows, "plain floor"),
            ]
        for what, planner, floor_count, which in checks:
            if planner != floor_count:
                problem = (
                    f"{scale.people:,} people, {instant.zone} at {instant.at:%Y-%m-%dT%H:%MZ}: "
                    f"the planner's {what} {planner:,} != the {which}'s {floor_count:,}"
                )
                say(f"  MISMATCH: {problem}")
                scale.problems.append(problem)
        if trace and plan.enqueued != instant.traced_digests:
            scale.problems.append(
                f"{instant.zone}: {plan.enqueued:,} digests, memory pass {instant.traced_digests:,}"
            )
        if plan.stats.unreachable:
            scale.problems.append(f"{plan.stats.unreachable} unreachable people (expected 0)")


def memory_pass(db: Database, scale: Scale) -> None:
    """Plan the day with tracemalloc on around each call; then empty the outbox again."""
    for instant in scale.instants:
        rss_reset()
        before = rss_now()
        tracemalloc.start()
        started = time.perf_counter()
        plan = plan_once(db, instant.at)
        instant.traced_s = time.perf_counter() - started
        instant.py_peak_mib = tracemalloc.get_traced_memory()[1] / MIB
        tracemalloc.stop()
        instant.rss_mib = rss_peak()
        instant.rss_growth_mib = instant.rss_mib - before
        instant.traced_digests = plan.enqueued
    say(
        "  memory pass: py peak per call "
        + ", ".join(f"{i.py_peak_mib:.1f}" for i in scale.instants)
        + " MiB; RSS peak per call "
        + ", ".join(f"{i.rss_mib:.0f} (+{i.rss_growth_mib:.0f})" for i in scale.instants)
        + f" MiB; {scale.total('traced_s'):.2f} s traced"
    )
    clear_outbox(db)


def profile_day(db: Database, scale: Scale, top: int) -> str:
    clear_outbox(db)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    for instant in scale.instants:
        profiler.enable()
        plan_once(db, instant.at)
        profiler.disable()
    elapsed = time.perf_counter() - started
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer)
    stats.sort_stats(os.environ.get("BENCH_PROFILE_SORT", "cumulative")).print_stats(top)
    return (
        f"profile of the day's plan_nudges calls at {scale.people:,} people "
        f"({elapsed:.2f} s under cProfile), top {top} by cumulative time:\n"
        + buffer.getvalue().rstrip()
    )


# --- the report ----------------------------------------------------------------------


def results_table(scales: list[Scale], args: argparse.Namespace) -> str:
    header = (
        "people",
        "assignments",
        "digests",
        "items",
        "rows",
        "plan wall s",
        "floor wall s",
        "ratio",
        "py peak MiB",
        "RSS MiB",
        "RSS +MiB",
        "plain floor s",
        "plain ratio",
    )
    lines = []
    for scale in scales:
        peak = scale.py_peak
        lines.append(
            (
                f"{scale.people:,}",
                f"{scale.setup.assignments:,}",
                f"{int(scale.total('digests')):,}",
                f"{int(scale.total('items')):,}",
                f"{scale.floor_rows:,}",
                f"{scale.total('plan_s'):.3f}",
                f"{scale.floor_s:.3f}",
                f"{scale.ratio:.2f}",
                "-" if peak is None else f"{peak:.1f}",
                f"{scale.largest_rss:.1f}",
                f"{max(i.rss_growth_mib for i in scale.instants):.1f}",
                "-" if scale.plain_s is None else f"{scale.plain_s:.3f}",
                "-" if scale.plain_ratio is None else f"{scale.plain_ratio:.2f}",
            )
        )
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def fmt(row: Sequence[str]) -> str:
        return "  ".join(cell.rjust(widths[i]) for i, cell in enumerate(row))

    return "\n".join(
        [fmt(header), fmt(["-" * width for width in widths]), *(fmt(row) for row in lines)]
    )


def figures(scales: list[Scale]) -> list[Figure]:
    """The headline figures (of the largest size) for ``python -m bench``'s table."""
    largest = max(scales, key=lambda scale: scale.people)
    rss = largest.largest_rss
    peak = largest.py_peak
    return [
        Figure(
            f"one day's planning: {largest.people:,} people, "
            f"{int(largest.total('digests')):,} digests",
            f"{largest.total('plan_s'):.2f} s (SQL floor {largest.floor_s:.2f} s)",
        ),
        Figure(
            "one day's planning / SQL floor",
            f"{largest.ratio:.2f}x",
            f"<= {MAX_RATIO:g}x",
            largest.ratio <= MAX_RATIO,
        ),
        Figure(
            "one day's planning: peak memory",
            f"process RSS {rss:.0f} MiB = {mib_as_mb(rss):.0f} MB"
            + ("" if peak is None else f", py {peak:.1f} MiB"),
            f"< {MAX_RSS_MB} MB",
            mib_as_mb(rss) < MAX_RSS_MB,
        ),
    ]


def verdict(scales: list[Scale]) -> list[str]:
    """Why the run fails the target (empty: it passes)."""
    failures = [problem for scale in scales for problem in scale.problems]
    largest = max(scales, key=lambda scale: scale.people)
    if not largest.ratio <= MAX_RATIO:
        failures.append(
            f"at {largest.people:,} people the planner took {largest.total('plan_s'):.2f} s, "
            f"{largest.ratio:.2f}x the floor's {largest.floor_s:.2f} s (target at most "
            f"{MAX_RATIO:g}x)"
        )
    rss = largest.largest_rss
    if mib_as_mb(rss) >= MAX_RSS_MB:
        failures.append(
            f"at {largest.people:,} people planning peaked at {mib_as_mb(rss):.0f} MB RSS "
            f"(target under {MAX_RSS_MB} MB)"
        )
    smallest = min(scales, key=lambda scale: scale.people)
    if smallest is not largest and smallest.py_peak and largest.py_peak:
        growth = largest.py_peak / smallest.py_peak
        if growth > MAX_MEMORY_GROWTH:
            failures.append(
                f"planning py peak grew {growth:.1f}x from {smallest.people:,} people "
                f"({smallest.py_peak:.1f} MiB) to {largest.people:,} "
                f"({largest.py_peak:.1f} MiB); target at most {MAX_MEMORY_GROWTH:g}x"
            )
    return failures


# --- the command ---------------------------------------------------------------------


def parse_scales(text: str) -> list[int]:
    try:
        sizes = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give sizes like 10000,100000") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("sizes must be at least 1")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.plan_day",
        description=__doc__.split("\n\n")[0],
        epilog="What is measured, and how: see the docstring of bench/plan_day.py.",
    )
    parser.add_argument(
        "--people", type=int, default=100_000, help="the acceptance size (default 100000)"
    )
    parser.add_argument(
        "--scale",
        type=parse_scales,
        help="sizes to run, comma-separated (default people/10,people: 10000,100000); "
        "the ratio is checked at the largest, memory growth from the smallest to it",
    )
    parser.add_argument("--assignments", type=int, default=20, help="per person (default 20)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed")
    parser.add_argument("--day", default=DEFAULT_DAY, help=f"the Monday (default {DEFAULT_DAY})")
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
    parser.add_argument(
        "--no-tracemalloc",
        dest="trace",
        action="store_false",
        help="skip the memory pass (and so the memory check)",
    )
    parser.add_argument(
        "--no-plain-floor",
        dest="plain",
        action="store_false",
        help="SQLite: skip the floor with the planner's join order (the 'plain' columns)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        nargs="?",
        const=25,
        default=0,
        metavar="N",
        help="profile the day at the largest size; print the top N (25) by cumulative time",
    )
    add_json_option(parser)
    return parser


def bench_args(people: int) -> list[str]:
    """The arguments ``python -m bench --people N`` runs this benchmark with: that one
    size (``--scale`` 10000,100000 adds the memory growth check) and no plain floor."""
    return ["--people", str(people), "--scale", str(people), "--no-plain-floor"]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.people < 1 or args.assignments < 1:
        print("error: --people and --assignments must be at least 1", file=sys.stderr)
        return 2
    scales = args.scale or sorted({max(1, args.people // 10), args.people})
    day = date.fromisoformat(args.day)
    url = args.database_url or os.environ.get("DATABASE_URL", "").strip()
    say(
        f"learnbot bench: plan {day:%a %Y-%m-%d} for "
        + " and ".join(f"{n:,}" for n in scales)
        + f" people, {args.assignments} assignments each (seed {args.seed})"
    )
    done: list[Scale] = []
    backend_name = database = ""
    profile_text = ""
    with tempfile.TemporaryDirectory(prefix="learnbot-bench-") as tmp:
        try:
            for index, people in enumerate(scales):
                sqlite_file = None if url else Path(tmp) / f"plan-{people}.db"
                db = open_database(url or f"sqlite:///{sqlite_file}")
                try:
                    database = backend(db)
                    backend_name = database + (f" ({db.url})" if url else ", temporary file")
                    if index == 0:
                        say(f"database: {backend_name}")
                        prepare(db, reset=args.reset)
                    elif url:
                        drop_learnbot_tables(db)  # the tables the previous size created
                    scale = Scale(people)
                    say(f"{people:,} people: set-up (not measured) ...")
                    scale.setup = set_up(db, args, people, day)
                    say(
                        f"  set-up: {scale.setup.people:,} people, "
                        f"{scale.setup.assignments:,} assignments, "
                        f"{len(scale.setup.zones)} zones in {scale.setup.seconds:.1f} s"
                    )
                    run_day(db, scale, day, trace=args.trace, plain=args.plain)
                    done.append(scale)
                    if args.profile and people == scales[-1]:
                        profile_text = profile_day(db, scale, args.profile)
                finally:
                    db.dispose()
                    if sqlite_file:
                        remove_sqlite(sqlite_file)
        except Refused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    say()
    say(results_table(done, args))
    say()
    say(
        "items: digest items (at most "
        "max_suggestions suggestions each); rows: the floor's rows, before that cap; "
        "wall s: sums over the day's "
        f"{len(done[-1].instants)} send instants; py peak: tracemalloc, largest call; "
        f"RSS: peak during a planner call{done[-1].rss_note}, +: its largest rise over "
        "the resident set just before the call; plain floor (SQLite): "
        "the floor's query with the planner's join order (see FLOOR_SQL)"
    )
    say(
        f"machine: {platform.platform()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs; database: {backend_name}"
    )
    if profile_text:
        say()
        say(profile_text)
    write_figures(args.json, "plan_day", database, figures(done))
    failures = verdict(done)
    say()
    if failures:
        for failure in failures:
            print(f"FAIL: {failure}", file=sys.stderr, flush=True)
        return 1
    largest = done[-1]
    say(
        f"PASS: {largest.ratio:.2f}x the floor at {largest.people:,} people"
        + (
            f"; py peak {done[0].py_peak:.1f} -> {largest.py_peak:.1f} MiB"
            if len(done) > 1 and largest.py_peak and done[0].py_peak
            else ""
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
