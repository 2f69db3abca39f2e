"""Messages about Slack members: the admins' "someone joined" DM and the assign-role modal.

The ``action_id`` / ``callback_id`` / ``block_id`` values below are matched by
``handlers.events``; Slack keeps old DMs with their buttons, so never change one that
has shipped.
"""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    InputBlock,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from learning.members import RoleChoice
from platforms.slack.render.mrkdwn import Mrkdwn, is_user_id, md, mention
from platforms.slack.render.rendered import RenderedMessage, check_view, context, section, truncate

ASSIGN_ROLE_ACTION = "member_assign_role"  # button value: the person id
ASSIGN_ROLE_CALLBACK = "member_assign_role_modal"  # modal private_metadata: the person id
ROLE_BLOCK = "role"
ROLE_INPUT = "role_select"
TEAM_BLOCK = "team"
TEAM_INPUT = "team_text"

MAX_ROLE_OPTIONS = 100  # Slack's limit for a static select
NAME_MAX = 80
OPTION_TEXT_MAX = 75
TEAM_MAX = 100


def render_join_notice(
    *, slack_user_id: str, name: str, email: str | None, person_id: int | None
) -> RenderedMessage:
    """The DM to each admin when someone joins the workspace.

    With ``person_id`` (learnbot added them) it carries an "Assign a role" button; without
    one (Slack shared no email) it says how to add them by hand.
    """
    details = ", ".join(
        truncate(" ".join(part.split()), NAME_MAX) for part in (name, email or "") if part
    )
    who: Mrkdwn = mention(slack_user_id) if is_user_id(slack_user_id) else md("someone new")
    if details:
        who = md("{who} ({details})", who=who, details=details)
    if person_id is None:
        text = md(
            "{who} joined Slack, but Slack did not share their email, so learnbot could "
            "not add them. Add them to the people file with their Slack user id.",
            who=who,
        )
        return RenderedMessage(text=text, blocks=[section(text).to_dict()])
    text = md(
        "{who} joined Slack. learnbot added them without a role, so they have no "
        "learning path yet: assign one.",
        who=who,
    )
    blocks: list[Block] = [
        section(text),
        ActionsBlock(
            block_id=f"join:{person_id}",
            elements=[
                ButtonElement(
                    text="Assign a role",
                    action_id=ASSIGN_ROLE_ACTION,
                    value=str(person_id),
                    style="primary",
                )
            ],
        ),
        context(md("Or give them a role in the people file and import it.")),
    ]
    return RenderedMessage(text=text, blocks=[block.to_dict() for block in blocks])


def render_assign_role_modal(
    *, person_id: int, name: str, roles: Sequence[RoleChoice], role: str = "", team: str = ""
) -> View:
    """The modal an admin picks a role (and optionally a team) in.

    Args:
        person_id: Travels in ``private_metadata``; the submission is checked again.
        name: Who is being given a role.
        roles: The roles with a program (the first 100 are offered).
        role: The current role, preselected if it is offered.
        team: The current team, prefilled.
    """
    who = truncate(" ".join(name.split()) or "this person", NAME_MAX)
    if not roles:
        return _checked(
            View(
                type="modal",
                callback_id=ASSIGN_ROLE_CALLBACK,
                private_metadata=str(person_id),
                title=PlainTextObject(text="Assign a role"),
                close=PlainTextObject(text="Close"),
                blocks=[
                    section(
                        md(
                            "No programs are loaded yet, so there is no role to give. "
                            "Load the programs file first: `python bot.py load-config FILE`."
                        )
                    )
                ],
            )
        )
    options = [
        Option(
            value=choice.role, label=truncate(f"{choice.title} ({choice.role})", OPTION_TEXT_MAX)
        )
        for choice in roles[:MAX_ROLE_OPTIONS]
    ]
    initial = next((o for o in options if o.value == role), None)
    view = View(
        type="modal",
        callback_id=ASSIGN_ROLE_CALLBACK,
        private_metadata=str(person_id),
        title=PlainTextObject(text="Assign a role"),
        submit=PlainTextObject(text="Assign"),
        close=PlainTextObject(text="Cancel"),
        blocks=[
            section(md("Give *{who}* a role: their learning path starts at once.", who=who)),
            InputBlock(
                block_id=ROLE_BLOCK,
                label="Role",
                element=StaticSelectElement(
                    action_id=ROLE_INPUT,
                    placeholder="Pick a role",
                    options=options,
                    initial_option=initial,
                ),
            ),
            InputBlock(
                block_id=TEAM_BLOCK,
                label="Team",
                optional=True,
                element=PlainTextInputElement(
                    action_id=TEAM_INPUT,
                    initial_value=team[:TEAM_MAX] or None,
                    max_length=TEAM_MAX,
                ),
            ),
        ],
    )
    return _checked(view)


def _checked(view: View) -> View:
    check_view(view)
    return view
