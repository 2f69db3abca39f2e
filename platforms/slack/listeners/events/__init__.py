"""Events API listeners: workspace members and the app's installation.

* Every ``event_callback`` passes ``dedupe_events`` first: its ``event_id`` is claimed in
  the database (insert-or-ignore), and a delivery whose id is already claimed (Slack's
  retries, header ``X-Slack-Retry-Num``) is acked with 200 and goes no further, so a
  retried event has one effect even when the first delivery is still being processed.
  Slack only retries deliveries that were not acked in time, so claiming before the
  work loses nothing: a delivery that was acked is never retried.
* ``team_join``: the new member becomes a person without a role, and each admin gets a
  DM (through the outbox, key ``team_join:{user}:{admin}``) with an "Assign a role"
  button; the button opens a modal whose submission sets the role and enrolls them.
* ``user_change``: name, time zone, deactivation and reactivation follow Slack.
* ``app_uninstalled`` / ``tokens_revoked``: sending to the workspace stops
  (``delivery.outbox.claim`` skips it) until an operator resumes it.

These listeners do a few small writes, well inside the 3-second ack budget.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltRequest, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlmodel import Session

from delivery import outbox
from delivery.outbox import NewMessage
from learning import members
from learning.actions import unit_of_work
from learning.errors import LearnbotError
from learning.outbox_kinds import MEMBER_NOTICE, facts
from models import DEFAULT_WORKSPACE
from models.tables import RecipientKind
from platforms.slack import identity as slack_identity
from platforms.slack.listeners import registry
from platforms.slack.listeners.context import HandlerContext
from platforms.slack.listeners.home import publish_home
from platforms.slack.listeners.plumbing import Click, Refused, button, in_unit
from platforms.slack.listeners.replies import parse_id
from platforms.slack.render.members import (
    ASSIGN_ROLE_ACTION,
    ASSIGN_ROLE_CALLBACK,
    ROLE_BLOCK,
    ROLE_INPUT,
    TEAM_BLOCK,
    TEAM_INPUT,
    render_assign_role_modal,
)
from platforms.slack.render.mrkdwn import Mrkdwn

log = logging.getLogger(__name__)

NUL_TEXT = "Remove the NUL character (\\0) from this text; it cannot be stored."
BROKEN_BUTTON = Mrkdwn(
    "That button no longer works; nothing was changed. Give them a role in the people file "
    "instead (python bot.py import-people)."
)


def _assign_role_id(action: dict[str, Any]) -> int | None:
    person_id = parse_id(action.get("value"))
    if person_id is None:
        log.warning("assign-role button with value %.100r", action.get("value"))
    return person_id


def workspace_of(body: dict[str, Any]) -> str:
    """The learnbot workspace a request comes from.

    learnbot is installed in one workspace (one bot token), whose people are stored
    under ``DEFAULT_WORKSPACE``; a multi-workspace install would map ``team_id`` here.
    """
    return DEFAULT_WORKSPACE


def join_notice_key(slack_user_id: str, admin_slack_user_id: str) -> str:
    """The outbox key of one admin's DM about one new member: sent once, whatever happens."""
    return f"team_join:{slack_user_id}:{admin_slack_user_id}"


def register(app: App, ctx: HandlerContext) -> None:
    """Add the de-duplication middleware and the membership and installation listeners."""

    def dedupe_events(
        body: dict[str, Any], request: BoltRequest, next: Callable[[], Any]
    ) -> BoltResponse | None:
        event_id = body.get("event_id")
        # Lazy listeners on FaaS hosts re-dispatch the same request: not a retry.
        if body.get("type") != "event_callback" or request.lazy_only or not event_id:
            return next()
        with ctx.database.session() as session:
            first = members.claim_event(
                session,
                event_id=str(event_id),
                workspace_id=workspace_of(body),
                now=ctx.clock.now(),
            )
        if first:
            return next()
        log.info(
            "event %s (%s) already handled; delivery with retry number %s ignored",
            event_id,
            (body.get("event") or {}).get("type"),
            request.headers.get("x-slack-retry-num", ["?"])[0],
        )
        return BoltResponse(status=200, body="")

    def on_team_join(event: dict[str, Any], body: dict[str, Any]) -> None:
        user = event.get("user")
        if not isinstance(user, dict):
            log.warning("team_join without a user object: ignored")
            return
        member = slack_identity.member_from_slack(user)
        workspace_id = workspace_of(body)
        now = ctx.clock.now()
        with ctx.database.session() as session:
            joined = members.add_member(
                session,
                member,
                clock=ctx.clock,
                admins=slack_identity.admin_list(ctx.settings.admins),
                workspace_id=workspace_id,
            )
            if joined is None or not joined.tell_admins:
                return
            if not joined.admins:
                log.warning(
                    "%s joined; no admin with a Slack id to tell (set LEARNBOT_ADMINS)",
                    member.user_id,
                )
                return
            notice = facts(
                MEMBER_NOTICE,
                slack_user_id=member.user_id,
                name=member.name,
                email=member.email,
                person_id=joined.person.id if joined.person is not None else None,
            )
            outbox.enqueue(
                session,
                [
                    NewMessage(
                        key=join_notice_key(member.user_id, admin.user_id),
                        kind=notice.kind,
                        recipient_kind=RecipientKind.PERSON,
                        recipient=admin.user_id,
                        payload=notice.values,
                        person_id=admin.person_id,
                        workspace_id=workspace_id,
                        not_before=now,
                    )
                    for admin in joined.admins
                ],
                now=now,
            )

    def on_user_change(event: dict[str, Any], body: dict[str, Any]) -> None:
        user = event.get("user")
        if not isinstance(user, dict):
            return
        with ctx.database.session() as session:
            change = members.update_member(
                session,
                slack_identity.member_from_slack(user),
                clock=ctx.clock,
                workspace_id=workspace_of(body),
            )
        if change is not None and change.changed:
            log.info("person %s changed in Slack: %s", change.person.id, sorted(change.changed))

    def on_app_uninstalled(body: dict[str, Any]) -> None:
        _stop(ctx, body, f"the app was uninstalled from Slack team {body.get('team_id')}")

    def on_tokens_revoked(event: dict[str, Any], body: dict[str, Any]) -> None:
        tokens = event.get("tokens")
        if isinstance(tokens, dict) and tokens.get("oauth") and not tokens.get("bot"):
            # Only user tokens went; learnbot posts with its bot token, which still works.
            log.info("user tokens revoked in %s; the bot token is unaffected", body.get("team_id"))
            return
        _stop(ctx, body, f"the bot token was revoked in Slack team {body.get('team_id')}")

    @button(broken=BROKEN_BUTTON, read=_assign_role_id)
    def open_assign_role(click: Click) -> None:
        body, person_id = click.body, click.subject

        def work(session: Session) -> members.RoleForm:
            return members.role_form(
                session,
                person_id=person_id,
                caller=slack_identity.caller(
                    session,
                    click.user_id,
                    admins=ctx.settings.admins,
                    workspace_id=workspace_of(body),
                ),
                clock=ctx.clock,
                workspace_id=workspace_of(body),
            )

        # NotAllowed too: its refusal is audited
        form = in_unit(ctx, work, refused=click.refused)
        if isinstance(form, Refused):
            return
        client = click.client
        view = render_assign_role_modal(
            person_id=person_id,
            name=form.name,
            roles=form.roles,
            role=form.role,
            team=form.team,
        )
        try:
            client.views_open(trigger_id=body["trigger_id"], view=view)
        except SlackApiError as error:
            log.warning("assign-role modal not opened: %s", error.response.get("error"))

    def submit_assign_role(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        slack_user_id = str((body.get("user") or {}).get("id") or "")
        values = (view.get("state") or {}).get("values") or {}
        chosen = ((values.get(ROLE_BLOCK) or {}).get(ROLE_INPUT) or {}).get("selected_option")
        role = str((chosen or {}).get("value") or "")
        team = ((values.get(TEAM_BLOCK) or {}).get(TEAM_INPUT) or {}).get("value")
        person_id = parse_id(view.get("private_metadata"))
        if person_id is None:
            ack(response_action="errors", errors={ROLE_BLOCK: "This form is out of date."})
            return
        # Slack never sends a NUL, and PostgreSQL can neither store nor look one up.
        for block, text in ((ROLE_BLOCK, role), (TEAM_BLOCK, team)):
            if isinstance(text, str) and "\x00" in text:
                ack(response_action="errors", errors={block: NUL_TEXT})
                return
        try:
            with unit_of_work(ctx.database) as session:
                person = members.assign_role_as_admin(
                    session,
                    person_id=person_id,
                    role=role,
                    team=team if isinstance(team, str) else None,
                    caller=slack_identity.caller(
                        session,
                        slack_user_id,
                        admins=ctx.settings.admins,
                        workspace_id=workspace_of(body),
                    ),
                    clock=ctx.clock,
                    workspace_id=workspace_of(body),
                )
        except LearnbotError as error:  # NotAllowed too: its refusal is audited
            ack(response_action="errors", errors={ROLE_BLOCK: str(error)[:150]})
            return
        ack()
        publish_home(client, ctx, person)  # nothing happens without a Slack account

    app.middleware(dedupe_events)
    app.event(registry.TEAM_JOIN)(on_team_join)
    app.event(registry.USER_CHANGE)(on_user_change)
    app.event(registry.APP_UNINSTALLED)(on_app_uninstalled)
    app.event(registry.TOKENS_REVOKED)(on_tokens_revoked)
    app.action(ASSIGN_ROLE_ACTION)(open_assign_role)
    app.view(ASSIGN_ROLE_CALLBACK)(submit_assign_role)


def _stop(ctx: HandlerContext, body: dict[str, Any], reason: str) -> None:
    event_type = (body.get("event") or {}).get("type", "event")
    with ctx.database.session() as session:
        stopped = members.stop_sending(
            session,
            workspace_id=workspace_of(body),
            reason=reason,
            clock=ctx.clock,
            actor=f"slack:{event_type}",
        )
    if stopped:
        log.warning(
            "sending stopped: %s; after reinstalling, run: python bot.py workspace resume %s",
            reason,
            workspace_of(body),
        )
