"""Benchmark: import a generated organisation (default 10,000 people), step by step.

    python -m bench.import_people [--people 10000] [--database-url URL] [--reset] [--json PATH]

Steps, each timed with ``time.perf_counter`` and with its memory measured:

    a. generate the people CSV (``bench.orggen``; not part of the import time)
    b. schema upgrade (Alembic), then ``load-config examples/programs.yml``
    c. ``import-people`` of the generated file: the headline figure
    d. the same import again: idempotent, so it must change nothing
    e. ``completion_report`` (what ``python bot.py report`` prints)

The library functions are called directly, each step in one transaction
(``Database.session()``), with a clock frozen at ``--at`` (default 2026-12-01T12:00Z).

Memory, in MiB. "py peak": the peak of Python allocations during the step
(``tracemalloc``, started and stopped around each step, so it counts only what the step
allocated). "RSS peak": the process's peak resident set so far (``getrusage``
``ru_maxrss``; it never goes down, so a step's figure includes the steps before it).

tracemalloc slows allocation-heavy code about fourfold, so the steps run twice on fresh
databases: a timing pass without it (wall times, RSS) and a memory pass with it (py
peaks; its wall times are shown as "traced s"). ``--no-tracemalloc`` runs the timing
pass only; ``--profile`` adds a pass that profiles step c with cProfile.

The database: a temporary SQLite file per pass, deleted afterwards, unless
``--database-url`` or ``DATABASE_URL`` names one. A named database must hold no people:
the script refuses, unless ``--reset`` is given, which drops learnbot's tables (all its
data) and recreates them with the migrations. Between passes the script drops the
tables only if it found the database without learnbot data or was given ``--reset``;
the last pass's data stays.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import platform
import pstats
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, inspect, select, text
from sqlmodel import SQLModel

from bench.orggen import iter_people, level_sizes, write_people_csv
from bench.results import Figure, add_json_option, write_figures
from learning.clock import Clock, FrozenClock, parse_instant
from learning.curriculum import load_curriculum
from learning.curriculum_sync import apply_config
from learning.people_import import import_people
from learning.progress import completion_report
from models import Assignment, AuditEntry, ConfigSnapshot, Person
from models.db import Database, open_database
from platforms.slack.identity import PEOPLE_COLUMN

BENCHMARK = True  # `python -m bench` runs every bench module that sets this

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "examples" / "programs.yml"
DEFAULT_AT = "2026-12-01T12:00:00Z"
MIB = 1024 * 1024
IMPORT_STEP = "c. import-people"
LOAD_STEP = "b2. load-config"


class Refused(Exception):
    """The benchmark will not run against this database, or its checks failed."""


def say(text: str = "") -> None:
    print(text, flush=True)


def peak_rss_mib() -> float:
    """The process's peak resident set size so far (Linux: KiB, macOS: bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MIB if sys.platform == "darwin" else peak / 1024


@dataclass
class Step:
    """One measured step."""

    name: str
    wall_s: float = 0.0
    py_peak_mib: float | None = None
    rss_peak_mib: float = 0.0
    rows: int | None = None
    note: str = ""


@dataclass
class Pass:
    """One run of all the steps, on a fresh database."""

    label: str
    trace: bool = False  # tracemalloc around each step
    profile: bool = False  # cProfile around step c
    steps: dict[str, Step] = field(default_factory=dict)
    profiler: cProfile.Profile | None = None
    people_added: int = 0
    assignments_created: int = 0
    reimport_changes: int = 0
    stored: dict[str, int] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str) -> Iterator[Step]:
        step = Step(name)
        gc.collect()
        profiler = cProfile.Profile() if self.profile and name == IMPORT_STEP else None
        if self.trace:
            tracemalloc.start()
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        try:
            yield step
        finally:
            if profiler:
                profiler.disable()
                self.profiler = profiler
            step.wall_s = time.perf_counter() - started
            if self.trace:
                step.py_peak_mib = tracemalloc.get_traced_memory()[1] / MIB
                tracemalloc.stop()
            step.rss_peak_mib = peak_rss_mib()
        self.steps[name] = step
        rows = f", {step.rows:,} rows" if step.rows is not None else ""
        say(f"  {name}: {step.wall_s:.3f} s{rows}" + (f"; {step.note}" if step.note else ""))


def run_steps(
    run: Pass, db: Database, args: argparse.Namespace, clock: Clock, csv_path: Path
) -> None:
    """Steps a-e on ``db`` (which holds no people)."""
    with run.step("a. generate CSV") as step:
        people = iter_people(args.people, seed=args.seed, as_of=clock.now().date())
        step.rows = write_people_csv(people, csv_path)
        step.note = f"{csv_path.stat().st_size / MIB:.1f} MiB; levels " + "/".join(
            str(size) for size in level_sizes(args.people)
        )

    with run.step("b1. schema upgrade"):
        db.upgrade()
    with run.step(LOAD_STEP) as step:
        loaded = load_curriculum(args.config)
        with db.session() as session:
            changes = apply_config(session, loaded, clock=clock, actor="bench")
        step.rows = len(loaded.config.items)
        step.note = (
            f"{len(changes.items.added)} items, {len(changes.programs.added)} programs "
            f"added; {changes.enrollment.created} assignments"
        )

    with run.step(IMPORT_STEP) as step:
        with db.session() as session:
            first = import_people(
                session, csv_path, clock=clock, actor="bench", account_columns=(PEOPLE_COLUMN,)
            )
        step.rows = len(first.added) + len(first.updated) + first.unchanged
        step.note = f"{len(first.added):,} added, {first.enrollment.created:,} assignments created"
    run.people_added = len(first.added)
    run.assignments_created = first.enrollment.created

    with run.step("d. re-import (no-op)") as step:
        with db.session() as session:
            again = import_people(
                session, csv_path, clock=clock, actor="bench", account_columns=(PEOPLE_COLUMN,)
            )
        run.reimport_changes = (
            len(again.added)
            + len(again.updated)
            + len(again.reactivated)
            + len(again.deactivated)
            + again.enrollment.people_changed
        )
        step.rows = len(again.added) + len(again.updated) + again.unchanged
        step.note = f"{run.reimport_changes} changes, {again.unchanged:,} unchanged"

    with run.step("e. completion_report") as step:
        with db.session() as session:
            report = completion_report(session, clock=clock)
        step.rows = len(report.by_team) + len(report.by_role)
        step.note = (
            f"{len(report.by_team):,} teams, {len(report.by_role)} roles, "
            f"{report.total.people:,} people, "
            f"{report.total.done + report.total.due + report.total.overdue:,} "
            f"required assignments ({report.total.overdue:,} overdue)"
        )

    with db.session() as session:
        run.stored = {
            name: session.scalar(select(func.count()).select_from(table)) or 0
            for name, table in (
                ("people", Person),
                ("assignments", Assignment),
                ("audit entries", AuditEntry),
                ("config snapshots", ConfigSnapshot),
            )
        }


# --- the database --------------------------------------------------------------------


@dataclass(frozen=True)
class DbState:
    learnbot_tables: int
    people: int
    snapshots: int

    @property
    def empty(self) -> bool:
        """No learnbot data (tables with no people and no configuration count as empty)."""
        return self.people == 0 and self.snapshots == 0


def learnbot_tables() -> set[str]:
    return {*SQLModel.metadata.tables, "alembic_version"}


def db_state(db: Database) -> DbState:
    tables = set(inspect(db.engine).get_table_names()) & learnbot_tables()
    counts = {}
    with db.engine.connect() as conn:
        for table in (Person, ConfigSnapshot):
            counts[table] = (
                conn.execute(select(func.count()).select_from(table)).scalar_one()
                if table.__tablename__ in tables
                else 0
            )
    return DbState(len(tables), counts[Person], counts[ConfigSnapshot])


def drop_learnbot_tables(db: Database) -> None:
    """Drop learnbot's tables (not the schema, nor anything else in it)."""
    SQLModel.metadata.drop_all(db.engine)
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


def prepare(db: Database, *, reset: bool) -> DbState:
    """Refuse a database with people in it, or (``reset``) drop learnbot's tables."""
    state = db_state(db)
    if reset and state.learnbot_tables:
        drop_learnbot_tables(db)
        say(
            f"--reset: dropped learnbot's {state.learnbot_tables} tables "
            f"({state.people:,} people); the migrations recreate them"
        )
    elif state.people:
        raise Refused(
            f"the database at {db.url} already holds {state.people:,} people; the benchmark "
            "needs one without people, so that it measures a first import. Point "
            "--database-url at an empty database, or add --reset to DROP learnbot's tables "
            "there (deleting all of its data) and let the migrations recreate them."
        )
    elif state.snapshots:
        say("note: a configuration is already loaded, so b2 measures a reload")
    return state


def backend(db: Database) -> str:
    """The database product and version, for the report."""
    dialect = db.engine.dialect.name
    with db.engine.connect() as conn:
        if dialect == "sqlite":
            version = conn.exec_driver_sql("select sqlite_version()").scalar_one()
            return f"SQLite {version}"
        if dialect == "postgresql":
            version = conn.exec_driver_sql("show server_version").scalar_one()
            return f"PostgreSQL {version}"
    return dialect


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


# --- the report ----------------------------------------------------------------------


def table(timing: Pass, memory: Pass | None) -> str:
    header = ("step", "wall s", "py peak MiB", "RSS peak MiB", "rows", "traced s")
    lines = []
    for name, step in timing.steps.items():
        traced = memory.steps.get(name) if memory else None
        lines.append(
            (
                name,
                f"{step.wall_s:.3f}",
                f"{traced.py_peak_mib:.1f}" if traced and traced.py_peak_mib is not None else "-",
                f"{step.rss_peak_mib:.1f}",
                "" if step.rows is None else f"{step.rows:,}",
                f"{traced.wall_s:.3f}" if traced else "-",
            )
        )
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def fmt(row: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ).rstrip()

    return "\n".join(
        [fmt(header), fmt(["-" * width for width in widths]), *(fmt(row) for row in lines)]
    )


def report(
    timing: Pass,
    memory: Pass | None,
    profiled: Pass | None,
    backend_name: str,
    args: argparse.Namespace,
) -> None:
    say()
    say(table(timing, memory))
    say()
    step = timing.steps[IMPORT_STEP]
    traced = memory.steps.get(IMPORT_STEP) if memory else None
    seconds = step.wall_s or float("nan")
    say(
        f"import-people: {timing.people_added:,} people in {step.wall_s:.2f} s = "
        f"{timing.people_added / seconds:,.0f} people/s; "
        f"{timing.assignments_created:,} assignments created "
        f"({timing.assignments_created / seconds:,.0f}/s); "
        + (
            f"py peak {traced.py_peak_mib:.1f} MiB; "
            if traced and traced.py_peak_mib is not None
            else ""
        )
        + f"process peak RSS {step.rss_peak_mib:.1f} MiB"
    )
    say("stored: " + ", ".join(f"{count:,} {name}" for name, count in timing.stored.items()))
    say(
        f"machine: {platform.platform()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs; database: {backend_name}"
    )
    if profiled and profiled.profiler:
        say(
            f"\nprofile of step c (cProfile roughly doubles the time: "
            f"{profiled.steps[IMPORT_STEP].wall_s:.2f} s here), "
            f"top {args.profile} by cumulative time:"
        )
        buffer = io.StringIO()
        pstats.Stats(profiled.profiler, stream=buffer).sort_stats("cumulative").print_stats(
            args.profile
        )
        say(buffer.getvalue().rstrip())


def figures(timing: Pass, memory: Pass | None, args: argparse.Namespace) -> list[Figure]:
    """The headline figures for ``python -m bench``'s table."""

    def memory_of(name: str) -> str:
        traced = memory.steps.get(name) if memory else None
        py = f"py {traced.py_peak_mib:.0f} MiB, " if traced and traced.py_peak_mib else ""
        return f"{py}process RSS {timing.steps[name].rss_peak_mib:.0f} MiB"

    load, imported = timing.steps[LOAD_STEP], timing.steps[IMPORT_STEP]
    return [
        Figure(
            f"people import: {args.people:,} people ({timing.assignments_created:,} assignments)",
            f"{imported.wall_s:.2f} s ({timing.people_added / (imported.wall_s or 1):,.0f} "
            "people/s)",
        ),
        Figure("people import: peak memory", memory_of(IMPORT_STEP)),
        Figure(
            f"curriculum load: {Path(args.config).name}, {load.rows} items", f"{load.wall_s:.2f} s"
        ),
        Figure("curriculum load: peak memory", memory_of(LOAD_STEP)),
    ]


def check(run: Pass, args: argparse.Namespace) -> list[str]:
    problems = []
    if run.reimport_changes:
        problems.append(
            f"{run.label} pass: the re-import changed {run.reimport_changes} "
            "things; it should change nothing"
        )
    if run.stored.get("people") != args.people:
        problems.append(
            f"{run.label} pass: {run.stored.get('people')} people stored, {args.people} generated"
        )
    return problems


# --- the command ---------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.import_people",
        description=__doc__.split("\n\n")[0],
        epilog="What is measured, and how: see the docstring of bench/import_people.py.",
    )
    parser.add_argument("--people", type=int, default=10_000, help="default 10000")
    parser.add_argument("--seed", type=int, default=1, help="organisation generator seed")
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
        "--no-tracemalloc",
        dest="trace",
        action="store_false",
        help="skip the memory pass (tracemalloc): timing pass only",
    )
    parser.add_argument(
        "--profile",
        type=int,
        nargs="?",
        const=25,
        default=0,
        metavar="N",
        help="add a pass that profiles step c; print the top N (25) functions by cumulative time",
    )
    add_json_option(parser)
    return parser


def bench_args(people: int) -> list[str]:
    """The arguments ``python -m bench --people N`` runs this benchmark with."""
    return ["--people", str(people)]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.people < 1:
        print("error: --people must be at least 1", file=sys.stderr)
        return 2
    url = args.database_url or os.environ.get("DATABASE_URL", "").strip()
    clock = FrozenClock(parse_instant(args.at))
    runs = [Pass("timing")]
    if args.trace:
        runs.append(Pass("memory", trace=True))
    if args.profile:
        runs.append(Pass("profile", profile=True))

    with tempfile.TemporaryDirectory(prefix="learnbot-bench-") as tmp:
        workdir = Path(tmp)
        csv_path = workdir / f"people-{args.people}.csv"
        say(
            f"learnbot bench: import {args.people:,} generated people (seed {args.seed}, "
            f"clock {clock.now():%Y-%m-%dT%H:%MZ}); passes: " + ", ".join(run.label for run in runs)
        )
        backend_name = database = ""
        done: list[Pass] = []
        state: DbState | None = None
        try:
            for run in runs:
                sqlite_file = None if url else workdir / f"{run.label}.db"
                db = open_database(url or f"sqlite:///{sqlite_file}")
                try:
                    database = backend(db)
                    backend_name = database + (f" ({db.url})" if url else ", temporary file")
                    if state is None:
                        say(f"database: {backend_name}")
                        state = prepare(db, reset=args.reset)
                    elif url:
                        if not (args.reset or state.empty):
                            say(
                                f"skipping the {run.label} pass and any after it: the database "
                                "held learnbot data, so the benchmark drops its tables only "
                                "with --reset"
                            )
                            break
                        drop_learnbot_tables(db)
                    say(
                        f"{run.label} pass"
                        + (" (tracemalloc)" if run.trace else "")
                        + (" (cProfile)" if run.profile else "")
                    )
                    run_steps(run, db, args, clock, csv_path)
                    done.append(run)
                finally:
                    db.dispose()
                    if sqlite_file:
                        remove_sqlite(sqlite_file)
        except Refused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    by_label = {run.label: run for run in done}
    report(by_label["timing"], by_label.get("memory"), by_label.get("profile"), backend_name, args)
    write_figures(
        args.json,
        "import_people",
        database,
        figures(by_label["timing"], by_label.get("memory"), args),
    )
    problems = [problem for run in done for problem in check(run, args)]
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
