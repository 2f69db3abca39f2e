"""Reading CSV files a person edits, with header checks and line numbers."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from learning.errors import Problem, ValidationFailed


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
    ``ValidationFailed`` at once; rows with the wrong number of fields are returned as
    problems so the caller can report them with everything else.
    """
    name = str(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
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
                for column in optional:
                    values.setdefault(column, "")
                result.rows.append(CsvRow(line, values))
            return result
    except FileNotFoundError:
        raise ValidationFailed([Problem(name, None, "", "file not found")]) from None
    except UnicodeDecodeError as exc:
        raise ValidationFailed([Problem(name, None, "", f"not UTF-8 text: {exc}")]) from None
    except csv.Error as exc:
        raise ValidationFailed([Problem(name, None, "", f"not valid CSV: {exc}")]) from None


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
                    f"unknown column {column!r}; allowed: {', '.join(allowed)}",
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
