"""Transports: the one small interface the sender posts through (console here; each
platform adapter brings its own, e.g. ``platforms.slack.transport``).

A transport makes exactly one attempt per call and never sleeps: retries, backoff and
pacing belong to the sender, which reads time from the injected clock. Failures are
raised as one of four typed errors so the sender can tell "try later" from "this person
cannot be reached" from "this workspace is unusable".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TextIO

from learning.clock import Clock

log = logging.getLogger(__name__)


class TransportError(Exception):
    """A call failed; ``reason`` says why, in Slack's words where there are any."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RateLimited(TransportError):
    """HTTP 429: make no call to this workspace for ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited (Retry-After {retry_after:g}s)")
        self.retry_after = retry_after


class Transient(TransportError):
    """5xx, a dropped connection or a timeout: the same call may work later."""


class Permanent(TransportError):
    """This message cannot be delivered (e.g. ``channel_not_found``); others are fine."""


class Fatal(TransportError):
    """The token or workspace is unusable (e.g. ``invalid_auth``): stop sending to it."""


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to post; ``key`` (the outbox key) travels with it (Slack: message
    metadata) so that a transport that can look up its posts finds it again.

    ``channel`` is the outbox row's ``recipient``: a conversation id (or Slack channel
    name), a user id (a DM), or several user ids joined by commas (a group DM with those
    people and the bot); ``recipient_kind`` says which. ``thread_ts`` (the row's
    ``thread_parent``) makes it a reply in that thread. ``blocks`` is the renderer's
    structured body (Slack: Block Kit), ``text`` its fallback.
    """

    channel: str
    text: str
    key: str
    kind: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    recipient_kind: str | None = None


@dataclass(frozen=True)
class Sent:
    """Where a message landed: the conversation id and the message id (Slack: ``ts``);
    the outbox keeps them as ``posted_conversation`` / ``posted_message``."""

    channel: str
    ts: str


class Transport(Protocol):
    """Posts messages; one attempt per call, no sleeping.

    Looking up what was already posted is a separate capability (``FindsSent``): a
    transport that has it lets the sender settle a crash without resending; one that
    has not (or sets ``can_find_sent = False``) gets the rule in
    ``delivery.rendering.can_reconcile``.
    """

    def send(self, message: OutgoingMessage) -> Sent:
        """Post ``message``.

        Raises:
            RateLimited, Transient, Permanent, Fatal: The post failed.
        """
        ...


class FindsSent(Transport, Protocol):
    """A transport that can find its own posts by outbox key (crash reconciliation)."""

    def find_sent(
        self, channel: str, key: str, since: datetime, *, thread_ts: str | None = None
    ) -> Sent | None:
        """The message with outbox ``key`` posted to ``channel`` (in thread ``thread_ts``,
        when given) at or after ``since``.

        Raises:
            RateLimited, Transient, Permanent, Fatal: The lookup failed.
        """
        ...


@dataclass(frozen=True)
class ConsoleMessage:
    """What ``ConsoleTransport`` printed."""

    channel: str
    ts: str
    key: str
    kind: str
    text: str
    at: datetime


class ConsoleTransport:
    """Prints messages instead of posting them: for ``simulate`` and trying learnbot out.

    Args:
        stream: Where to print.
        clock: The clock whose time is printed.
    """

    def __init__(self, stream: TextIO, *, clock: Clock) -> None:
        self._stream = stream
        self._clock = clock
        self.sent: list[ConsoleMessage] = []
        self._last_micros = 0

    def send(self, message: OutgoingMessage) -> Sent:
        """Print ``[<UTC time>] to <channel>: <text>`` and remember it."""
        at = self._clock.now()
        self._last_micros = max(self._last_micros + 1, round(at.timestamp() * 1_000_000))
        seconds, micros = divmod(self._last_micros, 1_000_000)
        ts = f"{seconds}.{micros:06d}"
        where = f"{message.channel} (thread)" if message.thread_ts else message.channel
        line = f"[{at:%Y-%m-%d %H:%M:%S} UTC] to {where}: {message.text}"
        print(line, file=self._stream)
        self.sent.append(
            ConsoleMessage(message.channel, ts, message.key, message.kind, message.text, at)
        )
        return Sent(channel=message.channel, ts=ts)

    def find_sent(
        self, channel: str, key: str, since: datetime, *, thread_ts: str | None = None
    ) -> Sent | None:
        """The printed message with ``key`` in ``channel``, if any."""
        for message in self.sent:
            if message.key == key and message.channel == channel:
                return Sent(channel=message.channel, ts=message.ts)
        return None
