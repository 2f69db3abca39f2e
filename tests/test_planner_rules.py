"""The weekly-digest and recertification jobs' pure rules, without a database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from learning.award_rules import CertificationRule, Requirement
from learning.curriculum import ProgramSettings
from learning.periods import Period
from learning.recertification import (
    lapse_horizon,
    lapses_due,
    newest_rounds,
    round_assignments,
    window_horizon,
    windows_open,
)
from learning.team import OverduePerson
from learning.weekly_digest import (
    chain_summaries,
    count_items,
    digest_key,
    most_overdue,
    new_counts,
    open_weekly_windows,
)
from models import AssignmentStatus, CertificationAward, Person

SETTINGS = ProgramSettings()  # digest: Friday 15:00 local for 240 minutes

RULE = CertificationRule(
    id=1,
    key="first-aid",
    title="First aid",
    valid=Period(months=12),
    window=Period(days=30),
    grace=Period(days=14),
    requirements=(
        Requirement(item_id=10, key="cpr", title="CPR", method="course", minutes=60),
        Requirement(item_id=11, key="aed", title="AED", method="course", minutes=30),
    ),
)
RULES = {RULE.id: RULE}


def holder(person_id: int, zone: str | None = "Europe/London") -> Person:
    return Person(id=person_id, email=f"p{person_id}@x.io", name="P", role="r", timezone=zone)


def award(award_id: int, expires_at: datetime, cycle: int = 0) -> CertificationAward:
    return CertificationAward(
        id=award_id,
        person_id=award_id,
        certification_id=RULE.id,
        cycle=cycle,
        awarded_at=datetime(2025, 1, 1, tzinfo=UTC),
        expires_at=expires_at,
    )


def test_the_weekly_digest_window_is_friday_afternoon_in_each_zone():
    friday_16_utc = datetime(2026, 3, 6, 16, 0, tzinfo=UTC)
    open_now = open_weekly_windows(
        ["Europe/London", "America/New_York", "Asia/Tokyo"], now=friday_16_utc, settings=SETTINGS
    )
    assert [(w.zone, w.day, w.week) for w in open_now] == [
        ("Europe/London", date(2026, 3, 6), "2026-W10")
    ]
    assert digest_key(7, date(2027, 1, 1)) == "weekly:7:2026-W53"  # the ISO year


def test_a_chain_counts_done_due_overdue_and_waived_items_apart():
    counts = new_counts()
    count_items(counts, status=AssignmentStatus.COMPLETED, is_late=False, count=3)
    count_items(counts, status=AssignmentStatus.OPEN, is_late=True, count=2)
    count_items(counts, status=AssignmentStatus.OPEN, is_late=False, count=4)
    count_items(counts, status=AssignmentStatus.WAIVED, is_late=True, count=1)
    assert counts == {"people": 0, "done": 3, "due": 4, "overdue": 2, "waived": 1}


def test_the_most_overdue_are_ranked_on_their_own_calendar_then_items_then_name():
    def late(person_id: int, name: str, items: int, working_days: int) -> OverduePerson:
        return OverduePerson(person_id, name, "", None, items, date(2026, 1, 5), working_days)

    people = [late(1, "bo", 1, 5), late(2, "Al", 1, 5), late(3, "Cy", 4, 5), late(4, "Di", 9, 2)]
    assert [p.person_id for p in most_overdue(people, listed=3)] == [3, 2, 1]
    facts = chain_summaries(
        {9: {**new_counts(), "people": 4, "overdue": 15}},
        leaders={9: people},
        people_overdue={9: 4},
        overdue_listed=2,
    )
    assert facts[9].summary.people_overdue == 4
    assert [p.person_id for p in facts[9].summary.most_overdue] == [3, 2]


def test_the_recertification_window_opens_30_days_before_expiry_in_the_holders_zone():
    expiry = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)  # 09:00 in London (summer time)
    opens = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 09:00 in London (winter time)
    awards = [
        (award(1, expiry), holder(1)),
        (award(2, datetime(2026, 6, 1, tzinfo=UTC)), holder(2)),
    ]
    assert window_horizon(RULES, now=opens) > datetime(2026, 4, 1, tzinfo=UTC)
    assert windows_open(awards, RULES, settings=SETTINGS, now=opens) == [awards[0]]
    just_before = opens - timedelta(minutes=1)
    assert windows_open(awards, RULES, settings=SETTINGS, now=just_before) == []


def test_an_award_lapses_when_the_grace_period_after_expiry_is_over():
    expiry = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)
    held = [(award(1, expiry), holder(1, zone=None))]  # the organisation's zone: UTC
    assert lapse_horizon(RULES, now=datetime(2026, 3, 2, tzinfo=UTC)) <= datetime(
        2026, 2, 17, tzinfo=UTC
    )
    assert lapses_due(held, RULES, settings=SETTINGS, now=datetime(2026, 2, 24, 12, 0, tzinfo=UTC))
    assert not lapses_due(
        held, RULES, settings=SETTINGS, now=datetime(2026, 2, 24, 11, 59, tzinfo=UTC)
    )


def test_a_new_round_assigns_only_the_items_not_yet_assigned_for_it():
    newest = newest_rounds([(5, 10, 0), (5, 10, 1), (5, 11, 0), (6, 11, 3)])
    assert newest == {(5, 10): 1, (5, 11): 0, (6, 11): 3}
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    rows = round_assignments(
        RULE, person_id=5, cycle=1, due_on=date(2026, 4, 1), newest_round=newest, now=now
    )
    assert [(r["item_id"], r["cycle"], r["required"], r["due_date"]) for r in rows] == [
        (11, 1, True, date(2026, 4, 1))
    ]
    assert rows[0]["status"] == AssignmentStatus.OPEN and rows[0]["tier_id"] is None
