"""The one way learnbot writes CSV: cells a spreadsheet would run as formulas are defused.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (or their
full-width forms, which some spreadsheets also accept) is read by Excel, LibreOffice and
Google Sheets as a formula: a person named ``=HYPERLINK("https://evil.example", "x")``
would become a live link in an admin's export. Such a cell gets a leading apostrophe, as
OWASP recommends: the spreadsheet shows the text, and a program reading the CSV gets the
original text back by dropping that one character (``restore_cell``).

Numbers stay numbers: ``int``/``float``/``Decimal`` values and strings that are a plain
decimal number (``-3``, ``+2.5``, ``1e3``) are written as they are, and so are ISO dates,
which start with a digit.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal

# ASCII starters from OWASP's CSV injection page, plus the full-width = + - @.
FORMULA_STARTS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
ESCAPE = "'"
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

Cell = str | int | float | Decimal | None


def neutralise_cell(value: Cell) -> Cell:
    """The value as it is safe to write: numbers unchanged, formula-like text prefixed."""
    if value is None or isinstance(value, int | float | Decimal):
        return value
    text = str(value)
    if _looks_escaped(text) or (_starts_formula(text) and not _NUMBER.fullmatch(text)):
        return ESCAPE + text
    return text


def restore_cell(text: str) -> str:
    """The original text of a cell ``neutralise_cell`` wrote (for readers of our exports)."""
    return text[1:] if _looks_escaped(text) else text


def _starts_formula(text: str) -> bool:
    return bool(text) and text[0] in FORMULA_STARTS


def _looks_escaped(text: str) -> bool:
    # Apostrophes then a formula start: text that was typed that way gets one more
    # apostrophe too, so ``restore_cell`` gives back exactly what was written.
    return text.startswith(ESCAPE) and _starts_formula(text.lstrip(ESCAPE))


def render_csv(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    """A whole CSV document (``\\n`` line ends), a header row first, every cell defused."""
    # Python 3.11's writer quotes a field only for the characters of its own line
    # terminator, so with "\n" a bare "\r" in a reason would be written unquoted and
    # split the row for every reader. Each row is written with "\r\n" (both quoted)
    # and that terminator, exactly the last two characters, is swapped for "\n".
    line = io.StringIO()
    writer = csv.writer(line, lineterminator="\r\n")
    lines = []
    for row in itertools.chain([header], rows):
        line.seek(0)
        line.truncate()
        writer.writerow([neutralise_cell(cell) for cell in row])
        lines.append(line.getvalue()[:-2] + "\n")
    return "".join(lines)
