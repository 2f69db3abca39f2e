"""The nudge DM's buttons: Done (opens the Done modal), Snooze (a select), Open (a link).

``plumbing.button`` acks first and reads the button; the work runs in ``in_unit``.
Domain refusals (someone else's item, a required item due today) are told to the user
privately; anything unexpected goes to the app's error handler.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from slack_bolt import Ack, App
from sqlmodel import Session

from learning.actions import my_assignment, org_timezone, snooze_assignment
from learning.clock import local_date
from models import AssignmentStatus, Person
from platforms.slack.identity import require_person
from platforms.slack.listeners.context import HandlerContext
from platforms.slack.listeners.digest_dm import update_digest_dm
from platforms.slack.listeners.plumbing import Click, Refused, button, in_unit
from platforms.slack.listeners.replies import MAX_ID, refresh_home
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
    @button(broken=BROKEN_BUTTON)
    def handle_done_clicked(click: Click) -> None:
        open_done_modal(ctx, click)

    @app.action(ids.DIGEST_SNOOZE)
    @button(broken=BROKEN_BUTTON, read=_snooze_choice)
    def handle_snooze_chosen(click: Click) -> None:
        snooze_chosen(ctx, click)

    @app.action(ids.DIGEST_OPEN)
    def handle_open_clicked(ack: Ack) -> None:
        # A URL button: Slack opens the link; the click still has to be acknowledged.
        ack()


def _snooze_choice(action: dict[str, Any]) -> tuple[int, str] | None:
    """(assignment id, choice) of the snooze select; None when it names nothing."""
    value = str((action.get("selected_option") or {}).get("value", ""))
    assignment_id, choice = ids.parse_snooze_value(value)  # ValueError: broken
    return (assignment_id, choice) if 0 < assignment_id <= MAX_ID else None


def open_done_modal(ctx: HandlerContext, click: Click) -> None:
    """Check the item is the clicker's and open the Done modal for it."""
    assignment_id: int = click.subject

    def work(session: Session) -> tuple[Person, bool, str, str, str | None]:
        person = require_person(session, click.user_id)
        assignment, item = my_assignment(
            session, actor=person, assignment_id=assignment_id, clock=ctx.clock, attempted="done"
        )
        done = assignment.status == AssignmentStatus.COMPLETED
        return person, done, item.title, item.method, item.url

    found = in_unit(ctx, work, refused=click.refused)
    if isinstance(found, Refused):
        return
    person, done, title, method, url = found
    if done:
        # An old DM (or a second device) still shows the buttons: catch the DM up.
        update_digest_dm(click.client, ctx, person=person, channel_id=click.channel_id, ts=click.ts)
        click.tell(ALREADY_DONE.format(title=title))
        return
    click.client.views_open(
        trigger_id=click.body["trigger_id"],
        view=done_modal(
            title=title,
            method=method,
            url=url,
            assessment=method == "assessment",
            metadata=DoneModalMetadata(assignment_id, click.channel_id, click.ts),
        ),
    )


def snooze_chosen(ctx: HandlerContext, click: Click) -> None:
    """Snooze the chosen item and show it snoozed in the DM, or say why it cannot be."""
    assignment_id, choice = click.subject

    def work(session: Session) -> tuple[Person, str, datetime]:
        person = require_person(session, click.user_id)
        zone = person.timezone or org_timezone(session)
        until = snooze_assignment(
            session,
            actor=person,
            assignment_id=assignment_id,
            days=ids.SNOOZE_DAYS[choice],
            clock=ctx.clock,
            default_zone=zone,
        )
        return person, zone, until

    snoozed = in_unit(ctx, work, refused=click.refused)
    if isinstance(snoozed, Refused):
        return
    person, zone, until = snoozed
    if not update_digest_dm(
        click.client, ctx, person=person, channel_id=click.channel_id, ts=click.ts
    ):
        today = local_date(ctx.clock.now(), zone)
        back = short_day(local_date(until, zone), today)
        click.tell(md("Snoozed until {back}.", back=back))
    refresh_home(click.client, ctx, person)
