"""The in-process scheduler (APScheduler 3, UTC) for ``python bot.py run``."""

from __future__ import annotations

import logging
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from delivery.sender import Sender
from learning.clock import Clock
from models.db import Database
from schedules.enrollment import enroll_everyone
from schedules.lock import SchedulerLock
from schedules.tick import plan_messages

log = logging.getLogger(__name__)


def _enroll(database: Database, clock: Clock, lock: SchedulerLock) -> None:
    if lock.acquire():
        enroll_everyone(database, clock)


def _plan(database: Database, clock: Clock, lock: SchedulerLock) -> None:
    if lock.acquire():
        plan_messages(database, clock)


def _send(sender: Sender) -> None:
    result = sender.drain()
    log.info("delivery: %s", result.summary())


def build_scheduler(
    database: Database,
    clock: Clock,
    *,
    sender: Sender,
    lock: SchedulerLock,
    tick: timedelta = timedelta(minutes=5),
) -> BackgroundScheduler:
    """Jobs: enrollment hourly, planning every tick, delivery every tick.

    Each job has a fixed id (``replace_existing``), ``coalesce=True`` (after a pause,
    run once, not once per missed tick: the planner catches up by itself) and a misfire
    grace of one tick. ``max_instances=1`` lets a long delivery run continue while later
    send ticks are skipped; planning never waits for delivery. Planning and enrollment
    run only in the process holding the scheduler lock; every process may send.
    """
    scheduler = BackgroundScheduler(timezone="UTC")
    grace = int(tick.total_seconds())
    common = {
        "coalesce": True,
        "misfire_grace_time": grace,
        "max_instances": 1,
        "replace_existing": True,
    }
    scheduler.add_job(
        _enroll,
        "interval",
        hours=1,
        id="learnbot-enroll",
        args=(database, clock, lock),
        next_run_time=clock.now(),
        **common,
    )
    scheduler.add_job(
        _plan,
        "interval",
        seconds=grace,
        id="learnbot-plan",
        args=(database, clock, lock),
        next_run_time=clock.now(),
        **common,
    )
    scheduler.add_job(
        _send,
        "interval",
        seconds=grace,
        id="learnbot-send",
        args=(sender,),
        next_run_time=clock.now(),
        **common,
    )
    return scheduler
