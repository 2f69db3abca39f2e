"""Slack's mrkdwn as a ``Markup`` dialect, and the only code that writes Slack mentions
and links.

Slack reads ``&``, ``<`` and ``>`` in message text (the top-level ``text`` and every
``mrkdwn`` text object) as markup: ``<!channel>`` notifies a channel, ``<@U123>`` a
person, ``<https://x|y>`` shows "y" and opens x. ``Mrkdwn`` is text in which every ``<``
was written here: by ``mention`` (a resolved person's Slack id), ``channel_mention`` (a
channel id) or ``link`` (a validated http(s) url). Plain text goes in through
``Mrkdwn.escape`` (``esc``) or a template (``md``), which escape it.

``>`` may appear in literals (Slack's blockquote); without a ``<`` it opens nothing.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, LiteralString
from urllib.parse import urlsplit

from messages.markup import Markup

URL_MAX = 3000  # Slack's limit on a button url; links in text are shorter in practice

# C0 and C1 control characters except tab and line feed: Slack shows them as garbage
# (or refuses the message), and PostgreSQL refuses NUL.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ENTITY = re.compile(r"&(?:amp|lt|gt);")
_BARE_AMPERSAND = re.compile(r"&(?!(?:amp|lt|gt);)")
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,30}")
_TOKEN = re.compile(r"<([^<>]*)>")
_STORED_LINK = re.compile(r"https?://[^\s<>|]+(?:\|[^<>|]+)?", re.IGNORECASE)


class SlackMrkdwn:
    """The ``Dialect`` of Slack's ``text`` and ``mrkdwn`` text objects."""

    name = "slack"

    def escape(self, text: str) -> str:
        return (
            _CONTROL.sub("", text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        )

    def is_plain_literal(self, text: str) -> bool:
        return "<" not in text and not _CONTROL.search(text) and not _BARE_AMPERSAND.search(text)

    def cut(self, markup: str, limit: int, ellipsis: str) -> str:
        if len(markup) <= limit:
            return markup
        cut = markup[: max(limit - len(ellipsis), 0)]
        opened = cut.rfind("<")
        if opened > cut.rfind(">"):  # inside a mention or link: drop it whole
            cut = cut[:opened]
        entity = cut.rfind("&")
        if entity > cut.rfind(";"):  # inside &amp; &lt; &gt;
            cut = cut[:entity]
        return cut.rstrip() + ellipsis

    def neutralise(self, stored: str) -> str:
        text = _CONTROL.sub("", stored)
        parts: list[str] = []
        at = 0
        for token in _TOKEN.finditer(text):
            parts.append(_loose_escape(text[at : token.start()]))
            inner = token.group(1)
            if _is_builder_form(inner):
                parts.append(f"<{_BARE_AMPERSAND.sub('&amp;', inner)}>")
            else:
                parts.append(f"&lt;{_loose_escape(inner)}&gt;")
            at = token.end()
        parts.append(_loose_escape(text[at:]))
        return "".join(parts)


def _loose_escape(text: str) -> str:
    """Stored text between tokens: a stray ``<`` and a bare ``&`` are escaped, entities
    and ``>`` (a blockquote) stay."""
    return _BARE_AMPERSAND.sub("&amp;", text).replace("<", "&lt;")


def _is_builder_form(inner: str) -> bool:
    if inner.startswith("@"):
        return _USER_ID.fullmatch(inner[1:]) is not None
    if inner.startswith("#"):
        return _CHANNEL_ID.fullmatch(inner[1:]) is not None
    return _STORED_LINK.fullmatch(inner) is not None


SLACK_MRKDWN = SlackMrkdwn()


class Mrkdwn(Markup):
    """Text that is safe in Slack's ``text`` and ``mrkdwn`` fields."""

    __slots__ = ()
    dialect = SLACK_MRKDWN


# --- plain text in ------------------------------------------------------------------------


def esc(text: str | int | float) -> Mrkdwn:
    """Plain text as mrkdwn that shows exactly it (markup passes through unchanged)."""
    return Mrkdwn.escape(text)


def md(template: LiteralString, /, *args: Any, **fields: Any) -> Mrkdwn:
    """A literal template with its fields filled in: plain values are escaped, ``Mrkdwn``
    values kept. ``md("{who} earned *{title}*", who=mention(uid), title=name)``.

    Without fields the template is taken as it is (braces included).
    """
    literal = Mrkdwn(template)
    return literal.format(*args, **fields) if args or fields else literal


def lines(*parts: str) -> Mrkdwn:
    """Non-empty ``parts`` one per line (plain parts escaped)."""
    return Mrkdwn("\n").join(part for part in parts if part)


# --- the builders: the only code that writes "<" -------------------------------------------


def is_user_id(value: object) -> bool:
    """Whether ``value`` has the shape of a Slack user id (``U0123ABCD``, ``W…``)."""
    return isinstance(value, str) and _USER_ID.fullmatch(value) is not None


def is_channel_id(value: object) -> bool:
    """Whether ``value`` has the shape of a Slack channel id (``C0123ABCD``, ``G…``)."""
    return isinstance(value, str) and _CHANNEL_ID.fullmatch(value) is not None


def mention(slack_user_id: str) -> Mrkdwn:
    """``<@U123>``: a mention of a person learnbot resolved.

    Raises:
        ValueError: ``slack_user_id`` is not shaped like a Slack user id.
    """
    if not is_user_id(slack_user_id):
        raise ValueError(f"not a Slack user id: {str(slack_user_id)[:40]!r}")
    return Mrkdwn._trusted(f"<@{slack_user_id}>")


def channel_mention(channel_id: str) -> Mrkdwn:
    """``<#C123>``: a link to a conversation by its id.

    Raises:
        ValueError: ``channel_id`` is not shaped like a Slack channel id.
    """
    if not is_channel_id(channel_id):
        raise ValueError(f"not a Slack channel id: {str(channel_id)[:40]!r}")
    return Mrkdwn._trusted(f"<#{channel_id}>")


def person(name: str, slack_user_id: str | None, *, limit: int = 80) -> Mrkdwn:
    """A mention when the person has a Slack id, else their name in bold."""
    if slack_user_id and is_user_id(slack_user_id):
        return mention(slack_user_id)
    shown = " ".join(name.split()) or "-"
    return md("*{name}*", name=shown if len(shown) <= limit else shown[: limit - 1] + "…")


def http_url(url: object, *, max_length: int = URL_MAX) -> str | None:
    """``url`` when it is a usable http(s) url, else None.

    Usable: http or https, a host, no whitespace or control characters, at most
    ``max_length`` characters.
    """
    if not isinstance(url, str) or not url or len(url) > max_length:
        return None
    if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. an unclosed "[" of an IPv6 host
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return url


def app_url(url: object, *, max_length: int = URL_MAX) -> str | None:
    """``url`` when it is a usable http(s) url (``http_url``) or a Slack deep link
    (``slack://app?…``, which only opens a place in Slack), else None. Deep links come
    from learnbot's own settings (the Home tab), never from people or files."""
    if isinstance(url, str) and url.lower().startswith("slack://"):
        if len(url) > max_length or any(ch.isspace() or ch in "<>|" for ch in url):
            return None
        return url if urlsplit(url).netloc else None
    return http_url(url, max_length=max_length)


def link(url: str | None, label: str, *, max_url: int = URL_MAX, deep_link: bool = False) -> Mrkdwn:
    """``<url|label>``: ``label`` (plain text, escaped here) linked to ``url``; just the
    label when ``url`` is missing or not a usable http(s) url (``http_url``; with
    ``deep_link``, a Slack deep link too: ``app_url``).

    In the url ``&``, ``<`` and ``>`` are escaped and ``|`` is percent-encoded, so the
    url cannot end the link early.
    """
    shown = esc(label)
    target = (app_url if deep_link else http_url)(url, max_length=max_url)
    if target is None or not shown.strip():
        return shown
    return Mrkdwn._trusted(f"<{SLACK_MRKDWN.escape(target).replace('|', '%7C')}|{shown}>")
