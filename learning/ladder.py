"""The escalation ladder as pure rules: where an overdue required item stands, and when.

The ladder comes from the YAML (``escalation``): reminders inside the learner's digest
some working days before the due date and on it, then steps at N working days overdue
that notify the learner (inside the digest), the manager, or the skip-level. All days
are the *learner's* working days. Extension requests pause the ladder: the working days
a request was open (``ladder_paused_days``) push every later step back; an approved
extension moves the due date and starts the ladder again.

Nothing here touches the database or the clock: callers pass the learner's local date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from learning.calendar import WorkCalendar
from learning.curriculum import Escalation, LadderStep

TELLS_SOMEONE_ELSE = ("manager", "skip_level")


@dataclass(frozen=True)
class Standing:
    """Where one overdue (or nearly due) required item stands on the ladder today.

    Attributes:
        overdue_working_days: Working days past due, less the days paused (0 if not due).
        reminder: Today is one of the reminder days before (or on) the due date.
        reached: Indexes of the steps reached by today.
        warned: A ``learner`` step is reached: the digest flags the item.
        next_notice: The next step that tells someone else, if any, and its date.
    """

    overdue_working_days: int
    reminder: bool
    reached: tuple[int, ...]
    warned: bool
    next_notice: tuple[LadderStep, date] | None


def step_date(step: LadderStep, *, due: date, calendar: WorkCalendar, paused_days: int = 0) -> date:
    """The learner's local date on which ``step`` is reached.

    That is the Nth working day after ``due`` (N = the step's days plus those paused),
    or, for a step at 0, the day after ``due``.
    """
    days = step.after_overdue + paused_days
    if days == 0:
        return due + timedelta(days=1)
    return calendar.add_working_days(due + timedelta(days=1), days - 1)


def overdue_working_days(
    *, due: date, today: date, calendar: WorkCalendar, paused_days: int = 0
) -> int:
    """Working days past ``due`` as of ``today``, less the days paused; 0 when not overdue."""
    if today <= due:
        return 0
    return max(0, calendar.working_days_between(due, today) - paused_days)


def reached_steps(
    escalation: Escalation, *, due: date, today: date, calendar: WorkCalendar, paused_days: int = 0
) -> tuple[int, ...]:
    """Indexes of the steps reached by ``today`` (only ever for overdue items)."""
    if today <= due:
        return ()
    late = overdue_working_days(due=due, today=today, calendar=calendar, paused_days=paused_days)
    return tuple(i for i, step in enumerate(escalation.steps) if late >= step.after_overdue)


def standing(
    escalation: Escalation,
    *,
    due: date,
    today: date,
    calendar: WorkCalendar,
    paused_days: int = 0,
) -> Standing:
    """Where a required item due on ``due`` stands on ``today`` (the learner's date)."""
    reached = reached_steps(
        escalation, due=due, today=today, calendar=calendar, paused_days=paused_days
    )
    reminder = False
    if today <= due and calendar.is_working_day(today):
        ahead = calendar.working_days_between(today, due)
        reminder = ahead in escalation.remind_before_due
    warned = any(escalation.steps[i].notify == "learner" for i in reached)
    upcoming = None
    for index, step in enumerate(escalation.steps):
        if index in reached or step.notify not in TELLS_SOMEONE_ELSE:
            continue
        upcoming = (
            step,
            step_date(step, due=due, calendar=calendar, paused_days=paused_days),
        )
        break
    return Standing(
        overdue_working_days=overdue_working_days(
            due=due, today=today, calendar=calendar, paused_days=paused_days
        ),
        reminder=reminder,
        reached=reached,
        warned=warned,
        next_notice=upcoming,
    )
