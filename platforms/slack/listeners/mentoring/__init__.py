""" "Find a mentor" on a digest item (``DIGEST_FIND_MENTOR``, value: the assignment id).

The click is acked at once; ``learning.mentoring.find_mentor`` then runs in a unit of
work (a refusal on someone else's item keeps its audit entry) and the clicker is
answered privately through ``respond``, next to the digest (``replace_original`` False,
so the digest keeps its buttons). The pairing itself is announced in a group DM by the
outbox sender.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from sqlmodel import Session

from learning import mentoring
from learning.curriculum import ProgramSettings
from learning.errors import LearnbotError
from learning.paths import current_settings
from platforms.slack.identity import require_person
from platforms.slack.listeners.context import HandlerContext
from platforms.slack.listeners.events import workspace_of
from platforms.slack.listeners.plumbing import Refused, in_unit
from platforms.slack.listeners.replies import message_location, parse_id, tell, user_message
from platforms.slack.render import ids
from platforms.slack.render import mentoring as text
from platforms.slack.render.rendered import RenderedMessage

log = logging.getLogger(__name__)

BROKEN_BUTTON = "That button no longer works. Open the learnbot Home tab for your current items."


def register(app: App, ctx: HandlerContext) -> None:
    """Add the "Find a mentor" listener to ``app``."""

    @app.action(ids.DIGEST_FIND_MENTOR)
    def handle_find_mentor(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond, client: WebClient
    ) -> None:
        ack()
        answer = find_mentor_clicked(ctx, body=body, action=action)
        reply(respond, client, body, answer)


def find_mentor_clicked(
    ctx: HandlerContext, *, body: dict[str, Any], action: dict[str, Any]
) -> RenderedMessage:
    """Pair the clicker with a mentor for the clicked item; the private answer."""
    user_id = str((body.get("user") or {}).get("id") or "")
    assignment_id = parse_id(action.get("value", ""))
    if assignment_id is None:
        return text.refused_message(BROKEN_BUTTON)

    def work(session: Session) -> mentoring.MentorResult:
        learner = require_person(session, user_id, workspace_id=workspace_of(body))
        return mentoring.find_mentor(
            session,
            learner=learner,
            assignment_id=assignment_id,
            clock=ctx.clock,
            settings=current_settings(session) or ProgramSettings(),
        )

    refusal: list[LearnbotError] = []  # NotAllowed too: its refusal is audited and kept
    result = in_unit(ctx, work, refused=refusal.append)
    if isinstance(result, Refused):
        return text.refused_message(user_message(refusal[0]))
    if isinstance(result, mentoring.NoMentorFound):
        return text.no_mentor_message(
            item_title=result.item_title, community_channel=result.community_channel
        )
    return text.paired_message(
        mentor_name=result.mentor_name,
        mentor_slack_id=result.mentor_user_id,
        item_title=result.item_title,
        already=result.already,
    )


def reply(
    respond: Respond, client: WebClient, body: dict[str, Any], answer: RenderedMessage
) -> None:
    """Answer the clicker only: through ``respond`` beside the message clicked, else
    (no ``response_url``) privately by ``tell``."""
    if body.get("response_url"):
        respond(
            text=answer.text,
            blocks=answer.blocks,
            response_type="ephemeral",
            replace_original=False,
        )
        return
    channel_id, _ = message_location(body)
    user_id = str((body.get("user") or {}).get("id") or "")
    tell(client, user_id=user_id, channel_id=channel_id, text=answer.text)
