"""One escaping rule, for every message kind: DMs, channel posts, App Home and modals.

Every renderer in ``messages/`` (and the text handlers add) is given hostile text in
every field a person, a Slack profile, the programs file or an LMS controls: names,
titles, reasons, team names, item keys and methods, urls, Slack ids, channel names.
Whatever it is given, the message it makes holds no mention, channel link or link that
the renderer did not build from a resolved person (a Slack id it was given as such) or
a validated http(s) url: not in the fallback ``text``, not in any block, not in a view.

The renderers are enumerated from the code, so a new one without hostile coverage here
fails ``test_every_renderer_has_hostile_coverage``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.models.views import View

import messages
import platforms.slack.render
from learning.certifications import Requirement, Standing
from learning.command_parser import UsageError
from learning.curriculum import ProgramSettings
from learning.digest import Digest, DigestItem, ItemOutcome
from learning.errors import LearnbotError, Problem
from learning.game_board import (
    GameBoard,
    NamedPerson,
    NewCertification,
    Period,
    TeamStanding,
    YourPlace,
)
from learning.home import CertificationGoal, HeldCertification, HomeItem, HomePage, Welcome
from learning.members import RoleChoice
from learning.progress import (
    CompletionReport,
    ItemLine,
    PersonStatus,
    ReportRow,
    TeamMember,
    TierLine,
)
from learning.team import OverduePerson, TeamSummary
from messages.markup import Markup
from platforms.slack.listeners.actions import ALREADY_DONE
from platforms.slack.listeners.replies import error_text
from platforms.slack.render import certifications as certs
from platforms.slack.render import (
    commands,
    digest,
    escalation,
    extensions,
    game_board,
    home,
    kudos,
    members,
    mentoring,
    modals,
    peer_prompts,
    render,
    weekly_digest,
)
from platforms.slack.render.mrkdwn import (
    Mrkdwn,
    app_url,
    channel_mention,
    esc,
    lines,
    link,
    md,
    mention,
    person,
)
from platforms.slack.render.rendered import (
    RenderedMessage,
    UnsafeText,
    escape_mrkdwn,
    mrkdwn_link,
    sections_message,
)

TODAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# What people, profiles, files and LMS exports may hold.
HOSTILE = (
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U123>",
    "<@U123|grace>",
    "<#C1>",
    "<#C0GENERAL|general>",
    "<https://x|y>",
    "<https://evil.example/login|the release notes>",
    "<!subteam^S1|@team>",
    "<!date^1392734382^{date}|Feb 18>",
    "<mailto:a@b.io|boss>",
    "Omar <!everyone>",
    "&",
    "&amp;",
    "&lt;!channel&gt;",
    "*",
    "_",
    "~",
    "`",
    "```",
    "> quote",
    "\x00",
    "a\x00b",
    "\x07\x1b[31m",
    "@channel",
    "@here",
    "#general",
    "https://evil.example",
    "<",
    ">",
    "<<@U1>>",
    "<@U1",
    "|",
    "a\u202eb",
    "\n\n",
    "{title}",
    "%s",
)
HOSTILE_TEXT = st.one_of(
    st.sampled_from(HOSTILE),
    st.lists(st.sampled_from(HOSTILE) | st.text(max_size=8), min_size=1, max_size=6).map("".join),
    st.text(max_size=40),
    st.sampled_from(HOSTILE).map(lambda s: s * 700),  # very long text
)
GOOD_URLS = ("https://lms.example.com/c/1", "http://x.io/a?b=1&c=2", "https://x.io/a|b<c>")
BAD_URLS = (
    "javascript:alert(1)",
    "<!channel>",
    "https://x|y>",
    "https://evil.example/login|the release notes",
    "ftp://x.io/f",
    "https://x.io/a b",
    "https://",
    "https://[::1",
    "slack://app?team=T1",
    "https://x.io/\x00",
    "//evil.example",
)
URLS = st.one_of(st.none(), st.sampled_from(GOOD_URLS + BAD_URLS), HOSTILE_TEXT)
ROLE_KEYS = ("engineer", "sales-emea", "r" * 64)
GOOD_IDS = ("U0ANA", "W0123ABCD", "U0BOB")
SLACK_IDS = st.one_of(
    st.none(),
    st.sampled_from(GOOD_IDS),
    st.sampled_from(("", "u0lower", "C0CHAN", "U1> <!channel", "<!here>", "U", "U0ANA|x")),
    HOSTILE_TEXT,
)
CHANNEL_IDS = st.one_of(
    st.sampled_from(("C0GENERAL", "G0PRIVATE", "D0DM", "", "C1> <!channel")), HOSTILE_TEXT
)

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,30}")


def _valid_url(url: object) -> bool:
    """An http(s) url with a host and no whitespace or control characters (checked here
    independently of the renderers' own check)."""
    if not isinstance(url, str) or not url or any(c.isspace() or ord(c) < 32 for c in url):
        return False
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


@dataclass
class Hostile:
    """Draws hostile field values and remembers which ids and urls are legitimate: the
    only ones a mention, channel link or link may be built from."""

    data: Any
    users: set[str] = field(default_factory=set)
    channels: set[str] = field(default_factory=set)
    urls: set[str] = field(default_factory=set)

    def text(self, label: str = "text") -> str:
        return self.data.draw(HOSTILE_TEXT, label=label)

    def url(self, label: str = "url") -> str | None:
        url = self.data.draw(URLS, label=label)
        if _valid_url(url):
            self.urls.add(url)
        return url

    def home_url(self, label: str = "home url") -> str | None:
        """learnbot's own Home link (a slack://app deep link or http(s)), not a person's."""
        url = self.data.draw(URLS, label=label)
        if _valid_url(url) or app_url(url) is not None:
            self.urls.add(url)
        return url

    def slack_id(self, label: str = "slack id") -> str | None:
        value = self.data.draw(SLACK_IDS, label=label)
        if isinstance(value, str) and _USER_ID.fullmatch(value):
            self.users.add(value)  # a person learnbot resolved: may be mentioned
        return value

    def channel_id(self, label: str = "channel id") -> str:
        value = self.data.draw(CHANNEL_IDS, label=label)
        if _CHANNEL_ID.fullmatch(value):
            self.channels.add(value)
        return value

    def flag(self, label: str = "flag") -> bool:
        return self.data.draw(st.booleans(), label=label)

    def pick(self, values: tuple[Any, ...], label: str = "choice") -> Any:
        return self.data.draw(st.sampled_from(values), label=label)


# --- what Slack would read as markup ------------------------------------------------------

_TOKEN = re.compile(r"<([^<>]*)>")
_BARE_AMPERSAND = re.compile(r"&(?!(?:amp|lt|gt);)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def mrkdwn_texts(output: Any) -> list[tuple[str, str]]:
    """``(where, text)`` of everything Slack reads as mrkdwn in a renderer's output."""
    if output is None:
        return []
    if isinstance(output, RenderedMessage):
        return [("text", output.text), *_block_texts(output.blocks, "blocks")]
    if isinstance(output, View):
        output = output.to_dict()
    if isinstance(output, dict):
        return _block_texts(output.get("blocks") or [], "view.blocks")
    assert isinstance(output, Mrkdwn), f"unexpected renderer output {type(output).__name__}"
    return [("markup", output)]


def _block_texts(value: Any, where: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn":
            assert value.get("verbatim") is True, f"{where}: mrkdwn without verbatim"
            found.append((where, value["text"]))
        for key, item in value.items():
            found.extend(_block_texts(item, f"{where}.{key}"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_block_texts(item, f"{where}[{index}]"))
    return found


def _urls(value: Any) -> list[str]:
    if isinstance(value, dict):
        own = [value["url"]] if "url" in value else []
        return own + [u for v in value.values() for u in _urls(v)]
    if isinstance(value, list):
        return [u for item in value for u in _urls(item)]
    return []


def assert_only_built_markup(output: Any, hostile: Hostile, extra_urls: set[str] = frozenset()):
    """No mention, channel link or link in ``output`` but those built from
    ``hostile``'s legitimate ids and urls; no raw control characters or bare ``&``."""
    allowed_urls = hostile.urls | set(extra_urls)
    for where, text in mrkdwn_texts(output):
        assert isinstance(text, Mrkdwn), f"{where}: plain str reached a message"
        assert not _CONTROL.search(text), f"{where}: control character in {text[:80]!r}"
        assert not _BARE_AMPERSAND.search(text), f"{where}: bare & in {text[:80]!r}"
        assert "<" not in _TOKEN.sub("", text), f"{where}: stray '<' in {text[:120]!r}"
        for token in _TOKEN.finditer(text):
            inner = token.group(1)
            if inner.startswith("@"):
                assert inner[1:] in hostile.users, f"{where}: mention {token.group()!r}"
            elif inner.startswith("#"):
                assert inner[1:] in hostile.channels, f"{where}: channel {token.group()!r}"
            else:
                target, bar, label = inner.partition("|")
                url = (
                    target.replace("%7C", "|")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&")
                )
                assert bar and label.strip(), f"{where}: link without a label {token.group()!r}"
                assert url in allowed_urls, f"{where}: link {token.group()[:120]!r}"
    blocks: Any = output.blocks if isinstance(output, RenderedMessage) else output
    if isinstance(blocks, View):
        blocks = blocks.to_dict()
    for url in _urls(blocks if isinstance(blocks, dict | list) else []):
        assert url in allowed_urls, f"button url {url[:120]!r}"


# --- hostile inputs for every renderer ------------------------------------------------------


def _standing(h: Hostile) -> Standing:
    return Standing(
        title=h.text("certification title"),
        expires_on=h.pick((None, TODAY + timedelta(days=300), TODAY - timedelta(days=3))),
        lapses_on=TODAY + timedelta(days=20),
        window_opens_on=TODAY - timedelta(days=10),
        key=h.text("certification key"),
        cycle=1,
        awarded_on=TODAY,
    )


def _requirements(h: Hostile) -> list[Requirement]:
    return [
        Requirement(
            item_id=n,
            key=h.text("item key"),
            title=h.text("item title"),
            method=h.text("method"),
            minutes=30,
            min_score=h.pick((None, 80.0)),
        )
        for n in range(h.pick((1, 3, 20)))
    ]


def _item_line(h: Hostile, status: str) -> ItemLine:
    return ItemLine(
        key=h.text("item key"),
        title=h.text("item title"),
        method=h.text("method"),
        minutes=45,
        required=h.flag("required"),
        status=status,
        due_date=TODAY - timedelta(days=3) if status == "overdue" else TODAY + timedelta(days=2),
        overdue_working_days=3 if status == "overdue" else 0,
    )


def _status(h: Hostile) -> PersonStatus:
    return PersonStatus(
        email=h.text("email"),
        name=h.text("name"),
        role=h.text("role"),
        program_title=h.pick((None, "Engineer")) or h.text("program title"),
        team=h.text("team"),
        manager=h.text("manager"),
        timezone="Europe/London",
        today=TODAY,
        active=True,
        away_until=h.pick((None, TODAY + timedelta(days=4))),
        tiers=[
            TierLine(
                title=h.text("tier title"),
                starts_on=h.pick((None, TODAY + timedelta(days=30))),
                items=[_item_line(h, "overdue"), _item_line(h, "open")],
            )
        ],
        other=[_item_line(h, "open"), _item_line(h, "overdue")],
    )


def _report(h: Hostile) -> CompletionReport:
    rows = [
        ReportRow(group=h.text("team name"), people=3, done=2, due=1, overdue=1) for _ in range(3)
    ]
    return CompletionReport(
        as_of=NOW,
        by_team=rows,
        by_role=[ReportRow(group=h.text("role"), people=2, done=1, due=1, overdue=0)],
        total=ReportRow(group="All", people=9, done=6, due=3, overdue=3, waived=1),
    )


def _digest(h: Hostile) -> Digest:
    items = tuple(
        DigestItem(
            assignment_id=n,
            key=h.text("item key"),
            title=h.text("item title"),
            url=h.url("item url"),
            method=h.text("method"),
            minutes=30,
            required=h.flag("required"),
            due_date=TODAY - timedelta(days=n),
            section=h.pick(("overdue", "due_soon", "rescheduled", "suggested")),
            overdue_working_days=h.pick((0, 3)),
            warned=h.flag("warned"),
            next_notice_to=h.pick((None, "manager", "skip_level")),
            next_notice_on=TODAY + timedelta(days=3),
            extension_requested=h.flag("extension requested"),
            mentor_offer=h.flag("mentor offer"),
            due_changed=h.pick((None, "role", "prerequisite")),
            due_changed_after=h.text("prerequisite title"),
        )
        for n in range(1, h.pick((2, 4)) + 1)
    )
    return Digest(person_id=1, first_name=h.text("first name"), local_date=TODAY, items=items)


def _escalation_payload(h: Hostile) -> dict[str, Any]:
    return {
        "to": h.pick(("admins", "manager")),
        "first_name": h.text("first name"),
        "local_date": TODAY.isoformat(),
        "learners": [
            {
                "person_id": n,
                "name": h.text("learner name"),
                "slack_user_id": h.slack_id("learner slack id"),
                "items": [
                    {
                        "assignment_id": n,
                        "key": h.text("item key"),
                        "title": h.text("item title"),
                        "due_date": "2026-02-20",
                        "overdue_working_days": 5,
                        "step": h.pick(("manager", "skip_level")),
                        "told_first": h.text("told first"),
                    }
                ],
            }
            for n in (1, 2)
        ],
    }


def _weekly_payload(h: Hostile) -> dict[str, Any]:
    def row(extra: str, day: str) -> dict[str, Any]:
        return {"person_id": 1, "name": h.text("name"), "certification": h.text("cert"), extra: day}

    return {
        "version": 1,
        "manager_id": 7,
        "first_name": h.text("first name"),
        "week": "2026-W10",
        "local_date": TODAY.isoformat(),
        "people": 12,
        "required_done": 40,
        "required_total": 52,
        "percent": 76.9,
        "overdue_items": 5,
        "people_overdue": 2,
        "overdue": [
            {
                "person_id": 9,
                "name": h.text("name"),
                "overdue_items": 2,
                "overdue_working_days": 7,
                "oldest_due": "2026-02-20",
            }
        ],
        "overdue_more": 0,
        "earned_count": 1,
        "earned": [row("awarded_on", "2026-02-27")],
        "expiring_count": 1,
        "expiring": [row("expires_on", "2026-03-20")],
    }


def _board(h: Hostile) -> GameBoard:
    def named() -> NamedPerson:
        return NamedPerson(person_id=1, name=h.text("name"), chat_user_id=h.slack_id(), count=3)

    return GameBoard(
        period=Period(
            start=NOW, end=NOW + timedelta(days=7), first_day=TODAY, last_day=TODAY, so_far=True
        ),
        ranking=tuple(
            TeamStanding(rank=n, team=h.text("team"), people=5, done=3, owed=5, change=2.0)
            for n in (1, 2, 3)
        ),
        top_teams=3,
        min_team_size=3,
        climbers=(named(), named()),
        certifications=(
            NewCertification(
                person_id=1,
                name=h.text("name"),
                chat_user_id=h.slack_id(),
                certification=h.text("cert"),
            ),
        ),
        certifications_total=3,
        kudos=4,
        most_thanked=(named(),),
    )


def _place(h: Hostile) -> YourPlace:
    standing = TeamStanding(rank=2, team=h.text("team"), people=5, done=3, owed=5, change=None)
    return YourPlace(
        team=h.text("team"),
        team_size=h.pick((1, 5)),
        standing=h.pick((None, standing)),
        teams_ranked=3,
        min_team_size=3,
        on_leaderboard=h.flag(),
        public_posts=h.flag(),
    )


def _home_page(h: Hostile) -> HomePage:
    def item(n: int, snoozed: bool) -> HomeItem:
        return HomeItem(
            assignment_id=n,
            key=h.text("item key"),
            title=h.text("item title"),
            url=h.url("item url"),
            method=h.text("method"),
            minutes=20,
            required=h.flag("required"),
            due_date=TODAY,
            overdue=h.flag("overdue"),
            overdue_working_days=2,
            snoozed_until=NOW + timedelta(days=2) if snoozed else None,
        )

    team = TeamSummary(
        people=3,
        done=1,
        due=1,
        overdue=1,
        people_overdue=2,
        most_overdue=(
            OverduePerson(
                person_id=1,
                name=h.text("name"),
                email=h.text("email"),
                chat_user_id=h.slack_id(),
                overdue_items=2,
                oldest_due=TODAY,
                overdue_working_days=3,
            ),
        ),
    )
    return HomePage(
        status=_status(h),
        items=(item(1, False), item(2, True), item(3, False)),
        certifications=(
            HeldCertification(title=h.text("cert"), expires_on=TODAY + timedelta(days=9)),
        ),
        goals=(CertificationGoal(title=h.text("cert"), met=1, needed=2),),
        team=h.pick((None, team)),
        program=h.pick((None, _report(h))),
    )


def _card(h: Hostile) -> extensions.RequestCard:
    return extensions.RequestCard(
        request_id=1,
        learner_name=h.text("learner name"),
        item_title=h.text("item title"),
        due=TODAY,
        proposed=TODAY + timedelta(days=10),
        reason=h.text("reason"),
        today=TODAY,
        overdue_working_days=2,
        to_admins=h.flag(),
        decision=h.pick(("", "approved", "declined", "expired")) or h.text("decision"),
        decided_by=h.text("decided by"),
        decided_on=TODAY,
    )


def _people(h: Hostile) -> list[tuple[str, str | None]]:
    return [(h.text("name"), h.slack_id()) for _ in range(h.pick((0, 1, 3, 25)))]


def _stored_round_trip(h: Hostile) -> RenderedMessage:
    """A message a renderer made, through the outbox's JSON and back (the sender's path)."""
    made = kudos.kudos_post_message(
        giver_name=h.text("giver"),
        giver_slack_id=h.slack_id(),
        recipient_name=h.text("recipient"),
        recipient_slack_id=h.slack_id(),
        reason=h.text("reason"),
    )
    again = render.render_text(json.loads(json.dumps(made.payload())))
    assert (again.text, again.blocks) == (made.text, made.blocks)
    return again


def _stored_hostile(h: Hostile) -> RenderedMessage:
    """A stored text payload holding anything at all: only the builders' forms survive
    (mentions of well-formed ids and http(s) links are kept as a renderer wrote them)."""
    text = h.text("stored text")
    text = text if text.strip() else "x"
    inner = h.text("stored block text") or "x"
    for value in (text, inner):
        h.users.update(re.findall(r"<@([UW][A-Z0-9]{2,30})>", value))
        h.channels.update(re.findall(r"<#([CG][A-Z0-9]{2,30})>", value))
        h.urls.update(
            u
            for u in re.findall(r"<(https?://[^\s<>|]+)(?:\|[^<>|]+)?>", value, re.I)
            if _valid_url(u.replace("&amp;", "&"))
        )
        h.urls.update(u.replace("&amp;", "&") for u in list(h.urls))
    section = {"type": "section", "text": {"type": "mrkdwn", "text": inner}}
    button = {
        "type": "button",
        "text": {"type": "plain_text", "text": "Open"},
        "url": h.home_url("button url"),
    }
    return render.render_text(
        {"text": text, "blocks": [section, {"type": "actions", "elements": [button]}]}
    )


Builder = Callable[[Hostile], Any]
M = "platforms.slack.render."

RENDERERS: dict[str, Builder] = {
    # --- certifications
    M + "certifications.award_holder_message": lambda h: certs.award_holder_message(
        name=h.text("name"),
        title=h.text("title"),
        kind=h.pick(("first", "renewal", "regained")),
        standing=_standing(h),
        today=TODAY,
        public=h.flag(),
        channel=h.pick((None, "#wins")) or h.text("channel"),
    ),
    M + "certifications.award_manager_message": lambda h: certs.award_manager_message(
        manager_name=h.text("manager"),
        holder_name=h.text("holder"),
        holder_slack_id=h.slack_id(),
        title=h.text("title"),
        kind=h.pick(("first", "renewal", "regained")),
        standing=_standing(h),
        today=TODAY,
    ),
    M + "certifications.certs_message": lambda h: certs.certs_message(
        [_standing(h), _standing(h)],
        today=TODAY,
        goals=[CertificationGoal(title=h.text("goal"), met=1, needed=3)],
        public=h.flag(),
        channel=h.text("channel"),
    ),
    M + "certifications.lapsed_holder_message": lambda h: certs.lapsed_holder_message(
        name=h.text("name"), title=h.text("title"), standing=_standing(h), today=TODAY
    ),
    M + "certifications.lapsed_manager_message": lambda h: certs.lapsed_manager_message(
        manager_name=h.text("manager"),
        holder_name=h.text("holder"),
        holder_slack_id=h.slack_id(),
        title=h.text("title"),
        standing=_standing(h),
        today=TODAY,
    ),
    M + "certifications.milestone_message": lambda h: certs.milestone_message(
        name=h.text("name"),
        slack_user_id=h.slack_id(),
        tier_title=h.text("tier"),
        program_title=h.text("program"),
        items=3,
        minutes=90,
    ),
    M + "certifications.post_failed_message": lambda h: certs.post_failed_message(
        outbox_id=7,
        key=h.text("key"),
        channel=h.text("channel"),
        error=h.pick(("not_in_channel", "ratelimited")) + h.text("error"),
    ),
    M + "certifications.privacy_message": lambda h: certs.privacy_message(
        public=h.flag(), changed=h.flag(), channel=h.text("channel")
    ),
    M + "certifications.shoutout_message": lambda h: certs.shoutout_message(
        name=h.text("name"),
        slack_user_id=h.slack_id(),
        title=h.text("title"),
        requirements=_requirements(h),
    ),
    M + "certifications.window_message": lambda h: certs.window_message(
        name=h.text("name"),
        title=h.text("title"),
        standing=_standing(h),
        today=TODAY,
        requirements=_requirements(h),
    ),
    # --- /learn replies
    M + "commands.admin_only_message": lambda h: commands.admin_only_message(),
    M + "commands.ambiguous_message": lambda h: commands.ambiguous_message(
        h.text("typed"), [(h.text("key"), h.text("title")) for _ in range(h.pick((2, 12)))]
    ),
    M + "commands.assign_message": lambda h: commands.assign_message(
        name=h.text("name"), email=h.text("email"), title=h.text("title"), due=TODAY
    ),
    M + "commands.away_message": lambda h: commands.away_message(TODAY),
    M + "commands.back_message": lambda h: commands.back_message(was_away=h.flag()),
    M + "commands.done_message": lambda h: commands.done_message(
        title=h.text("title"), already=h.flag()
    ),
    M + "commands.due_message": lambda h: commands.due_message(_status(h)),
    M + "commands.failed_message": lambda h: commands.failed_message(),
    M + "commands.help_message": lambda h: commands.help_message(),
    M + "commands.policy_message": lambda h: commands.policy_message(ProgramSettings()),
    M + "commands.refused_message": lambda h: commands.refused_message(h.text("reason")),
    M + "commands.reload_message": lambda h: commands.reload_message(
        source=h.text("file"), summary=h.text("summary"), changed=h.flag()
    ),
    M + "commands.reload_not_configured_message": lambda h: (
        commands.reload_not_configured_message()
    ),
    M + "commands.report_message": lambda h: commands.report_message(_report(h)),
    M + "commands.snooze_message": lambda h: commands.snooze_message(
        title=h.text("title"), until=NOW, zone="Europe/London"
    ),
    M + "commands.summary_message": lambda h: commands.summary_message(_status(h)),
    M + "commands.team_message": lambda h: commands.team_message(
        [
            TeamMember(
                person_id=n,
                name=h.text("name"),
                email=h.text("email"),
                required_done=1,
                required_total=3,
                overdue=h.pick((0, 2)),
                most_overdue_working_days=2,
            )
            for n in range(h.pick((1, 45)))
        ]
    ),
    M + "commands.unknown_person_message": lambda h: commands.unknown_person_message(),
    M + "commands.usage_message": lambda h: commands.usage_message(
        UsageError(h.text("message"), h.pick((None, "usage")) and h.text("usage"))
    ),
    M + "commands.validation_failed_message": lambda h: commands.validation_failed_message(
        [
            Problem(file=h.text("file"), line=3, field=h.text("field"), message=h.text("why"))
            for _ in range(h.pick((1, 40)))
        ]
    ),
    M + "commands.waive_message": lambda h: commands.waive_message(
        name=h.text("name"), email=h.text("email"), title=h.text("title"), reason=h.text("reason")
    ),
    M + "commands.working_on_it_message": lambda h: commands.working_on_it_message(),
    # --- the daily digest
    M + "digest.fallback_text": lambda h: digest.fallback_text(_digest(h), "2 overdue", 2),
    M + "digest.render_digest": lambda h: digest.render_digest(
        (d := _digest(h)),
        home_url=h.home_url(),
        outcomes=h.pick((None, {d.items[0].assignment_id: ItemOutcome("snoozed", TODAY)})),
    ),
    M + "digest.due_change_note": lambda h: digest.due_change_note(
        _digest(h).items[0]._replace(required=True, due_changed="prerequisite"), TODAY
    ),
    # --- escalation
    M + "escalation.render_escalation": lambda h: escalation.render_escalation(
        _escalation_payload(h)
    ),
    # --- extensions
    M + "extensions.decision_line": lambda h: extensions.decision_line(_card(h)),
    M + "extensions.declined_text": lambda h: extensions.declined_text(
        actor_name=h.text("actor"), item_title=h.text("title"), due=TODAY, today=TODAY
    ),
    M + "extensions.excuse_modal": lambda h: extensions.excuse_modal(
        learner_name=h.text("learner"),
        item_title=h.text("title"),
        due=h.pick((None, TODAY)),
        today=TODAY,
        metadata=extensions.ModalMetadata(1, "D0DM", "1.2"),
    ),
    M + "extensions.excused_confirmation": lambda h: extensions.excused_confirmation(
        h.text("learner"), h.text("title")
    ),
    M + "extensions.excused_text": lambda h: extensions.excused_text(
        actor_name=h.text("actor"), item_title=h.text("title"), reason=h.text("reason")
    ),
    M + "extensions.expired_text": lambda h: extensions.expired_text(
        item_title=h.text("title"), days=3, due=TODAY, today=TODAY
    ),
    M + "extensions.extend_modal": lambda h: extensions.extend_modal(
        learner_name=h.text("learner"),
        item_title=h.text("title"),
        due=TODAY,
        today=TODAY,
        metadata=extensions.ModalMetadata(1, "D0DM", "1.2"),
    ),
    M + "extensions.extended_confirmation": lambda h: extensions.extended_confirmation(
        h.text("learner"), h.text("title"), TODAY, TODAY
    ),
    M + "extensions.extended_text": lambda h: extensions.extended_text(
        actor_name=h.text("actor"),
        item_title=h.text("title"),
        due=TODAY,
        today=TODAY,
        reason=h.text("reason"),
        answered_request=h.flag(),
    ),
    M + "extensions.extension_request_modal": lambda h: extensions.extension_request_modal(
        item_title=h.text("title"),
        due=TODAY,
        today=TODAY,
        approver_name=h.pick((None, "x")) and h.text("approver"),
        metadata=extensions.ModalMetadata(1),
    ),
    M + "extensions.reminded_text": lambda h: extensions.reminded_text(
        h.text("learner"), sent=h.flag()
    ),
    M + "extensions.reminder_text": lambda h: extensions.reminder_text(
        actor_name=h.text("actor"),
        relation=h.pick(("manager", "chain", "admin")),
        item_title=h.text("title"),
        due=TODAY,
        today=TODAY,
    ),
    M + "extensions.request_card": lambda h: extensions.request_card(_card(h)),
    M + "extensions.requested_confirmation": lambda h: extensions.requested_confirmation(
        item_title=h.text("title"),
        proposed=TODAY,
        today=TODAY,
        approver_name=h.pick((None, "x")) and h.text("approver"),
        delivered=h.flag(),
    ),
    M + "extensions.unreachable_text": lambda h: extensions.unreachable_text(h.text("learner")),
    # --- game board
    M + "game_board.fallback_text": lambda h: game_board.fallback_text(_board(h)),
    M + "game_board.leaderboard_message": lambda h: game_board.leaderboard_message(
        _board(h), _place(h)
    ),
    M + "game_board.membership_message": lambda h: game_board.membership_message(
        join=h.flag(), changed=h.flag(), public_posts=h.flag()
    ),
    M + "game_board.render_game_board": lambda h: game_board.render_game_board(_board(h)),
    M + "game_board.switched_off_message": lambda h: game_board.switched_off_message(),
    M + "game_board.team_line": lambda h: game_board.team_line(_board(h).ranking[0]),
    M + "game_board.your_place_line": lambda h: game_board.your_place_line(_place(h)),
    # --- App Home
    M + "home.render_home": lambda h: home.render_home(_home_page(h)),
    M + "home.render_welcome": lambda h: home.render_welcome(
        Welcome(inactive=h.flag(), program=h.pick((None, _report(h))))
    ),
    # --- kudos
    M + "kudos.give_kudos_modal": lambda h: kudos.give_kudos_modal(
        author_slack_id=h.slack_id("author"),
        channel_id=h.channel_id(),
        message_text=h.text("the message's own text"),
        recognition_channel=h.text("channel"),
        metadata=kudos.KudosModalMetadata("C0GENERAL", "1.2"),
        name_of=h.pick((None, lambda _id: h.text("mentioned name"))),
    ),
    M + "kudos.kudos_dm_message": lambda h: kudos.kudos_dm_message(
        giver_name=h.text("giver"),
        giver_slack_id=h.slack_id(),
        reason=h.text("reason"),
        channel=h.pick((None, "x")) and h.text("channel"),
    ),
    M + "kudos.kudos_given_message": lambda h: kudos.kudos_given_message(
        recipient_name=h.text("recipient"),
        recipient_slack_id=h.slack_id(),
        channel=h.pick((None, "x")) and h.text("channel"),
        left_today=h.pick((0, 2)),
    ),
    M + "kudos.kudos_post_message": lambda h: kudos.kudos_post_message(
        giver_name=h.pick((None, "x")) and h.text("giver"),
        giver_slack_id=h.slack_id(),
        recipient_name=h.text("recipient"),
        recipient_slack_id=h.slack_id(),
        reason=h.text("reason"),
    ),
    M + "kudos.kudos_sent_view": lambda h: kudos.kudos_sent_view(
        recipient_name=h.text("recipient"),
        recipient_slack_id=h.slack_id(),
        channel=h.pick((None, "x")) and h.text("channel"),
        left_today=h.pick((0, 1)),
    ),
    M + "kudos.kudos_unknown_giver_view": lambda h: kudos.kudos_unknown_giver_view(h.text("why")),
    # --- members
    M + "members.render_assign_role_modal": lambda h: members.render_assign_role_modal(
        person_id=3,
        name=h.text("name"),
        roles=[
            # Role keys are checked by the programs file's schema; titles are free text.
            RoleChoice(role=h.pick(ROLE_KEYS), title=h.text("title"))
            for _ in range(h.pick((0, 2)))
        ],
        role=h.text("role"),
        team=h.text("team"),
    ),
    M + "members.render_join_notice": lambda h: members.render_join_notice(
        slack_user_id=h.slack_id() or "",
        name=h.text("name"),
        email=h.text("email"),
        person_id=h.pick((None, 4)),
    ),
    # --- mentoring
    M + "mentoring.mentoring_setting_message": lambda h: mentoring.mentoring_setting_message(
        available=h.flag(), changed=h.flag(), enabled=h.flag(), weekly_cap=2
    ),
    M + "mentoring.no_mentor_message": lambda h: mentoring.no_mentor_message(
        item_title=h.text("title"), community_channel=h.pick((None, "x")) and h.text("channel")
    ),
    M + "mentoring.paired_message": lambda h: mentoring.paired_message(
        mentor_name=h.text("mentor"),
        mentor_slack_id=h.slack_id() or "",
        item_title=h.text("title"),
        already=h.flag(),
    ),
    M + "mentoring.pairing_intro_message": lambda h: mentoring.pairing_intro_message(
        learner_name=h.text("learner"),
        learner_slack_id=h.slack_id() or "",
        mentor_name=h.text("mentor"),
        mentor_slack_id=h.slack_id() or "",
        item_title=h.text("title"),
        item_url=h.url(),
        reason=h.pick((mentoring.CERTIFIED, mentoring.OFFERED_HELP)),
        certification_title=h.pick((None, "x")) and h.text("certification"),
    ),
    M + "mentoring.refused_message": lambda h: mentoring.refused_message(h.text("why")),
    # --- the Done modal
    M + "modals.done_modal": lambda h: modals.done_modal(
        title=h.text("title"),
        method=h.text("method"),
        url=h.url(),
        assessment=h.flag(),
        metadata=modals.DoneModalMetadata(1, "D0DM", "1.2"),
    ),
    # --- the builders themselves
    M + "mrkdwn.channel_mention": lambda h: (
        channel_mention(c) if _CHANNEL_ID.fullmatch(c := h.channel_id()) else esc(c)
    ),
    M + "mrkdwn.esc": lambda h: esc(h.text()),
    M + "mrkdwn.lines": lambda h: lines(h.text(), esc(h.text()), h.text()),
    M + "mrkdwn.link": lambda h: link(h.url(), h.text("label")),
    M + "mrkdwn.md": lambda h: md("*{a}* {b}: {c}", a=h.text(), b=esc(h.text()), c=h.text()),
    M + "mrkdwn.mention": lambda h: (
        mention(u) if (u := h.slack_id()) and _USER_ID.fullmatch(u) else esc(u or "")
    ),
    M + "mrkdwn.person": lambda h: person(h.text("name"), h.slack_id()),
    M + "rendered.escape_mrkdwn": lambda h: escape_mrkdwn(h.text()),
    M + "rendered.mrkdwn_link": lambda h: mrkdwn_link(h.url(), h.text("label")),
    M + "rendered.sections_message": lambda h: sections_message(
        esc(h.text()), esc(h.text()), md("{x}", x=h.text()), note=esc(h.text())
    ),
    # --- peer prompts
    M + "peer_prompts.click_reply": lambda h: peer_prompts.click_reply(
        kind=h.pick(("help", "learning")), new=h.flag(), public=h.flag(), followed_up=h.flag()
    ),
    M + "peer_prompts.intro_message": lambda h: peer_prompts.intro_message(
        title=h.text("title"), url=h.url(), helpers=_people(h), learners=_people(h)
    ),
    M + "peer_prompts.prompt_message": lambda h: peer_prompts.prompt_message(
        prompt_id=1,
        title=h.text("title"),
        url=h.url(),
        method=h.text("method"),
        minutes=30,
        learners_due=h.pick((1, 5)),
        can_help=1,
        learning=2,
    ),
    # --- the outbox: every stored kind, and stored text
    M + "render.render_outbox": lambda h: render.render_outbox(
        (kind := h.pick(("digest", "escalation", "weekly_manager", "text"))),
        {
            "digest": lambda: {"digest": _digest(h).to_json()},
            "escalation": lambda: _escalation_payload(h),
            "weekly_manager": lambda: _weekly_payload(h),
            "text": lambda: _stored_round_trip(h).payload(),
        }[kind](),
    ),
    M + "render.render_text": lambda h: (
        _stored_round_trip(h) if h.flag("made by a renderer") else _stored_hostile(h)
    ),
    # --- weekly manager digest
    M + "weekly_digest.fallback_text": lambda h: weekly_digest.fallback_text(_weekly_payload(h)),
    M + "weekly_digest.render_weekly_digest": lambda h: weekly_digest.render_weekly_digest(
        _weekly_payload(h), home_url=h.home_url()
    ),
    # --- what handlers add
    M + "certifications.trusted_score_note": lambda h: certs.trusted_score_note(
        score=100, titles=[h.text("certification"), h.text("certification")]
    ),
    "platforms.slack.listeners.replies.error_text": lambda h: error_text(
        LearnbotError(h.text("error"))
    ),
    "platforms.slack.listeners.actions.ALREADY_DONE": lambda h: ALREADY_DONE.format(
        title=h.text("title")
    ),
}

# Public functions in messages/ that return markup but only check it, not make it.
NOT_RENDERERS = {M + "rendered.check_view"}


def _enumerated_renderers() -> set[str]:
    """Every public function in ``messages/`` and the Slack renderers that returns a
    message, a view or markup."""
    found = set()
    for package in (messages, platforms.slack.render):
        for module_info in pkgutil.iter_modules(package.__path__):
            found |= _renderers_in(
                importlib.import_module(f"{package.__name__}.{module_info.name}")
            )
    return found - NOT_RENDERERS


def _renderers_in(module: Any) -> set[str]:
    found = set()
    for name, function in inspect.getmembers(module, inspect.isfunction):
        if function.__module__ != module.__name__ or name.startswith("_"):
            continue
        returns = str(function.__annotations__.get("return", ""))
        if re.search(r"\b(RenderedMessage|View|Mrkdwn)\b|dict\[str, Any\]", returns):
            found.add(f"{module.__name__}.{name}")
    return found


def test_every_renderer_has_hostile_coverage():
    renderers = _enumerated_renderers()
    assert len(renderers) > 60
    missing = sorted(renderers - set(RENDERERS))
    assert not missing, f"renderers without hostile coverage in {__name__}.RENDERERS: {missing}"
    stale = sorted(name for name in set(RENDERERS) - renderers if name.startswith(M))
    assert not stale, f"RENDERERS names functions that no longer render: {stale}"


@pytest.mark.parametrize("name", sorted(RENDERERS))
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_hostile_text_never_becomes_a_mention_or_a_link(name, data):
    hostile = Hostile(data)
    output = RENDERERS[name](hostile)
    assert_only_built_markup(output, hostile)


# --- the types enforce it -------------------------------------------------------------------


def test_a_plain_str_is_refused_as_message_text_or_block_text():
    with pytest.raises(UnsafeText, match="plain str"):
        RenderedMessage(text="Grace <!channel>", blocks=[])  # type: ignore[arg-type]
    block = {"type": "section", "text": {"type": "mrkdwn", "text": "<!here>", "verbatim": True}}
    with pytest.raises(UnsafeText, match="plain str"):
        RenderedMessage(text=md("hi"), blocks=[block])
    with pytest.raises(UnsafeText, match="verbatim"):
        RenderedMessage(
            text=md("hi"), blocks=[{**block, "text": {"type": "mrkdwn", "text": md("x")}}]
        )
    with pytest.raises(UnsafeText, match="url"):
        button = {
            "type": "button",
            "text": {"type": "plain_text", "text": "Go"},
            "url": "javascript:x",
        }
        RenderedMessage(text=md("hi"), blocks=[{"type": "actions", "elements": [button]}])


def test_markup_is_built_only_by_the_helpers():
    with pytest.raises(ValueError, match="reserved markup"):
        Mrkdwn("<!channel>")
    with pytest.raises(ValueError, match="reserved markup"):
        Mrkdwn("Q&A")
    assert md("{name} &amp; co", name="<!channel> & co") == "&lt;!channel&gt; &amp; co &amp; co"
    assert md("{who} said", who=mention("U0ANA")) == "<@U0ANA> said"
    with pytest.raises(ValueError):
        mention("U1> <!channel")
    # Every other str operation gives back a plain str, which messages refuse.
    joined = f"{md('*bold*')} {'<!here>'}"
    assert type(joined) is str
    assert type(md("x").replace("x", "<!here>")) is str
    assert type(" ".join([md("a"), md("b")])) is str
    # ...while the markup operations escape what they add.
    assert md("a") + "<!here>" == "a&lt;!here&gt;"
    assert "<!here>" + md("a") == "&lt;!here&gt;a"
    assert Mrkdwn(", ").join(["<!here>", mention("U0ANA")]) == "&lt;!here&gt;, <@U0ANA>"
    with pytest.raises(TypeError):
        md("a") % ("<!here>",)


def test_the_escaping_type_is_platform_neutral():
    """A second platform brings its own dialect; its markup never mixes with Slack's."""

    class Angle:
        name = "other"

        def escape(self, text: str) -> str:
            return text.replace("[", "(").replace("]", ")")

        def is_plain_literal(self, text: str) -> bool:
            return "[" not in text

        def cut(self, markup: str, limit: int, ellipsis: str) -> str:
            return markup[: limit - 1] + ellipsis

        def neutralise(self, stored: str) -> str:
            return self.escape(stored)

    class Other(Markup):
        __slots__ = ()
        dialect = Angle()

    other = Other("Hi {name}").format(name="[at]everyone[/at]")
    assert other == "Hi (at)everyone(/at)" and isinstance(other, Other)
    with pytest.raises(TypeError, match="cannot join"):
        md("{x}", x=other)
    with pytest.raises(TypeError, match="cannot join"):
        Other("{x}").format(x=md("*hi*"))


def test_a_renderer_that_forgets_to_escape_fails_loudly():
    """What happens to a new renderer written the old way: an error in its first test."""

    def careless(name: str) -> RenderedMessage:
        return sections_message(f"{name} earned it", md("ok"))  # type: ignore[arg-type]

    with pytest.raises(UnsafeText):
        careless("Omar <!everyone>")


def test_the_trusted_way_in_is_used_only_by_the_builders():
    """``Markup._trusted`` skips every check: only the markup and dialect modules, which
    write mentions and links, may call it; and ``Mrkdwn(...)`` only takes literals."""
    root = Path(__file__).resolve().parents[1]
    allowed = {
        "messages/markup.py",
        "platforms/slack/render/mrkdwn.py",
    }  # the type and its builders
    offenders = []
    for path in sorted(root.glob("**/*.py")):
        relative = path.relative_to(root).as_posix()
        if relative.startswith((".venv/", "tests/", "models/migrations/")):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            called = node.func
            trusted = isinstance(called, ast.Attribute) and called.attr == "_trusted"
            if trusted and relative not in allowed:
                offenders.append(f"{relative}:{node.lineno} calls _trusted")
            named = called.id if isinstance(called, ast.Name) else None
            if named in ("Mrkdwn", "md") and node.args and relative not in allowed:
                first = node.args[0]
                if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                    offenders.append(f"{relative}:{node.lineno} {named}() of a non-literal")
    assert offenders == []


def test_an_escaped_reason_stays_within_slacks_section_limit():
    """600 ``&`` are 3,000 characters once escaped: the quote is cut, never the post."""
    card = extensions.RequestCard(
        request_id=1,
        learner_name="Ana",
        item_title="Pricing exam",
        due=TODAY,
        proposed=TODAY + timedelta(days=10),
        reason="&" * 600,
        today=TODAY,
        overdue_working_days=0,
        to_admins=False,
        decision="",
        decided_by="",
        decided_on=TODAY,
    )
    message = extensions.request_card(card)
    texts = [b["text"]["text"] for b in message.blocks if "text" in b]
    assert texts and all(len(text) <= 3000 for text in texts)
    assert any(text.startswith("*Reason*\n> &amp;") for text in texts)
