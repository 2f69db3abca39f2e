"""The escalation ladder's buttons and modals.

Managers, on an escalation DM (value: the assignment id):

* ``ESCALATION_REMIND``: DM the learner that their manager asked (once a day per manager).
* ``ESCALATION_EXTEND``: a modal (new due date, reason) that moves the due date.
* ``ESCALATION_EXCUSE``: a modal (reason) that waives the item.

Learners, on an overdue required item of their digest (value: the assignment id):

* ``DIGEST_REQUEST_EXTENSION``: a modal (proposed date, reason) that sends a request to
  their manager, or to the admins; the request's card has ``EXTENSION_APPROVE`` /
  ``EXTENSION_DECLINE`` (value: the request id), and is updated in place once decided.

Block actions ack first. Modal submissions check the form (and the date against the
learner's calendar, read-only) before the ack, so mistakes are answered in the modal
(``response_action=errors``); the change itself is made after the ack. The domain work
is in ``learning.extensions``; refusals are told privately and audited.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlmodel import Session

from learning import extensions
from learning.actions import InvalidInput
from learning.errors import LearnbotError
from platforms.slack.identity import admin_list, known_caller, require_person
from platforms.slack.listeners.context import HandlerContext
from platforms.slack.listeners.events import workspace_of
from platforms.slack.listeners.plumbing import Click, Refused, button, in_unit
from platforms.slack.listeners.replies import error_text, message_location, parse_id, tell
from platforms.slack.render import extensions as views
from platforms.slack.render import ids
from platforms.slack.render.mrkdwn import Mrkdwn, md

log = logging.getLogger(__name__)

BROKEN_BUTTON = Mrkdwn(
    "That button no longer works. Open the learnbot Home tab for your current items."
)
BROKEN_FORM = "That form is out of date; nothing was changed. Please click the button again."
NUL_TEXT = "Remove the NUL character (\\0) from this text; it cannot be stored."


def register(app: App, ctx: HandlerContext) -> None:
    """Add the escalation and extension listeners to ``app``."""

    @app.action(ids.ESCALATION_REMIND)
    @button(broken=BROKEN_BUTTON)
    def handle_remind(click: Click) -> None:
        remind_clicked(ctx, click)

    @app.action(ids.ESCALATION_EXTEND)
    @button(broken=BROKEN_BUTTON)
    def handle_extend(click: Click) -> None:
        open_manager_modal(ctx, click, excuse=False)

    @app.action(ids.ESCALATION_EXCUSE)
    @button(broken=BROKEN_BUTTON)
    def handle_excuse(click: Click) -> None:
        open_manager_modal(ctx, click, excuse=True)

    @app.view(ids.EXTEND_MODAL)
    def handle_extend_submitted(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        submit_extend(ctx, ack=ack, body=body, view=view, client=client)

    @app.view(ids.EXCUSE_MODAL)
    def handle_excuse_submitted(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        submit_excuse(ctx, ack=ack, body=body, view=view, client=client)

    @app.action(ids.DIGEST_REQUEST_EXTENSION)
    @button(broken=BROKEN_BUTTON)
    def handle_request_clicked(click: Click) -> None:
        open_request_modal(ctx, click)

    @app.view(ids.EXTENSION_REQUEST_MODAL)
    def handle_request_submitted(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        submit_request(ctx, ack=ack, body=body, view=view, client=client)

    @app.action(ids.EXTENSION_APPROVE)
    @button(broken=BROKEN_BUTTON)
    def handle_approve(click: Click) -> None:
        decide_clicked(ctx, click, approve=True)

    @app.action(ids.EXTENSION_DECLINE)
    @button(broken=BROKEN_BUTTON)
    def handle_decline(click: Click) -> None:
        decide_clicked(ctx, click, approve=False)


# --- helpers -----------------------------------------------------------------------------


def _user(body: dict[str, Any]) -> str:
    return str((body.get("user") or {}).get("id") or "")


def _clicker(ctx: HandlerContext, session: Session, body: dict[str, Any]) -> extensions.Clicker:
    return known_caller(
        session, _user(body), admins=ctx.settings.admins, workspace_id=workspace_of(body)
    )


def _open_view(client: WebClient, body: dict[str, Any], view: dict[str, Any]) -> None:
    try:
        client.views_open(trigger_id=body["trigger_id"], view=view)
    except SlackApiError as error:
        # An expired trigger (the click took over 3 seconds to reach us): ask to retry.
        log.warning("modal %s not opened: %s", view.get("callback_id"), error.response.get("error"))
        channel_id, _ = message_location(body)
        tell(
            client,
            user_id=_user(body),
            channel_id=channel_id,
            text=md("Slack did not let me open the form in time. Please click the button again."),
        )


def _form_errors(form: views.DateReasonForm, *, with_date: bool) -> dict[str, str]:
    """Mistakes visible without the database, by block id."""
    errors: dict[str, str] = {}
    if with_date and form.due is None:
        errors[views.DUE_BLOCK] = (
            "Pick a date." if not form.due_text else "That is not a date; pick one."
        )
    try:
        extensions.check_reason(form.reason)
    except InvalidInput as error:
        errors[views.REASON_BLOCK] = str(error)
    if "\x00" in form.reason:  # Slack never sends one; PostgreSQL cannot store it
        errors[views.REASON_BLOCK] = NUL_TEXT
    return errors


def _date_errors(
    ctx: HandlerContext, form: views.DateReasonForm, assignment_id: int, *, request: bool
) -> dict[str, str]:
    """The date checked against the learner's calendar (read-only)."""
    with ctx.database.session(dry_run=True) as session:
        problem = extensions.new_due_problem(
            session, assignment_id=assignment_id, new_due=form.due, clock=ctx.clock, request=request
        )
    return {views.DUE_BLOCK: problem} if problem else {}


def _submitted(
    ack: Ack, view: dict[str, Any]
) -> tuple[views.ModalMetadata, views.DateReasonForm] | None:
    """The modal's metadata and answers; None (after acking) when the metadata is broken."""
    try:
        metadata: views.ModalMetadata | None = views.ModalMetadata.load(
            view.get("private_metadata") or ""
        )
    except (ValueError, OverflowError):  # not what learnbot wrote (int(inf) overflows)
        metadata = None
    if metadata is None or parse_id(metadata.subject_id) is None:
        log.warning("escalation modal with broken metadata: %.100r", view.get("private_metadata"))
        ack(response_action="errors", errors={views.REASON_BLOCK: BROKEN_FORM})
        return None
    return metadata, views.read_form(((view.get("state") or {}).get("values")) or {})


def _run(
    ctx: HandlerContext,
    client: WebClient,
    *,
    user_id: str,
    channel_id: str,
    work: Callable[[Session], Mrkdwn],
) -> None:
    """Run ``work`` in a unit of work and tell the user its answer, or why it failed
    (``NotAllowed`` too: its refusal is audited and kept)."""

    def told(text: Mrkdwn) -> None:
        tell(client, user_id=user_id, channel_id=channel_id, text=text)

    answer = in_unit(ctx, work, refused=lambda error: told(error_text(error)))
    if not isinstance(answer, Refused):
        told(answer)


# --- managers ----------------------------------------------------------------------------


def remind_clicked(ctx: HandlerContext, click: Click) -> None:
    """DM the learner a reminder from the clicker, once a day, and confirm privately."""

    def work(session: Session) -> Mrkdwn:
        result = extensions.remind(
            session,
            clicker=_clicker(ctx, session, click.body),
            assignment_id=click.subject,
            clock=ctx.clock,
        )
        if not result.reachable:
            return views.unreachable_text(result.learner_name)
        return views.reminded_text(result.learner_name, sent=result.sent)

    _run(ctx, click.client, user_id=click.user_id, channel_id=click.channel_id, work=work)


def open_manager_modal(ctx: HandlerContext, click: Click, *, excuse: bool) -> None:
    """Check the clicker may act on the item, then open the Extend or Excuse modal."""
    assignment_id: int = click.subject

    def work(session: Session) -> tuple[str, str, date | None, date]:
        target = extensions.escalation_target(
            session,
            clicker=_clicker(ctx, session, click.body),
            assignment_id=assignment_id,
            clock=ctx.clock,
            attempted="escalation.excuse" if excuse else "escalation.extend",
        )
        return target.learner_name, target.item_title, target.assignment.due_date, target.today

    found = in_unit(ctx, work, refused=click.refused)
    if isinstance(found, Refused):
        return
    learner_name, item_title, due, today = found
    client, body = click.client, click.body
    metadata = views.ModalMetadata(assignment_id, click.channel_id, click.ts)
    if excuse:
        view = views.excuse_modal(
            learner_name=learner_name,
            item_title=item_title,
            due=due,
            today=today,
            metadata=metadata,
        )
    else:
        view = views.extend_modal(
            learner_name=learner_name,
            item_title=item_title,
            due=due or today,
            today=today,
            metadata=metadata,
        )
    _open_view(client, body, view)


def submit_extend(
    ctx: HandlerContext, *, ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
) -> None:
    """Check the new date and reason (errors in the modal), then move the due date."""
    submitted = _submitted(ack, view)
    if submitted is None:
        return
    metadata, form = submitted
    errors = _form_errors(form, with_date=True)
    if not errors:
        errors = _date_errors(ctx, form, metadata.subject_id, request=False)
    if errors:
        ack(response_action="errors", errors=errors)
        return
    ack()

    def work(session: Session) -> Mrkdwn:
        result = extensions.extend(
            session,
            clicker=_clicker(ctx, session, body),
            assignment_id=metadata.subject_id,
            new_due=form.due,
            reason=form.reason,
            clock=ctx.clock,
        )
        return views.extended_confirmation(
            result.learner_name, result.item_title, result.due, result.today
        )

    _run(ctx, client, user_id=_user(body), channel_id=metadata.channel_id, work=work)


def submit_excuse(
    ctx: HandlerContext, *, ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
) -> None:
    """Check the reason (errors in the modal), then waive the item."""
    submitted = _submitted(ack, view)
    if submitted is None:
        return
    metadata, form = submitted
    errors = _form_errors(form, with_date=False)
    if errors:
        ack(response_action="errors", errors=errors)
        return
    ack()

    def work(session: Session) -> Mrkdwn:
        result = extensions.excuse(
            session,
            clicker=_clicker(ctx, session, body),
            assignment_id=metadata.subject_id,
            reason=form.reason,
            clock=ctx.clock,
        )
        return views.excused_confirmation(result.learner_name, result.item_title)

    _run(ctx, client, user_id=_user(body), channel_id=metadata.channel_id, work=work)


# --- learners ------------------------------------------------------------------------------


def open_request_modal(ctx: HandlerContext, click: Click) -> None:
    """Check the item is the clicker's, open, required and not already asked about; then
    open the request modal."""
    assignment_id: int = click.subject

    def work(session: Session) -> extensions.RequestForm:
        learner = require_person(session, click.user_id, workspace_id=workspace_of(click.body))
        return extensions.request_form(
            session, learner=learner, assignment_id=assignment_id, clock=ctx.clock
        )

    form = in_unit(ctx, work, refused=click.refused)
    if isinstance(form, Refused):
        return
    channel_id, ts = click.channel_id, click.ts
    _open_view(
        click.client,
        click.body,
        views.extension_request_modal(
            item_title=form.item_title,
            due=form.due,
            today=form.today,
            approver_name=form.approver_name,
            metadata=views.ModalMetadata(assignment_id, channel_id, ts),
        ),
    )


def submit_request(
    ctx: HandlerContext, *, ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
) -> None:
    """Check the proposed date and reason (errors in the modal), then send the request."""
    submitted = _submitted(ack, view)
    if submitted is None:
        return
    metadata, form = submitted
    errors = _form_errors(form, with_date=True)
    if not errors:
        errors = _date_errors(ctx, form, metadata.subject_id, request=True)
    if errors:
        ack(response_action="errors", errors=errors)
        return
    ack()
    user_id = _user(body)

    def work(session: Session) -> Mrkdwn:
        learner = require_person(session, user_id, workspace_id=workspace_of(body))
        result = extensions.request_extension(
            session,
            learner=learner,
            assignment_id=metadata.subject_id,
            proposed=form.due,
            reason=form.reason,
            clock=ctx.clock,
            admins=admin_list(ctx.settings.admins),
        )
        return views.requested_confirmation(
            item_title=result.item_title,
            proposed=result.proposed,
            today=result.today,
            approver_name=result.approver_name,
            delivered=result.delivered,
        )

    _run(ctx, client, user_id=user_id, channel_id=metadata.channel_id, work=work)


# --- approvers -----------------------------------------------------------------------------


def decide_clicked(ctx: HandlerContext, click: Click, *, approve: bool) -> None:
    """Approve or decline a request; show the decision on the card in place."""
    client, channel_id, ts = click.client, click.channel_id, click.ts

    def refused(error: LearnbotError) -> None:
        if isinstance(error, extensions.AlreadyDecided):
            _show_card(client, channel_id, ts, error.card)  # an old copy catches up
        click.refused(error)

    def work(session: Session) -> extensions.Decided:
        return extensions.decide(
            session,
            clicker=_clicker(ctx, session, click.body),
            request_id=click.subject,
            approve=approve,
            clock=ctx.clock,
        )

    decided = in_unit(ctx, work, refused=refused)
    if isinstance(decided, Refused):
        return
    if not _show_card(client, channel_id, ts, decided.card):
        click.tell(
            md(
                "{decision}. {learner} has been told.",
                decision=views.decision_line(decided.card),
                learner=decided.learner_name,
            ),
        )


def _show_card(client: WebClient, channel_id: str, ts: str, card: views.RequestCard) -> bool:
    """Replace the request's message with its current state; False if it could not be."""
    if not channel_id or not ts:
        return False
    message = views.request_card(card)
    try:
        client.chat_update(channel=channel_id, ts=ts, text=message.text, blocks=message.blocks)
    except SlackApiError as error:
        log.warning(
            "extension card %s not updated: %s", card.request_id, error.response.get("error")
        )
        return False
    return True
