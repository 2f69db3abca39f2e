"""Kudos: ``/learn kudos @someone for ...`` through Bolt's real pipeline, delivered by the
real sender to the fake Slack server on a frozen clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, update

from learning import command_parser as parser
from learning.command_parser import Mentioned, UsageError
from learning.command_parser import parse_command as parse_words
from learning.curriculum import ProgramSettings
from models import AuditEntry, Kudos, OutboxMessage, Person
from platforms.slack.text import SlackText
from tests.fakes.slack_api import FakeSlack
from tests.helpers import people_csv
from tests.outbox_support import make_sender
from tests.test_learn_command import make_learn

PROGRAMS = """
organisation:
  name: Kudos Co
  timezone: Europe/London
channels:
  recognition: "#wins"
kudos:
  daily_quota: 2
items:
  intro:
    title: Welcome and introductions
    method: reading
    minutes: 15
programs:
  engineer:
    title: Engineer
    tiers:
      - key: first-30
        title: First 30 days
        starts_on_day: 0
        items:
          - {item: intro, required: true, due: 3}
"""

# Ann works from Kolkata, Lou from Los Angeles; Pat keeps out of public posts.
PEOPLE = (
    "ann@k.io,Ann Kolkata,,engineer,Ops,2026-03-02,Asia/Kolkata,UANN",
    "lou@k.io,Lou Angeles,,engineer,Ops,2026-03-02,America/Los_Angeles,ULOU",
    "bob@k.io,Bob London,,engineer,Ops,2026-03-02,Europe/London,UBOB",
    "pat@k.io,Pat Private,,engineer,Ops,2026-03-02,Europe/London,UPAT",
    "gus@k.io,Gus Gone,,engineer,Ops,2026-03-02,Europe/London,UGUS",
)
START = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def fake(clock):
    with FakeSlack(time_source=lambda: clock.now().timestamp()) as server:
        yield server


@pytest.fixture
def learn(db, clock, cli, write, fake):
    clock.set(START)
    programs = write("programs.yml", PROGRAMS)
    assert cli("load-config", programs).code == 0
    assert cli("import-people", write("people.csv", people_csv(*PEOPLE))).code == 0
    return make_learn(db, clock, cli, fake, programs_file=programs)


def deliver(db, fake, clock) -> None:
    make_sender(db, fake, clock).drain()


def text_of(message: dict[str, Any]) -> str:
    parts = [message.get("text", "")]
    for block in message.get("blocks", []):
        if "text" in block:
            parts.append(block["text"]["text"])
        parts.extend(e.get("text", "") for e in block.get("elements", []))
    return "\n".join(parts)


def kudos_rows(db) -> list[Kudos]:
    with db.session() as session:
        return list(session.scalars(select(Kudos).order_by(Kudos.id)))


# --- the parser ---------------------------------------------------------------------------

BOB = Mentioned(person_id=7)  # the Slack listener resolves the mention to the person


def parse_command(text):  # type: ignore[no-untyped-def]
    """The parser as the Slack listener calls it: mentions resolved to people."""
    return parse_words(text, chat=SlackText(person_id_of={"UBOB": 7}.get))


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("kudos <@UBOB|bob> for helping me with X", parser.GiveKudos(BOB, "helping me with X")),
        ("KUDOS <@UBOB> the demo &amp; the docs", parser.GiveKudos(BOB, "the demo & the docs")),
        ("kudos <@UBOB>   forward   thinking", parser.GiveKudos(BOB, "forward thinking")),
    ],
)
def test_the_parser_reads_kudos(text, command):
    assert parse_command(text) == command


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kudos", "Who are the kudos for"),
        ("kudos <@UBOB> for", "Say what the kudos are for"),
        ("kudos <@UBOB>", "Say what the kudos are for"),
        ("kudos @bob for the demo", "'@bob' is not a mention"),
        ("kudos <@UBOB> for " + "x" * 501, "500 characters"),
    ],
)
def test_the_parser_refuses_bad_kudos_with_the_usage_line(text, message):
    with pytest.raises(UsageError) as refused:
        parse_command(text)
    assert message in refused.value.message
    assert refused.value.usage == parser.USAGE["kudos"]


def test_the_default_quota_is_three_and_help_lists_kudos(learn):
    assert ProgramSettings().kudos.daily_quota == 3
    assert "/learn kudos @someone for REASON" in learn("UANN", "help")


# --- giving kudos -------------------------------------------------------------------------


def test_kudos_are_posted_once_in_the_recognition_channel_and_the_recipient_is_told(
    learn, db, fake, clock
):
    said = learn("UANN", "kudos <@UBOB|bob> for helping me with the deploy")
    assert "Kudos sent to <@UBOB>" in said and "#wins" in said
    assert "1 more today" in said

    deliver(db, fake, clock)
    deliver(db, fake, clock)  # a second drain sends nothing again

    [post] = fake.messages("#wins")
    assert "<@UANN> gave kudos to <@UBOB>" in text_of(post)
    assert "helping me with the deploy" in text_of(post)
    [dm] = fake.messages("UBOB")
    assert "<@UANN> gave you kudos" in text_of(dm) and "helping me with the deploy" in text_of(dm)
    assert fake.messages("UANN") == []  # the giver's answer is the ephemeral reply only

    [row] = kudos_rows(db)
    assert (row.reason, row.giver_local_date.isoformat()) == (
        "helping me with the deploy",
        "2026-03-03",
    )
    with db.session() as session:
        keys = set(session.scalars(select(OutboxMessage.key)))
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "kudos.give"))
    assert keys >= {f"kudos:{row.id}:post", f"kudos:{row.id}:dm"}
    assert entry.actor == "ann@k.io" and entry.details["kudos_id"] == row.id


def test_self_kudos_are_refused(learn, db, fake, clock):
    said = learn("UANN", "kudos <@UANN> for being me")
    assert "can't give them to yourself" in said
    deliver(db, fake, clock)
    assert kudos_rows(db) == [] and fake.messages("#wins") == [] and fake.messages("UANN") == []


def test_an_unknown_or_departed_recipient_is_refused(learn, db, fake, clock):
    assert "I don't know that person" in learn("UANN", "kudos <@UNOBODY> for the help")
    with db.session() as session:
        session.execute(update(Person).where(Person.email == "gus@k.io").values(active=False))
    assert "I don't know that person" in learn("UANN", "kudos <@UGUS> for the help")
    deliver(db, fake, clock)
    assert kudos_rows(db) == [] and fake.delivered() == []


def test_an_opted_out_recipient_is_told_by_dm_but_never_named_in_public(learn, db, fake, clock):
    assert "will not name you" in learn("UPAT", "privacy private")
    said = learn("UANN", "kudos <@UPAT> for the review")
    assert "Kudos sent to <@UPAT>" in said and "no public post" in said
    deliver(db, fake, clock)
    assert fake.messages("#wins") == []
    [dm] = fake.messages("UPAT")
    assert "the review" in text_of(dm) and "#wins" not in text_of(dm)


def test_an_opted_out_giver_is_shown_as_a_colleague(learn, db, fake, clock):
    learn("UANN", "privacy private")
    learn("UANN", "kudos <@UBOB> for the pairing")
    deliver(db, fake, clock)
    [post] = fake.messages("#wins")
    assert "A colleague gave kudos to <@UBOB>" in text_of(post)
    assert "UANN" not in text_of(post) and "Ann" not in text_of(post)


def test_the_quota_counts_per_givers_local_day(learn, db, fake, clock):
    # 18:00 UTC on Tue 3 Mar: 23:30 in Kolkata, 10:00 in Los Angeles.
    clock.set(datetime(2026, 3, 3, 18, 0, tzinfo=UTC))
    for giver in ("UANN", "ULOU"):
        assert "Kudos sent" in learn(giver, "kudos <@UBOB> for one")
        assert "last for today" in learn(giver, "kudos <@UBOB> for two")
    refused = learn("UANN", "kudos <@UBOB> for three")
    assert "You have given your 2 kudos for today" in refused
    assert "midnight your time (Asia/Kolkata)" in refused and "Wed 4 Mar" in refused
    assert "Kudos sent" not in learn("ULOU", "kudos <@UBOB> for three")

    # 18:45 UTC, still Tue 3 Mar in UTC: Wed 4 Mar 00:15 in Kolkata, Tue 10:45 in LA.
    clock.set(datetime(2026, 3, 3, 18, 45, tzinfo=UTC))
    assert "Kudos sent" in learn("UANN", "kudos <@UBOB> for a new day")
    refused = learn("ULOU", "kudos <@UBOB> for three")
    assert "daily limit is 2" in refused and "America/Los_Angeles" in refused

    # Wed 4 Mar 07:59 UTC is still Tue 23:59 in LA; 08:01 UTC is LA's Wednesday.
    clock.set(datetime(2026, 3, 4, 7, 59, tzinfo=UTC))
    assert "You have given your 2 kudos" in learn("ULOU", "kudos <@UBOB> for three")
    clock.set(datetime(2026, 3, 4, 8, 1, tzinfo=UTC))
    assert "Kudos sent" in learn("ULOU", "kudos <@UBOB> for a new day")

    days = {(row.giver_id, row.giver_local_date.isoformat()) for row in kudos_rows(db)}
    assert len(kudos_rows(db)) == 6 and len(days) == 4
    deliver(db, fake, clock)
    assert len(fake.messages("#wins")) == 6 and len(fake.messages("UBOB")) == 6
