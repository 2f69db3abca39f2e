"""Shared pieces of the outbox and sender tests: messages, a virtual sleep, a sender."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import select

from delivery.outbox import NewMessage, enqueue
from delivery.sender import Sender
from learning.clock import FrozenClock
from models.db import Database
from models.tables import OutboxMessage, RecipientKind
from platforms.base import routes
from platforms.slack import slack_platform
from platforms.slack.render.render import render_outbox
from platforms.slack.transport import SlackTransport, build_slack_client
from settings import Settings
from tests.fakes.slack_api import Call, FakeSlack


def recipient_kind(channel: str) -> str:
    """How the Slack transport reads ``channel``: user ids are a person (or a group)."""
    if channel[:1] in ("U", "W"):
        return RecipientKind.GROUP if "," in channel else RecipientKind.PERSON
    return RecipientKind.CHANNEL


def text_message(key: str, channel: str, *, at: datetime, text: str | None = None) -> NewMessage:
    """A kind "plain" message (facts: its plain text) due at ``at``."""
    body = text or f"hello from {key}"
    return NewMessage(
        key=key,
        kind="plain",
        recipient_kind=recipient_kind(channel),
        recipient=channel,
        payload={"text": body},
        not_before=at,
    )


def dms(count: int, *, at: datetime, prefix: str = "dm") -> list[NewMessage]:
    """``count`` DMs to users ``U000``, ``U001``, ... keyed ``{prefix}:U000``, ..."""
    return [text_message(f"{prefix}:U{n:03d}", f"U{n:03d}", at=at) for n in range(count)]


def put(db: Database, messages: Iterable[NewMessage], *, now: datetime) -> int:
    with db.session() as session:
        return enqueue(session, list(messages), now=now)


def rows(db: Database) -> dict[str, OutboxMessage]:
    """Every outbox row by key."""
    with db.session() as session:
        return {row.key: row for row in session.exec(select(OutboxMessage)).all()}


def virtual_sleep(clock: FrozenClock) -> Callable[[float], None]:
    """A ``sleep`` that moves the frozen clock instead of waiting."""

    def sleep(seconds: float) -> None:
        assert seconds >= 0, seconds
        clock.advance(timedelta(seconds=seconds))

    return sleep


def slack_transport(fake: FakeSlack, *, token: str = "xoxb-test") -> SlackTransport:
    """A transport over a real ``WebClient`` built as production builds it."""
    settings = Settings(
        slack_bot_token=token, slack_signing_secret="x", slack_api_url=fake.base_url
    )
    return SlackTransport(build_slack_client(settings))


def make_sender(
    db: Database, fake: FakeSlack, clock: FrozenClock, *, token: str = "xoxb-test", **options: Any
) -> Sender:
    """A sender on the virtual clock, posting to ``fake`` through a real ``WebClient``."""
    options.setdefault("worker", "test-sender")
    return Sender(
        db,
        routes([slack_platform(slack_transport(fake, token=token))]),
        clock,
        sleep=virtual_sleep(clock),
        rng=random.Random(1234),
        **options,
    )


def outbox_key(call: Call) -> str:
    """The outbox key a ``chat.postMessage`` call carried in its metadata."""
    metadata = call.body.get("metadata") or {}
    return str(metadata["event_payload"]["key"])


def deliveries(fake: FakeSlack) -> Counter[str]:
    """How many times each outbox key was delivered, per the fake's log.

    Counts every post Slack stored (``FakeSlack.landed``), including one whose answer was
    lost on the way back (``store_then_drop``): a resend of that message is a duplicate.
    """
    return Counter(outbox_key(call) for call in fake.landed("chat.postMessage"))


FACT_KINDS_AS_STORED = frozenset({"digest", "escalation", "weekly_manager"})
"""Kinds whose tests read the stored facts themselves (``payload`` is left as stored)."""


class Shown:
    """An outbox row as Slack will show it: rendered now, as the sender renders it.

    ``text`` and ``payload`` (``{"text", "blocks"}``, with ``thread_ts`` for a reply) are
    the Slack message, what older rows stored; ``channel`` is the recipient; anything
    else is the row's own attribute.
    """

    def __init__(self, row: OutboxMessage) -> None:
        self.row = row
        self.message = render_outbox(row.kind, row.payload)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.row, name)

    @property
    def channel(self) -> str:
        return self.row.recipient

    @property
    def text(self) -> str:
        return self.message.text

    @property
    def payload(self) -> dict[str, Any]:
        if self.row.kind in FACT_KINDS_AS_STORED:
            return self.row.payload
        shown: dict[str, Any] = {"text": self.message.text, "blocks": self.message.blocks}
        if self.row.thread_parent:
            shown["thread_ts"] = self.row.thread_parent
        return shown
