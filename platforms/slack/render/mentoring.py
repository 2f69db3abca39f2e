"""Everything learnbot says about mentor pairing: the group DM that introduces a learner
to their mentor, the learner's private answers to "Find a mentor", and ``/learn mentor``.

Names and titles are escaped; people on Slack are mentioned, so the group DM names both.
"""

from __future__ import annotations

from learning.command_parser import COMMAND
from learning.mentoring import CERTIFIED, OFFERED_HELP  # noqa: F401 (the domain's reasons)
from platforms.slack.render.mrkdwn import Mrkdwn, esc, http_url, link, md, person
from platforms.slack.render.rendered import RenderedMessage, sections_message, truncate

SECTION_MAX = 3000
NAME_MAX = 80
TITLE_MAX = 200
LINK_URL_MAX = 1000


def _plain(text: str, limit: int) -> str:
    return truncate(" ".join(text.split()) or "-", limit)


def _clean(text: str, limit: int) -> Mrkdwn:
    return esc(_plain(text, limit))


def _who(name: str, slack_user_id: str | None) -> Mrkdwn:
    """A mention when the person is on Slack, else their name in bold."""
    return person(name, slack_user_id, limit=NAME_MAX)


def _item(title: str, url: str | None) -> Mrkdwn:
    """The item's title in bold, linked when it has a usable url."""
    label = _plain(title, TITLE_MAX)
    if http_url(url, max_length=LINK_URL_MAX):
        return md("*{link}*", link=link(url, label, max_url=LINK_URL_MAX))
    return md("*{title}*", title=label)


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
        why = md(
            "{mentor} holds the *{title}* certification, which covers it.",
            mentor=mentor,
            title=_clean(certification_title, TITLE_MAX),
        )
    elif reason == CERTIFIED:
        why = md("{mentor} is certified in it.", mentor=mentor)
    else:
        why = md(
            "{mentor} offered to help with it when it came up in the community channel.",
            mentor=mentor,
        )
    return _message(
        md(
            "{learner} is learning {item} and asked for a mentor: meet {mentor}.",
            learner=_plain(learner_name, NAME_MAX),
            item=_plain(item_title, TITLE_MAX),
            mentor=_plain(mentor_name, NAME_MAX),
        ),
        md(":handshake: {learner}, meet {mentor}!", learner=learner, mentor=mentor),
        md(
            "{learner} is working on {item} and asked for a mentor. {why}",
            learner=learner,
            item=item,
            why=why,
        ),
        md(
            "*Suggested next step:* a 30-minute call this week. "
            "{mentor}, share how you approached it and what you wish you had known; "
            "{learner}, bring your questions.",
            mentor=mentor,
            learner=learner,
        ),
        note=md(
            "learnbot paired you because of the “Find a mentor” button. Not a good time? "
            "Just say so here, no hard feelings. "
            "`{command} mentor off` stops new pairings as a mentor.",
            command=COMMAND,
        ),
    )


def paired_message(
    *, mentor_name: str, mentor_slack_id: str, item_title: str, already: bool
) -> RenderedMessage:
    """The learner's private answer: who their mentor is and where to find them."""
    mentor = _who(mentor_name, mentor_slack_id)
    title = _clean(item_title, TITLE_MAX)
    plain_mentor, plain_title = _plain(mentor_name, NAME_MAX), _plain(item_title, TITLE_MAX)
    if already:
        return _message(
            md(
                "You are already paired with {mentor} for {title}.",
                mentor=plain_mentor,
                title=plain_title,
            ),
            md(
                "You are already paired with {mentor} for *{title}*: see your group DM with "
                "them (it has both of you and learnbot).",
                mentor=mentor,
                title=title,
            ),
        )
    return _message(
        md(
            "I've paired you with {mentor} for {title}: see the group DM.",
            mentor=plain_mentor,
            title=plain_title,
        ),
        md(
            ":handshake: I've paired you with {mentor} for *{title}*: see the group DM with "
            "the two of you, where I've introduced you and suggested a first step.",
            mentor=mentor,
            title=title,
        ),
    )


def no_mentor_message(*, item_title: str, community_channel: str | None) -> RenderedMessage:
    """Nobody qualifies right now: say so kindly and suggest what to do instead."""
    title = _clean(item_title, TITLE_MAX)
    if community_channel:
        where = md(
            "ask in {channel}: someone there may know it", channel=_plain(community_channel, 200)
        )
    else:
        where = md("ask your team or your manager who has done it before")
    return _message(
        md(
            "I couldn't find a mentor for {title} right now.",
            title=_plain(item_title, TITLE_MAX),
        ),
        md(
            "I couldn't find a mentor for *{title}* right now: the colleagues who know it "
            "are away, already mentoring as much as they can this week, or not taking "
            "new pairings.",
            title=title,
        ),
        md("Meanwhile, {where}. You can also try the button again next week.", where=where),
    )


def refused_message(text: str) -> RenderedMessage:
    """A refusal (someone else's item, a closed item, mentoring switched off); ``text``
    is plain text."""
    shown = esc(truncate(text, 1000))
    return _message(shown, shown)


def mentoring_setting_message(
    *, available: bool, changed: bool, enabled: bool, weekly_cap: int
) -> RenderedMessage:
    """The answer to ``/learn mentor [on|off]``."""
    per_week = f"at most {weekly_cap} new {'learner' if weekly_cap == 1 else 'learners'} a week"
    if available:
        done = "Done: learnbot may" if changed else "learnbot may"
        sentence = md(
            "{done} pair you as a mentor with colleagues learning something you are "
            "certified in or offered to help with ({per_week}).",
            done=done,
            per_week=per_week,
        )
        head = md(":handshake: {sentence}", sentence=sentence) if changed else sentence
        note = md("`{command} mentor off` stops new pairings.", command=COMMAND)
    else:
        sentence = (
            md("Done: learnbot will not pair you with learners as a mentor.")
            if changed
            else md("learnbot does not pair you with learners as a mentor.")
        )
        head = sentence
        note = md("`{command} mentor on` to be available again.", command=COMMAND)
    if not enabled:
        note = md("Mentor pairing is switched off here at the moment. {note}", note=note)
    return _message(sentence, head, note=note)
