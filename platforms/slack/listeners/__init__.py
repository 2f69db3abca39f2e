"""Bolt listeners, one folder per kind (commands/ actions/ events/ views/ home/).

Each folder has ``register(app)``; ``register_all`` wires them all. Listeners parse,
``ack()``, call one domain function and render with ``messages``; no SQL and no Block
Kit dicts live here. The nudge buttons' ``action_id`` values are fixed in
``messages.ids``; their listeners arrive with the chat-interactions work (issue 4).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App

from platforms.slack.listeners import (
    actions,
    commands,
    escalation,
    events,
    home,
    mentoring,
    peer_prompts,
    replay,
    shortcuts,
    views,
)
from platforms.slack.listeners.context import HandlerContext
from platforms.slack.render.mrkdwn import Mrkdwn

log = logging.getLogger(__name__)

SOMETHING_WENT_WRONG = Mrkdwn(
    "Sorry, something went wrong on our side. It has been logged; please try again in a minute."
)


def handle_error(error: Exception, body: dict[str, Any], respond: Any, logger: Any) -> None:
    """The one error handler: log with traceback, tell the person, never stay silent."""
    logger.exception("listener failed: %s", error)
    if respond is not None and body.get("response_url"):
        respond(
            text=SOMETHING_WENT_WRONG,
            response_type="ephemeral",
            replace_original=False,
        )


def register_all(app: App, ctx: HandlerContext) -> None:
    """Register every listener on ``app``; each folder adds its own in ``register``."""
    app.error(handle_error)
    replay.register(app, ctx)  # first: a replay stops before any other middleware writes
    for register in LISTENERS:
        register(app, ctx)


# Every listener folder, in registration order (explicit: a missing one fails loudly).
LISTENERS: tuple[Callable[[App, HandlerContext], None], ...] = (
    commands.register,
    actions.register,
    views.register,
    events.register,
    home.register,
    escalation.register,
    peer_prompts.register,
    mentoring.register,
    shortcuts.register,
)
