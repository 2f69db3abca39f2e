"""One tick: enroll, plan, deliver. ``bot.py sweep`` runs one; the scheduler runs them."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from delivery.metrics import PLANNING_SECONDS
from delivery.sender import DrainResult, Sender
from learning.clock import Clock
from learning.paths import EnrollmentSummary
from models.db import Database
from schedules.certifications import CertPlan, plan_certifications
from schedules.enrollment import enroll_everyone
from schedules.escalations import EscalationPlan, plan_escalations
from schedules.game_board import GameBoardPlan, plan_game_board
from schedules.lock import SchedulerLock
from schedules.nudges import NudgePlan, plan_nudges
from schedules.peer_prompts import PeerPromptPlan, plan_peer_prompts
from schedules.weekly_digest import WeeklyPlan, plan_weekly_digests

log = logging.getLogger(__name__)


@dataclass
class TickResult:
    """What one tick did; ``planned_here`` is False when another process plans."""

    planned_here: bool
    enrollment: EnrollmentSummary | None = None
    certifications: CertPlan | None = None
    plan: NudgePlan | None = None
    escalation: EscalationPlan | None = None
    weekly: WeeklyPlan | None = None
    peer: PeerPromptPlan | None = None
    game_board: GameBoardPlan | None = None
    delivery: DrainResult | None = None

    def summary(self) -> str:
        lines = []
        if not self.planned_here:
            lines.append("planning: skipped, another process holds the scheduler lock")
        if self.enrollment is not None:
            lines.append(f"enrollment: {self.enrollment}")
        if self.plan is not None:
            zones = ", ".join(self.plan.stats.zones_open) or "none"
            lines.append(
                f"planning: {self.plan.enqueued} digests planned (send window open in: {zones})"
            )
            if self.plan.stats.unreachable:
                lines.append(
                    f"  {self.plan.stats.unreachable} people have items due but no Slack user id"
                )
        if self.escalation is not None and (self.escalation.messages or self.escalation.waiting):
            e = self.escalation
            lines.append(
                f"escalation: {e.notices} overdue items told in {e.messages} messages"
                + (f" ({e.to_admins} to the admins)" if e.to_admins else "")
                + (f"; {e.waiting} waiting for the recipient's morning" if e.waiting else "")
            )
        if self.certifications:
            lines.append(self.certifications.summary())
        if self.weekly is not None and self.weekly.enqueued:
            lines.append(f"weekly manager digests: {self.weekly.enqueued} planned")
        if self.game_board:
            lines.append(self.game_board.summary())
        if self.peer is not None and self.peer.summary():
            lines.append(self.peer.summary())
        if self.delivery is not None:
            lines.append(f"delivery: {self.delivery.summary()}")
        return "\n".join(lines)


def plan_messages(database: Database, clock: Clock) -> TickResult:
    """Every planner, in order; timed in ``learnbot_planning_duration_seconds``.

    The caller holds the scheduler lock (``plan_step``, the scheduler's plan job).
    """
    with PLANNING_SECONDS.time():
        return TickResult(
            planned_here=True,
            # Before the nudges: a recertification round that opens today is in today's
            # digest.
            certifications=plan_certifications(database, clock),
            # Before the nudges too: a learner's digest then says who has been told,
            # from the ladder state this tick leaves (learning.ladder.notice_day).
            escalation=plan_escalations(database, clock),
            plan=plan_nudges(database, clock),
            weekly=plan_weekly_digests(database, clock),
            peer=plan_peer_prompts(database, clock),
            game_board=plan_game_board(database, clock),
        )


def plan_step(database: Database, clock: Clock, lock: SchedulerLock) -> TickResult:
    """Enroll and plan, if this process holds (or can take) the scheduler lock."""
    if not lock.acquire():
        return TickResult(planned_here=False)
    enrollment = enroll_everyone(database, clock)
    result = plan_messages(database, clock)
    result.enrollment = enrollment
    return result


def sweep(
    database: Database, clock: Clock, *, sender: Sender | None, lock: SchedulerLock
) -> TickResult:
    """One full tick as of ``clock.now()``: enroll, plan, then drain the outbox.

    Safe to run from cron while a scheduler runs, or twice at once: planning happens
    under the scheduler lock, outbox keys are unique and rows are claimed one sender
    at a time, so nothing is planned or sent twice.
    """
    result = plan_step(database, clock, lock)
    if sender is not None:
        result.delivery = sender.drain()
    return result
