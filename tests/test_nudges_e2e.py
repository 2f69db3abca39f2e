"""Nudges end to end: planner, outbox and sender against the fake Slack Web API."""

import os
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from models import Assignment, Person
from platforms.slack.transport import metadata_key
from schedules.lock import SchedulerLock
from schedules.tick import sweep
from tests.conftest import ROOT
from tests.fakes.slack_api import FakeSlack
from tests.helpers import PROGRAMS, people_csv
from tests.outbox_support import deliveries, make_sender, outbox_key

ZONES = {
    "U0LA": "America/Los_Angeles",
    "U0LDN": "Europe/London",
    "U0BLR": "Asia/Kolkata",
    "U0SYD": "Australia/Sydney",
    "U0DONE": "Europe/London",
}
PEOPLE = (
    "la@x.io,Lou,,engineer,Web,2026-03-02,America/Los_Angeles,U0LA",
    "ldn@x.io,Lee,la@x.io,engineer,Web,2026-03-02,Europe/London,U0LDN",
    "blr@x.io,Bala,la@x.io,engineer,Web,2026-03-02,Asia/Kolkata,U0BLR",
    "syd@x.io,Sid,la@x.io,engineer,Web,2026-03-02,Australia/Sydney,U0SYD",
    "done@x.io,Dee,la@x.io,engineer,Web,2026-03-02,Europe/London,U0DONE",
)


@pytest.fixture
def fake(clock):
    with FakeSlack(time_source=lambda: clock.now().timestamp()) as server:
        yield server


@pytest.fixture
def org(cli, write, clock, db):
    clock.set(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))  # 2 March in every zone
    assert cli("load-config", write("programs.yml", PROGRAMS)).code == 0
    assert cli("import-people", write("people.csv", people_csv(*PEOPLE))).code == 0
    with db.session() as session:
        # Dee has finished everything: nothing to say, so no DM, ever.
        done_id = session.scalars(select(Person.id).where(Person.email == "done@x.io")).one()
        session.execute(
            update(Assignment).where(Assignment.person_id == done_id).values(status="completed")
        )


def run_ticks(db, fake, clock, start: datetime, end: datetime, step=timedelta(minutes=10)):
    """Tick like the scheduler: plan, then drain, every ``step`` of virtual time."""
    sender = make_sender(db, fake, clock)
    lock = SchedulerLock(db)
    at = start
    try:
        while at < end:
            clock.set(max(at, clock.now()))
            sweep(db, clock, sender=sender, lock=lock)
            at += step
    finally:
        lock.release()


def dm_local_times(fake: FakeSlack) -> dict[str, list[datetime]]:
    """Local send times of the delivered digest DMs, per recipient."""
    result = defaultdict(list)
    for call in fake.delivered("chat.postMessage"):
        if not (metadata_key(call.body) or "").startswith("digest:"):
            continue  # e.g. a manager's escalation DM
        channel = call.body["channel"]
        result[channel].append(datetime.fromtimestamp(call.at, tz=ZoneInfo(ZONES[channel])))
    return result


def working_days(first: date, last: date, holidays: set[date]) -> list[date]:
    days = []
    day = first
    while day <= last:
        if day.weekday() < 5 and day not in holidays:
            days.append(day)
        day += timedelta(days=1)
    return days


@pytest.mark.slow
def test_one_dm_per_local_working_day_at_send_time_across_zones_and_dst(org, db, fake, clock):
    # Two weeks around the US spring-forward (Sun 8 March) and two around Sydney's
    # fall-back (Sun 5 April). Nobody completes anything, so everyone always has
    # overdue required items to hear about.
    with db.session() as session:
        session.execute(
            update(Person).where(Person.email == "ldn@x.io").values(away_until=date(2026, 3, 10))
        )
    # Ticks start at 14:00 UTC on 2 March, when every send window is closed.
    run_ticks(
        db,
        fake,
        clock,
        datetime(2026, 3, 2, 14, 0, tzinfo=UTC),
        datetime(2026, 3, 14, 0, 0, tzinfo=UTC),
    )
    # From 14:00 UTC on 1 April: every send window is closed at that moment.
    run_ticks(
        db,
        fake,
        clock,
        datetime(2026, 4, 1, 14, 0, tzinfo=UTC),
        datetime(2026, 4, 9, 0, 0, tzinfo=UTC),
    )
    sent = dm_local_times(fake)
    assert [t for t in sent["U0DONE"] if t.month == 3] == []  # nothing due: no DM
    everywhere = {date(2026, 3, 6)}
    expected = {
        "U0LA": working_days(date(2026, 3, 2), date(2026, 3, 13), everywhere),
        # Away through Tue 10 March.
        "U0LDN": working_days(date(2026, 3, 11), date(2026, 3, 13), everywhere),
        # Wed 4 March is a holiday in India.
        "U0BLR": working_days(date(2026, 3, 3), date(2026, 3, 13), everywhere | {date(2026, 3, 4)}),
        "U0SYD": working_days(date(2026, 3, 3), date(2026, 3, 13), everywhere),
    }
    for channel, days in expected.items():
        first_fortnight = [t for t in sent[channel] if t.month == 3]
        assert [t.date() for t in first_fortnight] == days, channel
    april = {
        "U0LA": working_days(date(2026, 4, 1), date(2026, 4, 8), set()),
        "U0SYD": working_days(date(2026, 4, 2), date(2026, 4, 9), set()),  # a day ahead
        # Dee's second tier opens on day 31, Thu 2 April: now there is something to say.
        "U0DONE": working_days(date(2026, 4, 2), date(2026, 4, 8), set()),
    }
    for channel, days in april.items():
        assert [t.date() for t in sent[channel] if t.month == 4] == days, channel
    # Every DM went out at the first tick at or after 09:30 local, DST or not.
    for channel, times in sent.items():
        assert all(t.time().replace(second=0, microsecond=0) == time(9, 30) for t in times), (
            channel,
            [t.isoformat() for t in times if t.time() >= time(9, 31)],
        )
    # Exactly once each.
    assert all(count == 1 for count in deliveries(fake).values())


def test_dm_names_the_items_with_buttons(org, db, fake, clock):
    run_ticks(
        db,
        fake,
        clock,
        datetime(2026, 3, 3, 9, 30, tzinfo=UTC),
        datetime(2026, 3, 3, 9, 40, tzinfo=UTC),
    )
    [call] = fake.delivered("chat.postMessage")
    assert call.body["channel"] == "U0LDN"
    assert call.body["text"].startswith("Hi Lee.")
    assert "Welcome and introductions (1 working day overdue)" in call.body["text"]
    action_ids = {
        element["action_id"]
        for block in call.body["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    }
    assert {"digest_done", "digest_snooze", "digest_open"} <= action_ids
    assert outbox_key(call).startswith("digest:")


def sweep_env(database_url: str, fake: FakeSlack) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "test-secret",
        "SLACK_API_URL": fake.base_url,
        # Pacing is tested with a virtual clock elsewhere; real processes must not wait.
        "LEARNBOT_WORKSPACE_RATE_PER_MINUTE": "100000",
        "LEARNBOT_CHANNEL_INTERVAL_SECONDS": "0",
    }


def test_the_same_sweep_twice_delivers_each_dm_once(org, cli, fake, database_url):
    env = {
        k: v
        for k, v in sweep_env(database_url, fake).items()
        if k.startswith(("SLACK", "LEARNBOT", "DATABASE"))
    }
    at = "2026-03-03T09:35:00Z"
    first = cli("--at", at, "sweep", env=env)
    assert first.code == 0, first.err
    assert "1 digests planned" in first.out
    second = cli("--at", at, "sweep", env=env)
    assert "0 digests planned" in second.out
    assert list(deliveries(fake).values()) == [1]


@pytest.mark.slow
def test_two_sweeps_at_once_in_two_processes_deliver_each_dm_once(org, fake, database_url):
    env = sweep_env(database_url, fake)
    at = "2026-03-03T17:30:00Z"  # 09:30 in Los Angeles; every other window is closed
    command = [sys.executable, "bot.py", "--at", at, "sweep"]
    runs = [
        subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert deliveries(fake) == Counter({"digest:1:2026-03-03": 1})


def test_sweep_without_a_token_names_the_variable(org, cli):
    result = cli("sweep", env={"SLACK_BOT_TOKEN": "", "SLACK_SIGNING_SECRET": ""})
    assert result.code == 1
    assert "SLACK_BOT_TOKEN is not set" in result.err


def test_plan_only_sweep_needs_no_slack(org, cli, db):
    result = cli("--at", "2026-03-03T09:35:00Z", "sweep", "--plan-only")
    assert result.code == 0, result.err
    assert "1 digests planned" in result.out
    assert "pending" in cli("outbox").out


def test_a_clock_jump_of_three_days_sends_one_digest_not_three(org, db, fake, clock):
    # Down from Monday noon to Thursday morning: on restart Lee gets Thursday's digest
    # once; Tuesday's and Wednesday's are not replayed.
    run_ticks(
        db,
        fake,
        clock,
        datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
        datetime(2026, 3, 2, 12, 10, tzinfo=UTC),
    )
    run_ticks(
        db,
        fake,
        clock,
        datetime(2026, 3, 5, 9, 40, tzinfo=UTC),
        datetime(2026, 3, 5, 10, 40, tzinfo=UTC),
    )
    keys = [outbox_key(c) for c in fake.delivered("chat.postMessage")]
    assert keys == ["digest:2:2026-03-02", "digest:2:2026-03-05"]


@pytest.mark.slow
def test_a_three_day_outage_across_every_zone_replays_nothing(org, db, fake, clock):
    # Up on Monday from noon UTC (the setup's time) to 20:00 UTC, down until Thursday noon
    # UTC, then up to the next Monday noon UTC: the catch-up is each person's today only.
    run_ticks(db, fake, clock, clock.now(), datetime(2026, 3, 2, 20, 0, tzinfo=UTC))
    run_ticks(
        db,
        fake,
        clock,
        datetime(2026, 3, 5, 12, 0, tzinfo=UTC),
        datetime(2026, 3, 9, 12, 0, tzinfo=UTC),
    )

    digests = [
        k for k in (outbox_key(c) for c in fake.delivered("chat.postMessage")) if "digest:" in k
    ]
    assert len(digests) == len(set(digests))  # nothing twice
    days = {channel: [t.date() for t in times] for channel, times in dm_local_times(fake).items()}
    # Monday 2: London's and Los Angeles' windows came after noon UTC; Sydney's and
    # Bangalore's had passed. Thursday 5 at noon UTC: London's window (to 13:30) was open
    # and Los Angeles' to come; Bangalore's had closed. Friday 6 is a holiday everywhere;
    # Monday 9 comes for everyone but Los Angeles before noon UTC. Tuesday 3 and
    # Wednesday 4 are never replayed.
    assert days == {
        "U0LDN": [date(2026, 3, 2), date(2026, 3, 5), date(2026, 3, 9)],
        "U0LA": [date(2026, 3, 2), date(2026, 3, 5)],
        "U0BLR": [date(2026, 3, 9)],
        "U0SYD": [date(2026, 3, 9)],
    }
