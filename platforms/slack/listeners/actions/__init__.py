"""The nudge DM's buttons: Done (opens the Done modal), Snooze (a select), Open (a link).

Every listener acks first, then does its work. Domain refusals (someone else's item, a
required item due today) are told to the user privately; anything unexpected goes to the
app's error handler.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from learning.actions import my_assignment, org_timezone, snooze_assignment, unit_of_work
from learning.clock import local_date
from learning.errors import LearnbotError
from models import AssignmentStatus
from platforms.slack.identity import require_person
from platforms.slack.listeners.context import HandlerContext
from platforms.slack.listeners.digest_dm import update_digest_dm
from platforms.slack.listeners.replies import (
    MAX_ID,
    error_text,
    message_location,
    parse_id,
    refresh_home,
    tell,
)
from platforms.slack.render import ids
from platforms.slack.render.digest import short_day
from platforms.slack.render.modals import DoneModalMetadata, done_modal
from platforms.slack.render.mrkdwn import Mrkdwn, md

log = logging.getLogger(__name__)

BROKEN_BUTTON = Mrkdwn(
    "That button no longer works. Open the learnbot Home tab for your current items."
)
ALREADY_DONE = Mrkdwn("“{title}” is already marked done. Nothing more to do.")


def register(app: App, ctx: HandlerContext) -> None:
    """Add the digest buttons' listeners to ``app``."""

    @app.action(ids.DIGEST_DONE)
    def handle_done_clicked(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        ack()
        open_done_modal(ctx, client=client, body=body, action=action)

    @app.action(ids.DIGEST_SNOOZE)
    def handle_snooze_chosen(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        ack()
        snooze_chosen(ctx, client=client, body=body, action=action)

    @app.action(ids.DIGEST_OPEN)
    def handle_open_clicked(ack: Ack) -> None:
        # A URL button: Slack opens the link; the click still has to be acknowledged.
        ack()


def open_done_modal(
    ctx: HandlerContext, *, client: WebClient, body: dict[str, Any], action: dict[str, Any]
) -> None:
    """Check the item is the clicker's and open the Done modal for it."""
    user_id = body["user"]["id"]
    channel_id, ts = message_location(body)
    assignment_id = parse_id(action.get("value", ""))
    if assignment_id is None:
        tell(client, user_id=user_id, channel_id=channel_id, text=BROKEN_BUTTON)
        return
    try:
        with unit_of_work(ctx.database) as session:
            person = require_person(session, user_id)
            assignment, item = my_assignment(
                session,
                actor=person,
                assignment_id=assignment_id,
                clock=ctx.clock,
                attempted="done",
            )
            done = assignment.status == AssignmentStatus.COMPLETED
            title, method, url = item.title, item.method, item.url
    except LearnbotError as error:
        tell(client, user_id=user_id, channel_id=channel_id, text=error_text(error))
        return
    if done:
        # An old DM (or a second device) still shows the buttons: catch the DM up.
        update_digest_dm(client, ctx, person=person, channel_id=channel_id, ts=ts)
        tell(client, user_id=user_id, channel_id=channel_id, text=ALREADY_DONE.format(title=title))
        return
    client.views_open(
        trigger_id=body["trigger_id"],
        view=done_modal(
            title=title,
            method=method,
            url=url,
            assessment=method == "assessment",
            metadata=DoneModalMetadata(assignment_id, channel_id, ts),
        ),
    )


def snooze_chosen(
    ctx: HandlerContext, *, client: WebClient, body: dict[str, Any], action: dict[str, Any]
) -> None:
    """Snooze the chosen item and show it snoozed in the DM, or say why it cannot be."""
    user_id = body["user"]["id"]
    channel_id, ts = message_location(body)
    try:
        value = str((action.get("selected_option") or {}).get("value", ""))
        assignment_id, choice = ids.parse_snooze_value(value)
        if not 0 < assignment_id <= MAX_ID:
            raise ValueError(f"not an assignment id: {assignment_id}")
    except ValueError:
        tell(client, user_id=user_id, channel_id=channel_id, text=BROKEN_BUTTON)
        return
    try:
        with unit_of_work(ctx.database) as session:
            person = require_person(session, user_id)
            zone = person.timezone or org_timezone(session)
            until = snooze_assignment(
                session,
                actor=person,
                assignment_id=assignment_id,
                days=ids.SNOOZE_DAYS[choice],
                clock=ctx.clock,
                default_zone=zone,
            )
    except LearnbotError as error:
        tell(client, user_id=user_id, channel_id=channel_id, text=error_text(error))
        return
    if not update_digest_dm(client, ctx, person=person, channel_id=channel_id, ts=ts):
        today = local_date(ctx.clock.now(), zone)
        back = short_day(local_date(until, zone), today)
        tell(
            client,
            user_id=user_id,
            channel_id=channel_id,
            text=md("Snoozed until {back}.", back=back),
        )
    refresh_home(client, ctx, person)
