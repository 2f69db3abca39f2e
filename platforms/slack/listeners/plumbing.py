"""The steps every button listener repeats, once: ack, read the button, the unit of work,
domain refusals told privately.

* ``button``: a decorator turning ``handler(click)`` into a Bolt block-action listener.
  It acks first, reads who clicked where and the id the button carries (a button whose
  value names nothing is answered privately with the listener's ``broken`` text and goes
  no further), then calls the handler with a ``Click``.
* ``in_unit``: runs the domain work in ``learning.actions.unit_of_work`` (one
  transaction; a ``NotAllowed`` refusal's audit entry is kept); a ``LearnbotError`` is
  a domain refusal, passed to ``refused`` (by default: told to the clicker privately)
  and answered with ``REFUSED``.

Anything else a listener raises is unexpected: it propagates to Bolt, whose error
handler (``platforms.slack.listeners.handle_error``) logs it and tells the person.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from slack_bolt import Ack
from slack_sdk import WebClient
from sqlmodel import Session

from learning.actions import unit_of_work
from learning.errors import LearnbotError
from platforms.slack.listeners.context import HandlerContext
from platforms.slack.listeners.replies import error_text, message_location, parse_id, tell
from platforms.slack.render.mrkdwn import Mrkdwn

T = TypeVar("T")


class Refused:
    """What ``in_unit`` answers when the domain refused (the user has been told)."""

    def __repr__(self) -> str:
        return "REFUSED"


REFUSED: Final = Refused()


@dataclass(frozen=True)
class Click:
    """A button click, as ``button`` read it."""

    client: WebClient
    body: dict[str, Any]
    action: dict[str, Any]
    user_id: str
    channel_id: str  # of the message the button is on; "" in App Home
    ts: str
    subject: Any  # what the button carries (``read``'s answer): usually a row id

    def tell(self, text: Mrkdwn) -> None:
        """Tell the clicker something only they see."""
        tell(self.client, user_id=self.user_id, channel_id=self.channel_id, text=text)

    def refused(self, error: LearnbotError) -> None:
        """Tell the clicker why the domain refused."""
        self.tell(error_text(error))


def button_id(action: dict[str, Any]) -> int | None:
    """The row id a button's value carries; None when it names nothing."""
    return parse_id(action.get("value", ""))


ClickHandler = Callable[[Click], None]
BoltListener = Callable[[Ack, dict[str, Any], dict[str, Any], WebClient], None]


def button(
    *, broken: Mrkdwn, read: Callable[[dict[str, Any]], Any | None] = button_id
) -> Callable[[ClickHandler], BoltListener]:
    """Make ``handler(click)`` a Bolt block-action listener (see the module docstring)."""

    def wrap(handler: ClickHandler) -> BoltListener:
        def listener(
            ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
        ) -> None:
            ack()
            user_id = str((body.get("user") or {}).get("id") or "")
            channel_id, ts = message_location(body)
            try:
                subject = read(action)
            except ValueError:
                subject = None
            click = Click(client, body, action, user_id, channel_id, ts, subject)
            if subject is None:
                click.tell(broken)
                return
            handler(click)

        listener.__name__ = handler.__name__
        listener.__doc__ = handler.__doc__
        return listener

    return wrap


def in_unit(
    ctx: HandlerContext,
    work: Callable[[Session], T],
    *,
    refused: Callable[[LearnbotError], None],
) -> T | Refused:
    """``work`` in one unit of work; ``REFUSED`` after ``refused(error)`` when the
    domain refuses (``LearnbotError``; ``NotAllowed``'s audit entry is kept)."""
    try:
        with unit_of_work(ctx.database) as session:
            return work(session)
    except LearnbotError as error:
        refused(error)
        return REFUSED
