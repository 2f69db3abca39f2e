"""The Slack renderers of the outbox's fact kinds: kind -> Block Kit, at send time.

Each kind's facts are the keyword arguments of the renderer named here (names, titles,
reasons and ids as the domain stored them, plain text); ``keyword_facts`` checks them
against its annotations. A new kind gets one line here and the constant its producer
writes (``learning.outbox_kinds``).
"""

from __future__ import annotations

from platforms.slack.render.render import keyword_facts, register

KINDS = {}

for _kind, _render in KINDS.items():
    register(_kind, keyword_facts(_render))
