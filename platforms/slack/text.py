"""Slack's markup of what people type, read as plain words (``/learn`` text, messages).

Slack sends typed text with its own markup: ``<@U123|grace>`` for a mention, ``&lt;``
for a typed ``<``, ``<mailto:a@b.c|a@b.c>`` for an email when "escape channels, users
and links" is on. ``SlackText`` gives the command parser (``learning.command_parser``)
the text as words, with mentions already resolved to people.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from learning.command_parser import Mentioned

NameOf = Callable[[str], str | None]
"""Maps a Slack user id to the person's name; None when unknown."""
PersonIdOf = Callable[[str], int | None]
"""Maps a Slack user id to the person's id; None when learnbot does not know them."""

_SLACK_TOKEN = re.compile(r"<([^<>]*)>")
_SPECIAL = {"channel": "@channel", "here": "@here", "everyone": "@everyone"}
# Slack sends a mention as <@U123|name> (or <@U123> with "escape users" on).
_MENTION = re.compile(r"^<@([UW][A-Z0-9]{1,30})(?:\|[^<>]*)?>(.*)$", re.DOTALL)


def from_slack(text: str, *, name_of: NameOf | None = None) -> str:
    """Slack's markup of typed text as the words the person saw.

    * ``<@U123|grace>`` / ``<@U123>``: "@" and the person's name (``name_of``), else
      Slack's label, else "@someone";
    * ``<#C123|general>``: "#general"; ``<!here>``, ``<!channel>``, ``<!everyone>``:
      "@here" and so on, as words; ``<!subteam^S1|@team>``, ``<!date^…|fallback>``: the
      label;
    * ``<mailto:a@b.io|a@b.io>``: the address; ``<https://x.io|x.io>``: what was typed, or
      "label (url)" when the label is not the url, so a label never hides where it goes;
    * ``&lt;``, ``&gt;``, ``&amp;``: ``<``, ``>``, ``&`` (what the person typed).
    """

    def word(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if target.startswith("@"):
            name = name_of(target[1:]) if name_of is not None else None
            return "@" + " ".join((name or label.lstrip("@") or "someone").split())
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            special = target[1:].split("^", 1)[0]
            return label or _SPECIAL.get(special, "@" + special)
        if target.lower().startswith("mailto:"):
            return target[len("mailto:") :]
        if not label or _same_link(target, label):
            return label or target
        return f"{label} ({target})"

    plain = _SLACK_TOKEN.sub(word, text)
    return plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _same_link(url: str, label: str) -> bool:
    """Whether ``label`` is the url as typed (Slack links ``x.io`` as ``http://x.io``)."""
    bare = url.split("://", 1)[-1]
    return label in (url, bare, bare.rstrip("/"))


def unescape(text: str) -> str:
    """Undo Slack's escaping: ``<mailto:x|x>`` -> ``x``, ``&lt;`` -> ``<``.

    For the words of a command (keys, titles, emails); a kudos reason, which is stored
    and shown to others, goes through ``from_slack`` instead.
    """

    def link(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.lower().startswith("mailto:"):
            return target[len("mailto:") :]
        if target.lower().startswith(("http://", "https://")):
            return target
        return label or target

    text = _SLACK_TOKEN.sub(link, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


class SlackText:
    """``learning.command_parser.ChatText`` for Slack's markup.

    Args:
        person_id_of: Resolves a mentioned Slack user to their person.
        name_of: Names a Slack user mentioned in a reason ("@Their Name"; without it,
            Slack's label).
    """

    def __init__(
        self, *, person_id_of: PersonIdOf | None = None, name_of: NameOf | None = None
    ) -> None:
        self._person_id_of = person_id_of
        self._name_of = name_of

    def plain(self, text: str) -> str:
        return unescape(text)

    def words(self, text: str) -> str:
        return from_slack(text, name_of=self._name_of)

    def leading_mention(self, text: str) -> tuple[Mentioned, str] | None:
        mention = _MENTION.match(text)
        if mention is None:
            return None
        user_id = mention.group(1)
        person_id = self._person_id_of(user_id) if self._person_id_of is not None else None
        return Mentioned(person_id), mention.group(2)
