"""The nudge job: plan today's digests into the outbox (the sender delivers them)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, update
from sqlmodel import Session

from delivery.outbox import NewMessage, enqueue
from learning.clock import Clock
from learning.paths import current_settings
from learning.planner import PlannedDigest, PlanStats, plan_digests
from models import Assignment, RecipientKind
from models.db import Database

log = logging.getLogger(__name__)

ENQUEUE_CHUNK = 200  # digests per transaction (about 200 KB of JSON)


@dataclass
class NudgePlan:
    """What one planning pass put in the outbox."""

    stats: PlanStats
    enqueued: int = 0


def _message(planned: PlannedDigest, clock: Clock) -> NewMessage:
    digest = planned.digest
    return NewMessage(
        key=digest.key,
        kind="digest",
        recipient_kind=RecipientKind.PERSON,
        recipient=planned.channel,
        payload={"digest": digest.to_json()},
        person_id=digest.person_id,
        workspace_id=planned.workspace_id,
        not_before=clock.now(),
    )


def _enqueue(
    database: Database,
    messages: list[NewMessage],
    told: list[dict[str, object]],
    *,
    now: datetime,
) -> int:
    """Enqueue a chunk of digests and clear the due-date notices they tell, together."""
    with database.batch() as writing:
        enqueued = enqueue(writing, messages, now=now)
        _clear_notices(writing, told)
        return enqueued


def plan_nudges(database: Database, clock: Clock) -> NudgePlan:
    """Plan every digest due at ``clock.now()`` into the outbox.

    The digests are read in a session that never writes; each ``ENQUEUE_CHUNK`` of them
    is enqueued in a transaction of its own, so the database's write lock (SQLite has
    one) is held for one insert at a time, not for the whole planning pass. Safe to run
    twice, in two processes at once, or to stop half-way: outbox keys are unique, so a
    digest already planned is never planned again, and the next pass plans the rest.
    """
    stats = PlanStats()
    result = NudgePlan(stats)
    with database.session() as reading:
        settings = current_settings(reading)
        if settings is None:
            log.info("planning skipped: no configuration loaded yet")
            return result
        now = clock.now()
        batch: list[NewMessage] = []
        told: list[dict[str, object]] = []
        for planned in plan_digests(reading, now=now, settings=settings, stats=stats):
            batch.append(_message(planned, clock))
            told.extend(
                {"aid": item.assignment_id, "due": item.due_date}
                for item in planned.digest.items
                if item.due_changed is not None
            )
            if len(batch) >= ENQUEUE_CHUNK:
                result.enqueued += _enqueue(database, batch, told, now=now)
                batch, told = [], []
        if batch:
            result.enqueued += _enqueue(database, batch, told, now=now)
    if stats.unreachable:
        log.info("%d people have something due but no Slack user id", stats.unreachable)
    log.info(
        "planned %d digests (%d items) in zones %s",
        result.enqueued,
        stats.items,
        ", ".join(stats.zones_open) or "none",
    )
    return result


def _clear_notices(session: Session, told: list[dict[str, object]]) -> None:
    """The due-date changes these digests tell are told: clear them, in the transaction
    that enqueues the digests, unless the date moved again meanwhile (then the new
    change waits for the next digest)."""
    if not told:
        return
    table = Assignment.__table__  # type: ignore[attr-defined]
    session.connection().execute(
        update(table)
        .where(table.c.id == bindparam("aid"), table.c.due_date == bindparam("due"))
        .values(due_notice=None),
        told,
    )
