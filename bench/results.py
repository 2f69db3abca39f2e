"""Headline figures: each benchmark writes its own as JSON, ``python -m bench`` tabulates.

A benchmark adds ``--json PATH`` with ``add_json_option`` and, at the end of a run (also a
failing one), calls ``write_figures``. The file holds::

    {"bench": "plan_day", "database": "SQLite 3.40.1", "machine": "...",
     "figures": [{"figure": "...", "value": "...", "target": "...", "passed": true}]}

``passed`` is ``null`` for a figure without a target. ``markdown_table`` turns the files of
one run into the table that ``python -m bench`` prints at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MB = 1000 * 1000
MIB = 1024 * 1024


@dataclass(frozen=True)
class Figure:
    """One row of the results table."""

    figure: str
    value: str
    target: str = ""
    passed: bool | None = None


def machine() -> str:
    """This machine, as the figures' provenance."""
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{platform.python_implementation()} {platform.python_version()}"
    )


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        metavar="PATH",
        help="also write the headline figures to PATH as JSON (what `python -m bench` tabulates)",
    )


def write_figures(path: str | None, bench: str, database: str, figures: Sequence[Figure]) -> None:
    """Write ``figures`` to ``path`` (nothing without a path)."""
    if not path:
        return
    document = {
        "bench": bench,
        "database": database.split(" (")[0],  # "PostgreSQL 15.18", without "(Debian ...)"
        "machine": machine(),
        "figures": [asdict(figure) for figure in figures],
    }
    Path(path).write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def read_figures(path: Path) -> dict[str, Any] | None:
    """A benchmark's JSON, or None when it wrote none (it failed before the end)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def mib_as_mb(mib: float) -> float:
    return mib * MIB / MB


def markdown_table(documents: Sequence[dict[str, Any]]) -> str:
    """One Markdown table of every document's figures, in order."""
    lines = ["| figure | value | target | result | database |", "| --- | --- | --- | --- | --- |"]
    for document in documents:
        for figure in document["figures"]:
            passed = figure.get("passed")
            result = "" if passed is None else ("pass" if passed else "**FAIL**")
            cells = (
                figure["figure"],
                figure["value"],
                figure.get("target") or "",
                result,
                document["database"],
            )
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)
