"""Modals: the Done form of a digest item, and the metadata it carries to its submission.

Built with ``slack_sdk.models`` classes only. Block and action ids are in ``messages.ids``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    InputBlock,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    UrlInputElement,
)
from slack_sdk.models.views import View

from learning.plain_text import multiline
from platforms.slack.render import ids
from platforms.slack.render.digest import method_label
from platforms.slack.render.mrkdwn import http_url, link, md
from platforms.slack.render.rendered import check_view, context, section, truncate

RATING_LABELS: tuple[tuple[int, str], ...] = (
    (1, "1 · Not useful"),
    (2, "2 · A little useful"),
    (3, "3 · Useful"),
    (4, "4 · Very useful"),
    (5, "5 · Extremely useful"),
)
COMMENT_MAX = 1000
TITLE_MAX = 200


@dataclass(frozen=True)
class DoneModalMetadata:
    """What the Done modal's submission needs: the assignment and the DM to update.

    ``channel_id`` and ``message_ts`` are empty when Done was clicked outside a DM (App Home).
    """

    assignment_id: int
    channel_id: str = ""
    message_ts: str = ""

    def dump(self) -> str:
        return json.dumps(
            {"a": self.assignment_id, "c": self.channel_id, "ts": self.message_ts},
            separators=(",", ":"),
        )

    @classmethod
    def load(cls, text: str) -> DoneModalMetadata:
        """Parse ``private_metadata``.

        Raises:
            ValueError: it is not what ``dump`` wrote.
        """
        try:
            data = json.loads(text)
            return cls(int(data["a"]), str(data.get("c") or ""), str(data.get("ts") or ""))
        except (TypeError, KeyError, json.JSONDecodeError) as error:
            raise ValueError(f"not Done modal metadata: {text[:100]!r}") from error


def done_modal(
    *,
    title: str,
    method: str,
    url: str | None,
    assessment: bool,
    metadata: DoneModalMetadata,
) -> dict[str, Any]:
    """The Done form of one item, as a ``views.open`` view.

    Every input is optional: an evidence link, a score (only for assessments), a 1-5
    rating "How useful was this?" and a comment.
    """
    shown = truncate(" ".join(title.split()) or "this item", TITLE_MAX)
    heading = link(url if http_url(url, max_length=1000) else None, shown)
    blocks: list[Any] = [
        section(md("*{heading}*", heading=heading)),
        context(md("{method}", method=truncate(method_label(method), 60))),
        InputBlock(
            block_id=ids.DONE_EVIDENCE_BLOCK,
            label="Evidence link",
            optional=True,
            hint="A certificate, a write-up or anything that shows the work (optional).",
            element=UrlInputElement(action_id=ids.DONE_EVIDENCE_ACTION, placeholder="https://…"),
        ),
    ]
    if assessment:
        blocks.append(
            InputBlock(
                block_id=ids.DONE_SCORE_BLOCK,
                label="Your score (0-100)",
                optional=True,
                element=NumberInputElement(
                    action_id=ids.DONE_SCORE_ACTION,
                    is_decimal_allowed=True,
                    min_value="0",
                    max_value="100",
                ),
            )
        )
    blocks.extend(
        [
            InputBlock(
                block_id=ids.DONE_RATING_BLOCK,
                label="How useful was this?",
                optional=True,
                element=RadioButtonsElement(
                    action_id=ids.DONE_RATING_ACTION,
                    options=[
                        Option(value=str(value), label=label) for value, label in RATING_LABELS
                    ],
                ),
            ),
            InputBlock(
                block_id=ids.DONE_COMMENT_BLOCK,
                label="Anything to add?",
                optional=True,
                element=PlainTextInputElement(
                    action_id=ids.DONE_COMMENT_ACTION,
                    multiline=True,
                    max_length=COMMENT_MAX,
                    placeholder="What worked, what didn't (optional)",
                ),
            ),
        ]
    )
    view = View(
        type="modal",
        callback_id=ids.DONE_MODAL,
        title=PlainTextObject(text="Mark as done"),
        submit=PlainTextObject(text="Done"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=metadata.dump(),
        blocks=blocks,
    )
    return check_view(view)


@dataclass(frozen=True)
class DoneForm:
    """The Done modal's answers, as typed (empty string when left blank)."""

    evidence_url: str
    score: str
    rating: str
    comment: str


def read_done_form(values: dict[str, Any]) -> DoneForm:
    """The answers in a Done modal's ``view.state.values``."""

    def value(block: str, action: str, key: str = "value") -> str:
        element = (values.get(block) or {}).get(action) or {}
        if key == "selected_option":
            option = element.get("selected_option") or {}
            return str(option.get("value") or "")
        found = element.get(key)
        return "" if found is None else str(found)

    return DoneForm(
        evidence_url=value(ids.DONE_EVIDENCE_BLOCK, ids.DONE_EVIDENCE_ACTION).strip(),
        score=value(ids.DONE_SCORE_BLOCK, ids.DONE_SCORE_ACTION).strip(),
        rating=value(ids.DONE_RATING_BLOCK, ids.DONE_RATING_ACTION, "selected_option"),
        # The person's words as plain text: control characters (NUL included) removed.
        comment=multiline(value(ids.DONE_COMMENT_BLOCK, ids.DONE_COMMENT_ACTION)),
    )
