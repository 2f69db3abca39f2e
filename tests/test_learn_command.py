"""``/learn``: the parser on its own, then every subcommand through Bolt's real pipeline.

Requests are signed and dispatched by ``SlackRequests``; the app is ``build_app`` with
``process_before_response=True`` against the fake Slack server. The reply is the ack
body (an ephemeral message), so tests read it from the HTTP response.
"""

from __future__ import annotations

import contextlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from learning import command_parser as parser
from learning.command_parser import UsageError
from learning.command_parser import parse_command as parse_words
from learning.curriculum import Escalation, LadderStep, ProgramSettings
from learning.progress import TeamMember
from models import Assignment, AssignmentStatus, AuditEntry, Item, Person
from platforms.slack.listeners.commands import Outcome, changes_something, reply_within
from platforms.slack.render import commands as replies
from platforms.slack.render.limits import block_kit_problems
from platforms.slack.render.rendered import RenderedMessage
from platforms.slack.text import SlackText
from server.app import build_app
from tests.conftest import snapshot
from tests.fakes.bolt_requests import SlackRequests
from tests.fakes.slack_api import FakeSlack
from tests.helpers import PROGRAMS, people_csv, slack_settings


def parse_command(text):  # type: ignore[no-untyped-def]
    """The parser as the Slack listener calls it: Slack's markup read by the adapter."""
    return parse_words(text, chat=SlackText())


SECRET = "test-signing-secret"

# Sam is the skip-level over two peer managers, Mia (Ann, Ada) and Max (Bob).
# Zoe is an admin by email; Una has no Slack id, so nobody can speak for her.
PEOPLE = [
    "sam@acme.test,Sam Skip,,engineer,lead,2026-03-02,,USAM",
    "mia@acme.test,Mia Manager,sam@acme.test,engineer,alpha,2026-03-02,,UMIA",
    "max@acme.test,Max Manager,sam@acme.test,sales,beta,2026-03-02,,UMAX",
    "ann@acme.test,Ann Late,mia@acme.test,engineer,alpha,2026-03-02,,UANN",
    "ada@acme.test,Ada Keen,mia@acme.test,engineer,alpha,2026-03-02,,UADA",
    "bob@acme.test,Bob Seller,max@acme.test,sales,beta,2026-03-02,,UBOB",
    "zoe@acme.test,Zoe Admin,,engineer,ops,2026-03-02,,UZOE",
    "una@acme.test,Una Nobody,,engineer,ops,2026-03-02,,",
]
ADMINS = ("zoe@acme.test",)


# --- the parser ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("", parser.ShowSummary()),
        ("   ", parser.ShowSummary()),
        ("help", parser.ShowHelp()),
        ("HELP me", parser.ShowHelp()),
        ("due", parser.ShowDue()),
        ("  Due  ", parser.ShowDue()),
        ("done intro", parser.MarkDone("intro")),
        ("DONE   safety   quiz", parser.MarkDone("safety quiz")),
        ('done "Safety quiz"', parser.MarkDone("Safety quiz")),
        ("snooze intro 3d", parser.Snooze("intro", 3)),
        ("snooze intro 3", parser.Snooze("intro", 3)),
        ("snooze safety quiz 2 days", parser.Snooze("safety quiz", 2)),
        ("snooze intro for 1w", parser.Snooze("intro", 7)),
        ("snooze intro 2W", parser.Snooze("intro", 14)),
        ("snooze intro 14d", parser.Snooze("intro", 14)),
        ("away until 2026-03-20", parser.SetAway(date(2026, 3, 20))),
        ("Away Until 2026-3-9", parser.SetAway(date(2026, 3, 9))),
        ("back", parser.SetBack()),
        ("policy", parser.ShowPolicy()),
        ("team", parser.ShowTeam()),
        ("admin reload", parser.AdminReload()),
        ("ADMIN Report", parser.AdminReport()),
        ("admin assign ann@acme.test intro", parser.AdminAssign("ann@acme.test", "intro")),
        (
            "admin assign <mailto:Ann@Acme.test|Ann@Acme.test> intro due 2026-04-01",
            parser.AdminAssign("ann@acme.test", "intro", date(2026, 4, 1)),
        ),
        (
            "admin waive ann@acme.test safety Done at her last job &amp; certified",
            parser.AdminWaive("ann@acme.test", "safety", "Done at her last job & certified"),
        ),
        (
            'admin waive <mailto:ann@acme.test> "safety quiz" passed elsewhere',
            parser.AdminWaive("ann@acme.test", "safety quiz", "passed elsewhere"),
        ),
    ],
)
def test_parser_reads_each_subcommand(text, command):
    assert parse_command(text) == command


@pytest.mark.parametrize(
    ("text", "message", "usage"),
    [
        ("dance", "Unknown command 'dance'. Try /learn help", None),
        ("done", "Which item?", "/learn done ITEM"),
        ("snooze intro", "for how long", "/learn snooze ITEM 3d"),
        ("snooze intro 15d", "1 to 14 days", "/learn snooze ITEM 3d"),
        ("snooze intro 3w", "1 to 14 days", "/learn snooze ITEM 3d"),
        ("snooze intro 0d", "1 to 14 days", "/learn snooze ITEM 3d"),
        ("snooze intro soon", "not a snooze length", "/learn snooze ITEM 3d"),
        ("away", "until when", "/learn away until YYYY-MM-DD"),
        ("away until 2026-02-30", "not a date", "/learn away until YYYY-MM-DD"),
        ("away until next week", "until when", "/learn away until YYYY-MM-DD"),
        ("due tomorrow", "takes nothing after it", "/learn due"),
        ("back now", "takes nothing after it", "/learn back"),
        ("admin", "Which admin command?", "/learn admin reload|assign|waive|report"),
        ("admin dance", "Unknown admin command 'dance'", "/learn admin reload|assign|waive|report"),
        ("admin reload now", "takes nothing after it", "/learn admin reload"),
        ("admin assign ann@acme.test", "whose email and which item", parser.USAGE["admin assign"]),
        ("admin assign ann intro", "not an email address", parser.USAGE["admin assign"]),
        ("admin assign ann@acme.test intro due", "after 'due'", parser.USAGE["admin assign"]),
        (
            "admin assign ann@acme.test intro due 1 April",
            "not a date",
            parser.USAGE["admin assign"],
        ),
        ("admin waive ann@acme.test safety", "and why", parser.USAGE["admin waive"]),
    ],
)
def test_parser_refuses_bad_text_with_the_usage_line(text, message, usage):
    with pytest.raises(UsageError) as refused:
        parse_command(text)
    assert message in refused.value.message
    assert refused.value.usage == usage


def test_an_unknown_word_is_echoed_back_short_and_printable():
    with pytest.raises(UsageError) as refused:
        parse_command("x" * 500 + "\x00")
    assert len(refused.value.message) < 100


@given(st.text())
def test_parser_never_raises_anything_but_usage_error(text):
    with contextlib.suppress(UsageError):
        parse_command(text)


WORDS = st.sampled_from(
    ["done", "snooze", "away", "until", "back", "admin", "assign", "waive", "due", "report",
     "reload", "help", "team", "policy", "3d", "2w", "15", "2026-02-29", "2024-02-29",
     "<mailto:a@b.c|a@b.c>", "a@b.c", '"', "“", "”", "&amp;", "<", ">", "|", "٣", "0000-00-00",
     "9999-12-31", "99999999999999999999d"]
)  # fmt: skip


@given(st.lists(st.one_of(WORDS, st.text(max_size=8)), max_size=8))
def test_parser_never_raises_anything_but_usage_error_on_near_miss_commands(words):
    with contextlib.suppress(UsageError):
        parse_command(" ".join(words))


# --- messages ----------------------------------------------------------------------------


def test_policy_is_generated_from_the_configured_ladder_not_hard_coded():
    settings = ProgramSettings(
        escalation=Escalation(
            remind_before_due=[1],
            steps=[
                LadderStep(after_overdue=2, notify="manager"),
                LadderStep(after_overdue=4, notify="skip_level"),
            ],
        )
    )
    assert replies.escalation_ladder(settings) == [
        "1 working day before an item is due, your daily digest reminds you.",
        "At 2 working days overdue your manager is told.",
        "At 4, your manager's manager.",
    ]


def test_the_default_ladder_reads_as_published():
    assert replies.escalation_ladder(ProgramSettings()) == [
        "3 working days before an item is due, and on the day, your daily digest reminds you.",
        "At 3 working days overdue, your daily digest flags the item and says when your "
        "manager will be told.",
        "At 5 working days overdue your manager is told.",
        "At 10, your manager's manager.",
    ]


def test_progress_bar_shows_eight_cells_and_the_percent():
    assert replies.progress_bar(2, 4) == "▓▓▓▓░░░░ 50%"
    assert replies.progress_bar(0, 3) == "░░░░░░░░ 0%"
    assert replies.progress_bar(0, 0) == "▓▓▓▓▓▓▓▓ 100%"


def test_a_huge_team_still_fits_slacks_block_limits():
    members = [
        TeamMember(i, f"Person <{i}> " + "x" * 200, f"p{i}@acme.test", i % 5, 4, i % 3, i % 11)
        for i in range(5000)
    ]
    message = replies.team_message(members)
    assert block_kit_problems(message) == []
    assert message.blocks[-1]["elements"][0]["text"] == "…and 4960 more people"
    assert "&lt;0&gt;" in message.text or "&lt;" in message.text


def test_a_long_candidate_list_and_long_validation_errors_fit_the_limits():
    from learning.errors import Problem

    candidates = [(f"key-{i}", "T" * 300) for i in range(50)]
    assert block_kit_problems(replies.ambiguous_message("t", candidates)) == []
    problems = [Problem("programs.yml", i, "items.x", "bad " * 50) for i in range(200)]
    assert block_kit_problems(replies.validation_failed_message(problems)) == []


# --- through Bolt ------------------------------------------------------------------------


def reply(response: Any) -> dict[str, Any]:
    """The ack body: an ephemeral message with text and blocks."""
    assert response.status == 200, response.body
    body = json.loads(response.body)
    assert body["response_type"] == "ephemeral"
    assert body["text"].strip()
    assert block_kit_problems(RenderedMessage.from_payload(body)) == []
    return body


def said(response: Any) -> str:
    """What the person reads: the text of every block of the reply."""
    body = reply(response)
    parts = []
    for block in body.get("blocks", []):
        if "text" in block:
            parts.append(block["text"]["text"])
        parts.extend(element.get("text", "") for element in block.get("elements", []))
    return "\n".join(parts)


class Learn:
    """``/learn`` as each person types it, against a prepared organisation."""

    def __init__(self, requests: SlackRequests, db: Any, clock: Any, cli: Any) -> None:
        self.requests = requests
        self.db = db
        self.clock = clock
        self.cli = cli

    def __call__(self, user_id: str, text: str = "") -> str:
        return said(self.requests.command(text, user_id=user_id))

    def assignment(self, email: str, key: str) -> Assignment:
        with self.db.session() as session:
            return session.scalars(
                select(Assignment)
                .join(Person, Person.id == Assignment.person_id)
                .join(Item, Item.id == Assignment.item_id)
                .where(Person.email == email, Item.key == key)
                .order_by(Assignment.cycle.desc())
            ).first()

    def person(self, email: str) -> Person:
        with self.db.session() as session:
            return session.scalars(select(Person).where(Person.email == email)).one()

    def audit(self, action: str) -> list[AuditEntry]:
        with self.db.session() as session:
            return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


@pytest.fixture
def programs_file(write):
    return write("programs.yml", PROGRAMS)


@pytest.fixture
def fake_slack():
    with FakeSlack() as fake:
        yield fake


def make_learn(db, clock, cli, fake, *, programs_file: str | None) -> Learn:
    app = build_app(
        slack_settings(
            fake.base_url, signing_secret=SECRET, admins=ADMINS, programs_file=programs_file
        ),
        database=db,
        clock=clock,
        process_before_response=True,
    )
    return Learn(SlackRequests(app, signing_secret=SECRET), db, clock, cli)


@pytest.fixture
def learn(db, clock, cli, write, programs_file, fake_slack) -> Learn:
    assert cli("load-config", programs_file).code == 0
    assert cli("import-people", write("people.csv", people_csv(*PEOPLE))).code == 0
    return make_learn(db, clock, cli, fake_slack, programs_file=programs_file)


def test_help_lists_every_subcommand_with_a_description(learn):
    text = learn("UANN", "help")
    for sub in parser.SUBCOMMANDS:
        assert f"`{sub.usage}` — {sub.summary}" in text.replace("&amp;", "&")


def test_no_text_shows_my_path_with_a_progress_bar_per_tier_and_next_items(learn):
    learn("UADA", "done intro")
    text = learn("UADA")
    assert "*Engineer* — your learning path" in text
    assert "*First 30 days*  ▓▓▓░░░░░ 33%  (1 of 3 required done)" in text
    assert "Next:\n• Safety training (`safety`)" in text
    assert "*Proficient* — starts Thu 2 Apr" in text


def test_due_lists_overdue_first_with_working_days_overdue_then_due_dates(learn):
    learn.clock.advance(timedelta(days=3))  # Thursday 5 March
    learn("UANN", "done safety")
    text = learn("UANN", "due")
    # intro was due Mon 2 Mar: Tue 3, Wed 4, Thu 5 are working days since.
    assert text.index("*Overdue*") < text.index("*Due*")
    assert (
        "Welcome and introductions (`intro`) — Reading · 15 min · required · "
        "*3 working days overdue*" in text
    )
    # The quiz waited for safety; done today, it is due 3 working days on (Fri 6 is a
    # holiday). A suggestion has no deadline.
    assert "Safety quiz (`safety-quiz`) — Assessment · 10 min · required · due Wed 11 Mar" in text
    assert "Shadow a colleague (`shadow`) — Shadowing · 4 h · suggested\n" in text
    assert "Safety training" not in text


def test_due_with_nothing_open_says_so(learn):
    for key in ("intro", "safety", "safety-quiz", "shadow"):
        learn("UADA", f"done {key}")
    assert learn("UADA", "due") == "Nothing is due. :white_check_mark:"


def test_done_marks_my_item_done_once(learn):
    assert learn("UADA", "done Welcome") == (
        ":white_check_mark: Done: *Welcome and introductions*. Well done!"
    )
    assert learn.assignment("ada@acme.test", "intro").status == AssignmentStatus.COMPLETED
    assert learn("UADA", "DONE intro") == (
        "*Welcome and introductions* was already marked done. Nothing changed."
    )
    assert len(learn.audit("assignment.done")) == 1


def test_a_change_republishes_the_persons_app_home_and_a_read_does_not(learn, fake_slack):
    learn("UADA", "due")
    assert fake_slack.calls_to("views.publish") == []
    learn("UADA", "done intro")
    learn("UZOE", "admin waive ann@acme.test safety Certified elsewhere")
    published = [call.body["user_id"] for call in fake_slack.calls_to("views.publish")]
    assert published == ["UADA", "UANN"]


def test_done_without_an_item_or_with_an_unknown_one_explains(learn):
    assert learn("UADA", "done") == (
        "Which item? Give its key or part of its title.\nUsage: `/learn done ITEM`"
    )
    assert learn("UADA", "done juggling") == "Nothing on your path matches “juggling”."


def test_an_ambiguous_item_lists_the_candidates_by_key_and_title(learn):
    text = learn("UADA", "done safety t")  # "Safety training" only: not ambiguous
    assert "Done: *Safety training*" in text
    text = learn("UADA", "snooze a 3d")  # every title has an "a"
    assert "More than one item matches 'a'. Which one? Use its key:" in text
    assert "• `intro` — Welcome and introductions" in text
    assert "• `safety-quiz` — Safety quiz" in text
    assert "• `shadow` — Shadow a colleague" in text


def test_snooze_hides_an_item_until_the_local_day_and_confirms(learn):
    text = learn("UADA", "snooze shadow 3d")
    assert text == ":zzz: Snoozed *Shadow a colleague*: no reminders about it until Thu 5 Mar."
    snoozed = learn.assignment("ada@acme.test", "shadow").snoozed_until
    assert snoozed is not None and snoozed.date() == date(2026, 3, 5)


def test_snooze_refuses_a_required_item_due_today_and_a_bad_length(learn):
    assert learn("UADA", "snooze intro 2d") == (
        "this item is required and due today, so it cannot be snoozed"
    )
    assert learn("UADA", "snooze shadow 15d") == (
        "A snooze lasts 1 to 14 days (1w or 2w also work).\nUsage: `/learn snooze ITEM 3d`"
    )
    assert learn.assignment("ada@acme.test", "intro").snoozed_until is None


def test_away_and_back(learn):
    assert learn("UANN", "away until 2026-03-20") == (
        ":palm_tree: You are away until Fri 20 Mar 2026: no reminders until then. "
        "Back early? `/learn back`"
    )
    assert learn.person("ann@acme.test").away_until == date(2026, 3, 20)
    assert "You are away until Fri 20 Mar" in learn("UANN")
    assert learn("UANN", "back") == ":wave: Welcome back: reminders are on again."
    assert learn.person("ann@acme.test").away_until is None
    assert learn("UANN", "back") == "You were not away; reminders are on."


def test_away_refuses_a_past_or_malformed_date(learn):
    assert learn("UANN", "away until 2026-03-01") == (
        "2026-03-01 is in the past; give today or a later date."
    )
    assert learn("UANN", "away until 20/03/2026") == (
        "'20/03/2026' is not a date; write it as YYYY-MM-DD.\nUsage: `/learn away until YYYY-MM-DD`"
    )
    assert learn.person("ann@acme.test").away_until is None


def test_policy_shows_the_ladder_from_the_loaded_file(learn, write, cli):
    text = learn("UANN", "policy")
    assert "At 5 working days overdue your manager is told.\nAt 10, your manager's manager." in (
        text
    )
    custom = PROGRAMS + (
        "escalation:\n"
        "  remind_before_due: [2]\n"
        "  steps:\n"
        "    - {after_overdue: 4, notify: manager}\n"
    )
    assert cli("load-config", write("custom.yml", custom)).code == 0
    text = learn("UANN", "policy")
    assert "2 working days before an item is due, your daily digest reminds you." in text
    assert "At 4 working days overdue your manager is told." in text
    assert "At 10" not in text and "At 5" not in text
    assert "Monday, Tuesday, Wednesday, Thursday and Friday" in text


def test_policy_with_extra_words_shows_its_usage(learn):
    assert learn("UANN", "policy please") == (
        "/learn policy takes nothing after it.\nUsage: `/learn policy`"
    )


@pytest.fixture
def late_team(learn) -> Learn:
    """Ada did everything, Ann nothing, Bob one item; it is now Thursday 12 March."""
    for key in ("intro", "safety", "safety-quiz"):
        learn("UADA", f"done {key}")
    learn("UBOB", "done intro")
    learn.clock.advance(timedelta(days=10))
    return learn


def team_names(text: str) -> list[str]:
    return [line.split(" — ")[0].removeprefix("• ") for line in text.splitlines() if "• " in line]


def test_a_manager_sees_only_their_own_reports_most_overdue_first(late_team):
    text = late_team("UMIA", "team")
    assert team_names(text) == ["Ann Late", "Ada Keen"]
    # intro and safety: her quiz waits for safety, so it is not overdue.
    assert "• Ann Late — ░░░░░░░░ 0% required done · *2 overdue* (up to 7 working days)" in text
    assert "• Ada Keen — ▓▓▓▓▓▓▓▓ 100% required done · nothing overdue" in text
    assert "2 people in your reporting chain, 1 with overdue items" in text


def test_a_peer_manager_sees_nothing_of_the_other_team(late_team):
    text = late_team("UMAX", "team")
    assert team_names(text) == ["Bob Seller"]
    assert "Ann" not in text and "Ada" not in text and "Mia" not in text


def test_the_skip_level_sees_both_teams(late_team):
    names = team_names(late_team("USAM", "team"))
    assert sorted(names) == ["Ada Keen", "Ann Late", "Bob Seller", "Max Manager", "Mia Manager"]
    assert names[0] == "Max Manager"  # 3 overdue on the sales path; Ann has 2


def test_someone_without_reports_is_told_so(late_team):
    assert late_team("UANN", "team") == "You have no reports in learnbot."
    assert late_team("UZOE", "team") == "You have no reports in learnbot."


def test_an_unknown_slack_user_is_told_how_to_get_added(learn):
    for text in ("", "due", "done intro", "team"):
        assert learn("UNOBODY", text) == (
            "I don't know you yet — ask your learnbot admin to add you (people import)."
        )
    assert "/learn help" in learn("UNOBODY", "help")


def test_a_deactivated_person_is_treated_as_unknown(learn, cli, write):
    rows = [row for row in PEOPLE if not row.startswith("ada@")]
    assert (
        cli("import-people", "--deactivate-missing", write("p2.csv", people_csv(*rows))).code == 0
    )
    assert learn("UADA", "due").startswith("I don't know you yet")


@pytest.mark.parametrize(
    "text",
    [
        "admin report",
        "admin reload",
        "admin assign ada@acme.test sales-101",
        "admin waive ann@acme.test safety no",
    ],
)
def test_admin_commands_are_refused_to_everyone_else(learn, db, text):
    before = snapshot(db)
    assert learn("UMIA", text) == "Only learnbot admins can do that."
    assert learn("UNOBODY", text) == "Only learnbot admins can do that."
    assert snapshot(db) == before


def test_admin_report_shows_the_completion_report_in_a_code_block(learn):
    learn("UADA", "done intro")
    text = learn("UZOE", "admin report")
    assert text.startswith("```Completion of required items as of 2026-03-02 09:00 UTC")
    assert text.endswith("```")
    assert "By team" in text and "By role" in text


def test_an_admin_listed_by_slack_id_needs_no_people_row(db, clock, cli, programs_file, fake_slack):
    assert cli("load-config", programs_file).code == 0
    app = build_app(
        slack_settings(fake_slack.base_url, signing_secret=SECRET, admins=("uroot",)),
        database=db,
        clock=clock,
        process_before_response=True,
    )
    text = said(SlackRequests(app, signing_secret=SECRET).command("admin report", user_id="UROOT"))
    assert "Completion of required items" in text


def test_admin_assign_gives_someone_an_item_with_a_due_date(learn):
    text = learn(
        "UZOE", "admin assign <mailto:ADA@acme.test|ADA@acme.test> sales-101 due 2026-03-20"
    )
    assert text == (
        "Assigned *Selling 101* to Ada Keen (ada@acme.test), due Fri 20 Mar 2026. "
        "It is in the audit log."
    )
    assignment = learn.assignment("ada@acme.test", "sales-101")
    assert (assignment.status, assignment.due_date) == (AssignmentStatus.OPEN, date(2026, 3, 20))
    [entry] = learn.audit("assignment.assign")
    assert entry.actor == "zoe@acme.test"


def test_admin_assign_explains_bad_input(learn):
    assert learn("UZOE", "admin assign ada sales-101") == (
        "'ada' is not an email address.\nUsage: `/learn admin assign EMAIL ITEM [due YYYY-MM-DD]`"
    )
    assert learn("UZOE", "admin assign who@acme.test sales-101") == (
        "nobody with email 'who@acme.test'"
    )
    assert learn("UZOE", "admin assign ada@acme.test juggling") == (
        "There is no item “juggling” in the catalogue."
    )
    assert learn("UZOE", "admin assign ada@acme.test sales-101 due 2026-01-01") == (
        "2026-01-01 is in the past; give today or later."
    )


def test_admin_waive_excuses_an_item_with_a_reason(learn):
    text = learn("UZOE", "admin waive ann@acme.test safety Certified at her last job")
    assert text == (
        "Waived *Safety training* for Ann Late (ann@acme.test). "
        "Reason: Certified at her last job. It is in the audit log."
    )
    assignment = learn.assignment("ann@acme.test", "safety")
    assert assignment.status == AssignmentStatus.WAIVED
    assert assignment.waived_reason == "Certified at her last job"
    assert learn("UZOE", "admin waive ann@acme.test safety") == (
        "Say whose email, which item (its key) and why.\n"
        "Usage: `/learn admin waive EMAIL ITEM REASON`"
    )


def rewrite(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as file:
        file.write(text.lstrip("\n"))


def test_admin_reload_applies_the_programs_file(learn, programs_file):
    rewrite(
        programs_file,
        PROGRAMS.replace("items:\n", "items:\n  extra:\n    title: Extra\n    method: video\n", 1),
    )
    text = learn("UZOE", "admin reload")
    assert text.startswith(f"Reloaded `{programs_file}`: valid. Applied.")
    assert "items: 1 added (extra)" in text
    [entry] = [e for e in learn.audit("config.load") if e.actor == "zoe@acme.test"]
    assert entry.subject == programs_file


def test_admin_reload_shows_validation_errors_with_file_and_line(learn, programs_file):
    broken = PROGRAMS.replace(
        "items:\n", "items:\n  broken:\n    title: Broken\n    method: telepathy\n", 1
    )
    rewrite(programs_file, broken)
    line = broken.lstrip("\n").splitlines().index("    method: telepathy") + 1
    before = snapshot(learn.db)
    text = learn("UZOE", "admin reload")
    assert text.startswith("The programs file has 1 problem; nothing was applied.")
    assert f"```{programs_file}:{line}: items.broken.method: 'telepathy' is not allowed" in text
    assert snapshot(learn.db) == before


def test_admin_reload_without_a_configured_file_says_how_to_set_it(
    db, clock, cli, write, fake_slack, programs_file
):
    assert cli("load-config", programs_file).code == 0
    assert cli("import-people", write("people.csv", people_csv(*PEOPLE))).code == 0
    learn = make_learn(db, clock, cli, fake_slack, programs_file=None)
    assert "LEARNBOT_PROGRAMS_FILE" in learn("UZOE", "admin reload")


def test_an_unknown_subcommand_points_to_help(learn):
    assert learn("UANN", "dance") == "Unknown command 'dance'. Try /learn help"
    assert learn("UANN", "<@U123|ann> hi") == "Unknown command 'ann'. Try /learn help"


def test_the_answer_travels_in_the_ack_and_nothing_is_posted(learn, fake_slack):
    learn("UADA", "due")
    learn("UADA", "done intro")
    assert fake_slack.calls_to("chat.postMessage") == []
    assert fake_slack.calls_to("chat.postEphemeral") == []


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=st.one_of(st.text(max_size=80), st.lists(WORDS, max_size=6).map(" ".join)))
def test_any_text_gets_an_answer_and_never_an_http_500(learn, text):
    for user_id in ("UANN", "UZOE", "UNOBODY"):
        response = learn.requests.command(text, user_id=user_id)
        assert response.status == 200
        body = reply(response)
        assert "Traceback" not in body["text"]


# --- the 3-second budget ------------------------------------------------------------------


def test_a_slow_answer_is_acked_at_once_and_delivered_through_respond():
    release = threading.Event()
    delivered = threading.Event()
    acks: list[dict[str, Any]] = []
    responses: list[dict[str, Any]] = []
    followed: list[Outcome] = []

    def slow() -> Outcome:
        release.wait(10)
        return Outcome(replies.back_message())

    def respond(**kwargs: Any) -> None:
        responses.append(kwargs)

    def after(outcome: Outcome) -> None:
        followed.append(outcome)
        delivered.set()

    with ThreadPoolExecutor(max_workers=1) as pool:
        reply_within(
            slow, ack=lambda **kw: acks.append(kw), respond=respond, after=after,
            pool=pool, budget=0.01,
        )  # fmt: skip
        assert [a["text"] for a in acks] == [replies.working_on_it_message().text]
        assert responses == []
        release.set()
        assert delivered.wait(10)
    assert [r["text"] for r in responses] == [replies.back_message().text]
    assert responses[0]["response_type"] == "ephemeral"
    assert len(followed) == 1


# --- production mode: a write acks first, and answers through response_url -----------------


@pytest.fixture
def production(db, clock, cli, write, programs_file, fake_slack) -> SlackRequests:
    """``/learn`` on an app as ``bot.py run`` builds it (the listener finishes after the ack)."""
    assert cli("load-config", programs_file).code == 0
    assert cli("import-people", write("people.csv", people_csv(*PEOPLE))).code == 0
    app = build_app(
        slack_settings(fake_slack.base_url, signing_secret=SECRET, admins=ADMINS),
        database=db,
        clock=clock,
    )
    return SlackRequests(app, signing_secret=SECRET)


def test_a_write_acks_empty_at_once_and_answers_through_response_url(production, fake_slack):
    response_url = f"{fake_slack.base_url}commands.respond"
    response = production.command("snooze shadow 3d", user_id="UADA", response_url=response_url)
    assert (response.status, response.body) == (200, "")
    [answer] = fake_slack.wait_for_calls("commands.respond", 1)
    assert answer.body["response_type"] == "ephemeral"
    assert answer.body["replace_original"] is False
    snoozed = "Snoozed *Shadow a colleague*: no reminders about it until Thu 5 Mar."
    assert snoozed in answer.body["text"]
    # Then, as after any answer, Ada's App Home is refreshed (and this test's work ends).
    [home] = fake_slack.wait_for_calls("views.publish", 1)
    assert home.body["user_id"] == "UADA"


def test_a_read_still_answers_in_the_ack_in_production(production, fake_slack):
    response_url = f"{fake_slack.base_url}commands.respond"
    response = production.command("due", user_id="UANN", response_url=response_url)
    assert "Welcome and introductions" in reply(response)["text"]
    assert fake_slack.calls_to("commands.respond") == []


@pytest.mark.parametrize(
    ("text", "writes"),
    [
        ("done intro", True),
        ("snooze intro 3d", True),
        ("away until 2026-03-20", True),
        ("back", True),
        ("kudos <@UADA|ada> for the demo", True),
        ("privacy private", True),
        ("privacy", False),
        ("leaderboard join", True),
        ("leaderboard", False),
        ("mentor off", True),
        ("mentor", False),
        ("admin assign ann@acme.test intro", True),
        ("admin waive ann@acme.test intro done elsewhere", True),
        ("admin reload", False),  # may take long: keeps the ack budget ("working on it")
        ("admin report", False),
        ("", False),
        ("due", False),
        ("help", False),
        ("certs", False),
        ("dance", False),
    ],
)
def test_which_commands_ack_first(text, writes):
    assert changes_something(text) is writes
