"""Dates you can trust: due dates change only through named, audited events, the
learner is told once, and the ladder then really acts on the dates it announced.

The pipeline runs as in production (enroll, plan, escalate, deliver, a sweep at a time)
on a virtual clock, delivering to the fake Slack Web API; expectations are what people
would see: dates in their digests, DMs on their days, entries in the audit log.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from alembic import command as alembic_command
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect, select, text

from bot import DEMO_AT
from learning.actions import complete_assignment
from models import Assignment, Person
from models.db import alembic_config
from tests.conftest import EXAMPLES
from tests.dates_support import (
    Ticker,
    assignment_of,
    check_ladder_against_slack,
    date_audits,
    digest_items,
    escalated,
    last_audit_id,
    open_due_dates,
    person_id,
    received,
    text_of,
    unexplained_changes,
)
from tests.fakes.slack_api import FakeSlack
from tests.helpers import people_csv

# One required item; a role with a longer offset for it; a holiday on Wed 11 Nov.
PROGRAMS = """
organisation:
  name: Dates Co
  timezone: Europe/London
calendar:
  working_days: [mon, tue, wed, thu, fri]
  holidays:
    everywhere: [2026-11-11]
channels:
  admins: "#learnbot-admins"
items:
  compliance: {title: Compliance essentials, method: online, minutes: 30}
  extra: {title: Extra reading, method: reading, minutes: 20}
programs:
  analyst:
    title: Analyst
    tiers:
      - key: first-30
        title: First 30 days
        starts_on_day: 0
        items:
          - {item: compliance, required: true, due: 3}
  auditor:
    title: Auditor
    tiers:
      - key: first-30
        title: First 30 days
        starts_on_day: 0
        items:
          - {item: compliance, required: true, due: 5}
  boss:
    title: Manager
    tiers:
      - key: first-30
        title: First 30 days
        starts_on_day: 0
        items:
          - {item: extra, due: 2}
"""

SAM = "sam@x.io,Sam Skip,,boss,Lead,2026-11-02,America/New_York,U0SAM"
MAX = "max@x.io,Max Manager,sam@x.io,boss,Ops,2026-11-02,Europe/London,U0MAX"
LEA = "lea@x.io,Lea Learner,max@x.io,{role},Ops,{start},Europe/London,U0LEA"


def d(day: int, month: int = 11) -> date:
    return date(2026, month, day)


@pytest.fixture
def fake(clock):
    with FakeSlack(time_source=lambda: clock.now().timestamp()) as server:
        yield server


@pytest.fixture
def ticker(db, fake, clock):
    ticks = Ticker(db, fake, clock)
    yield ticks
    ticks.close()


def people(role: str = "analyst", start: str = "2026-11-02") -> str:
    return people_csv(SAM, MAX, LEA.format(role=role, start=start))


def role_change(cli, write):
    return cli("import-people", write("people2.csv", people(role="auditor")))


def role_start_change(cli, write):
    return cli("import-people", write("people2.csv", people(start="2026-11-16")))


def offset_change(cli, write):
    longer = PROGRAMS.replace("{item: compliance, required: true, due: 3}", "{item: compliance, "
                              "required: true, due: 15}")  # fmt: skip
    return cli("load-config", write("programs2.yml", longer))


# event, how it happens, the new due date, what Lea is told, the manager's new day
EVENTS = [
    ("role", role_change, d(23), "your role changed", d(30)),
    ("role_start", role_start_change, d(19), "your role start date changed", d(26)),
    ("curriculum", offset_change, d(24), "the program changed", d(1, 12)),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("event", "change", "new_due", "told", "manager_day"), EVENTS, ids=[e[0] for e in EVENTS]
)
def test_an_event_re_dates_once_resets_the_ladder_and_the_manager_is_told_on_the_new_day(
    cli, write, clock, db, fake, ticker, event, change, new_due, told, manager_day
):
    clock.set(datetime(2026, 11, 2, 0, 30, tzinfo=UTC))
    assert cli("load-config", write("programs.yml", PROGRAMS)).code == 0
    assert cli("import-people", write("people.csv", people())).code == 0
    lea = assignment_of(db, "lea@x.io", "compliance")
    assert lea.due_date == d(5)
    # London's window opens 09:30 UTC, New York's 14:30 UTC in November.
    ticker.run(datetime(2026, 11, 16, 8, 0, tzinfo=UTC), hours=range(8, 21))
    [told_max] = escalated(db, fake)[(lea.id, "2026-11-05")]
    assert (told_max.channel, told_max.local_date("Europe/London")) == ("U0MAX", d(13))
    assert assignment_of(db, "lea@x.io", "compliance").ladder_step == 2

    # Mon 16 Nov, before Lea's morning: the event.
    clock.set(datetime(2026, 11, 16, 8, 0, tzinfo=UTC))
    since = last_audit_id(db)
    before = open_due_dates(db)
    result = change(cli, write)
    assert result.code == 0, result.out + result.err
    assert "1 open item got a new due date: lea@x.io compliance Thu 5 Nov 2026 -> " in result.out
    [entry] = date_audits(db, after_id=since)
    assert (entry.action, entry.details["event"], entry.details["due"]) == (
        "assignment.redate",
        event,
        new_due.isoformat(),
    )
    assert entry.details["before"] == {
        "due_date": "2026-11-05",
        "ladder_step": 2,
        "ladder_paused_days": 0,
    }
    assert unexplained_changes(before, open_due_dates(db), [entry]) == {}
    after = assignment_of(db, "lea@x.io", "compliance")
    assert (after.due_date, after.ladder_step, after.ladder_next_on, after.due_notice) == (
        new_due,
        0,
        None,
        event,
    )

    ticker.run(datetime(2026, 12, 3, 0, 0, tzinfo=UTC), hours=range(8, 21))

    # Lea is told once, in her next digest.
    digests = digest_items(db, fake, person_id(db, "lea@x.io"))
    told_on = [day for day, items in digests.items() if items[lea.id].due_changed]
    assert told_on == [d(16)]
    [monday] = received(db, fake, f"digest:{person_id(db, 'lea@x.io')}:2026-11-16")
    assert f"📅 New due date *{new_due:%a} {new_due.day} {new_due:%b}*: {told}." in text_of(
        monday.payload
    )
    assert assignment_of(db, "lea@x.io", "compliance").due_notice is None
    # The ladder runs again from the new date: every digest that announces the manager's
    # day names the day Max's DM really came.
    announced = {
        items[lea.id].next_notice_on
        for day, items in digests.items()
        if day > d(16) and lea.id in items and items[lea.id].next_notice_to == "manager"
    }
    assert announced == {manager_day}
    [again] = escalated(db, fake)[(lea.id, new_due.isoformat())]
    assert (again.channel, again.local_date("Europe/London")) == ("U0MAX", manager_day)
    assert again.payload["learners"][0]["items"][0]["overdue_working_days"] == 5


# --- prerequisites: the worked example of the README -----------------------------------

CHAIN = """
organisation:
  name: Chain Co
  timezone: Europe/London
items:
  basics: {title: Basics, method: online, minutes: 30}
  practice: {title: Practice, method: classroom, minutes: 60, requires: [basics]}
  exam: {title: Exam, method: assessment, minutes: 30, requires: [practice]}
programs:
  engineer:
    title: Engineer
    tiers:
      - key: first-30
        title: First 30 days
        starts_on_day: 0
        items:
          - {item: basics, required: true, due: 2}
          - {item: practice, required: true, due: 4}
          - {item: exam, required: true, due: 6}
"""


def test_a_prerequisite_chain_gets_each_date_once_and_a_late_import_never_starts_overdue(
    cli, write, clock, db
):
    # Ana starts on Mon 2 March 2026; after_prerequisite is 3 working days (the default).
    assert cli("load-config", write("programs.yml", CHAIN)).code == 0
    ana = "ana@x.io,Ana,,engineer,Web,2026-03-02,Europe/London,U0ANA"
    assert cli("import-people", write("people.csv", people_csv(ana))).code == 0

    def dates() -> dict[str, date | None]:
        return {key: assignment_of(db, "ana@x.io", key).due_date for key in CHAIN_KEYS}

    assert dates() == {"basics": date(2026, 3, 4), "practice": None, "exam": None}
    assert "after Basics" in cli("status", "ana@x.io").out

    def on(day: int) -> None:
        clock.set(datetime(2026, 3, day, 10, 0, tzinfo=UTC))
        assert " 0 re-dated" in cli("enroll").out  # nothing moves on its own

    for day in (3, 4, 5):
        on(day)
    # Thu 5 March: Ana finishes basics in Slack, a day late. Practice is due 3 working
    # days later, Tue 10 March (its own date, Fri 6, is earlier).
    with db.session() as session:
        me = session.scalars(select(Person).where(Person.email == "ana@x.io")).one()
        basics = assignment_of(db, "ana@x.io", "basics").id
        complete_assignment(session, actor=me, assignment_id=basics, clock=clock, source="slack")
    assert dates() == {"basics": date(2026, 3, 4), "practice": date(2026, 3, 10), "exam": None}
    for day in (6, 9, 10, 11, 12, 13, 16):
        on(day)
    # Mon 16 March: the LMS export says she did practice on Mon 9. Exam's own date, Tue 10,
    # has passed: it is due 3 working days after the day learnbot recorded it, Thu 19.
    done = write("done.csv", "email,item,completed_at,score\nana@x.io,practice,2026-03-09,\n")
    assert cli("import-completions", done).code == 0
    assert dates()["exam"] == date(2026, 3, 19)
    for day in (17, 18, 19):
        on(day)
    assert dates() == {
        "basics": date(2026, 3, 4),
        "practice": date(2026, 3, 10),
        "exam": date(2026, 3, 19),
    }
    # Each date was fixed once, from nothing, by the completion it waited for.
    entries = date_audits(db)
    assert [(e.details["item"], e.details["event"], e.details["before"]["due_date"],
             e.details["due"]) for e in entries] == [
        ("practice", "prerequisite", None, "2026-03-10"),
        ("exam", "prerequisite", None, "2026-03-19"),
    ]  # fmt: skip
    assert "prerequisite practice recorded done on 2026-03-16" in entries[1].reason


CHAIN_KEYS = ("basics", "practice", "exam")


def test_recertifying_a_prerequisite_leaves_its_dependants_alone(cli, write, clock, db):
    assert cli("load-config", write("programs.yml", CHAIN)).code == 0
    ana = "ana@x.io,Ana,,engineer,Web,2026-03-02,Europe/London,U0ANA"
    assert cli("import-people", write("people.csv", people_csv(ana))).code == 0
    first = write("done.csv", "email,item,completed_at,score\nana@x.io,basics,2026-03-02,\n")
    assert cli("import-completions", first).code == 0
    practice = assignment_of(db, "ana@x.io", "practice").due_date
    # A second completion of basics, as a renewal would bring: practice keeps its date.
    clock.set(datetime(2026, 3, 20, 10, 0, tzinfo=UTC))
    again = write("again.csv", "email,item,completed_at,score\nana@x.io,basics,2026-03-19,\n")
    assert cli("import-completions", again).code == 0
    assert assignment_of(db, "ana@x.io", "practice").due_date == practice == date(2026, 3, 6)
    assert len(date_audits(db)) == 1


# --- quiet days -----------------------------------------------------------------------------


@pytest.mark.slow
def test_demo_then_enrollment_on_the_next_days_re_dates_nothing(cli, db):
    assert cli("--at", DEMO_AT, "demo").code == 0
    before = open_due_dates(db)
    since = last_audit_id(db)
    for day in range(2, 8):
        result = cli("--at", f"2026-12-{day:02d}T12:00:00Z", "enroll")
        assert result.code == 0
        assert ", 0 re-dated," in result.out, result.out
    after = open_due_dates(db)
    assert {i: after[i] for i in before if i in after} == {
        i: due for i, due in before.items() if i in after
    }
    assert date_audits(db, after_id=since) == []


def test_load_config_dry_run_lists_the_items_that_would_get_a_new_due_date(cli, write, clock, db):
    clock.set(datetime(2026, 11, 2, 0, 30, tzinfo=UTC))
    assert cli("load-config", write("programs.yml", PROGRAMS)).code == 0
    assert cli("import-people", write("people.csv", people())).code == 0
    longer = PROGRAMS.replace("{item: compliance, required: true, due: 3}", "{item: compliance, "
                              "required: true, due: 15}")  # fmt: skip
    result = cli("load-config", "--dry-run", write("programs2.yml", longer))
    assert (
        "1 open item would get a new due date: lea@x.io compliance Thu 5 Nov 2026 -> "
        "Tue 24 Nov 2026 (curriculum)" in result.out
    )
    assert assignment_of(db, "lea@x.io", "compliance").due_date == d(5)
    # Once it is overdue, a change that leaves it overdue keeps its date and its ladder.
    clock.set(datetime(2026, 11, 30, 10, 0, tzinfo=UTC))
    result = cli("load-config", "--dry-run", write("programs2.yml", longer))
    assert "1 overdue item keep their due date and their place on the escalation ladder" in (
        result.out
    )


# --- upgrading an existing database -------------------------------------------------------

NEW_COLUMNS = (
    "due_role",
    "due_role_start",
    "due_start_day",
    "due_offset",
    "due_counted_from",
    "due_released_on",
    "due_notice",
)


def test_upgrading_keeps_every_stored_date_and_sends_nothing(cli, write, clock, db):
    clock.set(datetime(2026, 11, 3, 0, 30, tzinfo=UTC))  # Mon 2 in New York, Tue 3 in London
    assert cli("load-config", write("programs.yml", PROGRAMS)).code == 0
    assert cli("import-people", write("people.csv", people())).code == 0
    # A database as the revision before 0009 left it, with the dates the old rules
    # drifted to.
    before_0009 = ScriptDirectory.from_config(alembic_config(db.engine)).get_revision("0009")
    alembic_command.downgrade(alembic_config(db.engine), str(before_0009.down_revision))
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE assignment SET due_date = '2026-11-09' WHERE required"))
        columns = {column["name"] for column in inspect(conn).get_columns("assignment")}
        assert not columns & set(NEW_COLUMNS)
    db.upgrade()
    assert db.is_current()
    lea = assignment_of(db, "lea@x.io", "compliance")
    assert (lea.due_role, lea.due_role_start, lea.due_start_day, lea.due_offset) == (
        "analyst",
        d(2),
        0,
        3,
    )
    # The day each was assigned, in the person's own zone.
    assert lea.due_counted_from == d(3)
    assert assignment_of(db, "sam@x.io", "extra").due_counted_from == d(2)
    before = open_due_dates(db)
    for day in (3, 4, 5, 6, 9, 10):
        result = cli("--at", f"2026-11-{day:02d}T12:00:00Z", "enroll")
        assert ", 0 re-dated," in result.out
    assert open_due_dates(db) == before
    assert lea.due_date == d(9)
    with db.session() as session:
        assert session.scalars(select(Assignment.due_notice)).all() == [None, None, None]
        assert session.execute(text("SELECT count(*) FROM outbox")).scalar() == 0


# --- sixty days at the example company ---------------------------------------------------


@pytest.mark.slow
def test_sixty_days_of_hourly_sweeps_at_the_example_company(cli, write, clock, db, fake, ticker):
    """Enroll and sweep every hour for 60 days, with an LMS import, a role change and a
    curriculum change on the way: no open item's due date moves without one audit entry
    naming the event, no sweep re-dates anything, and every required item left undone
    reaches its manager (or skip-level, or the admins) on the day its learner was told."""
    _no_fsync(db)
    start = datetime(2026, 11, 30, 0, 30, tzinfo=UTC)
    clock.set(start)
    assert cli("load-config", str(EXAMPLES / "programs.yml")).code == 0
    assert cli("import-people", str(EXAMPLES / "people.csv")).code == 0
    people = (EXAMPLES / "people.csv").read_text(encoding="utf-8")
    liam = next(line for line in people.splitlines() if line.startswith("liam.murphy@"))
    programs = (EXAMPLES / "programs.yml").read_text(encoding="utf-8")
    quiz = "{item: security-quiz, required: true, due: 7}"
    events = {
        datetime(2026, 12, 2, 3, 0, tzinfo=UTC): (
            "import-completions",
            str(EXAMPLES / "completions.csv"),
        ),
        datetime(2026, 12, 18, 3, 0, tzinfo=UTC): (
            "import-people",
            write("people2.csv", people.replace(liam, liam.replace(",engineer,", ",support,"))),
        ),
        datetime(2027, 1, 6, 3, 0, tzinfo=UTC): (
            "load-config",
            write("programs2.yml", programs.replace(quiz, quiz.replace("7", "12"), 1)),
        ),
    }
    end = start + timedelta(days=60)
    redated_by_events = 0
    at = start
    while at < end:
        for when, command in list(events.items()):
            if when <= at:
                clock.set(max(when, clock.now()))
                before, since = open_due_dates(db), last_audit_id(db)
                assert cli(*command).code == 0, command
                entries = date_audits(db, after_id=since)
                assert unexplained_changes(before, open_due_dates(db), entries) == {}, command
                redated_by_events += len(entries)
                del events[when]
        before, since = open_due_dates(db), last_audit_id(db)
        result = ticker.tick(at)
        assert result.enrollment is not None and result.enrollment.updated == 0, at
        assert (
            unexplained_changes(before, open_due_dates(db), date_audits(db, after_id=since)) == {}
        )
        at += timedelta(hours=1)
    assert redated_by_events > 0

    # Every step that tells someone else, due before the end, came on the announced day.
    checked = check_ladder_against_slack(db, fake, end=end)
    assert checked["manager"] >= 50 and checked["skip_level"] >= 50, checked


def _no_fsync(db) -> None:
    """SQLite without waiting for the disk on each of the run's thousands of commits
    (what is tested is which rows are written, not whether they survive a power cut)."""
    if db.engine.dialect.name != "sqlite":
        return
    db.engine.dispose()
    event.listen(db.engine, "connect", lambda conn, _: conn.execute("PRAGMA synchronous=OFF"))
