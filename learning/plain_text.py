"""What people type, kept as plain text: the words they see, without control characters.

Reasons and comments are stored as the person's words. A platform's markup is turned
back into those words by its adapter (Slack: ``platforms.slack.text.from_slack``).
Renderers escape the stored words again when they show them, so a ``<!channel>``
someone typed is shown, never obeyed.
"""

from __future__ import annotations

import re

# C0 and C1 control characters, NUL included (PostgreSQL cannot store it).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_BREAKS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


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
