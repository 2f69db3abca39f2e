"""The memory platform's inbound calls: what its listener does with a button click.

Like every adapter's listener it translates its own user id into a person
(``identity.require_person``, through ``learning.accounts``), runs one platform-neutral
domain call in a unit of work (``learning.actions``; ``handlers/`` has no entrances
yet), and answers in its own words. Domain refusals become a private reply.
"""

from __future__ import annotations

from dataclasses import dataclass

from learning.actions import complete_assignment, unit_of_work
from learning.clock import Clock
from learning.errors import LearnbotError
from models.db import Database
from tests.memory_platform.identity import require_person
from tests.memory_platform.renderer import BUTTON_DONE

COMPLETION_SOURCE = "memory"


@dataclass(frozen=True)
class Reply:
    """What the memory platform shows the clicker (privately)."""

    text: str
    refused: bool = False


def click(database: Database, clock: Clock, *, user_id: str, action: str, value: str) -> Reply:
    """A click on a memory button by ``user_id``: its action id and value, as sent."""
    if action != BUTTON_DONE or not value.isdigit():
        return Reply("That button no longer works.", refused=True)
    try:
        with unit_of_work(database) as session:
            person = require_person(session, user_id)
            result = complete_assignment(
                session,
                actor=person,
                assignment_id=int(value),
                clock=clock,
                source=COMPLETION_SOURCE,
            )
    except LearnbotError as refusal:
        return Reply(str(refusal), refused=True)
    done = "was already marked done" if result.already_done else "is marked done"
    return Reply(f"{result.item_title} {done}.")
