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
    HeaderBlock,
)

from platforms.slack.render import ids
from platforms.slack.render.digest import short_day
from platforms.slack.render.mrkdwn import Mrkdwn, is_user_id, md, mention
from platforms.slack.render.rendered import RenderedMessage, context, section, truncate

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
        section(_intro(payload, people, total, to_admins)),
    ]
    shown = 0
    for learner in learners:
        if shown >= MAX_ITEMS:
            break
        slack_id = learner.get("slack_user_id")
        name = md("*{name}*", name=truncate(str(learner["name"]), NAME_MAX))
        if is_user_id(slack_id):
            name = md("{name} {mention}", name=name, mention=mention(slack_id))
        blocks.append(section(name))
        for item in learner["items"]:
            if shown >= MAX_ITEMS:
                break
            shown += 1
            blocks.extend(_item_blocks(item, today))
    if shown < total:
        blocks.append(
            context(
                md(
                    "…and {n} more: `/learn team` lists everyone in your chain, most "
                    "overdue first.",
                    n=total - shown,
                )
            )
        )
    blocks.append(
        context(
            md(
                "You get this at most once a working day. `/learn policy` shows "
                "the reminder ladder everyone works to."
            )
        )
    )
    summary = md(
        "Overdue required training: {people} {who}, {total} {items}",
        people=people,
        who="person" if people == 1 else "people",
        total=total,
        items="item" if total == 1 else "items",
    )
    return RenderedMessage(text=summary, blocks=[b.to_dict() for b in blocks])


def _intro(payload: dict[str, Any], people: int, total: int, to_admins: bool) -> Mrkdwn:
    who = f"{people} {'person' if people == 1 else 'people'}"
    items = f"{total} required {'item' if total == 1 else 'items'}"
    has = "has" if people == 1 else "have"
    if to_admins:
        return md(
            "{who} {has} {items} overdue and nobody in their management chain can be told "
            "(no manager, or managers inactive or away). Please follow up.",
            who=who,
            has=has,
            items=items,
        )
    first = truncate(str(payload.get("first_name") or "there"), NAME_MAX)
    return md(
        "Hi {first}, {who} in your team {has} {items} overdue past the point where the "
        "ladder tells you. A word from you usually does it.",
        first=first,
        who=who,
        has=has,
        items=items,
    )


def _item_blocks(item: dict[str, Any], today: date) -> list[Block]:
    late = int(item["overdue_working_days"])
    due = date.fromisoformat(item["due_date"])
    title = truncate(" ".join(item["title"].split()) or item["key"], TITLE_MAX)
    line = md(
        "• {title}: *{late} working day{s} overdue* (due {day})",
        title=title,
        late=late,
        s="s" if late != 1 else "",
        day=short_day(due, today),
    )
    if item.get("step") == "skip_level":
        told = truncate(str(item.get("told_first") or "their manager"), NAME_MAX)
        line = md(
            "{line}\n_You are told because it is still open after {told} was._",
            line=line,
            told=told,
        )
    value = str(int(item["assignment_id"]))
    return [
        section(line, block_id=f"escalation:{value}"),
        ActionsBlock(
            block_id=f"escalation:{value}:actions",
            elements=[
                ButtonElement(text="Remind them", action_id=ids.ESCALATION_REMIND, value=value),
                ButtonElement(text="Extend due date", action_id=ids.ESCALATION_EXTEND, value=value),
                ButtonElement(text="Excuse", action_id=ids.ESCALATION_EXCUSE, value=value),
            ],
        ),
    ]
