"""A property-based (stateful) test of due dates over random days and events.

A learner in Sydney reports to a manager in Los Angeles (with US holidays), who reports
to a skip-level in London. Hypothesis interleaves days of sweeps with LMS imports and
Slack completions, role changes, role start changes, curriculum changes and extensions.
After every step:

* a due date changed exactly when a named event happened: one audit entry per change
  (old date, new date, the event), none without a change, and the item's ladder reset;
* no day of sweeps changed any due date;
* a learner was told each new date at most once;
* every manager and skip-level step whose day has passed reached the right person on
  the day the learner's digests announced, per the DMs the fake Slack received.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from contextlib import suppress
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import select, text
from sqlmodel import SQLModel

import bot
from learning.actions import InvalidInput, complete_assignment
from learning.clock import FrozenClock, local_date
from learning.extensions import extend
from models import Assignment, AssignmentStatus, Item, Person
from models.db import open_database
from platforms.slack.identity import known_caller
from tests.conftest import ON_POSTGRES
from tests.dates_support import (
    Ticker,
    check_ladder_against_slack,
    date_audits,
    digest_items,
    last_audit_id,
    open_due_dates,
    person_id,
    unexplained_changes,
)
from tests.fakes.slack_api import FakeSlack
from tests.helpers import people_csv

PROGRAMS = """
organisation: {name: Zones Co, timezone: Europe/London}
calendar:
  working_days: [mon, tue, wed, thu, fri]
  holidays:
    regions:
      us:
        timezones: [America/Los_Angeles]
        dates: [2026-03-10, 2026-03-17, 2026-03-20, 2026-03-27, 2026-04-03, 2026-04-14]
      au:
        timezones: [Australia/Sydney]
        dates: [2026-03-09, 2026-04-03, 2026-04-06]
channels: {admins: "#learnbot-admins"}
items:
  basics: {title: Basics, method: online, minutes: 20}
  quiz: {title: Quiz, method: assessment, minutes: 10, requires: [basics]}
  report: {title: Report, method: reading, minutes: 15}
  extra: {title: Extra, method: video, minutes: 5}
  ethics: {title: Ethics, method: reading, minutes: 10}
  safety: {title: Safety, method: online, minutes: 10}
programs:
  analyst:
    title: Analyst
    tiers:
      - key: first
        title: First weeks
        starts_on_day: 0
        items:
          - {item: basics, required: true, due: BASICS}
          - {item: quiz, required: true, due: 3}
          - {item: ethics, required: true, due: 5}
          - {item: safety, required: true, due: 8}
          - {item: extra, due: 4}
  auditor:
    title: Auditor
    tiers:
      - key: first
        title: First weeks
        starts_on_day: 0
        items:
          - {item: basics, required: true, due: 4}
          - {item: report, required: true, due: 2}
          - {item: quiz, required: true, due: 6}
          - {item: ethics, required: true, due: 3}
  boss:
    title: Manager
    tiers:
      - key: first
        title: First weeks
        starts_on_day: 0
        items:
          - {item: extra, due: 2}
"""
SKY = "sky@x.io,Sky Skip,,boss,Lead,2026-03-02,Europe/London,U0SKY"
MGR = "mgr@x.io,Max Manager,sky@x.io,boss,Ops,2026-03-02,America/Los_Angeles,U0MGR"
LEA = "lea@x.io,Lea Learner,mgr@x.io,{role},Ops,{start},Australia/Sydney,U0LEA"
SYDNEY = "Australia/Sydney"
START = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)  # Monday morning in Sydney
# Sweeps at each zone's 09:30, when its window opens: every digest and escalation DM is
# planned and sent at its first chance, as an hourly scheduler would.
ZONES = (SYDNEY, "America/Los_Angeles", "Europe/London")
TAIL_DAYS = 16  # quiet days at the end of each example: the ladder climbs to the top
WAIT = st.integers(0, 5)  # days of sweeps before an event
STEPS_CHECKED: dict[str, int] = {}


class DueDates(RuleBasedStateMachine):
    """The state: one fresh database, fake Slack and clock per example."""

    template: Path | None = None
    database_url: str = ""

    @initialize()
    def start(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="learnbot-dates-")
        if ON_POSTGRES:
            url = self.database_url
            db = open_database(url)
            tables = [t.name for t in SQLModel.metadata.sorted_tables]
            with db.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            assert self.template is not None
            path = Path(self.folder) / "learnbot.db"
            shutil.copy(self.template, path)
            url = f"sqlite:///{path}"
            db = open_database(url)
        self.url, self.db = url, db
        self.clock = FrozenClock(START)
        self.fake = FakeSlack(time_source=lambda: self.clock.now().timestamp()).__enter__()
        self.ticker = Ticker(db, self.fake, self.clock)
        self.role, self.start_day, self.basics = "analyst", date(2026, 3, 2), 2
        self.cli("load-config", self.file("programs.yml", self.programs()))
        self.cli("import-people", self.file("people.csv", self.people()))
        self.lea = person_id(db, "lea@x.io")
        self.events = 0

    def teardown(self) -> None:
        if hasattr(self, "ticker"):
            try:
                # A quiet stretch: what is left undone climbs the ladder to the top.
                self.wait(TAIL_DAYS)
                self.the_ladder_told_the_announced_people_on_the_announced_days()
            finally:
                self.close()

    def close(self) -> None:
        if hasattr(self, "ticker"):
            self.ticker.close()
            self.fake.__exit__(None, None, None)
            self.db.dispose()
            shutil.rmtree(self.folder, ignore_errors=True)

    # --- helpers ---------------------------------------------------------------------

    def cli(self, *args: str) -> str:
        out, err = io.StringIO(), io.StringIO()
        code = bot.main(
            list(args), env={"DATABASE_URL": self.url}, clock=self.clock, out=out, err=err
        )
        assert code == 0, out.getvalue() + err.getvalue()
        return out.getvalue()

    def file(self, name: str, content: str) -> str:
        path = Path(self.folder) / name
        path.write_text(content, encoding="utf-8")
        return str(path)

    def programs(self) -> str:
        return PROGRAMS.replace("BASICS", str(self.basics))

    def people(self) -> str:
        return people_csv(SKY, MGR, LEA.format(role=self.role, start=self.start_day.isoformat()))

    def today(self) -> date:
        return local_date(self.clock.now(), SYDNEY)

    def open_items(self, *, dated: bool = False) -> list[tuple[int, str, date | None]]:
        with self.db.session() as session:
            rows = session.execute(
                select(Assignment.id, Item.key, Assignment.due_date)
                .join(Item, Item.id == Assignment.item_id)
                .where(
                    Assignment.person_id == self.lea,
                    Assignment.status == AssignmentStatus.OPEN,
                    Assignment.required,
                )
                .order_by(Assignment.id)
            ).all()
        return [tuple(row) for row in rows if row[2] is not None or not dated]  # type: ignore[misc]

    def event(self, action) -> None:  # type: ignore[no-untyped-def]
        """Run an event between sweeps; every date it moves is audited once, and reset."""
        self.clock.advance(timedelta(minutes=7))
        before, since = open_due_dates(self.db), last_audit_id(self.db)
        action()
        after = open_due_dates(self.db)
        entries = date_audits(self.db, after_id=since)
        assert unexplained_changes(before, after, entries) == {}
        changed = {i for i in before if i in after and before[i] != after[i]}
        audited = [int(e.details["assignment_id"]) for e in entries]
        assert sorted(audited) == sorted(changed), entries  # none without a change
        with self.db.session() as session:
            for assignment in session.scalars(
                select(Assignment).where(Assignment.id.in_(changed))  # type: ignore[attr-defined]
            ):
                assert (
                    assignment.ladder_step,
                    assignment.ladder_paused_days,
                    assignment.ladder_next_on,
                ) == (0, 0, None)
        self.events += len(changed)

    # --- rules -------------------------------------------------------------------------

    def wait(self, days: int) -> None:
        """``days`` days of sweeps, up to midnight UTC: no due date may move."""
        if days == 0:
            return
        before, since = open_due_dates(self.db), last_audit_id(self.db)
        end = datetime.combine(
            self.clock.now().date() + timedelta(days=days), datetime.min.time(), tzinfo=UTC
        )
        self.ticker.run_send_times(end, ZONES)
        self.clock.set(max(self.clock.now(), end))
        after = open_due_dates(self.db)
        assert {i: after[i] for i in before if i in after} == {
            i: due for i, due in before.items() if i in after
        }, "a day of sweeps moved a due date"
        assert date_audits(self.db, after_id=since) == []

    @rule(days=st.integers(1, 8))
    def days_pass(self, days: int) -> None:
        self.wait(days)

    @rule(
        wait=WAIT,
        pick=st.integers(0, 5),
        back=st.integers(0, 20),
        via=st.sampled_from(["lms", "slack"]),
    )
    def complete(self, wait: int, pick: int, back: int, via: str) -> None:
        self.wait(wait)
        items = self.open_items()
        if not items:
            return  # all done: nothing to complete
        assignment_id, key, _ = items[pick % len(items)]
        if via == "lms":
            done = max(self.today() - timedelta(days=back), date(2026, 3, 1))
            csv = f"email,item,completed_at,score\nlea@x.io,{key},{done.isoformat()},\n"
            self.event(lambda: self.cli("import-completions", self.file("done.csv", csv)))
            return

        def slack() -> None:
            with self.db.session() as session:
                lea = session.get(Person, self.lea)
                assert lea is not None
                complete_assignment(
                    session,
                    actor=lea,
                    assignment_id=assignment_id,
                    clock=self.clock,
                    source="slack",
                )

        self.event(slack)

    @rule(wait=WAIT)
    def role_changes(self, wait: int) -> None:
        self.wait(wait)
        self.role = "auditor" if self.role == "analyst" else "analyst"
        self.event(lambda: self.cli("import-people", self.file("people.csv", self.people())))

    @rule(wait=WAIT, shift=st.integers(-6, 10).filter(bool))
    def role_start_changes(self, wait: int, shift: int) -> None:
        self.wait(wait)
        self.start_day += timedelta(days=shift)
        self.event(lambda: self.cli("import-people", self.file("people.csv", self.people())))

    @rule(wait=WAIT, offset=st.integers(1, 9))
    def curriculum_changes(self, wait: int, offset: int) -> None:
        self.wait(wait)
        if offset == self.basics:
            return
        self.basics = offset
        self.event(lambda: self.cli("load-config", self.file("programs.yml", self.programs())))

    @rule(wait=WAIT, pick=st.integers(0, 5), days=st.integers(1, 15))
    def manager_extends(self, wait: int, pick: int, days: int) -> None:
        self.wait(wait)
        items = self.open_items(dated=True)
        if not items:
            return  # nothing with a date to extend
        assignment_id, _, _ = items[pick % len(items)]

        def extend_it() -> None:
            with self.db.session() as session:
                manager = known_caller(session, "U0MGR", admins=())
                with suppress(InvalidInput):  # already its due date: refused, no change
                    extend(
                        session,
                        clicker=manager,
                        assignment_id=assignment_id,
                        new_due=self.today() + timedelta(days=days),
                        reason="more time",
                        clock=self.clock,
                    )

        self.event(extend_it)

    # --- what must always hold ---------------------------------------------------------------

    @invariant()
    def each_new_date_is_told_at_most_once(self) -> None:
        if not hasattr(self, "db"):
            return
        told: dict[tuple[int, date], int] = {}
        for items in digest_items(self.db, self.fake, self.lea).values():
            for item in items.values():
                if item.due_changed:
                    key = (item.assignment_id, item.due_date)
                    told[key] = told.get(key, 0) + 1
        # A date may come back (a role changed and changed back): each audited change
        # to it may be told once, never more.
        changes: dict[tuple[int, date], int] = {}
        for entry in date_audits(self.db):
            due = entry.details.get("due")
            if entry.details.get("event") and due:
                key = (
                    int(entry.details.get("assignment_id") or entry.subject),
                    date.fromisoformat(due),
                )
                changes[key] = changes.get(key, 0) + 1
        assert all(count <= changes.get(key, 0) for key, count in told.items()), (told, changes)

    @invariant()
    def the_ladder_told_the_announced_people_on_the_announced_days(self) -> None:
        if hasattr(self, "db"):
            checked = check_ladder_against_slack(self.db, self.fake, end=self.clock.now())
            for step, count in checked.items():  # the most seen in any one example
                STEPS_CHECKED[step] = max(STEPS_CHECKED.get(step, 0), count)


@pytest.mark.slow
def test_due_dates_change_only_through_named_events_and_the_ladder_keeps_its_word(
    request: pytest.FixtureRequest,
) -> None:
    if ON_POSTGRES:
        DueDates.database_url = request.getfixturevalue("database_url")
    else:
        DueDates.template = request.getfixturevalue("_sqlite_template")
    STEPS_CHECKED.clear()
    machine = DueDates.TestCase
    machine.settings = settings(
        max_examples=5,
        stateful_step_count=8,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    machine().runTest()
    # Not vacuous: some examples ran long enough for the manager and skip-level steps.
    assert STEPS_CHECKED.get("manager", 0) > 0 and STEPS_CHECKED.get("skip_level", 0) > 0
