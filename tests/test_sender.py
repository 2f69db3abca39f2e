"""The sender against the fake Slack server: pacing, retries, failures, the CLI."""

from __future__ import annotations

import io
import itertools
import random
import threading
import time
from collections import defaultdict
from datetime import timedelta

import pytest

from delivery.sender import Sender
from delivery.transport import ConsoleTransport
from learning.clock import FrozenClock
from models.tables import OutboxStatus
from platforms.base import routes
from platforms.slack import slack_platform
from tests.fakes.slack_api import FakeSlack
from tests.outbox_support import (
    deliveries,
    dms,
    make_sender,
    put,
    rows,
    text_message,
    virtual_sleep,
)

EPSILON = 1e-3  # call stamps are float seconds since the epoch


@pytest.fixture
def fake(clock):
    """A fake Slack stamping calls (and message ts) with the test's virtual clock."""
    with FakeSlack(time_source=lambda: clock.now().timestamp()) as server:
        yield server


def test_twenty_dms_are_each_delivered_once(db, clock, fake):
    put(db, dms(20, at=clock.now()), now=clock.now())
    result = make_sender(db, fake, clock).drain()
    assert (result.sent, result.failed, result.retried, result.stopped) == (20, 0, 0, None)
    assert deliveries(fake) == {f"dm:U{n:03d}": 1 for n in range(20)}
    stored = rows(db)
    assert {row.status for row in stored.values()} == {OutboxStatus.SENT}
    row = stored["dm:U007"]
    assert (row.posted_conversation, row.attempts, row.last_error) == ("D007", 0, None)
    [message] = fake.messages("U007")
    assert message["ts"] == row.posted_message
    assert message["metadata"] == {
        "event_type": "learnbot_outbox",
        "event_payload": {"key": "dm:U007"},
    }


def test_sending_waits_in_virtual_time_only(db, clock, fake, monkeypatch):
    def real_sleep(seconds: float) -> None:
        raise AssertionError(f"the sender slept {seconds} s of real time")

    monkeypatch.setattr(time, "sleep", real_sleep)
    put(db, dms(30, at=clock.now()), now=clock.now())
    started_virtual = clock.now()
    assert make_sender(db, fake, clock, workspace_rate_per_minute=6).drain().sent == 30
    assert clock.now() - started_virtual >= timedelta(minutes=4, seconds=50)


def test_the_workspace_budget_holds_in_every_minute(db, clock, fake):
    put(db, dms(250, at=clock.now()), now=clock.now())
    assert make_sender(db, fake, clock, batch_size=50).drain().sent == 250
    stamps = [call.at for call in fake.calls_to("chat.postMessage")]
    assert len(stamps) == 250
    busiest = max(sum(1 for t in stamps if start <= t < start + 60 - EPSILON) for start in stamps)
    assert busiest <= 200
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert min(gaps) >= 0.3 - EPSILON


def test_one_channel_gets_at_most_one_post_a_second(db, clock, fake):
    now = clock.now()
    busy = [text_message(f"wins:{n}", "C0WINS", at=now) for n in range(6)]
    put(db, [*busy, *dms(10, at=now)], now=now)
    make_sender(db, fake, clock, workspace_rate_per_minute=6000).drain()
    by_channel: dict[str, list[float]] = defaultdict(list)
    for call in fake.calls_to("chat.postMessage"):
        by_channel[call.body["channel"]].append(call.at)
    wins = by_channel["C0WINS"]
    assert len(wins) == 6
    assert all(b - a >= 1 - EPSILON for a, b in itertools.pairwise(wins))
    # The DMs were not held up behind the busy channel.
    all_stamps = sorted(t for stamps in by_channel.values() for t in stamps)
    assert all_stamps[-1] - all_stamps[0] < 6


def test_under_random_429s_and_503s_each_message_arrives_once_and_retry_after_holds(
    db, clock, fake
):
    fake.fault_rate("chat.postMessage", ratelimit=0.3, server_error=0.1, retry_after=1, seed=7)
    put(db, dms(60, at=clock.now()), now=clock.now())
    result = make_sender(db, fake, clock, max_attempts=10).drain()
    assert deliveries(fake) == {f"dm:U{n:03d}": 1 for n in range(60)}
    assert result.sent == 60 and result.rate_limited > 5 and result.retried > 2
    assert {row.status for row in rows(db).values()} == {OutboxStatus.SENT}
    calls = fake.calls
    for index, call in enumerate(calls):
        if call.status == 429:
            resume = call.at + float(call.response_headers["Retry-After"])
            assert all(later.at >= resume - EPSILON for later in calls[index + 1 :])


def test_a_message_failing_with_503_gives_up_after_max_attempts_and_others_arrive(db, clock, fake):
    fake.server_error("chat.postMessage", times=None, when=lambda b: b.get("channel") == "U003")
    put(db, dms(6, at=clock.now()), now=clock.now())
    result = make_sender(db, fake, clock, max_attempts=5).drain()
    assert (result.sent, result.failed, result.retried) == (5, 1, 4)
    failed = rows(db)["dm:U003"]
    assert (failed.status, failed.attempts) == (OutboxStatus.FAILED, 5)
    assert failed.last_error == (
        "chat.postMessage: HTTP 503 service_unavailable (gave up after 5 attempts)"
    )
    assert len([c for c in fake.calls_to("chat.postMessage") if c.body["channel"] == "U003"]) == 5
    assert set(deliveries(fake)) == {f"dm:U{n:03d}" for n in range(6)} - {"dm:U003"}


def test_backoff_grows_with_full_jitter_up_to_the_cap(db, clock, fake):
    fake.server_error("chat.postMessage", times=None)
    put(db, dms(1, at=clock.now()), now=clock.now())
    make_sender(db, fake, clock, max_attempts=6, backoff_base=2, backoff_cap=10).drain()
    stamps = [call.at for call in fake.calls_to("chat.postMessage")]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    # Each wait is a random share of 2, 4, 8, 10, 10 s (capped), plus at most the 1 s the
    # channel needs between two posts.
    ceilings = [2, 4, 8, 10, 10]
    assert len(gaps) == 5
    assert all(
        1 - EPSILON <= gap <= top + 1 + EPSILON for gap, top in zip(gaps, ceilings, strict=True)
    )
    assert len({round(gap, 3) for gap in gaps}) == 5


def test_two_senders_draining_one_outbox_deliver_each_message_once(db, clock, fake):
    put(db, dms(120, at=clock.now()), now=clock.now())
    results, errors = [], []

    def drain(name: str) -> None:
        try:
            own_clock = FrozenClock(clock.now())
            sender = make_sender(db, fake, own_clock, worker=name, batch_size=5)
            results.append(sender.drain())
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(f"sender-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert deliveries(fake) == {f"dm:U{n:03d}": 1 for n in range(120)}
    assert sorted(result.sent > 0 for result in results) == [True, True]
    assert {row.status for row in rows(db).values()} == {OutboxStatus.SENT}


def test_endless_rate_limits_for_one_channel_fail_it_after_the_cap(db, clock, fake):
    fake.rate_limit("chat.postMessage", times=None, when=lambda b: b.get("channel") == "U001")
    put(db, dms(3, at=clock.now()), now=clock.now())
    result = make_sender(db, fake, clock, max_rate_limit_retries=4).drain()
    assert (result.sent, result.failed, result.rate_limited) == (2, 1, 5)
    assert rows(db)["dm:U001"].last_error == "rate limited 5 times; gave up"


def test_no_post_starts_after_the_deadline_and_the_rest_stay_pending(db, clock, fake):
    put(db, dms(10, at=clock.now()), now=clock.now())
    deadline = clock.now() + timedelta(seconds=2.5)
    result = make_sender(db, fake, clock, workspace_rate_per_minute=60).drain(until=deadline)
    assert result.sent == 3
    assert all(call.at < deadline.timestamp() for call in fake.calls)
    statuses = [row.status for row in rows(db).values()]
    assert (statuses.count("sent"), statuses.count("pending")) == (3, 7)


def test_max_messages_bounds_one_drain(db, clock, fake):
    put(db, dms(30, at=clock.now()), now=clock.now())
    assert make_sender(db, fake, clock, batch_size=8).drain(max_messages=11).sent == 11
    statuses = [row.status for row in rows(db).values()]
    assert (statuses.count("sent"), statuses.count("pending")) == (11, 19)


def test_rows_scheduled_later_wait_for_a_later_drain(db, clock, fake):
    now = clock.now()
    put(db, [text_message("later", "U1", at=now + timedelta(hours=1))], now=now)
    assert make_sender(db, fake, clock).drain().sent == 0
    assert fake.calls == [] and clock.now() == now


def test_the_console_transport_prints_and_remembers(db, clock):
    stream = io.StringIO()
    transport = ConsoleTransport(stream, clock=clock)
    put(db, [text_message("hi", "U1", at=clock.now(), text="Hello!")], now=clock.now())
    sender = Sender(
        db,
        routes([slack_platform(transport)]),
        clock,
        sleep=virtual_sleep(clock),
        rng=random.Random(0),
        worker="sim",
    )
    assert sender.drain().sent == 1
    assert stream.getvalue() == "[2026-03-02 09:00:00 UTC] to U1: Hello!\n"
    found = transport.find_sent("U1", "hi", since=clock.now())
    assert found is not None and found.ts == rows(db)["hi"].posted_message


def test_an_unreachable_person_fails_alone_and_the_cli_lists_the_error(db, clock, fake, cli):
    fake.respond(
        "chat.postMessage",
        {"ok": False, "error": "channel_not_found"},
        when=lambda body: body.get("channel") == "U004",
    )
    put(db, dms(8, at=clock.now()), now=clock.now())
    result = make_sender(db, fake, clock).drain()
    assert (result.sent, result.failed, result.retried) == (7, 1, 0)
    assert set(deliveries(fake)) == {f"dm:U{n:03d}" for n in range(8)} - {"dm:U004"}
    failed = rows(db)["dm:U004"]
    assert (failed.status, failed.last_error, failed.attempts) == ("failed", "channel_not_found", 1)

    listing = cli("outbox", "--status", "failed")
    assert listing.code == 0, listing.err
    [header, line] = listing.out.splitlines()[:2]
    assert header.split() == [
        "id",
        "key",
        "status",
        "attempts",
        "recipient",
        "last_error",
        "created",
    ]
    assert line.split() == [
        str(failed.id),
        "dm:U004",
        "failed",
        "1",
        "U004",
        "channel_not_found",
        "2026-03-02",
        "09:00",
    ]
    assert "pending: 0  sending: 0  sent: 7  failed: 1" in listing.out

    retried = cli("outbox", "--retry", str(failed.id))
    assert retried.code == 0, retried.err
    assert "1 failed message(s) back to pending" in retried.out
    assert rows(db)["dm:U004"].status == "pending"


def test_a_refused_token_stops_the_drain_and_loses_nothing(db, clock):
    with FakeSlack(require_token="xoxb-right", time_source=lambda: clock.now().timestamp()) as fake:
        put(db, dms(5, at=clock.now()), now=clock.now())
        result = make_sender(db, fake, clock, token="xoxb-wrong").drain()
        assert result.stopped == "invalid_auth"
        assert (result.sent, result.failed) == (0, 0)
        assert len(fake.calls_to("chat.postMessage")) == 1
    stored = rows(db).values()
    assert {(row.status, row.attempts, row.claimed_by) for row in stored} == {("pending", 0, None)}


def test_drain_command_sends_and_reports(db, clock, fake, cli):
    put(db, dms(3, at=clock.now()), now=clock.now())
    result = cli("drain", env=_slack_env(fake))
    assert result.code == 0, result.err
    assert "drain: sent 3, failed 0" in result.out
    assert sum(deliveries(fake).values()) == 3


def test_drain_command_exits_1_when_slack_refuses_the_token(db, clock, cli):
    with FakeSlack(require_token="xoxb-right") as fake:
        put(db, dms(2, at=clock.now()), now=clock.now())
        result = cli("drain", env=_slack_env(fake))
    assert result.code == 1
    assert "invalid_auth" in result.out and "stay pending" in result.out
    assert "xoxb-test" not in result.out + result.err
    assert {row.status for row in rows(db).values()} == {"pending"}


def test_drain_without_a_bot_token_names_the_variable(db, cli):
    result = cli("drain", env={"SLACK_SIGNING_SECRET": "x"})
    assert result.code == 1
    assert "SLACK_BOT_TOKEN is not set" in result.err


def _slack_env(fake: FakeSlack) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "x",
        "SLACK_API_URL": fake.base_url,
        "LEARNBOT_WORKSPACE_RATE_PER_MINUTE": "60000",
        "LEARNBOT_CHANNEL_INTERVAL_SECONDS": "0",
    }
