"""Every reply of the ``/learn`` command: Block Kit sections with a plain-text fallback.

Replies are short mrkdwn sections built with ``slack_sdk.models.blocks``; anything that
came from a person or a file (names, titles, reasons) is escaped, long lists are cut
with an "…and N more" line, and every reply stays inside Slack's block limits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import Block

from learning.command_parser import COMMAND, SUBCOMMANDS, UsageError
from learning.curriculum import ProgramSettings
from learning.errors import Problem
from learning.progress import CompletionReport, ItemLine, PersonStatus, TeamMember
from messages.report import render_report
from platforms.slack.render.digest import duration, method_label, short_day
from platforms.slack.render.mrkdwn import Mrkdwn, esc, lines, md
from platforms.slack.render.rendered import RenderedMessage, context, section, truncate

BAR_CELLS = 8
SECTION_MAX = 3000  # Slack's limit on a section's text
MAX_BLOCKS = 50
TITLE_MAX = 120
NAME_MAX = 80
NEXT_ITEMS = 3  # next items shown per tier in the summary
DUE_MAX = 25  # items listed by /learn due
TEAM_MAX = 40  # people listed by /learn team
CANDIDATES_MAX = 10
PROBLEMS_MAX = 30
WEEKDAY_NAMES = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}


# --- building blocks ---------------------------------------------------------------


def _message(*paragraphs: Mrkdwn, note: Mrkdwn | None = None) -> RenderedMessage:
    """One section per paragraph (mrkdwn), and an optional context note.

    The fallback text is the paragraphs joined; both stay inside Slack's limits.
    """
    paragraphs = tuple(p for p in paragraphs if p.strip()) or (md("(nothing to show)"),)
    blocks: list[Block] = [section(truncate(p, SECTION_MAX)) for p in paragraphs[: MAX_BLOCKS - 1]]
    if note:
        blocks.append(context(truncate(note, 2000)))
    text = Mrkdwn("\n\n").join([*paragraphs, *([note] if note else [])])
    return RenderedMessage(text=truncate(text, SECTION_MAX), blocks=[b.to_dict() for b in blocks])


def _clean(text: str, limit: int) -> Mrkdwn:
    """Someone's text on one line, cut to ``limit`` and escaped for mrkdwn."""
    return esc(truncate(" ".join(text.split()) or "-", limit))


def _code(text: str) -> Mrkdwn:
    """A code block; backticks inside are softened so they cannot end it early."""
    return md("```{text}```", text=text.replace("```", "'''"))


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def progress_bar(done: int, total: int, cells: int = BAR_CELLS) -> str:
    """``▓▓▓▓░░░░ 50%``: a text progress bar and the percent (100% when nothing is owed)."""
    fraction = done / total if total > 0 else 1.0
    fraction = min(max(fraction, 0.0), 1.0)
    filled = round(fraction * cells)
    return "▓" * filled + "░" * (cells - filled) + f" {round(fraction * 100)}%"


def when_due(item: ItemLine, today: date) -> str:
    """``3 working days overdue``, ``due today``, ``due Tue 3 Mar``, ``after Safety``
    (waiting for a prerequisite); empty without a date and for suggestions, which have
    no deadline."""
    if item.status == "overdue" and item.overdue_working_days > 0:
        return f"{_plural(item.overdue_working_days, 'working day')} overdue"
    if item.waiting_for and item.status == "open":
        return "after " + " and ".join(" ".join(t.split()) for t in item.waiting_for)
    if item.due_date is None or not item.required:
        return ""
    if item.due_date == today:
        return "due today"
    if item.due_date < today:
        return f"was due {short_day(item.due_date, today)}"
    return f"due {short_day(item.due_date, today)}"


def _item_line(item: ItemLine, today: date) -> Mrkdwn:
    details = [
        method_label(item.method),
        duration(item.minutes),
        "required" if item.required else "suggested",
    ]
    due = when_due(item, today)
    if due:
        details.append(f"*{due}*" if item.status == "overdue" else due)
    return md(
        "• {title} (`{key}`) — {details}",
        title=_clean(item.title, TITLE_MAX),
        key=_clean(item.key, 64),
        details=" · ".join(d for d in details if d),
    )


def _more(count: int, one: str, many: str) -> str:
    """``…and 3 more open items``; empty when nothing is left out."""
    if count <= 0:
        return ""
    return f"…and {count} more {one if count == 1 else many}"


# --- help, summary, due ------------------------------------------------------------


def help_message() -> RenderedMessage:
    """Every subcommand with a one-line description; admin ones in their own list."""

    def listed(admin: bool) -> Mrkdwn:
        return lines(
            *(
                md("`{usage}` — {summary}", usage=sub.usage, summary=sub.summary)
                for sub in SUBCOMMANDS
                if sub.admin == admin
            )
        )

    return _message(
        md(
            "*{command}* — your learning path in Slack. Replies are only visible to you.",
            command=COMMAND,
        ),
        listed(admin=False),
        md("*For learnbot admins*\n{lines}", lines=listed(admin=True)),
        note=md(
            "ITEM is an item's key; for done and snooze, a part of its title that only one "
            "item has also works."
        ),
    )


def summary_message(status: PersonStatus) -> RenderedMessage:
    """My path: each tier's required progress as a bar, and the next items to do."""
    head = md(
        "*{title}* — your learning path",
        title=_clean(status.program_title or status.role, TITLE_MAX),
    )
    if status.away_until and status.away_until >= status.today:
        head = md(
            "{head}\nYou are away until {day}: no reminders.",
            head=head,
            day=short_day(status.away_until, status.today),
        )
    if not status.tiers and not status.other:
        return _message(
            head,
            md("Nothing is assigned to you yet. When your program starts, it shows here."),
        )
    paragraphs = [head]
    for tier in status.tiers:
        done, total = tier.required_done
        title = md("*{title}*", title=_clean(tier.title, TITLE_MAX))
        if tier.starts_on and tier.starts_on > status.today:
            paragraphs.append(
                md(
                    "{title} — starts {day}",
                    title=title,
                    day=short_day(tier.starts_on, status.today),
                )
            )
            continue
        line = md(
            "{title}  {bar}  ({done} of {total} required done)",
            title=title,
            bar=progress_bar(done, total),
            done=done,
            total=total,
        )
        upcoming = [i for i in tier.items if i.status in ("overdue", "open")]
        upcoming.sort(key=_urgency)
        shown = [_item_line(item, status.today) for item in upcoming[:NEXT_ITEMS]]
        if shown:
            more = _more(len(upcoming) - len(shown), "open item", "open items")
            line = lines(line, md("Next:"), *shown, more)
        elif total:
            line = lines(line, md("All done here. :tada:"))
        paragraphs.append(line)
    other = [i for i in status.other if i.status in ("overdue", "open")]
    if other:
        other.sort(key=_urgency)
        paragraphs.append(
            lines(
                md("*Also assigned to you*"),
                *(_item_line(i, status.today) for i in other[:NEXT_ITEMS]),
                _more(len(other) - NEXT_ITEMS, "open item", "open items"),
            )
        )
    return _message(
        *paragraphs,
        note=md(
            "See what is due: `{command} due` · all commands: `{command} help`", command=COMMAND
        ),
    )


def _urgency(item: ItemLine) -> tuple[int, int, date, str]:
    """Overdue first (most overdue first), then by due date; undated last."""
    return (
        0 if item.status == "overdue" else 1,
        -item.overdue_working_days,
        item.due_date or date.max,
        item.key,
    )


def due_message(status: PersonStatus) -> RenderedMessage:
    """Open items with a due date: overdue first (most overdue first), then by date."""
    items = [
        item
        for item in [*(i for tier in status.tiers for i in tier.items), *status.other]
        if item.status in ("overdue", "open") and item.due_date is not None
    ]
    if not items:
        return _message(md("Nothing is due. :white_check_mark:"))
    items.sort(key=_urgency)
    overdue = [i for i in items if i.status == "overdue"]
    upcoming = [i for i in items if i.status != "overdue"]
    paragraphs = []
    shown = 0
    for label, group in (("Overdue", overdue), ("Due", upcoming)):
        if not group or shown >= DUE_MAX:
            continue
        listed = [_item_line(item, status.today) for item in group[: DUE_MAX - shown]]
        shown += len(listed)
        paragraphs.append(lines(md("*{label}*", label=label), *listed))
    more = _more(len(items) - shown, "item", "items")
    return _message(
        *paragraphs,
        note=md(
            "{more}`{command} done ITEM` when finished, `{command} snooze ITEM 3d` to be "
            "reminded later",
            more=more + " · " if more else "",
            command=COMMAND,
        ),
    )


# --- policy ---------------------------------------------------------------------------


def _working_days(days: int) -> str:
    return _plural(days, "working day")


def _join(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def escalation_ladder(settings: ProgramSettings) -> list[str]:
    """The published ladder as sentences, generated from the configured steps."""
    sentences: list[str] = []
    before = sorted(set(settings.escalation.remind_before_due), reverse=True)
    ahead = [days for days in before if days > 0]
    if ahead:
        counts = _join([str(days) for days in ahead])
        unit = "working day" if ahead == [1] else "working days"
        sentence = f"{counts} {unit} before an item is due"
        if 0 in before:
            sentence += ", and on the day"
        sentences.append(f"{sentence}, your daily digest reminds you.")
    elif 0 in before:
        sentences.append("On the day an item is due, your daily digest reminds you.")
    previous: str | None = None
    steps = settings.escalation.steps
    for index, step in enumerate(steps):
        days = step.after_overdue
        when = "As soon as an item is overdue" if days == 0 else f"At {_working_days(days)} overdue"
        if step.notify == "learner":
            told_later = any(later.notify == "manager" for later in steps[index + 1 :])
            sentences.append(
                f"{when}, your daily digest flags the item"
                + (" and says when your manager will be told." if told_later else ".")
            )
        elif step.notify == "manager":
            sentences.append(f"{when} your manager is told.")
        elif previous == "manager":
            sentences.append(
                f"At {days}, your manager's manager."
                if days
                else f"{when}, your manager's manager is told."
            )
        else:
            sentences.append(f"{when} your manager's manager is told.")
        previous = step.notify
    return sentences


def policy_message(settings: ProgramSettings) -> RenderedMessage:
    """The escalation ladder in plain words, and what counts as a working day."""
    ladder = escalation_ladder(settings)
    days = [WEEKDAY_NAMES[d] for d in settings.calendar.working_days]
    calendar = (
        f"Working days are {_join(days)}, in your own time zone, not counting public holidays."
    )
    rules = md(
        "Only required items are ever chased; suggested items are offered, never chased. "
        "Nothing overdue is ever shown in public. A snooze never hides a required item past "
        "its due date, and while you are away (`{command} away until YYYY-MM-DD`) "
        "you get no reminders. If you need more time, press *Request extension* on an "
        "overdue item: your manager decides, and nothing climbs the ladder meanwhile.",
        command=COMMAND,
    )
    return _message(
        md("*How learnbot reminds and escalates*"),
        lines(*ladder) or md("No reminders are configured."),
        esc(calendar),
        rules,
    )


# --- team and report ------------------------------------------------------------------


def team_message(members: Sequence[TeamMember]) -> RenderedMessage:
    """A manager's chain: required done %, overdue count, most overdue first."""
    if not members:
        return _message(md("You have no reports in learnbot."))
    ordered = sorted(
        members,
        key=lambda m: (-m.most_overdue_working_days, -m.overdue, m.percent, m.name.lower()),
    )
    member_lines = []
    for member in ordered[:TEAM_MAX]:
        overdue = (
            f"*{member.overdue} overdue* (up to {_working_days(member.most_overdue_working_days)})"
            if member.overdue
            else "nothing overdue"
        )
        bar = progress_bar(member.required_done, member.required_total)
        member_lines.append(
            md(
                "• {name} — {bar} required done · {overdue}",
                name=_clean(member.name, NAME_MAX),
                bar=bar,
                overdue=overdue,
            )
        )
    behind = sum(1 for m in members if m.overdue)
    head = md(
        "*Your team* — {people} in your reporting chain, {behind} with overdue items",
        people=_plural(len(members), "person").replace("persons", "people"),
        behind=behind,
    )
    # Sections hold 3000 characters: split the list into chunks that fit.
    chunks: list[Mrkdwn] = []
    current = md("")
    for line in member_lines:
        if current and len(current) + len(line) + 1 > SECTION_MAX:
            chunks.append(current)
            current = md("")
        current = lines(current, line)
    if current:
        chunks.append(current)
    more = _more(len(members) - len(member_lines), "person", "people")
    return _message(head, *chunks, note=esc(more) if more else None)


def report_message(report: CompletionReport) -> RenderedMessage:
    """The admin completion report, as the CLI prints it, in a code block."""
    text = render_report(report)
    limit = SECTION_MAX - 10
    if len(text) > limit:
        text = text[: limit - 40].rsplit("\n", 1)[0] + "\n… (cut: run `python bot.py report`)"
    return _message(_code(text))


# --- confirmations ----------------------------------------------------------------------


def done_message(*, title: str, already: bool = False) -> RenderedMessage:
    """``Done: Safety training.``, or that it was done already."""
    if already:
        return _message(
            md(
                "*{title}* was already marked done. Nothing changed.",
                title=_clean(title, TITLE_MAX),
            )
        )
    return _message(
        md(":white_check_mark: Done: *{title}*. Well done!", title=_clean(title, TITLE_MAX))
    )


def snooze_message(*, title: str, until: datetime, zone: str) -> RenderedMessage:
    """``Snoozed … until Tue 3 Mar``: the local day the reminders come back."""
    local = until.astimezone(ZoneInfo(zone))
    return _message(
        md(
            ":zzz: Snoozed *{title}*: no reminders about it until {day}.",
            title=_clean(title, TITLE_MAX),
            day=f"{local:%a} {local.day} {local:%b}",
        )
    )


def away_message(until: date) -> RenderedMessage:
    return _message(
        md(
            ":palm_tree: You are away until {day}: no reminders until then. Back early? "
            "`{command} back`",
            day=f"{until:%a} {until.day} {until:%b %Y}",
            command=COMMAND,
        )
    )


def back_message(*, was_away: bool = True) -> RenderedMessage:
    if not was_away:
        return _message(md("You were not away; reminders are on."))
    return _message(md(":wave: Welcome back: reminders are on again."))


def assign_message(*, name: str, email: str, title: str, due: date | None) -> RenderedMessage:
    when = f", due {due:%a} {due.day} {due:%b %Y}" if due else ""
    return _message(
        md(
            "Assigned *{title}* to {name} ({email}){when}. It is in the audit log.",
            title=_clean(title, TITLE_MAX),
            name=_clean(name, NAME_MAX),
            email=_clean(email, 254),
            when=when,
        )
    )


def waive_message(*, name: str, email: str, title: str, reason: str) -> RenderedMessage:
    return _message(
        md(
            "Waived *{title}* for {name} ({email}). Reason: {reason}. It is in the audit log.",
            title=_clean(title, TITLE_MAX),
            name=_clean(name, NAME_MAX),
            email=_clean(email, 254),
            reason=_clean(reason, 500),
        )
    )


def reload_message(*, source: str, summary: str, changed: bool) -> RenderedMessage:
    outcome = "Applied." if changed else "Nothing changed."
    return _message(
        md("Reloaded `{source}`: valid. {outcome}", source=_clean(source, 300), outcome=outcome),
        _code(summary),
    )


# --- refusals and errors ------------------------------------------------------------


def usage_message(error: UsageError) -> RenderedMessage:
    """What was wrong with the text, and the usage line to copy."""
    usage = md("Usage: `{usage}`", usage=error.usage) if error.usage else ""
    return _message(lines(esc(error.message), usage))


def ambiguous_message(text: str, candidates: Sequence[tuple[str, str]]) -> RenderedMessage:
    """Several items match ``text``: list them as ``key`` — title, to pick one."""
    listed = [
        md("• `{key}` — {title}", key=_clean(key, 64), title=_clean(title, TITLE_MAX))
        for key, title in candidates[:CANDIDATES_MAX]
    ]
    more = _more(len(candidates) - len(listed), "match", "matches")
    return _message(
        lines(
            md(
                "More than one item matches '{text}'. Which one? Use its key:",
                text=_clean(text, 80),
            ),
            *listed,
            more,
        )
    )


def unknown_person_message() -> RenderedMessage:
    return _message(
        md("I don't know you yet — ask your learnbot admin to add you (people import).")
    )


def admin_only_message() -> RenderedMessage:
    return _message(md("Only learnbot admins can do that."))


def refused_message(reason: str) -> RenderedMessage:
    """A domain error whose message is meant for the person (not found, not allowed...);
    ``reason`` is plain text."""
    return _message(esc(truncate(reason.strip() or "That did not work.", 1000)))


def reload_not_configured_message() -> RenderedMessage:
    return _message(
        md(
            "I don't know where the programs file is: set `LEARNBOT_PROGRAMS_FILE` to its "
            "path and restart learnbot, or load it with `python bot.py load-config FILE`."
        )
    )


def validation_failed_message(problems: Sequence[Problem]) -> RenderedMessage:
    """The programs file has mistakes: each with file:line and field; nothing applied."""
    shown = [str(p) for p in problems[:PROBLEMS_MAX]]
    if len(problems) > PROBLEMS_MAX:
        shown.append(f"…and {len(problems) - PROBLEMS_MAX} more")
    text = "\n".join(shown)
    if len(text) > SECTION_MAX - 200:
        text = text[: SECTION_MAX - 220].rsplit("\n", 1)[0] + "\n…"
    return _message(
        md(
            "The programs file has {problems}; nothing was applied.",
            problems=_plural(len(problems), "problem"),
        ),
        _code(text),
    )


def working_on_it_message() -> RenderedMessage:
    """The ack when the work takes longer than Slack waits; the answer follows."""
    return _message(md(":hourglass_flowing_sand: Working on it — the answer follows in a moment."))


def failed_message() -> RenderedMessage:
    """Something broke on our side; the traceback is in the log, never in Slack."""
    return _message(
        md(
            "Sorry, something went wrong on our side. It has been logged; please try again "
            "in a minute."
        )
    )
