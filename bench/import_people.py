"""Benchmark: import a generated organisation (default 10,000 people) and time each step.

    python -m bench.import_people [--people 10000] [--database-url URL] [--reset]

Steps, each timed with ``time.perf_counter`` and with its memory measured:

    a. generate the people CSV (``bench.orggen``; not part of the import time)
    b. schema upgrade (Alembic), then ``load-config examples/programs.yml``
    c. ``import-people`` of the generated file: the headline figure
    d. the same import again: idempotent, so it must change nothing
    e. ``completion_report`` (what ``python bot.py report`` prints)

The library functions are called directly, each step in one transaction
(``Database.session()``), with a clock frozen at ``--at`` (default 2026-12-01T12:00Z).

Memory, in MiB: "py peak" is the peak of Python allocations during the step
(``tracemalloc``, started and stopped around each step, so it counts only what the step
allocated; tracemalloc slows allocation-heavy code, which ``--no-tracemalloc`` avoids);
"RSS peak" is the process's peak resident set so far (``getrusage`` ``ru_maxrss``: it
never goes down, so a step's figure includes everything before it).

The database: a temporary SQLite file, deleted afterwards, unless ``--database-url`` or
``DATABASE_URL`` names one. A named database must not hold people already: the script
refuses, unless ``--reset`` is given, which drops learnbot's tables (all its data) and
recreates them with the migrations.
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
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from sqlalchemy import func, inspect, select, text
from sqlmodel import SQLModel

from bench.orggen import iter_people, level_sizes, write_people_csv
from learning.clock import FrozenClock, parse_instant
from learning.curriculum import load_curriculum
from learning.curriculum_sync import apply_config
from learning.people_import import import_people
from learning.progress import completion_report
from models import Assignment, AuditEntry, ConfigSnapshot, Person
from models.db import Database, open_database

BENCHMARK = True  # `python -m bench` runs every bench module that sets this

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "examples" / "programs.yml"
DEFAULT_AT = "2026-12-01T12:00:00Z"
MIB = 1024 * 1024


class Refused(Exception):
    """The benchmark will not run against this database as it is."""


@dataclass
class Step:
    """One measured step."""

    name: str
    wall_s: float = 0.0
    py_peak_mib: float | None = None
    rss_peak_mib: float = 0.0
    rows: int | None = None
    note: str = ""


def peak_rss_mib() -> float:
    """The process's peak resident set size so far (Linux: KiB, macOS: bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MIB if sys.platform == "darwin" else peak / 1024


class Bench:
    """Runs steps, measures them, prints each as it ends and a table at the end."""

    def __init__(self, *, trace: bool, out: TextIO | None = None) -> None:
        self.trace = trace
        self.steps: list[Step] = []
        self.out = out or sys.stdout

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    @contextmanager
    def step(self, name: str) -> Iterator[Step]:
        step = Step(name)
        gc.collect()
        if self.trace:
            tracemalloc.start()
        started = time.perf_counter()
        try:
            yield step
        finally:
            step.wall_s = time.perf_counter() - started
            if self.trace:
                step.py_peak_mib = tracemalloc.get_traced_memory()[1] / MIB
                tracemalloc.stop()
            step.rss_peak_mib = peak_rss_mib()
        self.steps.append(step)
        rows = f", {step.rows:,} rows" if step.rows is not None else ""
        self.say(f"  {name}: {step.wall_s:.3f} s{rows}{'; ' + step.note if step.note else ''}")

    def table(self) -> str:
        header = ("step", "wall s", "py peak MiB", "RSS peak MiB", "rows")
        lines = [
            (s.name, f"{s.wall_s:.3f}",
             "-" if s.py_peak_mib is None else f"{s.py_peak_mib:.1f}",
             f"{s.rss_peak_mib:.1f}", "" if s.rows is None else f"{s.rows:,}")
            for s in self.steps
        ]
        widths = [max(len(str(row[i])) for row in [header, *lines]) for i in range(len(header))]

        def fmt(row: Sequence[str]) -> str:
            return "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i])
                             for i, cell in enumerate(row))

        rule = "  ".join("-" * width for width in widths)
        return "\n".join([fmt(header), rule, *(fmt(row) for row in lines)])


# --- the database --------------------------------------------------------------------


def backend(db: Database) -> str:
    """The database product and version, for the report."""
    dialect = db.engine.dialect.name
    with db.engine.connect() as conn:
        if dialect == "sqlite":
            version = conn.exec_driver_sql("select sqlite_version()").scalar_one()
            return f"SQLite {version} ({db.engine.url.database})"
        if dialect == "postgresql":
            version = conn.exec_driver_sql("show server_version").scalar_one()
            return f"PostgreSQL {version} ({db.url})"
    return f"{dialect} ({db.url})"


def prepare(db: Database, *, reset: bool) -> str:
    """Make sure the benchmark starts from no people; return what was done."""
    tables = set(inspect(db.engine).get_table_names())
    people = 0
    if Person.__tablename__ in tables:
        with db.engine.connect() as conn:
            people = conn.execute(select(func.count()).select_from(Person)).scalar_one()
    if reset:
        if not tables & {*SQLModel.metadata.tables, "alembic_version"}:
            return "empty database"
        SQLModel.metadata.drop_all(db.engine)
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        return f"--reset: dropped learnbot's tables ({people:,} people) to recreate them"
    if people:
        raise Refused(
            f"the database at {db.url} already holds {people:,} people; the benchmark "
            "needs one without people, so that it measures a first import. Point "
            "--database-url at an empty database, or add --reset to DROP learnbot's tables "
            "there (deleting all of its data) and recreate them."
        )
    return "no people yet" if tables else "empty database"


# --- the benchmark -------------------------------------------------------------------


def run(args: argparse.Namespace, url: str, workdir: Path, bench: Bench) -> None:
    clock = FrozenClock(parse_instant(args.at))
    as_of = clock.now().date()
    csv_path = workdir / f"people-{args.people}.csv"
    db = open_database(url)
    try:
        bench.say(f"learnbot bench: import {args.people:,} generated people "
                  f"(seed {args.seed}, clock {clock.now():%Y-%m-%dT%H:%MZ})")
        bench.say(f"database: {backend(db)}; {prepare(db, reset=args.reset)}")

        with bench.step("a. generate CSV") as step:
            step.rows = write_people_csv(iter_people(args.people, seed=args.seed, as_of=as_of),
                                         csv_path)
            step.note = (f"{csv_path.stat().st_size / MIB:.1f} MiB, levels "
                         + "/".join(str(size) for size in level_sizes(args.people)))

        with bench.step("b1. schema upgrade"):
            db.upgrade()
        with bench.step("b2. load-config") as step:
            loaded = load_curriculum(args.config)
            with db.session() as session:
                changes = apply_config(session, loaded, clock=clock, actor="bench")
            step.rows = len(changes.items.added) + len(changes.programs.added)
            step.note = (f"{len(changes.items.added)} items, {len(changes.programs.added)} "
                         "programs added")

        profiler = cProfile.Profile() if args.profile else None
        with bench.step("c. import-people") as step:
            if profiler:
                profiler.enable()
            with db.session() as session:
                first = import_people(session, csv_path, clock=clock, actor="bench")
            if profiler:
                profiler.disable()
            step.rows = len(first.added)
            step.note = (f"{len(first.added):,} added, "
                         f"{first.enrollment.created:,} assignments created")
        headline = bench.steps[-1]

        with bench.step("d. re-import (no-op)") as step:
            with db.session() as session:
                again = import_people(session, csv_path, clock=clock, actor="bench")
            changed = (len(again.added) + len(again.updated) + len(again.reactivated)
                       + len(again.deactivated) + again.enrollment.people_changed)
            step.rows = changed
            step.note = f"{changed} changes, {again.unchanged:,} unchanged"

        with bench.step("e. completion_report") as step:
            with db.session() as session:
                report = completion_report(session, clock=clock)
            step.rows = len(report.by_team) + len(report.by_role)
            step.note = (f"{len(report.by_team):,} teams, {len(report.by_role)} roles, "
                         f"{report.total.people:,} people, {report.total.percent:.1f}% done")

        with db.session() as session:
            stored = {
                "people": session.scalar(select(func.count()).select_from(Person)),
                "assignments": session.scalar(select(func.count()).select_from(Assignment)),
                "audit entries": session.scalar(select(func.count()).select_from(AuditEntry)),
                "config snapshots": session.scalar(
                    select(func.count()).select_from(ConfigSnapshot)),
            }

        bench.say()
        bench.say(bench.table())
        bench.say()
        rate = first.enrollment.created / headline.wall_s if headline.wall_s else 0.0
        bench.say(
            f"import-people: {len(first.added):,} people in {headline.wall_s:.2f} s = "
            f"{len(first.added) / headline.wall_s:,.0f} people/s; "
            f"{first.enrollment.created:,} assignments created ({rate:,.0f}/s); "
            + (f"py peak {headline.py_peak_mib:.1f} MiB; " if headline.py_peak_mib is not None
               else "")
            + f"process peak RSS {headline.rss_peak_mib:.1f} MiB"
        )
        bench.say("stored: " + ", ".join(f"{count:,} {name}" for name, count in stored.items()))
        bench.say(
            f"machine: {platform.platform()}, {platform.python_implementation()} "
            f"{platform.python_version()}, {os.cpu_count()} CPUs; database: {backend(db)}"
        )
        if profiler:
            bench.say(f"\nprofile of step c (cProfile inflates times), top {args.profile} "
                      "by cumulative time:")
            buffer = io.StringIO()
            stats = pstats.Stats(profiler, stream=buffer)
            stats.sort_stats("cumulative").print_stats(args.profile)
            bench.say(buffer.getvalue())

        problems = []
        if changed:
            problems.append(f"the re-import changed {changed} things; it should change none")
        if stored["people"] != args.people:
            problems.append(f"{stored['people']} people stored, {args.people} generated")
        if problems:
            raise Refused("; ".join(problems))
    finally:
        db.dispose()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.import_people",
        description=__doc__.split("\n\n")[0],
        epilog="See the module docstring (bench/import_people.py) for what is measured.",
    )
    parser.add_argument("--people", type=int, default=10_000, help="default 10000")
    parser.add_argument("--seed", type=int, default=1, help="organisation generator seed")
    parser.add_argument("--database-url",
                        help="default: $DATABASE_URL, else a temporary SQLite file")
    parser.add_argument("--reset", action="store_true",
                        help="drop learnbot's tables in the given database first "
                        "(deletes its data)")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG),
                        help="programs YAML (default examples/programs.yml)")
    parser.add_argument("--at", default=DEFAULT_AT, help=f"frozen clock (default {DEFAULT_AT})")
    parser.add_argument("--no-tracemalloc", dest="trace", action="store_false",
                        help="skip tracemalloc (it slows allocation-heavy steps)")
    parser.add_argument("--profile", type=int, nargs="?", const=25, default=0, metavar="N",
                        help="cProfile step c and print the top N (25) by cumulative time")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.people < 1:
        print("error: --people must be at least 1", file=sys.stderr)
        return 2
    url = args.database_url or os.environ.get("DATABASE_URL", "").strip()
    bench = Bench(trace=args.trace)
    with tempfile.TemporaryDirectory(prefix="learnbot-bench-") as tmp:
        workdir = Path(tmp)
        if not url:
            url = f"sqlite:///{workdir / 'bench.db'}"
        try:
            run(args, url, workdir, bench)
        except Refused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
