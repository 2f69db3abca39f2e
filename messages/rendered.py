"""A rendered chat message, and the text helpers every Block Kit renderer shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

ELLIPSIS = "…"


@dataclass(frozen=True)
class RenderedMessage:
    """What a sender posts: the fallback ``text`` and the Block Kit ``blocks`` as dicts.

    ``text`` is what notifications, screen readers and clients without Block Kit show;
    it is never empty.
    """

    text: str
    blocks: list[dict[str, Any]]


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending with "…" when cut."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + ELLIPSIS


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack treats as control characters in message text.

    Slack's ``text`` field and ``mrkdwn`` text objects read ``&``, ``<`` and ``>`` as
    markup (links, mentions, entities); everything else is left alone.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn_link(url: str, label: str) -> str:
    """A ``<url|label>`` link; ``label`` is plain text and gets escaped here.

    ``|`` in the url is percent-encoded, since Slack would read it as the separator.
    """
    return f"<{escape_mrkdwn(url).replace('|', '%7C')}|{escape_mrkdwn(label)}>"


SECTION_TEXT_MAX = 3000  # Slack's limit on a section's (and the fallback's) text here
CONTEXT_TEXT_MAX = 2000


def sections_message(text: str, *paragraphs: str, note: str | None = None) -> RenderedMessage:
    """A message of mrkdwn sections (already escaped; blank ones left out) and an optional
    context note; ``text`` is the notification fallback. Each piece is cut to its limit."""
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=truncate(p, SECTION_TEXT_MAX)))
        for p in paragraphs
        if p.strip()
    ]
    if note:
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=truncate(note, CONTEXT_TEXT_MAX))])
        )
    return RenderedMessage(
        text=truncate(text, SECTION_TEXT_MAX), blocks=[b.to_dict() for b in blocks]
    )
