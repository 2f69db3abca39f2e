"""The "Give kudos" message shortcut: the modal it opens (read from the fake Slack's
``views.open`` body) and its submission, through Bolt's real signed pipeline, with the
kudos delivered by the real sender to the fake Slack server on a frozen clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_bolt import BoltResponse
from sqlalchemy import select

from models import Kudos
from platforms.slack.listeners import registry
from platforms.slack.render import ids
from platforms.slack.render.limits import view_problems
from tests.fakes.bolt_requests import SlackRequests
from tests.fakes.slack_api import BOT_ID, FakeSlack
from tests.helpers import people_csv
from tests.outbox_support import make_sender
from tests.test_kudos import PROGRAMS as KUDOS_PROGRAMS
from tests.test_learn_command import SECRET, make_learn

# The kudos tests' program, with the default quota of 3.
PROGRAMS = KUDOS_PROGRAMS.replace("daily_quota: 2", "daily_quota: 3")

PEOPLE = (
    "ann@k.io,Ann Giver,,engineer,Ops,2026-03-02,Europe/London,UANN",
    "bob@k.io,Bob Author,,engineer,Ops,2026-03-02,Europe/London,UBOB",
    "pat@k.io,Pat Private,,engineer,Ops,2026-03-02,Europe/London,UPAT",
)
START = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
CHANNEL = "C0GENERAL"
BOBS_MESSAGE = {
    "type": "message",
    "user": "UBOB",
    "ts": "1772539200.000100",
    "text": "Shipped the <https://docs.k.io/deploy|deploy guide> &amp; fixed the CI cache",
}


class KudosShortcut:
    """The shortcut and its modal as people use them, plus ``/learn`` for comparison."""

    def __init__(self, learn: Any, requests: SlackRequests, fake: FakeSlack) -> None:
        self.learn = learn
        self.requests = requests
        self.fake = fake

    def shortcut(
        self, user_id: str, message: dict[str, Any], *, channel_id: str = CHANNEL
    ) -> BoltResponse:
        return self.requests.interaction(
            {
                "type": "message_action",
                "callback_id": registry.GIVE_KUDOS_SHORTCUT,
                "user": {"id": user_id, "team_id": "T0TEAM"},
                "channel": {"id": channel_id, "name": "general"},
                "message": message,
                "message_ts": message.get("ts"),
                "response_url": "https://hooks.slack.test/shortcuts/1",
            }
        )

    def opened(self) -> dict[str, Any]:
        """The view of the only ``views.open`` so far."""
        [call] = self.fake.calls_to("views.open")
        return call.body["view"]

    def submit(self, user_id: str, recipient: str | None, reason: str) -> dict[str, Any]:
        """Submit the modal the shortcut opened; the ack's body (response_action...)."""
        self.fake.clear_calls()
        assert self.shortcut(user_id, BOBS_MESSAGE).status == 200
        view = self.opened()
        response = self.requests.view_submission(
            user_id=user_id,
            callback_id=view["callback_id"],
            private_metadata=view["private_metadata"],
            values={
                ids.KUDOS_RECIPIENT_BLOCK: {
                    ids.KUDOS_RECIPIENT_ACTION: {"type": "users_select", "selected_user": recipient}
                },
                ids.KUDOS_REASON_BLOCK: {
                    ids.KUDOS_REASON_ACTION: {"type": "plain_text_input", "value": reason}
                },
            },
        )
        assert response.status == 200, response.body
        return json.loads(response.body) if response.body else {}


@pytest.fixture
def fake(clock):
    with FakeSlack(time_source=lambda: clock.now().timestamp()) as server:
        yield server


@pytest.fixture
def kudo(db, clock, cli, write, fake) -> KudosShortcut:
    clock.set(START)
    programs = write("programs.yml", PROGRAMS)
    assert cli("load-config", programs).code == 0
    assert cli("import-people", write("people.csv", people_csv(*PEOPLE))).code == 0
    learn = make_learn(db, clock, cli, fake, programs_file=programs)
    return KudosShortcut(learn, learn.requests, fake)


def deliver(db, fake, clock) -> None:
    make_sender(db, fake, clock).drain()


def text_of(message_or_view: dict[str, Any]) -> str:
    parts = [message_or_view.get("text", "")]
    for block in message_or_view.get("blocks", []):
        if "text" in block:
            parts.append(block["text"]["text"])
        parts.extend(e.get("text", "") for e in block.get("elements", []))
    return "\n".join(parts)


def element(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    [block] = [b for b in view["blocks"] if b.get("block_id") == block_id]
    return block["element"]


def kudos_count(db) -> int:
    with db.session() as session:
        return len(list(session.scalars(select(Kudos.id))))


# --- opening the modal ----------------------------------------------------------------------


def test_the_shortcut_opens_the_kudos_form_with_the_messages_author_preselected(kudo):
    assert kudo.shortcut("UANN", BOBS_MESSAGE).status == 200

    view = kudo.opened()
    assert view_problems(view) == []
    assert (view["type"], view["callback_id"]) == ("modal", ids.KUDOS_MODAL)
    assert element(view, ids.KUDOS_RECIPIENT_BLOCK)["type"] == "users_select"
    assert element(view, ids.KUDOS_RECIPIENT_BLOCK)["initial_user"] == "UBOB"
    reason = element(view, ids.KUDOS_REASON_BLOCK)
    assert (reason["type"], reason["multiline"], reason["max_length"]) == (
        "plain_text_input",
        True,
        500,
    )
    context = text_of(view)
    assert f"On <@UBOB>'s message in <#{CHANNEL}>" in context
    # The message's own markup is quoted as the words people saw, never re-posted as
    # markup: a link's label cannot hide where it goes (this used to pass the link on).
    assert "Shipped the deploy guide (https://docs.k.io/deploy) &amp; fixed" in context
    assert "<https://" not in context
    assert json.loads(view["private_metadata"]) == {"c": CHANNEL, "ts": BOBS_MESSAGE["ts"]}


@pytest.mark.parametrize(
    "message",
    [
        {"type": "message", "subtype": "bot_message", "bot_id": BOT_ID, "ts": "1.2", "text": "hi"},
        {"type": "message", "user": "U0BOT", "bot_id": BOT_ID, "ts": "1.2", "text": "Digest"},
        {"type": "message", "user": "UANN", "ts": "1.2", "text": "my own message"},
    ],
    ids=["bot_message", "app_posted_as_its_bot_user", "the_clickers_own_message"],
)
def test_a_shortcut_on_a_bots_message_or_your_own_opens_with_nobody_preselected(kudo, message):
    assert kudo.shortcut("UANN", message).status == 200
    view = kudo.opened()
    assert "initial_user" not in element(view, ids.KUDOS_RECIPIENT_BLOCK)
    assert "On a message in" in text_of(view)


def test_a_long_message_is_quoted_by_its_start_with_mentions_as_names(kudo):
    # The quote stops at 150 characters, which falls inside the mentioned name; the
    # mention is quoted as the person's name, not as markup (it used to be cut away).
    text = "x" * 145 + " <@UPAT> for the pairing " + "y" * 200
    assert kudo.shortcut("UANN", {**BOBS_MESSAGE, "text": text}).status == 200
    quoted = text_of(kudo.opened())
    assert "“" + "x" * 145 + " @Pa…”" in quoted
    assert "<@UP" not in quoted
    kudo.fake.clear_calls()
    assert (
        kudo.shortcut("UANN", {**BOBS_MESSAGE, "text": "Thanks <@UPAT> and <!here>"}).status == 200
    )
    assert "“Thanks @Pat Private and @here”" in text_of(kudo.opened())


def test_someone_learnbot_does_not_know_is_told_so_instead_of_the_form(kudo, db):
    assert kudo.shortcut("UNOBODY", BOBS_MESSAGE).status == 200
    view = kudo.opened()
    assert view_problems(view) == []
    assert "Ask a learnbot admin to add you" in text_of(view)
    assert "submit" not in view and not any(b["type"] == "input" for b in view["blocks"])


def test_a_forged_shortcut_is_rejected_with_401_and_opens_nothing(kudo, fake):
    forger = SlackRequests(kudo.requests.app, signing_secret="not-" + SECRET)
    response = KudosShortcut(kudo.learn, forger, fake).shortcut("UANN", BOBS_MESSAGE)
    assert response.status == 401
    assert fake.calls_to("views.open") == []


# --- submitting it --------------------------------------------------------------------------


def test_submitting_sends_one_recognition_post_and_one_dm_and_confirms_in_the_modal(
    kudo, db, fake, clock
):
    answer = kudo.submit("UANN", "UBOB", "the deploy guide saved my week")
    assert answer["response_action"] == "update"
    assert view_problems(answer["view"]) == []
    confirmation = text_of(answer["view"])
    assert "Kudos sent to <@UBOB>; posted in #wins." in confirmation
    assert "You can give 2 more today." in confirmation

    deliver(db, fake, clock)
    deliver(db, fake, clock)  # a second drain sends nothing again
    [post] = fake.messages("#wins")
    assert "<@UANN> gave kudos to <@UBOB>" in text_of(post)
    assert "the deploy guide saved my week" in text_of(post)
    [dm] = fake.messages("UBOB")
    assert "<@UANN> gave you kudos" in text_of(dm)
    assert "the deploy guide saved my week" in text_of(dm)
    assert fake.messages("UANN") == []


def test_kudos_to_someone_who_keeps_out_of_public_posts_are_sent_privately(kudo, db, fake, clock):
    assert "will not name you" in kudo.learn("UPAT", "privacy private")
    answer = kudo.submit("UANN", "UPAT", "the careful review")
    assert "Kudos sent to <@UPAT>; sent privately" in text_of(answer["view"])
    deliver(db, fake, clock)
    assert fake.messages("#wins") == []
    [dm] = fake.messages("UPAT")
    assert "the careful review" in text_of(dm)


def test_shortcut_kudos_count_against_the_same_daily_quota_as_slash_kudos(kudo, db, fake, clock):
    assert "Kudos sent" in kudo.learn("UANN", "kudos <@UBOB> for one")
    assert "Kudos sent" in kudo.learn("UANN", "kudos <@UPAT> for two")
    third = kudo.submit("UANN", "UBOB", "three")
    assert "That was your last for today." in text_of(third["view"])

    fourth = kudo.submit("UANN", "UPAT", "four")
    assert fourth["response_action"] == "errors"
    assert list(fourth["errors"]) == [ids.KUDOS_RECIPIENT_BLOCK]
    refusal = fourth["errors"][ids.KUDOS_RECIPIENT_BLOCK]
    assert "You have given your 3 kudos for today" in refusal
    assert "midnight your time (Europe/London)" in refusal and "Wed 4 Mar" in refusal

    deliver(db, fake, clock)
    assert kudos_count(db) == 3
    assert len(fake.messages("#wins")) == 3
    assert len(fake.messages("UBOB")) == 2 and len(fake.messages("UPAT")) == 1
    assert "four" not in "\n".join(text_of(m) for m in fake.messages("#wins"))


@pytest.mark.parametrize(
    ("recipient", "reason", "block", "says"),
    [
        ("UANN", "being me", ids.KUDOS_RECIPIENT_BLOCK, "can't give them to yourself"),
        ("UNOBODY", "the help", ids.KUDOS_RECIPIENT_BLOCK, "I don't know that person"),
        ("UBOB", "   \n  ", ids.KUDOS_REASON_BLOCK, "Say what the kudos are for"),
    ],
    ids=["self_kudos", "unknown_recipient", "blank_reason"],
)
def test_a_refused_kudos_is_a_field_error_in_the_modal_and_nothing_is_sent(
    kudo, db, fake, clock, recipient, reason, block, says
):
    answer = kudo.submit("UANN", recipient, reason)
    assert answer["response_action"] == "errors"
    assert list(answer["errors"]) == [block]
    assert says in answer["errors"][block]

    deliver(db, fake, clock)
    assert kudos_count(db) == 0
    assert fake.delivered() == []
