"""The escalation ladder's buttons and modals through Bolt's real pipeline, against the
fake Slack Web API: what managers, learners and admins see, and what changes.

The org is tests.chat_support.PEOPLE: Ana manages Dan, Max manages Ana (and Ben), Bea is
at the top; Mia and Cat are in another branch. On Tuesday 10 March 2026 Dan's
first-week items (safety training was due Thursday 5 March) are overdue.
"""

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from models import AuditEntry, ExtensionRequest, OutboxMessage
from platforms.slack.render.limits import block_kit_problems, view_problems
from platforms.slack.render.rendered import RenderedMessage
from server.app import build_app
from tests.chat_support import SECRET, assignment, setup_org
from tests.conftest import snapshot
from tests.fakes.bolt_requests import SlackRequests
from tests.fakes.slack_api import FakeSlack
from tests.helpers import PROGRAMS, slack_settings
from tests.outbox_support import make_sender

TUESDAY = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
# A manager's escalation DM, as far as the clicks need it (messages.escalation renders it).
ESCALATION_DM = {"type": "message", "ts": "1773136800.000100", "text": "Overdue in your team"}


@pytest.fixture
def fake(clock):
    with FakeSlack(time_source=lambda: clock.now().timestamp()) as server:
        yield server


def bolt(db, clock, fake, admins=()):
    settings = slack_settings(fake.base_url, signing_secret=SECRET, admins=admins)
    app = build_app(settings, database=db, clock=clock, process_before_response=True)
    return SlackRequests(app, signing_secret=SECRET)


@pytest.fixture
def slack(db, clock, fake):
    return bolt(db, clock, fake)


@pytest.fixture
def org(cli, write, clock):
    setup_org(cli, write, clock)
    clock.set(TUESDAY)


def deliver(db, fake, clock):
    make_sender(db, fake, clock).drain()


def dm_texts(fake, user_id):
    return [m["text"] for m in fake.messages(user_id)]


def ephemerals(fake, user_id):
    return [
        c.body["text"] for c in fake.calls_to("chat.postEphemeral") if c.body["user"] == user_id
    ]


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


def outbox_count(db):
    with db.session() as session:
        return len(session.scalars(select(OutboxMessage)).all())


def without_audit(state):
    return {table: rows for table, rows in state.items() if table != "audit_log"}


def click(slack, user_id, action_id, value, *, message=ESCALATION_DM):
    return slack.block_action(
        user_id=user_id,
        action={"type": "button", "action_id": action_id, "value": str(value)},
        message=message,
        channel_id=f"D{user_id[1:]}",
    )


def opened_view(fake):
    return fake.calls_to("views.open")[-1].body["view"]


def form(due=None, reason=None):
    return {
        "extension_due": {"due": {"type": "datepicker", "selected_date": due}},
        "extension_reason": {"reason": {"type": "plain_text_input", "value": reason}},
    }


def submit(slack, user_id, callback_id, metadata, values):
    return slack.view_submission(
        user_id=user_id, callback_id=callback_id, values=values, private_metadata=metadata
    )


def field_errors(response):
    assert response.status == 200
    answer = json.loads(response.body)
    assert answer["response_action"] == "errors"
    return answer["errors"]


# --- Remind ------------------------------------------------------------------------------------


def test_remind_dms_the_learner_once_and_confirms_to_the_manager(org, slack, fake, db, clock):
    safety = assignment(db, "dan@x.io", "safety")

    first = click(slack, "U0ANA", "escalation_remind", safety.id)
    second = click(slack, "U0ANA", "escalation_remind", safety.id)  # a double click
    deliver(db, fake, clock)

    assert (first.status, second.status) == (200, 200)
    [dm] = dm_texts(fake, "U0DAN")
    assert "Your manager, Ana, asked you to finish “Safety training”" in dm
    assert "due Thu 5 Mar" in dm
    assert ephemerals(fake, "U0ANA") == [
        "Reminder sent to Dan.",
        "You already reminded Dan today, so no second reminder was sent.",
    ]
    assert fake.calls_to("chat.postEphemeral")[0].body["channel"] == "D0ANA"
    [entry] = audit(db, "escalation.remind")
    assert (entry.actor, entry.subject) == ("ana@x.io", str(safety.id))


def test_someone_outside_the_chain_is_refused_privately_and_nothing_is_sent(
    org, slack, fake, db, clock
):
    safety = assignment(db, "dan@x.io", "safety")
    before = snapshot(db)

    click(slack, "U0BEN", "escalation_remind", safety.id)
    deliver(db, fake, clock)

    [note] = ephemerals(fake, "U0BEN")
    assert note == "Only Dan's managers or a learnbot admin can do that. Nothing was changed."
    assert dm_texts(fake, "U0DAN") == []
    assert without_audit(snapshot(db)) == without_audit(before)
    [entry] = audit(db, "escalation.refused")
    assert (entry.actor, entry.details["attempted"]) == ("ben@x.io", "escalation.remind")


def test_an_admin_outside_the_chain_may_remind(org, db, clock, fake):
    slack = bolt(db, clock, fake, admins=("u0cat",))
    safety = assignment(db, "dan@x.io", "safety")

    click(slack, "U0CAT", "escalation_remind", safety.id)
    deliver(db, fake, clock)

    assert ephemerals(fake, "U0CAT") == ["Reminder sent to Dan."]
    [dm] = dm_texts(fake, "U0DAN")
    assert "Cat, a learnbot admin, asked you" in dm


def test_an_item_done_meanwhile_gets_an_already_done_answer(org, slack, fake, db, clock):
    safety = assignment(db, "dan@x.io", "safety")
    assert slack.command("done safety", user_id="U0DAN").status == 200

    for action_id in ("escalation_remind", "escalation_extend", "escalation_excuse"):
        click(slack, "U0ANA", action_id, safety.id)

    assert (
        ephemerals(fake, "U0ANA")
        == ["“Safety training” is already done: Dan finished it. Nothing more to do."] * 3
    )
    assert fake.calls_to("views.open") == []


def test_a_garbled_button_value_gets_a_message(org, slack, fake):
    click(slack, "U0ANA", "escalation_remind", "not-a-number")
    assert "no longer works" in ephemerals(fake, "U0ANA")[0]


# --- Extend ---------------------------------------------------------------------------------------


def open_extend(slack, fake, user_id, assignment_id):
    click(slack, user_id, "escalation_extend", assignment_id)
    return opened_view(fake)


def test_extend_opens_a_modal_and_its_submission_moves_the_due_date(org, slack, fake, db, clock):
    safety = assignment(db, "dan@x.io", "safety")
    with db.session() as session:
        session.get(type(safety), safety.id).ladder_step = 2

    view = open_extend(slack, fake, "U0ANA", safety.id)

    assert view["callback_id"] == "escalation_extend_modal"
    assert view_problems(view) == []
    assert [b.get("block_id") for b in view["blocks"] if b["type"] == "input"] == [
        "extension_due",
        "extension_reason",
    ]
    assert json.loads(view["private_metadata"]) == {
        "a": safety.id,
        "c": "D0ANA",
        "ts": ESCALATION_DM["ts"],
    }

    response = submit(
        slack,
        "U0ANA",
        "escalation_extend_modal",
        view["private_metadata"],
        form("2026-03-27", "Covering the release"),
    )
    deliver(db, fake, clock)

    assert (response.status, response.body) == (200, "")
    after = assignment(db, "dan@x.io", "safety")
    assert (after.due_date, after.due_pinned, after.ladder_step) == (date(2026, 3, 27), True, 0)
    [note] = ephemerals(fake, "U0ANA")
    assert "“Safety training” is now due Fri 27 Mar for Dan" in note
    [dm] = dm_texts(fake, "U0DAN")
    assert "Ana gave you more time" in dm and "Fri 27 Mar" in dm
    assert "Covering the release" in dm
    [entry] = audit(db, "assignment.extend")
    assert (entry.actor, entry.reason) == ("ana@x.io", "Covering the release")


@pytest.mark.parametrize(
    ("values", "block_id", "message"),
    [
        (form("2026-03-10", "Busy"), "extension_due", "after today"),
        (form("2026-03-01", "Busy"), "extension_due", "after today"),
        (form("2027-03-11", "Busy"), "extension_due", "within a year"),
        (form(None, "Busy"), "extension_due", "Pick a date"),
        (form("2026-03-20", "   "), "extension_reason", "Give a reason"),
        (form("2026-03-20", "x" * 501), "extension_reason", "at most 500"),
    ],
)
def test_a_bad_extend_form_is_answered_in_the_modal_and_changes_nothing(
    org, slack, fake, db, values, block_id, message
):
    safety = assignment(db, "dan@x.io", "safety")
    view = open_extend(slack, fake, "U0ANA", safety.id)
    before = snapshot(db)

    errors = field_errors(
        submit(slack, "U0ANA", "escalation_extend_modal", view["private_metadata"], values)
    )

    assert list(errors) == [block_id]
    assert message in errors[block_id]
    assert snapshot(db) == before
    assert fake.calls_to("chat.postEphemeral") == []


def test_extend_by_someone_outside_the_chain_opens_no_modal(org, slack, fake, db):
    safety = assignment(db, "dan@x.io", "safety")

    click(slack, "U0MIA", "escalation_extend", safety.id)

    assert fake.calls_to("views.open") == []
    assert "Only Dan's managers" in ephemerals(fake, "U0MIA")[0]


def test_a_tampered_extend_submission_is_refused_and_audited(org, slack, fake, db, clock):
    safety = assignment(db, "dan@x.io", "safety")
    metadata = json.dumps({"a": safety.id, "c": "D0BEN", "ts": "1.000100"})
    before = snapshot(db)

    response = submit(slack, "U0BEN", "escalation_extend_modal", metadata, form("2026-03-20", "x"))
    deliver(db, fake, clock)

    assert (response.status, response.body) == (200, "")
    assert without_audit(snapshot(db)) == without_audit(before)
    assert "Only Dan's managers" in ephemerals(fake, "U0BEN")[0]
    assert audit(db, "escalation.refused")[0].details["attempted"] == "escalation.extend"
    assert dm_texts(fake, "U0DAN") == []


# --- Excuse -----------------------------------------------------------------------------------


def test_excuse_waives_the_item_tells_the_learner_and_audits_the_reason(
    org, slack, fake, db, clock
):
    safety = assignment(db, "dan@x.io", "safety")
    click(slack, "U0MAX", "escalation_excuse", safety.id)  # Dan's skip-level
    view = opened_view(fake)
    assert view["callback_id"] == "escalation_excuse_modal"
    assert view_problems(view) == []
    assert [b.get("block_id") for b in view["blocks"] if b["type"] == "input"] == [
        "extension_reason"
    ]

    missing = field_errors(
        submit(slack, "U0MAX", "escalation_excuse_modal", view["private_metadata"], form())
    )
    assert list(missing) == ["extension_reason"]
    assert assignment(db, "dan@x.io", "safety").status == "open"

    submit(
        slack,
        "U0MAX",
        "escalation_excuse_modal",
        view["private_metadata"],
        form(reason="Certified at his last job"),
    )
    deliver(db, fake, clock)

    after = assignment(db, "dan@x.io", "safety")
    assert (after.status, after.waived_reason) == ("waived", "Certified at his last job")
    [entry] = audit(db, "assignment.waive")
    assert (entry.actor, entry.reason) == ("max@x.io", "Certified at his last job")
    [dm] = dm_texts(fake, "U0DAN")
    assert "Max excused you from “Safety training”" in dm
    assert ephemerals(fake, "U0MAX") == [
        "Done: Dan is excused from “Safety training”, and they have been told."
    ]


# --- The learner asks for more time ----------------------------------------------------------


def ask(slack, fake, user_id, assignment_id, due="2026-03-20", reason="Release week"):
    click(slack, user_id, "digest_request_extension", assignment_id)
    view = opened_view(fake)
    return view, submit(
        slack, user_id, "extension_request_modal", view["private_metadata"], form(due, reason)
    )


def card_button(message, action_id):
    """A click on the Approve or Decline button of a request's card, as Slack sends it."""
    [actions] = [b for b in message["blocks"] if b["type"] == "actions"]
    button = next(e for e in actions["elements"] if e["action_id"] == action_id)
    return {"type": "button", "action_id": action_id, "value": button["value"]}


def decide(slack, user_id, channel_id, message, action_id):
    return slack.block_action(
        user_id=user_id,
        action=card_button(message, action_id),
        message=message,
        channel_id=channel_id,
    )


def test_a_request_reaches_the_manager_and_approving_it_extends_the_item(
    org, slack, fake, db, clock
):
    safety = assignment(db, "dan@x.io", "safety")

    view, response = ask(slack, fake, "U0DAN", safety.id)
    deliver(db, fake, clock)

    assert view["callback_id"] == "extension_request_modal"
    assert view_problems(view) == []
    assert "Your request goes to Ana" in str(view["blocks"])
    assert (response.status, response.body) == (200, "")
    [request] = requests(db)
    assert (request.status, request.requested_on, request.proposed_due) == (
        "open",
        date(2026, 3, 10),
        date(2026, 3, 20),
    )
    assert "went to Ana" in ephemerals(fake, "U0DAN")[0]
    [card] = fake.messages("U0ANA")
    assert block_kit_problems(RenderedMessage.from_payload(card)) == []
    for fact in ("Dan", "Safety training", "Thu 5 Mar", "Fri 20 Mar", "Release week"):
        assert fact in json.dumps(card["blocks"], ensure_ascii=False)

    clock.advance(timedelta(hours=2))
    decide(slack, "U0ANA", "D0ANA", card, "extension_approve")
    deliver(db, fake, clock)

    after = assignment(db, "dan@x.io", "safety")
    assert (after.due_date, after.due_pinned) == (date(2026, 3, 20), True)
    assert requests(db)[0].status == "approved"
    [update] = fake.calls_to("chat.update")
    assert (update.body["channel"], update.body["ts"]) == ("D0ANA", card["ts"])
    assert "✅ Approved by Ana" in json.dumps(update.body["blocks"], ensure_ascii=False)
    assert not [b for b in update.body["blocks"] if b["type"] == "actions"]
    assert "Ana approved your request for more time" in dm_texts(fake, "U0DAN")[-1]
    assert [e.action for e in audit(db, "extension.request")] == ["extension.request"]
    assert audit(db, "extension.approve")[0].actor == "ana@x.io"
    assert audit(db, "assignment.extend")[0].details["extension_request_id"] == request.id


def test_deciding_twice_says_who_decided_and_changes_nothing(org, slack, fake, db, clock):
    safety = assignment(db, "dan@x.io", "safety")
    ask(slack, fake, "U0DAN", safety.id)
    deliver(db, fake, clock)
    old_copy = fake.messages("U0ANA")[-1]
    decide(slack, "U0ANA", "D0ANA", old_copy, "extension_approve")
    deliver(db, fake, clock)
    before = snapshot(db)
    dms_before = len(dm_texts(fake, "U0DAN"))

    decide(slack, "U0ANA", "D0ANA", old_copy, "extension_decline")
    deliver(db, fake, clock)

    assert ephemerals(fake, "U0ANA")[-1] == (
        "This request was already approved by Ana on Tue 10 Mar. Nothing was changed."
    )
    assert snapshot(db) == before
    assert len(dm_texts(fake, "U0DAN")) == dms_before


def test_declining_tells_the_learner_and_pauses_the_ladder(org, slack, fake, db, clock):
    safety = assignment(db, "dan@x.io", "safety")
    ask(slack, fake, "U0DAN", safety.id)
    deliver(db, fake, clock)
    clock.set(datetime(2026, 3, 12, 9, 0, tzinfo=UTC))  # Thursday

    decide(slack, "U0ANA", "D0ANA", fake.messages("U0ANA")[-1], "extension_decline")
    deliver(db, fake, clock)

    after = assignment(db, "dan@x.io", "safety")
    assert (after.due_date, after.ladder_paused_days) == (date(2026, 3, 5), 2)
    assert requests(db)[0].status == "declined"
    assert "Declined by Ana" in json.dumps(
        fake.calls_to("chat.update")[0].body["blocks"], ensure_ascii=False
    )
    dm = dm_texts(fake, "U0DAN")[-1]
    assert "Ana declined your request" in dm and "reminders continue" in dm
    [entry] = audit(db, "extension.decline")
    assert (entry.actor, entry.details["paused_days"]) == ("ana@x.io", 2)


def test_a_second_request_while_one_is_open_gets_a_clear_answer(org, slack, fake, db, clock):
    safety = assignment(db, "dan@x.io", "safety")
    ask(slack, fake, "U0DAN", safety.id)

    click(slack, "U0DAN", "digest_request_extension", safety.id)

    assert len(fake.calls_to("views.open")) == 1
    assert "You already asked for more time on “Safety training”" in ephemerals(fake, "U0DAN")[-1]
    assert len(requests(db)) == 1


@pytest.mark.parametrize(
    ("due", "reason", "block_id", "message"),
    [
        ("2026-03-10", "Busy", "extension_due", "after today"),
        ("2027-03-11", "Busy", "extension_due", "within a year"),
        ("2026-03-20", "", "extension_reason", "Give a reason"),
    ],
)
def test_a_bad_request_form_is_answered_in_the_modal(
    org, slack, fake, db, due, reason, block_id, message
):
    safety = assignment(db, "dan@x.io", "safety")
    before = snapshot(db)

    _, response = ask(slack, fake, "U0DAN", safety.id, due=due, reason=reason)

    errors = field_errors(response)
    assert list(errors) == [block_id] and message in errors[block_id]
    assert snapshot(db) == before


def test_a_learner_cannot_ask_for_time_on_someone_elses_item(org, slack, fake, db):
    bens = assignment(db, "ben@x.io", "safety")

    click(slack, "U0DAN", "digest_request_extension", bens.id)

    assert fake.calls_to("views.open") == []
    assert ephemerals(fake, "U0DAN") == ["You can only update your own items."]
    assert audit(db, "assignment.refused")[0].details["attempted"] == "extension_request"


def test_with_nobody_in_the_chain_the_admins_channel_decides(cli, write, clock, db, fake):
    setup_org(cli, write, clock)
    programs = PROGRAMS + 'channels:\n  admins: "#learnbot-admins"\n'
    assert cli("load-config", write("programs2.yml", programs)).code == 0
    clock.set(TUESDAY)
    slack = bolt(db, clock, fake, admins=("mia@x.io",))
    safety = assignment(db, "bea@x.io", "safety")  # Bea has no manager

    ask(slack, fake, "U0BEA", safety.id)
    deliver(db, fake, clock)

    assert "went to the learnbot admins" in ephemerals(fake, "U0BEA")[0]
    [card] = fake.messages("#learnbot-admins")
    assert "came to the learnbot admins" in json.dumps(card["blocks"], ensure_ascii=False)
    refused = decide(slack, "U0BEN", "#learnbot-admins", card, "extension_approve")
    assert refused.status == 200
    assert requests(db)[0].status == "open"
    assert "Only Bea's managers or a learnbot admin" in ephemerals(fake, "U0BEN")[0]

    decide(slack, "U0MIA", "#learnbot-admins", card, "extension_approve")
    deliver(db, fake, clock)

    assert requests(db)[0].status == "approved"
    assert assignment(db, "bea@x.io", "safety").due_date == date(2026, 3, 20)
    assert "Mia approved your request" in dm_texts(fake, "U0BEA")[-1]
    assert outbox_count(db) == 2  # the card and Bea's DM
