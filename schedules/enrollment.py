"""The daily enrollment job: second tiers open, role changes settle, offsets apply."""

from __future__ import annotations

import logging

from learning.clock import Clock
from learning.paths import EnrollmentSummary, current_settings, enroll
from models.db import Database

log = logging.getLogger(__name__)


def enroll_everyone(database: Database, clock: Clock) -> EnrollmentSummary | None:
    """Bring every active person's assignments up to date as of their local today.

    Returns None (and does nothing) before the first configuration is loaded.
    """
    with database.session() as session:
        settings = current_settings(session)
        if settings is None:
            log.info("enrollment skipped: no configuration loaded yet")
            return None
        summary = enroll(session, clock=clock, settings=settings)
    log.info("enrollment: %s", summary)
    return summary
