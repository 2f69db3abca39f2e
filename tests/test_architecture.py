"""The shape of the code: rules stay small enough to read."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

MAX_FUNCTION_LINES = 80  # a function is shorter than this, from ``def`` to its last line
SMALL_FUNCTION_FOLDERS = ("learning", "schedules")


def function_lengths(folder: Path) -> list[tuple[int, str]]:
    """(lines, "file:line name") of every function and method under ``folder``."""
    lengths = []
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                where = f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
                lengths.append((node.end_lineno - node.lineno + 1, where))
    return lengths


def test_no_function_in_learning_or_schedules_reaches_80_lines():
    too_long = [
        f"{where} ({lines} lines)"
        for folder in SMALL_FUNCTION_FOLDERS
        for lines, where in function_lengths(ROOT / folder)
        if lines >= MAX_FUNCTION_LINES
    ]
    assert not too_long, "split these into named steps: " + ", ".join(too_long)


def test_the_length_check_sees_the_functions():
    """Guards the test above against passing because it found nothing."""
    lengths = function_lengths(ROOT / "learning")
    assert len(lengths) > 100
    assert any(
        where.endswith(" plan_escalations") for _, where in function_lengths(ROOT / "schedules")
    )
