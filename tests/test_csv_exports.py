"""Every CSV learnbot writes is safe to open in a spreadsheet (issue 14, item 3).

Names, teams, actors and reasons come from HR files, Slack and people; one that starts
like a formula (``=HYPERLINK(...)``, ``@SUM(...)``) must reach the spreadsheet as text.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest

from messages.csv_export import neutralise_cell, render_csv, restore_cell
from tests.helpers import PEOPLE_HEADER, PROGRAMS

# OWASP's starters, a well-known payload for each, and the full-width forms.
HOSTILE = [
    '=HYPERLINK("https://evil.example/login","Click for your bonus")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "\uff1dHYPERLINK(1)",
    "'=already quoted",
]
STARTERS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def is_formula(cell: str) -> bool:
    """What a spreadsheet would run: a cell starting with a formula character."""
    return cell[:1] in STARTERS and not is_number(cell)


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("value", HOSTILE)
def test_a_formula_like_cell_is_written_as_text_and_reads_back_whole(value):
    written = read(render_csv(["name"], [[value]]))

    cell = written[1][0]
    assert not is_formula(cell)
    assert cell.startswith("'")
    assert restore_cell(cell) == value


@pytest.mark.parametrize("number", [-3, 0, 2.5, -0.25, Decimal("-12.50"), "-3", "+4", "-1.5e3"])
def test_numbers_stay_numbers(number):
    [_, [cell]] = read(render_csv(["n"], [[number]]))

    assert cell == str(number)
    assert neutralise_cell(number) == number


@pytest.mark.parametrize("text", ["2026-03-02", "2026-03-02T09:00:00+00:00", "Ana", "", "a=b"])
def test_dates_and_plain_text_are_unchanged(text):
    assert read(render_csv(["x"], [[text]]))[1] == [text]


def test_line_breaks_inside_a_cell_keep_it_in_its_row():
    text = render_csv(["reason", "n"], [["first\rsecond", 1], ["a\r\nb\nc", 2]])

    assert read(text) == [["reason", "n"], ["first\rsecond", "1"], ["a\r\nb\nc", "2"]]
    assert text.startswith("reason,n\n")


def test_empty_cells_stay_empty():
    assert read(render_csv(["a", "b"], [[None, ""]]))[1] == ["", ""]


@pytest.fixture
def hostile_company(cli, tmp_path: Path, clock):
    """Three people whose names and teams are formula payloads, one certified via the LMS."""
    programs = tmp_path / "programs.yml"
    programs.write_text(PROGRAMS, encoding="utf-8")
    assert cli("load-config", str(programs)).code == 0
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PEOPLE_HEADER.split(","))
    people = [
        ("eve@x.io", HOSTILE[0], HOSTILE[1]),
        ("mal@x.io", HOSTILE[2], HOSTILE[3]),
        ("ann@x.io", HOSTILE[6], "Web"),
    ]
    for email, name, team in people:
        writer.writerow([email, name, "", "engineer", team, "2026-03-02", "Europe/London", ""])
    people_file = tmp_path / "people.csv"
    people_file.write_text(out.getvalue(), encoding="utf-8")
    assert cli("--actor", HOSTILE[1], "import-people", str(people_file)).code == 0
    lms = tmp_path / "lms.csv"
    lms.write_text(
        "email,item,completed_at,score\n"
        "eve@x.io,safety,2026-03-02,\n"
        "eve@x.io,safety-quiz,2026-03-02,90\n",
        encoding="utf-8",
    )
    assert cli("import-completions", str(lms)).code == 0
    return people


def assert_safe(text: str) -> list[list[str]]:
    rows = read(text)
    assert rows, "an export with no rows"
    for row in rows:
        for cell in row:
            assert not is_formula(cell), cell
    return rows


def test_report_csv_neutralises_hostile_teams(cli, hostile_company):
    result = cli("report", "--csv")

    assert result.code == 0, result.err
    rows = assert_safe(result.out)
    groups = {restore_cell(row[1]) for row in rows[1:] if row[0] == "team"}
    assert {HOSTILE[1], HOSTILE[3], "Web"} <= groups
    assert all(is_number(cell) for row in rows[1:] for cell in row[2:])


def test_certs_csv_neutralises_hostile_names_and_teams(cli, hostile_company):
    result = cli("certs", "--csv")

    assert result.code == 0, result.err
    rows = assert_safe(result.out)
    [eve] = [row for row in rows[1:] if row[0] == "eve@x.io"]
    assert [restore_cell(eve[1]), restore_cell(eve[2])] == [HOSTILE[0], HOSTILE[1]]
    assert eve[4:6] == ["0", "2026-03-02"]  # the cycle is a number, the award date a date


def test_audit_csv_neutralises_hostile_actors_subjects_and_reasons(cli, hostile_company, db):
    from learning.audit import record
    from learning.clock import FrozenClock
    from tests.conftest import START

    with db.session() as session:
        record(
            session,
            clock=FrozenClock(START),
            actor=HOSTILE[2],
            action="assignment.waive",
            subject=HOSTILE[3],
            reason=HOSTILE[0],
        )

    result = cli("audit", "--csv")

    assert result.code == 0, result.err
    rows = assert_safe(result.out)
    actors = {restore_cell(row[2]) for row in rows[1:]}
    assert {HOSTILE[1], HOSTILE[2]} <= actors  # the import's --actor and the waiver's
    [waiver] = [row for row in rows[1:] if row[3] == "assignment.waive"]
    assert [restore_cell(cell) for cell in waiver[5:7]] == [HOSTILE[3], HOSTILE[0]]
    assert is_number(waiver[0])
