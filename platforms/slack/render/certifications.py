"""Everything learnbot says about certifications: DMs, shout-outs, read-outs.

``validity`` is the one way a certification's state is written, wherever it is shown
(App Home, ``/learn certs``, ``bot.py status``, ``bot.py certs``): "valid until D",
"expires in N days" once the recertification window is open, "expired on D, lapses on
D2 unless renewed" in the grace period, or "lapsed on D".

Chat messages are Block Kit built with ``slack_sdk.models.blocks``, with a plain-text
fallback; names and titles are escaped. Public posts (shout-outs, milestones) only ever
carry good news.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from messages.certifications import validity_of
from messages.report import format_day
from platforms.slack.render.digest import duration, method_label
from platforms.slack.render.mrkdwn import Mrkdwn, esc, lines, md, person
from platforms.slack.render.rendered import RenderedMessage, sections_message, truncate

if TYPE_CHECKING:
    from learning.certifications import Requirement, Standing

COMMAND = "/learn"
SECTION_MAX = 3000
TITLE_MAX = 120
NAME_MAX = 80
ITEMS_SHOWN = 15
LIST_MAX = 30


# --- building blocks ---------------------------------------------------------------------


def _clean(text: str, limit: int) -> Mrkdwn:
    return esc(truncate(" ".join(text.split()) or "-", limit))


def _who(name: str, slack_user_id: str | None) -> Mrkdwn:
    """A mention when the person is on Slack, else their name in bold."""
    return person(name, slack_user_id, limit=NAME_MAX)


def _first_name(name: str) -> Mrkdwn:
    return esc(truncate((name.split() or ["there"])[0], NAME_MAX))


def _cert(title: str) -> Mrkdwn:
    return md("*{title}*", title=_clean(title, TITLE_MAX))


def _fallback(text: str) -> str:
    """A name or title for the fallback text: one line, cut (escaped by ``md``)."""
    return truncate(" ".join(text.split()) or "-", TITLE_MAX)


_message = sections_message


def _requirement_lines(requirements: Sequence[Requirement]) -> Mrkdwn:
    shown = []
    for requirement in requirements[:ITEMS_SHOWN]:
        details = [method_label(requirement.method), duration(requirement.minutes)]
        if requirement.min_score is not None:
            details.append(f"a score of {requirement.min_score:g} or more")
        facts = ", ".join(d for d in details if d)
        title = _clean(requirement.title, TITLE_MAX)
        shown.append(
            md("• {title} — {facts}", title=title, facts=facts)
            if facts
            else md("• {title}", title=title)
        )
    if len(requirements) > ITEMS_SHOWN:
        shown.append(md("…and {n} more", n=len(requirements) - ITEMS_SHOWN))
    return lines(*shown)


def _effort(items: int, minutes: int) -> str:
    """``2 items, 40 min of learning`` (the time only when the catalogue gives one)."""
    count = f"{items} item{'' if items == 1 else 's'}"
    spent = duration(minutes)
    return f"{count}, {spent} of learning" if spent else count


# --- when it is awarded -------------------------------------------------------------------


def trusted_score_note(*, score: float, titles: Sequence[str]) -> Mrkdwn:
    """Told to a learner whose typed score would have counted towards a certification.

    A score typed into the Done form is self-reported; a certification's minimum score
    needs one from the LMS or an admin (``learning.award_rules.TRUSTED_SCORE_SOURCES``).
    """
    names = Mrkdwn(", ").join(
        md("*{title}*", title=_clean(title, TITLE_MAX)) for title in titles[:ITEMS_SHOWN]
    )
    if len(titles) == 1:
        return md(
            "Your score of {score} is recorded as self-reported. {names} needs a score from "
            "your learning platform (LMS) or an admin, so it counts once your result arrives "
            "from there.",
            score=f"{score:g}",
            names=names,
        )
    return md(
        "Your score of {score} is recorded as self-reported. {names} need a score from "
        "your learning platform (LMS) or an admin, so it counts once your result arrives "
        "from there.",
        score=f"{score:g}",
        names=names,
    )


def award_holder_message(
    *,
    name: str,
    title: str,
    kind: str,
    standing: Standing,
    today: date,
    public: bool,
    channel: str | None,
) -> RenderedMessage:
    """The holder's DM: congratulations (or: renewed, certified again) and until when."""
    cert = _cert(title)
    state = validity_of(standing, today)
    plain = _fallback(title)
    if kind == "renewal":
        head = md(
            ":white_check_mark: You renewed {cert}. It is now {state}.", cert=cert, state=state
        )
        fallback = md("You renewed {title}: {state}", title=plain, state=state)
    elif kind == "regained":
        head = md(
            ":white_check_mark: You are certified again: {cert}, {state}.", cert=cert, state=state
        )
        fallback = md("You are certified again: {title}, {state}", title=plain, state=state)
    else:
        head = md(
            ":tada: Congratulations, {name}! You earned {cert}. It is {state}.",
            name=_first_name(name),
            cert=cert,
            state=state,
        )
        fallback = md("Congratulations! You earned {title} ({state})", title=plain, state=state)
    if kind == "first" and channel and public:
        note = md(
            "We're celebrating it in {channel}. Rather not be named in public "
            "posts? `{command} privacy private`",
            channel=channel,
            command=COMMAND,
        )
    else:
        note = md("Your certifications: `{command} certs`", command=COMMAND)
    return _message(fallback, head, note=note)


def award_manager_message(
    *,
    manager_name: str,
    holder_name: str,
    holder_slack_id: str | None,
    title: str,
    kind: str,
    standing: Standing,
    today: date,
) -> RenderedMessage:
    """A note to the holder's manager."""
    cert = _cert(title)
    who = _who(holder_name, holder_slack_id)
    state = validity_of(standing, today)
    verb = {"renewal": "renewed", "regained": "is certified again in"}.get(kind, "earned")
    thanks = " A good moment for a word of thanks." if kind == "first" else ""
    return _message(
        md(
            "{name} {verb} {title} ({state})",
            name=_fallback(holder_name),
            verb=verb,
            title=_fallback(title),
            state=state,
        ),
        md(
            "Hi {manager}, {who} {verb} {cert} — {state}.{thanks}",
            manager=_first_name(manager_name),
            who=who,
            verb=verb,
            cert=cert,
            state=state,
            thanks=thanks,
        ),
    )


def shoutout_message(
    *, name: str, slack_user_id: str | None, title: str, requirements: Sequence[Requirement]
) -> RenderedMessage:
    """The recognition channel post: who, which certification, what it took."""
    who = _who(name, slack_user_id)
    effort = _effort(len(requirements), sum(r.minutes for r in requirements))
    return _message(
        md(
            "{name} earned the {title} certification: {effort}",
            name=_fallback(name),
            title=_fallback(title),
            effort=effort,
        ),
        md(":tada: {who} earned the {cert} certification!", who=who, cert=_cert(title)),
        md("*What it took*\n{lines}", lines=_requirement_lines(requirements)),
        note=md("{effort}. Congratulations!", effort=effort[:1].upper() + effort[1:]),
    )


def milestone_message(
    *,
    name: str,
    slack_user_id: str | None,
    tier_title: str,
    program_title: str,
    items: int,
    minutes: int,
) -> RenderedMessage:
    """The recognition channel post when someone finishes the first tier of their path."""
    who = _who(name, slack_user_id)
    effort = _effort(items, minutes)
    return _message(
        md(
            "{name} finished their {tier} path",
            name=_fallback(name),
            tier=_fallback(tier_title),
        ),
        md(
            ":seedling: {who} finished their {tier} path ({program}): {effort}. Well done!",
            who=who,
            tier=_cert(tier_title),
            program=_clean(program_title, TITLE_MAX),
            effort=effort,
        ),
    )


# --- recertification and lapse -----------------------------------------------------------


def window_message(
    *, name: str, title: str, standing: Standing, today: date, requirements: Sequence[Requirement]
) -> RenderedMessage:
    """The holder's DM when the recertification window opens."""
    cert = _cert(title)
    expires = standing.expires_on
    when = format_day(expires) if expires else "soon"
    state = validity_of(standing, today)
    return _message(
        md("Time to renew {title}: it {state}", title=_fallback(title), state=state),
        md(
            "Hi {name}, your {cert} certification {state} (on {when}). "
            "To renew it, complete these again by {when}:",
            name=_first_name(name),
            cert=cert,
            state=state,
            when=when,
        ),
        _requirement_lines(requirements),
        note=md(
            "They are in your daily digest and on your Home tab. Renewing early never "
            "loses time: the new period starts when the current one ends."
        ),
    )


def lapsed_holder_message(
    *, name: str, title: str, standing: Standing, today: date
) -> RenderedMessage:
    """The holder's DM when a certification lapses."""
    state = validity_of(standing, today)
    return _message(
        md("Your {title} certification {state}", title=_fallback(title), state=state),
        md(
            "Hi {name}, your {cert} certification {state}: it was not renewed "
            "in time. Complete the open items on your path to be certified again.",
            name=_first_name(name),
            cert=_cert(title),
            state=state,
        ),
        note=md("Your certifications: `{command} certs`", command=COMMAND),
    )


def lapsed_manager_message(
    *,
    manager_name: str,
    holder_name: str,
    holder_slack_id: str | None,
    title: str,
    standing: Standing,
    today: date,
) -> RenderedMessage:
    """A note to the manager when their report's certification lapses."""
    state = validity_of(standing, today)
    return _message(
        md(
            "{name}'s {title} certification {state}",
            name=_fallback(holder_name),
            title=_fallback(title),
            state=state,
        ),
        md(
            "Hi {manager}, {who}'s {cert} certification {state}: it was not renewed in "
            "time. The renewal items are still open on their path.",
            manager=_first_name(manager_name),
            who=_who(holder_name, holder_slack_id),
            cert=_cert(title),
            state=state,
        ),
    )


def post_failed_message(*, outbox_id: int, key: str, channel: str, error: str) -> RenderedMessage:
    """To the admins: a public post (shout-out, milestone) could not be delivered."""
    if error.startswith(("not_in_channel", "channel_not_found")):
        hint = md(
            " Invite learnbot to {channel} (`/invite @learnbot`) or fix "
            "`channels.recognition` in the programs file, then",
            channel=channel,
        )
    else:
        hint = md(" When it is fixed,")
    return _message(
        md(
            "learnbot could not post in {channel}: {error}",
            channel=channel,
            error=truncate(error, 200),
        ),
        md(
            ":warning: learnbot could not post in {channel}: `{error}`.{hint} run "
            "`python bot.py outbox --retry {outbox_id}` to send it again.",
            channel=channel,
            error=truncate(error, 200),
            hint=hint,
            outbox_id=outbox_id,
        ),
        note=md(
            "Outbox message {outbox_id} ({key}). Other messages are not held up.",
            outbox_id=outbox_id,
            key=truncate(key, 100),
        ),
    )


# --- read-outs -----------------------------------------------------------------------------


def certs_message(
    standings: Sequence[Standing],
    *,
    today: date,
    goals: Sequence[Any] = (),
    public: bool,
    channel: str | None,
) -> RenderedMessage:
    """``/learn certs``: my certifications and their state, what I work towards, privacy."""
    if standings:
        held_lines = [
            md(
                "• :medal: {cert} — {state}",
                cert=_cert(s.title),
                state=validity_of(s, today),
            )
            for s in standings[:LIST_MAX]
        ]
        if len(standings) > LIST_MAX:
            held_lines.append(md("…and {n} more", n=len(standings) - LIST_MAX))
        held = lines(md("*Your certifications*"), *held_lines)
    else:
        held = md("*Your certifications*\nNone yet.")
    working = md("")
    if goals:
        working = lines(
            md("*Working towards*"),
            *(
                md(
                    "• {title}: {met} of {needed} requirements met",
                    title=_clean(g.title, TITLE_MAX),
                    met=g.met,
                    needed=g.needed,
                )
                for g in goals[:LIST_MAX]
            ),
        )
    if channel and public:
        note: Mrkdwn | None = md(
            "New certifications are celebrated in {channel}. "
            "`{command} privacy private` to keep your name out of public posts.",
            channel=channel,
            command=COMMAND,
        )
    elif channel:
        note = md(
            "You are not named in public posts. `{command} privacy public` to change that.",
            command=COMMAND,
        )
    else:
        note = None
    summary = "; ".join(
        f"{_fallback(s.title)} ({validity_of(s, today)})" for s in standings[:LIST_MAX]
    )
    text = md("Your certifications: {summary}", summary=summary or "none yet")
    return _message(text, held, working, note=note)


def privacy_message(*, public: bool, changed: bool, channel: str | None) -> RenderedMessage:
    """The answer to ``/learn privacy [public|private]``."""
    where = channel or "the recognition channel"
    if public:
        head = (
            md(
                ":loudspeaker: Your certifications and milestones will be celebrated in {where}.",
                where=where,
            )
            if changed
            else md("Your certifications and milestones are celebrated in {where}.", where=where)
        )
        note = md(
            "`{command} privacy private` keeps your name out of public posts.", command=COMMAND
        )
    else:
        head = (
            md(":lock: Done: learnbot will not name you in public posts.")
            if changed
            else md("learnbot does not name you in public posts.")
        )
        note = md(
            "You still get your own congratulations, and your manager still gets a private "
            "note. `{command} privacy public` to be celebrated in {where}.",
            command=COMMAND,
            where=where,
        )
    return _message(head, head, note=note)
