"""The escalation planner's pure decisions (learning.escalations), without a database.

Default ladder: learner at 3 working days overdue, manager at 5, skip-level at 10; send
window 09:30 + 240 minutes in the recipient's zone; Monday to Friday.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from learning.chain import ChainPerson, PeopleIndex
from learning.curriculum import ProgramSettings
from learning.escalations import (
    ADMINS,
    Bookmark,
    Decision,
    LadderRow,
    Wait,
    reached_notices,
    take_steps,
    todays_keys,
)

SETTINGS = ProgramSettings()
MONDAY_10_UTC = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # London's window is open


def person(
    person_id: int,
    *,
    manager_id: int | None = None,
    active: bool = True,
    away_until: date | None = None,
    timezone: str | None = "Europe/London",
) -> ChainPerson:
    return ChainPerson(
        id=person_id,
        name=f"Person {person_id}",
        email=f"p{person_id}@x.io",
        manager_id=manager_id,
        active=active,
        away_until=away_until,
        timezone=timezone,
        chat_user_id=f"U{person_id}",
        workspace_id="T1",
    )


def team(*extra: ChainPerson, learner_zone: str = "Europe/London") -> PeopleIndex:
    """Learner 1 reports to manager 2, who reports to 3 (the skip-level)."""
    people = {
        1: person(1, manager_id=2, timezone=learner_zone),
        2: person(2, manager_id=3),
        3: person(3),
    }
    people.update((p.id, p) for p in extra)
    return PeopleIndex.of(people.values(), org_zone="UTC")


def row(due: date, *, done: int = 0, next_on: date | None = None, aid: int = 10) -> LadderRow:
    return LadderRow(aid, 1, due, done, 0, "compliance", "Compliance", next_on, next_on and due)


def decide(
    people: PeopleIndex,
    *rows: LadderRow,
    now: datetime = MONDAY_10_UTC,
    paused: frozenset[int] = frozenset(),
    sent_to: tuple[str, ...] = (),
) -> Decision:
    reached = reached_notices(
        list(rows), paused=set(paused), people=people, settings=SETTINGS, now=now
    )
    keys = todays_keys(reached.recipients(), now=now, settings=SETTINGS)
    sent = {keys[who] for who in sent_to if who in keys}
    return take_steps(reached, keys=keys, sent=sent, now=now, settings=SETTINGS)


def told(decision: Decision) -> dict[str, list[tuple[int, str]]]:
    return {
        who: [(n.assignment_id, n.step) for n in notices]
        for who, notices in decision.bundles.items()
    }


def test_the_manager_is_told_on_the_fifth_working_day_overdue_with_the_learner_step():
    decision = decide(team(), row(date(2026, 2, 23)))  # Mon 2 Mar: 5 working days late
    assert told(decision) == {"person:2": [(10, "manager")]}
    assert decision.new_step == {10: 2}  # the learner step and the manager step are done
    notice = decision.bundles["person:2"][0]
    assert (notice.overdue, notice.tell_on, notice.told_first) == (5, date(2026, 3, 2), None)


def test_four_working_days_overdue_only_advances_the_learner_step():
    decision = decide(team(), row(date(2026, 2, 24)))
    assert told(decision) == {}
    assert decision.new_step == {10: 1}
    assert decision.waits == []


def test_manager_and_skip_level_are_told_in_ladder_order_with_who_was_told_first():
    decision = decide(team(), row(date(2026, 2, 16), done=1))  # 10 working days late
    assert told(decision) == {"person:2": [(10, "manager")], "person:3": [(10, "skip_level")]}
    assert decision.new_step == {10: 3}
    assert decision.bundles["person:3"][0].told_first == "Person 2"


def test_the_skip_level_is_never_told_before_the_manager():
    """The manager had today's DM already: the manager step waits, and so does the
    skip-level's, until the manager's next send window."""
    decision = decide(team(), row(date(2026, 2, 16), done=1), sent_to=("person:2",))
    assert told(decision) == {}
    assert decision.waiting == 1
    assert decision.waits == [Wait(10, datetime(2026, 3, 3, 9, 30, tzinfo=UTC), date(2026, 2, 16))]


def test_an_inactive_manager_is_skipped_for_the_next_one_up():
    people = team(person(2, manager_id=3, active=False))
    decision = decide(people, row(date(2026, 2, 23), done=1))
    assert told(decision) == {"person:3": [(10, "manager")]}


def test_with_nobody_left_in_the_chain_the_admins_are_told():
    people = team(person(2, manager_id=3, away_until=date(2026, 3, 6)), person(3, active=False))
    decision = decide(people, row(date(2026, 2, 16), done=1))
    assert told(decision) == {ADMINS: [(10, "manager"), (10, "skip_level")]}
    assert decision.bundles[ADMINS][0].recipient.person is None


def test_an_open_extension_request_pauses_the_item():
    decision = decide(team(), row(date(2026, 2, 23)), paused=frozenset({10}))
    assert (told(decision), decision.new_step, decision.waits) == ({}, {}, [])


def test_a_learner_away_today_is_not_chased():
    people = team(person(1, manager_id=2, away_until=date(2026, 3, 2)))
    decision = decide(people, row(date(2026, 2, 23)))
    assert (told(decision), decision.new_step) == ({}, {})


def test_a_manager_whose_window_is_closed_is_told_at_their_next_send_time():
    """10:00 UTC is 05:00 in New York; the item waits for 09:30 there (14:30 UTC)."""
    people = team(person(2, manager_id=3, timezone="America/New_York"))
    decision = decide(people, row(date(2026, 2, 23), done=1))
    assert told(decision) == {}
    assert decision.waits == [Wait(10, datetime(2026, 3, 2, 14, 30, tzinfo=UTC), date(2026, 2, 23))]


def test_a_step_reached_during_the_managers_window_waits_for_their_next_morning():
    """12:00 UTC Monday is 01:00 Tuesday in Auckland: the learner reaches the manager
    step on Tuesday, while London's Monday window is open; the digest announced Tuesday."""
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    people = team(learner_zone="Pacific/Auckland")
    decision = decide(people, row(date(2026, 2, 24), done=1), now=now)
    assert told(decision) == {}
    assert decision.waits == [Wait(10, datetime(2026, 3, 3, 9, 30, tzinfo=UTC), date(2026, 2, 24))]


def test_an_item_with_no_step_reached_is_bookmarked_at_its_next_steps_date_once():
    people = team()
    reached = reached_notices(
        [row(date(2026, 2, 27)), row(date(2026, 2, 27), aid=11, next_on=date(2026, 3, 4))],
        paused=set(),
        people=people,
        settings=SETTINGS,
        now=MONDAY_10_UTC,
    )
    assert reached.bookmarks == [Bookmark(10, date(2026, 3, 4), date(2026, 2, 27))]
    assert reached.notices == {} and reached.advance_only == {}


def test_one_dm_per_recipient_bundles_every_learners_items():
    people = team(person(4, manager_id=2))
    rows = [row(date(2026, 2, 23)), row(date(2026, 2, 23), aid=11)._replace(person_id=4)]
    decision = decide(people, *rows)
    assert told(decision) == {"person:2": [(10, "manager"), (11, "manager")]}
