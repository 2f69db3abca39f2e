"""Run the benchmarks and print one table of results: ``python -m bench [NAME ...]``.

A benchmark is a module of this package that sets ``BENCHMARK = True`` and has a
``main(argv)``; helpers such as ``bench.orggen`` do not. Each runs in its own Python
process (``python -m bench.NAME``), so one benchmark's peak memory does not show up in
the next one's figures, with ``--json PATH`` for its headline figures (``bench.results``)
and, if it defines ``bench_args(people)``, the arguments that size it to ``--people``.
The default, 10,000 people, takes a few minutes on SQLite; ``--people 100000`` is the
issue's acceptance size (about an hour).

The database: each benchmark's own temporary SQLite file, unless ``DATABASE_URL`` names
one (e.g. PostgreSQL). That database must hold no learnbot data, unless ``--reset`` is
given; the benchmarks then drop and recreate learnbot's tables in it as they go.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import bench
from bench.results import machine, markdown_table, read_figures

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PEOPLE = 10_000
ORDER = ("import_people", "plan_day", "drain", "interactions")  # the issue's; others after


def discover() -> dict[str, ModuleType]:
    """The benchmark modules by name, in ``ORDER``, then the others sorted."""
    found = {}
    for module in pkgutil.iter_modules(bench.__path__):
        if module.name.startswith("_"):
            continue
        loaded = importlib.import_module(f"bench.{module.name}")
        if getattr(loaded, "BENCHMARK", False) and callable(getattr(loaded, "main", None)):
            found[module.name] = loaded
    rank = {name: index for index, name in enumerate(ORDER)}
    return dict(sorted(found.items(), key=lambda item: (rank.get(item[0], len(ORDER)), item[0])))


def check_database(url: str, *, reset: bool) -> str | None:
    """Why the benchmarks must not run against ``url`` (None: they may)."""
    from bench.import_people import backend, db_state
    from models.db import open_database

    db = open_database(url)
    try:
        state = db_state(db)
        if state.empty or reset:
            return None
        return (
            f"DATABASE_URL ({db.url}, {backend(db)}) holds learnbot data ({state.people:,} "
            "people); the benchmarks need an empty database. Point DATABASE_URL at one, or "
            "add --reset to let them DROP learnbot's tables there (deleting all of its data)."
        )
    finally:
        db.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    modules = discover()
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__.split("\n\n")[0],
        epilog="Figures, the machine they came from and how to reproduce them: "
        "docs/performance.md.",
    )
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"benchmarks to run (default all: {', '.join(modules)})",
    )
    parser.add_argument(
        "--people",
        type=int,
        default=DEFAULT_PEOPLE,
        help=f"organisation size for the benchmarks that take one (default {DEFAULT_PEOPLE})",
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="let the benchmarks drop learnbot's tables in DATABASE_URL's database first",
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(modules))
        return 0
    unknown = [name for name in args.names if name not in modules]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(modules)}")
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        refusal = check_database(url, reset=args.reset)
        if refusal:
            print(f"error: {refusal}", file=sys.stderr)
            return 1
    failed: list[str] = []
    documents = []
    timings = []
    started_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="learnbot-bench-") as tmp:
        for name in args.names or modules:
            module = modules[name]
            json_path = Path(tmp) / f"{name}.json"
            command = [sys.executable, "-m", f"bench.{name}", "--json", str(json_path)]
            if hasattr(module, "bench_args"):
                command += module.bench_args(args.people)
            if url:
                # Checked above: empty (or --reset), so what is there now is the benchmarks'.
                command.append("--reset")
            print(f"=== {' '.join(['python', *command[1:]])}", flush=True)
            started = time.perf_counter()
            status = subprocess.call(command, cwd=ROOT)
            seconds = time.perf_counter() - started
            print(f"=== bench.{name}: exit {status} after {seconds:.1f} s\n", flush=True)
            timings.append(f"{name} {seconds:.0f} s")
            if status:
                failed.append(name)
            document = read_figures(json_path)
            if document is None:
                document = {
                    "database": "-",
                    "figures": [
                        {"figure": f"bench.{name}", "value": f"no figures (exit {status})"}
                    ],
                }
            documents.append(document)
    total = time.perf_counter() - started_all
    print(f"## Results ({args.people:,} people)\n")
    print(markdown_table(documents))
    print(
        f"\nmachine: {machine()}; run time {total / 60:.1f} min ({', '.join(timings)}); "
        f"command: python -m bench {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip()
    )
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
