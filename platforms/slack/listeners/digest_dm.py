"""Update a sent nudge DM in place after a click: done and snoozed items lose their buttons."""

from __future__ import annotations

import logging

from slack_sdk import WebClient

from delivery.outbox import find_sent_message
from learning.actions import item_outcomes
from learning.digest import Digest
from models import Person
from platforms.slack.listeners.context import HandlerContext
from platforms.slack.render.digest import render_digest
from platforms.slack.render.render import KIND_DIGEST

log = logging.getLogger(__name__)


def update_digest_dm(
    client: WebClient, ctx: HandlerContext, *, person: Person, channel_id: str, ts: str
) -> bool:
    """Re-render the digest DM at ``channel_id``/``ts`` with each item's current state.

    The DM is rebuilt from the outbox row it was sent from, so the update looks like the
    original with the settled items marked; a message that is not one of ``person``'s
    digests is left alone. Returns whether the DM was updated.
    """
    if not channel_id or not ts or person.id is None:
        return False
    with ctx.database.session() as session:
        row = find_sent_message(session, person_id=person.id, conversation=channel_id, message=ts)
        if (
            row is None
            or row.kind != KIND_DIGEST
            or not isinstance(row.payload.get("digest"), dict)
        ):
            log.info("no digest of person %s at %s/%s to update", person.id, channel_id, ts)
            return False
        digest = Digest.from_json(row.payload["digest"])
        outcomes = item_outcomes(
            session,
            person=person,
            assignment_ids=[item.assignment_id for item in digest.items],
            clock=ctx.clock,
        )
    message = render_digest(digest, outcomes=outcomes)
    client.chat_update(channel=channel_id, ts=ts, text=message.text, blocks=message.blocks)
    return True
