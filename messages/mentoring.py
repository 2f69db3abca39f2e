"""Everything learnbot says about mentor pairing: the group DM that introduces a learner
to their mentor, the learner's private answers to "Find a mentor", and ``/learn mentor``.

Names and titles are escaped; people on Slack are mentioned, so the group DM names both.
"""

from __future__ import annotations

from learning.command_parser import COMMAND
from messages.rendered import (
    RenderedMessage,
    escape_mrkdwn,
    mrkdwn_link,
    sections_message,
    truncate,
)

SECTION_MAX = 3000
NAME_MAX = 80
TITLE_MAX = 200
LINK_URL_MAX = 1000

CERTIFIED, OFFERED_HELP = "certified", "offered_help"  # as in learning.mentoring

# Refusals (typed errors in learning.mentoring carry these words).
NOT_YOURS = "You can only find a mentor for your own items."
SWITCHED_OFF = "Mentor pairing is switched off here, so I can't find you a mentor."
NOT_ON_SLACK = "I can only pair people who are on Slack, and I don't have you on Slack here."


def not_open_text(title: str) -> str:
    """The item is done, waived or no longer on the path."""
    return (
        f"“{_clean(title, TITLE_MAX)}” is no longer open (done, waived or off your path), "
        "so there is nothing to find a mentor for."
    )


def _clean(text: str, limit: int) -> str:
    return escape_mrkdwn(truncate(" ".join(text.split()) or "-", limit))


def _who(name: str, slack_user_id: str | None) -> str:
    """A mention when the person is on Slack, else their name in bold."""
    if slack_user_id:
        return f"<@{slack_user_id}>"
    return f"*{_clean(name, NAME_MAX)}*"


def _item(title: str, url: str | None) -> str:
    """The item's title in bold, linked when it has a usable url."""
    label = truncate(" ".join(title.split()) or "-", TITLE_MAX)
    if url and len(url) <= LINK_URL_MAX:
        return f"*{mrkdwn_link(url, label)}*"
    return f"*{escape_mrkdwn(label)}*"


_message = sections_message


def pairing_intro_message(
    *,
    learner_name: str,
    learner_slack_id: str,
    mentor_name: str,
    mentor_slack_id: str,
    item_title: str,
    item_url: str | None,
    reason: str,
    certification_title: str | None,
) -> RenderedMessage:
    """The group DM with the learner, the mentor and learnbot that starts the pairing."""
    learner = _who(learner_name, learner_slack_id)
    mentor = _who(mentor_name, mentor_slack_id)
    item = _item(item_title, item_url)
    if reason == CERTIFIED and certification_title:
        why = (
            f"{mentor} holds the *{_clean(certification_title, TITLE_MAX)}* certification, "
            "which covers it."
        )
    elif reason == CERTIFIED:
        why = f"{mentor} is certified in it."
    else:
        why = f"{mentor} offered to help with it when it came up in the community channel."
    return _message(
        f"{learner_name} is learning {truncate(' '.join(item_title.split()), TITLE_MAX)} "
        f"and asked for a mentor: meet {mentor_name}.",
        f":handshake: {learner}, meet {mentor}!",
        f"{learner} is working on {item} and asked for a mentor. {why}",
        "*Suggested next step:* a 30-minute call this week. "
        f"{mentor}, share how you approached it and what you wish you had known; "
        f"{learner}, bring your questions.",
        note="learnbot paired you because of the “Find a mentor” button. Not a good time? "
        "Just say so here, no hard feelings. "
        f"`{COMMAND} mentor off` stops new pairings as a mentor.",
    )


def paired_message(
    *, mentor_name: str, mentor_slack_id: str, item_title: str, already: bool
) -> RenderedMessage:
    """The learner's private answer: who their mentor is and where to find them."""
    mentor = _who(mentor_name, mentor_slack_id)
    title = _clean(item_title, TITLE_MAX)
    if already:
        return _message(
            f"You are already paired with {mentor_name} for {item_title}.",
            f"You are already paired with {mentor} for *{title}*: see your group DM with "
            "them (it has both of you and learnbot).",
        )
    return _message(
        f"I've paired you with {mentor_name} for {item_title}: see the group DM.",
        f":handshake: I've paired you with {mentor} for *{title}*: see the group DM with "
        "the two of you, where I've introduced you and suggested a first step.",
    )


def no_mentor_message(*, item_title: str, community_channel: str | None) -> RenderedMessage:
    """Nobody qualifies right now: say so kindly and suggest what to do instead."""
    title = _clean(item_title, TITLE_MAX)
    if community_channel:
        where = f"ask in {escape_mrkdwn(community_channel)}: someone there may know it"
    else:
        where = "ask your team or your manager who has done it before"
    return _message(
        f"I couldn't find a mentor for {item_title} right now.",
        f"I couldn't find a mentor for *{title}* right now: the colleagues who know it "
        "are away, already mentoring as much as they can this week, or not taking "
        "new pairings.",
        f"Meanwhile, {where}. You can also try the button again next week.",
    )


def refused_message(text: str) -> RenderedMessage:
    """A refusal (someone else's item, a closed item, mentoring switched off)."""
    return _message(text, escape_mrkdwn(text))


def mentoring_setting_message(
    *, available: bool, changed: bool, enabled: bool, weekly_cap: int
) -> RenderedMessage:
    """The answer to ``/learn mentor [on|off]``."""
    per_week = f"at most {weekly_cap} new {'learner' if weekly_cap == 1 else 'learners'} a week"
    if available:
        head = (
            ":handshake: Done: learnbot may pair you as a mentor with colleagues learning "
            "something you are certified in or offered to help with"
            if changed
            else "learnbot may pair you as a mentor with colleagues learning something you "
            "are certified in or offered to help with"
        )
        head += f" ({per_week})."
        note = f"`{COMMAND} mentor off` stops new pairings."
    else:
        head = (
            "Done: learnbot will not pair you with learners as a mentor."
            if changed
            else "learnbot does not pair you with learners as a mentor."
        )
        note = f"`{COMMAND} mentor on` to be available again."
    if not enabled:
        note = "Mentor pairing is switched off here at the moment. " + note
    return _message(head.replace(":handshake: ", ""), head, note=note)
