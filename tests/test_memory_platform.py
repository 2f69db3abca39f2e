"""A third platform proves the seam: an in-memory adapter (``tests/memory_platform``)
runs nudge -> Done -> escalation -> certification for a company whose people have a
Slack account *and* a memory account, with the real planners, outbox and sender.

Everyone's primary platform is memory: their DMs are rendered from facts by the memory
renderer and recorded by the memory transport; the shout-out channel stays on Slack
(the fake Slack Web API, through the real ``slack_sdk`` client). A rename of the old
model would fail here: one platform id per person cannot hold both accounts, and Block
Kit kept in a payload raises in the memory renderer.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from delivery.outbox import NewMessage, claim
from delivery.rendering import RenderContext
from delivery.sender import Sender
from delivery.transport import OutgoingMessage
from learning.accounts import account_of, person_by_account
from models import Assignment, CertificationAward, ChatAccount, Item, OutboxMessage, Person
from platforms.base import routes
from platforms.slack import slack_platform
from platforms.slack.transport import metadata_key
from schedules.lock import SchedulerLock
from schedules.tick import plan_step
from tests.fakes.slack_api import FakeSlack
from tests.helpers import people_csv
from tests.memory_platform import NAME, MemoryTransport, memory_platform
from tests.memory_platform.identity import TENANT, sync_directory
from tests.memory_platform.inbound import click
from tests.memory_platform.renderer import (
    BUTTON_DONE,
    BlockKitInFacts,
    MemoryRenderer,
    check_facts,
    fact_lines,
)
from tests.memory_platform.routing import readdress_to_memory
from tests.outbox_support import put, rows, slack_transport, virtual_sleep

PROGRAMS = """
organisation:
  name: Two Platforms Co
  timezone: Europe/London
calendar:
  working_days: [mon, tue, wed, thu, fri]
  holidays:
    everywhere: [2026-11-11]
channels:
  recognition: "#wins"
items:
  compliance:
    title: Compliance essentials
    method: online
    minutes: 30
  extra:
    title: Extra reading
    method: reading
    minutes: 20
programs:
  analyst:
    title: Analyst
    tiers:
      - key: first-30
        title: First 30 days
        starts_on_day: 0
        items:
          - {item: compliance, required: true, due: 3}
  boss:
    title: Manager
    tiers:
      - key: first-30
        title: First 30 days
        starts_on_day: 0
        items:
          - {item: extra, due: 2}
certifications:
  compliant:
    title: Compliant Analyst
    items: [compliance]
    valid_for: 1y
"""
# Lea and Ola report to Max, who reports to Sam; all started Mon 2 Nov 2026 in London.
PEOPLE = (
    "sam@x.io,Sam Skip,,boss,Lead,2026-11-02,Europe/London,U0SAM",
    "max@x.io,Max Manager,sam@x.io,boss,Ops,2026-11-02,Europe/London,U0MAX",
    "lea@x.io,Lea Learner,max@x.io,analyst,Ops,2026-11-02,Europe/London,U0LEA",
    "ola@x.io,Ola Overdue,max@x.io,analyst,Ops,2026-11-02,Europe/London,U0OLA",
)
MEMORY_IDS = {"sam@x.io": "m-sam", "max@x.io": "m-max", "lea@x.io": "m-lea", "ola@x.io": "m-ola"}
START = datetime(2026, 11, 2, 0, 30, tzinfo=UTC)


def d(day: int) -> date:
    return date(2026, 11, day)


@pytest.fixture
def fake(clock):
    with FakeSlack(time_source=lambda: clock.now().timestamp()) as server:
        yield server


class Company:
    """The composition root of this test: planners, re-addressing, a two-route sender."""

    def __init__(self, db, clock, fake) -> None:
        self.db, self.clock = db, clock
        self.memory = MemoryTransport(clock, users=set(MEMORY_IDS.values()))
        self.platform = memory_platform(self.memory)
        self.sender = Sender(
            db,
            routes([slack_platform(slack_transport(fake)), self.platform]),
            clock,
            sleep=virtual_sleep(clock),
            rng=random.Random(3),
            worker="two-platforms",
        )
        with db.session() as session:
            self.everyone = set(session.scalars(select(Person.id)))

    @property
    def renderer(self) -> MemoryRenderer:
        assert isinstance(self.platform.renderer, MemoryRenderer)
        return self.platform.renderer

    def tick(self) -> None:
        """One sweep as the scheduler runs it, with memory as everyone's primary platform."""
        lock = SchedulerLock(self.db)
        try:
            plan_step(self.db, self.clock, lock)
        finally:
            lock.release()
        readdress_to_memory(self.db, self.everyone)
        self.sender.drain()

    def hours(self, until: datetime) -> None:
        """A sweep at half past every hour until ``until``."""
        at = self.clock.now()
        while at < until:
            self.clock.set(max(at, self.clock.now()))
            self.tick()
            at += timedelta(hours=1)


def load(cli, write, clock, db) -> None:
    clock.set(START)
    loaded = cli("load-config", write("programs.yml", PROGRAMS))
    assert loaded.code == 0, loaded.out + loaded.err
    imported = cli("import-people", write("people.csv", people_csv(*PEOPLE)))
    assert imported.code == 0, imported.out + imported.err
    sync_directory(db, MEMORY_IDS)


def assignment_id(db, email: str) -> int:
    with db.session() as session:
        return session.scalars(
            select(Assignment.id)
            .join(Person, Person.id == Assignment.person_id)
            .join(Item, Item.id == Assignment.item_id)
            .where(Person.email == email, Item.key == "compliance")
        ).one()


def slack_dms(fake: FakeSlack) -> list[str]:
    return [
        c.body["channel"]
        for c in fake.delivered("chat.postMessage")
        if str(c.body["channel"]).startswith("U")
    ]


def channel_posts(fake: FakeSlack, channel: str) -> dict[str, str]:
    """Outbox key -> text of what Slack shows in ``channel``."""
    return {metadata_key(m) or "": m["text"] for m in fake.messages(channel)}


def test_every_person_has_both_accounts_and_each_platform_finds_them(cli, write, clock, db):
    load(cli, write, clock, db)
    with db.session() as session:
        lea = person_by_account(session, NAME, TENANT, "m-lea")
        assert lea is not None and lea.email == "lea@x.io"
        assert person_by_account(session, "slack", lea.workspace_id, "U0LEA").id == lea.id
        assert account_of(session, lea.id, NAME).user_id == "m-lea"
        assert account_of(session, lea.id, "slack").user_id == "U0LEA"
        platforms = session.scalars(select(ChatAccount.platform)).all()
    assert sorted(platforms) == ["memory"] * 4 + ["slack"] * 4


def test_nudge_done_escalation_and_certification_on_the_memory_platform(
    cli, write, clock, db, fake
):
    load(cli, write, clock, db)
    company = Company(db, clock, fake)

    # Mon 2 Nov: the digests of the 09:30 London sweep reach Lea and Ola on memory.
    company.hours(datetime(2026, 11, 2, 12, 0, tzinfo=UTC))
    [lea_digest] = company.memory.to("m-lea")
    assert lea_digest.kind == "digest" and lea_digest.recipient_kind == "person"
    assert lea_digest.body["title"] == "Lea, your learning for 2026-11-02"
    assert lea_digest.body["lines"] == ["Compliance essentials: due 2026-11-05"]
    lea_item = assignment_id(db, "lea@x.io")
    assert lea_digest.body["buttons"] == [
        {"label": "Done: Compliance essentials", "action": BUTTON_DONE, "value": str(lea_item)}
    ]
    assert lea_digest.text.startswith("Lea, your learning") and "Compliance" in lea_digest.text
    assert [p.kind for p in company.memory.to("m-ola")] == ["digest"]
    assert slack_dms(fake) == []  # nobody's DM went to Slack

    # Lea clicks Done on memory: her memory id is translated to her, the item completes.
    button = lea_digest.body["buttons"][0]
    reply = click(db, clock, user_id="m-lea", action=button["action"], value=button["value"])
    assert reply.text == "Compliance essentials is marked done." and not reply.refused
    # Ola cannot complete Lea's item with her own memory id, nor can a stranger act.
    assert click(db, clock, user_id="m-ola", action=BUTTON_DONE, value=str(lea_item)).refused
    assert click(db, clock, user_id="U0LEA", action=BUTTON_DONE, value=str(lea_item)).refused

    # Completing the certification's requirement: the award DMs reach Lea and Max on
    # memory, the shout-out reaches the recognition channel on Slack.
    company.hours(datetime(2026, 11, 2, 16, 0, tzinfo=UTC))
    with db.session() as session:
        awards = session.scalars(select(CertificationAward)).all()
    assert [a.person_id for a in awards] == [person_id(db, "lea@x.io")]
    lea_award = [p for p in company.memory.to("m-lea") if p.kind == "cert_award_holder"]
    assert [p.text for p in lea_award] == [
        "Lea Learner, you earned Compliant Analyst\nAwarded 2026-11-02, valid until 2027-11-02"
    ]
    max_award = [p for p in company.memory.to("m-max") if p.kind == "cert_award_manager"]
    assert [p.body["title"] for p in max_award] == [
        "Max Manager, Lea Learner earned Compliant Analyst"
    ]
    posted = channel_posts(fake, "#wins")
    assert posted["cert_award:1:shoutout"] == (
        "Lea Learner earned the Compliant Analyst certification: 1 item, 30 min of learning"
    )
    assert posted["milestone:3:1"] == "Lea Learner finished their First 30 days path"
    assert slack_dms(fake) == []

    # Ola never completes: on Fri 13 Nov (5 working days overdue, Wed 11 a holiday) the
    # ladder tells her manager, Max, on memory; nobody else hears, nothing on Slack.
    company.hours(datetime(2026, 11, 14, 0, 0, tzinfo=UTC))
    escalations = [p for p in company.memory.posts if p.kind == "escalation"]
    assert [(p.conversation, p.at.date()) for p in escalations] == [("dm-m-max", d(13))]
    assert escalations[0].body == {
        "title": "Max, overdue in your team",
        "lines": ["Ola Overdue: Compliance essentials, due 2026-11-05, 5 working days overdue"],
        "buttons": [],
    }
    ola_days = [p.at.date() for p in company.memory.to("m-ola") if p.kind == "digest"]
    assert d(10) in ola_days and "manager told on 2026-11-13" in "\n".join(
        p.text for p in company.memory.to("m-ola") if p.at.date() == d(10)
    )
    assert slack_dms(fake) == []
    # The recognition channel never hears of overdue work (only boards and awards).
    assert all(
        key.startswith(("board:", "cert_award:", "milestone:"))
        for key in channel_posts(fake, "#wins")
    )
    assert "Ola" not in " ".join(channel_posts(fake, "#wins").values())

    # Every row went out once, through the platform it is addressed to.
    with db.session() as session:
        rows = session.scalars(select(OutboxMessage)).all()
    assert {r.status for r in rows} == {"sent"}
    assert {(r.platform, r.recipient_kind) for r in rows} == {
        (NAME, "person"),
        ("slack", "channel"),
    }
    for row in rows:  # facts only, whichever platform renders them
        check_facts(row.payload, row.key)
    memory_keys = sorted(r.key for r in rows if r.platform == NAME)
    assert sorted(p.key for p in company.memory.posts) == memory_keys
    # The memory renderer was only ever handed facts (BlockKitInFacts would have raised).
    assert {k for k, _ in company.renderer.received} == {
        "digest",
        "cert_award_holder",
        "cert_award_manager",
        "escalation",
        "weekly_manager",
    }
    # Known gap, pinned so that fixing it updates this test: two kinds still hand every
    # platform's renderer the learner's *Slack* id (for Slack's mentions), not a person
    # id the memory adapter could address; the memory renderer ignores them.
    slack_ids = {f"U0{name}" for name in ("SAM", "MAX", "LEA", "OLA")}
    leaks = {
        (kind, line.split(":")[0])
        for kind, facts in company.renderer.received
        for line in fact_lines(facts)
        if line.split(": ", 1)[1] in slack_ids
    }
    assert leaks == {
        ("cert_award_manager", "holder_slack_id"),
        ("escalation", "learners[0].slack_user_id"),
    }
    assert not any(uid in p.text for p in company.memory.posts for uid in slack_ids)


def person_id(db, email: str) -> int:
    with db.session() as session:
        return session.scalars(select(Person.id).where(Person.email == email)).one()


def test_block_kit_kept_under_a_key_fails_the_memory_renderer():
    renderer = MemoryRenderer()
    legacy = {"text": "hi", "blocks": [{"type": "section", "text": {"type": "mrkdwn"}}]}
    with pytest.raises(BlockKitInFacts):
        renderer.render("plain", legacy, context=None)  # type: ignore[arg-type]
    with pytest.raises(BlockKitInFacts):
        renderer.render("plain", {"card": {"type": "section"}}, context=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot render 'legacy_slack'"):
        renderer.render("legacy_slack", {"text": "old"}, context=None)  # type: ignore[arg-type]


def test_a_post_a_dead_sender_made_is_found_not_resent(db, clock):
    now = clock.now()
    row = NewMessage(
        key="memo:1",
        kind="plain",
        platform=NAME,
        workspace_id=TENANT,
        recipient_kind="person",
        recipient="m-lea",
        payload={"text": "hello"},
        not_before=now,
    )
    put(db, [row], now=now)
    memory = MemoryTransport(clock, users={"m-lea"})
    [claimed] = claim(db, worker="dead", now=now, limit=1)
    # The dead sender posted, then died before recording it.
    rendered = MemoryRenderer().render("plain", claimed.payload, context=RenderContext())
    memory.send(
        OutgoingMessage(
            channel="m-lea",
            text=rendered.text,
            blocks=rendered.blocks,
            key="memo:1",
            kind="plain",
            recipient_kind="person",
        )
    )
    clock.advance(timedelta(minutes=6))

    result = Sender(
        db,
        routes([memory_platform(memory)]),
        clock,
        sleep=virtual_sleep(clock),
        rng=random.Random(1),
        worker="next",
    ).drain()

    assert (result.reconciled.found_sent, result.sent, len(memory.posts)) == (1, 0, 1)
    assert rows(db)["memo:1"].posted_message == memory.posts[0].message_id
