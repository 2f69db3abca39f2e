"""The nudge DM's buttons through Bolt's real pipeline, against the fake Slack Web API."""

import json

import pytest
from sqlalchemy import func, select

from models import AuditEntry, CompletionEvent, ItemFeedback
from platforms.slack.render.limits import block_kit_problems
from platforms.slack.render.rendered import RenderedMessage
from server.app import build_app
from tests.chat_support import (
    PROGRAMS_QUIZ_NOW,
    SECRET,
    assignment,
    block,
    digest_dm,
    done_click,
    done_values,
    send_digests,
    setup_org,
    snooze_choice,
)
from tests.conftest import snapshot
from tests.fakes.bolt_requests import SlackRequests
from tests.fakes.slack_api import FakeSlack
from tests.helpers import slack_settings


@pytest.fixture
def fake(clock):
    with FakeSlack(time_source=lambda: clock.now().timestamp()) as server:
        yield server


@pytest.fixture
def slack(db, clock, fake):
    settings = slack_settings(fake.base_url, signing_secret=SECRET)
    app = build_app(settings, database=db, clock=clock, process_before_response=True)
    return SlackRequests(app, signing_secret=SECRET)


@pytest.fixture
def dms(cli, write, clock, db, fake):
    """Everyone's digest DM of Monday 2 March has been delivered (the quiz in it too)."""
    setup_org(cli, write, clock, programs=PROGRAMS_QUIZ_NOW)
    send_digests(db, fake, clock)
    assert digest_dm(fake, "U0ANA")


def count(db, column, *where):
    with db.session() as session:
        return session.scalar(select(func.count(column)).where(*where))


def audit_actions(db):
    with db.session() as session:
        return [
            (e.action, e.actor, e.person_id, e.subject, e.details)
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        ]


def without_audit(state):
    return {table: rows for table, rows in state.items() if table != "audit_log"}


def click_done(slack, fake, user_id, item_id, **overrides):
    message = digest_dm(fake, user_id)
    return slack.block_action(
        user_id=user_id,
        action=done_click(message, item_id, **overrides),
        message=message,
        channel_id=f"D{user_id[1:]}",
    )


def opened_view(fake):
    [call] = fake.calls_to("views.open")
    return call.body["view"]


def submit_done(slack, user_id, metadata, **values):
    return slack.view_submission(
        user_id=user_id,
        callback_id="digest_done_modal",
        values=done_values(**values),
        private_metadata=metadata,
    )


# --- Done ----------------------------------------------------------------------------


def test_done_opens_a_modal_with_a_score_field_for_an_assessment(dms, slack, fake, db):
    quiz = assignment(db, "ana@x.io", "safety-quiz")
    ts = digest_dm(fake, "U0ANA")["ts"]

    response = click_done(slack, fake, "U0ANA", quiz.id)

    assert response.status == 200
    [call] = fake.calls_to("views.open")
    assert call.ok and call.body["trigger_id"].startswith("trigger-")
    view = call.body["view"]
    assert view["callback_id"] == "digest_done_modal"
    assert [b.get("block_id") for b in view["blocks"] if b["type"] == "input"] == [
        "evidence",
        "score",
        "rating",
        "comment",
    ]
    assert all(b["optional"] for b in view["blocks"] if b["type"] == "input")
    rating = next(b for b in view["blocks"] if b.get("block_id") == "rating")
    assert rating["label"]["text"] == "How useful was this?"
    assert [o["value"] for o in rating["element"]["options"]] == ["1", "2", "3", "4", "5"]
    assert json.loads(view["private_metadata"]) == {"a": quiz.id, "c": "D0ANA", "ts": ts}


def test_done_on_an_item_that_is_not_an_assessment_asks_for_no_score(dms, slack, fake, db):
    intro = assignment(db, "ana@x.io", "intro")

    click_done(slack, fake, "U0ANA", intro.id)

    view = opened_view(fake)
    assert "score" not in [b.get("block_id") for b in view["blocks"]]


def test_submitting_done_records_the_completion_updates_the_dm_and_stores_feedback(
    dms, slack, fake, db
):
    quiz = assignment(db, "ana@x.io", "safety-quiz")
    intro = assignment(db, "ana@x.io", "intro")
    dm = digest_dm(fake, "U0ANA")
    click_done(slack, fake, "U0ANA", quiz.id)
    metadata = opened_view(fake)["private_metadata"]

    response = submit_done(
        slack,
        "U0ANA",
        metadata,
        evidence="https://lms.example.com/certificates/42",
        score="85",
        rating="4",
        comment="Short and to the point",
    )

    assert (response.status, response.body) == (200, "")
    done = assignment(db, "ana@x.io", "safety-quiz")
    assert (done.status, done.score, done.evidence_url, done.completion_source) == (
        "completed",
        85.0,
        "https://lms.example.com/certificates/42",
        "slack",
    )
    assert count(db, CompletionEvent.id) == 1
    with db.session() as session:
        feedback = session.scalars(select(ItemFeedback)).one()
    assert (feedback.assignment_id, feedback.rating, feedback.comment) == (
        quiz.id,
        4,
        "Short and to the point",
    )
    [update] = fake.calls_to("chat.update")
    assert update.ok
    assert (update.body["channel"], update.body["ts"]) == ("D0ANA", dm["ts"])
    updated = update.body["blocks"]
    item = block({"blocks": updated}, f"item:{quiz.id}")
    assert item is not None and "✅ Done" in item["text"]["text"]
    assert block({"blocks": updated}, f"item:{quiz.id}:actions") is None
    assert block({"blocks": updated}, f"item:{intro.id}:actions") is not None
    assert digest_dm(fake, "U0ANA")["blocks"] == updated
    assert [a[0] for a in audit_actions(db)][-2:] == ["assignment.done", "feedback.record"]


def test_submitting_done_twice_records_one_completion_and_one_feedback(dms, slack, fake, db):
    quiz = assignment(db, "ana@x.io", "safety-quiz")
    click_done(slack, fake, "U0ANA", quiz.id)
    metadata = opened_view(fake)["private_metadata"]

    first = submit_done(slack, "U0ANA", metadata, score="90", rating="5")
    second = submit_done(slack, "U0ANA", metadata, score="90", rating="3")

    assert (first.status, second.status) == (200, 200)
    assert count(db, CompletionEvent.id) == 1
    assert count(db, ItemFeedback.id) == 1
    assert [a[0] for a in audit_actions(db)].count("assignment.done") == 1
    assert len(fake.delivered("chat.update")) == 2  # the DM shows Done either way


def test_done_on_an_item_already_done_opens_no_modal_and_says_so(dms, slack, fake, db):
    quiz = assignment(db, "ana@x.io", "safety-quiz")
    old_copy = digest_dm(fake, "U0ANA")  # e.g. still on screen on another device
    click_done(slack, fake, "U0ANA", quiz.id)
    submit_done(slack, "U0ANA", opened_view(fake)["private_metadata"])

    slack.block_action(
        user_id="U0ANA", action=done_click(old_copy, quiz.id), message=old_copy, channel_id="D0ANA"
    )

    assert len(fake.calls_to("views.open")) == 1
    [note] = fake.calls_to("chat.postEphemeral")
    assert "already marked done" in note.body["text"]
    assert count(db, CompletionEvent.id) == 1


@pytest.mark.parametrize(
    ("values", "block_id", "message"),
    [
        ({"score": "101"}, "score", "0 to 100"),
        ({"score": "-1"}, "score", "0 to 100"),
        ({"evidence": "not a link"}, "evidence", "https://"),
        ({"evidence": "ftp://files.example.com/x"}, "evidence", "https://"),
        ({"comment": "Great"}, "rating", "Pick how useful"),
    ],
)
def test_a_bad_done_form_is_answered_in_the_modal_and_changes_nothing(
    dms, slack, fake, db, values, block_id, message
):
    quiz = assignment(db, "ana@x.io", "safety-quiz")
    click_done(slack, fake, "U0ANA", quiz.id)
    before = snapshot(db)

    response = submit_done(slack, "U0ANA", opened_view(fake)["private_metadata"], **values)

    assert response.status == 200
    answer = json.loads(response.body)
    assert answer["response_action"] == "errors"
    assert list(answer["errors"]) == [block_id]
    assert message in answer["errors"][block_id]
    assert snapshot(db) == before
    assert fake.calls_to("chat.update") == []


# --- Snooze ----------------------------------------------------------------------------


def choose_snooze(slack, fake, user_id, item_id, code):
    message = digest_dm(fake, user_id)
    return slack.block_action(
        user_id=user_id,
        action=snooze_choice(message, item_id, code),
        message=message,
        channel_id=f"D{user_id[1:]}",
    )


def test_snooze_updates_the_dm_in_place(dms, slack, fake, db):
    shadow = assignment(db, "ana@x.io", "shadow")  # suggested

    response = choose_snooze(slack, fake, "U0ANA", shadow.id, "1w")

    assert response.status == 200
    assert assignment(db, "ana@x.io", "shadow").snoozed_until is not None
    [update] = fake.calls_to("chat.update")
    blocks = {"blocks": update.body["blocks"]}
    assert "Snoozed until Mon 9 Mar" in block(blocks, f"item:{shadow.id}")["text"]["text"]
    assert block(blocks, f"item:{shadow.id}:actions") is None
    assert fake.calls_to("chat.postEphemeral") == []


def test_snoozing_a_required_item_stops_at_its_due_date(dms, slack, fake, db):
    safety = assignment(db, "ana@x.io", "safety")
    assert safety.required and safety.due_date.isoformat() == "2026-03-05"

    choose_snooze(slack, fake, "U0ANA", safety.id, "1w")

    [update] = fake.calls_to("chat.update")
    text = block({"blocks": update.body["blocks"]}, f"item:{safety.id}")["text"]["text"]
    assert "Snoozed until Thu 5 Mar" in text


def test_a_required_item_due_today_cannot_be_snoozed_and_the_reason_is_told_privately(
    dms, slack, fake, db
):
    intro = assignment(db, "ana@x.io", "intro")  # required, due today
    before = snapshot(db)

    choose_snooze(slack, fake, "U0ANA", intro.id, "1d")

    [note] = fake.calls_to("chat.postEphemeral")
    assert (note.body["channel"], note.body["user"]) == ("D0ANA", "U0ANA")
    assert "required and due today" in note.body["text"]
    assert fake.calls_to("chat.update") == []
    assert snapshot(db) == before


def test_the_open_button_is_only_acknowledged(dms, slack, fake, db):
    safety = assignment(db, "ana@x.io", "safety")  # the item with a url
    message = digest_dm(fake, "U0ANA")
    before = snapshot(db)
    calls = len(fake.calls)
    api_calls = lambda: [c.method for c in fake.calls[calls:] if c.method != "auth.test"]  # noqa: E731

    response = slack.block_action(
        user_id="U0ANA",
        action={"type": "button", "action_id": "digest_open", "value": str(safety.id)},
        message=message,
        channel_id="D0ANA",
    )

    assert response.status == 200
    assert api_calls() == []  # Bolt's own auth.test aside
    assert snapshot(db) == before


# --- Tampering and strangers -----------------------------------------------------------


def test_a_tampered_done_value_for_someone_elses_item_is_refused_and_audited(dms, slack, fake, db):
    ana_quiz = assignment(db, "ana@x.io", "safety-quiz")
    ben_quiz = assignment(db, "ben@x.io", "safety-quiz")
    before = snapshot(db)

    response = click_done(slack, fake, "U0ANA", ana_quiz.id, value=str(ben_quiz.id))

    assert response.status == 200
    assert fake.calls_to("views.open") == []
    [note] = fake.calls_to("chat.postEphemeral")
    assert note.body["text"] == "You can only update your own items."
    assert without_audit(snapshot(db)) == without_audit(before)
    action, actor, person_id, subject, details = audit_actions(db)[-1]
    assert (action, actor, subject) == ("assignment.refused", "ana@x.io", str(ben_quiz.id))
    assert person_id == ben_quiz.person_id
    assert details["attempted"] == "done"
    assert details["owner_person_id"] == ben_quiz.person_id


def test_a_tampered_done_submission_is_refused_and_audited(dms, slack, fake, db):
    ben_quiz = assignment(db, "ben@x.io", "safety-quiz")
    before = snapshot(db)
    metadata = json.dumps({"a": ben_quiz.id, "c": "D0ANA", "ts": "1.000100"})

    response = submit_done(slack, "U0ANA", metadata, score="100", rating="5")

    assert (response.status, response.body) == (200, "")
    assert without_audit(snapshot(db)) == without_audit(before)
    assert audit_actions(db)[-1][0] == "assignment.refused"
    [note] = fake.calls_to("chat.postEphemeral")
    assert note.body["text"] == "You can only update your own items."


def test_a_tampered_snooze_value_is_refused_and_audited(dms, slack, fake, db):
    ana_shadow = assignment(db, "ana@x.io", "shadow")
    ben_shadow = assignment(db, "ben@x.io", "shadow")
    message = digest_dm(fake, "U0ANA")
    action = snooze_choice(message, ana_shadow.id, "3d")
    action["selected_option"]["value"] = f"{ben_shadow.id}:3d"
    before = snapshot(db)

    slack.block_action(user_id="U0ANA", action=action, message=message, channel_id="D0ANA")

    assert without_audit(snapshot(db)) == without_audit(before)
    assert audit_actions(db)[-1][0] == "assignment.refused"
    assert audit_actions(db)[-1][4]["attempted"] == "snooze"
    assert fake.calls_to("chat.update") == []


def test_someone_learnbot_does_not_know_is_told_so(dms, slack, fake, db):
    quiz = assignment(db, "ana@x.io", "safety-quiz")
    message = digest_dm(fake, "U0ANA")
    before = snapshot(db)

    slack.block_action(user_id="U0STRANGER", action=done_click(message, quiz.id), message=message)

    [note] = fake.calls_to("chat.postEphemeral")
    assert "don't have you in learnbot" in note.body["text"]
    assert snapshot(db) == before


def test_a_garbled_button_value_gets_a_message_not_an_error(dms, slack, fake, db):
    quiz = assignment(db, "ana@x.io", "safety-quiz")

    response = click_done(slack, fake, "U0ANA", quiz.id, value="not-a-number")

    assert response.status == 200
    [note] = fake.calls_to("chat.postEphemeral")
    assert "no longer works" in note.body["text"]


def test_the_updated_dm_stays_within_block_kit_limits(dms, slack, fake, db):
    quiz = assignment(db, "ana@x.io", "safety-quiz")
    shadow = assignment(db, "ana@x.io", "shadow")
    choose_snooze(slack, fake, "U0ANA", shadow.id, "3d")
    click_done(slack, fake, "U0ANA", quiz.id)
    submit_done(slack, "U0ANA", opened_view(fake)["private_metadata"], rating="2")

    first, second = fake.calls_to("chat.update")
    for call in (first, second):
        message = RenderedMessage.from_payload(call.body)
        assert block_kit_problems(message) == []
    # The second update still shows the first click's snooze.
    blocks = {"blocks": second.body["blocks"]}
    assert "Snoozed until Thu 5 Mar" in block(blocks, f"item:{shadow.id}")["text"]["text"]
    assert "✅ Done" in block(blocks, f"item:{quiz.id}")["text"]["text"]


def test_done_from_app_home_records_the_completion_and_refreshes_home(dms, slack, fake, db):
    quiz = assignment(db, "ana@x.io", "safety-quiz")
    home = {"id": "V0HOME", "type": "home"}

    slack.block_action(
        user_id="U0ANA",
        action={"type": "button", "action_id": "digest_done", "value": str(quiz.id)},
        view=home,
    )
    view = opened_view(fake)
    assert json.loads(view["private_metadata"]) == {"a": quiz.id, "c": "", "ts": ""}
    submit_done(slack, "U0ANA", view["private_metadata"], score="75")

    assert assignment(db, "ana@x.io", "safety-quiz").status == "completed"
    assert fake.calls_to("chat.update") == []
    [confirmation] = [c for c in fake.calls_to("chat.postMessage") if c.body["channel"] == "U0ANA"][
        -1:
    ]
    assert "“Safety quiz” is marked done" in confirmation.body["text"]
    assert [c.body["user_id"] for c in fake.delivered("views.publish")] == ["U0ANA"]


def test_with_the_production_setting_listeners_finish_after_the_ack(dms, db, clock, fake):
    settings = slack_settings(fake.base_url, signing_secret=SECRET)
    app = build_app(settings, database=db, clock=clock)  # process_before_response=False
    slack = SlackRequests(app, signing_secret=SECRET)
    quiz = assignment(db, "ana@x.io", "safety-quiz")

    response = click_done(slack, fake, "U0ANA", quiz.id)

    assert (response.status, response.body) == (200, "")
    [call] = fake.wait_for_calls("views.open", 1)
    assert call.ok
