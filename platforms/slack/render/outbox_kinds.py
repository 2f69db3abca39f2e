"""The Slack renderers of the outbox's fact kinds (``learning.outbox_kinds``), at send time.

Each kind's facts are the keyword arguments of the renderer named here (names, titles,
reasons, dates and Slack user ids as the domain stored them, plain text);
``keyword_facts`` checks them against its annotations and the renderer escapes them.
A new kind gets one entry here and a constant in ``learning.outbox_kinds``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from learning import outbox_kinds as kinds
from learning.certifications import Requirement, Standing
from platforms.slack.render import certifications, extensions, kudos, members, mentoring
from platforms.slack.render import peer_prompts as peer
from platforms.slack.render.game_board import render_game_board
from platforms.slack.render.mrkdwn import Mrkdwn
from platforms.slack.render.render import keyword_facts, register
from platforms.slack.render.rendered import RenderedMessage


def _text_only(function: Callable[..., Mrkdwn]) -> Callable[..., RenderedMessage]:
    """A renderer of one mrkdwn line as a message without blocks (the text is the message)."""

    @wraps(function)
    def render(*args: Any, **kwargs: Any) -> RenderedMessage:
        return RenderedMessage(text=function(*args, **kwargs), blocks=[])

    return render


@wraps(peer.intro_message)
def _follow_up(**facts: Any) -> RenderedMessage:
    message = peer.intro_message(**facts)
    if message is None:
        raise ValueError("a peer follow-up needs helpers or learners to introduce")
    return message


KINDS: dict[str, Callable[..., RenderedMessage]] = {
    kinds.CERT_AWARD_HOLDER: certifications.award_holder_message,
    kinds.CERT_AWARD_MANAGER: certifications.award_manager_message,
    kinds.CERT_SHOUTOUT: certifications.shoutout_message,
    kinds.CERT_MILESTONE: certifications.milestone_message,
    kinds.CERT_WINDOW: certifications.window_message,
    kinds.CERT_LAPSED_HOLDER: certifications.lapsed_holder_message,
    kinds.CERT_LAPSED_MANAGER: certifications.lapsed_manager_message,
    kinds.POST_FAILED: certifications.post_failed_message,
    kinds.KUDOS_POST: kudos.kudos_post_message,
    kinds.KUDOS_DM: kudos.kudos_dm_message,
    kinds.GAME_BOARD: render_game_board,
    kinds.PAIRING_INTRO: mentoring.pairing_intro_message,
    kinds.PEER_PROMPT: peer.prompt_message,
    kinds.EXTENSION_REQUEST: extensions.request_card,
    kinds.EXTENSION_REMINDER: _text_only(extensions.reminder_text),
    kinds.EXTENSION_GRANTED: _text_only(extensions.extended_text),
    kinds.EXTENSION_EXCUSED: _text_only(extensions.excused_text),
    kinds.EXTENSION_DECLINED: _text_only(extensions.declined_text),
    kinds.EXTENSION_EXPIRED: _text_only(extensions.expired_text),
    kinds.MEMBER_NOTICE: members.render_join_notice,
}

_TYPES = {"Standing": Standing, "Requirement": Requirement}  # imported for type checking there

for _kind, _render in KINDS.items():
    register(_kind, keyword_facts(_render, **_TYPES))
register(kinds.PEER_FOLLOW_UP, keyword_facts(_follow_up))
