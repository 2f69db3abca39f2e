"""The weekly manager digest DM: the payload ``schedules.weekly_digest`` planned, as Block Kit.

A header, the chain's completion of required items with a progress bar, the most overdue
people, certifications earned this week and those expiring within 30 days, and a button
to the learnbot Home tab (the team view). Built with ``slack_sdk.models.blocks``; lists
are cut to what fits (with "…and N more"), so the message stays inside Slack's limits
for any team size. Overdue names are private: this DM goes to the manager only, and the
fallback text (shown in notifications) carries counts, never names.

Payload (JSON, version 1)::

    {"version": 1, "manager_id": 7, "first_name": "Lou", "week": "2026-W11",
     "local_date": "2026-03-13", "people": 12, "required_done": 40,
     "required_total": 52, "percent": 76.9, "overdue_items": 5, "people_overdue": 3,
     "overdue": [{"person_id": 9, "name": "Lee London", "overdue_items": 2,
                  "overdue_working_days": 7, "oldest_due": "2026-03-02"}, ...],
     "overdue_more": 0,
     "earned_count": 1, "earned": [{"person_id": 9, "name": "...",
                                    "certification": "Safe Worker", "awarded_on": "2026-03-10"}],
     "expiring_count": 0, "expiring": [{..., "expires_on": "2026-04-01"}]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    DividerBlock,
    HeaderBlock,
    PlainTextObject,
)

from platforms.slack.render import ids
from platforms.slack.render.commands import progress_bar
from platforms.slack.render.digest import short_day
from platforms.slack.render.mrkdwn import Mrkdwn, app_url, esc, lines, md
from platforms.slack.render.rendered import RenderedMessage, context, truncate
from platforms.slack.render.rendered import section as text_section

SECTION_MAX = 3000  # Slack's limit on a section's text
OVERDUE_SHOWN = 15  # people listed at most, however many the payload holds
CERTIFICATIONS_SHOWN = 10
NAME_MAX = 80
TITLE_MAX = 120
URL_MAX = 3000  # Slack's limit on a button url
FALLBACK_MAX = 1000
OPEN_TEAM_VIEW = "Open my team view"


def render_weekly_digest(
    payload: Mapping[str, Any], *, home_url: str | None = None
) -> RenderedMessage:
    """Render a weekly manager digest payload as a Block Kit DM with a fallback text.

    Args:
        payload: The outbox payload (see the module docstring).
        home_url: The learnbot Home tab link; with it, the DM has an "Open my team view"
            button, without it a line pointing to the Home tab.

    Returns:
        The fallback text (counts only, no names) and the blocks as dicts.

    Raises:
        ValueError: The payload misses a field or has one of the wrong type.
    """
    facts = _Facts(payload)
    today = facts.day("local_date")
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=_header(facts.text("first_name")), emoji=True)),
        text_section(_progress_text(facts)),
        DividerBlock(),
        text_section(_overdue_text(facts)),
        text_section(_earned_text(facts, today)),
        text_section(_expiring_text(facts, today)),
    ]
    url = app_url(home_url, max_length=URL_MAX)
    if url:
        blocks.append(
            ActionsBlock(
                block_id="weekly_digest:actions",
                elements=[
                    # A link button: Slack opens the url; the digest's Open listener acks
                    # the click, so no listener is needed for this message.
                    ButtonElement(
                        text=OPEN_TEAM_VIEW, action_id=ids.DIGEST_OPEN, value="team", url=url
                    )
                ],
            )
        )
    else:
        blocks.append(
            context(md("Each person's progress is in your team view on learnbot's Home tab."))
        )
    return RenderedMessage(text=fallback_text(payload), blocks=[b.to_dict() for b in blocks])


def fallback_text(payload: Mapping[str, Any]) -> Mrkdwn:
    """``Your team this week: 77% of required items done (40 of 52); 3 of 12 people have
    overdue items; 1 certification earned; none expiring within 30 days.`` No names."""
    facts = _Facts(payload)
    done, total = facts.count("required_done"), facts.count("required_total")
    people, behind = facts.count("people"), facts.count("people_overdue")
    earned, expiring = facts.count("earned_count"), facts.count("expiring_count")
    if not behind:
        overdue = "nobody has overdue items"
    else:
        verb = "has" if behind == 1 else "have"
        overdue = f"{behind} of {_plural(people, 'person')} {verb} overdue items"
    text = (
        f"Your team this week: {_percent(done, total)} of required items done "
        f"({done} of {total}); {overdue}; {_plural(earned, 'certification')} earned this "
        f"week; {expiring or 'none'} expiring within 30 days."
    )
    return truncate(esc(text), FALLBACK_MAX)


# --- sections ------------------------------------------------------------------------


def _header(first_name: str) -> str:
    name = " ".join(first_name.split())
    return truncate(f"{name}, your team this week" if name else "Your team this week", 150)


def _progress_text(facts: _Facts) -> Mrkdwn:
    done, total = facts.count("required_done"), facts.count("required_total")
    people = facts.count("people")
    overdue_items = facts.count("overdue_items")
    return md(
        "*{people}* in your reporting chain\nRequired items: {bar} ({done} of {total} done)"
        "{overdue}",
        people=_plural(people, "person"),
        bar=progress_bar(done, total),
        done=done,
        total=total,
        overdue=f" · *{_plural(overdue_items, 'item')} overdue*" if overdue_items else "",
    )


def _overdue_text(facts: _Facts) -> Mrkdwn:
    people = facts.rows("overdue")
    behind = max(facts.count("people_overdue"), len(people))
    if not behind:
        return md("*Overdue*\n:white_check_mark: Nobody in your team is overdue.")
    shown = []
    for person in people[:OVERDUE_SHOWN]:
        items = _int(person, "overdue_items")
        late = _int(person, "overdue_working_days")
        shown.append(
            md(
                "• {name} — {items}, the oldest {late} overdue",
                name=_clean(_str(person, "name"), NAME_MAX),
                items=_plural(items, "item"),
                late=_plural(late, "working day"),
            )
        )
    head = md("*Overdue* — {people} with overdue required items", people=_plural(behind, "person"))
    return _listing(head, shown, behind, "person", "people")


def _earned_text(facts: _Facts, today: date) -> Mrkdwn:
    rows = facts.rows("earned")
    total = max(facts.count("earned_count"), len(rows))
    if not total:
        return md("*Certifications earned this week*\nNone this week.")
    shown = [
        md(
            "• {name} — {certification} ({day})",
            name=_clean(_str(row, "name"), NAME_MAX),
            certification=_clean(_str(row, "certification"), TITLE_MAX),
            day=short_day(_date(row, "awarded_on"), today),
        )
        for row in rows[:CERTIFICATIONS_SHOWN]
    ]
    return _listing(
        md("*Certifications earned this week* — {total} :tada:", total=total),
        shown,
        total,
        "certification",
        "certifications",
    )


def _expiring_text(facts: _Facts, today: date) -> Mrkdwn:
    rows = facts.rows("expiring")
    total = max(facts.count("expiring_count"), len(rows))
    if not total:
        return md("*Expiring within 30 days*\nNo certifications expire in the next 30 days.")
    shown = [
        md(
            "• {name} — {certification}, expires {day}",
            name=_clean(_str(row, "name"), NAME_MAX),
            certification=_clean(_str(row, "certification"), TITLE_MAX),
            day=short_day(_date(row, "expires_on"), today),
        )
        for row in rows[:CERTIFICATIONS_SHOWN]
    ]
    return _listing(
        md("*Expiring within 30 days* — {total}", total=total),
        shown,
        total,
        "certification",
        "certifications",
    )


def _listing(head: Mrkdwn, shown: Sequence[Mrkdwn], total: int, one: str, many: str) -> Mrkdwn:
    """``head``, then as many ``shown`` lines as fit one section, then "…and N more"."""
    text = head
    count = 0
    for line in shown:
        # Keep room for the "…and N more" line.
        if len(text) + 1 + len(line) + 80 > SECTION_MAX:
            break
        text = lines(text, line)
        count += 1
    hidden = total - count
    if hidden > 0:
        text = lines(
            text,
            md(
                "…and {hidden} more {what} — see your team view",
                hidden=hidden,
                what=one if hidden == 1 else many,
            ),
        )
    return text


# --- payload access ------------------------------------------------------------------


class _Facts:
    """Typed, checked reads of the payload: a wrong payload is a ValueError, not a crash
    deep in the renderer."""

    def __init__(self, payload: Mapping[str, Any]) -> None:
        if not isinstance(payload, Mapping):
            raise ValueError("a weekly digest payload must be an object")
        self.payload = payload

    def count(self, key: str) -> int:
        return _int(self.payload, key)

    def text(self, key: str) -> str:
        value = self.payload.get(key, "")
        if not isinstance(value, str):
            raise ValueError(f"weekly digest payload: {key!r} must be text")
        return value

    def day(self, key: str) -> date:
        return _date(self.payload, key)

    def rows(self, key: str) -> list[Mapping[str, Any]]:
        value = self.payload.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise ValueError(f"weekly digest payload: {key!r} must be a list of objects")
        return value


def _int(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"weekly digest payload: {key!r} must be a whole number >= 0")
    return value


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise ValueError(f"weekly digest payload: {key!r} must be text")
    return value


def _date(data: Mapping[str, Any], key: str) -> date:
    try:
        return date.fromisoformat(str(data[key]))
    except (KeyError, ValueError):
        raise ValueError(f"weekly digest payload: {key!r} must be a YYYY-MM-DD date") from None


def _clean(text: str, limit: int) -> Mrkdwn:
    """Someone's text on one line, cut to ``limit`` and escaped for mrkdwn."""
    return esc(truncate(" ".join(text.split()) or "-", limit))


def _plural(count: int, noun: str) -> str:
    if noun == "person":
        return f"{count} {'person' if count == 1 else 'people'}"
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _percent(done: int, total: int) -> str:
    return progress_bar(done, total).rsplit(" ", 1)[1]
