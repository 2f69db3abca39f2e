"""Chat actions as service functions: done, snooze, find, away, waive, assign, feedback."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from learning.actions import (
    AmbiguousItem,
    InvalidInput,
    NotAllowed,
    NotOpen,
    assign_item,
    complete_assignment,
    find_assignment,
    record_feedback,
    set_away,
    set_back,
    snooze_assignment,
    unit_of_work,
    waive_item,
)
from learning.errors import NotFound
from models import AuditEntry, CompletionEvent, Item, ItemFeedback, Person
from platforms.slack.identity import person_by_slack_id
from tests.chat_support import assignment, setup_org
from tests.conftest import snapshot


@pytest.fixture
def org(cli, write, clock, db):
    setup_org(cli, write, clock)


def someone(session, slack_id="U0ANA") -> Person:
    return person_by_slack_id(session, slack_id)


def audit_log(db):
    with db.session() as session:
        return [
            (e.action, e.actor, e.reason, e.details)
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        ]


def count(db, column):
    with db.session() as session:
        return session.scalar(select(func.count(column)))


# --- find_assignment ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("safety", "safety"),  # an exact key wins over titles that contain it
        ("SAFETY-QUIZ", "safety-quiz"),
        ("Safety training", "safety"),
        ("quiz", "safety-quiz"),
        ("  shadow   a colleague ", "shadow"),
        ("welcome", "intro"),
    ],
)
def test_an_item_is_found_by_key_or_an_unambiguous_part_of_its_title(org, db, text, key):
    with db.session() as session:
        found = find_assignment(session, person=someone(session), text=text)
        assert found.id == assignment(db, "ana@x.io", key).id


def test_an_ambiguous_item_lists_the_candidates(org, db):
    with db.session() as session, pytest.raises(AmbiguousItem) as raised:
        find_assignment(session, person=someone(session), text="saf")
    assert raised.value.candidates == [
        ("safety", "Safety training"),
        ("safety-quiz", "Safety quiz"),
    ]
    assert "safety (Safety training)" in str(raised.value)


@pytest.mark.parametrize("text", ["astronomy", "selling"])  # selling: not on Ana's path
def test_an_item_matching_nothing_of_mine_is_not_found(org, db, text):
    with db.session() as session, pytest.raises(NotFound, match="Nothing on your path") as raised:
        find_assignment(session, person=someone(session), text=text)
    assert "safety" not in str(raised.value)


def test_an_empty_item_name_asks_for_one(org, db):
    with db.session() as session, pytest.raises(InvalidInput):
        find_assignment(session, person=someone(session), text="  ")


# --- complete_assignment --------------------------------------------------------------


def test_completing_twice_is_one_completion(org, db, clock):
    quiz = assignment(db, "ana@x.io", "safety-quiz")
    with db.session() as session:
        first = complete_assignment(
            session,
            actor=someone(session),
            assignment_id=quiz.id,
            clock=clock,
            source="slack",
            score=92,
        )
    with db.session() as session:
        second = complete_assignment(
            session, actor=someone(session), assignment_id=quiz.id, clock=clock, source="slack"
        )
    assert (first.already_done, second.already_done) == (False, True)
    assert (first.item_key, first.item_title) == ("safety-quiz", "Safety quiz")
    assert count(db, CompletionEvent.id) == 1
    assert assignment(db, "ana@x.io", "safety-quiz").score == 92
    assert [a[0] for a in audit_log(db)].count("assignment.done") == 1


@pytest.mark.parametrize(
    ("score", "url"),
    [
        (101, None),
        (-0.5, None),
        (float("nan"), None),
        (None, "javascript:alert(1)"),
        (None, "lms/cert"),
    ],
)
def test_a_bad_score_or_evidence_link_is_refused(org, db, clock, score, url):
    quiz = assignment(db, "ana@x.io", "safety-quiz")
    with db.session() as session, pytest.raises(InvalidInput):
        complete_assignment(
            session,
            actor=someone(session),
            assignment_id=quiz.id,
            clock=clock,
            source="slack",
            score=score,
            evidence_url=url,
        )


def test_someone_elses_assignment_is_refused_and_only_the_refusal_is_kept(org, db, clock):
    bens = assignment(db, "ben@x.io", "safety")
    before = snapshot(db)
    with pytest.raises(NotAllowed, match=r"You can only update your own items\."):  # noqa: SIM117
        with unit_of_work(db) as session:
            ana = someone(session)
            set_away(session, person=ana, until=date(2026, 3, 9), clock=clock)  # rolled back
            complete_assignment(
                session, actor=ana, assignment_id=bens.id, clock=clock, source="slack"
            )
    after = snapshot(db)
    assert {t: r for t, r in after.items() if t != "audit_log"} == {
        t: r for t, r in before.items() if t != "audit_log"
    }
    [(action, actor, reason, details)] = audit_log(db)[len(before["audit_log"]) :]
    assert (action, actor) == ("assignment.refused", "ana@x.io")
    assert details["owner_person_id"] == bens.person_id
    assert "another person's" in reason


def test_a_refusal_caught_inside_a_plain_session_keeps_its_audit_entry(org, db, clock):
    bens = assignment(db, "ben@x.io", "safety")
    refused = False
    with db.session() as session:
        try:
            complete_assignment(
                session, actor=someone(session), assignment_id=bens.id, clock=clock, source="x"
            )
        except NotAllowed:
            refused = True  # caught inside the block, so the block commits the audit entry
    assert refused
    assert audit_log(db)[-1][0] == "assignment.refused"


def test_a_waived_item_cannot_be_marked_done(org, db, clock):
    with db.session() as session:
        ana = someone(session)
        waived = waive_item(
            session,
            admin=None,
            actor_label="admin@x.io",
            person=ana,
            item_key="shadow",
            reason="Did it in her last job",
            clock=clock,
        )
        with pytest.raises(NotOpen, match="waived"):
            complete_assignment(
                session, actor=ana, assignment_id=waived.id, clock=clock, source="slack"
            )


# --- snooze_assignment -------------------------------------------------------------------


def test_snoozing_someone_elses_item_is_refused(org, db, clock):
    bens = assignment(db, "ben@x.io", "shadow")
    with db.session() as session:
        with pytest.raises(NotAllowed):
            snooze_assignment(
                session,
                actor=someone(session),
                assignment_id=bens.id,
                days=3,
                clock=clock,
                default_zone="UTC",
            )
        assert session.get(type(bens), bens.id).snoozed_until is None


def test_snoozing_my_item_returns_when_it_comes_back(org, db, clock):
    shadow = assignment(db, "ana@x.io", "shadow")
    with db.session() as session:
        until = snooze_assignment(
            session,
            actor=someone(session),
            assignment_id=shadow.id,
            days=3,
            clock=clock,
            default_zone="UTC",
        )
    assert until == datetime(2026, 3, 5, 0, 0, tzinfo=UTC)  # London is on GMT in March


# --- away ------------------------------------------------------------------------------


def test_away_until_today_or_later_is_kept_and_back_clears_it(org, db, clock):
    with db.session() as session:
        ana = someone(session)
        set_away(session, person=ana, until=date(2026, 3, 2), clock=clock)
        assert ana.away_until == date(2026, 3, 2)
        assert set_back(session, person=ana, clock=clock) is True
        assert set_back(session, person=ana, clock=clock) is False
        assert ana.away_until is None
    assert [a[0] for a in audit_log(db)][-2:] == ["person.away", "person.back"]


def test_away_until_a_past_date_is_refused(org, db, clock):
    with db.session() as session, pytest.raises(InvalidInput, match="in the past"):
        set_away(session, person=someone(session), until=date(2026, 3, 1), clock=clock)


def test_away_uses_the_persons_own_today(org, db, clock):
    # 23:30 UTC on 1 March is already 2 March in Kolkata.
    clock.set(datetime(2026, 3, 1, 23, 30, tzinfo=UTC))
    with db.session() as session:
        ana = someone(session)
        ana.timezone = "Asia/Kolkata"
        with pytest.raises(InvalidInput):
            set_away(session, person=ana, until=date(2026, 3, 1), clock=clock)


# --- waive and assign ------------------------------------------------------------------


def test_a_waiver_needs_a_reason(org, db, clock):
    with db.session() as session, pytest.raises(InvalidInput, match="reason"):
        waive_item(
            session,
            admin=None,
            actor_label="admin@x.io",
            person=someone(session),
            item_key="safety",
            reason="  ",
            clock=clock,
        )


def test_a_waiver_of_a_later_tier_item_survives_enrollment(org, db, clock, cli):
    with db.session() as session:
        admin = someone(session, "U0BEA")
        waive_item(
            session,
            admin=admin,
            actor_label="bea@x.io",
            person=someone(session),
            item_key="advanced",
            reason="Certified elsewhere",
            clock=clock,
        )
    clock.advance(timedelta(days=40))  # the "proficient" tier has started
    assert cli("enroll").code == 0
    advanced = assignment(db, "ana@x.io", "advanced")
    assert (advanced.status, advanced.waived_reason) == ("waived", "Certified elsewhere")
    [(_, actor, reason, details)] = [a for a in audit_log(db) if a[0] == "assignment.waive"]
    assert (actor, reason, details["admin_person_id"]) == (
        "bea@x.io",
        "Certified elsewhere",
        admin.id,
    )


def test_an_unknown_item_key_is_not_found(org, db, clock):
    with db.session() as session, pytest.raises(NotFound, match="no item “nope” in the catalogue"):
        assign_item(
            session,
            actor_label="bea@x.io",
            person=someone(session),
            item_key="nope",
            due=None,
            clock=clock,
        )


def test_an_item_assigned_off_the_path_is_due_in_5_working_days_and_stays(org, db, clock, cli):
    with db.session() as session:
        assigned = assign_item(
            session,
            actor_label="bea@x.io",
            person=someone(session),
            item_key="sales-101",
            due=None,
            clock=clock,
        )
    # Mon 2 March + 5 working days, Friday 6 March being a holiday.
    assert assigned.due_date == date(2026, 3, 10)
    assert cli("enroll").code == 0
    kept = assignment(db, "ana@x.io", "sales-101")
    assert (kept.status, kept.due_date, kept.required) == ("open", date(2026, 3, 10), True)


def test_a_due_date_an_admin_gives_is_kept_by_enrollment(org, db, clock, cli):
    with db.session() as session:
        assign_item(
            session,
            actor_label="bea@x.io",
            person=someone(session),
            item_key="safety",
            due=date(2026, 3, 20),
            clock=clock,
        )
    assert cli("enroll").code == 0
    kept = assignment(db, "ana@x.io", "safety")
    assert (kept.due_date, kept.due_pinned) == (date(2026, 3, 20), True)


def test_assigning_a_waived_item_reopens_it(org, db, clock):
    with db.session() as session:
        ana = someone(session)
        waive_item(
            session,
            admin=None,
            actor_label="bea@x.io",
            person=ana,
            item_key="shadow",
            reason="Not needed",
            clock=clock,
        )
        reopened = assign_item(
            session, actor_label="bea@x.io", person=ana, item_key="shadow", due=None, clock=clock
        )
        assert (reopened.status, reopened.waived_reason) == ("open", None)
    assert audit_log(db)[-1][0] == "assignment.reopen"


def test_assigning_a_completed_item_or_a_past_due_date_is_refused(org, db, clock):
    intro = assignment(db, "ana@x.io", "intro")
    with db.session() as session:
        ana = someone(session)
        complete_assignment(session, actor=ana, assignment_id=intro.id, clock=clock, source="x")
        with pytest.raises(NotOpen):
            assign_item(
                session,
                actor_label="bea@x.io",
                person=ana,
                item_key="intro",
                due=None,
                clock=clock,
            )
        with pytest.raises(InvalidInput, match="in the past"):
            assign_item(
                session,
                actor_label="bea@x.io",
                person=ana,
                item_key="shadow",
                due=date(2026, 2, 27),
                clock=clock,
            )


# --- feedback --------------------------------------------------------------------------


@pytest.mark.parametrize(("rating", "comment"), [(0, None), (6, None), (3, "x" * 1001)])
def test_feedback_needs_a_rating_of_1_to_5_and_a_short_comment(org, db, clock, rating, comment):
    intro = assignment(db, "ana@x.io", "intro")
    with db.session() as session, pytest.raises(InvalidInput):
        record_feedback(
            session,
            person=someone(session),
            assignment_id=intro.id,
            rating=rating,
            comment=comment,
            clock=clock,
        )


def test_a_second_answer_replaces_the_first(org, db, clock):
    intro = assignment(db, "ana@x.io", "intro")
    for rating, comment in ((2, "Too long"), (4, "  ")):
        with db.session() as session:
            record_feedback(
                session,
                person=someone(session),
                assignment_id=intro.id,
                rating=rating,
                comment=comment,
                clock=clock,
            )
    with db.session() as session:
        [feedback] = session.scalars(select(ItemFeedback)).all()
    assert (feedback.rating, feedback.comment) == (4, None)


def test_feedback_on_someone_elses_item_is_refused(org, db, clock):
    bens = assignment(db, "ben@x.io", "intro")
    with db.session() as session, pytest.raises(NotAllowed):
        record_feedback(
            session,
            person=someone(session),
            assignment_id=bens.id,
            rating=5,
            comment=None,
            clock=clock,
        )


def test_admins_name_items_by_key_or_an_unambiguous_part_of_the_title(org, db, clock):
    with db.session() as session:
        person = someone(session)
        assignment = assign_item(
            session,
            actor_label="bea@x.io",
            person=person,
            item_key="Selling",
            due=None,
            clock=clock,
        )
        assert session.get(Item, assignment.item_id).key == "sales-101"
        with pytest.raises(AmbiguousItem) as caught:
            assign_item(
                session,
                actor_label="bea@x.io",
                person=person,
                item_key="safe",
                due=None,
                clock=clock,
            )
    assert [key for key, _ in caught.value.candidates] == ["safety", "safety-quiz"]
