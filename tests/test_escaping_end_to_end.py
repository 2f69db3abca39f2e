"""The security review's finding, end to end: signed requests through Bolt's real pipeline,
the real outbox and sender, and what the fake Slack server received.

``/learn kudos @grace for <!channel> see <https://evil.example/login|the release notes>``
used to post ``<!channel>`` and a disguised link in the recognition channel's ``text``;
a Slack display name changed to ``Omar <!everyone>`` flowed into the certification
shout-out and the milestone post the same way. Now what people type and what their
profiles say reaches Slack escaped, in ``text`` and in every block, and the only
mentions are the ones learnbot builds from the people it resolved.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from models import Kudos, Person
from server.app import build_app
from tests.fakes.bolt_requests import SlackRequests
from tests.fakes.slack_api import FakeSlack
from tests.helpers import people_csv, slack_settings
from tests.outbox_support import make_sender

SECRET = "test-signing-secret"
PROGRAMS = """
organisation:
  name: Escape Co
  timezone: Europe/London
channels:
  recognition: "#wins"
  admins: "#learnbot-admins"
items:
  intro:
    title: Welcome and introductions
    method: reading
    minutes: 15
  safety:
    title: Safety training
    method: online
    minutes: 30
programs:
  engineer:
    title: Engineer
    tiers:
      - key: first-30
        title: First 30 days
        starts_on_day: 0
        items:
          - {item: intro, required: true, due: 3}
          - {item: safety, required: true, due: 5}
certifications:
  safe-worker:
    title: Safe Worker
    items: [intro, safety]
    valid_for: 1y
"""
PEOPLE = (
    "arjun@x.io,Arjun Reddy,,engineer,Ops,2026-03-02,Europe/London,U0ARJUN",
    "grace@x.io,Grace Nguyen,,engineer,Ops,2026-03-02,Europe/London,U0GRACE",
    "omar@x.io,Omar Said,,engineer,Ops,2026-03-02,Europe/London,U0OMAR",
)
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
# What Slack sends when someone types the review's command: their "<", ">" and "&" arrive
# escaped; the person they picked from the list arrives as a mention.
KUDOS_TEXT = (
    "kudos <@U0GRACE|grace> for &lt;!channel&gt; see "
    "&lt;https://evil.example/login|the release notes&gt; (with <@U0OMAR|omar>)"
)
TOKEN = re.compile(r"<([^<>]*)>")


@pytest.fixture
def fake(clock):
    with FakeSlack(time_source=lambda: clock.now().timestamp()) as server:
        yield server


@pytest.fixture
def slack(cli, write, db, clock, fake) -> SlackRequests:
    clock.set(START)
    assert cli("load-config", write("programs.yml", PROGRAMS)).code == 0
    assert cli("import-people", write("people.csv", people_csv(*PEOPLE))).code == 0
    settings = slack_settings(fake.base_url, signing_secret=SECRET)
    app = build_app(settings, database=db, clock=clock, process_before_response=True)
    return SlackRequests(app, signing_secret=SECRET)


def deliver(db, fake, clock) -> None:
    make_sender(db, fake, clock).drain()


def mrkdwn_of(message: dict[str, Any]) -> list[str]:
    """The ``text`` and every mrkdwn text of a message as the fake received it."""
    found = [message["text"]]

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("type") == "mrkdwn":
                assert value.get("verbatim") is True  # Slack adds no links of its own
                found.append(value["text"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(message.get("blocks", []))
    return found


def markup_tokens(message: dict[str, Any]) -> set[str]:
    return {token for text in mrkdwn_of(message) for token in TOKEN.findall(text)}


def test_hostile_kudos_reach_the_channel_escaped_in_text_and_blocks(slack, db, fake, clock):
    answer = slack.command(KUDOS_TEXT, user_id="U0ARJUN")
    assert answer.status == 200
    reply = json.loads(answer.body)
    assert reply["text"] == "Kudos sent to Grace Nguyen."
    assert markup_tokens(reply) == {"@U0GRACE"}

    with db.session() as session:
        [kudos] = session.scalars(select(Kudos))
    # Stored as the giver's words, plain text, the mention resolved to a name.
    assert kudos.reason == (
        "<!channel> see <https://evil.example/login|the release notes> (with @Omar Said)"
    )

    deliver(db, fake, clock)
    [post] = fake.messages("#wins")
    assert post["text"] == (
        "Arjun Reddy gave kudos to Grace Nguyen: &lt;!channel&gt; see "
        "&lt;https://evil.example/login|the release notes&gt; (with @Omar Said)"
    )
    heading, quote = (block["text"]["text"] for block in post["blocks"])
    assert heading == ":clap: <@U0ARJUN> gave kudos to <@U0GRACE>"
    assert quote == (
        "> &lt;!channel&gt; see &lt;https://evil.example/login|the release notes&gt; "
        "(with @Omar Said)"
    )
    # The only markup anywhere: the two people learnbot resolved.
    assert markup_tokens(post) == {"@U0ARJUN", "@U0GRACE"}

    [dm] = fake.messages("U0GRACE")
    assert dm["text"].startswith("Arjun Reddy gave you kudos: &lt;!channel&gt; see &lt;https")
    assert markup_tokens(dm) == {"@U0ARJUN"}


def test_a_hostile_display_name_is_escaped_in_the_shout_out_and_the_milestone(
    slack, db, fake, clock
):
    renamed = {
        "type": "user_change",
        "user": {
            "id": "U0OMAR",
            "real_name": "Omar <!everyone>\x00",
            "tz": "Europe/London",
            "profile": {"email": "omar@x.io"},
        },
    }
    assert slack.event(renamed).status == 200
    with db.session() as session:
        omar = session.scalars(select(Person).where(Person.email == "omar@x.io")).one()
    assert omar.name == "Omar <!everyone>"  # the profile's words; the NUL is gone

    for item in ("intro", "safety"):
        assert slack.command(f"done {item}", user_id="U0OMAR").status == 200
    deliver(db, fake, clock)

    posts = fake.messages("#wins")
    texts = {post["text"] for post in posts}
    assert texts == {
        "Omar &lt;!everyone&gt; earned the Safe Worker certification: 2 items, 45 min of learning",
        "Omar &lt;!everyone&gt; finished their First 30 days path",
    }
    for post in posts:
        assert markup_tokens(post) == {"@U0OMAR"}  # he is named by his mention, nothing else
        assert not any("<!" in text for text in mrkdwn_of(post))
    for dm in fake.messages("U0OMAR"):
        assert not any("<!" in text for text in mrkdwn_of(dm))
