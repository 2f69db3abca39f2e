"""A signed slash command or interaction is processed once, however often it arrives.

Bolt middleware, so it works whatever web server hands requests to ``App.dispatch``. It
runs after Bolt's own signature check (custom middleware follows the built-in ones), so
only requests Slack really signed are recorded (``learning.replays``). A copy of one
already handled is answered with an empty 200, which shows nothing in Slack, and logged
without its body. Events API deliveries have their own, longer de-duplication by
``event_id`` (``handlers.events``); options requests (type-ahead) change nothing; Socket
Mode requests carry no signature and cannot be replayed over HTTP.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.request.payload_utils import is_event, is_options

from learning.replays import claim_request
from platforms.slack.listeners.context import HandlerContext

log = logging.getLogger(__name__)


def wall_clock() -> datetime:
    """Bolt checks a request's timestamp against ``time.time()``; so does this."""
    return datetime.fromtimestamp(time.time(), UTC)


def register(app: App, ctx: HandlerContext, *, now: Callable[[], datetime] = wall_clock) -> None:
    """Add the replay check to ``app``'s middleware."""

    def ignore_replays(
        body: dict[str, Any], request: BoltRequest, next: Callable[[], Any]
    ) -> BoltResponse | None:
        if request.lazy_only or is_event(body) or is_options(body):
            return next()
        signature = _header(request, "x-slack-signature")
        signed_at = _signed_at(_header(request, "x-slack-request-timestamp"))
        if not signature or signed_at is None:
            return next()
        with ctx.database.session() as session:
            first = claim_request(session, signature=signature, signed_at=signed_at, now=now())
        if first:
            return next()
        log.warning(
            "a replayed Slack request was ignored (%s from %s, signed at %s)",
            _kind(body),
            _user(body),
            signed_at.isoformat(),
        )
        return BoltResponse(status=200, body="")

    app.middleware(ignore_replays)


def _header(request: BoltRequest, name: str) -> str:
    values = request.headers.get(name) or []
    return str(values[0]) if values else ""


def _signed_at(value: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _kind(body: dict[str, Any]) -> str:
    if body.get("command"):
        return str(body["command"])[:40]
    return str(body.get("type") or "request")[:40]


def _user(body: dict[str, Any]) -> str:
    user = body.get("user")
    user_id = user.get("id") if isinstance(user, dict) else body.get("user_id")
    return str(user_id or "?")[:40]
