"""Transports: the one small interface the sender posts through (Slack, console).

A transport makes exactly one attempt per call and never sleeps: retries, backoff and
pacing belong to the sender, which reads time from the injected clock. Failures are
raised as one of four typed errors so the sender can tell "try later" from "this person
cannot be reached" from "this workspace is unusable".
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import urllib.error
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TextIO

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError, SlackRequestError

from learning.clock import Clock

log = logging.getLogger(__name__)

CLOCK_SKEW_SECONDS = 60
"""How far before a claim a lookup for its message starts: Slack's ``ts`` comes from
Slack's clock, which may be behind ours."""

METADATA_EVENT_TYPE = "learnbot_outbox"
"""Slack message metadata ``event_type`` carrying the outbox key."""

FATAL_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "team_not_found",
        "not_allowed_token_type",
    }
)
"""Slack errors that make every call with this token fail: stop the workspace."""

TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
"""Slack errors answered with HTTP 200 that are worth retrying."""

_CONNECTION_ERRORS = (
    urllib.error.URLError,
    http.client.HTTPException,
    ConnectionError,
    TimeoutError,
    socket.timeout,
)


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
    """One message to post; ``key`` (the outbox key) travels as Slack message metadata.

    ``channel`` is a channel id or name, a user id (a DM), or several user ids joined by
    commas (a group DM with those people and the bot). ``thread_ts`` makes it a reply
    in that thread.
    """

    channel: str
    text: str
    key: str
    kind: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None


@dataclass(frozen=True)
class Sent:
    """Where a message landed: the conversation id and the message ``ts``."""

    channel: str
    ts: str


class Transport(Protocol):
    """Posts messages and finds ones already posted; one attempt per call, no sleeping."""

    def send(self, message: OutgoingMessage) -> Sent:
        """Post ``message``.

        Raises:
            RateLimited, Transient, Permanent, Fatal: The post failed.
        """
        ...

    def find_sent(
        self, channel: str, key: str, since: datetime, *, thread_ts: str | None = None
    ) -> Sent | None:
        """The message with outbox ``key`` posted to ``channel`` (in thread ``thread_ts``,
        when given) at or after ``since``.

        Raises:
            RateLimited, Transient, Permanent, Fatal: The lookup failed.
        """
        ...


def outbox_metadata(key: str) -> dict[str, Any]:
    """The Slack message metadata that marks a message as outbox entry ``key``."""
    return {"event_type": METADATA_EVENT_TYPE, "event_payload": {"key": key}}


def metadata_key(message: dict[str, Any]) -> str | None:
    """The outbox key in a Slack message's metadata, if it is one of ours."""
    metadata = message.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("event_type") != METADATA_EVENT_TYPE:
        return None
    key = (metadata.get("event_payload") or {}).get("key")
    return key if isinstance(key, str) else None


class SlackTransport:
    """Posts with ``chat.postMessage`` and finds earlier posts by their metadata.

    Build the client with ``retry_handlers=[]`` (see ``delivery.runner.build_slack_client``):
    the SDK's own retry handlers sleep inside the call, out of sight of the sender's pacing.

    Args:
        client: A ``slack_sdk.WebClient`` with the bot token.
        history_page_size: ``limit`` for each ``conversations.history`` page.
    """

    def __init__(self, client: WebClient, *, history_page_size: int = 200) -> None:
        self._client = client
        self._page_size = history_page_size
        self._dm_channels: dict[str, str] = {}
        self._lock = threading.Lock()

    def send(self, message: OutgoingMessage) -> Sent:
        """Post ``message``; a DM goes to ``channel=<user id>`` as Slack recommends, a
        group DM (``"U1,U2"``) to the conversation ``conversations.open`` gives for them."""
        target = (
            self._conversation_id(message.channel)
            if _is_group(message.channel)
            else (message.channel)
        )
        response = self._call(
            "chat.postMessage",
            self._client.chat_postMessage,
            channel=target,
            text=message.text,
            blocks=message.blocks or None,
            metadata=outbox_metadata(message.key),
            thread_ts=message.thread_ts,
        )
        sent = Sent(channel=str(response["channel"]), ts=str(response["ts"]))
        if _is_user_id(message.channel):
            with self._lock:
                self._dm_channels[message.channel] = sent.channel
        return sent

    def find_sent(
        self, channel: str, key: str, since: datetime, *, thread_ts: str | None = None
    ) -> Sent | None:
        """Page ``conversations.history`` (``conversations.replies`` for a reply in
        ``thread_ts``) from ``since`` - ``CLOCK_SKEW_SECONDS`` for a message with ``key``.

        A user id (or a group of them) is first turned into the conversation id
        (``conversations.open``, which needs ``im:write`` or ``mpim:write``); the answer
        is cached.
        """
        conversation = self._conversation_id(channel)
        oldest = f"{since.timestamp() - CLOCK_SKEW_SECONDS:.6f}"
        cursor: str | None = None
        if thread_ts:
            method, read, where = (
                "conversations.replies",
                self._client.conversations_replies,
                {"ts": thread_ts},
            )
        else:
            method, read, where = "conversations.history", self._client.conversations_history, {}
        while True:
            response = self._call(
                method,
                read,
                channel=conversation,
                oldest=oldest,
                include_all_metadata=True,
                limit=self._page_size,
                cursor=cursor,
                history=True,
                **where,
            )
            for message in response.get("messages") or []:
                if metadata_key(message) == key:
                    return Sent(channel=conversation, ts=str(message["ts"]))
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None

    def _conversation_id(self, channel: str) -> str:
        if not _is_user_id(channel):
            return channel
        with self._lock:
            known = self._dm_channels.get(channel)
        if known:
            return known
        response = self._call("conversations.open", self._client.conversations_open, users=channel)
        conversation = str(response["channel"]["id"])
        with self._lock:
            self._dm_channels[channel] = conversation
        return conversation

    @staticmethod
    def _call(method: str, function: Any, *, history: bool = False, **kwargs: Any) -> Any:
        """Call ``function`` once and translate every failure into a ``TransportError``."""
        try:
            return function(**kwargs)
        except SlackApiError as exc:
            raise _classify(method, exc, history=history) from exc
        except SlackRequestError as exc:
            raise Fatal(f"{method}: bad request: {exc}") from exc
        except (*_CONNECTION_ERRORS, SlackClientError) as exc:
            raise Transient(f"{method}: {type(exc).__name__}: {exc}") from exc


def _classify(method: str, exc: SlackApiError, *, history: bool) -> TransportError:
    response = exc.response
    status = int(getattr(response, "status_code", 0) or 0)
    data = response.data if isinstance(getattr(response, "data", None), dict) else {}
    error = str(data.get("error") or "")
    if status == 429 or error == "ratelimited":
        return RateLimited(_retry_after(response.headers))
    if status >= 500 or error in TRANSIENT_ERRORS:
        return Transient(f"{method}: HTTP {status} {error}".rstrip())
    if history and error == "missing_scope":
        # Reading one kind of conversation needs its own scope (channels:history for
        # public channels); that leaves every other send possible, so it is not fatal.
        needed = data.get("needed")
        return Permanent(f"missing_scope{f' {needed}' if needed else ''} for {method}")
    if error in FATAL_ERRORS:
        return Fatal(error)
    return Permanent(error or f"{method}: HTTP {status}")


def _retry_after(headers: Any) -> float:
    raw = None
    if headers is not None:
        raw = headers.get("Retry-After") or headers.get("retry-after")
    if isinstance(raw, list):
        raw = raw[0] if raw else None
    try:
        return max(0.0, float(raw)) if raw is not None else 1.0
    except ValueError:
        return 1.0


def _is_user_id(channel: str) -> bool:
    """A user id, or several joined by commas (a group DM): both need conversations.open."""
    return channel[:1] in ("U", "W")


def _is_group(channel: str) -> bool:
    return "," in channel and _is_user_id(channel)


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
