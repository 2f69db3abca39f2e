"""One scheduler per database, and the scheduler's jobs."""

import threading
import warnings
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

import schedules.scheduler as scheduler_module
from learning.paths import current_settings
from learning.planner import plan_digests
from models import OutboxMessage
from platforms.slack.render.digest import render_digest
from platforms.slack.render.limits import block_kit_problems
from schedules.lock import SchedulerLock
from schedules.scheduler import build_scheduler
from schedules.tick import plan_step
from tests.conftest import EXAMPLES
from tests.fakes.slack_api import FakeSlack
from tests.outbox_support import make_sender


def test_only_one_process_holds_the_scheduler_lock(db):
    first, second = SchedulerLock(db), SchedulerLock(db)
    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()


def test_a_process_without_the_lock_does_not_plan(db, clock):
    holder = SchedulerLock(db)
    assert holder.acquire()
    try:
        result = plan_step(db, clock, SchedulerLock(db))
    finally:
        holder.release()
    assert not result.planned_here and result.plan is None
    assert "another process holds the scheduler lock" in result.summary()


def test_scheduler_jobs_have_fixed_ids_coalesce_and_a_grace_time(db, clock):
    with FakeSlack() as fake:
        scheduler = build_scheduler(
            db,
            clock,
            sender=make_sender(db, fake, clock),
            lock=SchedulerLock(db),
            tick=timedelta(minutes=5),
        )
        scheduler.start(paused=True)
        try:
            jobs = {job.id: job for job in scheduler.get_jobs()}
        finally:
            scheduler.shutdown(wait=False)
    assert set(jobs) == {"learnbot-enroll", "learnbot-plan", "learnbot-send"}
    assert all(
        job.coalesce and job.misfire_grace_time == 300 and job.max_instances == 1
        for job in jobs.values()
    )
    assert str(scheduler.timezone) == "UTC"


def test_every_digest_the_planner_makes_for_the_examples_fits_block_kit(cli, db, clock):
    from datetime import UTC, datetime

    clock.set(datetime(2026, 11, 2, 0, 0, tzinfo=UTC))
    assert cli("load-config", str(EXAMPLES / "programs.yml")).code == 0
    assert cli("import-people", str(EXAMPLES / "people.csv")).code == 0
    checked = 0
    with db.session() as session:
        settings = current_settings(session)
        # Every half hour of a Monday four weeks later: all zones pass their send time,
        # with a month of unfinished work (many overdue items) and the suggestions.
        at = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)
        while at < datetime(2026, 12, 1, 0, 0, tzinfo=UTC):
            for planned in plan_digests(session, now=at, settings=settings):
                message = render_digest(planned.digest)
                assert block_kit_problems(message) == [], planned.digest.key
                checked += 1
            at += timedelta(minutes=30)
    assert checked >= 40


def test_a_planning_pass_is_timed_for_metrics(db, clock):
    from delivery.metrics import PLANNING_SECONDS

    before = PLANNING_SECONDS.count
    lock = SchedulerLock(db)
    try:
        assert plan_step(db, clock, lock).planned_here
    finally:
        lock.release()
    assert PLANNING_SECONDS.count == before + 1


def test_the_scheduler_plan_job_runs_every_planner_not_only_the_digests(cli, db, clock):
    assert cli("load-config", str(EXAMPLES / "programs.yml")).code == 0
    assert cli("import-people", str(EXAMPLES / "people.csv")).code == 0
    # Monday 30 Nov 2026, 10:05 in London: the digests' window and the game board's.
    clock.set(datetime(2026, 11, 30, 10, 5, tzinfo=UTC))
    lock = SchedulerLock(db)
    try:
        scheduler_module._plan(db, clock, lock)
    finally:
        lock.release()
    with db.session() as session:
        keys = session.scalars(select(OutboxMessage.key)).all()
    assert any(key.startswith("digest:") for key in keys)
    assert "board:2026-W49" in keys


def test_the_lock_serves_the_schedulers_threads_one_at_a_time(db):
    # The scheduler's jobs run on a thread pool and each asks the lock before it plans;
    # on PostgreSQL that checks the lock's one connection, which must not be shared
    # by two threads at once (SQLAlchemy warns, and the check can fail).
    lock = SchedulerLock(db)
    results: list[bool] = []
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            results.extend(lock.acquire() for _ in range(40))
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        threads = [threading.Thread(target=ask) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    lock.release()
    assert errors == [] and results == [True] * 160
    assert [str(w.message) for w in caught if "connection" in str(w.message)] == []
