"""Migration 0014: outbox rows queued by the old code (rendered Slack payloads, a channel
string, ``slack_ts``/``slack_channel``) upgrade in place and are delivered once, exactly
as the old sender would have posted them. Also: every fact kind the domain writes has a
Slack renderer, and facts read back from JSON render as the renderer called directly."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlmodel import select

from delivery.transport import OutgoingMessage
from learning import outbox_kinds
from learning.certifications import Requirement, Standing
from learning.outbox_kinds import facts
from models.db import alembic_config
from models.tables import OutboxMessage, OutboxStatus, RecipientKind
from models.types import UTCDateTime
from platforms.slack.render import certifications, kudos, mentoring, peer_prompts
from platforms.slack.render.render import RENDERERS, render_outbox, render_text
from tests.fakes.slack_api import FakeSlack
from tests.outbox_support import deliveries, make_sender, slack_transport

HOSTILE = "<!channel> & <https://evil.example|click> *bold* <@U0EVIL>"


@pytest.fixture
def fake(clock):
    with FakeSlack(time_source=lambda: clock.now().timestamp()) as server:
        yield server


def _before_0014(db) -> str:
    """The revision 0014 follows (whichever branch chained it)."""
    script = ScriptDirectory.from_config(alembic_config(db.engine))
    down = script.get_revision("0014").down_revision
    assert isinstance(down, str)
    return down


OLD_OUTBOX = sa.table(
    "outbox",
    sa.column("key", sa.String),
    sa.column("workspace_id", sa.String),
    sa.column("kind", sa.String),
    sa.column("person_id", sa.Integer),
    sa.column("channel", sa.String),
    sa.column("text", sa.String),
    sa.column("payload", sa.JSON),
    sa.column("status", sa.String),
    sa.column("attempts", sa.Integer),
    sa.column("not_before", UTCDateTime(timezone=True)),
    sa.column("created_at", UTCDateTime(timezone=True)),
    sa.column("sent_at", UTCDateTime(timezone=True)),
    sa.column("slack_ts", sa.String),
    sa.column("slack_channel", sa.String),
)


def _old_row(key: str, channel: str, payload: dict[str, Any], *, at, **extra: Any):
    return {
        "key": key,
        "workspace_id": "default",
        "kind": "text",
        "person_id": None,
        "channel": channel,
        "text": payload["text"],
        "payload": payload,
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "not_before": at,
        "created_at": at,
        "sent_at": None,
        "slack_ts": None,
        "slack_channel": None,
        **extra,
    }


def test_rows_queued_before_the_upgrade_are_delivered_once_as_before(db, clock, fake):
    now = clock.now()
    parent = slack_transport(fake).send(
        OutgoingMessage(channel="C0COMMUNITY", text="What are you learning?", key="p", kind="x")
    )
    post = kudos.kudos_post_message(
        giver_name="Bea",
        giver_slack_id="U0BEA",
        recipient_name="Ann",
        recipient_slack_id="U0ANN",
        reason=HOSTILE,
    ).payload()
    dm = kudos.kudos_dm_message(
        giver_name="Bea", giver_slack_id="U0BEA", reason=HOSTILE, channel="#wins"
    ).payload()
    intro = mentoring.pairing_intro_message(
        learner_name="Ann",
        learner_slack_id="U0ANN",
        mentor_name="Cat",
        mentor_slack_id="U0CAT",
        item_title=HOSTILE,
        item_url="https://lms.example.com/deploy",
        reason="certified",
        certification_title="Safe Deployer",
    ).payload()
    reply = peer_prompts.intro_message(
        title="Deploying", url=None, helpers=[("Ann", "U0ANN")], learners=[("Bob", "U0BOB")]
    )
    assert reply is not None
    old = {
        "kudos:1:post": _old_row("kudos:1:post", "#wins", post, at=now),
        "kudos:1:dm": _old_row("kudos:1:dm", "U0ANN", dm, at=now),
        "pairing:1:intro": _old_row("pairing:1:intro", "U0ANN,U0CAT", intro, at=now),
        "peer:1:intro": _old_row(
            "peer:1:intro",
            "C0COMMUNITY",
            {**reply.payload(), "thread_ts": parent.ts},
            at=now,
        ),
        "kudos:0:dm": _old_row(
            "kudos:0:dm",
            "U0ANN",
            dm,
            at=now - timedelta(days=1),
            status=OutboxStatus.SENT,
            attempts=1,
            sent_at=now - timedelta(days=1),
            slack_ts="1772355600.000100",
            slack_channel="D0ANN",
        ),
    }
    command.downgrade(alembic_config(db.engine), _before_0014(db))
    with db.engine.begin() as conn:
        conn.execute(sa.insert(OLD_OUTBOX), list(old.values()))

    db.upgrade()

    with db.session() as session:
        rows = {row.key: row for row in session.scalars(select(OutboxMessage))}
    addresses = {
        key: (row.platform, row.kind, row.recipient_kind, row.recipient, row.thread_parent)
        for key, row in rows.items()
    }
    assert addresses == {
        "kudos:1:post": ("slack", "legacy_slack", RecipientKind.CHANNEL, "#wins", None),
        "kudos:1:dm": ("slack", "legacy_slack", RecipientKind.PERSON, "U0ANN", None),
        "pairing:1:intro": ("slack", "legacy_slack", RecipientKind.GROUP, "U0ANN,U0CAT", None),
        "peer:1:intro": ("slack", "legacy_slack", RecipientKind.THREAD, "C0COMMUNITY", parent.ts),
        "kudos:0:dm": ("slack", "legacy_slack", RecipientKind.PERSON, "U0ANN", None),
    }
    sent = rows["kudos:0:dm"]
    assert (sent.status, sent.posted_conversation, sent.posted_message) == (
        "sent",
        "D0ANN",
        "1772355600.000100",
    )

    result = make_sender(db, fake, clock).drain()
    again = make_sender(db, fake, clock).drain()

    assert (result.sent, result.failed, again.sent) == (4, 0, 0)
    assert deliveries(fake) == {"p": 1} | {key: 1 for key in old if key != "kudos:0:dm"}
    for call in fake.calls_to("chat.postMessage")[1:]:
        key = call.body["metadata"]["event_payload"]["key"]
        # What the old sender posted: the payload as read back from the database's JSON.
        before = render_text(json.loads(json.dumps(old[key]["payload"])))
        assert call.body["text"] == before.text, key
        assert call.body["blocks"] == before.blocks, key
        assert call.body.get("thread_ts") == old[key]["payload"].get("thread_ts"), key
    [posted] = [m for m in fake.messages("#wins") if "kudos" in str(m.get("metadata"))]
    assert "<!channel>" not in posted["text"] and "&lt;!channel&gt;" in posted["text"]


def test_every_fact_kind_the_domain_writes_has_a_slack_renderer():
    written = {
        value
        for name, value in vars(outbox_kinds).items()
        if name.isupper() and isinstance(value, str)
    }
    render_outbox("plain", {"text": "load the registry"})
    assert written and written <= set(RENDERERS)


def test_facts_read_back_from_json_render_as_the_renderer_called_directly():
    standing = Standing(
        title="Safe <Deployer>",
        expires_on=date(2027, 3, 2),
        window_opens_on=date(2027, 2, 1),
        lapses_on=date(2027, 3, 16),
        key="safe",
    )
    requirements = [
        Requirement(
            item_id=1, key="deploy", title="Deploy & <roll back>", method="video", minutes=30
        )
    ]
    cases = [
        (
            certifications.window_message,
            facts(
                outbox_kinds.CERT_WINDOW,
                name="Ann",
                title=HOSTILE,
                standing=standing,
                today=date(2027, 2, 2),
                requirements=requirements,
            ),
        ),
        (
            peer_prompts.intro_message,
            facts(
                outbox_kinds.PEER_FOLLOW_UP,
                title=HOSTILE,
                url="https://lms.example.com/x?a=1&b=2",
                helpers=[("Ann", "U0ANN")],
                learners=[("Bob", None), ("Cat", "U0CAT")],
            ),
        ),
    ]
    for function, made in cases:
        direct = function(**{**made.values, **_typed(made.values)})
        assert render_outbox(made.kind, made.values) == direct


def _typed(values: dict[str, Any]) -> dict[str, Any]:
    """The Python values the domain passed (dates, dataclasses, tuples), for a direct call."""
    typed: dict[str, Any] = {}
    if "today" in values:
        typed["today"] = date.fromisoformat(values["today"])
    if "standing" in values:
        s = values["standing"]
        typed["standing"] = Standing(
            **{k: date.fromisoformat(v) if k.endswith("_on") and v else v for k, v in s.items()}
        )
    if "requirements" in values:
        typed["requirements"] = [Requirement(**r) for r in values["requirements"]]
    for key in ("helpers", "learners"):
        if key in values:
            typed[key] = [tuple(pair) for pair in values[key]]
    return typed
