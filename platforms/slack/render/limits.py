"""Check a rendered message against Slack's documented Block Kit limits.

Slack refuses a whole message (``invalid_blocks``) when one limit is broken, so renderers
are tested against this validator with extreme inputs. It checks the limits learnbot's
messages can reach, then lets ``slack_sdk``'s own model validation have a say.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

from platforms.slack.render.rendered import RenderedMessage

MAX_TEXT = 40_000  # Slack truncates message text beyond this
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_TEXT_OBJECT = 3000
MAX_BLOCK_ID = 255
MAX_ACTION_ID = 255
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_URL = 3000
MAX_PLACEHOLDER = 150
MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150

SELECTS_WITH_OPTIONS = ("static_select", "multi_static_select", "overflow", "radio_buttons")


def block_kit_problems(message: RenderedMessage) -> list[str]:
    """Every way ``message`` breaks Slack's limits; empty when it is fine to post.

    Args:
        message: A rendered message (blocks as dicts).

    Returns:
        Human-readable problems, each naming the block (by index and type) at fault.
    """
    problems: list[str] = []
    if not message.text or not message.text.strip():
        problems.append("fallback text is empty")
    elif len(message.text) > MAX_TEXT:
        problems.append(f"fallback text has {len(message.text)} characters, limit {MAX_TEXT}")
    if len(message.blocks) > MAX_BLOCKS:
        problems.append(f"{len(message.blocks)} blocks, limit {MAX_BLOCKS}")
    block_ids: set[str] = set()
    for index, block in enumerate(message.blocks):
        if not isinstance(block, dict) or "type" not in block:
            problems.append(f"block {index}: not a Block Kit object with a type")
            continue
        where = f"block {index} ({block['type']})"
        block_id = block.get("block_id")
        if block_id is not None:
            problems.extend(_too_long(where, "block_id", block_id, MAX_BLOCK_ID))
            if block_id in block_ids:
                problems.append(f"{where}: block_id {block_id!r} is not unique")
            block_ids.add(block_id)
        problems.extend(_block_problems(where, block))
        problems.extend(_sdk_problems(where, block))
    return problems


def _block_problems(where: str, block: dict[str, Any]) -> Iterator[str]:
    kind = block["type"]
    if kind == "section":
        text, fields = block.get("text"), block.get("fields")
        if text is None and not fields:
            yield f"{where}: needs text or fields"
        if text is not None:
            yield from _text_problems(where, "text", text, MAX_SECTION_TEXT)
        if fields:
            if len(fields) > MAX_SECTION_FIELDS:
                yield f"{where}: {len(fields)} fields, limit {MAX_SECTION_FIELDS}"
            for i, field in enumerate(fields):
                yield from _text_problems(where, f"field {i}", field, MAX_FIELD_TEXT)
        if block.get("accessory"):
            yield from _element_problems(f"{where} accessory", block["accessory"])
    elif kind == "header":
        yield from _text_problems(where, "text", block.get("text"), MAX_HEADER_TEXT)
        if isinstance(block.get("text"), dict) and block["text"].get("type") != "plain_text":
            yield f"{where}: header text must be plain_text"
    elif kind == "actions":
        elements = block.get("elements") or []
        if not elements:
            yield f"{where}: no elements"
        if len(elements) > MAX_ACTIONS_ELEMENTS:
            yield f"{where}: {len(elements)} elements, limit {MAX_ACTIONS_ELEMENTS}"
        action_ids: set[str] = set()
        for i, element in enumerate(elements):
            yield from _element_problems(f"{where} element {i}", element)
            action_id = element.get("action_id") if isinstance(element, dict) else None
            if action_id is not None:
                if action_id in action_ids:
                    yield f"{where}: action_id {action_id!r} is not unique in the block"
                action_ids.add(action_id)
    elif kind == "context":
        elements = block.get("elements") or []
        if not elements:
            yield f"{where}: no elements"
        if len(elements) > MAX_CONTEXT_ELEMENTS:
            yield f"{where}: {len(elements)} elements, limit {MAX_CONTEXT_ELEMENTS}"
        for i, element in enumerate(elements):
            if isinstance(element, dict) and element.get("type") in ("mrkdwn", "plain_text"):
                yield from _text_problems(where, f"element {i}", element, MAX_TEXT_OBJECT)


def _element_problems(where: str, element: Any) -> Iterator[str]:
    if not isinstance(element, dict):
        yield f"{where}: not an object"
        return
    kind = element.get("type")
    if element.get("action_id") is not None:
        yield from _too_long(where, "action_id", element["action_id"], MAX_ACTION_ID)
    if element.get("url") is not None:
        yield from _too_long(where, "url", element["url"], MAX_URL)
    if element.get("placeholder") is not None:
        yield from _text_problems(where, "placeholder", element["placeholder"], MAX_PLACEHOLDER)
    if kind == "button":
        yield from _text_problems(where, "text", element.get("text"), MAX_BUTTON_TEXT)
        if element.get("value") is not None:
            yield from _too_long(where, "value", element["value"], MAX_BUTTON_VALUE)
    if kind in SELECTS_WITH_OPTIONS:
        options = list(element.get("options") or [])
        for group in element.get("option_groups") or []:
            options.extend(group.get("options") or [])
        if len(options) > MAX_OPTIONS:
            yield f"{where}: {len(options)} options, limit {MAX_OPTIONS}"
        for i, option in enumerate(options):
            text, value = option.get("text"), option.get("value")
            yield from _text_problems(where, f"option {i} text", text, MAX_OPTION_TEXT)
            yield from _too_long(where, f"option {i} value", value, MAX_OPTION_VALUE)


def _text_problems(where: str, what: str, text: Any, limit: int) -> Iterator[str]:
    value = text.get("text") if isinstance(text, dict) else text
    if not isinstance(value, str) or not value:
        yield f"{where}: {what} is missing or empty"
        return
    yield from _too_long(where, what, value, limit)


def _too_long(where: str, what: str, value: Any, limit: int) -> Iterator[str]:
    if not isinstance(value, str):
        yield f"{where}: {what} is not a string"
    elif len(value) > limit:
        yield f"{where}: {what} has {len(value)} characters, limit {limit}"


def _sdk_problems(where: str, block: dict[str, Any]) -> Iterator[str]:
    """What ``slack_sdk`` says when it rebuilds and serialises the block."""
    try:
        parsed = Block.parse(copy.deepcopy(block))
        if parsed is not None:
            parsed.to_dict()
    except SlackObjectFormationError as error:
        yield f"{where}: slack_sdk: {error}"
    except (TypeError, KeyError, AttributeError, ValueError) as error:
        yield f"{where}: slack_sdk cannot read it: {error!r}"


# --- views (App Home, modals) ------------------------------------------------------

MAX_VIEW_BLOCKS = 100
MAX_VIEW_TITLE = 24  # a modal's title, submit and close texts
MAX_PRIVATE_METADATA = 3000
MAX_CALLBACK_ID = 255
VIEW_TYPES = ("home", "modal")


def view_problems(view: dict[str, Any]) -> list[str]:
    """Every way ``view`` (a ``views.publish`` / ``views.open`` view as a dict) breaks
    Slack's limits; empty when Slack will take it.

    The blocks get the same checks as ``block_kit_problems``, with the views' limit of
    100 blocks instead of a message's 50.
    """
    problems: list[str] = []
    kind = view.get("type")
    if kind not in VIEW_TYPES:
        problems.append(f"view type {kind!r} is not one of {', '.join(VIEW_TYPES)}")
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        return [*problems, "view has no list of blocks"]
    if len(blocks) > MAX_VIEW_BLOCKS:
        problems.append(f"{len(blocks)} blocks, limit {MAX_VIEW_BLOCKS}")
    if kind == "modal":
        problems.extend(_text_problems("modal", "title", view.get("title"), MAX_VIEW_TITLE))
        for what in ("submit", "close"):
            if view.get(what) is not None:
                problems.extend(_text_problems("modal", what, view[what], MAX_VIEW_TITLE))
        if any(isinstance(b, dict) and b.get("type") == "input" for b in blocks) and not view.get(
            "submit"
        ):
            problems.append("modal: input blocks need a submit button")
    if view.get("private_metadata") is not None:
        problems.extend(
            _too_long("view", "private_metadata", view["private_metadata"], MAX_PRIVATE_METADATA)
        )
    if view.get("callback_id") is not None:
        problems.extend(_too_long("view", "callback_id", view["callback_id"], MAX_CALLBACK_ID))
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        if not isinstance(block, dict) or "type" not in block:
            problems.append(f"block {index}: not a Block Kit object with a type")
            continue
        where = f"block {index} ({block['type']})"
        block_id = block.get("block_id")
        if block_id is not None:
            problems.extend(_too_long(where, "block_id", block_id, MAX_BLOCK_ID))
            if block_id in block_ids:
                problems.append(f"{where}: block_id {block_id!r} is not unique")
            block_ids.add(block_id)
        problems.extend(_block_problems(where, block))
        problems.extend(_sdk_problems(where, block))
    return problems
