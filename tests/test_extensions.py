"""The escalation ladder's actions as service functions (learning.extensions).

The org (tests.chat_support.PEOPLE): Bea at the top; Max and Mia under her; Ana and Ben
under Max; Dan under Ana; Cat under Mia. Everyone is in London. Dan's required items
were due in the first week of March 2026 (Friday 6 March is a holiday).
"""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from learning import extensions
from learning.actions import InvalidInput, NotAllowed, NotOpen, unit_of_work
from learning.curriculum import ProgramSettings
from learning.paths import current_settings
from models import (
    Assignment,
    AssignmentStatus,
    AuditEntry,
    ExtensionRequest,
    ExtensionStatus,
    OutboxMessage,
    Person,
)
from platforms.slack.identity import admin_list, known_caller
from platforms.slack.render.limits import block_kit_problems
from platforms.slack.render.rendered import RenderedMessage
from tests.chat_support import assignment, person, setup_org
from tests.conftest import snapshot
from tests.helpers import PROGRAMS
from tests.outbox_support import Shown

# Tuesday 10 March 2026, 10:00 in London: Dan's first-week items are all overdue.
TUESDAY = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
TODAY = date(2026, 3, 10)


@pytest.fixture
def org(cli, write, clock, db):
    setup_org(cli, write, clock)
    clock.set(TUESDAY)
    return db


def as_(session, slack_id, admins=()):
    return known_caller(session, slack_id, admins=admins)


def outbox(db):
    with db.session() as session:
        return {row.key: Shown(row) for row in session.scalars(select(OutboxMessage))}


def dms_to(db, slack_id):
    return [row for row in outbox(db).values() if row.channel == slack_id]


def audit(db, action):
    with db.session() as session:
        return list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        )


def requests(db):
    with db.session() as session:
        return list(session.scalars(select(ExtensionRequest).order_by(ExtensionRequest.id)))


def open_ids(db, assignment_ids):
    with db.session() as session:
        return extensions.open_request_assignment_ids(session, assignment_ids)


def set_fields(db, model, row_id, **values):
    with db.session() as session:
        row = session.get(model, row_id)
        for name, value in values.items():
            setattr(row, name, value)


def ask(db, clock, *, email="dan@x.io", item="safety", proposed=date(2026, 3, 20), why="On call"):
    learner = person(db, email)
    with db.session() as session:
        return extensions.request_extension(
            session,
            learner=session.get(Person, learner.id),
            assignment_id=assignment(db, email, item).id,
            proposed=proposed,
            reason=why,
            clock=clock,
            admins=admin_list(()),
        )


def decide(db, clock, slack_id, request_id, *, approve, admins=()):
    with unit_of_work(db) as session:
        return extensions.decide(
            session,
            clicker=as_(session, slack_id, admins),
            request_id=request_id,
            approve=approve,
            clock=clock,
        )


# --- Extend ----------------------------------------------------------------------------------


def test_the_manager_extends_an_overdue_item_and_the_ladder_starts_again(org, clock):
    db = org
    safety = assignment(db, "dan@x.io", "safety")
    assert safety.due_date == date(2026, 3, 5)
    set_fields(db, Assignment, safety.id, ladder_step=2, ladder_paused_days=3)

    with db.session() as session:
        result = extensions.extend(
            session,
            clicker=as_(session, "U0ANA"),
            assignment_id=safety.id,
            new_due=date(2026, 3, 27),
            reason="  Covering   the release  ",
            clock=clock,
        )

    assert (result.learner_name, result.due) == ("Dan", date(2026, 3, 27))
    after = assignment(db, "dan@x.io", "safety")
    assert (after.due_date, after.due_pinned, after.ladder_step, after.ladder_paused_days) == (
        date(2026, 3, 27),
        True,
        0,
        0,
    )
    [entry] = audit(db, "assignment.extend")
    assert (entry.actor, entry.person_id, entry.subject, entry.reason) == (
        "ana@x.io",
        safety.person_id,
        str(safety.id),
        "Covering the release",
    )
    assert entry.details["before"]["due_date"] == "2026-03-05"
    assert entry.details["due"] == "2026-03-27"
    [dm] = dms_to(db, "U0DAN")
    assert "Ana gave you more time" in dm.text
    assert "now due Fri 27 Mar" in dm.text and "Covering the release" in dm.text


def test_extending_closes_an_open_request_as_approved(org, clock):
    db = org
    asked = ask(db, clock)
    safety = assignment(db, "dan@x.io", "safety")

    with db.session() as session:
        extensions.extend(
            session,
            clicker=as_(session, "U0MAX"),  # Ana's manager: above Dan too
            assignment_id=safety.id,
            new_due=date(2026, 3, 31),
            reason="Quarter end",
            clock=clock,
        )

    [request] = requests(db)
    assert (request.id, request.status, request.decided_by) == (
        asked.request_id,
        ExtensionStatus.APPROVED,
        "max@x.io",
    )
    [dm] = dms_to(db, "U0DAN")
    assert "Max approved your request for more time" in dm.text


@pytest.mark.parametrize(
    ("new_due", "message"),
    [
        (TODAY, "after today"),
        (TODAY - timedelta(days=1), "after today"),
        (TODAY + timedelta(days=366), "within a year"),
        (None, "Pick the new due date"),
    ],
)
def test_a_new_due_date_must_be_after_today_and_within_a_year(org, clock, new_due, message):
    db = org
    safety = assignment(db, "dan@x.io", "safety")
    before = snapshot(db)

    with pytest.raises(InvalidInput) as refused, db.session() as session:
        extensions.extend(
            session,
            clicker=as_(session, "U0ANA"),
            assignment_id=safety.id,
            new_due=new_due,
            reason="Busy",
            clock=clock,
        )

    assert refused.value.field == "due"
    assert message in str(refused.value)
    assert snapshot(db) == before


def test_a_year_from_today_is_the_latest_new_due_date(org, clock):
    db = org
    safety = assignment(db, "dan@x.io", "safety")
    with db.session() as session:
        extensions.extend(
            session,
            clicker=as_(session, "U0ANA"),
            assignment_id=safety.id,
            new_due=date(2027, 3, 10),
            reason="Parental leave",
            clock=clock,
        )
    assert assignment(db, "dan@x.io", "safety").due_date == date(2027, 3, 10)


def test_the_learners_own_today_decides_what_is_in_the_past(org, clock):
    db = org
    dan = person(db, "dan@x.io")
    set_fields(db, Person, dan.id, timezone="Pacific/Auckland")
    clock.set(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))  # 01:00 on 11 March in Auckland
    safety = assignment(db, "dan@x.io", "safety")

    with pytest.raises(InvalidInput), db.session() as session:
        extensions.extend(
            session,
            clicker=as_(session, "U0ANA"),
            assignment_id=safety.id,
            new_due=date(2026, 3, 11),
            reason="Busy",
            clock=clock,
        )


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
def test_a_reason_is_required_and_short(org, clock, reason):
    db = org
    safety = assignment(db, "dan@x.io", "safety")
    with pytest.raises(InvalidInput) as refused, db.session() as session:
        extensions.extend(
            session,
            clicker=as_(session, "U0ANA"),
            assignment_id=safety.id,
            new_due=date(2026, 3, 20),
            reason=reason,
            clock=clock,
        )
    assert refused.value.field == "reason"


@pytest.mark.parametrize("outsider", ["U0BEN", "U0CAT", "U0MIA", "U0DAN"])
def test_people_outside_the_learners_chain_are_refused_and_the_refusal_is_kept(
    org, clock, outsider
):
    db = org
    safety = assignment(db, "dan@x.io", "safety")
    before = snapshot(db)

    with pytest.raises(NotAllowed) as refused, unit_of_work(db) as session:
        extensions.extend(
            session,
            clicker=as_(session, outsider),
            assignment_id=safety.id,
            new_due=date(2026, 3, 20),
            reason="Please",
            clock=clock,
        )

    assert "Only Dan's managers or a learnbot admin" in str(refused.value)
    after = snapshot(db)
    assert {t: r for t, r in after.items() if t != "audit_log"} == {
        t: r for t, r in before.items() if t != "audit_log"
    }
    [entry] = audit(db, "escalation.refused")
    assert (entry.person_id, entry.subject) == (safety.person_id, str(safety.id))
    assert entry.details["attempted"] == "escalation.extend"
    assert entry.actor == person(db, f"{outsider[2:].lower()}@x.io").email


def test_an_admin_outside_the_chain_may_act_but_not_on_their_own_items(org, clock):
    db = org
    safety = assignment(db, "dan@x.io", "safety")
    cat_safety = assignment(db, "cat@x.io", "safety")
    with db.session() as session:
        extensions.extend(
            session,
            clicker=as_(session, "U0CAT", admins=("cat@x.io",)),
            assignment_id=safety.id,
            new_due=date(2026, 3, 20),
            reason="HR agreed",
            clock=clock,
        )
    assert assignment(db, "dan@x.io", "safety").due_date == date(2026, 3, 20)
    assert audit(db, "assignment.extend")[0].actor == "cat@x.io"

    with pytest.raises(NotAllowed), db.session() as session:
        extensions.extend(
            session,
            clicker=as_(session, "U0CAT", admins=("cat@x.io",)),
            assignment_id=cat_safety.id,
            new_due=date(2026, 3, 20),
            reason="Myself",
            clock=clock,
        )


def test_acting_on_an_item_done_meanwhile_says_it_is_already_done(org, cli, clock):
    db = org
    safety = assignment(db, "dan@x.io", "safety")
    set_fields(db, Assignment, safety.id, status=AssignmentStatus.COMPLETED)

    with pytest.raises(NotOpen) as refused, db.session() as session:
        extensions.remind(
            session, clicker=as_(session, "U0ANA"), assignment_id=safety.id, clock=clock
        )

    assert "already done" in str(refused.value)
    assert dms_to(db, "U0DAN") == []


# --- Excuse and remind ------------------------------------------------------------------------


def test_excusing_waives_the_item_with_the_reason_and_tells_the_learner(org, clock):
    db = org
    safety = assignment(db, "dan@x.io", "safety")
    ask(db, clock)

    with db.session() as session:
        extensions.excuse(
            session,
            clicker=as_(session, "U0BEA"),
            assignment_id=safety.id,
            reason="Did it at his last job",
            clock=clock,
        )

    after = assignment(db, "dan@x.io", "safety")
    assert (after.status, after.waived_reason) == ("waived", "Did it at his last job")
    [entry] = audit(db, "assignment.waive")
    assert (entry.actor, entry.reason, entry.details["via"]) == (
        "bea@x.io",
        "Did it at his last job",
        "escalation",
    )
    assert requests(db)[0].status == ExtensionStatus.EXPIRED  # no longer waiting for anyone
    [dm] = [row for row in dms_to(db, "U0DAN") if row.key.startswith("excused:")]
    assert "Bea excused you from “Safety training”" in dm.text


def test_a_reminder_is_sent_once_a_day_per_manager(org, clock):
    db = org
    safety = assignment(db, "dan@x.io", "safety")
    ana = person(db, "ana@x.io")

    def remind(slack_id="U0ANA"):
        with db.session() as session:
            return extensions.remind(
                session, clicker=as_(session, slack_id), assignment_id=safety.id, clock=clock
            )

    first, second = remind(), remind()

    assert (first.sent, second.sent) == (True, False)
    [dm] = dms_to(db, "U0DAN")
    assert dm.key == f"manager_reminder:{safety.id}:{ana.id}:2026-03-10"
    assert "Your manager, Ana, asked you to finish “Safety training”" in dm.text
    assert "which was due Thu 5 Mar" in dm.text
    assert len(audit(db, "escalation.remind")) == 1
    assert remind("U0BEA").sent  # the skip-level's own reminder
    clock.advance(timedelta(days=1))
    assert remind().sent
    assert len(dms_to(db, "U0DAN")) == 3
    assert "from your management chain" in dms_to(db, "U0DAN")[1].text


# --- Requests ---------------------------------------------------------------------------------


def test_a_request_goes_to_the_learners_manager_with_approve_and_decline(org, clock):
    db = org
    safety = assignment(db, "dan@x.io", "safety")

    asked = ask(db, clock, why="Release week")

    [request] = requests(db)
    assert (request.status, request.approver_id, request.requested_on, request.proposed_due) == (
        "open",
        person(db, "ana@x.io").id,
        TODAY,
        date(2026, 3, 20),
    )
    assert (asked.approver_name, asked.delivered) == ("Ana", True)
    [card] = dms_to(db, "U0ANA")
    assert card.kind == "extension_request"
    message = RenderedMessage.from_payload(card.payload)
    assert block_kit_problems(message) == []
    shown = str(card.payload["blocks"])
    for fact in ("Dan", "Safety training", "Thu 5 Mar", "Fri 20 Mar", "Release week"):
        assert fact in shown
    [actions] = [b for b in card.payload["blocks"] if b["type"] == "actions"]
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [
        ("extension_approve", str(request.id)),
        ("extension_decline", str(request.id)),
    ]
    [entry] = audit(db, "extension.request")
    assert (entry.actor, entry.reason, entry.details["assignment_id"]) == (
        "dan@x.io",
        "Release week",
        safety.id,
    )
    assert open_ids(db, [safety.id, 999]) == {safety.id}


def test_an_away_manager_is_skipped_for_the_next_one_up(org, clock):
    db = org
    set_fields(db, Person, person(db, "ana@x.io").id, away_until=date(2026, 3, 20))

    ask(db, clock)

    assert requests(db)[0].approver_id == person(db, "max@x.io").id
    assert len(dms_to(db, "U0MAX")) == 1 and dms_to(db, "U0ANA") == []


def test_with_nobody_in_the_chain_the_request_goes_to_the_admins_channel(cli, write, clock, db):
    setup_org(cli, write, clock)
    programs = PROGRAMS + 'channels:\n  admins: "#learnbot-admins"\n'
    assert cli("load-config", write("programs2.yml", programs)).code == 0
    clock.set(TUESDAY)

    ask(db, clock, email="bea@x.io")  # Bea has no manager

    [request] = requests(db)
    assert request.approver_id is None
    [card] = dms_to(db, "#learnbot-admins")
    assert "came to the learnbot admins" in str(card.payload["blocks"])


def test_without_an_admins_channel_each_admin_gets_a_dm(org, clock):
    db = org
    with db.session() as session:
        assert current_settings(session).channels.admins is None
    set_fields(db, Person, person(db, "cat@x.io").id, is_admin=True)

    ask(db, clock, email="bea@x.io")

    assert len(dms_to(db, "U0CAT")) == 1


def test_one_open_request_per_assignment(org, clock):
    db = org
    ask(db, clock)

    with pytest.raises(extensions.AlreadyRequested, match="already asked"):
        ask(db, clock, proposed=date(2026, 3, 25))

    assert len(requests(db)) == 1


def test_requests_are_for_ones_own_open_required_items_and_future_dates(org, clock):
    db = org
    with pytest.raises(NotAllowed):
        learner = person(db, "dan@x.io")
        with unit_of_work(db) as session:
            extensions.request_extension(
                session,
                learner=session.get(Person, learner.id),
                assignment_id=assignment(db, "ben@x.io", "safety").id,
                proposed=date(2026, 3, 20),
                reason="Not mine",
                clock=clock,
                admins=admin_list(()),
            )
    assert audit(db, "assignment.refused")[0].details["attempted"] == "extension_request"
    with pytest.raises(extensions.NotEligible, match="suggested"):
        ask(db, clock, item="shadow")
    with pytest.raises(InvalidInput, match="after today"):
        ask(db, clock, proposed=TODAY)
    with pytest.raises(InvalidInput, match="within a year"):
        ask(db, clock, proposed=date(2027, 3, 11))
    set_fields(db, Assignment, assignment(db, "dan@x.io", "safety").id, status="completed")
    with pytest.raises(NotOpen, match="already done"):
        ask(db, clock)
    assert requests(db) == []


# --- Decisions --------------------------------------------------------------------------------


def test_approving_moves_the_due_date_and_a_second_decision_changes_nothing(org, clock):
    db = org
    asked = ask(db, clock)
    safety = assignment(db, "dan@x.io", "safety")
    set_fields(db, Assignment, safety.id, ladder_step=1)
    clock.advance(timedelta(days=1))

    decided = decide(db, clock, "U0ANA", asked.request_id, approve=True)

    assert decided.approved and decided.card.decision == "approved"
    after = assignment(db, "dan@x.io", "safety")
    assert (after.due_date, after.due_pinned, after.ladder_step) == (date(2026, 3, 20), True, 0)
    [request] = requests(db)
    assert (request.status, request.decided_by) == ("approved", "ana@x.io")
    assert [e.action for e in audit(db, "extension.approve") + audit(db, "assignment.extend")] == [
        "extension.approve",
        "assignment.extend",
    ]
    assert audit(db, "assignment.extend")[0].details["extension_request_id"] == request.id
    [dm] = [row for row in dms_to(db, "U0DAN") if row.key.startswith("extended:")]
    assert "Ana approved your request for more time" in dm.text
    assert "now due Fri 20 Mar" in dm.text
    before = snapshot(db)

    with pytest.raises(extensions.AlreadyDecided) as again:
        decide(db, clock, "U0MAX", asked.request_id, approve=False)

    assert "already approved by Ana on Wed 11 Mar" in str(again.value)
    assert snapshot(db) == before


def test_declining_adds_the_working_days_the_request_was_open_to_the_pause(org, clock):
    db = org
    clock.set(datetime(2026, 3, 5, 10, 0, tzinfo=UTC))  # Thursday, the due date
    asked = ask(db, clock)
    clock.set(datetime(2026, 3, 9, 10, 0, tzinfo=UTC))  # Monday; Friday was a holiday
    safety = assignment(db, "dan@x.io", "safety")
    set_fields(db, Assignment, safety.id, ladder_paused_days=2)

    decided = decide(db, clock, "U0ANA", asked.request_id, approve=False)

    assert not decided.approved
    after = assignment(db, "dan@x.io", "safety")
    assert (after.due_date, after.ladder_paused_days) == (date(2026, 3, 5), 3)
    assert requests(db)[0].status == "declined"
    [entry] = audit(db, "extension.decline")
    assert (entry.actor, entry.details["paused_days"]) == ("ana@x.io", 1)
    [dm] = [row for row in dms_to(db, "U0DAN") if row.key.startswith("extension_decided:")]
    assert "Ana declined your request" in dm.text and "reminders continue" in dm.text


def test_the_pause_of_a_decline_is_capped(org, clock):
    db = org
    asked = ask(db, clock)
    clock.set(datetime(2026, 3, 24, 10, 0, tzinfo=UTC))  # ten working days later

    decide(db, clock, "U0ANA", asked.request_id, approve=False)

    assert assignment(db, "dan@x.io", "safety").ladder_paused_days == 5


def test_only_the_chain_or_an_admin_decides_and_never_the_learner(org, clock):
    db = org
    asked = ask(db, clock)
    for outsider in ("U0BEN", "U0DAN"):
        with pytest.raises(NotAllowed):
            decide(db, clock, outsider, asked.request_id, approve=True)
    assert requests(db)[0].status == "open"
    assert [e.actor for e in audit(db, "extension.refused")] == ["ben@x.io", "dan@x.io"]

    decide(db, clock, "U0CAT", asked.request_id, approve=False, admins=("cat@x.io",))

    assert requests(db)[0].status == "declined"


def test_approving_a_proposed_date_that_has_passed_is_refused(org, clock):
    db = org
    asked = ask(db, clock, proposed=date(2026, 3, 12))
    clock.set(datetime(2026, 3, 12, 10, 0, tzinfo=UTC))

    with pytest.raises(InvalidInput, match="not after Dan's today"):
        decide(db, clock, "U0ANA", asked.request_id, approve=True)

    assert requests(db)[0].status == "open"


# --- Expiry ------------------------------------------------------------------------------------


def expire(db, clock):
    with db.session() as session:
        settings = current_settings(session) or ProgramSettings()
        return extensions.expire_extension_requests(
            session, now=clock.now(), settings=settings, clock=clock
        )


def test_a_request_nobody_decides_lapses_after_the_pause_limit(org, clock):
    db = org
    ask(db, clock)  # Tuesday 10 March
    safety = assignment(db, "dan@x.io", "safety")
    clock.set(datetime(2026, 3, 14, 23, 0, tzinfo=UTC))  # Saturday: four days on

    assert expire(db, clock) == 0
    assert requests(db)[0].status == "open"

    clock.set(datetime(2026, 3, 15, 0, 30, tzinfo=UTC))  # Sunday: five days on
    assert expire(db, clock) == 1
    assert expire(db, clock) == 0

    [request] = requests(db)
    assert (request.status, request.decided_by) == ("expired", "learnbot")
    assert assignment(db, "dan@x.io", "safety").ladder_paused_days == 3  # Wed, Thu, Fri
    [entry] = audit(db, "extension.expire")
    assert (entry.actor, entry.subject, entry.details["paused_days"]) == (
        "learnbot",
        str(request.id),
        3,
    )
    [dm] = [row for row in dms_to(db, "U0DAN") if row.key.startswith("extension_decided:")]
    assert "no decision in 5 days" in dm.text and "reminders continue" in dm.text
    assert open_ids(db, [safety.id]) == set()


def test_lapsing_counts_days_in_the_learners_own_time_zone(org, clock):
    db = org
    dan = person(db, "dan@x.io")
    set_fields(db, Person, dan.id, timezone="Pacific/Auckland")
    clock.set(datetime(2026, 3, 9, 20, 0, tzinfo=UTC))  # 09:00 on Tuesday 10 March there
    ask(db, clock)
    assert requests(db)[0].requested_on == TODAY

    clock.set(datetime(2026, 3, 14, 11, 30, tzinfo=UTC))  # 00:30 on Sunday 15 March there
    assert expire(db, clock) == 1


def test_a_request_on_an_item_done_meanwhile_lapses_quietly(org, clock):
    db = org
    ask(db, clock)
    safety = assignment(db, "dan@x.io", "safety")
    set_fields(db, Assignment, safety.id, status="completed")
    clock.advance(timedelta(days=6))

    assert expire(db, clock) == 1

    assert requests(db)[0].status == "expired"
    assert assignment(db, "dan@x.io", "safety").ladder_paused_days == 0
    assert not [row for row in dms_to(db, "U0DAN") if row.key.startswith("extension_decided:")]


def test_a_request_before_the_item_is_overdue_must_propose_a_later_date(org, clock):
    db = org
    clock.set(datetime(2026, 3, 3, 10, 0, tzinfo=UTC))  # safety training is due Thursday 5th

    with pytest.raises(InvalidInput, match="after the current due date, Thu 5 Mar 2026"):
        ask(db, clock, proposed=date(2026, 3, 4))
    with pytest.raises(InvalidInput, match="where you are"):
        ask(db, clock, proposed=date(2026, 3, 3))

    ask(db, clock, proposed=date(2026, 3, 6))
    assert requests(db)[0].requested_on == date(2026, 3, 3)


def test_deciding_on_a_request_whose_item_was_excused_says_so(org, clock):
    db = org
    asked = ask(db, clock)
    with db.session() as session:
        extensions.excuse(
            session,
            clicker=as_(session, "U0BEA"),
            assignment_id=assignment(db, "dan@x.io", "safety").id,
            reason="Not needed in his team",
            clock=clock,
        )

    with pytest.raises(NotOpen, match="already excused for Dan"):
        decide(db, clock, "U0ANA", asked.request_id, approve=True)

    assert assignment(db, "dan@x.io", "safety").due_date == date(2026, 3, 5)
