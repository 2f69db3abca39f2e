"""App Home: a person's dashboard, published when they open the tab and after changes.

``app_home_opened`` is a *lazy* listener: its ack function returns at once and the
rebuild (a few grouped queries; more for the manager of a large org or an admin) runs
after the ack in Bolt's lazy-listener executor. A plain event listener would also run
after the ack when ``process_before_response`` is False, but with it True (FaaS hosts,
and the tests) Bolt runs plain listeners before answering Slack; lazy ones never delay
the answer in either mode.

Other listeners call ``publish_home`` after they change someone's progress.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from learning.home import HomePage, home_for
from models import DEFAULT_WORKSPACE, Person
from platforms.slack import identity as slack_identity
from platforms.slack.listeners import registry
from platforms.slack.listeners.context import HandlerContext
from platforms.slack.render.home import render_home, render_welcome

log = logging.getLogger(__name__)


def register(app: App, ctx: HandlerContext) -> None:
    """Publish the App Home whenever someone opens its tab."""

    def ack_home_opened(ack: Ack) -> None:
        ack()

    def publish_on_open(event: dict[str, Any], client: WebClient) -> None:
        user_id = event.get("user")
        if event.get("tab") != "home" or not isinstance(user_id, str) or not user_id:
            return  # the Messages tab, or no user: nothing to publish
        publish_home(client, ctx, user_id)

    app.event(registry.APP_HOME_OPENED)(ack=ack_home_opened, lazy=[publish_on_open])


def publish_home(
    client: WebClient,
    ctx: HandlerContext,
    slack_user_id: str | Person,
    *,
    workspace_id: str = DEFAULT_WORKSPACE,
) -> bool:
    """Build a Slack user's App Home from the database and publish it.

    People learnbot does not know get a welcome view. Safe to call after any change: a
    refused publish is logged and reported as False, never raised, so it cannot undo the
    caller's work.

    Args:
        client: The request's Web API client.
        ctx: The handlers' database, clock and settings.
        slack_user_id: Whose Home tab to publish: a Slack user id, or a ``Person`` (its
            Slack id and workspace are used; nothing happens without a Slack id).
        workspace_id: The learnbot workspace of a Slack user id.

    Returns:
        Whether Slack accepted the view.
    """
    with ctx.database.session() as session:
        if isinstance(slack_user_id, Person):
            workspace_id = slack_user_id.workspace_id
            found = slack_identity.slack_id_of(session, slack_user_id.id)
            if not found:
                return False
            slack_user_id = found
        caller = slack_identity.caller(
            session, slack_user_id, admins=ctx.settings.admins, workspace_id=workspace_id
        )
        facts = home_for(session, caller=caller, clock=ctx.clock, workspace_id=workspace_id)
    view = render_home(facts) if isinstance(facts, HomePage) else render_welcome(facts)
    try:
        client.views_publish(user_id=slack_user_id, view=view)
    except SlackApiError as error:
        log.warning("App Home for %s not published: %s", slack_user_id, error.response.get("error"))
        return False
    return True
