"""Peer-learning prompts: post the day's prompt, and follow up in its thread later.

When: on each of ``peer_prompts.weekdays`` from ``time`` for ``window`` minutes, in the
organisation's time zone; not on the organisation's holidays. At most one prompt per
workspace per day (``PeerPrompt`` is unique on (workspace, local date)), so running the
job every tick, twice, or in two processes at once posts once. Nothing is posted without
``channels.community`` or with ``peer_prompts.enabled`` false.

Follow-ups run on every tick whatever the day: a prompt whose post was sent at least
``follow_up_after`` ago gets its introduction (``learning.peer_prompts``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from learning import peer_prompts
from learning.calendar import WEEKDAYS
from learning.clock import Clock
from learning.curriculum import ProgramSettings
from learning.paths import current_settings
from models import DEFAULT_WORKSPACE, PeerPrompt, Person
from models.db import Database

log = logging.getLogger(__name__)


@dataclass
class PeerPromptPlan:
    """What one planning pass of the peer-learning prompts did."""

    day: date | None = None  # the prompt day whose window is open, if any
    prompt_ids: list[int] = field(default_factory=list)  # prompts created in this pass
    followed_up: int = 0
    introduced: int = 0

    def summary(self) -> str:
        """One line for the tick summary; empty when nothing happened."""
        parts = []
        if self.prompt_ids:
            parts.append(f"{len(self.prompt_ids)} posted")
        if self.followed_up:
            parts.append(f"{self.followed_up} followed up ({self.introduced} introductions)")
        return f"peer prompts: {', '.join(parts)}" if parts else ""


def open_prompt_day(now: datetime, settings: ProgramSettings) -> date | None:
    """The organisation-local day whose prompt window is open at ``now``, or None.

    The window opens at ``peer_prompts.time`` on a configured weekday and lasts
    ``window`` minutes (it may run past midnight: it still belongs to the day it opened).
    A holiday on the organisation's calendar has no prompt.
    """
    spec = settings.peer_prompts
    if not spec.enabled or not settings.channels.community or spec.window <= 0:
        return None
    zone = settings.organisation.timezone
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    holidays = settings.calendar_for(zone).holidays
    for back in range(spec.window // (24 * 60) + 2):
        day = local.date() - timedelta(days=back)
        if WEEKDAYS[day.weekday()] not in spec.weekdays or day in holidays:
            continue
        opens = datetime.combine(day, spec.time, tzinfo=tz)
        if opens <= local < opens + timedelta(minutes=spec.window):
            return day
    return None


def plan_peer_prompts(database: Database, clock: Clock) -> PeerPromptPlan:
    """Post the day's peer-learning prompt if its window is open, and run the follow-ups.

    One transaction. Per workspace without a prompt for the day, one item is drawn from
    ``learning.peer_prompts.candidate_weights`` with a generator seeded by (workspace,
    day), and posted in ``channels.community``. Safe to run on every tick.
    """
    result = PeerPromptPlan()
    now = clock.now()
    with database.session() as session:
        settings = current_settings(session)
        if settings is None:
            log.info("peer prompts skipped: no configuration loaded yet")
            return result
        day = open_prompt_day(now, settings)
        result.day = day
        channel = settings.channels.community
        if day is not None and channel:
            spec = settings.peer_prompts
            done = set(
                session.scalars(select(PeerPrompt.workspace_id).where(PeerPrompt.local_date == day))
            )
            workspaces = {
                workspace or DEFAULT_WORKSPACE
                for workspace in session.scalars(
                    select(Person.workspace_id).where(Person.active).distinct()
                )
            }
            if workspaces - done:  # the candidate query only while someone still needs one
                weights = peer_prompts.candidate_weights(session, today=day, spec=spec)
                for workspace_id in sorted(set(weights) - done):
                    item_id = peer_prompts.choose_topic(
                        weights[workspace_id],
                        peer_prompts.topic_rng(workspace_id, day),
                        min_learners=spec.min_learners,
                    )
                    if item_id is None:
                        continue
                    prompt = peer_prompts.post_prompt(
                        session,
                        workspace_id=workspace_id,
                        item_id=item_id,
                        learners_due=weights[workspace_id][item_id],
                        day=day,
                        channel=channel,
                        clock=clock,
                    )
                    if prompt is not None and prompt.id is not None:
                        result.prompt_ids.append(prompt.id)
        follow_ups = peer_prompts.follow_up_prompts(session, clock=clock, settings=settings)
        result.followed_up = follow_ups.followed_up
        result.introduced = follow_ups.introduced
    if result.prompt_ids or result.followed_up:
        log.info("%s", result.summary())
    return result
