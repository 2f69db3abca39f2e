"""Everything learnbot says about peer-learning prompts: the community post with its two
buttons, the thread introduction, and the private answers to a click.

The post names nobody: it gives the item and how many colleagues are working on it. The
introduction names only the people the caller passes (those who allow public posts).
"""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
)

from platforms.slack.render import ids
from platforms.slack.render.digest import duration, method_label
from platforms.slack.render.mrkdwn import (
    Mrkdwn,
    esc,
    http_url,
    is_user_id,
    link,
    md,
    mention,
    person,
)
from platforms.slack.render.rendered import RenderedMessage, context, section, truncate

SECTION_MAX = 3000
TITLE_MAX = 150
NAME_MAX = 80
NAMES_LISTED = 20  # people named per list in the thread; the rest are counted

CAN_HELP_LABEL = "I can help"
LEARNING_LABEL = "I'm learning this"

BROKEN_BUTTON = Mrkdwn("That button no longer works; nothing was noted.")


def _plain(text: str, limit: int) -> str:
    return truncate(" ".join(text.split()) or "-", limit)


def _title(title: str, url: str | None) -> Mrkdwn:
    plain = _plain(title, TITLE_MAX)
    return link(url, plain) if http_url(url) else md("*{title}*", title=plain)


def _colleagues(count: int) -> str:
    return f"{count} colleague{'s' if count != 1 else ''}"


def counts_line(can_help: int, learning: int) -> str:
    """``3 can help · 5 learning``; empty when nobody has clicked yet."""
    if not can_help and not learning:
        return ""
    return f"{can_help} can help · {learning} learning"


def prompt_message(
    *,
    prompt_id: int,
    title: str,
    url: str | None,
    method: str,
    minutes: int,
    learners_due: int,
    can_help: int = 0,
    learning: int = 0,
) -> RenderedMessage:
    """The community post: the item, how many colleagues have it due soon, two buttons.

    It names nobody; ``can_help`` and ``learning`` are counts of clicks so far.
    """
    details = " · ".join(part for part in (method_label(method), duration(minutes)) if part)
    heading = md(":busts_in_silhouette: *Learn it together:* {title}", title=_title(title, url))
    if details:
        heading = md("{heading}\n{details}", heading=heading, details=details)
    working = (
        f"{_colleagues(learners_due)} are working on this right now."
        if learners_due != 1
        else "1 colleague is working on this right now."
    )
    body = md(
        "{working} Know it well? Click *{can_help}*. Learning it too? Click "
        "*{learning}*. I'll then introduce helpers and learners to each other in "
        "this thread.",
        working=working,
        can_help=CAN_HELP_LABEL,
        learning=LEARNING_LABEL,
    )
    value = str(prompt_id)
    blocks: list[Block] = [
        section(truncate(heading, SECTION_MAX)),
        section(body),
        ActionsBlock(
            block_id=f"peer:{prompt_id}:actions",
            elements=[
                ButtonElement(
                    text=CAN_HELP_LABEL,
                    action_id=ids.PEER_CAN_HELP,
                    value=value,
                    style="primary",
                ),
                ButtonElement(text=LEARNING_LABEL, action_id=ids.PEER_LEARNING, value=value),
            ],
        ),
    ]
    counts = counts_line(can_help, learning)
    if counts:
        blocks.append(context(md("{counts}", counts=counts)))
    fallback = md(
        "Learn it together: {title}. {working}", title=_plain(title, TITLE_MAX), working=working
    )
    return RenderedMessage(text=fallback, blocks=[b.to_dict() for b in blocks])


def _who(name: str, slack_user_id: str | None) -> Mrkdwn:
    """A mention when the person is on Slack, else their name in bold."""
    return person(name, slack_user_id, limit=NAME_MAX)


def _plain_who(name: str, slack_user_id: str | None) -> Mrkdwn:
    if slack_user_id and is_user_id(slack_user_id):
        return mention(slack_user_id)
    return esc(_plain(name, NAME_MAX))


def _join(people: Sequence[tuple[str, str | None]], *, plain: bool = False) -> Mrkdwn:
    """``A``, ``A and B``, ``A, B and C``; past ``NAMES_LISTED``, ``and N more``."""
    show = _plain_who if plain else _who
    named = [show(name, slack_id) for name, slack_id in people[:NAMES_LISTED]]
    rest = len(people) - len(named)
    if rest:
        named.append(md("{rest} more", rest=rest))
    if len(named) == 1:
        return named[0]
    return md("{first} and {last}", first=Mrkdwn(", ").join(named[:-1]), last=named[-1])


def intro_message(
    *,
    title: str,
    url: str | None,
    helpers: Sequence[tuple[str, str | None]],
    learners: Sequence[tuple[str, str | None]],
) -> RenderedMessage | None:
    """The thread reply introducing ``helpers`` to ``learners`` (``(name, slack id)``
    pairs, in click order); None when there is nobody to introduce."""
    item = _title(title, url)
    plain_item = _plain(title, TITLE_MAX)
    if helpers and learners:
        are = "is" if len(learners) == 1 else "are"
        line = md(
            ":handshake: Introductions for {item}: {helpers} offered to help, and "
            "{learners} {are} learning it. Say hello here and find a time that suits you.",
            item=item,
            helpers=_join(helpers),
            learners=_join(learners),
            are=are,
        )
        fallback = md(
            "Introductions for {item}: {helpers} offered to help, and {learners} {are} "
            "learning it.",
            item=plain_item,
            helpers=_join(helpers, plain=True),
            learners=_join(learners, plain=True),
            are=are,
        )
    elif helpers:
        line = md(
            ":raised_hands: {helpers} offered to help with {item}. "
            "Working on it too? Ask here in the thread.",
            helpers=_join(helpers),
            item=item,
        )
        fallback = md(
            "{helpers} offered to help with {item}.",
            helpers=_join(helpers, plain=True),
            item=plain_item,
        )
    elif len(learners) > 1:
        line = md(
            ":seedling: Nobody has offered to help yet, but {learners} are learning "
            "{item} right now: why not learn it together? Say hello here and pick a time.",
            learners=_join(learners),
            item=item,
        )
        fallback = md(
            "{learners} are learning {item}: learn it together?",
            learners=_join(learners, plain=True),
            item=plain_item,
        )
    elif learners:
        line = md(
            ":seedling: {learners} is learning {item}. "
            "Know it well? Lend a hand here in the thread.",
            learners=_join(learners),
            item=item,
        )
        fallback = md(
            "{learners} is learning {item}.", learners=_join(learners, plain=True), item=plain_item
        )
    else:
        return None
    block = section(truncate(line, SECTION_MAX))
    return RenderedMessage(text=truncate(fallback, SECTION_MAX), blocks=[block.to_dict()])


def click_reply(*, kind: str, new: bool, public: bool, followed_up: bool) -> Mrkdwn:
    """The clicker's private answer.

    Args:
        kind: ``"help"`` or ``"learning"``.
        new: False when they had already clicked this button on this prompt.
        public: whether they allow public posts (else they are never named in the thread).
        followed_up: whether the thread introduction has already been posted.
    """
    helping = kind == "help"
    if not new:
        said = "you can help" if helping else "you're learning this"
        start = f"You already said {said}"
    else:
        start = "Thanks" if helping else "Thanks, good luck with it"
    if not public:
        return md(
            "{start}. You keep out of public posts, so I won't name you in the thread; "
            "have a look there to see who else answered.",
            start=start,
        )
    if followed_up:
        return md(
            "{start}. The introductions are already in the thread: say hello there.", start=start
        )
    if not new:
        return md("{start} — I'll introduce you in the thread.", start=start)
    others = "colleagues who are learning it" if helping else "colleagues who can help"
    return md("{start} — I'll introduce you in the thread to {others}.", start=start, others=others)
