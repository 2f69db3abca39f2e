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

log = logging.getLogger(__name__)


def handle_error(error: Exception, body: dict[str, Any], respond: Any, logger: Any) -> None:
    """The one error handler: log with traceback, tell the person, never stay silent."""
    logger.exception("listener failed: %s", error)
    if respond is not None and body.get("response_url"):
        respond(
            text="Sorry, something went wrong on our side. It has been logged; "
            "please try again in a minute.",
            response_type="ephemeral",
            replace_original=False,
        )


def register_all(app: App) -> None:
    """Register every listener on ``app``."""
    app.error(handle_error)
