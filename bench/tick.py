"""Benchmark: whole ticks (enrollment and every planner) over a day, beside a Done writer.

    python -m bench.tick [--people 100000] [--scale 10000,100000] [--day 2026-12-07]
                         [--every 30] [--until 24:00] [--done-every-ms 50]
                         [--database-url URL] [--reset] [--json PATH]

What ``python bot.py sweep`` (and the scheduler) does on every tick, less delivery:
``schedules.tick.plan_step``, i.e. enrollment, then the certification, nudge,
escalation, weekly-digest, peer-prompt and game-board planners. For each size in
``--scale`` (default ``people/10`` and ``people``), on a fresh database:

    1. Set-up (not measured). The schema and ``examples/programs.yml``; the people of
       ``bench.orggen`` (Core inserts); then their history, replayed with the real
       ``learning.paths.enroll``: each person is enrolled on the day they were imported
       (their role start, or four days before the bench day for later starters) and on
       each day a tier of their path opened, with a clock frozen at 12:00 UTC that day.
       85% of the items due before the Friday are then completed (30% of the later
       ones), and everyone holding every requirement of a certification gets an award
       valid a year. Then the Friday before the bench day is ticked at each zone's send
       time (the escalation and certification catch-up happens there), and the
       weekend's tier openings are enrolled.
    2. The day: a tick every ``--every`` minutes from 00:00 UTC until ``--until``, each
       a ``plan_step`` with a clock frozen at that instant. Measured per tick: wall
       time, each job's wall time, every write transaction, the messages planned.
    3. Beside it, a second *process* records a Done every ``--done-every-ms`` ms
       through ``learning.actions.complete_assignment`` in ``unit_of_work`` (what the
       Done button does), on a random open assignment, and logs how long each took
       from the start of its transaction to the end of its commit: on SQLite that is
       mostly the wait for the write lock while a tick holds it.

A write transaction is timed from the end of its first INSERT, UPDATE or DELETE (SQLite
takes its write lock during that statement, after waiting for it if another process
holds it) until the connection goes back to the pool after the commit (SQLAlchemy
``after_cursor_execute`` and pool ``checkin`` events), and charged to the job running;
the first statement's own time (its wait included) and the COMMIT's are logged beside
it. SQLite's automatic checkpoint (when the WAL passes 1,000 pages) runs inside the
COMMIT call of whichever connection crosses that line, after the write lock is released:
when it lands in a job's COMMIT, that transaction is timed longer than it held the lock.

Headline figures (the largest size): the idle tick (median of the ticks with no send
window open anywhere that planned no message: nothing is due; target under 1 s), and
beside it the quiet tick (a window is open, but nothing new is due: no message
planned); the busiest tick and its growth from the smallest size (target at most 1.1x
the growth in people); the longest write transaction (target under 250 ms); the Done
wait during the busiest tick, p50/p99/max (target p99 under 250 ms). Exit status 1 when
a target is missed at the largest size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, event, func, insert, select, update

import schedules.tick as tick_module
from bench.accounts import insert_people as insert_person_rows
from bench.import_people import Refused, backend, drop_learnbot_tables, prepare, remove_sqlite, say
from bench.orggen import iter_people, level_sizes
from bench.plan_day import send_instants
from bench.results import Figure, add_json_option, write_figures
from learning.clock import FrozenClock, local_date
from learning.curriculum import load_curriculum
from learning.curriculum_sync import apply_config
from learning.due_changes import (
    DueChange,
    apply_due_changes,
    basis_of,
    basis_values,
    prerequisite_notice,
)
from learning.enrollment import PREREQUISITE, release
from learning.paths import current_settings, enroll, load_paths
from models import (
    DEFAULT_WORKSPACE,
    Assignment,
    AssignmentStatus,
    Certification,
    CertificationAward,
    CertificationRequirement,
    ItemPrerequisite,
    OutboxMessage,
    Person,
)
from models.db import Database, open_database
from schedules.lock import SchedulerLock

BENCHMARK = True  # `python -m bench` runs every bench module that sets this

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "examples" / "programs.yml"
DEFAULT_DAY = "2026-12-07"  # a Monday; no holiday in any zone of programs.yml
SETUP_CHUNK = 5000
DONE_PICKS = 40_000  # open assignments the Done writer may complete
IDLE_TARGET_S = 1.0
WRITE_TARGET_S = 0.250
DONE_P99_TARGET_S = 0.250
GROWTH_SLACK = 1.1  # busy tick growth at most 1.1x the growth in people (11x for 10x)
COMPLETED_IF_PAST_DUE = 0.85
COMPLETED_IF_NOT_DUE = 0.30
INACTIVE_SHARE = 0.01
AWARD_VALID_DAYS = 365
_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
_WITH_WRITE = re.compile(r"\b(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


# --- measuring write transactions ------------------------------------------------------


@dataclass
class Write:
    job: str
    seconds: float  # from the end of the first write (the lock is held) to the commit's end
    commit_seconds: float = 0.0  # of which the COMMIT itself (WAL write, checkpoint)
    first_seconds: float = 0.0  # the first write statement: its wait for the lock, its work
    dbapi_commit_seconds: float = 0.0  # SQLite: the driver's COMMIT alone


class Recorder:
    """Times jobs and write transactions of the ticks in this process."""

    def __init__(self) -> None:
        self.job = "other"
        self.writes: list[Write] = []
        self.job_seconds: dict[str, float] = {}
        self.spans: list[tuple[str, float, float]] = []  # (job, monotonic start, end)

    def install(self, database: Database) -> None:
        self.database = database
        if database.engine.dialect.name == "sqlite":
            database.engine.dispose()
            event.listen(database.engine, "do_connect", _timed_commits)
        event.listen(database.engine, "before_cursor_execute", self._before_execute)
        event.listen(database.engine, "after_cursor_execute", self._after_execute)
        event.listen(database.engine, "checkin", self._checkin)
        event.listen(database.engine, "commit", self._commit)

    def _before_execute(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "bench_write" in conn.info or "bench_first" in conn.info:
            return
        if _WRITE.match(statement) or (
            statement.lstrip()[:4].upper() == "WITH" and _WITH_WRITE.search(statement)
        ):
            conn.info["bench_first"] = time.perf_counter()

    def _after_execute(self, conn: Any, *_args: Any) -> None:
        first = conn.info.pop("bench_first", None)
        if first is not None:
            now = time.perf_counter()
            conn.info["bench_write"] = (now, self.job, now - first)

    def _commit(self, conn: Any) -> None:
        if "bench_write" in conn.info:
            conn.info["bench_commit"] = time.perf_counter()

    def _checkin(self, _dbapi_connection: Any, record: Any) -> None:
        started = record.info.pop("bench_write", None)
        committed = record.info.pop("bench_commit", None)
        record.info.pop("bench_first", None)  # a first write that failed
        if started is not None:
            now = time.perf_counter()
            self.writes.append(
                Write(
                    started[1],
                    now - started[0],
                    now - committed if committed else 0.0,
                    started[2],
                    _TimedConnection.last_commit_seconds,
                )
            )
            _TimedConnection.last_commit_seconds = 0.0

    def timed(self, name: str, job: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            outer, self.job = self.job, name
            started = time.perf_counter()
            began = time.monotonic()
            try:
                return job(*args, **kwargs)
            finally:
                self.spans.append((name, began, time.monotonic()))
                self.job_seconds[name] = self.job_seconds.get(name, 0.0) + (
                    time.perf_counter() - started
                )
                self.job = outer

        run.__wrapped__ = job  # type: ignore[attr-defined]
        return run

    def instrument_tick(self) -> None:
        """Wrap every job ``schedules.tick`` calls (``enroll_*``, ``plan_*`` from elsewhere)."""
        for name, value in list(vars(tick_module).items()):
            job = getattr(value, "__wrapped__", value)  # wrapped for an earlier size
            if (
                callable(job)
                and name.startswith(("enroll_", "plan_"))
                and getattr(job, "__module__", "") != tick_module.__name__
            ):
                setattr(tick_module, name, self.timed(name, job))

    @contextmanager
    def tick(self) -> Iterator[None]:
        self.writes = []
        self.job_seconds = {}
        yield


class _TimedConnection(sqlite3.Connection):
    """A SQLite connection that times its COMMIT (the WAL append and fsync)."""

    last_commit_seconds = 0.0

    def commit(self) -> None:
        started = time.perf_counter()
        super().commit()
        _TimedConnection.last_commit_seconds = time.perf_counter() - started


def _timed_commits(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
    cparams["factory"] = _TimedConnection


# --- set-up ----------------------------------------------------------------------------


@dataclass
class SetupInfo:
    people: int = 0
    assignments: int = 0
    completed: int = 0
    awards: int = 0
    zones: list[str] = field(default_factory=list)
    seconds: float = 0.0


def at_noon(day: date) -> datetime:
    return datetime.combine(day, clock_time(12), tzinfo=UTC)


def insert_people(db: Database, people: int, day: date, seed: int) -> tuple[dict, set[str]]:
    """The organisation, with Core inserts; returns (id -> (role, start), zones)."""
    with db.session() as session:
        settings = current_settings(session)
    assert settings is not None
    org_zone = settings.organisation.timezone
    rng = random.Random(seed)
    managers = sum(level_sizes(people)[:-1])
    manager_ids: dict[str, int] = {}
    starts: dict[int, tuple[str, date]] = {}
    zones: set[str] = set()
    rows = iter_people(people, seed=seed, as_of=day)
    next_id = 1
    stamp = at_noon(day - timedelta(days=400))
    while chunk := list(islice(rows, SETUP_CHUNK)):
        person_rows = []
        for row in chunk:
            person_id = next_id
            next_id += 1
            if person_id <= managers:
                manager_ids[row["email"]] = person_id
            zones.add(row["timezone"] or org_zone)
            active = rng.random() >= INACTIVE_SHARE
            start = date.fromisoformat(row["role_start_date"])
            if active:
                starts[person_id] = (row["role"], start)
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
                    "role_start_date": start,
                    "timezone": row["timezone"] or None,
                    "active": active,
                    "is_admin": False,
                    "created_at": stamp,
                    "updated_at": stamp,
                }
            )
        with db.engine.begin() as conn:
            insert_person_rows(conn, person_rows)
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('person', 'id'), max(id)) FROM person"
            )
    return starts, zones


def enrollment_days(
    starts: dict[int, tuple[str, date]], tier_days: dict[str, list[int]], imported_by: date
) -> dict[date, list[int]]:
    """Who is enrolled on which day: on import, and on each day a tier of theirs opens."""
    days: dict[date, set[int]] = defaultdict(set)
    for person_id, (role, start) in starts.items():
        days[min(start, imported_by)].add(person_id)
        for offset in tier_days.get(role, ()):
            days[start + timedelta(days=offset)].add(person_id)
    return {day: sorted(ids) for day, ids in days.items()}


def replay_enrollment(db: Database, days: dict[date, list[int]], after: date, until: date) -> int:
    """Enroll each day's people as of noon UTC that day, for days in (after, until]."""
    with db.session() as session:
        settings = current_settings(session)
        paths = load_paths(session)
    assert settings is not None
    created = 0
    for day in sorted(d for d in days if after < d <= until):
        with db.session() as session:
            created += enroll(
                session,
                clock=FrozenClock(at_noon(day)),
                settings=settings,
                person_ids=days[day],
                paths=paths,
            ).created
    return created


def complete_history(db: Database, friday: date, seed: int) -> int:
    """Complete most of what fell due before ``friday`` and some of the rest.

    As the Done button does (``record_completion``), completing a prerequisite gives the
    items that waited for it their due date (``release_dependants``, with a clock at the
    completion); those are then completed like the rest, in rounds until nothing more is
    released, never before their prerequisites. Items still waiting at the end count as
    not due.
    """
    table = Assignment.__table__  # type: ignore[attr-defined]
    rng = random.Random(seed + 1)
    latest = at_noon(friday - timedelta(days=1))
    requires = prerequisites_of(db)
    finished: dict[tuple[int, int], datetime] = {}  # (person, item) -> completed at
    decided: set[int] = set()
    total, last_round = 0, False
    statement = (
        update(table)
        .where(table.c.id == bindparam("aid"))
        .values(
            status=AssignmentStatus.COMPLETED,
            completed_at=bindparam("at"),
            completion_source="bench",
            score=100.0,
        )
    )
    while True:
        with db.engine.connect() as conn:
            rows = conn.execute(
                select(
                    table.c.id,
                    table.c.person_id,
                    table.c.item_id,
                    table.c.due_date,
                    table.c.assigned_at,
                )
                .where(table.c.status == AssignmentStatus.OPEN)
                .order_by(table.c.id)
            ).all()
        done = []
        for assignment_id, person_id, item_id, due, assigned_at in rows:
            if assignment_id in decided or (due is None and not last_round):
                continue  # decided, or waiting for a prerequisite a later round may release
            decided.add(assignment_id)
            past_due = due is not None and due < friday
            share = COMPLETED_IF_PAST_DUE if past_due else COMPLETED_IF_NOT_DUE
            if rng.random() >= share:
                continue
            start = assigned_at if assigned_at.tzinfo else assigned_at.replace(tzinfo=UTC)
            for required in requires.get(item_id, ()):
                start = max(start, finished.get((person_id, required), start))
            span = max(0.0, (latest - start).total_seconds())
            at = start + timedelta(seconds=rng.random() * span)
            finished[(person_id, item_id)] = at
            done.append({"aid": assignment_id, "at": at, "person": person_id, "item": item_id})
        for start_row in range(0, len(done), SETUP_CHUNK * 4):
            with db.engine.begin() as conn:
                conn.execute(statement, done[start_row : start_row + SETUP_CHUNK * 4])
        total += len(done)
        if last_round:
            return total
        last_round = release_history(db, done, requires) == 0


def prerequisites_of(db: Database) -> dict[int, list[int]]:
    """Each item's prerequisites (item id -> the ids it requires)."""
    requires: dict[int, list[int]] = defaultdict(list)
    with db.engine.connect() as conn:
        for item_id, required in conn.execute(
            select(ItemPrerequisite.item_id, ItemPrerequisite.requires_item_id)
        ):
            requires[item_id].append(required)
    return requires


def release_history(
    db: Database, done: list[dict[str, Any]], requires: dict[int, list[int]]
) -> int:
    """Give the items that waited for the prerequisites in ``done`` their due date.

    What ``release_dependants`` does when each was recorded done (the same
    ``learning.enrollment.release`` and ``apply_due_changes``: the date counts from the
    learner's local day of the last prerequisite's completion, a notice for the digest,
    an audit entry), for all of them at once: per person it would take an hour at
    100,000 people.
    """
    finished: dict[int, dict[int, datetime]] = defaultdict(dict)
    for row in done:
        finished[row["person"]][row["item"]] = row["at"]
    table = Assignment.__table__  # type: ignore[attr-defined]
    with db.session() as session:
        settings = current_settings(session)
        paths = load_paths(session)
        people = {
            row.id: row for row in session.execute(select(Person.id, Person.role, Person.timezone))
        }
        done_items: dict[int, set[int]] = defaultdict(set)
        for person_id, item_id in session.execute(
            select(table.c.person_id, table.c.item_id).where(
                table.c.status.in_((AssignmentStatus.COMPLETED, AssignmentStatus.WAIVED))
            )
        ):
            done_items[person_id].add(item_id)
        waiting = session.execute(
            select(table).where(
                table.c.status == AssignmentStatus.OPEN,
                table.c.cycle == 0,
                table.c.due_date.is_(None),
                table.c.item_id.in_(sorted(requires)),
            )
        ).all()
    assert settings is not None
    entries = {role: {entry.item_id: entry for entry in path.items} for role, path in paths.items()}
    changes: list[tuple[datetime, DueChange]] = []
    for row in waiting:
        times = [
            finished[row.person_id][item]
            for item in requires[row.item_id]
            if item in finished.get(row.person_id, {})
        ]
        person = people[row.person_id]
        entry = entries.get(person.role, {}).get(row.item_id)
        basis = basis_of(row)
        if not times or entry is None or basis is None:
            continue  # nothing it waits for was completed in this round
        at = max(times)
        zone = person.timezone or settings.organisation.timezone
        released = release(
            entry,
            paths[person.role],
            basis,
            done=done_items[row.person_id],
            today=local_date(at, zone),
            calendar=settings.calendar_for(zone),
            after_prerequisite=settings.due_dates.after_prerequisite,
        )
        if released is None:
            continue
        new_basis, due = released
        prerequisite = max(
            requires[row.item_id], key=lambda item: finished[row.person_id].get(item, at)
        )
        changes.append(
            (
                at,
                DueChange(
                    assignment_id=row.id,
                    person_id=row.person_id,
                    item=str(row.item_id),
                    new_due=due,
                    event=PREREQUISITE,
                    reason=f"prerequisite recorded done on {local_date(at, zone).isoformat()}",
                    notice=prerequisite_notice(prerequisite) if row.required else None,
                    values=basis_values(new_basis),
                    details={"prerequisite_item_id": prerequisite},
                ),
            )
        )
    changes.sort(key=lambda pair: pair[0])
    for start in range(0, len(changes), SETUP_CHUNK):
        chunk = changes[start : start + SETUP_CHUNK]
        with db.session() as session:
            apply_due_changes(
                session, [change for _, change in chunk], clock=FrozenClock(chunk[-1][0])
            )
    return len(changes)


def award_certifications(db: Database) -> int:
    """An award for everyone who completed every requirement: valid a year from then."""
    with db.engine.connect() as conn:
        needs: dict[int, set[int]] = defaultdict(set)
        for cert_id, item_id in conn.execute(
            select(CertificationRequirement.certification_id, CertificationRequirement.item_id)
            .join(Certification, Certification.id == CertificationRequirement.certification_id)
            .where(Certification.active)
        ):
            needs[cert_id].add(item_id)
        item_ids = {item for items in needs.values() for item in items}
        done: dict[int, dict[int, datetime]] = defaultdict(dict)
        for person_id, item_id, completed_at in conn.execute(
            select(Assignment.person_id, Assignment.item_id, Assignment.completed_at).where(
                Assignment.status == AssignmentStatus.COMPLETED,
                Assignment.item_id.in_(item_ids),  # type: ignore[attr-defined]
            )
        ):
            done[person_id][item_id] = completed_at
    rows = []
    for person_id, items in done.items():
        for cert_id, required in needs.items():
            if required <= items.keys():
                awarded = max(items[item] for item in required)
                rows.append(
                    {
                        "person_id": person_id,
                        "certification_id": cert_id,
                        "cycle": 0,
                        "awarded_at": awarded,
                        "expires_at": awarded + timedelta(days=AWARD_VALID_DAYS),
                    }
                )
    table = CertificationAward.__table__  # type: ignore[attr-defined]
    for start in range(0, len(rows), SETUP_CHUNK * 4):
        with db.engine.begin() as conn:
            conn.execute(insert(table), rows[start : start + SETUP_CHUNK * 4])
    return len(rows)


def set_up(db: Database, args: argparse.Namespace, people: int, day: date) -> SetupInfo:
    """Schema, configuration, people, their enrollment history, completions, awards."""
    info = SetupInfo()
    started = time.perf_counter()
    db.upgrade()
    friday = day - timedelta(days=3)
    imported_by = friday - timedelta(days=1)
    with db.session() as session:
        apply_config(
            session,
            load_curriculum(args.config),
            clock=FrozenClock(at_noon(day - timedelta(days=500))),
            actor="bench",
        )
    starts, zones = insert_people(db, people, day, args.seed)
    info.people, info.zones = people, sorted(zones)
    with db.session() as session:
        paths = load_paths(session)
    tier_days = {
        role: sorted({entry.tier_start_day for entry in path.items}) for role, path in paths.items()
    }
    days = enrollment_days(starts, tier_days, imported_by)
    info.assignments = replay_enrollment(db, days, date.min, imported_by)
    info.completed = complete_history(db, friday, args.seed)
    info.awards = award_certifications(db)
    say(
        f"  history: {info.assignments:,} assignments, {info.completed:,} completed, "
        f"{info.awards:,} awards ({time.perf_counter() - started:.1f} s)"
    )
    # The Friday before, ticked at each zone's send time: the escalation ladder and the
    # recertification windows catch up here, as they would have day by day.
    lock = SchedulerLock(db)
    try:
        with db.session() as session:
            settings = current_settings(session)
        assert settings is not None
        for instant in send_instants(info.zones, friday, settings):
            tick_module.plan_step(db, FrozenClock(instant.at), lock)
    finally:
        lock.release()
    # The weekend's tier openings, as that weekend's ticks would have enrolled them.
    info.assignments += replay_enrollment(db, days, friday, day - timedelta(days=1))
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE)")
    else:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    info.seconds = time.perf_counter() - started
    return info


# --- the Done writer (a second process) --------------------------------------------------


def pick_done_targets(db: Database, seed: int, limit: int = DONE_PICKS) -> list[tuple[int, int]]:
    """Open assignments of active people, shuffled: (assignment id, person id)."""
    with db.engine.connect() as conn:
        rows = [
            (row[0], row[1])
            for row in conn.execute(
                select(Assignment.id, Assignment.person_id)
                .join(Person, Person.id == Assignment.person_id)
                .where(Assignment.status == AssignmentStatus.OPEN, Person.active)
            )
        ]
    random.Random(seed + 2).shuffle(rows)
    return rows[:limit]


def done_worker(url: str, targets_path: str, out_path: str, stop_path: str, every_ms: int) -> int:
    """Record a Done every ``every_ms`` until ``stop_path`` exists; log each one's time."""
    from learning.actions import complete_assignment, unit_of_work

    db = open_database(url)
    targets = json.loads(Path(targets_path).read_text())
    clock = FrozenClock(datetime.fromisoformat(targets["clock"]))
    stop = Path(stop_path)
    with open(out_path, "w") as out:
        for assignment_id, person_id in targets["targets"]:
            if stop.exists():
                break
            started = time.monotonic()
            ok = True
            try:
                with unit_of_work(db) as session:
                    person = session.get(Person, person_id)
                    complete_assignment(
                        session,
                        actor=person,
                        assignment_id=assignment_id,
                        clock=clock,
                        source="bench",
                    )
            except Exception as exc:  # a lock timeout is a result, not a crash
                ok = False
                print(f"done worker: {type(exc).__name__}: {exc}", file=sys.stderr)
            ended = time.monotonic()
            out.write(f"{started:.6f} {ended:.6f} {int(ok)}\n")
            out.flush()
            time.sleep(max(0.0, every_ms / 1000 - (ended - started)))
    db.dispose()
    return 0


@dataclass
class DoneSample:
    started: float
    ended: float
    ok: bool

    @property
    def seconds(self) -> float:
        return self.ended - self.started


class DoneWriter:
    """The second process, started before the day and stopped after it."""

    def __init__(
        self, url: str, tmp: Path, targets: list[tuple[int, int]], day: date, every_ms: int
    ):
        self.out = tmp / "done.log"
        self.stop = tmp / "done.stop"
        self.stop.unlink(missing_ok=True)
        targets_path = tmp / "done-targets.json"
        clock = datetime.combine(day - timedelta(days=1), clock_time(23, 59), tzinfo=UTC)
        targets_path.write_text(json.dumps({"clock": clock.isoformat(), "targets": targets}))
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.tick",
                "--done-worker",
                url,
                str(targets_path),
                str(self.out),
                str(self.stop),
                str(every_ms),
            ],
            cwd=ROOT,
        )
        deadline = time.monotonic() + 60
        while not self.samples() and time.monotonic() < deadline:  # running before the day
            time.sleep(0.05)

    def samples(self) -> list[DoneSample]:
        try:
            lines = self.out.read_text().splitlines()
        except OSError:
            return []
        samples = []
        for line in lines:
            parts = line.split()
            if len(parts) == 3:
                samples.append(DoneSample(float(parts[0]), float(parts[1]), parts[2] == "1"))
        return samples

    def finish(self) -> list[DoneSample]:
        self.stop.touch()
        try:
            self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.samples()


# --- the day ----------------------------------------------------------------------------


@dataclass
class TickFigure:
    at: datetime
    seconds: float
    started: float  # time.monotonic(), comparable with the Done writer's
    ended: float
    jobs: dict[str, float]
    writes: list[Write]
    planned: int  # outbox rows the tick created
    enrolled: int  # people whose assignments changed
    windows: int = 0  # zones whose digest send window was open
    done: list[DoneSample] = field(default_factory=list)
    # CPU time of this process during the tick (SQLite's work included, a PostgreSQL
    # server's not): on a shared machine, what the tick cost beside how long it took.
    cpu_seconds: float = 0.0

    @property
    def longest_write(self) -> Write:
        return max(self.writes, key=lambda w: w.seconds, default=Write("-", 0.0))

    @property
    def idle(self) -> bool:
        """No send window open, nothing to tell (enrollment may meet a tier opening)."""
        return self.planned == 0 and self.windows == 0

    @property
    def quiet(self) -> bool:
        """A send window is open, but nothing new is due: no message planned."""
        return self.planned == 0 and self.windows > 0


@dataclass
class Scale:
    people: int
    setup: SetupInfo = field(default_factory=SetupInfo)
    ticks: list[TickFigure] = field(default_factory=list)
    done: list[DoneSample] = field(default_factory=list)
    spans: list[tuple[str, float, float]] = field(default_factory=list)  # jobs' run times

    @property
    def busiest(self) -> TickFigure:
        return max(self.ticks, key=lambda t: t.seconds)

    @property
    def idle_ticks(self) -> list[TickFigure]:
        return [t for t in self.ticks if t.idle]

    @property
    def idle_s(self) -> float | None:
        idle = self.idle_ticks
        return statistics.median(t.seconds for t in idle) if idle else None

    @property
    def quiet_ticks(self) -> list[TickFigure]:
        return [t for t in self.ticks if t.quiet]

    @property
    def longest_write(self) -> Write:
        return max((t.longest_write for t in self.ticks), key=lambda w: w.seconds)

    @property
    def writes(self) -> int:
        return sum(len(t.writes) for t in self.ticks)


def tick_times(day: date, every: int, until: str) -> list[datetime]:
    hours, minutes = (int(part) for part in until.split(":"))
    end = datetime.combine(day, clock_time(0), tzinfo=UTC) + timedelta(hours=hours, minutes=minutes)
    at = datetime.combine(day, clock_time(0), tzinfo=UTC)
    times = []
    while at < end:
        times.append(at)
        at += timedelta(minutes=every)
    return times


def outbox_rows_at(db: Database, at: datetime) -> int:
    with db.engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.created_at == at)
        ).scalar_one()


def enrolled_of(result: Any) -> int:
    enrollment = getattr(result, "enrollment", None)
    return getattr(enrollment, "people_changed", 0) if enrollment is not None else 0


def run_day(
    db: Database, scale: Scale, day: date, args: argparse.Namespace, url: str, tmp: Path
) -> None:
    recorder = Recorder()
    recorder.install(db)
    recorder.instrument_tick()
    targets = pick_done_targets(db, args.seed)
    writer = DoneWriter(url, tmp, targets, day, args.done_every_ms) if args.done_every_ms else None
    lock = SchedulerLock(db)
    try:
        for at in tick_times(day, args.every, args.until):
            with recorder.tick():
                started, cpu_started = time.monotonic(), time.process_time()
                result = tick_module.plan_step(db, FrozenClock(at), lock)
                ended, cpu = time.monotonic(), time.process_time() - cpu_started
                figure = TickFigure(
                    at,
                    ended - started,
                    started,
                    ended,
                    dict(recorder.job_seconds),
                    list(recorder.writes),
                    planned=0,
                    enrolled=enrolled_of(result),
                    windows=len(getattr(getattr(result.plan, "stats", None), "zones_open", ())),
                    cpu_seconds=cpu,
                )
            figure.planned = outbox_rows_at(db, at)
            scale.ticks.append(figure)
            longest = figure.longest_write
            say(
                f"  {at:%H:%MZ} {figure.seconds:7.3f} s (CPU {cpu:6.3f} s)  "
                f"planned {figure.planned:>6,}  "
                f"enrolled {figure.enrolled:>5,}  writes {len(figure.writes):>4} "
                f"(longest {longest.seconds * 1000:6.1f} ms, {longest.job}, commit "
                f"{longest.commit_seconds * 1000:.0f} ms (driver "
                f"{longest.dbapi_commit_seconds * 1000:.0f} ms), first "
                f"{longest.first_seconds * 1000:.0f} ms)  "
                + " ".join(
                    f"{name.removeprefix('plan_')}={seconds:.2f}"
                    for name, seconds in figure.jobs.items()
                    if seconds >= 0.005
                )
            )
    finally:
        lock.release()
        if writer is not None:
            scale.done = writer.finish()
    scale.spans = list(recorder.spans)
    for figure in scale.ticks:
        figure.done = [
            s for s in scale.done if s.started < figure.ended and s.ended > figure.started
        ]


# --- the report ----------------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def done_text(samples: Sequence[DoneSample]) -> str:
    if not samples:
        return "no samples"
    ms = [s.seconds * 1000 for s in samples]
    failed = sum(1 for s in samples if not s.ok)
    return (
        f"p50 {percentile(ms, 0.5):.0f} / p99 {percentile(ms, 0.99):.0f} / max {max(ms):.0f} ms "
        f"({len(ms)} Dones" + (f", {failed} failed" if failed else "") + ")"
    )


def summary(scales: list[Scale]) -> list[str]:
    lines = []
    for scale in scales:
        busiest = scale.busiest
        idle = scale.idle_ticks
        in_ticks = [s for t in scale.ticks for s in t.done]
        between = [s for s in scale.done if s not in in_ticks]
        longest = scale.longest_write
        lines += [
            f"{scale.people:,} people ({len(scale.ticks)} ticks):",
            f"  idle tick: median {scale.idle_s or 0:.3f} s, max "
            f"{max((t.seconds for t in idle), default=0):.3f} s ({len(idle)} idle ticks); "
            f"CPU median {statistics.median([t.cpu_seconds for t in idle] or [0]):.3f} s",
            f"  quiet tick: {spread(t.seconds for t in scale.quiet_ticks)} "
            f"({len(scale.quiet_ticks)} quiet ticks)",
            f"  busiest tick: {busiest.at:%H:%MZ} {busiest.seconds:.3f} s "
            f"(CPU {busiest.cpu_seconds:.3f} s; planned "
            f"{busiest.planned:,}, enrolled {busiest.enrolled:,}); jobs "
            + ", ".join(f"{k}={v:.2f}" for k, v in busiest.jobs.items()),
            f"  the whole day: {sum(t.seconds for t in scale.ticks):.1f} s of ticks "
            f"(CPU {sum(t.cpu_seconds for t in scale.ticks):.1f} s)",
            f"  longest write transaction: {longest.seconds * 1000:.1f} ms ({longest.job}); "
            f"{scale.writes:,} write transactions",
            "  write transactions: "
            + spread(w.seconds for t in scale.ticks for w in t.writes).replace(" s", "")
            + " s; their COMMIT alone: "
            + spread(w.commit_seconds for t in scale.ticks for w in t.writes).replace(" s", "")
            + " s",
            "  longest write per job: "
            + ", ".join(
                f"{job}={seconds * 1000:.0f} ms"
                for job, seconds in sorted(longest_by_job(scale).items(), key=lambda kv: -kv[1])
            ),
            f"  Done during the busiest tick: {done_text(busiest.done)}",
            f"  Done during any tick: {done_text(in_ticks)}",
            f"  Done between ticks: {done_text(between)}",
            f"  Dones over {DONE_P99_TARGET_S * 1000:g} ms, by the job they overlapped: "
            + (", ".join(f"{job} {count}" for job, count in slow_dones(scale).items()) or "none"),
        ]
    return lines


def slow_dones(scale: Scale) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for sample in scale.done:
        if sample.seconds < DONE_P99_TARGET_S:
            continue
        jobs = {
            job
            for job, began, ended in scale.spans
            if began < sample.ended and ended > sample.started
        }
        for job in jobs or {"(no job)"}:
            counts[job] += 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def spread(values: Iterable[float]) -> str:
    ordered = sorted(values)
    if not ordered:
        return "none"
    return (
        f"median {statistics.median(ordered):.3f} s, p90 {percentile(ordered, 0.9):.3f} s, "
        f"max {ordered[-1]:.3f} s"
    )


def longest_by_job(scale: Scale) -> dict[str, float]:
    longest: dict[str, float] = {}
    for figure in scale.ticks:
        for write in figure.writes:
            longest[write.job] = max(longest.get(write.job, 0.0), write.seconds)
    return longest


def growth(scales: list[Scale]) -> float | None:
    smallest, largest = scales[0], scales[-1]
    if smallest is largest or not smallest.busiest.seconds:
        return None
    return largest.busiest.seconds / smallest.busiest.seconds


def figures(scales: list[Scale]) -> list[Figure]:
    result = []
    for scale in scales:
        largest = scale is scales[-1]
        busiest = scale.busiest
        idle = scale.idle_s
        result.append(
            Figure(
                f"whole tick, idle (median): {scale.people:,} people",
                "no idle tick" if idle is None else f"{idle:.3f} s",
                f"< {IDLE_TARGET_S:g} s" if largest else "",
                (idle is not None and idle < IDLE_TARGET_S) if largest else None,
            )
        )
        quiet = [t.seconds for t in scale.quiet_ticks]
        result.append(
            Figure(
                f"whole tick, quiet (windows open, nothing new): {scale.people:,} people",
                spread(quiet),
            )
        )
        result.append(
            Figure(
                f"whole tick, busiest ({busiest.at:%H:%MZ}): {scale.people:,} people",
                f"{busiest.seconds:.3f} s ({busiest.planned:,} messages planned; "
                f"CPU {busiest.cpu_seconds:.3f} s)",
            )
        )
        longest = scale.longest_write
        result.append(
            Figure(
                f"longest write transaction: {scale.people:,} people",
                f"{longest.seconds * 1000:.0f} ms ({longest.job})",
                f"< {WRITE_TARGET_S * 1000:g} ms" if largest else "",
                longest.seconds < WRITE_TARGET_S if largest else None,
            )
        )
        ms = [s.seconds for s in busiest.done]
        p99 = percentile(ms, 0.99) if ms else None
        result.append(
            Figure(
                f"concurrent Done during the busiest tick: {scale.people:,} people",
                done_text(busiest.done),
                f"p99 < {DONE_P99_TARGET_S * 1000:g} ms" if largest and ms else "",
                (p99 is not None and p99 < DONE_P99_TARGET_S) if largest and ms else None,
            )
        )
    ratio = growth(scales)
    if ratio is not None:
        people_ratio = scales[-1].people / scales[0].people
        result.append(
            Figure(
                f"busiest tick growth, {scales[0].people:,} -> {scales[-1].people:,} people",
                f"{ratio:.1f}x",
                f"<= {GROWTH_SLACK * people_ratio:g}x",
                ratio <= GROWTH_SLACK * people_ratio,
            )
        )
    return result


def failures(scales: list[Scale]) -> list[str]:
    return [
        f"{f.figure}: {f.value} (target {f.target})" for f in figures(scales) if f.passed is False
    ]


# --- the command -------------------------------------------------------------------------


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
        prog="python -m bench.tick",
        description=__doc__.split("\n\n")[0],
        epilog="What is measured, and how: see the docstring of bench/tick.py.",
    )
    parser.add_argument("--people", type=int, default=100_000, help="default 100000")
    parser.add_argument(
        "--scale", type=parse_scales, help="sizes, comma-separated (default people/10,people)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--day", default=DEFAULT_DAY, help=f"a Monday (default {DEFAULT_DAY})")
    parser.add_argument("--every", type=int, default=30, help="minutes between ticks (30)")
    parser.add_argument("--until", default="24:00", help="last tick before HH:MM UTC (24:00)")
    parser.add_argument(
        "--done-every-ms",
        type=int,
        default=50,
        help="a Done starts every this many ms (if the last one is over); 0: no Done writer "
        "(default 50)",
    )
    parser.add_argument(
        "--database-url", help="default: $DATABASE_URL, else a temporary SQLite file"
    )
    parser.add_argument(
        "--reset", action="store_true", help="drop learnbot's tables in that database first"
    )
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="programs YAML")
    parser.add_argument(
        "--setups",
        metavar="DIR",
        help="SQLite: keep each size's set-up in DIR and start from it when it is there "
        "(for repeated runs; delete DIR after a change to the set-up or the schema)",
    )
    parser.add_argument(
        "--write-pause",
        type=float,
        help="Database.write_pause for the ticks (default the Database's; 0: no pauses)",
    )
    parser.add_argument("--done-worker", nargs=5, help=argparse.SUPPRESS)
    add_json_option(parser)
    return parser


def bench_args(people: int) -> list[str]:
    """``python -m bench --people N``: N/10 and N people, so the growth is measured."""
    return ["--people", str(people)]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.done_worker:
        url, targets, out, stop, every = args.done_worker
        return done_worker(url, targets, out, stop, int(every))
    scales = args.scale or sorted({max(1, args.people // 10), args.people})
    day = date.fromisoformat(args.day)
    url = args.database_url or os.environ.get("DATABASE_URL", "").strip()
    say(
        f"learnbot bench: ticks of {day:%a %Y-%m-%d} every {args.every} min until "
        f"{args.until} UTC for " + " and ".join(f"{n:,}" for n in scales) + " people"
    )
    done: list[Scale] = []
    database = ""
    with tempfile.TemporaryDirectory(prefix="learnbot-bench-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            for index, people in enumerate(scales):
                sqlite_file = None if url else tmp / f"tick-{people}.db"
                db_url = url or f"sqlite:///{sqlite_file}"
                db = open_database(db_url)
                if args.write_pause is not None:
                    db.write_pause = args.write_pause
                try:
                    database = backend(db)
                    if index == 0:
                        say(
                            f"database: {database}"
                            + (f" ({db.url})" if url else ", temporary file")
                        )
                        prepare(db, reset=args.reset)
                    elif url:
                        drop_learnbot_tables(db)
                    scale = Scale(people)
                    saved = Path(args.setups) / f"tick-{people}-{day}.db" if args.setups else None
                    if saved and saved.exists() and sqlite_file:
                        db.dispose()
                        shutil.copy(saved, sqlite_file)
                        say(f"{people:,} people: set-up copied from {saved}")
                    else:
                        say(f"{people:,} people: set-up (not measured) ...")
                        scale.setup = set_up(db, args, people, day)
                        say(f"  set-up done in {scale.setup.seconds:.1f} s")
                        if saved and sqlite_file:
                            db.dispose()
                            saved.parent.mkdir(parents=True, exist_ok=True)
                            shutil.copy(sqlite_file, saved)
                    say("  the day:")
                    run_day(db, scale, day, args, db_url, tmp)
                    done.append(scale)
                finally:
                    db.dispose()
                    if sqlite_file:
                        remove_sqlite(sqlite_file)
        except Refused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    say()
    for line in summary(done):
        say(line)
    ratio = growth(done)
    if ratio is not None:
        say(f"busiest tick growth {done[0].people:,} -> {done[-1].people:,}: {ratio:.1f}x")
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    say(
        f"machine: {platform.platform()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs; database: {database}"
        + (f"; load average now {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}" if load else "")
    )
    write_figures(args.json, "tick", database, figures(done))
    problems = failures(done)
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr, flush=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
