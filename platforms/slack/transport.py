"""The Slack transport: ``chat.postMessage`` through the real ``slack_sdk`` client, and
finding a post after a crash by its message metadata (``conversations.history``)."""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import urllib.error
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError, SlackRequestError

from delivery.transport import (
    Fatal,
    OutgoingMessage,
    Permanent,
    RateLimited,
    Sent,
    Transient,
    TransportError,
)
from settings import Settings

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


def build_slack_client(settings: Settings) -> WebClient:
    """A ``WebClient`` for the bot token, without the SDK's sleeping retry handlers.

    Raises:
        SettingsError: The Slack credentials are missing (the message names the variable).
    """
    settings.require_slack()
    return WebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        retry_handlers=[],
    )


def build_slack_transport(settings: Settings) -> SlackTransport:
    """The Slack transport for the configured workspace."""
    return SlackTransport(build_slack_client(settings))
