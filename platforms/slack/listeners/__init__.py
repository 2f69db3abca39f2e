"""Bolt listeners, one folder per kind (commands/ actions/ events/ views/ home/).

Each folder has ``register(app)``; ``register_all`` wires them all. Listeners parse,
``ack()``, call one domain function and render with ``messages``; no SQL and no Block
Kit dicts live here. The nudge buttons' ``action_id`` values are fixed in
``messages.ids``; their listeners arrive with the chat-interactions work (issue 4).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App

from platforms.slack.listeners import replay
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
    for module in _listener_modules():
        module.register(app, ctx)


def _listener_modules() -> list[Any]:
    """The listener folders present (each has ``register(app, ctx)``)."""
    import importlib

    modules = []
    for name in (
        "commands",
        "actions",
        "views",
        "events",
        "home",
        "escalation",
        "peer_prompts",
        "mentoring",
        "shortcuts",
    ):
        try:
            modules.append(importlib.import_module(f"platforms.slack.listeners.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"platforms.slack.listeners.{name}":
                raise
    return modules
