"""Everything learnbot says about kudos: the recognition post, the recipient's DM and the
giver's confirmation. Names and reasons are escaped; public posts carry good news only."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from messages.rendered import RenderedMessage, escape_mrkdwn, truncate

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


def _message(text: str, *paragraphs: str, note: str | None = None) -> RenderedMessage:
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=truncate(p, SECTION_MAX)))
        for p in paragraphs
        if p.strip()
    ]
    if note:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=truncate(note, 2000))]))
    return RenderedMessage(text=truncate(text, SECTION_MAX), blocks=[b.to_dict() for b in blocks])


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
