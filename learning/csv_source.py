"""Reading CSV files a person edits, with header checks and line numbers."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from learning.errors import Problem, ValidationFailed
from learning.suggest import did_you_mean


@dataclass(frozen=True)
class CsvRow:
    line: int
    values: dict[str, str]


@dataclass
class CsvFile:
    name: str
    rows: list[CsvRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def read_csv(
    path: str | Path, *, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> CsvFile:
    """Rows of ``path`` with stripped values, plus problems with row shapes.

    Header names match case-insensitively; order is free; unknown columns are refused
    (a typo in a header would otherwise silently drop a field). A bad header raises
    ``ValidationFailed`` at once; rows with the wrong number of fields, and cells holding
    a NUL character (no database column may store one), are returned as problems so the
    caller can report them with everything else.
    """
    name = str(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise ValidationFailed([Problem(name, None, "", "file not found")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        message = f"not UTF-8 text (byte 0x{raw[exc.start]:02X}): save the file as UTF-8"
        raise ValidationFailed([Problem(name, line, "", message)]) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        result = CsvFile(name)
        columns = _check_header(header, name, required, optional)
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(columns):
                result.problems.append(
                    Problem(
                        name,
                        line,
                        "",
                        f"row has {len(cells)} fields, the header has {len(columns)}",
                    )
                )
                continue
            values = {column: cell.strip() for column, cell in zip(columns, cells, strict=True)}
            nul = [column for column, value in values.items() if "\x00" in value]
            for column in nul:
                result.problems.append(Problem(name, line, column, "contains a NUL character"))
            if nul:
                continue
            for column in optional:
                values.setdefault(column, "")
            result.rows.append(CsvRow(line, values))
        return result
    except csv.Error as exc:
        raise ValidationFailed(
            [Problem(name, reader.line_num or 1, "", f"not valid CSV: {exc}")]
        ) from None


def _check_header(
    header: list[str] | None, name: str, required: tuple[str, ...], optional: tuple[str, ...]
) -> list[str]:
    if header is None or not any(cell.strip() for cell in header):
        raise ValidationFailed(
            [Problem(name, 1, "", "the file is empty: a header row is required")]
        )
    columns = [cell.strip().lower() for cell in header]
    problems = []
    allowed = required + optional
    for column in columns:
        if column not in allowed:
            problems.append(
                Problem(
                    name,
                    1,
                    column or "(blank)",
                    f"unknown column {column!r}{_hint(column, allowed)}; "
                    f"allowed: {', '.join(allowed)}",
                )
            )
    for column in sorted({c for c in columns if columns.count(c) > 1}):
        problems.append(Problem(name, 1, column, f"column {column!r} appears twice"))
    for column in required:
        if column not in columns:
            problems.append(Problem(name, 1, column, f"missing required column {column!r}"))
    if problems:
        raise ValidationFailed(problems)
    return columns


def _hint(column: str, allowed: tuple[str, ...]) -> str:
    """`` (did you mean 'x'?)`` for a column close to an allowed one, else ``""``."""
    guess = did_you_mean(column, allowed)
    return f" ({guess})" if guess else ""
