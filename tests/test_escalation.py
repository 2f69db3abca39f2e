"""The escalation ladder end to end: learner digest marks, manager and skip-level DMs.

Planner, escalation job, outbox and sender run as the scheduler runs them (a sweep per
virtual hour), delivering to the fake Slack Web API; the expectations are the dates and
recipients a person would see.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from learning.digest import Digest
from models import (
    Assignment,
    AssignmentStatus,
    AuditEntry,
    ExtensionRequest,
    Item,
    OutboxMessage,
    Person,
)
from platforms.slack.transport import metadata_key
from schedules.escalations import plan_escalations
from schedules.lock import SchedulerLock
from schedules.tick import sweep
from tests.fakes.slack_api import FakeSlack
from tests.helpers import people_csv
from tests.outbox_support import make_sender

# One required item due on day 3 of the path; a suggested one; a holiday on Wed 11 Nov.
LADDER_PROGRAMS = """
organisation:
  name: Ladder Co
  timezone: Europe/London
calendar:
  working_days: [mon, tue, wed, thu, fri]
  holidays:
    everywhere: [2026-11-11]
channels:
  admins: "#learnbot-admins"
items:
  compliance:
    title: Compliance essentials
    method: online
    minutes: 30
  extra:
    title: Extra reading
    method: reading
    minutes: 20
programs:
  analyst:
    title: Analyst
    tiers:
      - key: first-30
        title: First 30 days
        starts_on_day: 0
        items:
          - {item: compliance, required: true, due: 3}
          - {item: extra, due: 2}
  boss:
    title: Manager
    tiers:
      - key: first-30
        title: First 30 days
        starts_on_day: 0
        items:
          - {item: extra, due: 2}
"""

# Lea reports to Max (London), who reports to Sam (New York). Everyone started on
# Mon 2 Nov 2026; the managers' paths have one suggested item: they are never chased.
PEOPLE = (
    "sam@x.io,Sam Skip,,boss,Lead,2026-11-02,America/New_York,U0SAM",
    "max@x.io,Max Manager,sam@x.io,boss,Ops,2026-11-02,Europe/London,U0MAX",
    "lea@x.io,Lea Learner,max@x.io,analyst,Ops,2026-11-02,Europe/London,U0LEA",
)
ZONES = {"U0SAM": "America/New_York", "U0MAX": "Europe/London", "U0LEA": "Europe/London"}
START = datetime(2026, 11, 2, 0, 30, tzinfo=UTC)


@pytest.fixture
def fake(clock):
    with FakeSlack(time_source=lambda: clock.now().timestamp()) as server:
        yield server


def load(cli, write, clock, *people: str, programs: str = LADDER_PROGRAMS) -> None:
    clock.set(START)
    loaded = cli("load-config", write("programs.yml", programs))
    assert loaded.code == 0, loaded.out + loaded.err
    imported = cli("import-people", write("people.csv", people_csv(*people)))
    assert imported.code == 0, imported.out + imported.err


def run_hours(db, fake, clock, until: datetime, *, start: datetime | None = None) -> None:
    """A sweep (enroll, plan, escalate, deliver) at half past every hour."""
    sender = make_sender(db, fake, clock)
    lock = SchedulerLock(db)
    at = start or clock.now()
    try:
        while at < until:
            clock.set(max(at, clock.now()))
            sweep(db, clock, sender=sender, lock=lock)
            at += timedelta(hours=1)
    finally:
        lock.release()


def delivered(fake: FakeSlack, prefix: str) -> dict[str, list[tuple[date, dict[str, Any]]]]:
    """Delivered messages whose outbox key starts with ``prefix``: channel -> (local date, body)."""
    result: dict[str, list[tuple[date, dict[str, Any]]]] = defaultdict(list)
    for call in fake.delivered("chat.postMessage"):
        if not (metadata_key(call.body) or "").startswith(prefix):
            continue
        channel = call.body["channel"]
        zone = ZoneInfo(ZONES.get(channel, "Europe/London"))
        result[channel].append((datetime.fromtimestamp(call.at, tz=zone).date(), call.body))
    return result


def digest_items(db, email: str, item_key: str) -> dict[date, Any]:
    """The planned digests' facts about one item: local date -> DigestItem."""
    with db.session() as session:
        person_id = session.scalars(select(Person.id).where(Person.email == email)).one()
        rows = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.kind == "digest", OutboxMessage.person_id == person_id
            )
        ).all()
    found = {}
    for row in rows:
        digest = Digest.from_json(row.payload["digest"])
        for item in digest.items:
            if item.key == item_key:
                found[digest.local_date] = item
    return found


def assignment_of(db, email: str, item_key: str) -> Assignment:
    with db.session() as session:
        return session.scalars(
            select(Assignment)
            .join(Person, Person.id == Assignment.person_id)
            .join(Item, Item.id == Assignment.item_id)
            .where(Person.email == email, Item.key == item_key)
        ).one()


def text_of(body: dict[str, Any]) -> str:
    return "\n".join(block["text"]["text"] for block in body.get("blocks", []) if block.get("text"))


def d(day: int) -> date:
    return date(2026, 11, day)


# --- the timeline ------------------------------------------------------------------------


@pytest.mark.slow
def test_the_ladder_day_by_day_across_a_weekend_and_a_holiday(cli, write, clock, db, fake):
    load(cli, write, clock, *PEOPLE)
    assert assignment_of(db, "lea@x.io", "compliance").due_date == d(5)  # Thu 5 Nov

    run_hours(db, fake, clock, datetime(2026, 11, 24, 0, 0, tzinfo=UTC))

    # Lea's digests: reminders 3 working days before (Mon 2) and on the due date (Thu 5);
    # from 3 working days overdue (Tue 10) a warning naming the manager's date, Fri 13
    # (5 working days: Wed 11 is a holiday), then the skip-level's, Fri 20.
    seen = digest_items(db, "lea@x.io", "compliance")
    assert sorted(day for day, item in seen.items() if item.reminder) == [d(2), d(5)]
    warned = sorted(day for day, item in seen.items() if item.warned)
    assert warned[0] == d(10)
    notices = {day: (item.next_notice_to, item.next_notice_on) for day, item in seen.items()}
    assert notices[d(10)] == notices[d(12)] == ("manager", d(13))
    assert notices[d(13)] == notices[d(19)] == ("skip_level", d(20))
    # On Fri 20 Lea's digest (09:30 London) comes before Sam's morning in New York: he
    # is told later that day, as it says. From then on nobody is left to tell.
    assert notices[d(20)] == ("skip_level", d(20))
    assert notices[d(23)] == (None, None)
    assert d(11) not in seen and d(14) not in seen  # holiday, Saturday: no digest
    dms = dict(delivered(fake, "digest:")["U0LEA"])
    assert "your manager will be told on *Fri 13 Nov*" in text_of(dms[d(10)])
    assert "your manager's manager will be told on *Fri 20 Nov*" in text_of(dms[d(16)])

    # The manager is told once, on Fri 13 Nov; the skip-level once, on Fri 20 Nov in
    # New York, and is told who was told before. Nothing else escalates.
    escalations = delivered(fake, "escalation:")
    assert set(escalations) == {"U0MAX", "U0SAM"}
    assert [day for day, _ in escalations["U0MAX"]] == [d(13)]
    assert [day for day, _ in escalations["U0SAM"]] == [d(20)]
    max_text = text_of(escalations["U0MAX"][0][1])
    assert "Lea Learner" in max_text and "Compliance essentials" in max_text
    assert "5 working days overdue" in max_text
    assert "Extra reading" not in max_text  # suggested items never climb
    sam_text = text_of(escalations["U0SAM"][0][1])
    assert "10 working days overdue" in sam_text
    assert "still open after Max Manager was" in sam_text
    # Sam's DM came at Sam's own send time (09:30 in New York), not London's.
    sam_call = next(
        c
        for c in fake.delivered("chat.postMessage")
        if (metadata_key(c.body) or "").startswith("escalation:") and c.body["channel"] == "U0SAM"
    )
    local = datetime.fromtimestamp(sam_call.at, tz=ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) >= (9, 30) and local.hour < 14
    # Every step is in the audit log.
    with db.session() as session:
        actions = session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.action.startswith("escalation."))
            .order_by(AuditEntry.id)
        ).all()
    assert actions == ["escalation.manager", "escalation.skip_level"]


# --- what stops or moves the ladder -------------------------------------------------------


def escalation_days(fake: FakeSlack) -> dict[str, list[date]]:
    return {ch: [day for day, _ in msgs] for ch, msgs in delivered(fake, "escalation:").items()}


@pytest.mark.slow
def test_completing_after_the_manager_step_stops_the_climb(cli, write, clock, db, fake):
    load(cli, write, clock, *PEOPLE)
    run_hours(db, fake, clock, datetime(2026, 11, 14, 0, 0, tzinfo=UTC))
    assert escalation_days(fake) == {"U0MAX": [d(13)]}

    assert cli("import-completions", write("done.csv", COMPLETION)).code == 0
    run_hours(db, fake, clock, datetime(2026, 11, 28, 0, 0, tzinfo=UTC))

    assert escalation_days(fake) == {"U0MAX": [d(13)]}  # no skip-level, ever


COMPLETION = "email,item,completed_at\nlea@x.io,compliance,2026-11-13T20:00:00Z\n"


@pytest.mark.slow
def test_an_extension_restarts_the_ladder_from_the_new_date(cli, write, clock, db, fake):
    load(cli, write, clock, *PEOPLE)
    run_hours(db, fake, clock, datetime(2026, 11, 14, 0, 0, tzinfo=UTC))
    assert escalation_days(fake) == {"U0MAX": [d(13)]}
    # Max extends the due date to Mon 16 Nov (what the Extend button does).
    extend(db, "lea@x.io", "compliance", d(16))

    run_hours(db, fake, clock, datetime(2026, 11, 28, 0, 0, tzinfo=UTC))

    # 5 working days after Mon 16 is Mon 23: the manager again; 10 would be Mon 30.
    assert escalation_days(fake) == {"U0MAX": [d(13), d(23)]}


def extend(db, email: str, item_key: str, new_due: date) -> None:
    assignment = assignment_of(db, email, item_key)
    with db.session() as session:
        session.execute(
            update(Assignment)
            .where(Assignment.id == assignment.id)
            .values(due_date=new_due, due_pinned=True, ladder_step=0, ladder_paused_days=0)
        )


@pytest.mark.slow
def test_an_open_extension_request_pauses_the_ladder(cli, write, clock, db, fake):
    load(cli, write, clock, *PEOPLE)
    run_hours(db, fake, clock, datetime(2026, 11, 12, 0, 0, tzinfo=UTC))  # to Wed 11
    lea = assignment_of(db, "lea@x.io", "compliance")
    with db.session() as session:
        session.add(
            ExtensionRequest(
                assignment_id=lea.id,
                person_id=lea.person_id,
                proposed_due=d(30),
                reason="on leave",
                requested_at=clock.now(),
                requested_on=d(11),
            )
        )

    run_hours(db, fake, clock, datetime(2026, 11, 17, 0, 0, tzinfo=UTC))  # through Mon 16

    assert escalation_days(fake) == {}  # Fri 13 came and went: paused
    seen = digest_items(db, "lea@x.io", "compliance")
    assert seen[d(13)].extension_requested


@pytest.mark.slow
def test_an_excused_item_stops_the_ladder(cli, write, clock, db, fake):
    load(cli, write, clock, *PEOPLE)
    run_hours(db, fake, clock, datetime(2026, 11, 14, 0, 0, tzinfo=UTC))
    lea = assignment_of(db, "lea@x.io", "compliance")
    with db.session() as session:
        session.execute(
            update(Assignment)
            .where(Assignment.id == lea.id)
            .values(status=AssignmentStatus.WAIVED, waived_reason="covered by prior role")
        )

    run_hours(db, fake, clock, datetime(2026, 11, 28, 0, 0, tzinfo=UTC))

    assert escalation_days(fake) == {"U0MAX": [d(13)]}


# --- bundling and idempotency --------------------------------------------------------------


TWO_REPORTS = (
    *PEOPLE,
    "leo@x.io,Leo Learner,max@x.io,analyst,Ops,2026-11-02,Europe/London,U0LEO",
)


@pytest.mark.slow
def test_two_reports_overdue_the_same_day_make_one_manager_dm(cli, write, clock, db, fake):
    load(cli, write, clock, *TWO_REPORTS)
    run_hours(db, fake, clock, datetime(2026, 11, 13, 9, 0, tzinfo=UTC))
    # The 09:30 sweep of Fri 13 Nov, run twice, then the rest of the day.
    clock.set(datetime(2026, 11, 13, 9, 30, tzinfo=UTC))
    sender = make_sender(db, fake, clock)
    lock = SchedulerLock(db)
    try:
        sweep(db, clock, sender=sender, lock=lock)
        sweep(db, clock, sender=sender, lock=lock)
    finally:
        lock.release()
    run_hours(db, fake, clock, datetime(2026, 11, 14, 0, 0, tzinfo=UTC))

    to_max = delivered(fake, "escalation:")["U0MAX"]
    assert len(to_max) == 1
    text = text_of(to_max[0][1])
    assert "Lea Learner" in text and "Leo Learner" in text
    assert "2 people in your team" in text


# --- chain rules ----------------------------------------------------------------------------


@pytest.mark.slow
def test_an_inactive_manager_is_skipped_to_the_skip_level(cli, write, clock, db, fake):
    load(cli, write, clock, *PEOPLE)
    with db.session() as session:
        session.execute(update(Person).where(Person.email == "max@x.io").values(active=False))

    run_hours(db, fake, clock, datetime(2026, 11, 21, 0, 0, tzinfo=UTC))

    # Sam takes the manager step (Fri 13); nobody is above Sam, so the skip-level step
    # (Fri 20) goes to the admins' channel. Max, inactive, gets nothing.
    days = escalation_days(fake)
    assert days["U0SAM"] == [d(13)]
    assert "U0MAX" not in days
    assert days["#learnbot-admins"] == [d(20)]
    admins_text = text_of(delivered(fake, "escalation:")["#learnbot-admins"][0][1])
    assert "nobody in their management chain can be told" in admins_text


@pytest.mark.slow
def test_no_manager_at_all_goes_to_the_admins_channel(cli, write, clock, db, fake):
    load(cli, write, clock, "lea@x.io,Lea Learner,,analyst,Ops,2026-11-02,Europe/London,U0LEA")

    run_hours(db, fake, clock, datetime(2026, 11, 14, 0, 0, tzinfo=UTC))

    assert escalation_days(fake) == {"#learnbot-admins": [d(13)]}


@pytest.mark.slow
def test_a_manager_only_hears_about_their_own_chain(cli, write, clock, db, fake):
    # Two teams under Sam; Max and Mia each see only their own report. Nobody is ever
    # told about themselves (Sam's own overdue item goes to the admins, not to Sam).
    people = (
        "sam@x.io,Sam Skip,,analyst,Lead,2026-11-02,America/New_York,U0SAM",
        "max@x.io,Max Manager,sam@x.io,boss,Ops,2026-11-02,Europe/London,U0MAX",
        "mia@x.io,Mia Manager,sam@x.io,boss,Web,2026-11-02,Europe/London,U0MIA",
        "lea@x.io,Lea Learner,max@x.io,analyst,Ops,2026-11-02,Europe/London,U0LEA",
        "tom@x.io,Tom Learner,mia@x.io,analyst,Web,2026-11-02,Europe/London,U0TOM",
    )
    load(cli, write, clock, *people)

    run_hours(db, fake, clock, datetime(2026, 11, 14, 0, 0, tzinfo=UTC))

    sent = delivered(fake, "escalation:")
    assert "Lea Learner" in text_of(sent["U0MAX"][0][1])
    assert "Tom Learner" not in text_of(sent["U0MAX"][0][1])
    assert "Tom Learner" in text_of(sent["U0MIA"][0][1])
    assert "Lea Learner" not in text_of(sent["U0MIA"][0][1])
    assert "U0SAM" not in sent  # Sam's own item: never to Sam
    assert "Sam Skip" in text_of(sent["#learnbot-admins"][0][1])


# --- the bookmark: quiet ticks skip items whose next step is days away ---------------------


def candidates_at(db, clock, at: datetime) -> int:
    """How many items the escalation job looks at, at ``at`` (a send window is open)."""
    clock.set(at)
    return plan_escalations(db, clock).candidates


def through_the_manager_step(cli, write, clock, db, fake) -> None:
    """Lea's item is told to Max on Fri 13; the skip-level step (10 working days, Fri
    20 with the holiday) is bookmarked on Thu 19, its date counted without holidays."""
    load(cli, write, clock, *PEOPLE)
    run_hours(db, fake, clock, datetime(2026, 11, 14, 0, 0, tzinfo=UTC))
    assert escalation_days(fake) == {"U0MAX": [d(13)]}
    lea = assignment_of(db, "lea@x.io", "compliance")
    assert (lea.ladder_next_on, lea.ladder_next_due) == (d(19), d(5))


@pytest.mark.slow
def test_a_quiet_tick_skips_items_until_their_next_step_can_be_reached(cli, write, clock, db, fake):
    through_the_manager_step(cli, write, clock, db, fake)
    # 15:00 UTC: New York's send window is open, so the job runs its query.
    assert candidates_at(db, clock, datetime(2026, 11, 16, 15, 0, tzinfo=UTC)) == 0
    assert candidates_at(db, clock, datetime(2026, 11, 18, 15, 0, tzinfo=UTC)) == 1  # a day early
    run_hours(db, fake, clock, datetime(2026, 11, 24, 0, 0, tzinfo=UTC))
    assert escalation_days(fake) == {"U0MAX": [d(13)], "U0SAM": [d(20)]}


@pytest.mark.slow
def test_a_due_date_moved_earlier_is_escalated_from_the_new_date(cli, write, clock, db, fake):
    through_the_manager_step(cli, write, clock, db, fake)
    # Pinned to Fri 30 Oct by a direct update that leaves the bookmark alone: ten
    # working days after it is Mon 16, before the bookmark.
    lea = assignment_of(db, "lea@x.io", "compliance")
    with db.session() as session:
        session.execute(
            update(Assignment)
            .where(Assignment.id == lea.id)
            .values(due_date=date(2026, 10, 30), due_pinned=True)
        )

    run_hours(db, fake, clock, datetime(2026, 11, 17, 0, 0, tzinfo=UTC))

    assert escalation_days(fake) == {"U0MAX": [d(13)], "U0SAM": [d(16)]}


@pytest.mark.slow
def test_a_steeper_ladder_in_a_new_configuration_applies_at_once(cli, write, clock, db, fake):
    through_the_manager_step(cli, write, clock, db, fake)
    steeper = LADDER_PROGRAMS.replace(
        "channels:",
        "escalation:\n  steps:\n    - {after_overdue: 3, notify: learner}\n"
        "    - {after_overdue: 5, notify: manager}\n"
        "    - {after_overdue: 6, notify: skip_level}\nchannels:",
    )
    assert cli("load-config", write("programs.yml", steeper)).code == 0
    assert assignment_of(db, "lea@x.io", "compliance").ladder_next_on is None

    run_hours(db, fake, clock, datetime(2026, 11, 17, 0, 0, tzinfo=UTC))

    # Six working days after Thu 5 (Wed 11 a holiday) is Mon 16, not the old Fri 20.
    assert escalation_days(fake) == {"U0MAX": [d(13)], "U0SAM": [d(16)]}
