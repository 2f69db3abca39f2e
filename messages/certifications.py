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

from messages.csv_export import render_csv
from messages.digest import duration, method_label
from messages.rendered import RenderedMessage, escape_mrkdwn, sections_message, truncate
from messages.report import format_day

if TYPE_CHECKING:
    from learning.certifications import HolderLine, Requirement, Standing

COMMAND = "/learn"
SECTION_MAX = 3000
TITLE_MAX = 120
NAME_MAX = 80
ITEMS_SHOWN = 15
LIST_MAX = 30


# --- the one way a certification's state reads --------------------------------------


def validity(
    *,
    today: date,
    expires_on: date | None,
    lapsed_on: date | None = None,
    window_opens_on: date | None = None,
    lapses_on: date | None = None,
) -> str:
    """``valid until Tue 2 Mar 2027``, ``expires in 12 days``, ``lapsed on Mon 15 Mar 2027``.

    Args:
        today: The holder's local today.
        expires_on: The expiry date (holder's calendar); None: it does not expire.
        lapsed_on: Set once it lapsed (expired and not renewed within the grace period).
        window_opens_on: From this date on (the recertification window) it reads
            "expires in N days" instead of "valid until".
        lapses_on: Expiry plus grace: shown while it is expired but not yet lapsed.
    """
    if lapsed_on is not None:
        return f"lapsed on {format_day(lapsed_on)}"
    if expires_on is None:
        return "valid, does not expire"
    if today > expires_on:
        if lapses_on is not None and lapses_on > today:
            return (
                f"expired on {format_day(expires_on)}, "
                f"lapses on {format_day(lapses_on)} unless renewed"
            )
        return f"expired on {format_day(expires_on)}"
    if window_opens_on is not None and today >= window_opens_on:
        days = (expires_on - today).days
        if days == 0:
            return "expires today"
        return f"expires in {days} day{'' if days == 1 else 's'}"
    return f"valid until {format_day(expires_on)}"


def validity_of(standing: Any, today: date) -> str:
    """``validity`` of anything with ``expires_on`` (and optionally ``lapsed_on``,
    ``window_opens_on``, ``lapses_on``): a ``Standing`` or App Home's ``HeldCertification``."""
    return validity(
        today=today,
        expires_on=standing.expires_on,
        lapsed_on=getattr(standing, "lapsed_on", None),
        window_opens_on=getattr(standing, "window_opens_on", None),
        lapses_on=getattr(standing, "lapses_on", None),
    )


# --- building blocks ---------------------------------------------------------------------


def _clean(text: str, limit: int) -> str:
    return escape_mrkdwn(truncate(" ".join(text.split()) or "-", limit))


def _who(name: str, slack_user_id: str | None) -> str:
    """A mention when the person is on Slack, else their name in bold."""
    if slack_user_id:
        return f"<@{slack_user_id}>"
    return f"*{_clean(name, NAME_MAX)}*"


def _first_name(name: str) -> str:
    return escape_mrkdwn((name.split() or ["there"])[0])


_message = sections_message


def _requirement_lines(requirements: Sequence[Requirement]) -> str:
    lines = []
    for requirement in requirements[:ITEMS_SHOWN]:
        details = [method_label(requirement.method), duration(requirement.minutes)]
        if requirement.min_score is not None:
            details.append(f"a score of {requirement.min_score:g} or more")
        facts = ", ".join(escape_mrkdwn(d) for d in details if d)
        lines.append(f"• {_clean(requirement.title, TITLE_MAX)}" + (f" — {facts}" if facts else ""))
    if len(requirements) > ITEMS_SHOWN:
        lines.append(f"…and {len(requirements) - ITEMS_SHOWN} more")
    return "\n".join(lines)


def _effort(items: int, minutes: int) -> str:
    """``2 items, 40 min of learning`` (the time only when the catalogue gives one)."""
    count = f"{items} item{'' if items == 1 else 's'}"
    spent = duration(minutes)
    return f"{count}, {spent} of learning" if spent else count


# --- when it is awarded -------------------------------------------------------------------


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
    cert = f"*{_clean(title, TITLE_MAX)}*"
    state = validity_of(standing, today)
    if kind == "renewal":
        head = f":white_check_mark: You renewed {cert}. It is now {state}."
        fallback = f"You renewed {title}: {state}"
    elif kind == "regained":
        head = f":white_check_mark: You are certified again: {cert}, {state}."
        fallback = f"You are certified again: {title}, {state}"
    else:
        head = f":tada: Congratulations, {_first_name(name)}! You earned {cert}. It is {state}."
        fallback = f"Congratulations! You earned {title} ({state})"
    if kind == "first" and channel and public:
        note = (
            f"We're celebrating it in {escape_mrkdwn(channel)}. Rather not be named in public "
            f"posts? `{COMMAND} privacy private`"
        )
    else:
        note = f"Your certifications: `{COMMAND} certs`"
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
    cert = f"*{_clean(title, TITLE_MAX)}*"
    who = _who(holder_name, holder_slack_id)
    state = validity_of(standing, today)
    verb = {"renewal": "renewed", "regained": "is certified again in"}.get(kind, "earned")
    return _message(
        f"{holder_name} {verb} {title} ({state})",
        f"Hi {_first_name(manager_name)}, {who} {verb} {cert} — {state}."
        + (" A good moment for a word of thanks." if kind == "first" else ""),
    )


def shoutout_message(
    *, name: str, slack_user_id: str | None, title: str, requirements: Sequence[Requirement]
) -> RenderedMessage:
    """The recognition channel post: who, which certification, what it took."""
    who = _who(name, slack_user_id)
    effort = _effort(len(requirements), sum(r.minutes for r in requirements))
    return _message(
        f"{name} earned the {title} certification: {effort}",
        f":tada: {who} earned the *{_clean(title, TITLE_MAX)}* certification!",
        "*What it took*\n" + _requirement_lines(requirements),
        note=escape_mrkdwn(effort[:1].upper() + effort[1:]) + ". Congratulations!",
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
        f"{name} finished their {tier_title} path",
        f":seedling: {who} finished their *{_clean(tier_title, TITLE_MAX)}* path "
        f"({_clean(program_title, TITLE_MAX)}): {escape_mrkdwn(effort)}. Well done!",
    )


# --- recertification and lapse -----------------------------------------------------------


def window_message(
    *, name: str, title: str, standing: Standing, today: date, requirements: Sequence[Requirement]
) -> RenderedMessage:
    """The holder's DM when the recertification window opens."""
    cert = f"*{_clean(title, TITLE_MAX)}*"
    expires = standing.expires_on
    when = format_day(expires) if expires else "soon"
    state = validity_of(standing, today)
    return _message(
        f"Time to renew {title}: it {state}",
        f"Hi {_first_name(name)}, your {cert} certification {state} (on {when}). "
        f"To renew it, complete these again by {when}:",
        _requirement_lines(requirements),
        note="They are in your daily digest and on your Home tab. Renewing early never "
        "loses time: the new period starts when the current one ends.",
    )


def lapsed_holder_message(
    *, name: str, title: str, standing: Standing, today: date
) -> RenderedMessage:
    """The holder's DM when a certification lapses."""
    cert = f"*{_clean(title, TITLE_MAX)}*"
    state = validity_of(standing, today)
    return _message(
        f"Your {title} certification {state}",
        f"Hi {_first_name(name)}, your {cert} certification {state}: it was not renewed "
        "in time. Complete the open items on your path to be certified again.",
        note=f"Your certifications: `{COMMAND} certs`",
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
    cert = f"*{_clean(title, TITLE_MAX)}*"
    state = validity_of(standing, today)
    return _message(
        f"{holder_name}'s {title} certification {state}",
        f"Hi {_first_name(manager_name)}, {_who(holder_name, holder_slack_id)}'s {cert} "
        f"certification {state}: it was not renewed in time. The renewal items are still "
        "open on their path.",
    )


def post_failed_message(*, outbox_id: int, key: str, channel: str, error: str) -> RenderedMessage:
    """To the admins: a public post (shout-out, milestone) could not be delivered."""
    hint = ""
    if error.startswith(("not_in_channel", "channel_not_found")):
        hint = (
            f" Invite learnbot to {escape_mrkdwn(channel)} (`/invite @learnbot`) or fix "
            "`channels.recognition` in the programs file, then"
        )
    else:
        hint = " When it is fixed,"
    return _message(
        f"learnbot could not post in {channel}: {error}",
        f":warning: learnbot could not post in {escape_mrkdwn(channel)}: "
        f"`{escape_mrkdwn(truncate(error, 200))}`.{hint} run "
        f"`python bot.py outbox --retry {outbox_id}` to send it again.",
        note=f"Outbox message {outbox_id} ({escape_mrkdwn(truncate(key, 100))}). Other "
        "messages are not held up.",
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
        lines = [
            f"• :medal: *{_clean(s.title, TITLE_MAX)}* — {validity_of(s, today)}"
            for s in standings[:LIST_MAX]
        ]
        if len(standings) > LIST_MAX:
            lines.append(f"…and {len(standings) - LIST_MAX} more")
        held = "*Your certifications*\n" + "\n".join(lines)
    else:
        held = "*Your certifications*\nNone yet."
    working = ""
    if goals:
        working = "*Working towards*\n" + "\n".join(
            f"• {_clean(g.title, TITLE_MAX)}: {g.met} of {g.needed} requirements met"
            for g in goals[:LIST_MAX]
        )
    if channel and public:
        note = (
            f"New certifications are celebrated in {escape_mrkdwn(channel)}. "
            f"`{COMMAND} privacy private` to keep your name out of public posts."
        )
    elif channel:
        note = f"You are not named in public posts. `{COMMAND} privacy public` to change that."
    else:
        note = None
    text = "Your certifications: " + (
        "; ".join(f"{s.title} ({validity_of(s, today)})" for s in standings[:LIST_MAX])
        or "none yet"
    )
    return _message(text, held, working, note=note)


def privacy_message(*, public: bool, changed: bool, channel: str | None) -> RenderedMessage:
    """The answer to ``/learn privacy [public|private]``."""
    where = escape_mrkdwn(channel) if channel else "the recognition channel"
    if public:
        head = (
            f":loudspeaker: Your certifications and milestones will be celebrated in {where}."
            if changed
            else f"Your certifications and milestones are celebrated in {where}."
        )
        note = f"`{COMMAND} privacy private` keeps your name out of public posts."
    else:
        head = (
            ":lock: Done: learnbot will not name you in public posts."
            if changed
            else "learnbot does not name you in public posts."
        )
        note = (
            "You still get your own congratulations, and your manager still gets a private "
            f"note. `{COMMAND} privacy public` to be celebrated in {where}."
        )
    return _message(head.replace("*", ""), head, note=note)


def status_lines(standings: Sequence[Standing], today: date) -> list[str]:
    """The "Certifications" part of ``bot.py status``."""
    if not standings:
        return []
    width = max(len(s.title) for s in standings)
    return ["", "Certifications"] + [
        f"  {s.title.ljust(width)}  {validity_of(s, today)}" for s in standings
    ]


HOLDERS_HEADER = ["email", "name", "team", "certification", "cycle", "awarded", "state"]


def render_holders(lines: Sequence[HolderLine], *, expiring: int | None = None) -> str:
    """``bot.py certs``: one line per person and certification, as a table."""
    if not lines:
        if expiring is not None:
            return f"No certification expires within {expiring} days."
        return "No certifications awarded yet."
    rows = [
        [
            line.email,
            line.name,
            line.team or "-",
            line.standing.title,
            str(line.standing.cycle),
            format_day(line.standing.awarded_on) if line.standing.awarded_on else "-",
            validity_of(line.standing, line.today),
        ]
        for line in lines
    ]
    table = [HOLDERS_HEADER, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(HOLDERS_HEADER))]
    rendered = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
    held = sum(1 for line in lines if line.standing.lapsed_on is None)
    lapsed = len(lines) - held
    scope = f" expiring within {expiring} days" if expiring is not None else ""
    rendered.append("")
    rendered.append(f"{held} held{scope}" + (f", {lapsed} lapsed" if lapsed else ""))
    return "\n".join(rendered)


def render_holders_csv(lines: Sequence[HolderLine]) -> str:
    """``bot.py certs --csv``: dates as ISO (the holder's calendar) plus the state text."""
    header = ["email", "name", "team", "certification", "cycle"]
    header += ["awarded_on", "expires_on", "lapsed_on", "state"]
    return render_csv(header, (_holder_cells(line) for line in lines))


def _holder_cells(line: HolderLine) -> list[Any]:
    s = line.standing
    return [
        line.email,
        line.name,
        line.team,
        s.key,
        s.cycle,
        s.awarded_on.isoformat() if s.awarded_on else "",
        s.expires_on.isoformat() if s.expires_on else "",
        s.lapsed_on.isoformat() if s.lapsed_on else "",
        validity_of(s, line.today),
    ]
