"""Build the Bolt app and the health check for the bot process."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy import text

import platforms.slack.listeners as handlers
from learning.clock import Clock
from models.db import Database
from platforms.slack.listeners.context import HandlerContext
from settings import Settings

log = logging.getLogger(__name__)


def build_client(settings: Settings) -> WebClient:
    """The Web API client: Slack's URL unless ``SLACK_API_URL`` points elsewhere.

    No SDK retry handlers: they sleep inside the call, invisible to the sender's pacing
    and clock; the outbox sender owns retries (docs/decisions.md).
    """
    return WebClient(
        token=settings.slack_bot_token, base_url=settings.slack_api_url, retry_handlers=[]
    )


def build_app(
    settings: Settings,
    *,
    database: Database,
    clock: Clock,
    client: WebClient | None = None,
    process_before_response: bool = False,
) -> App:
    """The Bolt app with every listener registered. Needs real Slack credentials.

    ``process_before_response`` is for FaaS-style hosts (and tests that want a
    listener finished when the request returns); listeners ack first either way.
    """
    settings.require_slack()
    app = App(
        token=settings.slack_bot_token,
        signing_secret=settings.slack_signing_secret,
        client=client or build_client(settings),
        token_verification_enabled=False,
        process_before_response=process_before_response,
        # Listeners ack first, then finish their work here: Bolt's default of 5 threads
        # would make a few slow listeners (a slow Slack API) delay every other ack.
        listener_executor=ThreadPoolExecutor(
            max_workers=settings.http_threads, thread_name_prefix="bolt-listener"
        ),
    )
    handlers.register_all(app, HandlerContext(database=database, clock=clock, settings=settings))
    return app


def health(database: Database) -> dict[str, str]:
    """Checks for ``GET /health``: each value is "ok" or a short reason."""
    try:
        with database.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        database_state = "ok"
    except Exception as exc:  # report, never crash the health endpoint
        database_state = f"error: {type(exc).__name__}"
    return {"database": database_state}
