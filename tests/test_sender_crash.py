"""Crash recovery: rows a dead sender left ``sending`` are checked in Slack before any resend."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from delivery.outbox import NewMessage, claim, mark_retry
from delivery.transport import OutgoingMessage
from learning.clock import SystemClock
from models.tables import OutboxStatus, RecipientKind
from tests.conftest import ROOT
from tests.fakes.slack_api import FakeSlack
from tests.outbox_support import (
    deliveries,
    dms,
    make_sender,
    put,
    rows,
    slack_transport,
    text_message,
)

LEASE = timedelta(minutes=5)


@pytest.fixture
def fake(clock):
    with FakeSlack(time_source=lambda: clock.now().timestamp()) as server:
        yield server


def _die_mid_send(db, fake, clock, key: str, *, arrived: bool) -> None:
    """Claim ``key`` as a sender that then dies, after (or before) its post reached Slack."""
    [row] = [r for r in claim(db, worker="dead", now=clock.now(), limit=100) if r.key == key]
    if arrived:
        message = OutgoingMessage(
            channel=row.recipient,
            text=row.payload["text"],
            key=row.key,
            kind=row.kind,
            thread_ts=row.thread_parent,
        )
        slack_transport(fake).send(message)


def _thread_reply(key: str, channel: str, thread_ts: str, *, at) -> NewMessage:
    return NewMessage(
        key=key,
        kind="plain",
        recipient_kind=RecipientKind.THREAD,
        recipient=channel,
        thread_parent=thread_ts,
        payload={"text": "in the thread"},
        not_before=at,
    )


def test_a_stuck_row_slack_already_has_is_marked_sent_without_a_resend(db, clock, fake):
    put(db, dms(1, at=clock.now()), now=clock.now())
    _die_mid_send(db, fake, clock, "dm:U000", arrived=True)
    [posted] = fake.messages("U000")
    clock.advance(LEASE + timedelta(seconds=1))

    result = make_sender(db, fake, clock, lease=LEASE).drain()

    assert (result.reconciled.found_sent, result.reconciled.requeued, result.sent) == (1, 0, 0)
    assert deliveries(fake) == {"dm:U000": 1}
    row = rows(db)["dm:U000"]
    assert (row.status, row.posted_message, row.posted_conversation) == (
        "sent",
        posted["ts"],
        "D000",
    )
    [opened] = fake.calls_to("conversations.open")
    assert opened.body["users"] == "U000"
    [history] = fake.calls_to("conversations.history")
    assert history.body["channel"] == "D000"
    # From a minute before the claim: Slack's clock may be behind ours.
    assert float(history.body["oldest"]) == pytest.approx(
        (clock.now() - LEASE - timedelta(seconds=1 + 60)).timestamp()
    )


def test_a_post_stamped_by_a_slack_clock_behind_ours_is_still_found(db, clock):
    with FakeSlack(time_source=lambda: clock.now().timestamp() - 3) as slow_clock_slack:
        put(db, dms(1, at=clock.now()), now=clock.now())
        _die_mid_send(db, slow_clock_slack, clock, "dm:U000", arrived=True)
        clock.advance(LEASE + timedelta(seconds=1))

        result = make_sender(db, slow_clock_slack, clock, lease=LEASE).drain()

        assert (result.reconciled.found_sent, result.sent) == (1, 0)
        assert deliveries(slow_clock_slack) == {"dm:U000": 1}


def test_a_stuck_row_that_never_arrived_is_resent_exactly_once(db, clock, fake):
    put(db, dms(1, at=clock.now()), now=clock.now())
    _die_mid_send(db, fake, clock, "dm:U000", arrived=False)
    clock.advance(LEASE + timedelta(seconds=1))

    result = make_sender(db, fake, clock, lease=LEASE).drain()

    assert (result.reconciled.found_sent, result.reconciled.requeued, result.sent) == (0, 1, 1)
    assert deliveries(fake) == {"dm:U000": 1}
    assert rows(db)["dm:U000"].status == OutboxStatus.SENT


def test_a_channel_post_is_found_without_opening_a_dm(db, clock, fake):
    put(db, [text_message("wins:1", "C0WINS", at=clock.now())], now=clock.now())
    _die_mid_send(db, fake, clock, "wins:1", arrived=True)
    clock.advance(LEASE + timedelta(seconds=1))

    assert make_sender(db, fake, clock, lease=LEASE).drain().reconciled.found_sent == 1
    assert fake.calls_to("conversations.open") == []
    assert deliveries(fake) == {"wins:1": 1}


def test_a_thread_reply_is_posted_in_its_thread_and_found_there_after_a_crash(db, clock, fake):
    put(db, [text_message("prompt:1", "C0COMMUNITY", at=clock.now())], now=clock.now())
    make_sender(db, fake, clock).drain()
    parent = rows(db)["prompt:1"].posted_message
    put(db, [_thread_reply("intro:1", "C0COMMUNITY", parent, at=clock.now())], now=clock.now())
    _die_mid_send(db, fake, clock, "intro:1", arrived=True)
    clock.advance(LEASE + timedelta(seconds=1))

    result = make_sender(db, fake, clock, lease=LEASE).drain()

    assert (result.reconciled.found_sent, result.sent) == (1, 0)
    assert deliveries(fake) == {"prompt:1": 1, "intro:1": 1}
    [reply] = [m for m in fake.messages("C0COMMUNITY") if m.get("thread_ts") == parent]
    assert rows(db)["intro:1"].posted_message == reply["ts"]
    [replies] = fake.calls_to("conversations.replies")
    assert replies.body["ts"] == parent


def test_a_group_dm_opens_one_conversation_with_both_people(db, clock, fake):
    put(db, [text_message("pair:1", "U0LEARN,U0MENTOR", at=clock.now())], now=clock.now())
    assert make_sender(db, fake, clock).drain().sent == 1
    [opened] = fake.calls_to("conversations.open")
    assert set(opened.body["users"].split(",")) == {"U0LEARN", "U0MENTOR"}
    conversation = rows(db)["pair:1"].posted_conversation
    assert conversation.startswith("G")
    assert [m["text"] for m in fake.messages(conversation)] == ["hello from pair:1"]


def test_a_row_still_within_its_lease_is_left_alone(db, clock, fake):
    put(db, dms(1, at=clock.now()), now=clock.now())
    _die_mid_send(db, fake, clock, "dm:U000", arrived=False)
    clock.advance(LEASE - timedelta(seconds=1))

    result = make_sender(db, fake, clock, lease=LEASE).drain()

    assert result.sent == 0 and fake.calls == []
    assert rows(db)["dm:U000"].status == OutboxStatus.SENDING


def test_nothing_is_resent_while_slack_cannot_be_asked(db, clock, fake):
    fake.server_error("conversations.history", times=None)
    put(db, dms(1, at=clock.now()), now=clock.now())
    _die_mid_send(db, fake, clock, "dm:U000", arrived=False)
    clock.advance(LEASE + timedelta(seconds=1))

    result = make_sender(db, fake, clock, lease=LEASE).drain()

    assert result.reconciled.unchecked == 1 and result.sent == 0
    assert fake.calls_to("chat.postMessage") == []
    assert rows(db)["dm:U000"].status == OutboxStatus.SENDING


def test_a_retry_looks_for_an_earlier_attempt_before_posting_again(db, clock, fake):
    # The first attempt timed out on our side but reached Slack: the retry must see it.
    put(db, dms(2, at=clock.now()), now=clock.now())
    for row in claim(db, worker="w", now=clock.now(), limit=2):
        if row.key == "dm:U000":
            message = OutgoingMessage(
                channel="U000", text=row.payload["text"], key=row.key, kind=row.kind
            )
            slack_transport(fake).send(message)
        mark_retry(db, row.id, not_before=clock.now(), error="timed out", count_attempt=True)
    fake.clear_calls()

    result = make_sender(db, fake, clock).drain()

    assert (result.already_sent, result.sent) == (1, 1)
    assert deliveries(fake) == {"dm:U001": 1}
    assert {row.status for row in rows(db).values()} == {OutboxStatus.SENT}


@pytest.mark.slow
def test_a_sender_killed_mid_drain_is_finished_by_the_next_with_no_duplicates(database_url, db):
    now = SystemClock().now()
    put(db, dms(60, at=now), now=now)
    with FakeSlack(time_source=time.time) as fake:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": "x",
            "SLACK_API_URL": fake.base_url,
            "LEARNBOT_WORKSPACE_RATE_PER_MINUTE": "1200",
            "LEARNBOT_CHANNEL_INTERVAL_SECONDS": "0",
        }
        command = [sys.executable, str(ROOT / "bot.py"), "drain"]
        first = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            # Mid-way through the second batch of 20, so claimed rows are left `sending`.
            fake.wait_for_calls("chat.postMessage", 25, timeout=60, where=lambda c: c.ok)
        finally:
            first.send_signal(signal.SIGKILL)
            first.communicate(timeout=30)
        assert first.returncode == -signal.SIGKILL
        delivered_before = sum(deliveries(fake).values())
        assert 25 <= delivered_before < 40, "the first drain should die in its second batch"

        second = subprocess.run(
            command,
            cwd=ROOT,
            env={**env, "LEARNBOT_SEND_LEASE_SECONDS": "0"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 0, second.stderr
        assert "after a crash:" in second.stdout
        assert deliveries(fake) == {f"dm:U{n:03d}": 1 for n in range(60)}, second.stdout
    assert {row.status for row in rows(db).values()} == {OutboxStatus.SENT}
