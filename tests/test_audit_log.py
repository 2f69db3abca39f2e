"""`bot.py audit`: who did what, when and why, as an admin reads it."""

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from learning.audit import record
from learning.clock import FrozenClock
from models import Person
from tests.conftest import START
from tests.helpers import PROGRAMS, people_csv

PEOPLE = (
    "ada@x.io,Ada Admin,,engineer,Platform,2026-01-05,Europe/London,",
    "bob@x.io,Bob Builder,ada@x.io,sales,Sales,2026-02-02,Asia/Kolkata,",
)


@pytest.fixture
def company(cli, write):
    """A configuration and two people, loaded by HR with the real commands."""
    assert cli("--actor", "hr@x.io", "load-config", write("programs.yml", PROGRAMS)).code == 0
    assert cli("--actor", "hr@x.io", "import-people", write("people.csv", people_csv(*PEOPLE)))


def add(db, at, action, *, person=None, actor="lnd@x.io", subject="", reason="", details=None):
    """One audit entry at instant ``at``, about ``person`` (an email) if given."""
    with db.session() as session:
        person_id = None
        if person is not None:
            person_id = session.scalar(select(Person.id).where(Person.email == person))
            assert person_id is not None, person
        record(
            session,
            clock=FrozenClock(at),
            actor=actor,
            action=action,
            subject=subject,
            person_id=person_id,
            reason=reason,
            details=details,
        )


def table(out: str) -> list[list[str]]:
    """The rows under the header of the printed table, split into cells."""
    lines = out.rstrip("\n").split("\n")
    assert lines[0].split() == ["time", "(UTC)", "actor", "action", "person", "subject", "reason"]
    rows = []
    for line in lines[1:]:
        if not line:
            break  # the notice after the table
        rows.append(re.split(r" {2,}", line))
    return rows


def at(day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def test_real_changes_are_listed_oldest_first_with_who_and_whom(cli, write, clock, company):
    clock.advance(timedelta(days=1, minutes=30))
    moved = people_csv(PEOPLE[0], PEOPLE[1].replace(",Sales,", ",Partnerships,"))
    assert cli("--actor", "hr@x.io", "import-people", write("moved.csv", moved)).code == 0

    result = cli("audit")

    assert result.code == 0, result.err
    rows = table(result.out)
    assert [row[2] for row in rows] == [
        "config.load",
        "people.import",
        "person.update",  # same instant as the import summary below: recorded first
        "people.import",
    ]
    assert [row[0] for row in rows] == ["2026-03-02 09:00"] * 2 + ["2026-03-03 09:30"] * 2
    assert {row[1] for row in rows} == {"hr@x.io"}
    update = rows[2]
    assert update[3:5] == ["bob@x.io", "bob@x.io"]
    assert update[5].startswith("import /")  # the table shortens long paths; the CSV has it
    exported = list(csv.reader(io.StringIO(cli("audit", "--csv", "--person", "bob@x.io").out)))
    assert [row[6] for row in exported[1:]] == [f"import {write('moved.csv', moved)}"]
    assert rows[0][3] == "-"  # config.load is about nobody in particular


def test_person_filter_ignores_case_and_other_people(cli, db, company):
    add(db, at(3), "assignment.waive", person="bob@x.io", reason="did this at his last job")
    add(db, at(4), "person.away", person="ada@x.io", reason="parental leave")
    add(db, at(5), "escalation.manager", person="bob@x.io", subject="safety")

    result = cli("audit", "--person", "  BOB@X.io ")

    assert result.code == 0, result.err
    rows = table(result.out)
    assert [(row[2], row[3]) for row in rows] == [
        ("assignment.waive", "bob@x.io"),
        ("escalation.manager", "bob@x.io"),
    ]
    assert rows[0][5] == "did this at his last job"
    assert "parental leave" not in result.out


def test_an_unknown_person_is_refused_by_email_without_a_traceback(cli, company):
    result = cli("audit", "--person", "nobody@x.io")

    assert result.code == 1
    assert "nobody@x.io" in result.err
    assert "Traceback" not in result.err and result.out == ""


def test_since_a_day_starts_at_midnight_utc_and_an_instant_keeps_its_offset(cli, db, company):
    add(db, at(1, 23, 59), "assignment.waive", reason="late sunday")
    add(db, at(3, 0, 0), "assignment.waive", reason="tuesday midnight")
    add(db, at(3, 8, 15), "assignment.waive", reason="tuesday 08:15")
    add(db, at(3, 8, 45), "assignment.waive", reason="tuesday 08:45")

    by_day = cli("audit", "--since", "2026-03-03")
    assert by_day.code == 0, by_day.err
    assert [row[5] for row in table(by_day.out)] == [
        "tuesday midnight",
        "tuesday 08:15",
        "tuesday 08:45",
    ]

    # 09:30 in Paris is 08:30 UTC.
    by_instant = cli("audit", "--since", "2026-03-03T09:30:00+01:00", "--action", "assignment")
    assert by_instant.code == 0, by_instant.err
    assert [row[5] for row in table(by_instant.out)] == ["tuesday 08:45"]


@pytest.mark.parametrize("value", ["yesterday", "2026-03-02T09:00", "2026-02-30"])
def test_a_bad_since_is_a_usage_error_naming_the_value(cli, capsys, value):
    with pytest.raises(SystemExit) as exited:
        cli("audit", "--since", value)

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--since" in err and repr(value) in err


def test_action_prefix_keeps_every_step_of_the_ladder_and_nothing_else(cli, db, company):
    add(db, at(3), "escalation.manager", person="bob@x.io", subject="safety")
    add(db, at(4), "assignment.waive", person="bob@x.io", subject="safety-quiz")
    add(db, at(5), "escalation.skip_level", person="bob@x.io", subject="safety")
    add(db, at(5, 10), "outbox_retry", subject="12")
    add(db, at(5, 11), "outboxes.purge")  # matches LIKE 'outbox_%' if "_" were a wildcard

    ladder = cli("audit", "--action", "escalation")
    assert ladder.code == 0, ladder.err
    assert [row[2] for row in table(ladder.out)] == ["escalation.manager", "escalation.skip_level"]

    # An underscore is a character, not a LIKE wildcard.
    assert [row[2] for row in table(cli("audit", "--action", "outbox_").out)] == ["outbox_retry"]
    assert [row[2] for row in table(cli("audit", "--action", "ESCALATION.SKIP").out)] == [
        "escalation.skip_level"
    ]


def test_csv_has_full_values_and_details_while_the_table_shortens_them(cli, db, company):
    reason = (
        'Manager said "fine": she completed the vendor course, in 2025,\n'
        "and passed the same quiz with 92 — certificate on file at HR."
    )
    details = {"ladder_step": 2, "notified": ["ada@x.io"], "item": "safety-quiz"}
    add(db, at(3, 14, 5), "assignment.waive", person="bob@x.io", subject="safety-quiz",
        reason=reason, details=details)  # fmt: skip

    exported = cli("audit", "--csv", "--person", "bob@x.io")

    assert exported.code == 0, exported.err
    rows = list(csv.reader(io.StringIO(exported.out)))
    assert rows[0] == ["id", "at", "actor", "action", "person", "subject", "reason", "details"]
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["at"] == "2026-03-03T14:05:00+00:00"
    assert (row["actor"], row["action"]) == ("lnd@x.io", "assignment.waive")
    assert (row["person"], row["subject"]) == ("bob@x.io", "safety-quiz")
    assert row["reason"] == reason
    assert json.loads(row["details"]) == details

    shown = table(cli("audit", "--person", "bob@x.io").out)
    assert len(shown) == 1
    assert shown[0][0] == "2026-03-03 14:05"
    assert shown[0][5].endswith("…") and len(shown[0][5]) < len(reason)
    assert shown[0][5].startswith('Manager said "fine": she completed the vendor course')


def test_limit_keeps_the_most_recent_in_order_and_says_so(cli, db, clock, capsys):
    for day in range(2, 7):
        add(db, at(day), "person.away", subject=f"entry {day}")

    result = cli("audit", "--limit", "2")

    assert result.code == 0, result.err
    assert [row[4] for row in table(result.out)] == ["entry 5", "entry 6"]
    assert result.out.rstrip().endswith("(showing the last 2 of 5 entries; use --limit)")

    everything = cli("audit")
    assert [row[4] for row in table(everything.out)] == [f"entry {d}" for d in range(2, 7)]
    assert "showing the last" not in everything.out

    exported = cli("audit", "--csv", "--limit", "3")
    assert [row[5] for row in csv.reader(io.StringIO(exported.out))][1:] == [
        "entry 4",
        "entry 5",
        "entry 6",
    ]
    assert "(showing the last 3 of 5 entries; use --limit)" in capsys.readouterr().err


def test_the_default_is_the_last_200(cli, db):
    with db.session() as session:
        for n in range(201):
            record(
                session,
                clock=FrozenClock(START + timedelta(minutes=n)),
                actor="cli",
                action="person.update",
                subject=f"n{n}",
            )

    rows = table(cli("audit").out)

    assert len(rows) == 200
    assert (rows[0][4], rows[-1][4]) == ("n1", "n200")
    assert "(showing the last 200 of 201 entries; use --limit)" in cli("audit").out


def test_nothing_matching_is_said_plainly(cli, db, company):
    add(db, at(3), "assignment.waive", person="bob@x.io")

    result = cli("audit", "--person", "ada@x.io", "--action", "escalation", "--since", "2026-03-03")

    assert result.code == 0, result.err
    assert result.out.strip() == (
        "no audit entries about ada@x.io since 2026-03-03 00:00 UTC "
        "with an action starting 'escalation'"
    )


def test_an_empty_log_and_a_bad_limit(cli):
    assert cli("audit").out.strip() == "the audit log is empty"
    refused = cli("audit", "--limit", "0")
    assert refused.code == 1 and "--limit" in refused.err


def test_the_table_shows_the_ladder_step_of_an_escalation_told_to_the_admins(cli, db, company):
    # Nobody left in the chain: the admins are told, at whichever step the item reached.
    # The step is what tells these rows apart (the CSV has it in the details).
    for day, step in ((3, "manager"), (10, "skip_level")):
        details = {"assignment_id": 7, "to": "admins", "step": step, "due": "2026-02-20"}
        add(db, at(day), "escalation.admins", person="bob@x.io", subject="safety", details=details)
    add(
        db,
        at(11),
        "escalation.manager",
        person="bob@x.io",
        subject="safety-quiz",
        details={"assignment_id": 8, "to": "ada@x.io", "step": "manager", "due": "2026-02-27"},
    )

    rows = table(cli("audit", "--action", "escalation").out)

    assert [row[2] for row in rows] == [
        "escalation.admins (step: manager)",
        "escalation.admins (step: skip_level)",
        "escalation.manager",  # the action already names its step
    ]
