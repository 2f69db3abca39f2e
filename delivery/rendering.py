"""What the sender needs from a platform: a renderer for the facts it stored and a
transport to post the result. The composition root (``bot.py``, the simulation, the
benchmarks) builds one ``Route`` per platform from its adapter (``platforms.*``); this
package never imports an adapter.

An outbox row holds ``kind`` plus JSON facts, never a platform's markup. A renderer turns
them into the platform's message at send time and escapes everything the facts hold:
names, titles and reasons are plain text until then.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

from delivery.transport import Transport


@dataclass(frozen=True)
class RenderContext:
    """What a renderer may need beyond the facts (e.g. the link to the app's home)."""

    home_url: str | None = None


class Rendered(Protocol):
    """A rendered message: the fallback ``text`` (notifications, screen readers) and the
    platform's structured ``blocks`` (for Slack, Block Kit; empty for plain text)."""

    @property
    def text(self) -> str: ...

    @property
    def blocks(self) -> list[dict[str, Any]]: ...


@runtime_checkable
class Renderer(Protocol):
    """Turns an outbox ``kind`` and its facts into a platform message."""

    def render(self, kind: str, facts: Mapping[str, Any], *, context: RenderContext) -> Rendered:
        """The message for ``kind`` with ``facts``, every supplied text escaped.

        Raises:
            ValueError: ``kind`` is unknown to this platform, or ``facts`` do not fit it
                (the sender marks the row failed with the reason; nothing is posted).
        """
        ...


class Route(NamedTuple):
    """How rows of one platform leave: its renderer and its transport."""

    renderer: Renderer
    transport: Transport
    context: RenderContext = RenderContext()


def can_reconcile(transport: object) -> bool:
    """Whether ``transport`` can look up its own posts (``find_sent``).

    A transport that cannot says so with ``can_find_sent = False`` (or by having no
    ``find_sent``). The sender's rule for it: a row left ``sending`` by a dead sender is
    marked ``failed`` ("delivery unknown") for an operator to check and retry, never
    resent blindly; a retry after a failed attempt is posted without a lookup.
    """
    return bool(getattr(transport, "can_find_sent", True)) and callable(
        getattr(transport, "find_sent", None)
    )
