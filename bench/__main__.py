"""Run every benchmark with its default arguments: ``python -m bench [NAME ...]``.

A benchmark is a module of this package that sets ``BENCHMARK = True`` and has a
``main(argv)``; helpers such as ``bench.orggen`` do not. Each runs in its own Python
process (``python -m bench.NAME``), so one benchmark's peak memory does not show up in
the next one's figures.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import bench

ROOT = Path(__file__).resolve().parent.parent


def discover() -> list[str]:
    """The names of the benchmark modules, sorted."""
    names = []
    for module in pkgutil.iter_modules(bench.__path__):
        if module.name.startswith("_"):
            continue
        loaded = importlib.import_module(f"bench.{module.name}")
        if getattr(loaded, "BENCHMARK", False) and callable(getattr(loaded, "main", None)):
            names.append(module.name)
    return sorted(names)


def main(argv: Sequence[str] | None = None) -> int:
    available = discover()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"benchmarks to run (default all: {', '.join(available)})",
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(available))
        return 0
    unknown = [name for name in args.names if name not in available]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(available)}")
    failed = []
    for name in args.names or available:
        print(f"=== bench.{name}", flush=True)
        started = time.perf_counter()
        status = subprocess.call([sys.executable, "-m", f"bench.{name}"], cwd=ROOT)
        print(
            f"=== bench.{name}: exit {status} after {time.perf_counter() - started:.1f} s\n",
            flush=True,
        )
        if status:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
