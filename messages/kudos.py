"""Everything learnbot says about kudos: the recognition post, the recipient's DM, the
giver's confirmation, and the "Give kudos" message shortcut's modal. Names and reasons
are escaped; public posts carry good news only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    UserSelectElement,
)
from slack_sdk.models.views import View

from messages import ids
from messages.rendered import ELLIPSIS, RenderedMessage, escape_mrkdwn, sections_message, truncate


def clean_reason(text: str | None) -> str:
    """A kudos reason as stored and shown: whitespace runs (and NUL, which no database
    keeps) as one space."""
    return " ".join((text or "").replace("\x00", " ").split())


SECTION_MAX = 3000
NAME_MAX = 80
REASON_MAX = 500


def _clean(text: str, limit: int) -> str:
    return escape_mrkdwn(truncate(" ".join(text.split()) or "-", limit))


def _who(name: str, slack_user_id: str | None) -> str:
    """A mention when the person is on Slack, else their name in bold."""
    if slack_user_id:
        return f"<@{slack_user_id}>"
    return f"*{_clean(name, NAME_MAX)}*"


_message = sections_message


def _quote(reason: str) -> str:
    return "> " + _clean(reason, REASON_MAX)


def kudos_post_message(
    *,
    giver_name: str | None,
    giver_slack_id: str | None,
    recipient_name: str,
    recipient_slack_id: str | None,
    reason: str,
) -> RenderedMessage:
    """The recognition channel post; ``giver_name`` None shows the giver as "a colleague"
    (they keep out of public posts)."""
    giver = _who(giver_name, giver_slack_id) if giver_name is not None else "A colleague"
    recipient = _who(recipient_name, recipient_slack_id)
    fallback_giver = giver_name if giver_name is not None else "A colleague"
    return _message(
        f"{fallback_giver} gave kudos to {recipient_name}: {truncate(reason, REASON_MAX)}",
        f":clap: {giver} gave kudos to {recipient}",
        _quote(reason),
    )


def kudos_dm_message(
    *, giver_name: str, giver_slack_id: str | None, reason: str, channel: str | None
) -> RenderedMessage:
    """The recipient's DM; ``channel`` is where it was also posted (None: nowhere)."""
    giver = _who(giver_name, giver_slack_id)
    note = f"It is also celebrated in {escape_mrkdwn(channel)}." if channel else None
    return _message(
        f"{giver_name} gave you kudos: {truncate(reason, REASON_MAX)}",
        f":clap: {giver} gave you kudos!",
        _quote(reason),
        note=note,
    )


def kudos_given_message(
    *, recipient_name: str, recipient_slack_id: str | None, channel: str | None, left_today: int
) -> RenderedMessage:
    """The giver's private confirmation."""
    recipient = _who(recipient_name, recipient_slack_id)
    where = (
        f"They got a DM and it is posted in {escape_mrkdwn(channel)}."
        if channel
        else "They got a DM (no public post: they keep out of public posts, or there is "
        "no recognition channel)."
    )
    left = "That was your last for today."
    if left_today:
        left = f"You can give {left_today} more today."
    return _message(
        f"Kudos sent to {recipient_name}.",
        f":clap: Kudos sent to {recipient}. {where}",
        note=left,
    )


# --- the "Give kudos" message shortcut's modal -------------------------------------------

EXCERPT_MAX = 150
UNKNOWN_GIVER_TITLE = "Give kudos"


@dataclass(frozen=True)
class KudosModalMetadata:
    """Where the shortcut was used: the message's channel and ``ts`` (empty if unknown)."""

    channel_id: str = ""
    message_ts: str = ""

    def dump(self) -> str:
        return json.dumps({"c": self.channel_id, "ts": self.message_ts}, separators=(",", ":"))

    @classmethod
    def load(cls, text: str) -> KudosModalMetadata:
        """Parse ``private_metadata``.

        Raises:
            ValueError: it is not what ``dump`` wrote.
        """
        try:
            data = json.loads(text)
            return cls(str(data.get("c") or ""), str(data.get("ts") or ""))
        except (AttributeError, TypeError, ValueError) as error:
            raise ValueError(f"not kudos modal metadata: {text[:100]!r}") from error


@dataclass(frozen=True)
class KudosForm:
    """The kudos modal's answers: the picked user's Slack id and the reason (whitespace
    collapsed); empty strings when missing."""

    recipient_slack_id: str
    reason: str


def read_kudos_form(values: dict[str, Any]) -> KudosForm:
    """The answers in the kudos modal's ``view.state.values``."""
    recipient = (values.get(ids.KUDOS_RECIPIENT_BLOCK) or {}).get(ids.KUDOS_RECIPIENT_ACTION) or {}
    reason = (values.get(ids.KUDOS_REASON_BLOCK) or {}).get(ids.KUDOS_REASON_ACTION) or {}
    return KudosForm(
        recipient_slack_id=str(recipient.get("selected_user") or ""),
        reason=clean_reason(str(reason.get("value") or "")),
    )


def message_excerpt(text: str, limit: int = EXCERPT_MAX) -> str:
    """The start of a Slack message's text on one line, at most ``limit`` characters.

    The text is already Slack markup (mentions, links, ``&amp;``), so it is kept as it is;
    a cut never ends inside a ``<...>`` mention or link or an ``&...;`` entity, which would
    show as broken markup.
    """
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    opened = cut.rfind("<")
    if opened > cut.rfind(">"):
        cut = cut[:opened]
    entity = cut.rfind("&")
    if entity > cut.rfind(";"):
        cut = cut[:entity]
    return cut.rstrip() + ELLIPSIS


def _on_message(author_slack_id: str | None, channel_id: str, message_text: str) -> str:
    whose = f"<@{author_slack_id}>'s message" if author_slack_id else "a message"
    # Only public and private channels render as a #name; a DM id would show raw.
    where = f" in <#{channel_id}>" if channel_id[:1] in ("C", "G") else ""
    excerpt = message_excerpt(message_text)
    quoted = f": “{excerpt}”" if excerpt else ""
    return f"On {whose}{where}{quoted}"


def give_kudos_modal(
    *,
    author_slack_id: str | None,
    channel_id: str,
    message_text: str,
    recognition_channel: str | None,
    metadata: KudosModalMetadata,
) -> dict[str, Any]:
    """The "Give kudos" form (``views.open`` view): who (preset to ``author_slack_id``,
    none when None) and what for, under a line quoting the start of the message."""
    where = (
        f"They get a DM, and it is celebrated in {recognition_channel} "
        "unless they keep out of public posts."
        if recognition_channel
        else "They get a DM."
    )
    blocks: list[Block] = [
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=truncate(_on_message(author_slack_id, channel_id, message_text), 2000)
                )
            ]
        ),
        InputBlock(
            block_id=ids.KUDOS_RECIPIENT_BLOCK,
            label="Who gets the kudos?",
            element=UserSelectElement(
                action_id=ids.KUDOS_RECIPIENT_ACTION,
                placeholder="Pick a person",
                initial_user=author_slack_id,
            ),
        ),
        InputBlock(
            block_id=ids.KUDOS_REASON_BLOCK,
            label="What are they for?",
            hint=truncate(where, 2000),
            element=PlainTextInputElement(
                action_id=ids.KUDOS_REASON_ACTION,
                multiline=True,
                max_length=REASON_MAX,
                placeholder="Thanks for…",
            ),
        ),
    ]
    return View(
        type="modal",
        callback_id=ids.KUDOS_MODAL,
        title=PlainTextObject(text="Give kudos"),
        submit=PlainTextObject(text="Send kudos"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=metadata.dump(),
        blocks=blocks,
    ).to_dict()


def _notice_view(title: str, text: str, note: str | None = None) -> dict[str, Any]:
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=truncate(text, SECTION_MAX)))]
    if note:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=truncate(note, 2000))]))
    return View(
        type="modal",
        title=PlainTextObject(text=title),
        close=PlainTextObject(text="Close"),
        blocks=blocks,
    ).to_dict()


def kudos_unknown_giver_view(text: str) -> dict[str, Any]:
    """Shown instead of the form to someone learnbot does not know; ``text`` says why."""
    return _notice_view(UNKNOWN_GIVER_TITLE, escape_mrkdwn(text))


def kudos_sent_view(
    *, recipient_name: str, recipient_slack_id: str | None, channel: str | None, left_today: int
) -> dict[str, Any]:
    """The modal once the kudos are given (``response_action: update``)."""
    recipient = _who(recipient_name, recipient_slack_id)
    where = (
        f"posted in {escape_mrkdwn(channel)}."
        if channel
        else "sent privately (no public post: they keep out of public posts, or there is "
        "no recognition channel)."
    )
    left = (
        f"You can give {left_today} more today." if left_today else "That was your last for today."
    )
    return _notice_view("Kudos sent", f":clap: Kudos sent to {recipient}; {where}", note=left)
