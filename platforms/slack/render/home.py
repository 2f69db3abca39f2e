"""The App Home tab: a person's dashboard as a Block Kit ``home`` view.

Sections, each capped so the view stays far inside Slack's 100-block limit whatever
the size of the path, the team or the program (lists end in an "…and N more" line):

* progress per tier, as a text bar (``▓▓▓▓▓░░░░░ 50%``) of required items done;
* open items with the digest's Done / Snooze / Open buttons (same ``action_id`` and
  value formats as ``messages.digest``, so the same listeners handle both);
* snoozed items and away status; certifications held and worked towards;
* for managers "My team"; for admins the program overview.

Built with ``slack_sdk.models`` classes only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from learning.home import HomeItem, HomePage, Welcome
from learning.progress import CompletionReport, ReportRow, TierLine
from learning.team import TeamSummary
from messages.certifications import validity_of
from platforms.slack.render import ids
from platforms.slack.render.digest import (
    BUTTON_URL_MAX,
    LINK_URL_MAX,
    TITLE_MAX,
    duration,
    item_actions,
    method_label,
    short_day,
)
from platforms.slack.render.mrkdwn import Mrkdwn, http_url, lines, link, md
from platforms.slack.render.rendered import check_view, text_object, truncate
from platforms.slack.render.rendered import section as text_section

MAX_VIEW_BLOCKS = 100  # Slack's limit for a view
MAX_TIERS = 6
MAX_ITEMS = 12  # open items shown with buttons (two blocks each)
MAX_SNOOZED = 10
MAX_CERTIFICATIONS = 8
MAX_GOALS = 8
MAX_TEAM_PEOPLE = 10
MAX_GROUPS = 5  # teams listed in the program overview
NAME_MAX = 60
GROUP_MAX = 60
BAR_WIDTH = 10

ITEM_SECTIONS = (("overdue", "Overdue"), ("due", "Due"), ("suggested", "Suggested for you"))


def progress_bar(done: int, total: int, *, width: int = BAR_WIDTH) -> str:
    """``▓▓▓▓▓░░░░░ 50%``: a text bar and the percent done, both rounded down.

    Rounding down keeps 199 of 200 at 99%: "100%" only when everything is done.
    """
    percent = 100 * done // total if total > 0 else 100
    filled = percent * width // 100
    return "▓" * filled + "░" * (width - filled) + f" {percent}%"


def render_home(page: HomePage) -> View:
    """The App Home view of one person (see the module docstring for its sections)."""
    status = page.status
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text="Your learning", emoji=True)),
        text_section(_intro(page)),
    ]
    if page.away:
        assert status.away_until is not None
        blocks.append(
            _context(
                md(
                    ":palm_tree: You're away until {day}: "
                    "reminders are paused. `/learn back` resumes them.",
                    day=short_day(status.away_until, status.today),
                )
            )
        )
    blocks.extend(_tier_blocks(status.tiers, status.today))
    blocks.append(DividerBlock())
    blocks.extend(_item_blocks(page.items, status.today))
    snoozed = [item for item in page.items if item.snoozed_until is not None]
    if snoozed:
        blocks.append(_snoozed_block(snoozed, status.today, status.timezone))
    blocks.append(DividerBlock())
    blocks.extend(_certification_blocks(page))
    if page.team is not None:
        blocks.append(DividerBlock())
        blocks.extend(_team_blocks(page.team))
    if page.program is not None:
        blocks.append(DividerBlock())
        blocks.extend(_program_blocks(page.program))
    return _checked(View(type="home", blocks=_fit(blocks)))


def render_welcome(welcome: Welcome) -> View:
    """The App Home view of someone learnbot does not know (yet), or whose profile is off."""
    if welcome.inactive:
        text = md(
            "Your learnbot profile is switched off, so there is no learning path to show. "
            "If that is a mistake, ask a learnbot admin to switch it back on."
        )
    else:
        text = md(
            "learnbot runs our training program here in Slack: a learning path for your "
            "role, one short digest on working days with what is due, and buttons to mark "
            "items done or snooze them.\n\n"
            "*You're not enrolled yet.* A learnbot admin adds you and picks your role; "
            "your path then appears on this tab."
        )
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text="Welcome to learnbot", emoji=True)),
        text_section(text),
        _context(md("Type `/learn help` in any conversation to see what learnbot can do.")),
    ]
    if welcome.program is not None:
        blocks.append(DividerBlock())
        blocks.extend(_program_blocks(welcome.program))
    return _checked(View(type="home", blocks=_fit(blocks)))


# --- the person's own path ---------------------------------------------------------


def _intro(page: HomePage) -> Mrkdwn:
    status = page.status
    if not status.program_title:
        return md(
            "You don't have a learning path yet: paths come from your job role, and a "
            "learnbot admin sets yours. Anything assigned to you directly is below."
        )
    done = sum(tier.required_done[0] for tier in status.tiers)
    total = sum(tier.required_done[1] for tier in status.tiers)
    title = truncate(" ".join(status.program_title.split()), 150)
    overall = (
        f"{progress_bar(done, total)} · {done} of {total} required items done"
        if total
        else "no required items"
    )
    return md("*{title}* path\n{overall}", title=title, overall=overall)


def _tier_blocks(tiers: Sequence[TierLine], today: date) -> list[Block]:
    blocks: list[Block] = []
    for tier in tiers[:MAX_TIERS]:
        done, total = tier.required_done
        title = truncate(" ".join(tier.title.split()) or "Untitled tier", 150)
        if tier.starts_on is not None and tier.starts_on > today:
            line = f"starts {short_day(tier.starts_on, today)}"
        elif total:
            line = f"{progress_bar(done, total)} · {done} of {total} required items done"
        else:
            line = "no required items"
        blocks.append(text_section(md("*{title}*\n{line}", title=title, line=line)))
    if len(tiers) > MAX_TIERS:
        blocks.append(
            _context(md("…and {n} more tiers — `/learn` lists them", n=len(tiers) - MAX_TIERS))
        )
    return blocks


def _kind(item: HomeItem) -> str:
    if item.overdue:
        return "overdue"
    return "due" if item.required else "suggested"


def _item_blocks(items: Sequence[HomeItem], today: date) -> list[Block]:
    awake = [item for item in items if item.snoozed_until is None]
    if not awake:
        return [text_section(md("*Due and overdue*\nNothing is due right now. :tada:"))]
    blocks: list[Block] = []
    shown = 0
    for kind, label in ITEM_SECTIONS:
        of_kind = [item for item in awake if _kind(item) == kind]
        room = MAX_ITEMS - shown
        if not of_kind or room <= 0:
            continue
        blocks.append(text_section(md("*{label}*", label=label)))
        for item in of_kind[:room]:
            blocks.extend(_one_item(item, today))
            shown += 1
    if shown < len(awake):
        blocks.append(
            _context(
                md(
                    "…and {n} more open items — `/learn due` lists them all",
                    n=len(awake) - shown,
                )
            )
        )
    return blocks


def _one_item(item: HomeItem, today: date) -> list[Block]:
    title = truncate(" ".join(item.title.split()) or item.key or "Untitled", TITLE_MAX)
    url = item.url if item.url and len(item.url) <= LINK_URL_MAX else None
    heading = link(url, title)
    details = [
        truncate(method_label(item.method), 40),
        duration(item.minutes),
        "Required" if item.required else "Suggested",
        _due_phrase(item, today),
    ]
    return [
        text_section(
            lines(heading, Mrkdwn(" · ").join(d for d in details if d)),
            block_id=ids.item_block_id(item.assignment_id),
        ),
        item_actions(
            item.assignment_id,
            item.url if item.url and http_url(item.url, max_length=BUTTON_URL_MAX) else None,
            extension=item.required and item.overdue,
        ),
    ]


def _due_phrase(item: HomeItem, today: date) -> str:
    due = item.due_date
    if item.waiting_for:
        titles = [truncate(" ".join(t.split()), 80) for t in item.waiting_for]
        return "after " + " and ".join(titles)  # plain: escaped where it is joined
    if due is None:
        return "no due date"
    if not item.required:
        return ""  # a suggestion has no deadline
    if item.overdue:
        late = item.overdue_working_days
        if late > 0:
            return f"*{late} working day{'s' if late != 1 else ''} overdue*"
        return f"*was due {short_day(due, today)}*"
    if due == today:
        return "due today"
    if due == today + timedelta(days=1):
        return "due tomorrow"
    if due < today:
        return ""  # a suggested item past its date: offered, never chased
    return f"due {short_day(due, today)}"


def _snoozed_block(items: Sequence[HomeItem], today: date, zone: str) -> Block:
    shown = []
    for item in items[:MAX_SNOOZED]:
        assert item.snoozed_until is not None
        back = _local_day(item.snoozed_until, zone)
        title = truncate(" ".join(item.title.split()) or item.key, 80)
        shown.append(md("• {title} — back on {day}", title=title, day=short_day(back, today)))
    if len(items) > MAX_SNOOZED:
        shown.append(md("…and {n} more", n=len(items) - MAX_SNOOZED))
    return text_section(lines(md("*Snoozed*"), *shown))


def _certification_blocks(page: HomePage) -> list[Block]:
    today = page.status.today
    if page.certifications:
        held_lines = [
            md(
                "• :medal: {title} — {state}",
                title=truncate(" ".join(held.title.split()), 100),
                state=validity_of(held, today),
            )
            for held in page.certifications[:MAX_CERTIFICATIONS]
        ]
        if len(page.certifications) > MAX_CERTIFICATIONS:
            held_lines.append(md("…and {n} more", n=len(page.certifications) - MAX_CERTIFICATIONS))
        held_text = lines(md("*Certifications*"), *held_lines)
    else:
        held_text = md("*Certifications*\nNo certifications yet.")
    blocks: list[Block] = [text_section(held_text)]
    if page.goals:
        goal_lines = [
            md(
                "• {title}: {met} of {needed} requirements met",
                title=truncate(" ".join(goal.title.split()), 100),
                met=goal.met,
                needed=goal.needed,
            )
            for goal in page.goals[:MAX_GOALS]
        ]
        if len(page.goals) > MAX_GOALS:
            goal_lines.append(md("…and {n} more", n=len(page.goals) - MAX_GOALS))
        blocks.append(text_section(lines(md("*Working towards*"), *goal_lines)))
    return blocks


# --- managers and admins ----------------------------------------------------------------


def _team_blocks(team: TeamSummary) -> list[Block]:
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text="My team", emoji=True)),
        SectionBlock(
            fields=[
                text_object(md("*People*\n{n:,}", n=team.people)),
                text_object(
                    md("*Required items done*\n{bar}", bar=_bar(team.done, team.required_total))
                ),
                text_object(
                    md(
                        "*Overdue items*\n{n:,}{people}",
                        n=team.overdue,
                        people=f" ({team.people_overdue:,} people)" if team.people_overdue else "",
                    )
                ),
                text_object(
                    md(
                        "*Done / owed*\n{done:,} / {owed:,}",
                        done=team.done,
                        owed=team.required_total,
                    )
                ),
            ]
        ),
    ]
    if team.most_overdue:
        overdue_lines = []
        for person in team.most_overdue[:MAX_TEAM_PEOPLE]:
            name = truncate(" ".join(person.name.split()) or person.email, NAME_MAX)
            late = person.overdue_working_days
            lateness = f"{late} working day{'s' if late != 1 else ''} late" if late else "just due"
            items = f"{person.overdue_items} overdue item{'s' if person.overdue_items != 1 else ''}"
            overdue_lines.append(
                md("• {name} — {items}, {lateness}", name=name, items=items, lateness=lateness)
            )
        blocks.append(text_section(lines(md("*Most overdue*"), *overdue_lines)))
        hidden = team.people_overdue - len(overdue_lines)
        if hidden > 0:
            blocks.append(
                _context(md("…and {n:,} more people with overdue items — `/learn team`", n=hidden))
            )
    else:
        blocks.append(_context(md("Nobody on your team has anything overdue. :sparkles:")))
    return blocks


def _program_blocks(report: CompletionReport) -> list[Block]:
    total = report.total
    owed = total.done + total.due + total.overdue
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text="Program overview", emoji=True)),
        SectionBlock(
            fields=[
                text_object(md("*People*\n{n:,}", n=total.people)),
                text_object(md("*Required items done*\n{bar}", bar=_bar(total.done, owed))),
                text_object(md("*Overdue items*\n{n:,}", n=total.overdue)),
                text_object(md("*Waived*\n{n:,}", n=total.waived)),
            ]
        ),
    ]
    behind = sorted(
        (row for row in report.by_team if row.done + row.due + row.overdue),
        key=lambda row: (row.percent, -row.overdue, row.group.lower()),
    )
    if behind:
        group_lines = [_group_line(row) for row in behind[:MAX_GROUPS]]
        if len(behind) > MAX_GROUPS:
            group_lines.append(md("…and {n:,} more teams", n=len(behind) - MAX_GROUPS))
        blocks.append(text_section(lines(md("*Teams most behind*"), *group_lines)))
    blocks.append(_context(md("`/learn admin report` gives the full report by team and role.")))
    return blocks


def _group_line(row: ReportRow) -> Mrkdwn:
    return md(
        "• {name} — {bar}, {overdue:,} overdue",
        name=truncate(" ".join(row.group.split()) or "(no team)", GROUP_MAX),
        bar=_bar(row.done, row.done + row.due + row.overdue),
        overdue=row.overdue,
    )


# --- small helpers ----------------------------------------------------------------------


def _bar(done: int, total: int) -> str:
    return progress_bar(done, total) if total else "nothing owed yet"


def _context(text: Mrkdwn) -> Block:
    return ContextBlock(elements=[text_object(text)])


def _checked(view: View) -> View:
    """``view``, once its texts are known to be escaped (``check_view``)."""
    check_view(view)
    return view


def _local_day(at: datetime, zone: str) -> date:
    return at.astimezone(ZoneInfo(zone)).date()


def _fit(blocks: list[Block]) -> list[Block]:
    """A last guard: the caps above keep views near 60 blocks, never past the limit."""
    if len(blocks) <= MAX_VIEW_BLOCKS:
        return blocks
    return [*blocks[: MAX_VIEW_BLOCKS - 1], _context(md("…more than fits here — try `/learn`"))]
