"""The outbox: one row per message the bot decided to send, delivered once.

Lifecycle: ``pending`` -> (``claim``) ``sending`` -> ``sent`` | ``failed``, or back to
``pending`` for a retry. A row is ``sending`` before the platform call and ``sent`` (with
its posted reference) after it, so a row left ``sending`` means a sender died mid-call;
``reconcile_stuck`` asks the platform whether that message arrived before it is ever
resent (or, on a platform that cannot tell, marks it failed for an operator).

A row is an address (platform, workspace, recipient kind and id, thread parent) and facts:
``kind`` plus a JSON ``payload`` that the platform's renderer turns into a message at send
time (``delivery.rendering``). Nothing platform-rendered is stored, except in rows of kind
``legacy_slack``, queued before the upgrade that introduced facts (decision 81).

``enqueue``, ``list_messages`` and ``retry`` work in the caller's session (the caller owns
the transaction). ``claim`` and the ``mark_*`` functions run their own short
transactions on a ``Database``: several senders, threads or processes, share one outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, Text, bindparam, column, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from delivery.rendering import can_reconcile
from delivery.transport import Fatal, Permanent, RateLimited, Transient, Transport
from learning.audit import record
from learning.clock import Clock
from learning.errors import LearnbotError
from models.db import Database
from models.tables import (
    DEFAULT_PLATFORM,
    DEFAULT_WORKSPACE,
    OutboxMessage,
    OutboxStatus,
    RecipientKind,
    WorkspaceState,
)

log = logging.getLogger(__name__)

ENQUEUE_CHUNK = 1000
ERROR_MAX_LENGTH = 1000
RETRIED_ATTEMPTS = 1
"""``attempts`` of a message an operator retries: above 0, so it is looked up before a post."""
_TABLE = OutboxMessage.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, kw_only=True)
class NewMessage:
    """A message to enqueue; ``key`` is its idempotency key (e.g. ``digest:42:2026-03-02``).

    ``payload`` is the JSON facts of ``kind`` (no platform markup); the address is
    ``platform``, ``workspace_id``, ``recipient_kind`` (``RecipientKind``), ``recipient``
    and, for a thread reply, ``thread_parent`` (the posted message it answers).
    """

    key: str
    kind: str
    recipient_kind: str
    recipient: str
    payload: dict[str, Any]
    person_id: int | None = None
    platform: str = DEFAULT_PLATFORM
    workspace_id: str = DEFAULT_WORKSPACE
    thread_parent: str | None = None
    not_before: datetime

    def __post_init__(self) -> None:
        if self.recipient_kind not in RecipientKind.ALL:
            raise ValueError(f"unknown recipient kind {self.recipient_kind!r}")
        if (self.recipient_kind == RecipientKind.THREAD) != bool(self.thread_parent):
            raise ValueError("a thread reply, and only one, names its thread_parent")


@dataclass(frozen=True)
class ReconcileResult:
    """What ``reconcile_stuck`` found among rows left ``sending`` by a dead sender.

    Attributes:
        found_sent: Slack had the message: marked ``sent``, not resent.
        requeued: Slack did not have it: back to ``pending`` for a resend.
        failed: Slack could not be asked about it (e.g. the channel is gone): ``failed``.
        unchecked: Left ``sending`` for the next run (Slack was busy or unreachable).
        fatal: The token was refused while checking; nothing more was checked.
    """

    found_sent: int = 0
    requeued: int = 0
    failed: int = 0
    unchecked: int = 0
    fatal: str | None = None

    @property
    def checked(self) -> int:
        return self.found_sent + self.requeued + self.failed


# --- planning side -------------------------------------------------------------


def enqueue(session: Session, messages: Sequence[NewMessage], *, now: datetime) -> int:
    """Insert ``messages``, skipping keys already in the outbox; return how many were new.

    ``INSERT ... ON CONFLICT (key) DO NOTHING RETURNING key`` per chunk of 1,000 rows, so two
    processes enqueueing the same keys at once insert each key once. Rows go in key order
    so concurrent enqueues on PostgreSQL lock keys in the same order (no deadlocks).
    SQLite takes each chunk as an executemany; PostgreSQL as one JSON document read with
    ``json_to_recordset``: a many-row ``VALUES`` spends most of its time on 11,000
    placeholders, and ``unnest`` of column arrays on quoting every ``"`` of the payloads
    into an array literal (60% of a day's planning at 10,000 people).
    """
    return len(enqueue_new_keys(session, messages, now=now))


def enqueue_new_keys(
    session: Session, messages: Sequence[NewMessage], *, now: datetime
) -> set[str]:
    """``enqueue``, returning the keys that were new (one statement for many messages
    whose callers must know which of them went in, such as one DM per recipient)."""
    by_key: dict[str, NewMessage] = {}
    for message in messages:
        by_key.setdefault(message.key, message)
    rows = [_row(by_key[key], now) for key in sorted(by_key)]
    dialect = session.get_bind().dialect.name
    new: set[str] = set()
    if dialect == "postgresql":
        statement = _postgresql_enqueue()
        for start in range(0, len(rows), ENQUEUE_CHUNK):
            chunk = rows[start : start + ENQUEUE_CHUNK]
            for row in chunk:  # JSON has no instants: ISO 8601 text, read as timestamptz
                row["not_before"] = row["not_before"].isoformat()
                row["created_at"] = row["created_at"].isoformat()
            new.update(session.scalars(statement, {"rows": chunk}))
        return new
    if dialect != "sqlite":
        raise NotImplementedError(f"the outbox supports PostgreSQL and SQLite, not {dialect}")
    statement = (
        sqlite.insert(_TABLE).on_conflict_do_nothing(index_elements=["key"]).returning(_TABLE.c.key)
    )
    for start in range(0, len(rows), ENQUEUE_CHUNK):
        new.update(session.scalars(statement, rows[start : start + ENQUEUE_CHUNK]))
    return new


_ENQUEUE_COLUMNS = (
    "key",
    "platform",
    "workspace_id",
    "kind",
    "person_id",
    "recipient_kind",
    "recipient",
    "thread_parent",
    "payload",
    "status",
    "attempts",
    "not_before",
    "created_at",
)


def _postgresql_enqueue() -> Any:
    document = bindparam("rows", type_=postgresql.JSON)
    # Text, not VARCHAR(n), in the record: a cast to VARCHAR(n) would cut a long value
    # silently, where the insert into the table's column refuses it.
    columns = [
        column(name, Text() if _is_text(_TABLE.c[name].type) else _TABLE.c[name].type)
        for name in _ENQUEUE_COLUMNS
    ]
    new_rows = (
        func.json_to_recordset(document)
        .table_valued(*columns)
        .render_derived("new_rows", with_types=True)
    )
    return (
        postgresql.insert(_TABLE)
        .from_select(list(_ENQUEUE_COLUMNS), select(*(new_rows.c[n] for n in _ENQUEUE_COLUMNS)))
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(_TABLE.c.key)
    )


def _is_text(type_: Any) -> bool:
    return isinstance(getattr(type_, "impl_instance", type_), String)


def _row(message: NewMessage, now: datetime) -> dict[str, Any]:
    return {
        "key": message.key,
        "platform": message.platform,
        "workspace_id": message.workspace_id,
        "kind": message.kind,
        "person_id": message.person_id,
        "recipient_kind": message.recipient_kind,
        "recipient": message.recipient,
        "thread_parent": message.thread_parent,
        "payload": message.payload,
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "not_before": message.not_before,
        "created_at": now,
    }


# --- sender side -----------------------------------------------------------------


def claim(
    database: Database,
    *,
    worker: str,
    now: datetime,
    limit: int,
    workspace_id: str | None = None,
    platforms: Collection[str] | None = None,
) -> list[OutboxMessage]:
    """Mark up to ``limit`` due ``pending`` rows ``sending`` for ``worker``, oldest first.

    One ``WITH due AS (SELECT ...) UPDATE ... WHERE id IN due AND status = 'pending'
    RETURNING`` in its own transaction. On PostgreSQL ``due`` locks its rows with ``FOR
    UPDATE SKIP LOCKED``, so concurrent claimers take disjoint rows without waiting; SQLite
    runs one writer at a time and the ``status`` guard is evaluated under its write lock.
    Either way no row is handed out twice. ``platforms`` limits it to the rows this
    sender can render and post.
    """
    due = (
        select(_TABLE.c.id)
        .where(_TABLE.c.status == OutboxStatus.PENDING, _TABLE.c.not_before <= now)
        .order_by(_TABLE.c.not_before)  # the index order; ties in any order
        .limit(limit)
    )
    if workspace_id is not None:
        due = due.where(_TABLE.c.workspace_id == workspace_id)
    if platforms is not None:
        due = due.where(_TABLE.c.platform.in_(sorted(platforms)))
    # A workspace whose app was uninstalled or whose token was revoked (issue 4,
    # handlers.events) gets nothing: its rows stay pending, untouched, until it resumes.
    stopped = exists().where(
        WorkspaceState.workspace_id == _TABLE.c.workspace_id,
        WorkspaceState.sending_stopped_at.is_not(None),  # type: ignore[union-attr]
    )
    due = due.where(~stopped)
    still_pending: Any = OutboxMessage.status == OutboxStatus.PENDING
    if database.engine.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    else:
        # `status || ''` keeps SQLite from walking the status index over every pending
        # row to test `id IN (...)`; the primary key finds the claimed rows instead.
        still_pending = _TABLE.c.status.concat("") == OutboxStatus.PENDING
    # A materialized CTE runs the locking SELECT exactly once; as a plain IN subquery
    # PostgreSQL may rescan it per row and, skipping the rows it just locked, take more.
    due_rows = due.cte("due").prefix_with("MATERIALIZED", dialect="postgresql")
    statement = (
        update(OutboxMessage)
        .where(
            OutboxMessage.id.in_(select(due_rows.c.id)),  # type: ignore[union-attr]
            still_pending,
        )
        .values(status=OutboxStatus.SENDING, claimed_at=now, claimed_by=worker[:100])
        .returning(OutboxMessage)
        .execution_options(synchronize_session=False)
    )
    with database.session() as session:
        rows = list(session.scalars(statement).all())
    return sorted(rows, key=lambda row: (row.not_before, row.id))


def renew_claim(database: Database, message_id: int, *, worker: str, now: datetime) -> bool:
    """Restamp ``claimed_at`` just before the post; False if the row is no longer ours.

    A sender that waited long (pacing, a rate-limit pause) may have outlived its lease and
    had the row taken back by ``reconcile_stuck``; it must then not send it.
    """
    return _update(
        database,
        message_id,
        {"claimed_at": now},
        status=OutboxStatus.SENDING,
        claimed_by=worker[:100],
    )


def release(database: Database, message_ids: Collection[int], *, worker: str) -> int:
    """Put claimed rows that were never tried back to ``pending``, unchanged otherwise."""
    if not message_ids:
        return 0
    with database.session() as session:
        result = session.execute(
            update(_TABLE)
            .where(
                _TABLE.c.id.in_(list(message_ids)),
                _TABLE.c.status == OutboxStatus.SENDING,
                _TABLE.c.claimed_by == worker[:100],
            )
            .values(status=OutboxStatus.PENDING, claimed_at=None, claimed_by=None)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def mark_sent(
    database: Database, message_id: int, *, conversation: str, message: str, now: datetime
) -> None:
    """Record delivery and where it landed. Unconditional: the platform has the message,
    whatever the row said."""
    _update(
        database,
        message_id,
        {
            "status": OutboxStatus.SENT,
            "posted_conversation": conversation,
            "posted_message": message,
            "sent_at": now,
            "last_error": None,
        },
    )


def mark_retry(
    database: Database,
    message_id: int,
    *,
    not_before: datetime,
    error: str,
    count_attempt: bool,
) -> None:
    """Back to ``pending`` until ``not_before``; a rate limit does not count as an attempt."""
    values: dict[str, Any] = {
        "status": OutboxStatus.PENDING,
        "not_before": not_before,
        "last_error": _clip(error),
        "claimed_at": None,
        "claimed_by": None,
    }
    if count_attempt:
        values["attempts"] = _TABLE.c.attempts + 1
    _update(database, message_id, values, status=OutboxStatus.SENDING)


def mark_failed(database: Database, message_id: int, *, error: str) -> None:
    """Give up on a message (the attempt that failed is counted); ``retry`` revives it."""
    _update(
        database,
        message_id,
        {
            "status": OutboxStatus.FAILED,
            "last_error": _clip(error),
            "attempts": _TABLE.c.attempts + 1,
        },
        status=OutboxStatus.SENDING,
    )


def _update(
    database: Database,
    message_id: int,
    values: dict[str, Any],
    *,
    status: str | None = None,
    claimed_by: str | None = None,
    claimed_at: datetime | None = None,
) -> bool:
    statement = update(_TABLE).where(_TABLE.c.id == message_id)
    # The guards keep a late writer from undoing someone else's newer decision.
    if status is not None:
        statement = statement.where(_TABLE.c.status == status)
    if claimed_by is not None:
        statement = statement.where(_TABLE.c.claimed_by == claimed_by)
    if claimed_at is not None:
        statement = statement.where(_TABLE.c.claimed_at == claimed_at)
    with database.session() as session:
        result = session.execute(statement.values(**values))
        return bool(result.rowcount)  # type: ignore[attr-defined]


def _clip(error: str) -> str:
    return error if len(error) <= ERROR_MAX_LENGTH else error[: ERROR_MAX_LENGTH - 1] + "…"


def reconcile_stuck(
    database: Database,
    transport: Transport,
    *,
    now: datetime,
    lease: timedelta,
    platform: str = DEFAULT_PLATFORM,
    workspace_id: str | None = None,
    limit: int = 1000,
) -> ReconcileResult:
    """Settle ``platform``'s rows left ``sending`` longer than ``lease`` (their sender
    died mid-call).

    Each is looked up on the platform first (``transport.find_sent`` since its
    ``claimed_at``): found, it is marked ``sent`` with that reference; not found, it goes
    back to ``pending`` for a resend. Nothing is resent unchecked: while the platform is
    busy or unreachable the row stays ``sending`` for the next run, and if it refuses the
    lookup for this conversation the row is marked ``failed`` with the reason, for a
    person to decide. A transport that cannot look up its posts (``can_reconcile``)
    gets the same answer for every stuck row: ``failed``, "delivery unknown".
    """
    query = (
        select(
            _TABLE.c.id,
            _TABLE.c.key,
            _TABLE.c.recipient,
            _TABLE.c.claimed_at,
            _TABLE.c.thread_parent,
        )
        .where(
            _TABLE.c.status == OutboxStatus.SENDING,
            _TABLE.c.claimed_at < now - lease,
            _TABLE.c.platform == platform,
        )
        .order_by(_TABLE.c.claimed_at, _TABLE.c.id)
        .limit(limit)
    )
    if workspace_id is not None:
        query = query.where(_TABLE.c.workspace_id == workspace_id)
    with database.session() as session:
        stuck = session.execute(query).all()
    counts = {"found_sent": 0, "requeued": 0, "failed": 0, "unchecked": 0}
    fatal: str | None = None
    finds = can_reconcile(transport)
    for index, (message_id, key, recipient, claimed_at, thread_parent) in enumerate(stuck):
        try:
            if not finds:
                raise Permanent(f"{platform} cannot look up its posts")
            found = transport.find_sent(  # type: ignore[attr-defined]
                recipient, key, since=claimed_at, thread_ts=thread_parent
            )
        except (RateLimited, Fatal) as exc:
            counts["unchecked"] += len(stuck) - index
            fatal = exc.reason if isinstance(exc, Fatal) else None
            log.warning("reconcile stopped at outbox %s (%s): %s", message_id, key, exc.reason)
            break
        except Transient as exc:
            counts["unchecked"] += 1
            log.warning("could not check outbox %s (%s): %s", message_id, key, exc.reason)
            continue
        except Permanent as exc:
            error = f"delivery unknown after a crash; could not check: {exc.reason}"
            done = _update(
                database,
                message_id,
                {"status": OutboxStatus.FAILED, "last_error": _clip(error)},
                status=OutboxStatus.SENDING,
                claimed_at=claimed_at,
            )
            counts["failed"] += done
            log.error("outbox %s (%s): %s", message_id, key, error)
            continue
        if found is not None:
            mark_sent(database, message_id, conversation=found.channel, message=found.ts, now=now)
            counts["found_sent"] += 1
            log.info("outbox %s (%s) arrived before a crash: ts %s", message_id, key, found.ts)
        else:
            done = _update(
                database,
                message_id,
                {"status": OutboxStatus.PENDING, "claimed_at": None, "claimed_by": None},
                status=OutboxStatus.SENDING,
                claimed_at=claimed_at,
            )
            counts["requeued"] += done
            log.info("outbox %s (%s) never arrived before a crash: requeued", message_id, key)
    return ReconcileResult(**counts, fatal=fatal)


# --- operators ---------------------------------------------------------------------


@dataclass(frozen=True)
class StatusCounts:
    """How many outbox rows are in each status."""

    counts: dict[str, int] = field(default_factory=dict)

    def __getitem__(self, status: str) -> int:
        return self.counts.get(status, 0)

    def __str__(self) -> str:
        return "  ".join(f"{status}: {self[status]}" for status in OutboxStatus.ALL)


def list_messages(
    session: Session, *, status: str | None = None, limit: int = 50
) -> list[OutboxMessage]:
    """The newest ``limit`` outbox rows, optionally only those in ``status``."""
    if status is not None and status not in OutboxStatus.ALL:
        raise LearnbotError(f"unknown status {status!r}; use one of {', '.join(OutboxStatus.ALL)}")
    query = select(OutboxMessage).order_by(
        OutboxMessage.created_at.desc(),  # type: ignore[attr-defined]
        OutboxMessage.id.desc(),  # type: ignore[union-attr]
    )
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    return list(session.scalars(query.limit(limit)).all())


def count_by_status(session: Session) -> StatusCounts:
    """Row counts per status, in one grouped query."""
    rows = session.execute(select(_TABLE.c.status, func.count()).group_by(_TABLE.c.status))
    return StatusCounts({status: int(count) for status, count in rows})


def retry(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    message_id: int | None = None,
    all_failed: bool = False,
) -> int:
    """Send failed messages again: ``failed`` -> ``pending`` with a fresh retry budget.

    A failed message may be in Slack all the same: an answer lost after Slack stored the
    post, then lookups that failed until the sender gave up, or a crash it could not check.
    So it goes back with one counted attempt (``attempts = 1``), and the sender looks for
    it in Slack before posting it again, as for any retry. The error each one failed with,
    and its attempts, are kept in the audit log (action ``outbox_retry``).

    Args:
        session: The caller's session.
        clock: For the audit entries.
        actor: Who asked, for the audit entries.
        message_id: One failed message to retry.
        all_failed: Retry every failed message instead.

    Returns:
        How many messages will be sent again.

    Raises:
        LearnbotError: Neither or both of ``message_id`` and ``all_failed`` were given, or
            the message does not exist or has not failed.
    """
    if (message_id is None) == (not all_failed):
        raise LearnbotError("give either one message id or all_failed, not both or neither")
    query = select(
        _TABLE.c.id, _TABLE.c.key, _TABLE.c.person_id, _TABLE.c.attempts, _TABLE.c.last_error
    ).where(_TABLE.c.status == OutboxStatus.FAILED)
    if message_id is not None:
        status = session.execute(
            select(_TABLE.c.status).where(_TABLE.c.id == message_id)
        ).scalar_one_or_none()
        if status is None:
            raise LearnbotError(f"there is no outbox message {message_id}")
        if status != OutboxStatus.FAILED:
            raise LearnbotError(f"outbox message {message_id} is {status}; only failed ones retry")
        query = query.where(_TABLE.c.id == message_id)
    retried = 0
    for row in session.execute(query.order_by(_TABLE.c.id)).all():
        record(
            session,
            clock=clock,
            actor=actor,
            action="outbox_retry",
            subject=row.key,
            person_id=row.person_id,
            reason=row.last_error or "",
            details={"outbox_id": row.id, "attempts": row.attempts},
        )
        session.execute(
            update(_TABLE)
            .where(_TABLE.c.id == row.id, _TABLE.c.status == OutboxStatus.FAILED)
            .values(
                status=OutboxStatus.PENDING,
                attempts=RETRIED_ATTEMPTS,
                last_error=None,
                not_before=clock.now(),
                claimed_at=None,
                claimed_by=None,
            )
        )
        retried += 1
    return retried


def find_sent_message(
    session: Session, *, person_id: int, conversation: str, message: str
) -> OutboxMessage | None:
    """The sent message to ``person_id`` that landed at ``conversation``/``message``, if
    it is ours.

    Looked up through the person (indexed), so it costs one person's messages, not the
    whole outbox.
    """
    return session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.person_id == person_id,
            OutboxMessage.posted_message == message,
            OutboxMessage.posted_conversation == conversation,
        )
        .limit(1)
    ).first()
