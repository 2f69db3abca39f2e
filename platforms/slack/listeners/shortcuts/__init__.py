"""Shortcuts: "Give kudos" on a message (``registry.GIVE_KUDOS_SHORTCUT``).

The shortcut acks, then opens the kudos modal with the message's author preselected
(nobody when a bot or app wrote it, or when it is the clicker's own message); someone
learnbot does not know gets a modal that says so instead of the form. The submission
gives the kudos before it answers, in one unit of work, exactly as ``/learn kudos`` does
(same rules, same daily quota, same outbox messages), so a refusal goes back into the
modal as a field error (``response_action: errors``) with nothing sent, and success
turns the modal into a confirmation (``response_action: update``).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from learning import identity, kudos
from learning.actions import unit_of_work
from learning.curriculum import ProgramSettings
from learning.errors import LearnbotError, NotFound
from learning.paths import current_settings
from platforms.slack import identity as slack_identity
from platforms.slack.listeners import registry
from platforms.slack.listeners.context import HandlerContext
from platforms.slack.listeners.events import workspace_of
from platforms.slack.listeners.replies import user_message
from platforms.slack.render import ids
from platforms.slack.render import kudos as views
from platforms.slack.render.mrkdwn import Mrkdwn

log = logging.getLogger(__name__)

TRIGGER_EXPIRED = Mrkdwn(
    "Slack did not let me open the kudos form in time. Please try the shortcut again."
)


def register(app: App, ctx: HandlerContext) -> None:
    """Add the "Give kudos" message shortcut and its modal's submission to ``app``."""

    @app.message_shortcut(registry.GIVE_KUDOS_SHORTCUT)
    def handle_give_kudos(
        ack: Ack, shortcut: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        ack()
        open_kudos_modal(ctx, client=client, shortcut=shortcut, respond=respond)

    @app.view(ids.KUDOS_MODAL)
    def handle_kudos_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        submit_kudos(ctx, ack=ack, body=body, view=view)


def _user(body: dict[str, Any]) -> str:
    return str((body.get("user") or {}).get("id") or "")


def message_author(message: dict[str, Any], *, clicker_id: str) -> str | None:
    """The Slack user who wrote ``message``: None for a bot's or an app's message, a
    message without a user, and the clicker's own message (kudos are for others)."""
    if message.get("bot_id") or message.get("subtype") == "bot_message":
        return None
    author = str(message.get("user") or "")
    if not author or author == clicker_id:
        return None
    return author


def open_kudos_modal(
    ctx: HandlerContext, *, client: WebClient, shortcut: dict[str, Any], respond: Respond
) -> None:
    """Open the kudos form on the shortcut's message, or say the clicker is unknown."""
    user_id = _user(shortcut)
    message = shortcut.get("message") or {}
    channel_id = str((shortcut.get("channel") or {}).get("id") or "")
    workspace_id = workspace_of(shortcut)
    with ctx.database.session(dry_run=True) as session:
        giver = slack_identity.person_by_slack_id(session, user_id, workspace_id=workspace_id)
        known = giver is not None and giver.active
        settings = current_settings(session) or ProgramSettings()

        def name_of(slack_user_id: str) -> str | None:
            person = slack_identity.person_by_slack_id(
                session, slack_user_id, workspace_id=workspace_id
            )
            return person.name if person is not None else None

        if not known:
            view = views.kudos_unknown_giver_view(identity.UNKNOWN_PERSON)
        else:
            view = views.give_kudos_modal(
                author_slack_id=message_author(message, clicker_id=user_id),
                channel_id=channel_id,
                message_text=str(message.get("text") or ""),
                recognition_channel=settings.channels.recognition,
                metadata=views.KudosModalMetadata(
                    channel_id=channel_id,
                    message_ts=str(message.get("ts") or shortcut.get("message_ts") or ""),
                ),
                name_of=name_of,
            )
    try:
        client.views_open(trigger_id=shortcut["trigger_id"], view=view)
    except SlackApiError as error:
        # The trigger expires 3 seconds after the click; the response_url outlives it.
        log.warning("kudos modal not opened: %s", error.response.get("error"))
        respond(text=TRIGGER_EXPIRED, response_type="ephemeral", replace_original=False)


def _refused_block(form: views.KudosForm) -> str:
    """The field a refusal belongs to. ``give_kudos`` checks the reason first, so with a
    usable reason the refusal is about whom (unknown, self) or how many (the quota)."""
    if not form.reason or len(form.reason) > kudos.REASON_MAX:
        return ids.KUDOS_REASON_BLOCK
    return ids.KUDOS_RECIPIENT_BLOCK


def submit_kudos(
    ctx: HandlerContext, *, ack: Ack, body: dict[str, Any], view: dict[str, Any]
) -> None:
    """Give the kudos, then answer in the modal: a field error, or the confirmation."""
    user_id = _user(body)
    form = views.read_kudos_form(((view.get("state") or {}).get("values")) or {})
    try:
        metadata = views.KudosModalMetadata.load(view.get("private_metadata") or "")
    except ValueError:
        # Only the log uses it; the kudos themselves do not depend on where they came from.
        metadata = views.KudosModalMetadata()
    try:
        with unit_of_work(ctx.database) as session:
            giver = slack_identity.require_person(session, user_id, workspace_id=workspace_of(body))
            if not giver.active:
                raise NotFound(identity.UNKNOWN_PERSON)
            given = kudos.give_kudos(
                session,
                giver=giver,
                recipient=slack_identity.person_by_slack_id(
                    session, form.recipient_slack_id, workspace_id=giver.workspace_id
                ),
                reason=form.reason,
                clock=ctx.clock,
                settings=current_settings(session) or ProgramSettings(),
            )
            recipient_slack_id = slack_identity.slack_id_of(session, given.recipient.id)
    except kudos.KudosRefused as refused:
        ack(response_action="errors", errors={_refused_block(form): user_message(refused)})
        return
    except LearnbotError as error:  # the giver is unknown (or has left) by now
        ack(response_action="errors", errors={ids.KUDOS_RECIPIENT_BLOCK: user_message(error)})
        return
    log.info(
        "kudos %s given by shortcut on message %s in %s",
        given.kudos_id,
        metadata.message_ts,
        metadata.channel_id,
    )
    ack(
        response_action="update",
        view=views.kudos_sent_view(
            recipient_name=given.recipient.name,
            recipient_slack_id=recipient_slack_id,
            channel=given.channel,
            left_today=given.left_today,
        ),
    )
