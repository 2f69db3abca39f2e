"""The daily nudge DM: a ``Digest`` rendered as Block Kit, with a plain-text fallback.

Blocks are built with ``slack_sdk.models.blocks`` classes only and stay inside Slack's
limits whatever the digest holds: long titles and urls are cut, and items beyond
``max_items`` (or beyond what 50 blocks can hold) are summed up in an "…and N more" line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    DividerBlock,
    HeaderBlock,
    Option,
    PlainTextObject,
    StaticSelectElement,
)

from learning.digest import Digest, DigestItem, ItemOutcome
from platforms.slack.render import ids
from platforms.slack.render.mrkdwn import Mrkdwn, http_url, lines, link, md
from platforms.slack.render.rendered import RenderedMessage, context, truncate
from platforms.slack.render.rendered import section as text_section

MAX_BLOCKS = 50
TITLE_MAX = 200  # characters of a title, before escaping
NAME_MAX = 60  # characters of a first name in the greeting
LINK_URL_MAX = 1000  # longer urls are not linked in text (the Open button still has them)
BUTTON_URL_MAX = 3000  # Slack's limit; longer urls get no Open button either
FALLBACK_MAX = 3000  # the fallback text stays well under Slack's 4,000 guidance
FALLBACK_TITLE_MAX = 80

FIND_MENTOR_LABEL = "Find a mentor"

SECTION_ORDER = ("overdue", "due_soon", "rescheduled", "suggested")
SECTION_LABELS = {
    "overdue": "Overdue",
    "due_soon": "Due soon",
    "rescheduled": "New due dates",
    "suggested": "Suggested for you",
}
SECTION_COUNT_WORDS = {
    "overdue": "overdue",
    "due_soon": "due soon",
    "rescheduled": "rescheduled",
    "suggested": "suggested",
}
# Why a due date changed (``DigestItem.due_changed``), as the learner is told once.
DUE_CHANGED_BECAUSE = {
    "role": "your role changed",
    "role_start": "your role start date changed",
    "curriculum": "the program changed",
    "admin": "an admin set it",
    "prerequisite": "its prerequisite is done",
}
METHOD_LABELS = {
    "online": "Online course",
    "classroom": "Classroom",
    "reading": "Reading",
    "video": "Video",
    "shadowing": "Shadowing",
    "assessment": "Assessment",
}


def render_digest(
    digest: Digest,
    *,
    home_url: str | None = None,
    max_items: int = 10,
    outcomes: Mapping[int, ItemOutcome] | None = None,
) -> RenderedMessage:
    """Render one person's digest as a Block Kit DM with a plain-text fallback.

    Items keep the planner's order; a small label starts each run of one section. Each
    item gets a section (``block_id`` ``item:<assignment_id>``) and an actions block with
    Done, Snooze and, when the item has a url, Open; "Request extension" on an overdue
    required item, "Find a mentor" where the planner offers one (``mentor_offer``).

    Args:
        digest: The facts to render; must hold at least one item.
        home_url: Where the "…and N more" line links to (the learnbot Home tab), if known.
        max_items: The most items shown as blocks; fewer when 50 blocks cannot hold them.
        outcomes: What became of items since the DM was sent, by assignment id: such an
            item shows "✅ Done" (or "Snoozed until …") in place of its buttons. Used to
            update a sent DM with ``chat.update``.

    Returns:
        The fallback text and the blocks as dicts.

    Raises:
        ValueError: The digest is empty, repeats an assignment, or ``max_items`` < 1.
    """
    if not digest.items:
        raise ValueError(f"digest {digest.key} has no items; the planner sends nothing then")
    if max_items < 1:
        raise ValueError("max_items must be at least 1")
    seen = Counter(item.assignment_id for item in digest.items)
    repeated = sorted(a for a, n in seen.items() if n > 1)
    if repeated:
        raise ValueError(f"digest {digest.key} repeats assignments {repeated}")

    counts = summary_counts(digest.items)
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=greeting(digest.first_name), emoji=True)),
        text_section(md("Here's your learning for today: {counts}.", counts=counts)),
        DividerBlock(),
    ]
    shown = 0
    section: str | None = None
    total = len(digest.items)
    for item in digest.items:
        label = [] if item.section == section else [_label_block(item.section)]
        outcome = (outcomes or {}).get(item.assignment_id)
        item_blocks = [*label, *_item_blocks(item, digest.local_date, outcome)]
        reserve = 1 if shown + 1 < total else 0  # room for the "…and N more" line
        if shown == max_items or len(blocks) + len(item_blocks) + reserve > MAX_BLOCKS:
            break
        blocks.extend(item_blocks)
        section = item.section
        shown += 1
    if shown < total:
        blocks.append(_more_block(total - shown, home_url))

    text = fallback_text(digest, counts, shown)
    return RenderedMessage(text=text, blocks=[block.to_dict() for block in blocks])


def greeting(first_name: str) -> str:
    """``Hi Ana``; ``Hi there`` without a name."""
    name = " ".join(first_name.split())
    return f"Hi {truncate(name, NAME_MAX)}" if name else "Hi there"


def summary_counts(items: Sequence[DigestItem]) -> str:
    """``2 overdue, 1 due soon, 3 suggested``: counts per section, in section order."""
    counts: Counter[str] = Counter(item.section for item in items)
    order = [*SECTION_ORDER, *sorted(s for s in counts if s not in SECTION_ORDER)]
    return ", ".join(
        f"{counts[s]} {SECTION_COUNT_WORDS.get(s, s.replace('_', ' '))}" for s in order if counts[s]
    )


def method_label(method: str) -> str:
    """The human name of a delivery method: ``online`` -> ``Online course``."""
    return METHOD_LABELS.get(method, method.replace("_", " ").capitalize())


def duration(minutes: int) -> str:
    """``45 min``, ``2 h``, ``1 h 30 min``; empty for no estimate."""
    if minutes <= 0:
        return ""
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h" + (f" {rest} min" if rest else "")


def short_day(day: date, today: date) -> str:
    """``Tue 3 Dec``, with the year only when it is not ``today``'s year."""
    return f"{day:%a} {day.day} {day:%b}" + (f" {day.year}" if day.year != today.year else "")


def due_phrase(item: DigestItem, today: date) -> str:
    """When the item is due, in the person's terms, as seen on their local ``today``;
    empty for a suggested item, which has no deadline."""
    if not item.required:
        return ""
    late = item.overdue_working_days
    if late > 0:
        return f"{late} working day{'s' if late != 1 else ''} overdue"
    if item.due_date == today:
        return "due today"
    if item.due_date == today + timedelta(days=1):
        return "due tomorrow"
    if item.due_date < today:
        return f"was due {short_day(item.due_date, today)}"
    return f"due {short_day(item.due_date, today)}"


def fallback_text(digest: Digest, counts: str, listed: int) -> Mrkdwn:
    """The notification / no-Block-Kit text: greeting, counts and the first titles.

    Names and titles are escaped like any Slack message text; at most ``listed`` are named, fewer
    when the text would grow past ``FALLBACK_MAX``, and the rest become "and N more".
    """
    head = md("{greeting}. {counts}: ", greeting=greeting(digest.first_name), counts=counts)
    parts: list[Mrkdwn] = []
    length = len(head)
    for item in digest.items[:listed]:
        title = truncate(" ".join(item.title.split()), FALLBACK_TITLE_MAX)
        due = due_phrase(item, digest.local_date)
        part = md("{title} ({due})", title=title, due=due) if due else md("{title}", title=title)
        # Keep room for "; " and the "; and N more." tail.
        if length + len(part) + 40 > FALLBACK_MAX:
            break
        parts.append(part)
        length += len(part) + 2
    rest = len(digest.items) - len(parts)
    tail = md("; and {rest} more.", rest=rest) if rest else md(".")
    return md("{head}{parts}{tail}", head=head, parts=Mrkdwn("; ").join(parts), tail=tail)


def _label_block(section: str) -> Block:
    label = SECTION_LABELS.get(section, section.replace("_", " ").capitalize())
    return text_section(md("*{label}*", label=label[:100]))


def _usable_url(url: str | None, limit: int) -> str | None:
    return url if url and len(url) <= limit and http_url(url, max_length=limit) else None


def _item_text(item: DigestItem, today: date) -> Mrkdwn:
    title = truncate(" ".join(item.title.split()) or item.key or "Untitled", TITLE_MAX)
    heading = link(_usable_url(item.url, LINK_URL_MAX), title)
    due = due_phrase(item, today)
    details = [
        truncate(method_label(item.method), 40),
        duration(item.minutes),
        "Required" if item.required else "Suggested",
        f"*{due}*" if item.overdue_working_days > 0 else due,
    ]
    return lines(
        heading,
        Mrkdwn(" · ").join(d for d in details if d),
        due_change_note(item, today),
        ladder_note(item, today),
    )


NOTICE_WHO = {"manager": "your manager", "skip_level": "your manager's manager"}


def due_change_note(item: DigestItem, today: date) -> Mrkdwn:
    """``📅 New due date *Tue 9 Mar*: your role changed.`` once after a change, or empty."""
    if not item.required or item.due_changed is None:
        return md("")
    if item.due_changed == "prerequisite" and item.due_changed_after:
        why = f"{truncate(' '.join(item.due_changed_after.split()), FALLBACK_TITLE_MAX)} is done"
    else:
        why = DUE_CHANGED_BECAUSE.get(item.due_changed, "it was changed")
    return md("📅 New due date *{day}*: {why}.", day=short_day(item.due_date, today), why=why)


def ladder_note(item: DigestItem, today: date) -> str:
    """What the escalation ladder says about the item today, or ``""``."""
    if not item.required:
        return ""
    if item.extension_requested:
        return "_You asked for an extension: nobody else is told while it is being decided._"
    if item.overdue_working_days > 0 and item.warned:
        if item.next_notice_to and item.next_notice_on:
            who = NOTICE_WHO.get(item.next_notice_to, item.next_notice_to)
            told_before = item.next_notice_to == "skip_level"
            return (
                ("Your manager has been told. " if told_before else "")
                + f"⚠️ If it is still open, {who} will be told on "
                + f"*{short_day(item.next_notice_on, today)}*."
            )
        return "⚠️ Your manager has been told; it stays on your list until it is done."
    if item.reminder and item.overdue_working_days == 0:
        return "⏰ Reminder: this one is required."
    return ""


def outcome_text(outcome: ItemOutcome, today: date) -> str:
    """``✅ Done``, ``Waived`` or ``😴 Snoozed until Tue 3 Mar``."""
    if outcome.kind == "done":
        return "✅ Done"
    if outcome.kind == "waived":
        return "Waived: nothing to do"
    if outcome.until is not None:
        return f"😴 Snoozed until {short_day(outcome.until, today)}"
    return "😴 Snoozed"


def _item_blocks(item: DigestItem, today: date, outcome: ItemOutcome | None = None) -> list[Block]:
    if outcome is not None:
        title = truncate(" ".join(item.title.split()) or item.key or "Untitled", TITLE_MAX)
        heading = link(_usable_url(item.url, LINK_URL_MAX), title)
        return [
            text_section(
                lines(heading, outcome_text(outcome, today)),
                block_id=ids.item_block_id(item.assignment_id),
            )
        ]
    return [
        text_section(_item_text(item, today), block_id=ids.item_block_id(item.assignment_id)),
        item_actions(
            item.assignment_id,
            _usable_url(item.url, BUTTON_URL_MAX),
            extension=item.required
            and item.overdue_working_days > 0
            and not item.extension_requested,
            mentor=item.mentor_offer,
        ),
    ]


def _more_block(hidden: int, home_url: str | None) -> Block:
    home = link(home_url, "learnbot Home tab", max_url=LINK_URL_MAX, deep_link=True)
    return context(md("…and {hidden} more — see your {home}", hidden=hidden, home=home))


def item_actions(
    assignment_id: int, url: str | None, *, extension: bool = False, mentor: bool = False
) -> ActionsBlock:
    """Done, Snooze and (with a usable ``url``) Open for one item: the digest's and App
    Home's buttons, so the same listeners serve both; ``extension`` adds "Request
    extension" (overdue required items), ``mentor`` adds "Find a mentor"."""
    elements: list[Any] = [
        ButtonElement(
            text="Done",
            action_id=ids.DIGEST_DONE,
            value=ids.assignment_value(assignment_id),
            style="primary",
        ),
        StaticSelectElement(
            placeholder="Snooze…",
            action_id=ids.DIGEST_SNOOZE,
            options=[
                Option(value=ids.snooze_value(assignment_id, code), label=label)
                for code, label in ids.SNOOZE_CHOICES
            ],
        ),
    ]
    if url:
        elements.append(
            ButtonElement(
                text="Open",
                action_id=ids.DIGEST_OPEN,
                value=ids.assignment_value(assignment_id),
                url=url,
            )
        )
    if extension:
        elements.append(
            ButtonElement(
                text="Request extension",
                action_id=ids.DIGEST_REQUEST_EXTENSION,
                value=ids.assignment_value(assignment_id),
            )
        )
    if mentor:
        elements.append(
            ButtonElement(
                text=FIND_MENTOR_LABEL,
                action_id=ids.DIGEST_FIND_MENTOR,
                value=ids.assignment_value(assignment_id),
            )
        )
    return ActionsBlock(block_id=ids.item_actions_block_id(assignment_id), elements=elements)
