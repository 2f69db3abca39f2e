"""Mentor pairing: "Find a mentor" clicked through Bolt's real pipeline, the intro
delivered by the real sender to the fake Slack server as a group DM, on a frozen clock.

The org: Max manages the three learners Lea, Leo and Liz. Dan works from Kolkata, the
others from London. Nobody holds a certification until a test says so; "Safe Deployer"
requires ``deploy`` and ``review``.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update

from learning import mentoring
from learning.actions import unit_of_work
from learning.paths import current_settings
from models import (
    AuditEntry,
    Certification,
    CertificationAward,
    Item,
    MentorPairing,
    OutboxMessage,
    PeerPrompt,
    PeerPromptResponse,
    Person,
)
from server.app import build_app
from tests.chat_support import assignment, block, send_digests
from tests.conftest import ON_POSTGRES
from tests.fakes.bolt_requests import SlackRequests
from tests.fakes.slack_api import FakeSlack
from tests.helpers import people_csv, slack_settings
from tests.outbox_support import make_sender
from tests.test_learn_command import said

SECRET = "test-signing-secret"
PROGRAMS = """
organisation:
  name: Mentor Co
  timezone: Europe/London
channels:
  community: "#learning"
items:
  intro:
    title: Welcome and introductions
    method: reading
    minutes: 15
  deploy:
    title: Deploying safely
    method: online
    url: https://lms.example.com/deploy
    minutes: 30
  review:
    title: Code review basics
    method: reading
    minutes: 20
  handbook:
    title: Read the handbook
    method: reading
    minutes: 20
  shadow:
    title: Shadow a colleague
    method: shadowing
    minutes: 240
programs:
  engineer:
    title: Engineer
    tiers:
      - key: first-30
        title: First 30 days
        starts_on_day: 0
        items:
          - {item: intro, required: true, due: 1}
          - {item: deploy, required: true, due: 5}
          - {item: review, required: true, due: 5}
          - {item: handbook, required: true, due: 5}
          - {item: shadow, due: 10}
certifications:
  deployer:
    title: Safe Deployer
    items: [deploy, review]
    valid_for: 1y
"""

# Dan comes before Cat, so Cat winning a tie with Dan is the time zone's doing, not the id's.
PEOPLE = (
    "max@m.io,Max Manager,,engineer,Ops,2026-03-02,Europe/London,UMAX",
    "lea@m.io,Lea Learner,max@m.io,engineer,Ops,2026-03-02,Europe/London,ULEA",
    "leo@m.io,Leo Learner,max@m.io,engineer,Ops,2026-03-02,Europe/London,ULEO",
    "liz@m.io,Liz Learner,max@m.io,engineer,Ops,2026-03-02,Europe/London,ULIZ",
    "dan@m.io,Dan Kolkata,,engineer,Web,2026-03-02,Asia/Kolkata,UDAN",
    "cat@m.io,Cat London,,engineer,Web,2026-03-02,Europe/London,UCAT",
    "ola@m.io,Ola Helper,,engineer,Web,2026-03-02,Europe/London,UOLA",
)
# Tuesday 3 March 2026, 10:00 in London (15:30 in Kolkata).
TUESDAY = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
# Monday 9 March, 10:00 in London: inside the digest's send window, a suggestions day.
MONDAY = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
RESPOND = "respond.actions"  # the fake Slack "method" the response_url points at
DIGEST_MESSAGE = {"type": "message", "ts": "1773050400.000100", "text": "Hi Lea"}


class MentorRequests(SlackRequests):
    """``SlackRequests`` whose interactions carry a ``response_url`` on the fake Slack
    server, so what ``respond`` says is recorded like any other call."""

    def __init__(self, app: Any, *, signing_secret: str, response_url: str) -> None:
        super().__init__(app, signing_secret=signing_secret)
        self.response_url = response_url

    def interaction(self, payload: dict[str, Any]) -> Any:
        if "response_url" in payload:
            payload = {**payload, "response_url": self.response_url}
        return super().interaction(payload)


@pytest.fixture
def fake(clock):
    with FakeSlack(time_source=lambda: clock.now().timestamp()) as server:
        server.respond(RESPOND, {"ok": True})
        yield server


def load_org(cli, write, clock, programs: str = PROGRAMS) -> None:
    clock.set(TUESDAY)
    loaded = cli("load-config", write("programs.yml", programs))
    assert loaded.code == 0, loaded.err
    imported = cli("import-people", write("people.csv", people_csv(*PEOPLE)))
    assert imported.code == 0, imported.err


@pytest.fixture
def org(cli, write, clock):
    load_org(cli, write, clock)


@pytest.fixture
def slack(db, clock, fake):
    settings = slack_settings(fake.base_url, signing_secret=SECRET)
    app = build_app(settings, database=db, clock=clock, process_before_response=True)
    return MentorRequests(app, signing_secret=SECRET, response_url=fake.base_url + RESPOND)


# --- helpers ----------------------------------------------------------------------------


def person_id(db, email: str) -> int:
    with db.session() as session:
        return session.scalars(select(Person.id).where(Person.email == email)).one()


def item_id(db, key: str) -> int:
    with db.session() as session:
        return session.scalars(select(Item.id).where(Item.key == key)).one()


def certify(
    db, clock, email: str, *, expires_in: timedelta | None = timedelta(days=365), lapsed=False
) -> None:
    """``email`` holds Safe Deployer, awarded a week ago."""
    now = clock.now()
    with db.session() as session:
        cert_id = session.scalars(select(Certification.id)).one()
        session.add(
            CertificationAward(
                person_id=session.scalars(select(Person.id).where(Person.email == email)).one(),
                certification_id=cert_id,
                awarded_at=now - timedelta(days=7),
                expires_at=None if expires_in is None else now + expires_in,
                lapsed_at=now - timedelta(days=1) if lapsed else None,
            )
        )


def answer_prompt(db, clock, email: str, item_key: str, kind: str = "help") -> None:
    """``email`` clicked "I can help" (``help``) or "I'm learning this" on a peer prompt."""
    with db.session() as session:
        prompt = session.scalars(
            select(PeerPrompt).where(PeerPrompt.item_id == item_id(db, item_key))
        ).first()
        if prompt is None:
            prompt = PeerPrompt(
                item_id=item_id(db, item_key),
                local_date=date(2026, 3, 3),
                channel="#learning",
                created_at=clock.now(),
            )
            session.add(prompt)
            session.flush()
        session.add(
            PeerPromptResponse(
                prompt_id=prompt.id,
                person_id=person_id(db, email),
                kind=kind,
                clicked_at=clock.now(),
            )
        )


@pytest.fixture
def find(slack, fake, db):
    """``find(user_id, email, item_key)``: ``user_id`` clicks "Find a mentor" on
    ``email``'s ``item_key`` (or on the assignment id ``value``); the private answer."""

    def click(user_id: str, email: str | None, item_key: str, *, value: str | None = None) -> str:
        value = value if value is not None else str(assignment(db, email, item_key).id)
        before = len(fake.calls_to(RESPOND))
        response = slack.block_action(
            user_id=user_id,
            action={"type": "button", "action_id": "digest_find_mentor", "value": value},
            message=DIGEST_MESSAGE,
            channel_id=f"D{user_id[1:]}",
        )
        assert response.status == 200
        replies = fake.calls_to(RESPOND)[before:]
        assert len(replies) == 1, "the clicker gets exactly one answer"
        body = replies[0].body
        assert body["response_type"] == "ephemeral" and body["replace_original"] is False
        return text_of(body)

    return click


def text_of(message: dict[str, Any]) -> str:
    parts = [message.get("text", "")]
    for b in message.get("blocks", []):
        if "text" in b:
            parts.append(b["text"]["text"])
        for e in b.get("elements", []):
            label = e.get("text", "")
            parts.append(label if isinstance(label, str) else label.get("text", ""))
    return "\n".join(parts)


def pairings(db) -> list[tuple[str, str, str, str]]:
    """(learner, mentor, item key, reason) of every pairing, oldest first."""
    with db.session() as session:
        emails = dict(session.execute(select(Person.id, Person.email)).all())
        keys = dict(session.execute(select(Item.id, Item.key)).all())
        return [
            (emails[p.learner_id].split("@")[0], emails[p.mentor_id].split("@")[0],
             keys[p.item_id], p.reason)
            for p in session.scalars(select(MentorPairing).order_by(MentorPairing.id))
        ]  # fmt: skip


def deliver(db, fake, clock) -> None:
    make_sender(db, fake, clock).drain()


def paired_with(answer: str, slack_user_id: str) -> bool:
    return f"I've paired you with <@{slack_user_id}>" in answer


NOBODY = "I couldn't find a mentor for"


# --- pairing and the group DM --------------------------------------------------------------


def test_a_certified_colleague_is_paired_and_both_meet_in_a_group_dm(
    org, find, slack, db, fake, clock
):
    certify(db, clock, "cat@m.io")

    answer = find("ULEA", "lea@m.io", "deploy")
    assert paired_with(answer, "UCAT") and "Deploying safely" in answer and "group DM" in answer

    deliver(db, fake, clock)
    deliver(db, fake, clock)  # a second drain sends nothing again
    [opened] = fake.calls_to("conversations.open")
    assert set(opened.body["users"].split(",")) == {"ULEA", "UCAT"}
    [intro] = fake.messages(opened.response["channel"]["id"])
    said_there = text_of(intro)
    assert "<@ULEA>" in said_there and "<@UCAT>" in said_there
    assert "<https://lms.example.com/deploy|Deploying safely>" in said_there
    assert "Safe Deployer" in said_there and "30-minute call this week" in said_there
    assert fake.messages("ULEA") == [] and fake.messages("UCAT") == []  # no separate DMs

    assert pairings(db) == [("lea", "cat", "deploy", "certified")]
    with db.session() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "mentor.pair"))
        [row] = session.scalars(select(OutboxMessage).where(OutboxMessage.key.like("pairing:%")))
    assert entry.actor == "lea@m.io" and entry.details["mentor"] == "cat@m.io"
    assert row.key == f"pairing:{entry.details['pairing_id']}:intro"


def test_a_second_click_on_the_same_item_names_the_same_mentor_and_pairs_once(
    org, find, slack, db, fake, clock
):
    certify(db, clock, "cat@m.io")
    certify(db, clock, "ola@m.io")
    assert paired_with(find("ULEA", "lea@m.io", "deploy"), "UCAT")
    clock.advance(timedelta(days=1))
    again = find("ULEA", "lea@m.io", "deploy")
    assert "already paired with <@UCAT>" in again
    deliver(db, fake, clock)
    assert pairings(db) == [("lea", "cat", "deploy", "certified")]
    assert len(fake.calls_to("conversations.open")) == 1


def test_nobody_qualified_gets_a_kind_answer_and_nothing_is_stored_or_sent(
    org, find, slack, db, fake, clock
):
    answer = find("ULEA", "lea@m.io", "deploy")
    assert NOBODY in answer and "Deploying safely" in answer
    assert "#learning" in answer and "next week" in answer
    deliver(db, fake, clock)
    assert pairings(db) == []
    assert fake.calls_to("conversations.open") == [] and fake.delivered() == []
    with db.session() as session:
        assert (
            session.scalars(select(AuditEntry).where(AuditEntry.action == "mentor.pair")).all()
            == []
        )


# --- who qualifies -----------------------------------------------------------------------


def test_a_holder_whose_award_runs_out_within_30_days_is_skipped(org, find, slack, db, fake, clock):
    certify(db, clock, "cat@m.io", expires_in=timedelta(days=29))
    certify(db, clock, "ola@m.io", lapsed=True)
    assert NOBODY in find("ULEA", "lea@m.io", "deploy")

    certify(db, clock, "dan@m.io", expires_in=timedelta(days=31))
    assert paired_with(find("ULEA", "lea@m.io", "deploy"), "UDAN")


def test_a_colleague_who_clicked_i_can_help_qualifies(org, find, slack, db, fake, clock):
    answer_prompt(db, clock, "leo@m.io", "intro", kind="learning")  # learning it too: no
    assert NOBODY in find("ULEA", "lea@m.io", "intro")

    answer_prompt(db, clock, "ola@m.io", "intro")
    assert paired_with(find("ULEA", "lea@m.io", "intro"), "UOLA")
    assert pairings(db) == [("lea", "ola", "intro", "offered_help")]
    deliver(db, fake, clock)
    [opened] = fake.calls_to("conversations.open")
    [intro] = fake.messages(opened.response["channel"]["id"])
    assert "<@UOLA> offered to help" in text_of(intro)


def test_certified_first_then_the_learners_time_zone_but_fewest_pairings_before_both(
    org, find, slack, db, fake, clock
):
    certify(db, clock, "dan@m.io")
    certify(db, clock, "cat@m.io")
    answer_prompt(db, clock, "ola@m.io", "deploy")
    # All unpaired: certified before "I can help", then London (Lea's zone) before Kolkata.
    assert paired_with(find("ULEA", "lea@m.io", "deploy"), "UCAT")
    # Cat has one pairing now: Dan has fewer.
    assert paired_with(find("ULEO", "leo@m.io", "deploy"), "UDAN")
    # Both certified mentors have one: Ola, who offered help, has none.
    assert paired_with(find("ULIZ", "liz@m.io", "deploy"), "UOLA")


# --- fairness ---------------------------------------------------------------------------


def test_the_learners_own_manager_is_never_their_mentor(org, find, slack, db, fake, clock):
    certify(db, clock, "max@m.io")
    assert NOBODY in find("ULEA", "lea@m.io", "deploy")
    # Max mentors people he does not manage.
    assert paired_with(find("UOLA", "ola@m.io", "deploy"), "UMAX")

    certify(db, clock, "cat@m.io")
    assert paired_with(find("ULEA", "lea@m.io", "deploy"), "UCAT")


def test_an_away_colleague_is_skipped_until_their_own_local_date_has_passed(
    org, find, slack, db, fake, clock
):
    certify(db, clock, "dan@m.io")
    with db.session() as session:
        session.execute(
            update(Person).where(Person.email == "dan@m.io").values(away_until=date(2026, 3, 3))
        )
    assert NOBODY in find("ULEA", "lea@m.io", "deploy")  # 15:30 Tue in Kolkata

    # 19:00 UTC: still Tuesday in London, already Wednesday 00:30 in Kolkata.
    clock.set(datetime(2026, 3, 3, 19, 0, tzinfo=UTC))
    assert paired_with(find("ULEA", "lea@m.io", "deploy"), "UDAN")


def test_a_mentor_takes_at_most_two_new_learners_in_any_seven_days(
    org, find, slack, db, fake, clock
):
    certify(db, clock, "cat@m.io")
    assert paired_with(find("ULEA", "lea@m.io", "deploy"), "UCAT")
    clock.advance(timedelta(days=1))
    assert paired_with(find("ULEO", "leo@m.io", "deploy"), "UCAT")

    clock.advance(timedelta(days=5, hours=23))  # 6 days 23 hours after Lea's pairing
    assert NOBODY in find("ULIZ", "liz@m.io", "deploy")
    clock.advance(timedelta(hours=1))  # Lea's pairing is 7 days old: one place is free
    assert paired_with(find("ULIZ", "liz@m.io", "deploy"), "UCAT")
    assert [p[:2] for p in pairings(db)] == [("lea", "cat"), ("leo", "cat"), ("liz", "cat")]


def test_the_same_two_people_are_not_paired_again_within_eight_weeks_in_either_role(
    org, find, slack, db, fake, clock
):
    certify(db, clock, "cat@m.io")
    answer_prompt(db, clock, "lea@m.io", "intro")
    assert paired_with(find("ULEA", "lea@m.io", "deploy"), "UCAT")

    # Cat is certified for review too, but has just been paired with Lea.
    assert NOBODY in find("ULEA", "lea@m.io", "review")
    # The other way round too: Lea offered help with intro, but not to Cat just yet.
    assert NOBODY in find("UCAT", "cat@m.io", "intro")

    clock.advance(timedelta(weeks=8) - timedelta(minutes=1))
    assert NOBODY in find("ULEA", "lea@m.io", "review")
    clock.advance(timedelta(minutes=1))  # eight weeks on: they may be paired again
    assert paired_with(find("ULEA", "lea@m.io", "review"), "UCAT")


def test_a_colleague_who_said_learn_mentor_off_is_not_paired(org, find, slack, db, fake, clock):
    certify(db, clock, "cat@m.io")
    off = said(slack.command("mentor off", user_id="UCAT"))
    assert "will not pair you" in off and "/learn mentor on" in off
    assert "does not pair you" in said(slack.command("mentor", user_id="UCAT"))
    assert NOBODY in find("ULEA", "lea@m.io", "deploy")

    on = said(slack.command("mentor on", user_id="UCAT"))
    assert "may pair you as a mentor" in on and "at most 2 new learners a week" in on
    assert paired_with(find("ULEA", "lea@m.io", "deploy"), "UCAT")
    with db.session() as session:
        changes = [
            e.details["mentoring"]
            for e in session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "person.mentoring")
                .order_by(AuditEntry.id)
            )
        ]
    assert changes == [False, True]


# --- refusals ----------------------------------------------------------------------------


def test_a_click_on_someone_elses_item_is_refused_audited_and_pairs_nobody(
    org, find, slack, db, fake, clock
):
    certify(db, clock, "cat@m.io")
    lea_deploy = str(assignment(db, "lea@m.io", "deploy").id)
    answer = find("ULEO", None, "deploy", value=lea_deploy)
    assert "You can only find a mentor for your own items" in answer
    assert pairings(db) == []
    with db.session() as session:
        [refusal] = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "assignment.refused")
        )
    assert refusal.actor == "leo@m.io" and refusal.details["attempted"] == "mentor"


def test_a_finished_item_needs_no_mentor(org, find, slack, db, fake, clock):
    certify(db, clock, "cat@m.io")
    assert "done" in said(slack.command("done deploy", user_id="ULEA")).lower()
    answer = find("ULEA", "lea@m.io", "deploy")
    assert "no longer open" in answer and pairings(db) == []


# --- the digest's button -----------------------------------------------------------------


def mentor_buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The "Find a mentor" buttons of a digest, by the title of their item."""
    found = {}
    for b in message.get("blocks", []):
        block_id = b.get("block_id", "")
        if not block_id.endswith(":actions"):
            continue
        for element in b["elements"]:
            if element["action_id"] == "digest_find_mentor":
                section = block(message, block_id.removesuffix(":actions"))
                assert section is not None
                title = section["text"]["text"].split("\n")[0]
                found[title] = element
    return found


def lea_digest(db, fake, clock) -> dict[str, Any]:
    clock.set(MONDAY)
    send_digests(db, fake, clock)
    [digest] = fake.messages("ULEA")
    return digest


def test_the_digest_offers_a_mentor_for_overdue_required_and_certification_items(
    org, db, fake, clock
):
    # Mon 9 March: intro (due Tue 3) is overdue; deploy, review and handbook are due
    # today; shadow is a suggestion.
    digest = lea_digest(db, fake, clock)
    titles = text_of(digest)
    assert "Read the handbook" in titles and "Shadow a colleague" in titles
    buttons = mentor_buttons(digest)
    assert set(buttons) == {
        "Welcome and introductions",  # overdue and required
        "<https://lms.example.com/deploy|Deploying safely>",  # Safe Deployer needs it
        "Code review basics",  # Safe Deployer needs it
    }
    assert buttons["Code review basics"]["value"] == str(assignment(db, "lea@m.io", "review").id)
    assert buttons["Code review basics"]["text"]["text"] == "Find a mentor"


def test_no_mentor_button_when_mentoring_is_switched_off(cli, write, db, fake, clock):
    load_org(cli, write, clock, PROGRAMS + "mentoring:\n  enabled: false\n")
    assert mentor_buttons(lea_digest(db, fake, clock)) == {}


def test_the_digest_button_clicked_through_bolt_pairs_and_answers_privately(
    org, find, slack, db, fake, clock
):
    digest = lea_digest(db, fake, clock)
    certify(db, clock, "cat@m.io")
    button = mentor_buttons(digest)["Code review basics"]
    before = len(fake.calls_to(RESPOND))

    response = slack.block_action(
        user_id="ULEA",
        action={**button, "block_id": "b"},
        message=digest,
        channel_id=next(
            c.response["channel"]
            for c in fake.delivered()
            if c.response is not None and c.response["ts"] == digest["ts"]
        ),
    )

    assert response.status == 200
    [reply] = fake.calls_to(RESPOND)[before:]
    assert reply.body["response_type"] == "ephemeral" and reply.body["replace_original"] is False
    assert paired_with(text_of(reply.body), "UCAT") and "Code review basics" in text_of(reply.body)
    assert pairings(db) == [("lea", "cat", "review", "certified")]
    [original] = fake.messages("ULEA")
    assert original["blocks"] == digest["blocks"]  # the digest keeps its buttons
    deliver(db, fake, clock)
    [opened] = fake.calls_to("conversations.open")
    assert set(opened.body["users"].split(",")) == {"ULEA", "UCAT"}


# --- two requests at once ---------------------------------------------------------------


@pytest.mark.skipif(not ON_POSTGRES, reason="row locks: PostgreSQL (SQLite has one writer)")
def test_two_learners_asking_at_once_never_push_a_mentor_past_the_cap(org, db, clock):
    """Lea's request holds Cat's row; Leo's, made at the same time, saw Cat with room
    (cap 1 here), waits for the lock, and after Lea's commit finds Cat full."""
    certify(db, clock, "cat@m.io")
    certify(db, clock, "ola@m.io")
    with db.session() as session:
        settings = current_settings(session)
        people = {p.email: p for p in session.scalars(select(Person))}
    settings = settings.model_copy(
        update={"mentoring": settings.mentoring.model_copy(update={"weekly_cap": 1})}
    )
    # Ola already mentored this week: Cat is everyone's first choice.
    with db.session() as session:
        session.add(
            MentorPairing(
                learner_id=people["liz@m.io"].id,
                mentor_id=people["ola@m.io"].id,
                item_id=item_id(db, "deploy"),
                reason="certified",
                paired_at=clock.now() - timedelta(days=3),
            )
        )

    def ask(email: str, session) -> mentoring.MentorResult:
        return mentoring.find_mentor(
            session,
            learner=session.get(Person, people[email].id),
            assignment_id=assignment(db, email, "deploy").id,
            clock=clock,
            settings=settings,
        )

    results: dict[str, Any] = {}
    with unit_of_work(db) as first:
        results["lea"] = ask("lea@m.io", first)
        waiting = threading.Thread(
            target=lambda: results.__setitem__("leo", _in_unit(db, lambda s: ask("leo@m.io", s)))
        )
        waiting.start()
        _wait_for_a_lock_wait(db)
    waiting.join(timeout=10)
    assert not waiting.is_alive()

    assert results["lea"].mentor_name == "Cat London"
    assert isinstance(results["leo"], mentoring.NoMentorFound)
    assert [p[:2] for p in pairings(db)] == [("liz", "ola"), ("lea", "cat")]


def _in_unit(db, work):
    with unit_of_work(db) as session:
        return work(session)


def _wait_for_a_lock_wait(db, timeout: float = 10.0) -> None:
    """Bounded polling until some session waits on a row lock."""
    done = threading.Event()
    for _ in range(int(timeout / 0.05)):
        with db.engine.connect() as conn:
            waiting = conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            ).scalar()
        if waiting:
            return
        done.wait(0.05)
    raise AssertionError("the second request never waited for the mentor's row")
