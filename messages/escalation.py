"""The escalation DM: a manager's (or skip-level's, or the admins') bundled overdue list.

Sent privately, never to a public channel (the admins' channel is the admins' own).
Per learner a section, per item a line and three buttons (Remind them, Extend due date,
Excuse), whose value is the assignment id (messages.ids). Long lists are cut to fit
Slack's 50-block message limit, with a pointer to ``/learn team`` for the rest.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from messages import ids
from messages.digest import short_day
from messages.rendered import RenderedMessage, escape_mrkdwn, truncate

MAX_ITEMS = 14  # each item is 2 blocks; with the header and learners' lines: < 50
TITLE_MAX = 150
NAME_MAX = 80


def render_escalation(payload: dict[str, Any], *, home_url: str | None = None) -> RenderedMessage:
    """Render an ``escalation`` outbox payload (schedules.escalations.escalation_payload).

    Raises:
        ValueError: the payload is not an escalation payload.
    """
    learners = payload.get("learners")
    if not isinstance(learners, list) or not learners:
        raise ValueError("an escalation payload needs a non-empty 'learners' list")
    today = date.fromisoformat(payload["local_date"])
    to_admins = payload.get("to") == "admins"
    people = len(learners)
    total = sum(len(p["items"]) for p in learners)
    blocks: list[Block] = [
        HeaderBlock(text="Overdue required training"),
        SectionBlock(text=MarkdownTextObject(text=_intro(payload, people, total, to_admins))),
    ]
    shown = 0
    for learner in learners:
        if shown >= MAX_ITEMS:
            break
        mention = f"<@{learner['slack_user_id']}>" if learner.get("slack_user_id") else ""
        name = escape_mrkdwn(truncate(learner["name"], NAME_MAX))
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(text=f"*{name}* {mention}".strip()),
            )
        )
        for item in learner["items"]:
            if shown >= MAX_ITEMS:
                break
            shown += 1
            blocks.extend(_item_blocks(item, today))
    if shown < total:
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text=f"…and {total - shown} more: `/learn team` lists everyone "
                        "in your chain, most overdue first."
                    )
                ]
            )
        )
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="You get this at most once a working day. `/learn policy` shows "
                    "the reminder ladder everyone works to."
                )
            ]
        )
    )
    summary = (
        f"Overdue required training: {people} {'person' if people == 1 else 'people'}, "
        f"{total} {'item' if total == 1 else 'items'}"
    )
    return RenderedMessage(text=summary, blocks=[b.to_dict() for b in blocks])


def _intro(payload: dict[str, Any], people: int, total: int, to_admins: bool) -> str:
    who = f"{people} {'person' if people == 1 else 'people'}"
    items = f"{total} required {'item' if total == 1 else 'items'}"
    if to_admins:
        return (
            f"{who} {'has' if people == 1 else 'have'} {items} overdue and nobody in their "
            "management chain can be told (no manager, or managers inactive or away). "
            "Please follow up."
        )
    first = escape_mrkdwn(truncate(payload.get("first_name") or "there", NAME_MAX))
    return (
        f"Hi {first}, {who} in your team {'has' if people == 1 else 'have'} {items} overdue "
        "past the point where the ladder tells you. A word from you usually does it."
    )


def _item_blocks(item: dict[str, Any], today: date) -> list[Block]:
    late = int(item["overdue_working_days"])
    due = date.fromisoformat(item["due_date"])
    title = escape_mrkdwn(truncate(" ".join(item["title"].split()) or item["key"], TITLE_MAX))
    line = (
        f"• {title}: *{late} working day{'s' if late != 1 else ''} overdue* "
        f"(due {short_day(due, today)})"
    )
    if item.get("step") == "skip_level":
        told = escape_mrkdwn(truncate(item.get("told_first") or "their manager", NAME_MAX))
        line += f"\n_You are told because it is still open after {told} was._"
    value = str(int(item["assignment_id"]))
    return [
        SectionBlock(
            block_id=f"escalation:{value}",
            text=MarkdownTextObject(text=line),
        ),
        ActionsBlock(
            block_id=f"escalation:{value}:actions",
            elements=[
                ButtonElement(text="Remind them", action_id=ids.ESCALATION_REMIND, value=value),
                ButtonElement(text="Extend due date", action_id=ids.ESCALATION_EXTEND, value=value),
                ButtonElement(text="Excuse", action_id=ids.ESCALATION_EXCUSE, value=value),
            ],
        ),
    ]
