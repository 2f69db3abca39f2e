"""Outbox rendering for Slack: turn a stored ``(kind, facts)`` into the message to post.

``RENDERERS`` maps each outbox kind to its Block Kit renderer; the sender reaches it
through ``SlackRenderer`` (``delivery.rendering.Renderer``), at send time. Facts are
plain JSON written by the domain (``learning/``, ``schedules/``); every text in them is
escaped here. Kinds whose facts are a renderer's keyword arguments are read back through
that renderer's signature (``pydantic.validate_call``: ISO dates become dates again).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any, get_type_hints

from pydantic import ValidationError, validate_call
from slack_sdk.errors import SlackObjectFormationError

from delivery.rendering import RenderContext
from learning.digest import Digest
from platforms.slack.render.digest import render_digest
from platforms.slack.render.escalation import render_escalation
from platforms.slack.render.mrkdwn import esc
from platforms.slack.render.rendered import RenderedMessage
from platforms.slack.render.weekly_digest import render_weekly_digest

KIND_DIGEST = "digest"  # payload: {"digest": Digest.to_json()}
KIND_LEGACY_SLACK = "legacy_slack"  # rows queued before 0014: {"text": ..., "blocks": [...]}
KIND_TEXT = "text"  # the pre-0014 name of legacy_slack (migration 0014 renames the rows)
KIND_PLAIN = "plain"  # payload: {"text": plain text}; escaped, no blocks
KIND_ESCALATION = "escalation"  # payload: schedules.escalations.escalation_payload
KIND_WEEKLY_MANAGER = "weekly_manager"  # payload: schedules.weekly_digest

Render = Callable[[Mapping[str, Any], RenderContext], RenderedMessage]


def _digest(payload: Mapping[str, Any], context: RenderContext) -> RenderedMessage:
    if not isinstance(payload.get("digest"), dict):
        raise ValueError("a digest payload needs a 'digest' object")
    return render_digest(Digest.from_json(payload["digest"]), home_url=context.home_url)


def _plain(payload: Mapping[str, Any], context: RenderContext) -> RenderedMessage:
    text = payload.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a plain payload needs a non-empty 'text'")
    return RenderedMessage(text=esc(text), blocks=[])


def keyword_facts(function: Callable[..., RenderedMessage], **names: Any) -> Render:
    """A renderer whose facts are ``function``'s keyword arguments, checked and converted
    by its annotations (a missing or mistyped fact is a ``ValueError``). ``names`` resolve
    annotations its module imports only for type checking."""
    hints = get_type_hints(function, localns=names)
    hints.pop("return", None)

    @wraps(function)
    def call(**facts: Any) -> RenderedMessage:
        return function(**facts)

    call.__annotations__ = hints
    checked = validate_call(call)

    def render(payload: Mapping[str, Any], context: RenderContext) -> RenderedMessage:
        try:
            return checked(**payload)
        except ValidationError as error:
            raise ValueError(str(error)) from None

    return render


RENDERERS: dict[str, Render] = {
    KIND_DIGEST: _digest,
    KIND_LEGACY_SLACK: lambda payload, context: render_text(dict(payload)),
    KIND_TEXT: lambda payload, context: render_text(dict(payload)),
    KIND_PLAIN: _plain,
    KIND_ESCALATION: lambda payload, context: render_escalation(
        dict(payload), home_url=context.home_url
    ),
    KIND_WEEKLY_MANAGER: lambda payload, context: render_weekly_digest(
        payload, home_url=context.home_url
    ),
}


def register(kind: str, render: Render) -> None:
    """Add the renderer of ``kind`` (each renderer module registers its own kinds)."""
    if kind in RENDERERS and RENDERERS[kind] is not render:
        raise ValueError(f"outbox kind {kind!r} is already registered")
    RENDERERS[kind] = render


def render_outbox(
    kind: str, payload: Mapping[str, Any], *, home_url: str | None = None
) -> RenderedMessage:
    """Render an outbox entry.

    Args:
        kind: What the entry is (``"digest"``, ``"kudos_post"``, ...).
        payload: The entry's stored JSON facts.
        home_url: The learnbot Home tab link, for renderers that point there.

    Returns:
        The fallback text and blocks to post.

    Raises:
        ValueError: ``kind`` is unknown or ``payload`` does not fit it.
    """
    _load_kinds()
    render = RENDERERS.get(kind)
    if render is None:
        raise ValueError(f"unknown outbox kind {kind!r}")
    return render(payload, RenderContext(home_url=home_url))


class SlackRenderer:
    """The Slack adapter's ``delivery.rendering.Renderer``: Block Kit from facts."""

    def render(
        self, kind: str, facts: Mapping[str, Any], *, context: RenderContext
    ) -> RenderedMessage:
        try:
            return render_outbox(kind, facts, home_url=context.home_url)
        except SlackObjectFormationError as error:  # facts Block Kit cannot hold
            raise ValueError(f"{kind}: {error}") from None


def render_text(payload: dict[str, Any]) -> RenderedMessage:
    """A message the old code rendered and the outbox kept (kind ``legacy_slack``):
    ``{"text": ..., "blocks": [...]}``, blocks optional. Stored text is taken back
    through ``Mrkdwn.from_stored``, so only the mentions and links a renderer builds
    stay markup.

    Raises:
        ValueError: ``text`` is missing or blank, or ``blocks`` is not a list of objects.
    """
    text = payload.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a text payload needs a non-empty 'text'")
    return RenderedMessage.from_payload(payload)


def _load_kinds() -> None:
    """Import the renderer modules that register fact kinds (once; cheap afterwards)."""
    from platforms.slack.render import outbox_kinds  # noqa: F401
