"""The memory platform's transport: posts are recorded in a list.

It has the crash lookup capability (``delivery.transport.FindsSent``): every post keeps
its outbox key, so ``find_sent`` answers whether a message already landed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from delivery.transport import OutgoingMessage, Permanent, Sent
from learning.clock import Clock


@dataclass(frozen=True)
class Post:
    """One message the memory platform received."""

    conversation: str
    message_id: str
    key: str
    kind: str
    recipient_kind: str | None
    text: str
    body: dict[str, Any]
    at: datetime


class MemoryTransport:
    """Records posts; refuses recipients it does not know (``Permanent``).

    Args:
        clock: The time stamped on each post.
        users: The memory user ids that exist; a DM to any other id is refused, as a
            real platform refuses an unknown user (a Slack id sent here fails loudly).
    """

    can_find_sent = True

    def __init__(self, clock: Clock, *, users: set[str]) -> None:
        self._clock = clock
        self._users = users
        self.posts: list[Post] = []

    def send(self, message: OutgoingMessage) -> Sent:
        if message.recipient_kind == "person" and message.channel not in self._users:
            raise Permanent(f"no memory user {message.channel!r}")
        [body] = message.blocks  # the renderer's one plain dict
        post = Post(
            conversation=f"dm-{message.channel}",
            message_id=str(len(self.posts) + 1),
            key=message.key,
            kind=message.kind,
            recipient_kind=message.recipient_kind,
            text=message.text,
            body=body,
            at=self._clock.now(),
        )
        self.posts.append(post)
        return Sent(channel=post.conversation, ts=post.message_id)

    def find_sent(
        self, channel: str, key: str, since: datetime, *, thread_ts: str | None = None
    ) -> Sent | None:
        for post in self.posts:
            if post.key == key and post.conversation == f"dm-{channel}" and post.at >= since:
                return Sent(channel=post.conversation, ts=post.message_id)
        return None

    def to(self, user_id: str) -> list[Post]:
        """The posts in the DM with ``user_id``, oldest first."""
        return [p for p in self.posts if p.conversation == f"dm-{user_id}"]
