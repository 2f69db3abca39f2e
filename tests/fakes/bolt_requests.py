"""Signed Slack requests for driving a Bolt app through its real pipeline.

Each request is built as Slack sends it (form-encoded commands and interactivity
payloads, JSON events), signed with the app's signing secret, and passed to
``App.dispatch`` so signature checks, matching, ``ack`` and listeners all run.
"""

from __future__ import annotations

import json
import time
from itertools import count
from typing import Any
from urllib.parse import urlencode

from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk.signature import SignatureVerifier

from tests.fakes.slack_api import TEAM_ID

_ids = count(1)


class SlackRequests:
    """Builds, signs and dispatches requests to ``app``."""

    def __init__(self, app: App, *, signing_secret: str, team_id: str = TEAM_ID) -> None:
        self.app = app
        self.verifier = SignatureVerifier(signing_secret)
        self.team_id = team_id

    def _dispatch(self, body: str, content_type: str) -> BoltResponse:
        timestamp = str(int(time.time()))
        headers = {
            "content-type": [content_type],
            "x-slack-request-timestamp": [timestamp],
            "x-slack-signature": [self.verifier.generate_signature(timestamp=timestamp, body=body)],
        }
        return self.app.dispatch(BoltRequest(body=body, headers=headers))

    def command(
        self,
        text: str,
        *,
        user_id: str,
        command: str = "/learn",
        response_url: str = "https://hooks.slack.test/commands/1",
    ) -> BoltResponse:
        """A slash command, as Slack posts it (``response_url``: where ``respond`` posts)."""
        body = urlencode(
            {
                "token": "legacy",
                "team_id": self.team_id,
                "team_domain": "acme",
                "channel_id": "D0CHANNEL",
                "channel_name": "directmessage",
                "user_id": user_id,
                "user_name": user_id.lower(),
                "command": command,
                "text": text,
                "api_app_id": "A0APP",
                "is_enterprise_install": "false",
                "response_url": response_url,
                "trigger_id": f"trigger-{next(_ids)}",
            }
        )
        return self._dispatch(body, "application/x-www-form-urlencoded")

    def interaction(self, payload: dict[str, Any]) -> BoltResponse:
        """Any interactivity payload (block_actions, view_submission, shortcut...)."""
        payload = {
            "team": {"id": self.team_id, "domain": "acme"},
            "api_app_id": "A0APP",
            "token": "legacy",
            "trigger_id": f"trigger-{next(_ids)}",
            **payload,
        }
        body = urlencode({"payload": json.dumps(payload)})
        return self._dispatch(body, "application/x-www-form-urlencoded")

    def block_action(
        self,
        *,
        user_id: str,
        action: dict[str, Any],
        message: dict[str, Any] | None = None,
        channel_id: str = "D0CHANNEL",
        view: dict[str, Any] | None = None,
    ) -> BoltResponse:
        """A click on a button or a choice in a select, in a message or a view."""
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user_id, "team_id": self.team_id},
            "actions": [{"action_ts": f"{time.time():.6f}", "block_id": "b", **action}],
            "response_url": "https://hooks.slack.test/actions/1",
        }
        if message is not None:
            payload["container"] = {
                "type": "message",
                "message_ts": message.get("ts"),
                "channel_id": channel_id,
            }
            payload["channel"] = {"id": channel_id}
            payload["message"] = message
        if view is not None:
            payload["container"] = {"type": "view", "view_id": view.get("id", "V0")}
            payload["view"] = view
        return self.interaction(payload)

    def view_submission(
        self,
        *,
        user_id: str,
        callback_id: str,
        values: dict[str, dict[str, Any]],
        private_metadata: str = "",
    ) -> BoltResponse:
        """A modal submitted with ``values`` (block_id -> action_id -> value dict)."""
        return self.interaction(
            {
                "type": "view_submission",
                "user": {"id": user_id, "team_id": self.team_id},
                "view": {
                    "id": f"V{next(_ids)}",
                    "type": "modal",
                    "callback_id": callback_id,
                    "private_metadata": private_metadata,
                    "state": {"values": values},
                },
            }
        )

    def event(self, event: dict[str, Any], *, event_id: str | None = None) -> BoltResponse:
        """An Events API delivery."""
        body = json.dumps(
            {
                "token": "legacy",
                "team_id": self.team_id,
                "api_app_id": "A0APP",
                "type": "event_callback",
                "event": event,
                "event_id": event_id or f"Ev{next(_ids):08d}",
                "event_time": int(time.time()),
                "authorizations": [{"team_id": self.team_id, "user_id": "U0BOT", "is_bot": True}],
            }
        )
        return self._dispatch(body, "application/json")
