"""What people type, kept as plain text: the words they see, without Slack's markup and
without control characters.

Reasons and comments are stored as the person's words. Slack sends a slash command's
text with its own markup (``<@U123|grace>`` for a mention, ``&lt;`` for a typed ``<``);
``from_slack`` turns that back into what the person saw in their composer, resolving a
mention to "@Their Name". Renderers escape the stored words again when they show them
(``messages.mrkdwn``), so a ``<!channel>`` someone typed is shown, never obeyed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# C0 and C1 control characters, NUL included (PostgreSQL cannot store it).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_BREAKS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SLACK_TOKEN = re.compile(r"<([^<>]*)>")
_SPECIAL = {"channel": "@channel", "here": "@here", "everyone": "@everyone"}

NameOf = Callable[[str], str | None]
"""Maps a Slack user id to the person's name; None when unknown."""


def one_line(text: str | None) -> str:
    """``text`` on one line: control characters (NUL included) and runs of whitespace
    become one space; trimmed."""
    return " ".join(_CONTROL.sub(" ", text or "").split())


def clip(text: str, limit: int) -> str:
    """Plain ``text`` cut to at most ``limit`` characters, ending with "…" when cut (as
    the renderers' ``truncate`` cuts plain text)."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def multiline(text: str | None) -> str:
    """``text`` with its line breaks and tabs, other control characters (NUL included)
    removed; Windows line ends as ``\\n``; trimmed."""
    unified = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL_BUT_BREAKS.sub("", unified).strip()


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
