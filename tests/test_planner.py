"""The nudge planner: who gets a digest, when, and what it lists."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from learning.paths import current_settings
from learning.planner import PlanStats, plan_digests
from learning.snooze import SnoozeRefused, snooze, snooze_end
from models import Assignment, Item, OutboxMessage, Person
from tests.helpers import PROGRAMS, drop_slack_account, people_csv

# Everyone started on Mon 2 March 2026; 'intro' (required) is due that day.
PEOPLE = (
    "la@x.io,Lou Angeles,,engineer,Web,2026-03-02,America/Los_Angeles,U0LA",
    "ldn@x.io,Lee London,la@x.io,engineer,Web,2026-03-02,Europe/London,U0LDN",
    "blr@x.io,Bala Kolkata,la@x.io,engineer,Web,2026-03-02,Asia/Kolkata,U0BLR",
    "syd@x.io,Sid Sydney,la@x.io,engineer,Web,2026-03-02,Australia/Sydney,U0SYD",
)


@pytest.fixture
def org(cli, write, clock):
    clock.set(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))  # 2 March in all four zones
    assert cli("load-config", write("programs.yml", PROGRAMS)).code == 0
    assert cli("import-people", write("people.csv", people_csv(*PEOPLE))).code == 0


def plan(db, at: datetime, *, record: bool = True) -> dict[str, list[str]]:
    """Plan at ``at``: {slack id: [item keys]}; planned digests are recorded as sent."""
    with db.session() as session:
        settings = current_settings(session)
        planned = list(plan_digests(session, now=at, settings=settings))
        if record:
            for p in planned:
                session.add(
                    OutboxMessage(
                        key=p.digest.key,
                        kind="digest",
                        recipient_kind="person",
                        recipient=p.channel,
                        payload={},
                        not_before=at,
                        created_at=at,
                    )
                )
    return {p.channel: [item.key for item in p.digest.items] for p in planned}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_each_person_gets_the_digest_at_their_own_local_send_time(org, db):
    # Tuesday 3 March 2026. 09:30 local is 04:00 UTC in Kolkata, 09:30 in London,
    # 17:30 in Los Angeles (PST) and 22:30 the day before in Sydney (AEDT).
    assert plan(db, utc(2026, 3, 2, 22, 29)) == {}
    assert list(plan(db, utc(2026, 3, 2, 22, 30))) == ["U0SYD"]
    assert plan(db, utc(2026, 3, 3, 3, 59)) == {}
    assert list(plan(db, utc(2026, 3, 3, 4, 0))) == ["U0BLR"]
    assert list(plan(db, utc(2026, 3, 3, 9, 35))) == ["U0LDN"]  # first tick after 09:30
    assert list(plan(db, utc(2026, 3, 3, 17, 30))) == ["U0LA"]


def test_at_most_one_digest_per_person_per_local_day(org, db):
    assert list(plan(db, utc(2026, 3, 3, 9, 30))) == ["U0LDN"]
    assert plan(db, utc(2026, 3, 3, 9, 35)) == {}
    assert plan(db, utc(2026, 3, 3, 12, 0)) == {}
    assert list(plan(db, utc(2026, 3, 4, 9, 30))) == ["U0LDN"]  # the next day: again


def test_past_the_send_window_the_day_is_skipped(org, db):
    # London's window is 09:30-13:30. After an outage, no evening nudges.
    assert plan(db, utc(2026, 3, 3, 13, 30)) == {}
    assert "U0LDN" not in plan(db, utc(2026, 3, 3, 20, 0))  # noon in Los Angeles


def test_no_digest_on_weekends_or_holidays(org, db):
    assert plan(db, utc(2026, 3, 7, 9, 30)) == {}  # Saturday in London
    assert plan(db, utc(2026, 3, 6, 9, 30)) == {}  # Friday 6 March: a holiday everywhere
    assert plan(db, utc(2026, 3, 4, 4, 0)) == {}  # Wednesday 4 March: a holiday in India


def test_digest_lists_overdue_first_then_due_soon(org, db):
    digest = plan(db, utc(2026, 3, 3, 9, 30))["U0LDN"]
    # intro was due Mon 2 (overdue); safety is due Thu 5 (lookahead 5). safety-quiz
    # waits for safety: it has no due date yet, so the learner is chased for safety only.
    assert digest == ["intro", "safety"]


def test_digest_items_carry_due_and_overdue_in_working_days(org, db):
    with db.session() as session:
        [planned] = list(
            plan_digests(session, now=utc(2026, 3, 9, 9, 30), settings=current_settings(session))
        )
    by_key = {item.key: item for item in planned.digest.items}
    assert planned.digest.first_name == "Lee"
    assert planned.digest.local_date == date(2026, 3, 9)
    # Due Mon 2 March; Mon 9 March is 4 working days later (Fri 6 is a holiday).
    assert (by_key["intro"].section, by_key["intro"].overdue_working_days) == ("overdue", 4)
    assert by_key["intro"].required


def test_suggested_items_only_on_the_suggestions_weekday(org, db):
    # Mondays (the default) offer up to 3 suggested items; 'shadow' is the only one.
    monday = plan(db, utc(2026, 3, 16, 9, 30), record=False)["U0LDN"]
    tuesday = plan(db, utc(2026, 3, 17, 9, 30), record=False)["U0LDN"]
    assert "shadow" in monday and "shadow" not in tuesday


def test_nothing_due_means_no_digest(org, db):
    with db.session() as session:
        session.execute(update(Assignment).values(status="completed"))
    assert plan(db, utc(2026, 3, 3, 9, 30)) == {}


def test_away_people_get_nothing_until_they_are_back(org, db):
    with db.session() as session:
        session.execute(
            update(Person).where(Person.email == "ldn@x.io").values(away_until=date(2026, 3, 4))
        )
    assert plan(db, utc(2026, 3, 4, 9, 30)) == {}  # away through the 4th
    assert list(plan(db, utc(2026, 3, 5, 9, 30))) == ["U0LDN"]


def test_inactive_people_get_nothing(org, db):
    with db.session() as session:
        session.execute(update(Person).where(Person.email == "ldn@x.io").values(active=False))
    assert plan(db, utc(2026, 3, 3, 9, 30)) == {}


def test_people_without_a_slack_id_are_counted_not_planned(org, db):
    with db.session() as session:
        drop_slack_account(session, "ldn@x.io")
        stats = PlanStats()
        assert (
            list(
                plan_digests(
                    session,
                    now=utc(2026, 3, 3, 9, 30),
                    settings=current_settings(session),
                    stats=stats,
                )
            )
            == []
        )
    assert stats.unreachable == 1


def assignment_id(db, email: str, key: str) -> int:
    with db.session() as session:
        return session.scalars(
            select(Assignment.id)
            .join(Person, Person.id == Assignment.person_id)
            .join(Item, Item.id == Assignment.item_id)
            .where(Person.email == email, Item.key == key)
        ).one()


def test_a_snoozed_item_is_left_out_until_the_snooze_ends(org, db, clock):
    clock.set(utc(2026, 3, 2, 10, 0))
    with db.session() as session:
        until = snooze(
            session,
            assignment_id=assignment_id(db, "ldn@x.io", "shadow"),
            days=7,
            clock=clock,
            actor="ldn@x.io",
            default_zone="UTC",
        )
    assert until == utc(2026, 3, 9, 0, 0)  # local midnight, London is on GMT
    assert "shadow" not in plan(db, utc(2026, 3, 2, 10, 0), record=False)["U0LDN"]
    assert "shadow" in plan(db, utc(2026, 3, 9, 9, 30), record=False)["U0LDN"]


def test_a_snooze_never_moves_a_required_item_past_its_due_date():
    # Safety is due Thu 5 March: "1 week" from Mon 2 March ends at the start of the 5th.
    end = snooze_end(
        now=utc(2026, 3, 2, 10, 0),
        days=7,
        zone="Asia/Kolkata",
        required=True,
        due_date=date(2026, 3, 5),
    )
    assert end == datetime(2026, 3, 4, 18, 30, tzinfo=UTC)  # 00:00 on the 5th in Kolkata
    with pytest.raises(SnoozeRefused, match="required and due today"):
        snooze_end(
            now=utc(2026, 3, 5, 10, 0), days=1, zone="UTC", required=True, due_date=date(2026, 3, 5)
        )
    # Suggested items snooze for the full time.
    free = snooze_end(
        now=utc(2026, 3, 2, 10, 0), days=7, zone="UTC", required=False, due_date=date(2026, 3, 5)
    )
    assert free - utc(2026, 3, 2, 0, 0) == timedelta(days=7)


def test_dst_change_days_keep_the_local_send_time(org, db):
    # Los Angeles springs forward on Sun 8 March: 09:30 PDT on Mon 9 is 16:30 UTC.
    assert "U0LA" not in plan(db, utc(2026, 3, 9, 16, 29))
    assert "U0LA" in plan(db, utc(2026, 3, 9, 16, 30))
    # Sydney falls back on Sun 5 April: 09:30 AEST on Mon 6 April is 23:30 UTC on the 5th.
    assert "U0SYD" not in plan(db, utc(2026, 4, 5, 23, 29))
    assert "U0SYD" in plan(db, utc(2026, 4, 5, 23, 30))


def test_people_are_planned_across_pages_in_order(cli, write, clock, db, monkeypatch):
    # The planner reads a zone's people a page at a time; a page boundary must neither
    # drop nor repeat anyone, nor mix up whose items are whose.
    monkeypatch.setattr("learning.planner.PEOPLE_PAGE", 2)
    clock.set(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    rows = [
        f"p{n}@x.io,Person {n},,engineer,Web,2026-03-02,Europe/London,U{n:03d}" for n in range(7)
    ]
    assert cli("load-config", write("programs.yml", PROGRAMS)).code == 0
    assert cli("import-people", write("people.csv", people_csv(*rows))).code == 0
    with db.session() as session:  # p3 has done 'intro'; the others still owe it
        p3 = session.scalars(select(Person).where(Person.email == "p3@x.io")).one()
        intro = session.scalars(select(Item).where(Item.key == "intro")).one()
        session.execute(
            update(Assignment)
            .where(Assignment.person_id == p3.id, Assignment.item_id == intro.id)
            .values(status="completed")
        )

    planned = plan(db, utc(2026, 3, 3, 9, 30))

    assert list(planned) == [f"U{n:03d}" for n in range(7)]
    assert all("intro" in keys for slack, keys in planned.items() if slack != "U003")
    assert "intro" not in planned["U003"]


def mentor_offers(db, at: datetime, *, enabled: bool = True) -> dict[str, bool]:
    """London's digest at ``at``: {item key: whether it offers "Find a mentor"}."""
    with db.session() as session:
        settings = current_settings(session)
        settings = settings.model_copy(
            update={"mentoring": settings.mentoring.model_copy(update={"enabled": enabled})}
        )
        planned = {p.channel: p for p in plan_digests(session, now=at, settings=settings)}
    return {item.key: item.mentor_offer for item in planned["U0LDN"].digest.items}


def test_certification_items_and_overdue_required_items_offer_a_mentor(org, db):
    # Mon 2 March: intro is due today; safety (Safe Worker needs it) is due Thu 5;
    # shadow is a suggestion. safety-quiz waits for safety, so it is not listed yet.
    assert mentor_offers(db, utc(2026, 3, 2, 12, 0)) == {
        "intro": False,
        "safety": True,
        "shadow": False,
    }
    # Tue 3 March: intro is overdue now.
    assert mentor_offers(db, utc(2026, 3, 3, 9, 30))["intro"] is True


def test_no_item_offers_a_mentor_when_mentoring_is_off(org, db):
    offers = mentor_offers(db, utc(2026, 3, 3, 9, 30), enabled=False)
    assert offers and not any(offers.values())
