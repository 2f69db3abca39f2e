"""`status` and `report`: what a person and an admin read."""

import csv
import io
from datetime import UTC, datetime

import pytest

from tests.helpers import PROGRAMS, people_csv


@pytest.fixture
def team(cli, write, clock):
    assert cli("load-config", write("programs.yml", PROGRAMS)).code == 0
    rows = people_csv(
        "boss@x.io,Bea Boss,,engineer,Web,2026-03-02,Europe/London,",
        "ana@x.io,Ana,boss@x.io,engineer,Web,2026-03-02,Europe/London,",
        "sam@x.io,Sam,boss@x.io,sales,Sales,2026-03-02,America/Los_Angeles,",
    )
    assert cli("import-people", write("people.csv", rows)).code == 0
    done = "email,item,completed_at,score\nana@x.io,intro,2026-03-02,\nsam@x.io,intro,2026-03-02,\n"
    assert cli("import-completions", write("done.csv", done)).code == 0
    clock.set(datetime(2026, 3, 11, 12, 0, tzinfo=UTC))  # Wednesday of the second week


def row(text: str, status: str, key: str) -> str:
    """The status line of item ``key``, asserting it reads ``status``."""
    [line] = [line for line in text.splitlines() if line.split()[1:2] == [key]]
    assert line.split()[0] == status, line
    return line


def test_status_shows_each_item_with_local_due_date_and_working_days_overdue(team, cli):
    result = cli("status", "ana@x.io")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == "Ana <ana@x.io>"
    assert "manager: boss@x.io" in lines[1]
    assert "today there: Wed 11 Mar 2026" in lines[2]
    text = result.out
    assert "First 30 days: 1/3 required done" in text
    # Safety was due Thu 5 March; Fri 6 is a holiday, so Mon, Tue, Wed: 3 working days.
    assert row(text, "OVERDUE", "safety").endswith("due Thu 5 Mar 2026, 3 working days overdue")
    assert row(text, "done", "intro").endswith("done Mon 2 Mar 2026")
    # Suggested items are offered, never chased: past due is "open", not overdue.
    assert "suggested" in row(text, "open", "shadow")
    assert "Proficient: 0/1 required done, starts Thu 2 Apr 2026" in text
    row(text, "upcoming", "advanced")


def test_status_of_an_unknown_person_is_a_clear_error(team, cli):
    result = cli("status", "ghost@x.io")
    assert (result.code, result.err.strip()) == (1, "error: nobody with email 'ghost@x.io'")


def test_report_counts_required_items_by_team_and_role(team, cli):
    result = cli("report", "--csv")
    rows = {(r["kind"], r["group"]): r for r in csv.DictReader(io.StringIO(result.out))}
    # Engineers: intro, safety, safety-quiz required each; Ana did intro. The quizzes
    # wait for safety, so they are owed but cannot be overdue.
    web = rows[("team", "Web")]
    assert (web["people"], web["required_done"], web["due"], web["overdue"]) == ("2", "1", "2", "3")
    sales = rows[("role", "sales")]
    # Sam: intro done; safety and sales-101 were due Tue 10 March (5 working days).
    assert (sales["required_done"], sales["overdue"], sales["percent"]) == ("1", "2", "33.3")
    total = rows[("all", "all")]
    assert (total["people"], total["required_done"]) == ("3", "2")


def test_report_text_is_a_readable_table(team, cli):
    out = cli("report").out
    assert "By team" in out and "By role" in out
    assert any(
        line.split()[:2] == ["Sales", "1"] and line.endswith("33%") for line in out.splitlines()
    )


def test_overdue_counts_use_each_persons_local_date(cli, write, clock):
    assert cli("load-config", write("programs.yml", PROGRAMS)).code == 0
    rows = people_csv(
        "east@x.io,East,,sales,S,2026-03-02,Asia/Kolkata,",
        "west@x.io,West,,sales,S,2026-03-02,America/Los_Angeles,",
    )
    assert cli("import-people", write("people.csv", rows)).code == 0
    # intro is due on the first day. At 20:00 UTC on 2 March it is already 3 March in
    # Kolkata (overdue there) and still 2 March in Los Angeles (due, not overdue).
    clock.set(datetime(2026, 3, 2, 20, 0, tzinfo=UTC))
    east = cli("status", "east@x.io").out
    west = cli("status", "west@x.io").out
    assert row(east, "OVERDUE", "intro").endswith("1 working day overdue")
    row(west, "open", "intro")
