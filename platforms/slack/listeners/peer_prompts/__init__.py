"""The peer-learning prompt's buttons (value: the prompt id).

* ``PEER_CAN_HELP``: "I can help".
* ``PEER_LEARNING``: "I'm learning this".

Both ack at once, note the click once per person and button (``learning.peer_prompts``),
answer the clicker privately through the action's ``response_url`` (never replacing the
public post), and refresh the counts on the public post.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from learning import peer_prompts
from learning.errors import LearnbotError
from platforms.slack.identity import person_by_slack_id
from platforms.slack.listeners.context import HandlerContext
from platforms.slack.listeners.events import workspace_of
from platforms.slack.listeners.replies import error_text, message_location, parse_id, tell
from platforms.slack.render import ids
from platforms.slack.render import peer_prompts as views
from platforms.slack.render.mrkdwn import Mrkdwn

log = logging.getLogger(__name__)


def register(app: App, ctx: HandlerContext) -> None:
    """Add the peer-learning prompt's button listeners to ``app``."""

    @app.action(ids.PEER_CAN_HELP)
    def handle_can_help(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond, client: WebClient
    ) -> None:
        ack()
        prompt_clicked(
            ctx, body=body, action=action, respond=respond, client=client, kind=peer_prompts.HELP
        )

    @app.action(ids.PEER_LEARNING)
    def handle_learning(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond, client: WebClient
    ) -> None:
        ack()
        prompt_clicked(
            ctx,
            body=body,
            action=action,
            respond=respond,
            client=client,
            kind=peer_prompts.LEARNING,
        )


def _tell(respond: Respond, client: WebClient, body: dict[str, Any], text: Mrkdwn) -> None:
    """Answer the clicker only: beside the post through ``respond``, else (no
    ``response_url``) privately by ``tell``."""
    if body.get("response_url"):
        respond(text=text, response_type="ephemeral", replace_original=False)
        return
    channel_id, _ = message_location(body)
    user_id = str((body.get("user") or {}).get("id") or "")
    tell(client, user_id=user_id, channel_id=channel_id, text=text)


def prompt_clicked(
    ctx: HandlerContext,
    *,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Respond,
    client: WebClient,
    kind: str,
) -> None:
    """Note the click, answer the clicker privately, refresh the counts on the post."""
    prompt_id = parse_id(action.get("value", ""))
    if prompt_id is None:
        _tell(respond, client, body, views.BROKEN_BUTTON)
        return
    user_id = str((body.get("user") or {}).get("id") or "")
    try:
        with ctx.database.session() as session:
            outcome = peer_prompts.answer_prompt(
                session,
                prompt_id=prompt_id,
                person=person_by_slack_id(session, user_id, workspace_id=workspace_of(body)),
                kind=kind,
                clock=ctx.clock,
            )
    except LearnbotError as error:
        _tell(respond, client, body, error_text(error))
        return
    _tell(
        respond,
        client,
        body,
        views.click_reply(
            kind=kind,
            new=outcome.new,
            public=outcome.public,
            followed_up=outcome.card.followed_up,
        ),
    )
    if outcome.new:
        _show_counts(client, body, outcome.card)


def _show_counts(client: WebClient, body: dict[str, Any], card: peer_prompts.PromptCard) -> None:
    """Re-render the public post with the current counts (best effort: it is cosmetic)."""
    channel_id, ts = message_location(body)
    if not channel_id or not ts:
        return
    message = views.prompt_message(
        prompt_id=card.prompt_id,
        title=card.title,
        url=card.url,
        method=card.method,
        minutes=card.minutes,
        learners_due=card.learners_due,
        can_help=card.can_help,
        learning=card.learning,
    )
    try:
        client.chat_update(channel=channel_id, ts=ts, text=message.text, blocks=message.blocks)
    except SlackApiError as error:
        # A busy prompt can hit chat.update's rate limit; the click itself is noted.
        log.warning(
            "peer prompt %s counts not updated: %s", card.prompt_id, error.response.get("error")
        )
