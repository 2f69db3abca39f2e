"""Replies every listener shares: tell the user privately, refresh their App Home."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient

from models import Person
from platforms.slack.listeners.context import HandlerContext
from platforms.slack.listeners.home import publish_home
from platforms.slack.render.mrkdwn import Mrkdwn, esc
from platforms.slack.render.rendered import UnsafeText

log = logging.getLogger(__name__)

MAX_ID = 2**31 - 1
"""The largest row id learnbot's tables hold (an ``INTEGER`` key on PostgreSQL). A larger
number in a button value or modal metadata names nothing, and the database refuses it
("integer out of range" on PostgreSQL, an ``OverflowError`` past 2**63 on SQLite)."""


def parse_id(value: object) -> int | None:
    """The row id a button value or a modal's metadata carries; None unless it is a
    whole number from 1 to ``MAX_ID``."""
    try:
        number = int(str(value))
    except ValueError:  # not a number, or more digits than Python converts
        return None
    return number if 0 < number <= MAX_ID else None


def user_message(error: Exception) -> str:
    """A domain error's message as a sentence for the user (plain text: a modal's field
    error shows it as it is)."""
    text = str(error).strip() or "That did not work."
    return text[:1].upper() + text[1:]


def error_text(error: Exception) -> Mrkdwn:
    """A domain error's message as message text (it may quote names and titles)."""
    return esc(user_message(error))


def tell(client: WebClient, *, user_id: str, channel_id: str | None, text: Mrkdwn) -> None:
    """Tell one user something only they see.

    In a conversation (the nudge DM) it is an ephemeral message there; without one (a
    click in App Home) it is a DM from the bot.

    Raises:
        UnsafeText: ``text`` is a plain ``str``, not built with ``messages.mrkdwn``.
    """
    if not isinstance(text, Mrkdwn):
        raise UnsafeText(f"tell() needs Mrkdwn text, not a plain str: {str(text)[:80]!r}")
    if channel_id:
        client.chat_postEphemeral(channel=channel_id, user=user_id, text=text)
    else:
        client.chat_postMessage(channel=user_id, text=text)


def message_location(body: dict[str, Any]) -> tuple[str, str]:
    """``(channel_id, message_ts)`` of the message a block action came from; empty if none."""
    container = body.get("container") or {}
    if container.get("type") != "message":
        return "", ""
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id") or ""
    ts = container.get("message_ts") or (body.get("message") or {}).get("ts") or ""
    return str(channel), str(ts)


def refresh_home(client: WebClient, ctx: HandlerContext, person: Person) -> None:
    """Re-publish the person's App Home."""
    try:
        publish_home(client, ctx, person)
    except Exception:
        # The person's action is already recorded and confirmed; a stale Home tab is
        # worth a logged traceback, not an "it failed" message about work that succeeded.
        log.exception("App Home refresh failed for person %s", person.id)
