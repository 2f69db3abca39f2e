"""The sender's platform routes: each row is rendered and posted by its own platform's
adapter; rows of a platform without a route wait; a transport that cannot look up its
posts never resends a message a dead sender may have posted."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from delivery.outbox import NewMessage, claim
from delivery.rendering import RenderContext
from delivery.sender import Sender
from delivery.transport import OutgoingMessage, Sent, Transient
from models.tables import OutboxStatus, RecipientKind
from platforms.base import Platform, routes
from platforms.slack import slack_platform
from tests.fakes.slack_api import FakeSlack
from tests.outbox_support import put, rows, slack_transport, text_message, virtual_sleep

LEASE = timedelta(minutes=5)


@pytest.fixture
def fake(clock):
    with FakeSlack(time_source=lambda: clock.now().timestamp()) as server:
        yield server


class Note:
    """A rendered message of the memo platform: plain text, no blocks."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.blocks: list[dict[str, Any]] = []


class MemoRenderer:
    def render(self, kind: str, facts: Mapping[str, Any], *, context: RenderContext) -> Note:
        if kind != "plain":
            raise ValueError(f"memo cannot render {kind!r}")
        return Note(f"memo: {facts['text']}")


class MemoTransport:
    """Posts into a list; cannot look its posts up again."""

    can_find_sent = False

    def __init__(self, *, fail_first: bool = False) -> None:
        self.posted: list[OutgoingMessage] = []
        self._fail = fail_first

    def send(self, message: OutgoingMessage) -> Sent:
        if self._fail:
            self._fail = False
            raise Transient("timed out")
        self.posted.append(message)
        return Sent(channel=f"conv-{message.channel}", ts=str(len(self.posted)))


def memo_message(key: str, recipient: str, *, at) -> NewMessage:
    return NewMessage(
        key=key,
        kind="plain",
        platform="memo",
        recipient_kind=RecipientKind.PERSON,
        recipient=recipient,
        payload={"text": f"hello {recipient}"},
        not_before=at,
    )


def sender(db, clock, platforms: list[Platform]) -> Sender:
    return Sender(
        db,
        routes(platforms),
        clock,
        sleep=virtual_sleep(clock),
        rng=random.Random(7),
        worker="routes",
        lease=LEASE,
    )


def test_each_row_goes_through_its_own_platform(db, clock, fake):
    now = clock.now()
    put(db, [text_message("dm:U1", "U1", at=now), memo_message("memo:1", "m-ann", at=now)], now=now)
    memo = MemoTransport()

    result = sender(
        db,
        clock,
        [
            slack_platform(slack_transport(fake)),
            Platform(name="memo", renderer=MemoRenderer(), transport=memo),
        ],
    ).drain()

    assert result.sent == 2
    assert [m.text for m in memo.posted] == ["memo: hello m-ann"]
    assert [m["text"] for m in fake.messages("U1")] == ["hello from dm:U1"]
    stored = rows(db)["memo:1"]
    assert (stored.status, stored.posted_conversation, stored.posted_message) == (
        "sent",
        "conv-m-ann",
        "1",
    )


def test_rows_of_a_platform_without_a_route_wait(db, clock, fake):
    now = clock.now()
    put(db, [memo_message("memo:1", "m-ann", at=now)], now=now)
    result = sender(db, clock, [slack_platform(slack_transport(fake))]).drain()
    assert result.sent == 0 and rows(db)["memo:1"].status == OutboxStatus.PENDING


def test_without_lookups_a_row_a_dead_sender_left_is_failed_not_resent(db, clock):
    now = clock.now()
    put(db, [memo_message("memo:1", "m-ann", at=now)], now=now)
    assert len(claim(db, worker="dead", now=now, limit=1)) == 1  # then it died mid-post
    clock.advance(LEASE + timedelta(seconds=1))
    memo = MemoTransport()

    result = sender(db, clock, [Platform("memo", MemoRenderer(), memo)]).drain()

    assert (result.reconciled.failed, result.sent, memo.posted) == (1, 0, [])
    failed = rows(db)["memo:1"]
    assert failed.status == OutboxStatus.FAILED
    assert "delivery unknown" in (failed.last_error or "")
    assert "cannot look up its posts" in (failed.last_error or "")


def test_without_lookups_a_retry_after_a_timeout_posts_again(db, clock):
    now = clock.now()
    put(db, [memo_message("memo:1", "m-ann", at=now)], now=now)
    memo = MemoTransport(fail_first=True)

    result = sender(db, clock, [Platform("memo", MemoRenderer(), memo)]).drain()

    assert (result.retried, result.sent) == (1, 1)
    assert [m.key for m in memo.posted] == ["memo:1"]


def test_a_kind_the_platform_cannot_render_fails_alone(db, clock):
    now = clock.now()
    odd = NewMessage(
        key="memo:odd",
        kind="kudos_post",
        platform="memo",
        recipient_kind=RecipientKind.CHANNEL,
        recipient="wins",
        payload={},
        not_before=now,
    )
    put(db, [odd, memo_message("memo:1", "m-ann", at=now)], now=now)
    memo = MemoTransport()

    result = sender(db, clock, [Platform("memo", MemoRenderer(), memo)]).drain()

    assert (result.sent, result.failed) == (1, 1)
    assert "cannot render kudos_post" in (rows(db)["memo:odd"].last_error or "")


def test_an_address_must_fit_its_kind():
    with pytest.raises(ValueError, match="thread_parent"):
        NewMessage(
            key="k",
            kind="plain",
            recipient_kind=RecipientKind.THREAD,
            recipient="C1",
            payload={"text": "x"},
            not_before=None,  # type: ignore[arg-type]
        )
    with pytest.raises(ValueError, match="recipient kind"):
        NewMessage(
            key="k",
            kind="plain",
            recipient_kind="room",
            recipient="C1",
            payload={"text": "x"},
            not_before=None,  # type: ignore[arg-type]
        )


def test_facts_the_renderer_cannot_take_fail_that_row_not_the_drain(db, clock, fake):
    now = clock.now()
    card = {
        "card": {
            "request_id": 1,
            "learner_name": "Ann",
            "item_title": "Safety",
            "due": "2026-03-04",
            "proposed": "2026-03-11",
            "reason": "Need time",
            "today": "2026-03-02",
            "overdue_working_days": "many",  # not a number: facts its renderer cannot take
        }
    }
    too_big = NewMessage(
        key="extension_request:1:U0ANA",
        kind="extension_request",
        recipient_kind=RecipientKind.PERSON,
        recipient="U0ANA",
        payload=card,
        not_before=now,
    )
    put(db, [too_big, text_message("dm:U1", "U1", at=now)], now=now)

    result = sender(db, clock, [slack_platform(slack_transport(fake))]).drain()

    assert (result.sent, result.failed) == (1, 1)
    assert "cannot render extension_request" in (rows(db)[too_big.key].last_error or "")
