"""The weekly game board: plan it into the outbox, once per ISO week.

When: on ``game_board.weekday`` from ``game_board.time`` for ``game_board.window``
minutes of wall-clock time in the organisation's time zone (default Monday 10:00, 4
hours), when ``game_board.enabled`` and ``channels.recognition`` is set. Past the window
the week is skipped, as the weekly manager digest skips one.

What: the board for the 7 org-local days before the post day (``learning.game_board``),
rendered at planning time into a ``text`` outbox row for the recognition channel with key
``board:{ISO year}-W{ISO week}`` of the post day, so planning again, or in two processes
at once, posts once. A tick that finds this week's row already planned returns before
computing anything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select

from delivery.outbox import NewMessage, enqueue
from learning.clock import Clock
from learning.curriculum import ProgramSettings
from learning.game_board import board_day, build_board, week_before
from learning.outbox_kinds import GAME_BOARD, facts
from learning.paths import current_settings
from models import DEFAULT_WORKSPACE, OutboxMessage, RecipientKind
from models.db import Database

log = logging.getLogger(__name__)


@dataclass
class GameBoardPlan:
    """What one planning pass of the game board did."""

    week: str | None = None  # the ISO week whose window is open now, if any
    already: bool = False  # that week's board was planned before
    enqueued: int = 0

    def summary(self) -> str:
        if self.enqueued:
            return f"game board: posted for {self.week}"
        if self.week:
            return f"game board: {self.week} already planned"
        return "game board: window closed"

    def __bool__(self) -> bool:
        return bool(self.enqueued)


def board_key(post_day: date) -> str:
    """``board:2026-W11``: the outbox key of the board posted on ``post_day``."""
    year, week, _ = post_day.isocalendar()
    return f"board:{year}-W{week:02d}"


def open_board_day(now: datetime, settings: ProgramSettings) -> date | None:
    """The post day whose window is open at ``now`` (org time zone), else None.

    The window runs from ``game_board.time`` on the configured weekday for
    ``game_board.window`` minutes of local wall-clock time (it may run past midnight).
    """
    spec = settings.game_board
    if not spec.enabled or not settings.channels.recognition:
        return None
    zone = ZoneInfo(settings.organisation.timezone)
    local = now.astimezone(zone)
    day = board_day(now, settings.organisation.timezone, spec.weekday)
    opens = datetime.combine(day, spec.time, tzinfo=zone)
    if not opens <= local < opens + timedelta(minutes=spec.window):
        return None
    return day


def plan_game_board(database: Database, clock: Clock) -> GameBoardPlan:
    """Plan this week's game board post if its window is open at ``clock.now()``.

    One transaction. Nothing when the board is disabled, there is no recognition channel,
    the window is closed or this week's board is planned already. Safe to run every tick,
    twice, or in two processes at once: the key ``board:{YYYY-Www}`` is unique.
    """
    plan = GameBoardPlan()
    now = clock.now()
    with database.session() as session:
        settings = current_settings(session)
        if settings is None:
            return plan
        day = open_board_day(now, settings)
        if day is None:
            return plan
        key = board_key(day)
        plan.week = key.removeprefix("board:")
        if session.scalar(select(exists().where(OutboxMessage.key == key))):
            plan.already = True
            return plan
        zone = settings.organisation.timezone
        board = build_board(session, period=week_before(day, zone), settings=settings)
        message = facts(GAME_BOARD, board=board)
        channel = settings.channels.recognition
        assert channel is not None  # open_board_day checked it
        plan.enqueued = enqueue(
            session,
            [
                NewMessage(
                    key=key,
                    kind=message.kind,
                    recipient_kind=RecipientKind.CHANNEL,
                    recipient=channel,
                    payload=message.values,
                    workspace_id=DEFAULT_WORKSPACE,
                    not_before=now,
                )
            ],
            now=now,
        )
        plan.already = not plan.enqueued
        if plan.enqueued:
            log.info(
                "planned the game board for %s in %s: %d teams ranked",
                plan.week,
                channel,
                len(board.ranking),
            )
    return plan
