"""Outbox rendering: turn a stored ``(kind, payload)`` into the message to post.

Each kind owns its payload shape; later issues add kinds here.
"""

from __future__ import annotations

from typing import Any

from learning.digest import Digest
from platforms.slack.render.digest import render_digest
from platforms.slack.render.escalation import render_escalation
from platforms.slack.render.rendered import RenderedMessage
from platforms.slack.render.weekly_digest import render_weekly_digest

KIND_DIGEST = "digest"  # payload: {"digest": Digest.to_json()}
KIND_TEXT = "text"  # payload: RenderedMessage.payload(): {"text": ..., "blocks": [...]}
KIND_ESCALATION = "escalation"  # payload: schedules.escalations.escalation_payload
KIND_WEEKLY_MANAGER = "weekly_manager"  # payload: schedules.weekly_digest


def render_outbox(
    kind: str, payload: dict[str, Any], *, home_url: str | None = None
) -> RenderedMessage:
    """Render an outbox entry.

    Args:
        kind: What the entry is (``"digest"``, ``"text"``).
        payload: The entry's stored JSON.
        home_url: The learnbot Home tab link, for renderers that point there.

    Returns:
        The fallback text and blocks to post.

    Raises:
        ValueError: ``kind`` is unknown or ``payload`` does not fit it.
    """
    if kind == KIND_DIGEST:
        if not isinstance(payload.get("digest"), dict):
            raise ValueError("a digest payload needs a 'digest' object")
        return render_digest(Digest.from_json(payload["digest"]), home_url=home_url)
    if kind == KIND_TEXT:
        return render_text(payload)
    if kind == KIND_ESCALATION:
        return render_escalation(payload, home_url=home_url)
    if kind == KIND_WEEKLY_MANAGER:
        return render_weekly_digest(payload, home_url=home_url)
    raise ValueError(f"unknown outbox kind {kind!r}")


def render_text(payload: dict[str, Any]) -> RenderedMessage:
    """A message a renderer made and the outbox kept: ``{"text": ..., "blocks": [...]}``,
    blocks optional. Stored text is taken back through ``Mrkdwn.from_stored``, so only
    the mentions and links a renderer builds stay markup.

    Raises:
        ValueError: ``text`` is missing or blank, or ``blocks`` is not a list of objects.
    """
    text = payload.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a text payload needs a non-empty 'text'")
    return RenderedMessage.from_payload(payload)
