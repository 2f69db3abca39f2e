"""The enrollment job looks only at people whose tier opens or whose inputs changed,
and writes a batch of them per transaction."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import event, select

from learning.clock import FrozenClock
from learning.curriculum import load_curriculum
from learning.curriculum_sync import apply_config
from learning.enrollment_schedule import ENROLL_NOW
from models import Assignment, Item, OutboxMessage, Person
from models.db import alembic_config
from schedules.enrollment import enroll_everyone
from tests.fakes.bolt_requests import SlackRequests
from tests.fakes.slack_api import FakeSlack
from tests.helpers import PROGRAMS, people_csv, slack_settings

PEOPLE = (
    # Tier 2 ("proficient", day 31) opens Thu 2 April.
    "ana@x.io,Ana,,engineer,Web,2026-03-02,Europe/London,U0ANA",
    # Tier 2 opens Wed 4 March.
    "ben@x.io,Ben,ana@x.io,engineer,Web,2026-02-01,Europe/London,U0BEN",
    # Sales has one tier: nothing ahead.
    "sal@x.io,Sal,ana@x.io,sales,Sales,2026-03-02,America/New_York,U0SAL",
    "sam@x.io,Sam,ana@x.io,sales,Sales,2026-03-02,America/New_York,U0SAM",
)


@pytest.fixture
def org(cli, write):
    """The test program and PEOPLE loaded at Mon 2 March 2026 09:00 UTC."""
    assert cli("load-config", write("programs.yml", PROGRAMS)).code == 0

    def import_people(*rows: str):
        result = cli("import-people", write("people.csv", people_csv(*rows)))
        assert result.code == 0, result.err
        return result

    import_people(*PEOPLE)
    return import_people


class WriteLog:
    """Per committed write transaction: how many people's enrollment dates it stored."""

    def __init__(self, db) -> None:
        self.transactions: list[int] = []
        self._writing: dict[int, int] = {}
        event.listen(db.engine, "before_cursor_execute", self._execute)
        event.listen(db.engine, "commit", self._commit)

    def _execute(self, conn, _cursor, statement, parameters, _context, executemany) -> None:
        words = statement.lstrip().split(None, 2)
        if words[0].upper() not in ("INSERT", "UPDATE", "DELETE"):
            return
        people = 0
        if words[0].upper() == "UPDATE" and words[1] == "person" and "next_enroll_on" in statement:
            people = len(parameters) if executemany else 1
        self._writing[id(conn)] = self._writing.get(id(conn), 0) + people

    def _commit(self, conn) -> None:
        people = self._writing.pop(id(conn), None)
        if people is not None:
            self.transactions.append(people)


def next_enroll_on(db) -> dict[str, date | None]:
    with db.session() as session:
        return dict(session.execute(select(Person.email, Person.next_enroll_on)).all())


def item_keys(db, email: str) -> set[str]:
    with db.session() as session:
        return set(
            session.scalars(
                select(Item.key)
                .join(Assignment, Assignment.item_id == Item.id)
                .join(Person, Person.id == Assignment.person_id)
                .where(Person.email == email, Assignment.status == "open")
            )
        )


def at(year: int, month: int, day: int, hour: int = 9) -> FrozenClock:
    return FrozenClock(datetime(year, month, day, hour, 0, tzinfo=UTC))


def test_each_person_waits_for_their_next_tier_opening(org, db):
    assert next_enroll_on(db) == {
        "ana@x.io": date(2026, 4, 2),
        "ben@x.io": date(2026, 3, 4),
        "sal@x.io": None,  # one tier, open already
        "sam@x.io": None,
    }


def test_a_quiet_hour_looks_at_nobody_and_writes_nothing(org, db):
    writes = WriteLog(db)
    summary = enroll_everyone(db, at(2026, 3, 3, 10))
    assert (summary.visited, summary.people_changed) == (0, 0)
    assert writes.transactions == []


def test_the_job_enrolls_a_person_on_the_day_their_tier_opens_and_nobody_else(org, db):
    assert enroll_everyone(db, at(2026, 3, 3, 23)).visited == 0  # still Tue 3 March in London
    summary = enroll_everyone(db, at(2026, 3, 4, 0))  # Wed 4 March: Ben's day 31
    assert (summary.visited, summary.people_changed, summary.created) == (1, 1, 1)
    assert "advanced" in item_keys(db, "ben@x.io")
    assert next_enroll_on(db)["ben@x.io"] is None
    assert enroll_everyone(db, at(2026, 3, 4, 1)).visited == 0  # done for the day


def test_an_imported_change_moves_the_persons_next_enrollment(org, db, cli, clock):
    # Sal becomes an engineer starting Mon 9 March: the import enrolls her at once
    # (nothing is open yet) and keeps the day her first tier opens.
    clock.set(datetime(2026, 3, 3, 9, 0, tzinfo=UTC))
    org("sal@x.io,Sal,ana@x.io,engineer,Web,2026-03-09,America/New_York,U0SAL")
    assert next_enroll_on(db)["sal@x.io"] == date(2026, 3, 9)
    assert item_keys(db, "sal@x.io") == set()
    assert enroll_everyone(db, at(2026, 3, 4, 12)).visited == 1  # Ben's second tier
    # 03:00 UTC on the 9th is still Sunday 8 March in New York; 05:00 is Monday.
    assert enroll_everyone(db, at(2026, 3, 9, 3)).visited == 0
    summary = enroll_everyone(db, at(2026, 3, 9, 5))
    assert (summary.visited, summary.people_changed) == (1, 1)
    assert item_keys(db, "sal@x.io") == {"intro", "safety", "safety-quiz", "shadow"}
    assert next_enroll_on(db)["sal@x.io"] == date(2026, 4, 9)


def test_a_slack_time_zone_change_moves_the_persons_tier_day(org, db, clock):
    # Ben moves from London to Auckland (UTC+13): his Wed 4 March starts at 11:00 UTC
    # on Tuesday 3 March, so his second tier opens then, not at London's midnight.
    with FakeSlack() as fake:
        settings = slack_settings(fake.base_url, signing_secret="secret")
        from server.app import build_app

        app = build_app(settings, database=db, clock=clock, process_before_response=True)
        user = {
            "id": "U0BEN",
            "team_id": "T0TEAM",
            "name": "ben",
            "real_name": "Ben",
            "deleted": False,
            "tz": "Pacific/Auckland",
            "is_bot": False,
            "profile": {"email": "ben@x.io", "real_name": "Ben"},
        }
        SlackRequests(app, signing_secret="secret").event({"type": "user_change", "user": user})
    with db.session() as session:
        ben = session.scalars(select(Person).where(Person.email == "ben@x.io")).one()
    assert (ben.timezone, ben.next_enroll_on) == ("Pacific/Auckland", date(2026, 3, 4))
    assert enroll_everyone(db, at(2026, 3, 3, 10)).visited == 0  # 23:00 on the 3rd there
    summary = enroll_everyone(db, at(2026, 3, 3, 11))
    assert (summary.visited, summary.created) == (1, 1)
    assert "advanced" in item_keys(db, "ben@x.io")


def test_a_completion_marks_the_person_for_the_next_pass(org, db, cli, write, clock):
    done = "email,item,completed_at,score\nana@x.io,safety,2026-03-02,\n"
    assert cli("import-completions", write("done.csv", done)).code == 0
    assert next_enroll_on(db)["ana@x.io"] == ENROLL_NOW
    summary = enroll_everyone(db, at(2026, 3, 2, 10))
    assert summary.visited == 1
    assert next_enroll_on(db)["ana@x.io"] == date(2026, 4, 2)  # back to her tier date


def test_a_curriculum_change_marks_the_roles_it_touches_and_the_job_enrolls_them(org, db, clock):
    changed = PROGRAMS.replace(
        "{item: safety, required: true, due: 3}", "{item: safety, required: true, due: 7}"
    )
    with db.session() as session:
        changes = apply_config(
            session, load_curriculum_text(changed), clock=clock, enroll_now=False
        )
    assert changes.marked == 2  # the engineers; the sales path did not change
    assert next_enroll_on(db) == {
        "ana@x.io": ENROLL_NOW,
        "ben@x.io": ENROLL_NOW,
        "sal@x.io": None,
        "sam@x.io": None,
    }
    summary = enroll_everyone(db, clock)
    assert (summary.visited, summary.people_changed) == (2, 2)
    with db.session() as session:
        due = session.scalar(
            select(Assignment.due_date)
            .join(Person, Person.id == Assignment.person_id)
            .join(Item, Item.id == Assignment.item_id)
            .where(Person.email == "ana@x.io", Item.key == "safety")
        )
    assert due == date(2026, 3, 12)  # 7 working days from Mon 2 March, Fri 6 a holiday
    assert next_enroll_on(db)["ana@x.io"] == date(2026, 4, 2)
    assert enroll_everyone(db, clock).visited == 0


def test_a_title_change_marks_nobody(org, db, clock):
    retitled = PROGRAMS.replace("title: Selling 101", "title: Selling, the basics")
    with db.session() as session:
        changes = apply_config(session, load_curriculum_text(retitled), clock=clock)
    assert (changes.marked, changes.enrollment.visited) == (0, 0)


def test_a_change_to_an_item_on_every_path_marks_everyone_on_them(org, db, clock):
    later_intro = PROGRAMS.replace(
        "{item: intro, required: true, due: 0}", "{item: intro, required: true, due: 1}"
    )
    with db.session() as session:
        changes = apply_config(
            session, load_curriculum_text(later_intro), clock=clock, enroll_now=False
        )
    assert changes.marked == 4


def test_load_config_enrolls_the_people_it_marks_before_it_returns(org, db, cli, write):
    changed = PROGRAMS.replace(
        "{item: safety, required: true, due: 3}", "{item: safety, required: true, due: 7}"
    )
    result = cli("load-config", write("programs2.yml", changed))
    assert result.code == 0, result.err
    assert "2 people's assignments changed: 0 assigned," in result.out
    assert ENROLL_NOW not in next_enroll_on(db).values()


def test_each_transaction_of_the_job_covers_at_most_a_batch_of_people(org, db, clock):
    later_intro = PROGRAMS.replace(
        "{item: intro, required: true, due: 0}", "{item: intro, required: true, due: 1}"
    )
    with db.session() as session:
        apply_config(session, load_curriculum_text(later_intro), clock=clock, enroll_now=False)
    writes = WriteLog(db)
    summary = enroll_everyone(db, clock, batch_size=3)
    assert summary.visited == 4
    assert writes.transactions == [3, 1]


def test_a_large_pass_is_cut_into_batches(cli, write, db, clock):
    assert cli("load-config", write("programs.yml", PROGRAMS)).code == 0
    rows = [f"p{n}@x.io,P{n},,engineer,Web,2026-03-02,Europe/London," for n in range(25)]
    assert cli("import-people", write("people.csv", people_csv(*rows))).code == 0
    with db.session() as session:
        apply_config(
            session,
            load_curriculum_text(PROGRAMS.replace("due: 10}", "due: 12}")),
            clock=clock,
            enroll_now=False,
        )
    writes = WriteLog(db)
    summary = enroll_everyone(db, clock, batch_size=10)
    assert summary.visited == 25
    assert len(writes.transactions) == math.ceil(25 / 10)
    assert max(writes.transactions) <= 10 and sum(writes.transactions) == 25


# --- upgrading an existing database ----------------------------------------------------


def test_upgrading_keeps_every_date_sends_nothing_and_schedules_only_what_is_ahead(
    cli, write, db, clock
):
    assert cli("load-config", write("programs.yml", PROGRAMS)).code == 0
    clock.set(datetime(2026, 2, 10, 9, 0, tzinfo=UTC))
    rows = (
        "ana@x.io,Ana,,engineer,Web,2026-02-09,Europe/London,U0ANA",  # tier 2: Thu 12 March
        "eve@x.io,Eve,,engineer,Web,2026-01-20,Europe/London,U0EVE",  # tier 2: Fri 20 Feb
        "sal@x.io,Sal,,sales,Sales,2026-02-09,America/New_York,U0SAL",  # nothing ahead
    )
    assert cli("import-people", write("people.csv", people_csv(*rows))).code == 0
    config = alembic_config(db.engine)
    revision_before = ScriptDirectory.from_config(config).get_revision("0011").down_revision
    command.downgrade(config, revision_before)  # the schema before next_enroll_on
    before = assignments(db)
    command.upgrade(config, "head")
    assert assignments(db) == before
    assert next_enroll_on(db) == {
        "ana@x.io": date(2026, 3, 12),
        "eve@x.io": date(2026, 2, 20),  # never reached (learnbot was stopped): due now
        "sal@x.io": None,
    }
    # The bot comes back on Mon 2 March: the first pass enrolls Eve's second tier only.
    summary = enroll_everyone(db, at(2026, 3, 2))
    assert (summary.visited, summary.people_changed, summary.created) == (1, 1, 1)
    after = assignments(db)
    assert {k: v for k, v in after.items() if k in before} == before
    with db.session() as session:
        assert session.scalars(select(OutboxMessage)).all() == []


def assignments(db) -> dict[int, tuple]:
    """Every assignment's facts (columns that exist before and after the upgrade)."""
    columns = ("person_id", "item_id", "status", "due_date", "assigned_at", "ladder_step")
    with db.session() as session:
        rows = session.execute(select(Assignment.id, *(getattr(Assignment, c) for c in columns)))
        return {row[0]: tuple(row[1:]) for row in rows}


def load_curriculum_text(text: str):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "programs.yml"
        path.write_text(text)
        return load_curriculum(path)
