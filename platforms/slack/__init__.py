"""The Slack adapter: Bolt listeners, Block Kit renderers, the Web API transport and
Slack identities. The only package that imports ``slack_sdk`` or ``slack_bolt``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from delivery.transport import Transport
    from platforms.base import Platform

NAME = "slack"
"""The ``platform`` of Slack's outbox rows."""


def slack_platform(transport: Transport) -> Platform:
    """The Slack adapter's outbound parts: the Block Kit renderer and ``transport``."""
    from platforms.base import Platform
    from platforms.slack.render.render import SlackRenderer

    return Platform(name=NAME, renderer=SlackRenderer(), transport=transport)
