"""A rendered chat message, and the text helpers every Block Kit renderer shares.

Message text is ``Mrkdwn`` (``messages.mrkdwn``), never a plain ``str``: the fallback
``text`` and every ``mrkdwn`` text object in the blocks. ``RenderedMessage`` and
``check_view`` refuse anything else, so text that skipped escaping fails in the tests
instead of reaching Slack. Every ``mrkdwn`` object is ``verbatim``: Slack then does not
turn a ``#channel`` name, a bare url or an ``@here`` that someone typed into a link or a
mention; only the markup learnbot wrote is read as markup.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock
from slack_sdk.models.views import View

from messages.markup import Markup
from platforms.slack.render.mrkdwn import Mrkdwn, app_url, esc, link, md

ELLIPSIS = "…"
T = TypeVar("T", bound=str)

# Block Kit objects that mention people or link by structure rather than by text;
# learnbot never builds them, so a message holding one did not come from a renderer.
_STRUCTURAL_MENTIONS = frozenset(
    {"rich_text", "rich_text_section", "user", "usergroup", "broadcast", "channel", "link"}
)


class UnsafeText(TypeError):
    """Text that did not go through the escaping helpers is about to be sent."""


@dataclass(frozen=True)
class RenderedMessage:
    """What a sender posts: the fallback ``text`` and the Block Kit ``blocks`` as dicts.

    ``text`` is what notifications, screen readers and clients without Block Kit show;
    it is never empty. Both are checked when the message is made (``UnsafeText``).
    """

    text: Mrkdwn
    blocks: list[dict[str, Any]]

    def __post_init__(self) -> None:
        if not isinstance(self.text, Mrkdwn):
            raise UnsafeText(
                f"RenderedMessage text is a plain {type(self.text).__name__}: build it with "
                f"messages.mrkdwn (esc, md, mention, link): {str(self.text)[:80]!r}"
            )
        check_blocks(self.blocks)

    def payload(self) -> dict[str, Any]:
        """The outbox payload of a ``text`` message: ``{"text": ..., "blocks": [...]}``."""
        return {"text": self.text, "blocks": self.blocks}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> RenderedMessage:
        """A message a renderer made, read back from the outbox. Stored JSON has lost the
        type, so the text is taken back through ``Mrkdwn.from_stored``: the mentions and
        links a builder writes are kept, anything else is escaped."""
        text = payload.get("text")
        if not isinstance(text, str):
            raise ValueError("a text payload needs a 'text'")
        blocks = payload.get("blocks") or []
        if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
            raise ValueError("'blocks' must be a list of Block Kit objects")
        return cls(text=Mrkdwn.from_stored(text), blocks=[_restored(b) for b in blocks])


def _restored(value: Any) -> Any:
    """A stored block with its mrkdwn texts back as ``Mrkdwn`` (through ``from_stored``)
    and its urls dropped when they are not usable http(s) urls (or Slack deep links)."""
    if isinstance(value, list):
        return [_restored(item) for item in value]
    if not isinstance(value, dict):
        return value
    restored = {key: _restored(item) for key, item in value.items()}
    if restored.get("type") == "mrkdwn" and isinstance(restored.get("text"), str):
        restored["text"] = Mrkdwn.from_stored(restored["text"])
        restored["verbatim"] = True
    if "url" in restored and app_url(restored["url"]) is None:
        del restored["url"]
    return restored


def check_blocks(blocks: Any, *, where: str = "blocks") -> None:
    """Refuse blocks whose ``mrkdwn`` text is not ``Mrkdwn`` (or not verbatim), whose
    urls are not http(s), or that mention people by structure (``UnsafeText``)."""
    for path, node in _dicts(blocks, where):
        kind = node.get("type")
        if kind == "mrkdwn":
            if not isinstance(node.get("text"), Mrkdwn):
                raise UnsafeText(
                    f"{path}: mrkdwn text is a plain {type(node.get('text')).__name__}; build "
                    f"it with messages.mrkdwn: {str(node.get('text'))[:80]!r}"
                )
            if node.get("verbatim") is not True:
                raise UnsafeText(f"{path}: mrkdwn text must be verbatim (use text_object)")
        elif kind in _STRUCTURAL_MENTIONS:
            raise UnsafeText(f"{path}: learnbot does not send {kind!r} elements")
        url = node.get("url")
        if url is not None and app_url(url) is None:
            raise UnsafeText(f"{path}: url {str(url)[:80]!r} is not a usable http(s) url")
        if isinstance(node.get("text"), Markup) and kind == "plain_text":
            # plain_text is shown as typed: escaped text would show "&amp;".
            raise UnsafeText(f"{path}: plain_text given markup; give the plain text")


def _dicts(value: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(value, dict):
        yield path, value
        for key, item in value.items():
            yield from _dicts(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _dicts(item, f"{path}[{index}]")


def check_view(view: View | dict[str, Any]) -> dict[str, Any]:
    """A modal's or App Home's view as a dict, after the checks of ``check_blocks``.

    Raises:
        UnsafeText: a ``mrkdwn`` text in it did not come from the escaping helpers.
    """
    data = view.to_dict() if isinstance(view, View) else view
    check_blocks(data.get("blocks") or [], where="view.blocks")
    return data


def text_object(text: Mrkdwn) -> MarkdownTextObject:
    """A verbatim ``mrkdwn`` text object (Slack adds no links or mentions of its own)."""
    return MarkdownTextObject(text=text, verbatim=True)


def section(text: Mrkdwn, *, block_id: str | None = None) -> SectionBlock:
    """A section of ``text`` ("-" when it is blank: Slack refuses an empty text), cut to
    Slack's limit (escaping can make a short plain text five times longer)."""
    return SectionBlock(
        text=text_object(truncate(_shown(text), SECTION_TEXT_MAX)), block_id=block_id
    )


def context(text: Mrkdwn) -> ContextBlock:
    """A context line of ``text`` ("-" when it is blank), cut to Slack's limit."""
    return ContextBlock(elements=[text_object(truncate(_shown(text), CONTEXT_TEXT_MAX))])


def _shown(text: Mrkdwn) -> Mrkdwn:
    return text if text.strip() else md("-")


def truncate(text: T, limit: int) -> T:
    """``text`` cut to at most ``limit`` characters, ending with "…" when cut.

    Markup is cut with its dialect's rules (never inside an entity, mention or link) and
    stays markup; plain text stays plain.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if isinstance(text, Markup):
        return text.cut(limit, ELLIPSIS)  # type: ignore[return-value]
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + ELLIPSIS  # type: ignore[return-value]


def escape_mrkdwn(text: str) -> Mrkdwn:
    """Plain text as mrkdwn: ``&``, ``<`` and ``>`` escaped, control characters dropped."""
    return esc(text)


def mrkdwn_link(url: str | None, label: str) -> Mrkdwn:
    """A ``<url|label>`` link; ``label`` is plain text and gets escaped here. Only a
    usable http(s) ``url`` is linked; otherwise the label alone."""
    return link(url, label)


SECTION_TEXT_MAX = 3000  # Slack's limit on a section's (and the fallback's) text here
CONTEXT_TEXT_MAX = 2000


def sections_message(
    text: Mrkdwn, *paragraphs: Mrkdwn, note: Mrkdwn | None = None
) -> RenderedMessage:
    """A message of mrkdwn sections (blank ones left out) and an optional context note;
    ``text`` is the notification fallback. Each piece is cut to its limit."""
    blocks: list[Block] = [section(truncate(p, SECTION_TEXT_MAX)) for p in paragraphs if p.strip()]
    if note:
        blocks.append(context(truncate(note, CONTEXT_TEXT_MAX)))
    return RenderedMessage(
        text=truncate(text, SECTION_TEXT_MAX), blocks=[b.to_dict() for b in blocks]
    )


__all__ = [
    "CONTEXT_TEXT_MAX",
    "ELLIPSIS",
    "SECTION_TEXT_MAX",
    "Mrkdwn",
    "RenderedMessage",
    "UnsafeText",
    "check_blocks",
    "check_view",
    "context",
    "escape_mrkdwn",
    "md",
    "mrkdwn_link",
    "section",
    "sections_message",
    "text_object",
    "truncate",
]
