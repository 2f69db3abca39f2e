"""Peer-learning prompts: the weekly post in the community channel, its two buttons through
Bolt's real pipeline, and the thread introduction, delivered by the real sender to the
fake Slack server on a frozen clock.

The org works in London; prompts go out on Tuesdays from 11:00 for 4 hours. Pat keeps
out of public posts; Gus has left.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from itertools import count
from typing import Any

import pytest
from sqlalchemy import select, update

from learning import peer_prompts
from learning.clock import FrozenClock
from models import (
    Assignment,
    AssignmentStatus,
    AuditEntry,
    Item,
    OutboxMessage,
    PeerPrompt,
    PeerPromptResponse,
    Person,
)
from models.db import Database
from platforms.slack.render import ids
from platforms.slack.render.limits import block_kit_problems
from platforms.slack.render.rendered import RenderedMessage
from schedules.peer_prompts import plan_peer_prompts
from server.app import build_app
from tests.fakes.bolt_requests import SlackRequests
from tests.fakes.slack_api import FakeSlack
from tests.helpers import people_csv, slack_settings
from tests.outbox_support import make_sender

SECRET = "test-signing-secret"
CHANNEL = "#learning"

PROGRAMS = """
organisation:
  name: Peer Co
  timezone: Europe/London
channels:
  community: "{channel}"
peer_prompts:
  weekdays: [tue]
  time: "11:00"
  window: 4h
  min_learners: 2
  no_repeat_weeks: 3
  follow_up_after: 24h
items:
  docker:
    title: Docker basics
    method: online
    minutes: 45
  k8s:
    title: Kubernetes in practice
    method: classroom
    minutes: 120
  review:
    title: Code review habits
    method: reading
    minutes: 20
programs:
  engineer:
    title: Engineer
    tiers:
      - key: first-30
        title: First 30 days
        starts_on_day: 0
        items:
          - {{item: docker, required: true, due: 5}}
          - {{item: k8s, required: true, due: 5}}
          - {{item: review, required: true, due: 5}}
"""

PEOPLE = (
    "ann@p.io,Ann Archer,,engineer,Ops,2026-03-02,Europe/London,UANN",
    "bob@p.io,Bob Baker,,engineer,Ops,2026-03-02,Europe/London,UBOB",
    "cat@p.io,Cat Cooper,,engineer,Ops,2026-03-02,Asia/Kolkata,UCAT",
    "dan@p.io,Dan Dyer,,engineer,Ops,2026-03-02,America/New_York,UDAN",
    "pat@p.io,Pat Private,,engineer,Ops,2026-03-02,Europe/London,UPAT",
    "gus@p.io,Gus Gone,,engineer,Ops,2026-03-02,Europe/London,UGUS",
)
NAMES = ("Ann", "Archer", "Bob", "Baker", "Cat", "Cooper", "Dan", "Dyer", "Pat", "Gus")
SLACK_IDS = ("UANN", "UBOB", "UCAT", "UDAN", "UPAT", "UGUS")

# Tuesday 3 March 2026: London is on GMT, so 11:00 local is 11:00 UTC.
TUESDAY = date(2026, 3, 3)
IN_WINDOW = datetime(2026, 3, 3, 11, 30, tzinfo=UTC)
FAR_AWAY = date(2030, 1, 1)

_responses = count(1)


# --- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture
def fake(clock):
    with FakeSlack(time_source=lambda: clock.now().timestamp()) as server:
        yield server


def setup(cli, write, clock: FrozenClock, db: Database, *, channel: str | None = CHANNEL) -> None:
    """The org above, with every open assignment due far away (no candidate yet)."""
    clock.set(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    programs = PROGRAMS.format(channel=channel or "")
    if channel is None:
        programs = programs.replace('  community: ""\n', "  admins: null\n")
    loaded = cli("load-config", write("programs.yml", programs))
    assert loaded.code == 0, loaded.err
    imported = cli("import-people", write("people.csv", people_csv(*PEOPLE)))
    assert imported.code == 0, imported.err
    with db.session() as session:
        session.execute(update(Person).where(Person.email == "pat@p.io").values(public_posts=False))
        session.execute(update(Person).where(Person.email == "gus@p.io").values(active=False))
        session.execute(update(Assignment).values(due_date=FAR_AWAY))


@pytest.fixture
def org(cli, write, clock, db):
    setup(cli, write, clock, db)


def due(db: Database, item_key: str, emails: tuple[str, ...], day: date, **values: Any) -> None:
    """Make ``emails``' assignments of ``item_key`` due on ``day`` (and set ``values``)."""
    with db.session() as session:
        item_id = session.scalars(select(Item.id).where(Item.key == item_key)).one()
        people = select(Person.id).where(Person.email.in_(emails))  # type: ignore[attr-defined]
        session.execute(
            update(Assignment)
            .where(Assignment.item_id == item_id, Assignment.person_id.in_(people))  # type: ignore[attr-defined]
            .values(due_date=day, **values)
        )


def everyone(*names: str) -> tuple[str, ...]:
    return tuple(f"{name}@p.io" for name in names)


def plan(db: Database, clock: FrozenClock, at: datetime | None = None):
    if at is not None:
        clock.set(at)
    return plan_peer_prompts(db, clock)


def deliver(db: Database, fake: FakeSlack, clock: FrozenClock) -> None:
    make_sender(db, fake, clock).drain()


def text_of(message: dict[str, Any]) -> str:
    parts = [message.get("text", "")]
    for block in message.get("blocks", []):
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        for element in block.get("elements", []):
            label = element.get("text")
            parts.append(label["text"] if isinstance(label, dict) else label or "")
    return "\n".join(parts)


def prompts(db: Database) -> list[PeerPrompt]:
    with db.session() as session:
        return list(session.scalars(select(PeerPrompt).order_by(PeerPrompt.id)))


def item_key(db: Database, item_id: int) -> str:
    with db.session() as session:
        item = session.get(Item, item_id)
        assert item is not None
        return item.key


def posts(fake: FakeSlack) -> list[dict[str, Any]]:
    """Top-level messages in the community channel."""
    return [m for m in fake.messages(CHANNEL) if "thread_ts" not in m]


def replies(fake: FakeSlack) -> list[dict[str, Any]]:
    return [m for m in fake.messages(CHANNEL) if "thread_ts" in m]


def bolt(db: Database, clock: FrozenClock, fake: FakeSlack) -> SlackRequests:
    settings = slack_settings(fake.base_url, signing_secret=SECRET)
    app = build_app(settings, database=db, clock=clock, process_before_response=True)
    return SlackRequests(app, signing_secret=SECRET)


@pytest.fixture
def slack(db, clock, fake):
    return bolt(db, clock, fake)


def click(
    slack: SlackRequests, fake: FakeSlack, user_id: str, action_id: str, post: dict[str, Any]
) -> str:
    """Click a button of ``post`` as ``user_id``; return the private answer they got.

    The action's ``response_url`` points at the fake server, so the answer Bolt's
    ``respond`` sends there is recorded like any other call.
    """
    button = next(
        e
        for b in post["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == action_id
    )
    path = f"respond/{next(_responses)}"
    response = slack.interaction(
        {
            "type": "block_actions",
            "user": {"id": user_id, "team_id": "T0TEAM"},
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "b",
                    "value": button["value"],
                    "action_ts": "1.0",
                }
            ],
            "response_url": f"{fake.base_url}{path}",
            "container": {"type": "message", "message_ts": post["ts"], "channel_id": CHANNEL},
            "channel": {"id": CHANNEL},
            "message": post,
        }
    )
    assert response.status == 200
    [answer] = fake.calls_to(path)
    assert answer.body["response_type"] == "ephemeral"
    assert answer.body["replace_original"] is False
    return str(answer.body["text"])


def responses(db: Database) -> list[tuple[str, str]]:
    with db.session() as session:
        return sorted(
            session.execute(
                select(Person.email, PeerPromptResponse.kind).join(
                    Person, Person.id == PeerPromptResponse.person_id
                )
            ).all()
        )


def posted_prompt(db, fake, clock) -> dict[str, Any]:
    """Plan inside Tuesday's window with Docker due for four people, deliver the post."""
    due(db, "docker", everyone("ann", "bob", "cat", "dan"), TUESDAY + timedelta(days=5))
    plan(db, clock, IN_WINDOW)
    deliver(db, fake, clock)
    [post] = posts(fake)
    return post


# --- choosing the topic ----------------------------------------------------------------------


def test_topics_are_drawn_in_proportion_to_the_learners_due():
    weights = {1: 10, 2: 30, 3: 60, 4: 0, 5: 1}
    rng = random.Random(2026)
    draws = 30_000
    drawn = Counter(peer_prompts.choose_topic(weights, rng, min_learners=2) for _ in range(draws))
    assert set(drawn) == {1, 2, 3}  # never the empty item nor the one below min_learners
    for item, share in ((1, 0.1), (2, 0.3), (3, 0.6)):
        assert drawn[item] / draws == pytest.approx(share, abs=0.015)


def test_no_topic_when_every_item_is_below_the_minimum():
    rng = random.Random(1)
    assert peer_prompts.choose_topic({1: 1, 2: 0}, rng, min_learners=2) is None
    assert peer_prompts.choose_topic({}, rng) is None


def test_the_same_day_always_draws_the_same_topic():
    weights = {1: 5, 2: 5, 3: 5, 4: 5}
    day = date(2026, 3, 3)

    def draw(on: date) -> int | None:
        return peer_prompts.choose_topic(weights, peer_prompts.topic_rng("default", on))

    assert {draw(day) for _ in range(5)} == {draw(day)}
    assert len({draw(day + timedelta(weeks=w)) for w in range(12)}) > 1  # but it varies


# --- the post -------------------------------------------------------------------------------


def test_the_prompt_is_posted_once_in_the_community_channel_and_names_nobody(org, db, fake, clock):
    due(db, "docker", everyone("ann", "bob", "cat", "pat"), TUESDAY + timedelta(days=3))
    due(db, "k8s", everyone("dan"), TUESDAY + timedelta(days=3))  # 1 < min_learners

    first = plan(db, clock, IN_WINDOW)
    again = plan(db, clock)
    deliver(db, fake, clock)
    deliver(db, fake, clock)

    assert len(first.prompt_ids) == 1 and again.prompt_ids == []
    [post] = fake.messages(CHANNEL)
    said = text_of(post)
    assert "Docker basics" in said and "Online course" in said and "45 min" in said
    assert "4 colleagues are working on this right now" in said
    buttons = {e["action_id"]: e for b in post["blocks"] for e in b.get("elements", [])}
    [prompt] = prompts(db)
    assert buttons[ids.PEER_CAN_HELP]["text"]["text"] == "I can help"
    assert buttons[ids.PEER_LEARNING]["text"]["text"] == "I'm learning this"
    assert {b["value"] for b in buttons.values()} == {str(prompt.id)}
    for name in (*NAMES, *SLACK_IDS):
        assert name not in said
    assert (prompt.local_date, prompt.channel, prompt.learners_due) == (TUESDAY, CHANNEL, 4)
    assert block_kit_problems(RenderedMessage.from_payload(post)) == []


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 3, 3, 10, 59, tzinfo=UTC),  # Tuesday, before 11:00
        datetime(2026, 3, 3, 15, 0, tzinfo=UTC),  # Tuesday, the window has closed
        datetime(2026, 3, 4, 11, 30, tzinfo=UTC),  # Wednesday
    ],
)
def test_nothing_is_posted_outside_the_window(org, db, fake, clock, at):
    due(db, "docker", everyone("ann", "bob"), at.date() + timedelta(days=3))
    assert plan(db, clock, at).prompt_ids == []
    deliver(db, fake, clock)
    assert prompts(db) == [] and fake.messages(CHANNEL) == []


def test_only_open_work_due_in_the_next_two_weeks_by_active_people_counts(org, db, fake, clock):
    soon = TUESDAY + timedelta(days=14)
    due(db, "docker", everyone("ann", "bob"), soon)
    due(db, "docker", everyone("cat"), TUESDAY - timedelta(days=1))  # overdue: never shown
    due(db, "docker", everyone("dan"), soon + timedelta(days=1))  # beyond the 14 days
    due(db, "docker", everyone("pat"), soon, status=AssignmentStatus.COMPLETED)
    due(db, "docker", everyone("gus"), soon)  # has left
    due(db, "k8s", everyone("cat"), TUESDAY)  # due today counts, but one is too few
    plan(db, clock, IN_WINDOW)
    deliver(db, fake, clock)
    [post] = fake.messages(CHANNEL)
    assert "Docker basics" in text_of(post)
    assert "2 colleagues are working on this right now" in text_of(post)


def test_a_second_planner_for_the_same_day_posts_nothing(org, db, fake, clock):
    due(db, "docker", everyone("ann", "bob"), TUESDAY + timedelta(days=3))
    due(db, "k8s", everyone("cat", "dan"), TUESDAY + timedelta(days=3))
    plan(db, clock, IN_WINDOW)
    with db.session() as session:  # as a planner that computed its choice before the first
        item_id = session.scalars(select(Item.id).where(Item.key == "k8s")).one()
        late = peer_prompts.post_prompt(
            session,
            workspace_id="default",
            item_id=item_id,
            learners_due=2,
            day=TUESDAY,
            channel=CHANNEL,
            clock=clock,
        )
    assert late is None
    deliver(db, fake, clock)
    assert len(prompts(db)) == 1 and len(fake.messages(CHANNEL)) == 1


def test_no_community_channel_posts_nothing(cli, write, clock, db, fake):
    setup(cli, write, clock, db, channel=None)
    due(db, "docker", everyone("ann", "bob", "cat"), TUESDAY + timedelta(days=3))
    plan(db, clock, IN_WINDOW)
    deliver(db, fake, clock)
    with db.session() as session:
        assert session.scalars(select(OutboxMessage)).all() == []
    assert prompts(db) == [] and fake.delivered() == []


def test_weekly_prompts_never_repeat_an_item_inside_the_window_and_do_after_it(
    org, db, fake, clock
):
    # Three items, always due: with no_repeat_weeks 3, the last two Tuesdays' items are
    # left out (a prompt exactly 3 weeks ago no longer counts), so one item is left.
    weeks = 9
    for week in range(weeks):
        tuesday = TUESDAY + timedelta(weeks=week)
        for key, people in (
            ("docker", everyone("ann", "bob", "cat", "dan")),
            ("k8s", everyone("ann", "bob")),
            ("review", everyone("cat", "dan", "pat")),
        ):
            due(db, key, people, tuesday + timedelta(days=4))
        at = datetime.combine(tuesday, IN_WINDOW.timetz())
        plan(db, clock, at)
        plan(db, clock, at + timedelta(hours=1))  # later in the window: nothing more
        plan(db, clock, at + timedelta(days=1))  # Wednesday: nothing

    made = prompts(db)
    assert [p.local_date for p in made] == [TUESDAY + timedelta(weeks=w) for w in range(weeks)]
    last_seen: dict[int, date] = {}
    for prompt in made:
        if prompt.item_id in last_seen:
            assert prompt.local_date - last_seen[prompt.item_id] >= timedelta(weeks=3)
        last_seen[prompt.item_id] = prompt.local_date
    per_item = Counter(item_key(db, p.item_id) for p in made)
    assert per_item == {"docker": 3, "k8s": 3, "review": 3}  # each comes back after the window


# --- the buttons ----------------------------------------------------------------------------


def test_clicks_are_recorded_once_each_and_the_clicker_is_answered_privately(
    org, db, fake, clock, slack
):
    post = posted_prompt(db, fake, clock)

    assert "Thanks — I'll introduce you in the thread" in click(
        slack, fake, "UANN", ids.PEER_CAN_HELP, post
    )
    assert "You already said you can help" in click(slack, fake, "UANN", ids.PEER_CAN_HELP, post)
    assert "I'll introduce you in the thread" in click(slack, fake, "UANN", ids.PEER_LEARNING, post)
    assert "I'll introduce you in the thread" in click(slack, fake, "UBOB", ids.PEER_LEARNING, post)
    assert "You already said you're learning this" in click(
        slack, fake, "UBOB", ids.PEER_LEARNING, post
    )

    assert responses(db) == [
        ("ann@p.io", "help"),
        ("ann@p.io", "learning"),
        ("bob@p.io", "learning"),
    ]
    with db.session() as session:
        audited = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "peer_prompt.click")
        ).all()
    assert sorted(audited) == ["ann@p.io", "ann@p.io", "bob@p.io"]
    # The public post shows the counts, still naming nobody, and keeps its buttons.
    [shown] = fake.messages(CHANNEL)
    assert "1 can help · 2 learning" in text_of(shown)
    assert "Ann" not in text_of(shown) and "UANN" not in text_of(shown)
    assert any(b["type"] == "actions" for b in shown["blocks"])
    assert fake.calls_to("chat.postMessage") == fake.delivered()  # no public answer to a click


def test_an_unknown_or_departed_clicker_is_told_clearly_and_nothing_is_noted(
    org, db, fake, clock, slack
):
    post = posted_prompt(db, fake, clock)
    assert "I don't have you in learnbot yet" in click(
        slack, fake, "UNOBODY", ids.PEER_CAN_HELP, post
    )
    assert "not active" in click(slack, fake, "UGUS", ids.PEER_LEARNING, post)
    assert responses(db) == []
    assert fake.calls_to("chat.update") == []


def test_a_click_on_a_prompt_that_does_not_exist_is_refused(org, db, clock):
    with db.session() as session:
        ann = session.scalars(select(Person).where(Person.email == "ann@p.io")).one()
        with pytest.raises(peer_prompts.PeerPromptRefused, match="no longer in learnbot"):
            peer_prompts.record_click(
                session, prompt_id=9999, person=ann, kind=peer_prompts.HELP, clock=clock
            )


def test_someone_private_is_told_they_will_not_be_named(org, db, fake, clock, slack):
    post = posted_prompt(db, fake, clock)
    answer = click(slack, fake, "UPAT", ids.PEER_CAN_HELP, post)
    assert "I won't name you in the thread" in answer
    assert responses(db) == [("pat@p.io", "help")]


# --- the thread introduction ----------------------------------------------------------------


def test_the_intro_is_posted_once_in_the_prompts_thread_naming_only_public_people(
    org, db, fake, clock, slack
):
    post = posted_prompt(db, fake, clock)
    click(slack, fake, "UANN", ids.PEER_CAN_HELP, post)
    click(slack, fake, "UPAT", ids.PEER_CAN_HELP, post)  # keeps out of public posts
    click(slack, fake, "UBOB", ids.PEER_LEARNING, post)
    click(slack, fake, "UCAT", ids.PEER_LEARNING, post)
    click(slack, fake, "UPAT", ids.PEER_LEARNING, post)

    plan(db, clock, IN_WINDOW + timedelta(hours=23))  # not a day yet
    deliver(db, fake, clock)
    assert replies(fake) == []

    clock.set(IN_WINDOW + timedelta(days=1, minutes=5))
    assert plan(db, clock).introduced == 1
    assert plan(db, clock).followed_up == 0
    deliver(db, fake, clock)
    deliver(db, fake, clock)

    [intro] = replies(fake)
    assert intro["thread_ts"] == post["ts"]
    said = text_of(intro)
    assert "<@UANN> offered to help" in said
    assert "<@UBOB> and <@UCAT> are learning it" in said
    assert "UPAT" not in said and "Pat" not in said
    assert block_kit_problems(RenderedMessage.from_payload(intro)) == []
    [prompt] = prompts(db)
    assert prompt.followed_up_at == IN_WINDOW + timedelta(days=1, minutes=5)
    # A later click is still noted, and told the introductions are already made.
    assert "already in the thread" in click(slack, fake, "UDAN", ids.PEER_LEARNING, post)


def test_a_prompt_nobody_answered_is_followed_up_without_a_post(org, db, fake, clock):
    posted_prompt(db, fake, clock)
    result = plan(db, clock, IN_WINDOW + timedelta(days=1, hours=1))
    deliver(db, fake, clock)
    assert (result.followed_up, result.introduced) == (1, 0)
    assert replies(fake) == []
    [prompt] = prompts(db)
    assert prompt.followed_up_at is not None
    assert plan(db, clock).followed_up == 0


def test_when_only_learners_answered_they_are_invited_to_learn_together(
    org, db, fake, clock, slack
):
    post = posted_prompt(db, fake, clock)
    click(slack, fake, "UBOB", ids.PEER_LEARNING, post)
    click(slack, fake, "UCAT", ids.PEER_LEARNING, post)
    plan(db, clock, IN_WINDOW + timedelta(days=1, hours=1))
    deliver(db, fake, clock)
    [intro] = replies(fake)
    said = text_of(intro)
    assert intro["thread_ts"] == post["ts"]
    assert "<@UBOB> and <@UCAT> are learning" in said and "learn it together" in said


def test_only_private_people_answered_so_nobody_is_named(org, db, fake, clock, slack):
    post = posted_prompt(db, fake, clock)
    click(slack, fake, "UPAT", ids.PEER_CAN_HELP, post)
    result = plan(db, clock, IN_WINDOW + timedelta(days=1, hours=1))
    deliver(db, fake, clock)
    assert (result.followed_up, result.introduced) == (1, 0)
    assert replies(fake) == []


def test_the_follow_up_waits_for_the_post_to_be_sent(org, db, fake, clock, slack):
    due(db, "docker", everyone("ann", "bob"), TUESDAY + timedelta(days=5))
    plan(db, clock, IN_WINDOW)
    assert plan(db, clock, IN_WINDOW + timedelta(days=2)).followed_up == 0  # never sent yet
    deliver(db, fake, clock)
    assert plan(db, clock).followed_up == 1
