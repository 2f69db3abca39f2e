"""Wiring for the command line: a sender from ``Settings`` and the platform routes the
composition root built, and the ``drain`` and ``outbox`` commands."""

from __future__ import annotations

import os
import random
import socket
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TextIO

from delivery import outbox
from delivery.rendering import Route
from delivery.sender import Sender
from learning.clock import Clock, FrozenClock
from models.db import Database
from models.tables import DEFAULT_PLATFORM, OutboxMessage
from settings import Settings


def worker_name() -> str:
    """This process's name in ``claimed_by``: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def build_sender(
    settings: Settings,
    database: Database,
    routes: Mapping[str, Route],
    *,
    clock: Clock,
    sleep: Callable[[float], None],
    rng: random.Random | None = None,
    worker: str | None = None,
) -> Sender:
    """A sender with the pacing and lease from ``settings``."""
    return Sender(
        database,
        routes,
        clock,
        sleep=sleep,
        rng=rng or random.Random(),
        worker=worker or worker_name(),
        per_channel_interval=settings.channel_interval_seconds,
        workspace_rate_per_minute=settings.workspace_rate_per_minute,
        lease=timedelta(seconds=settings.send_lease_seconds),
    )


def real_sleep(clock: Clock) -> Callable[[float], None]:
    """``time.sleep``; with a frozen clock (``--at``) the clock is moved along too."""
    if not isinstance(clock, FrozenClock):
        return time.sleep

    def sleep(seconds: float) -> None:
        time.sleep(seconds)
        clock.advance(timedelta(seconds=seconds))

    return sleep


def drain_command(
    settings: Settings,
    routes: Mapping[str, Route],
    open_database: Callable[[], Database],
    *,
    clock: Clock,
    out: TextIO,
    max_messages: int | None = None,
    sleep: Callable[[float], None] | None = None,
) -> int:
    """``bot.py drain``: send everything due now; exit 1 if Slack refused the token.

    Args:
        settings: Pacing and lease.
        routes: Platform name -> renderer and transport (built by the composition root).
        open_database: Opens the database; called once the credentials are known good.
        clock: The clock (the real one, unless ``--at``).
        out: Where the summary goes.
        max_messages: Stop after this many deliveries.
        sleep: How to wait; real sleeping by default.

    Raises:
        SettingsError: ``SLACK_BOT_TOKEN`` or ``SLACK_SIGNING_SECRET`` is not set.
    """
    database = open_database()
    sender = build_sender(settings, database, routes, clock=clock, sleep=sleep or real_sleep(clock))
    result = sender.drain(max_messages=max_messages)
    print(f"drain: {result.summary()}", file=out)
    if result.stopped:
        print(
            f"Slack refused the bot token ({result.stopped}); nothing was lost, the messages "
            "stay pending. Fix SLACK_BOT_TOKEN (or reinstall the app) and drain again.",
            file=out,
        )
        return 1
    return 0


def outbox_command(
    database: Database,
    *,
    clock: Clock,
    out: TextIO,
    actor: str,
    status: str | None = None,
    limit: int = 50,
    retry_id: int | None = None,
    retry_all_failed: bool = False,
) -> int:
    """``bot.py outbox``: optionally retry failed messages, then list messages and counts."""
    with database.session() as session:
        if retry_id is not None or retry_all_failed:
            count = outbox.retry(
                session,
                clock=clock,
                actor=actor,
                message_id=retry_id,
                all_failed=retry_all_failed,
            )
            print(f"{count} failed message(s) back to pending; `bot.py drain` sends them", file=out)
        rows = outbox.list_messages(session, status=status, limit=limit)
        counts = outbox.count_by_status(session)
    print(render_table(rows), file=out)
    print(f"\n{counts}", file=out)
    return 0


COLUMNS = ("id", "key", "status", "attempts", "recipient", "last_error", "created")
_WIDEST = {"key": 40, "last_error": 60}


def render_table(rows: list[OutboxMessage]) -> str:
    """A plain-text table of outbox rows for a terminal."""
    if not rows:
        return "no messages"
    cells = [
        [
            str(row.id),
            row.key,
            row.status,
            str(row.attempts),
            _address(row),
            row.last_error or "",
            f"{row.created_at:%Y-%m-%d %H:%M}",
        ]
        for row in rows
    ]
    for line in cells:
        for index, name in enumerate(COLUMNS):
            limit = _WIDEST.get(name)
            if limit and len(line[index]) > limit:
                line[index] = line[index][: limit - 1] + "…"
    widths = [max(len(name), *(len(line[i]) for line in cells)) for i, name in enumerate(COLUMNS)]
    lines = [COLUMNS, *cells]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _address(row: OutboxMessage) -> str:
    """Where a row goes, for the table: the recipient, prefixed by any platform but Slack
    (the only one of older installations), and ``(thread)`` for a reply."""
    where = row.recipient if row.platform == DEFAULT_PLATFORM else f"{row.platform}:{row.recipient}"
    return f"{where} (thread)" if row.thread_parent else where
