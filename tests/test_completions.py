"""Completions from LMS exports: validated, idempotent, dated in the person's zone."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from models import Assignment, CompletionEvent
from tests.conftest import snapshot
from tests.helpers import PROGRAMS, people_csv

HEADER = "email,item,completed_at,score\n"


@pytest.fixture
def people(cli, write):
    assert cli("load-config", write("programs.yml", PROGRAMS)).code == 0
    rows = people_csv(
        "ana@x.io,Ana,,engineer,Web,2026-03-02,Europe/London,",
        "raj@x.io,Raj,ana@x.io,engineer,Web,2026-03-02,Asia/Kolkata,",
    )
    assert cli("import-people", write("people.csv", rows)).code == 0


def count(db, table) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(table))


def test_the_same_file_twice_is_one_completion_each(people, db, cli, write):
    path = write(
        "lms.csv",
        HEADER + "ana@x.io,safety,2026-03-02T08:15:00Z,\n"
        "ana@x.io,safety-quiz,2026-03-02T08:50:00+00:00,85\n",
    )
    first = cli("import-completions", path)
    assert "2 recorded, 0 already known, for 1 people" in first.out
    second = cli("import-completions", path)
    assert "0 recorded, 2 already known" in second.out
    assert count(db, CompletionEvent) == 2
    with db.session() as session:
        quiz = session.scalars(select(Assignment).where(Assignment.score.is_not(None))).one()
    assert (quiz.status, quiz.score, quiz.completion_source) == ("completed", 85, "import")
    assert quiz.completed_at == datetime(2026, 3, 2, 8, 50, tzinfo=UTC)


def test_a_row_repeated_inside_one_file_counts_once(people, db, cli, write):
    row = "ana@x.io,intro,2026-03-02,\n"
    result = cli("import-completions", write("lms.csv", HEADER + row + row))
    assert "1 recorded, 1 already known" in result.out
    assert count(db, CompletionEvent) == 1


def test_a_date_without_time_is_that_day_where_the_person_is(people, db, cli, write):
    cli("import-completions", write("lms.csv", HEADER + "raj@x.io,intro,2026-03-02,\n"))
    with db.session() as session:
        event = session.scalars(select(CompletionEvent)).one()
    # Midnight in Kolkata (UTC+05:30) is 18:30 UTC the day before.
    assert event.completed_at == datetime(2026, 3, 1, 18, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ("who@x.io,intro,2026-03-01,", "email", "unknown person 'who@x.io'"),
        ("ana@x.io,basket-weaving,2026-03-01,", "item", "unknown item 'basket-weaving'"),
        ("ana@x.io,intro,last week,", "completed_at", "bad date 'last week'"),
        ("ana@x.io,intro,2026-03-09,", "completed_at", "2026-03-09 is in the future"),
        ("ana@x.io,safety-quiz,2026-03-01,110", "score", "score 110 is outside 0-100"),
        ("ana@x.io,safety-quiz,2026-03-01,A+", "score", "bad score 'A+'"),
    ],
)
def test_bad_rows_are_reported_with_line_and_field(people, db, cli, write, row, field, message):
    before = snapshot(db)
    path = write("lms.csv", HEADER + "ana@x.io,intro,2026-03-01,\n" + row + "\n")
    result = cli("import-completions", path)
    assert result.code == 1
    assert f"{path}:3: {field}: {message}" in result.err
    assert snapshot(db) == before


def test_completing_an_item_off_the_path_is_kept_for_later(people, db, cli, write):
    result = cli(
        "import-completions", write("lms.csv", HEADER + "ana@x.io,sales-101,2026-03-01,\n")
    )
    assert result.code == 0
    with db.session() as session:
        row = session.scalars(
            select(Assignment).where(Assignment.completion_source == "import")
        ).one()
    assert (row.status, row.required) == ("completed", False)
