"""Shared pieces of the chat-interaction tests: an org, sent digests, button payloads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from learning.clock import FrozenClock
from models import Assignment, Item, Person
from models.db import Database
from schedules.lock import SchedulerLock
from schedules.tick import sweep
from tests.fakes.slack_api import FakeSlack
from tests.helpers import PROGRAMS, people_csv
from tests.outbox_support import make_sender

SECRET = "test-signing-secret"
# The test program with the safety quiz free of its prerequisite, so Monday's digest has
# an assessment to score (a quiz that waits for safety has no date and is not listed).
PROGRAMS_QUIZ_NOW = PROGRAMS.replace("    requires: [safety]\n", "", 1)
# Monday 2 March 2026, 10:00 in London: inside the 09:30 send window.
SEND_AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

# Bea is the skip-level of Max's and Mia's teams; Ana manages Dan inside Max's team.
PEOPLE = (
    "bea@x.io,Bea,,engineer,Lead,2026-03-02,Europe/London,U0BEA",
    "max@x.io,Max,bea@x.io,engineer,Web,2026-03-02,Europe/London,U0MAX",
    "mia@x.io,Mia,bea@x.io,engineer,App,2026-03-02,Europe/London,U0MIA",
    "ana@x.io,Ana,max@x.io,engineer,Web,2026-03-02,Europe/London,U0ANA",
    "ben@x.io,Ben,max@x.io,engineer,Web,2026-03-02,Europe/London,U0BEN",
    "dan@x.io,Dan,ana@x.io,engineer,Web,2026-03-02,Europe/London,U0DAN",
    "cat@x.io,Cat,mia@x.io,sales,App,2026-03-02,Europe/London,U0CAT",
)


def setup_org(cli: Any, write: Any, clock: FrozenClock, *, programs: str = PROGRAMS) -> None:
    """Load the test program (or ``programs``) and the people above, as of ``SEND_AT``."""
    clock.set(SEND_AT)
    loaded = cli("load-config", write("programs.yml", programs))
    assert loaded.code == 0, loaded.err
    imported = cli("import-people", write("people.csv", people_csv(*PEOPLE)))
    assert imported.code == 0, imported.err


def send_digests(db: Database, fake: FakeSlack, clock: FrozenClock) -> None:
    """Plan and deliver today's digests to the fake Slack."""
    lock = SchedulerLock(db)
    try:
        sweep(db, clock, sender=make_sender(db, fake, clock), lock=lock)
    finally:
        lock.release()


def person(db: Database, email: str) -> Person:
    with db.session() as session:
        return session.scalars(select(Person).where(Person.email == email)).one()


def assignment(db: Database, email: str, item_key: str) -> Assignment:
    """The newest round of ``email``'s assignment of ``item_key``."""
    with db.session() as session:
        return session.scalars(
            select(Assignment)
            .join(Person, Person.id == Assignment.person_id)
            .join(Item, Item.id == Assignment.item_id)
            .where(Person.email == email, Item.key == item_key)
            .order_by(Assignment.cycle.desc())  # type: ignore[attr-defined]
        ).first()


def digest_dm(fake: FakeSlack, user_id: str) -> dict[str, Any]:
    """The newest message the bot posted in its DM with ``user_id``."""
    messages = fake.messages(user_id)
    assert messages, f"no DM to {user_id}"
    return messages[-1]


def block(message: dict[str, Any], block_id: str) -> dict[str, Any] | None:
    return next((b for b in message.get("blocks", []) if b.get("block_id") == block_id), None)


def element(message: dict[str, Any], assignment_id: int, action_id: str) -> dict[str, Any]:
    """The element with ``action_id`` in the actions block of one digest item."""
    actions = block(message, f"item:{assignment_id}:actions")
    assert actions is not None, f"item {assignment_id} has no buttons"
    return next(e for e in actions["elements"] if e["action_id"] == action_id)


def done_click(message: dict[str, Any], assignment_id: int, *, value: str | None = None) -> dict:
    """The Done button's action as Slack sends it (``value`` overrides, for tampering)."""
    button = element(message, assignment_id, "digest_done")
    return {
        "type": "button",
        "action_id": "digest_done",
        "block_id": f"item:{assignment_id}:actions",
        "value": button["value"] if value is None else value,
        "text": button["text"],
    }


def snooze_choice(message: dict[str, Any], assignment_id: int, code: str) -> dict:
    """A choice in the Snooze select, as Slack sends it."""
    select_element = element(message, assignment_id, "digest_snooze")
    option = next(o for o in select_element["options"] if o["value"].endswith(f":{code}"))
    return {
        "type": "static_select",
        "action_id": "digest_snooze",
        "block_id": f"item:{assignment_id}:actions",
        "selected_option": option,
    }


def done_values(
    *,
    evidence: str | None = None,
    score: str | None = None,
    rating: str | None = None,
    comment: str | None = None,
    with_score: bool = True,
) -> dict[str, dict[str, Any]]:
    """A Done modal's ``state.values`` as Slack sends them."""
    values: dict[str, dict[str, Any]] = {
        "evidence": {"evidence_url": {"type": "url_text_input", "value": evidence}},
        "rating": {
            "rating": {
                "type": "radio_buttons",
                "selected_option": (
                    {"value": rating, "text": {"type": "plain_text", "text": rating}}
                    if rating
                    else None
                ),
            }
        },
        "comment": {"comment": {"type": "plain_text_input", "value": comment}},
    }
    if with_score:
        values["score"] = {"score": {"type": "number_input", "value": score}}
    return values
