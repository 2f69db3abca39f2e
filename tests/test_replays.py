"""Replayed signed requests and repeated Slack look-ups (issue 14, item 6).

The very same signed bytes sent again inside Slack's 5-minute window have one effect,
also when another web process (another ``App`` on the same database) receives the copy.
A refused ``/learn admin`` asks ``users.info`` once for a while, not on every refusal.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_bolt import BoltRequest, BoltResponse
from sqlalchemy import func, select

from learning.replays import claim_request
from models import Kudos, SeenRequest
from platforms.slack.render import ids
from server.app import build_app
from tests.fakes.bolt_requests import SlackRequests
from tests.fakes.slack_api import FakeSlack
from tests.helpers import people_csv, slack_settings
from tests.outbox_support import make_sender
from tests.test_kudos_shortcut import BOBS_MESSAGE, KudosShortcut
from tests.test_kudos_shortcut import PEOPLE as KUDOS_PEOPLE
from tests.test_kudos_shortcut import PROGRAMS as KUDOS_PROGRAMS
from tests.test_kudos_shortcut import START as KUDOS_START
from tests.test_learn_command import said
from tests.test_slack_admins import REFUSED, WITH_SLACK_ADMINS, Bot, mia
from tests.test_slack_admins import org as org

SECRET = "test-signing-secret"


class Replaying(SlackRequests):
    """``SlackRequests`` that keeps each signed request, to send the same bytes again."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[tuple[str, dict[str, list[str]]]] = []
        self.holding = False  # sign and keep requests without sending them

    def _dispatch(self, body: str, content_type: str) -> BoltResponse:
        timestamp = str(int(time.time()))
        headers = {
            "content-type": [content_type],
            "x-slack-request-timestamp": [timestamp],
            "x-slack-signature": [self.verifier.generate_signature(timestamp=timestamp, body=body)],
        }
        self.sent.append((body, headers))
        if self.holding:
            return BoltResponse(status=202, body="held")
        return self.again(-1)

    def again(self, index: int = -1, *, app: Any = None) -> BoltResponse:
        """Send request ``index`` again, byte for byte (to ``app``, another process)."""
        body, headers = self.sent[index]
        request = BoltRequest(body=body, headers={k: list(v) for k, v in headers.items()})
        return (app or self.app).dispatch(request)


def kudos_app(db, clock, fake) -> Any:
    settings = slack_settings(fake.base_url, signing_secret=SECRET)
    return build_app(settings, database=db, clock=clock, process_before_response=True)


@pytest.fixture
def fake(clock):
    with FakeSlack(time_source=lambda: clock.now().timestamp()) as server:
        yield server


@pytest.fixture
def slack(db, clock, cli, write, fake) -> Replaying:
    clock.set(KUDOS_START)
    assert cli("load-config", write("programs.yml", KUDOS_PROGRAMS)).code == 0  # "#wins"
    assert cli("import-people", write("people.csv", people_csv(*KUDOS_PEOPLE))).code == 0
    return Replaying(kudos_app(db, clock, fake), signing_secret=SECRET)


def count(db, model: Any) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def posted(db, fake, clock) -> list[dict[str, Any]]:
    make_sender(db, fake, clock).drain()
    return fake.messages("#wins")


def test_a_replayed_slash_command_has_one_effect(slack, db, fake, clock, caplog):
    first = slack.command("kudos <@UBOB> for the deploy guide", user_id="UANN")
    assert "Kudos sent to <@UBOB>" in said(first)

    with caplog.at_level(logging.WARNING, logger="platforms.slack.listeners.replay"):
        replayed = slack.again()

    assert (replayed.status, replayed.body) == (200, "")
    assert count(db, Kudos) == 1
    assert len(posted(db, fake, clock)) == 1
    assert len(fake.messages("UBOB")) == 1
    [warning] = [
        r.getMessage() for r in caplog.records if r.name == "platforms.slack.listeners.replay"
    ]
    assert "replayed Slack request was ignored (/learn from UANN" in warning
    assert "deploy guide" not in warning and "hooks.slack.test" not in warning  # no body


def test_a_replayed_form_submission_has_one_effect(slack, db, fake, clock):
    kudo = KudosShortcut(None, slack, fake)
    assert kudo.shortcut("UANN", BOBS_MESSAGE).status == 200
    form = kudo.opened()
    values = {
        ids.KUDOS_RECIPIENT_BLOCK: {
            ids.KUDOS_RECIPIENT_ACTION: {"type": "users_select", "selected_user": "UBOB"}
        },
        ids.KUDOS_REASON_BLOCK: {
            ids.KUDOS_REASON_ACTION: {"type": "plain_text_input", "value": "the review"}
        },
    }
    submitted = slack.view_submission(
        user_id="UANN",
        callback_id=form["callback_id"],
        private_metadata=form["private_metadata"],
        values=values,
    )
    assert '"update"' in submitted.body

    assert slack.again().body == ""

    assert count(db, Kudos) == 1
    assert len(posted(db, fake, clock)) == 1


def test_another_web_process_on_the_same_database_also_ignores_the_copy(slack, db, fake, clock):
    other_process = kudos_app(db, clock, fake)
    assert "Kudos sent" in said(slack.command("kudos <@UBOB> for the demo", user_id="UANN"))

    assert slack.again(app=other_process).body == ""

    assert count(db, Kudos) == 1
    assert len(posted(db, fake, clock)) == 1


def test_two_copies_arriving_at_once_have_one_effect(slack, db, fake, clock):
    slack.holding = True  # signed once, then both copies released together
    slack.command("kudos <@UBOB> for pairing", user_id="UANN")
    barrier = threading.Barrier(2)
    responses: list[BoltResponse] = []

    def send() -> None:
        barrier.wait(timeout=60)
        responses.append(slack.again())

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sorted(bool(r.body) for r in responses) == [False, True]
    assert count(db, Kudos) == 1
    assert len(posted(db, fake, clock)) == 1


def test_the_same_words_sent_again_are_a_new_request(slack, db, fake, clock):
    for _ in range(2):
        assert "Kudos sent" in said(slack.command("kudos <@UBOB> for the fix", user_id="UANN"))
    assert count(db, Kudos) == 2
    assert count(db, SeenRequest) == 2


def test_events_are_left_to_their_own_de_duplication(slack, db):
    slack.event({"type": "user_change", "user": {"id": "UBOB", "profile": {}}})
    assert count(db, SeenRequest) == 0


def test_a_signature_is_forgotten_once_its_window_has_closed(db):
    signed = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
    with db.session() as session:
        assert claim_request(session, signature="v0=aa", signed_at=signed, now=signed)
        assert not claim_request(
            session, signature="v0=aa", signed_at=signed, now=signed + timedelta(minutes=5)
        )
    later = signed + timedelta(minutes=7)  # 5 minutes of window and 1 of clock skew, gone
    with db.session() as session:
        assert claim_request(session, signature="v0=bb", signed_at=later, now=later)
        assert list(session.scalars(select(SeenRequest.signature))) == ["v0=bb"]


# --- users.info, asked once for a while --------------------------------------------------


def test_five_refused_admin_commands_ask_slack_once(org, db, clock, fake):
    bot = Bot(db, clock, fake, WITH_SLACK_ADMINS)
    fake.users = [mia()]  # a member, not a workspace admin

    for _ in range(5):
        assert bot.learn("UMIA", "admin report") == REFUSED

    assert len(fake.calls_to("users.info")) == 1
    clock.advance(timedelta(minutes=10))  # the answer is old now: ask again
    assert bot.learn("UMIA", "admin report") == REFUSED
    assert len(fake.calls_to("users.info")) == 2


def test_a_failed_look_up_is_not_repeated_for_a_minute(org, db, clock, fake):
    bot = Bot(db, clock, fake, WITH_SLACK_ADMINS)
    fake.users = [mia(is_admin=True)]  # Slack would say yes, once it answers
    fake.respond("users.info", {"ok": False, "error": "ratelimited"})

    for _ in range(5):
        assert bot.learn("UMIA", "admin report") == REFUSED
    assert len(fake.calls_to("users.info")) == 1

    clock.advance(timedelta(minutes=1))
    fake.clear_faults()
    assert bot.learn("UMIA", "admin report").startswith("```Completion of required items")
    assert len(fake.calls_to("users.info")) == 2
