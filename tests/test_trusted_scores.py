"""Trusted scores: a score the learner types is self-reported; a certification's
``min_score`` needs a score from a trusted source (the LMS import, an admin), unless the
programs file allows self-reported scores for that requirement.

The Done form goes through Bolt's real pipeline with real signatures into the fake
Slack Web API (as in ``tests/test_buttons.py``); what the learner is told is what the
fake received.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from learning.award_rules import (
    TRUSTED_SCORE_SOURCES,
    CompletionFact,
    Requirement,
    score_counts,
)
from learning.home import certification_goals
from models import CertificationAward, CompletionEvent, OutboxMessage
from server.app import build_app
from tests.chat_support import (
    PEOPLE,
    PROGRAMS_QUIZ_NOW,
    SECRET,
    SEND_AT,
    assignment,
    digest_dm,
    done_click,
    done_values,
    person,
    send_digests,
    setup_org,
)
from tests.fakes.bolt_requests import SlackRequests
from tests.fakes.slack_api import FakeSlack
from tests.helpers import people_csv, slack_settings

SELF_REPORTED = PROGRAMS_QUIZ_NOW.replace(
    "items: [safety, {item: safety-quiz, min_score: 80}]",
    "items: [safety, {item: safety-quiz, min_score: 80, self_reported_scores: true}]",
)


@pytest.fixture
def fake(clock):
    with FakeSlack(time_source=lambda: clock.now().timestamp()) as server:
        yield server


@pytest.fixture
def slack(db, clock, fake):
    settings = slack_settings(fake.base_url, signing_secret=SECRET)
    app = build_app(settings, database=db, clock=clock, process_before_response=True)
    return SlackRequests(app, signing_secret=SECRET)


@pytest.fixture
def dms(cli, write, clock, db, fake):
    """Everyone's digest DM of Monday 2 March has been delivered (the quiz in it too: it
    does not wait for safety here)."""
    setup_org(cli, write, clock, programs=PROGRAMS_QUIZ_NOW)
    send_digests(db, fake, clock)
    assert digest_dm(fake, "U0ANA")


def submit_done_form(slack, fake, user_id: str, assignment_id: int, **values) -> None:
    """Click Done in the digest DM and submit the form it opens."""
    message = digest_dm(fake, user_id)
    slack.block_action(
        user_id=user_id,
        action=done_click(message, assignment_id),
        message=message,
        channel_id=f"D{user_id[1:]}",
    )
    view = fake.calls_to("views.open")[-1].body["view"]
    response = slack.view_submission(
        user_id=user_id,
        callback_id="digest_done_modal",
        values=done_values(**values),
        private_metadata=view["private_metadata"],
    )
    assert (response.status, response.body) == (200, "")


def awards(db) -> list[CertificationAward]:
    with db.session() as session:
        return list(session.scalars(select(CertificationAward)))


def told(fake, user_id: str) -> list[str]:
    """What learnbot said to ``user_id`` privately (ephemeral messages)."""
    return [
        c.body["text"] for c in fake.calls_to("chat.postEphemeral") if c.body["user"] == user_id
    ]


def test_a_typed_score_of_100_awards_nothing_until_a_trusted_score_arrives(
    dms, slack, fake, db, clock, cli, write
):
    safety = assignment(db, "ana@x.io", "safety")
    quiz = assignment(db, "ana@x.io", "safety-quiz")
    submit_done_form(slack, fake, "U0ANA", safety.id)
    submit_done_form(slack, fake, "U0ANA", quiz.id, score="100")

    assert awards(db) == []
    with db.session() as session:
        typed = session.scalars(
            select(CompletionEvent).where(CompletionEvent.item_id == quiz.item_id)
        ).one()
    assert (typed.score, typed.source) == (100, "slack")  # kept, as self-reported
    [note] = told(fake, "U0ANA")
    assert "Your score of 100 is recorded as self-reported" in note
    assert "*Safe Worker* needs a score from your learning platform (LMS) or an admin" in note
    with db.session() as session:
        [goal] = certification_goals(session, person(db, "ana@x.io").id)
    assert (goal.title, goal.met, goal.needed) == ("Safe Worker", 1, 2)

    # Two days later the LMS reports her result (done on Tuesday): now it counts, and the
    # award is dated from that completion, not from the typed one.
    clock.set(datetime(2026, 3, 4, 9, 0, tzinfo=UTC))
    lms = "email,item,completed_at,score\nana@x.io,safety-quiz,2026-03-03T14:00:00Z,86\n"
    imported = cli("import-completions", write("lms.csv", lms))
    assert imported.code == 0, imported.err
    assert "certifications: 1 awarded" in imported.out
    [award] = awards(db)
    assert award.awarded_at == datetime(2026, 3, 3, 14, 0, tzinfo=UTC)
    with db.session() as session:
        keys = set(session.scalars(select(OutboxMessage.key)))
    assert f"cert_award:{award.id}:holder" in keys


def test_a_failing_or_unneeded_typed_score_gets_no_note(dms, slack, fake, db):
    submit_done_form(slack, fake, "U0ANA", assignment(db, "ana@x.io", "safety-quiz").id, score="55")
    submit_done_form(slack, fake, "U0BEN", assignment(db, "ben@x.io", "safety-quiz").id)
    assert told(fake, "U0ANA") == [] and told(fake, "U0BEN") == []


def test_a_requirement_may_allow_self_reported_scores(cli, write, clock, db, fake, slack):
    clock.set(SEND_AT)
    assert cli("load-config", write("programs.yml", SELF_REPORTED)).code == 0
    assert cli("import-people", write("people.csv", people_csv(*PEOPLE))).code == 0
    send_digests(db, fake, clock)
    submit_done_form(slack, fake, "U0ANA", assignment(db, "ana@x.io", "safety").id)
    submit_done_form(slack, fake, "U0ANA", assignment(db, "ana@x.io", "safety-quiz").id, score="90")
    [award] = awards(db)
    with db.session() as session:
        typed = session.scalars(select(CompletionEvent).where(CompletionEvent.score == 90)).one()
    assert typed.source == "slack" and award.awarded_at == typed.completed_at
    assert told(fake, "U0ANA") == []


@pytest.mark.parametrize(
    ("source", "self_reported", "counts"),
    [
        ("import", False, True),
        ("admin", False, True),
        ("slack", False, False),
        ("slack_command", False, False),
        ("simulation", False, False),
        ("slack", True, True),
    ],
)
def test_only_trusted_sources_meet_a_minimum_score(source, self_reported, counts):
    quiz = Requirement(1, "quiz", "Quiz", "assessment", 10, 80, self_reported)
    at = datetime(2026, 3, 2, tzinfo=UTC)
    assert score_counts(quiz, CompletionFact(1, at, at, 95, source)) is counts
    assert not score_counts(quiz, CompletionFact(1, at, at, 79, "import"))
    assert score_counts(
        Requirement(2, "read", "Read", "reading", 5), CompletionFact(2, at, at, None, source)
    )
    assert {"import", "admin"} == TRUSTED_SCORE_SOURCES
