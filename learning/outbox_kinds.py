"""What the domain puts in the outbox: a message ``kind`` and its facts, never markup.

A ``Facts`` is the kind plus JSON-ready values: names, titles, reasons, dates (ISO
text), numbers, ids as stored. The platform adapters render each kind at send time
(Slack: ``platforms.slack.render.outbox_kinds``) and escape everything the facts hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic_core import to_jsonable_python

# Certifications
CERT_AWARD_HOLDER = "cert_award_holder"
CERT_AWARD_MANAGER = "cert_award_manager"
CERT_SHOUTOUT = "cert_shoutout"
CERT_MILESTONE = "cert_milestone"
CERT_WINDOW = "cert_window"
CERT_LAPSED_HOLDER = "cert_lapsed_holder"
CERT_LAPSED_MANAGER = "cert_lapsed_manager"
POST_FAILED = "post_failed"
# Recognition and peer learning
KUDOS_POST = "kudos_post"
KUDOS_DM = "kudos_dm"
GAME_BOARD = "game_board"
PAIRING_INTRO = "pairing_intro"
PEER_PROMPT = "peer_prompt"
PEER_FOLLOW_UP = "peer_follow_up"
# Extensions and excusals
EXTENSION_REQUEST = "extension_request"
EXTENSION_REMINDER = "extension_reminder"
EXTENSION_GRANTED = "extension_granted"
EXTENSION_EXCUSED = "extension_excused"
EXTENSION_DECLINED = "extension_declined"
EXTENSION_EXPIRED = "extension_expired"
# Workspace events
MEMBER_NOTICE = "member_notice"


@dataclass(frozen=True)
class Facts:
    """One outbox message's content: ``kind`` and its JSON ``values``."""

    kind: str
    values: dict[str, Any]


def facts(kind: str, /, **values: Any) -> Facts:
    """``values`` as JSON (dates as ISO text, dataclasses as objects) under ``kind``."""
    return Facts(kind, to_jsonable_python(values))
