"""Everything learnbot says about kudos: the recognition post, the recipient's DM, the
giver's confirmation, and the "Give kudos" message shortcut's modal. Names and reasons
are escaped; public posts carry good news only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    InputBlock,
    PlainTextInputElement,
    PlainTextObject,
    UserSelectElement,
)
from slack_sdk.models.views import View

from learning.plain_text import one_line
from platforms.slack.render import ids
from platforms.slack.render.mrkdwn import (
    Mrkdwn,
    channel_mention,
    esc,
    is_user_id,
    md,
    mention,
    person,
)
from platforms.slack.render.rendered import (
    ELLIPSIS,
    RenderedMessage,
    check_view,
    context,
    section,
    sections_message,
    truncate,
)
from platforms.slack.text import NameOf, from_slack


def clean_reason(text: str | None) -> str:
    """A kudos reason as stored and shown: the giver's words on one line, control
    characters (NUL included, which no database keeps) and whitespace runs as one space."""
    return one_line(text)


SECTION_MAX = 3000
NAME_MAX = 80
REASON_MAX = 500


def _clean(text: str, limit: int) -> Mrkdwn:
    return esc(truncate(" ".join(text.split()) or "-", limit))


def _who(name: str, slack_user_id: str | None) -> Mrkdwn:
    """A mention when the person is on Slack, else their name in bold."""
    return person(name, slack_user_id, limit=NAME_MAX)


_message = sections_message


def _quote(reason: str) -> Mrkdwn:
    return md("> {reason}", reason=_clean(reason, REASON_MAX))


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
    giver = _who(giver_name, giver_slack_id) if giver_name is not None else md("A colleague")
    recipient = _who(recipient_name, recipient_slack_id)
    fallback_giver = giver_name if giver_name is not None else "A colleague"
    return _message(
        md(
            "{giver} gave kudos to {recipient}: {reason}",
            giver=fallback_giver,
            recipient=recipient_name,
            reason=truncate(reason, REASON_MAX),
        ),
        md(":clap: {giver} gave kudos to {recipient}", giver=giver, recipient=recipient),
        _quote(reason),
    )


def kudos_dm_message(
    *, giver_name: str, giver_slack_id: str | None, reason: str, channel: str | None
) -> RenderedMessage:
    """The recipient's DM; ``channel`` is where it was also posted (None: nowhere)."""
    giver = _who(giver_name, giver_slack_id)
    note = md("It is also celebrated in {channel}.", channel=channel) if channel else None
    return _message(
        md(
            "{giver} gave you kudos: {reason}",
            giver=giver_name,
            reason=truncate(reason, REASON_MAX),
        ),
        md(":clap: {giver} gave you kudos!", giver=giver),
        _quote(reason),
        note=note,
    )


def kudos_given_message(
    *, recipient_name: str, recipient_slack_id: str | None, channel: str | None, left_today: int
) -> RenderedMessage:
    """The giver's private confirmation."""
    recipient = _who(recipient_name, recipient_slack_id)
    where = (
        md("They got a DM and it is posted in {channel}.", channel=channel)
        if channel
        else md(
            "They got a DM (no public post: they keep out of public posts, or there is "
            "no recognition channel)."
        )
    )
    left = md("That was your last for today.")
    if left_today:
        left = md("You can give {left} more today.", left=left_today)
    return _message(
        md("Kudos sent to {recipient}.", recipient=recipient_name),
        md(":clap: Kudos sent to {recipient}. {where}", recipient=recipient, where=where),
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


def message_excerpt(text: str, limit: int = EXCERPT_MAX, *, name_of: NameOf | None = None) -> str:
    """The start of a Slack message's text on one line, at most ``limit`` characters, as
    the plain words people see: its mentions and links are Slack markup someone else
    wrote, so they are read back as words ("@Grace Nguyen", "release notes
    (https://…)") and escaped again where the excerpt is shown, never passed on as markup.
    ``name_of`` names the people it mentions."""
    flat = one_line(from_slack(text, name_of=name_of))
    if len(flat) <= limit:
        return flat
    return flat[: limit - 1].rstrip() + ELLIPSIS


def _on_message(
    author_slack_id: str | None, channel_id: str, message_text: str, name_of: NameOf | None
) -> Mrkdwn:
    whose = (
        md("{author}'s message", author=mention(author_slack_id))
        if author_slack_id and is_user_id(author_slack_id)
        else md("a message")
    )
    # Only public and private channels render as a #name; a DM id would show raw.
    try:
        where = md(" in {channel}", channel=channel_mention(channel_id))
    except ValueError:
        where = md("")
    excerpt = message_excerpt(message_text, name_of=name_of)
    quoted = md(": “{excerpt}”", excerpt=excerpt) if excerpt else md("")
    return md("On {whose}{where}{quoted}", whose=whose, where=where, quoted=quoted)


def give_kudos_modal(
    *,
    author_slack_id: str | None,
    channel_id: str,
    message_text: str,
    recognition_channel: str | None,
    metadata: KudosModalMetadata,
    name_of: NameOf | None = None,
) -> dict[str, Any]:
    """The "Give kudos" form (``views.open`` view): who (preset to ``author_slack_id``,
    none when None) and what for, under a line quoting the start of the message as plain
    words (``name_of`` names the people it mentions)."""
    where = (
        f"They get a DM, and it is celebrated in {recognition_channel} "
        "unless they keep out of public posts."
        if recognition_channel
        else "They get a DM."
    )
    blocks: list[Block] = [
        context(truncate(_on_message(author_slack_id, channel_id, message_text, name_of), 2000)),
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
    return check_view(
        View(
            type="modal",
            callback_id=ids.KUDOS_MODAL,
            title=PlainTextObject(text="Give kudos"),
            submit=PlainTextObject(text="Send kudos"),
            close=PlainTextObject(text="Cancel"),
            private_metadata=metadata.dump(),
            blocks=blocks,
        )
    )


def _notice_view(title: str, text: Mrkdwn, note: Mrkdwn | None = None) -> dict[str, Any]:
    blocks: list[Block] = [section(truncate(text, SECTION_MAX))]
    if note:
        blocks.append(context(truncate(note, 2000)))
    return check_view(
        View(
            type="modal",
            title=PlainTextObject(text=title),
            close=PlainTextObject(text="Close"),
            blocks=blocks,
        )
    )


def kudos_unknown_giver_view(text: str) -> dict[str, Any]:
    """Shown instead of the form to someone learnbot does not know; ``text`` says why."""
    return _notice_view(UNKNOWN_GIVER_TITLE, esc(text))


def kudos_sent_view(
    *, recipient_name: str, recipient_slack_id: str | None, channel: str | None, left_today: int
) -> dict[str, Any]:
    """The modal once the kudos are given (``response_action: update``)."""
    recipient = _who(recipient_name, recipient_slack_id)
    where = (
        md("posted in {channel}.", channel=channel)
        if channel
        else md(
            "sent privately (no public post: they keep out of public posts, or there is "
            "no recognition channel)."
        )
    )
    left = (
        md("You can give {left} more today.", left=left_today)
        if left_today
        else md("That was your last for today.")
    )
    return _notice_view(
        "Kudos sent",
        md(":clap: Kudos sent to {recipient}; {where}", recipient=recipient, where=where),
        note=left,
    )
