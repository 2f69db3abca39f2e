"""The enrollment job: tiers open, marked people are brought up to date, in short writes."""

from __future__ import annotations

import logging

from learning.clock import Clock
from learning.enrollment_schedule import people_due
from learning.paths import EnrollmentSummary, current_settings, enroll, load_paths
from models.db import Database

log = logging.getLogger(__name__)

ENROLL_BATCH = 200
"""People per write transaction: at 100,000 people on SQLite one takes about 30 ms."""


def enroll_everyone(
    database: Database, clock: Clock, *, batch_size: int = ENROLL_BATCH
) -> EnrollmentSummary | None:
    """Bring every active person's assignments up to date as of their local today.

    Looks only at the people whose ``next_enroll_on`` has come in their own zone: a
    tier of their path opens today, or a change marked them (``load-config``). A quiet
    hour therefore reads one index range and writes nothing. Each ``batch_size`` people
    are one transaction, so the job never holds SQLite's write lock for long; if it
    stops half-way, the people it did not reach are still due for the next pass.

    Returns None (and does nothing) before the first configuration is loaded.
    """
    with database.session() as session:
        settings = current_settings(session)
        if settings is None:
            log.info("enrollment skipped: no configuration loaded yet")
            return None
        due = people_due(session, now=clock.now(), default_zone=settings.organisation.timezone)
    summary = EnrollmentSummary()
    for start in range(0, len(due), batch_size):
        with database.batch() as session:
            # Each batch reads the configuration in force as it starts.
            settings = current_settings(session) or settings
            summary.include(
                enroll(
                    session,
                    clock=clock,
                    settings=settings,
                    person_ids=due[start : start + batch_size],
                    paths=load_paths(session),
                )
            )
    log.info("enrollment: %s (%d people looked at)", summary, summary.visited)
    return summary
