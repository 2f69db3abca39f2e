"""The adapter interface: what a chat platform brings to learnbot.

A platform adapter (``platforms/<name>/``) is the only code that knows its platform's
ids, markup and APIs. It provides:

- a **renderer** (``delivery.rendering.Renderer``): outbox ``kind`` + JSON facts ->
  the platform's message, escaping every text the facts hold. Register one function
  per kind the domain writes (Slack: ``platforms.slack.render.render.RENDERERS``); a
  kind the renderer does not know fails that row with the reason, nothing is posted.
- a **transport** (``delivery.transport.Transport``): posts one message per call, never
  sleeps, and raises ``RateLimited``/``Transient``/``Permanent``/``Fatal``. Looking
  up its own posts by outbox key (``FindsSent.find_sent``) is optional: a transport
  that cannot sets ``can_find_sent = False``, and then a row left ``sending`` by a dead
  sender is marked ``failed`` ("delivery unknown") for an operator, never resent blindly
  (``delivery.rendering.can_reconcile``).
- identity and inbound listeners (the Slack adapter: ``platforms.slack.listeners``).

Outbox rows address ``(platform, workspace_id, recipient_kind, recipient,
thread_parent)``; ``Platform.name`` is the ``platform`` value of its rows. The
composition root (``bot.py``, ``schedules.simulation``, ``bench``) builds the adapters
and hands the sender ``routes(...)``: platform name -> renderer and transport.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from delivery.rendering import RenderContext, Renderer, Route
from delivery.transport import Transport


@dataclass(frozen=True)
class Platform:
    """One adapter's outbound parts, as the composition root hands them on."""

    name: str
    renderer: Renderer
    transport: Transport
    context: RenderContext = field(default_factory=RenderContext)

    def route(self) -> Route:
        """This platform's entry in the sender's routes."""
        return Route(self.renderer, self.transport, self.context)


def routes(platforms: Iterable[Platform]) -> dict[str, Route]:
    """The sender's mapping: platform name -> its renderer and transport.

    Raises:
        ValueError: Two adapters share a name.
    """
    table: dict[str, Route] = {}
    for platform in platforms:
        if platform.name in table:
            raise ValueError(f"two platforms named {platform.name!r}")
        table[platform.name] = platform.route()
    return table
