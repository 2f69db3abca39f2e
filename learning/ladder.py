"""The escalation ladder as pure rules: where an overdue required item stands, and when.

The ladder comes from the YAML (``escalation``): reminders inside the learner's digest
some working days before the due date and on it, then steps at N working days overdue
that notify the learner (inside the digest), the manager, or the skip-level. All days
are the *learner's* working days. Extension requests pause the ladder: the working days
a request was open (``ladder_paused_days``) push every later step back; an approved
extension moves the due date and starts the ladder again.

When someone else is told is ``notice_day``: the recipient's own working day, in their
own send window, once the step's day has come where the learner is. The learner's digest
announces that date and the escalation job acts on it, so the two cannot disagree.

Nothing here touches the database or the clock: callers pass the learner's local date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from learning.calendar import WorkCalendar
from learning.curriculum import Escalation, LadderStep, ProgramSettings

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


def next_telling_step(escalation: Escalation, *, told: int) -> tuple[int, LadderStep] | None:
    """The first step not yet acted on (index ``told`` or later, ``ladder_step``) that
    tells someone else, with its index; None when none is left."""
    for index in range(max(told, 0), len(escalation.steps)):
        step = escalation.steps[index]
        if step.notify in TELLS_SOMEONE_ELSE:
            return index, step
    return None


@dataclass(frozen=True)
class SendWindow:
    """When a recipient of escalations can be told: on their working days, from
    ``send_time`` for ``minutes``, in their time zone ``zone``."""

    zone: str
    calendar: WorkCalendar
    send_time: time
    minutes: int

    def opens(self, day: date) -> datetime:
        """The instant the window opens on the recipient's ``day``."""
        return datetime.combine(day, self.send_time, tzinfo=ZoneInfo(self.zone))

    def closes(self, day: date) -> datetime:
        return self.opens(day) + timedelta(minutes=self.minutes)


def escalation_window(settings: ProgramSettings, zone: str | None) -> SendWindow:
    """The send window escalations use for a recipient in ``zone`` (None: the
    organisation's): the digest cadence's send time and window, on their calendar."""
    zone = zone or settings.organisation.timezone
    return SendWindow(
        zone,
        settings.calendar_for(zone),
        settings.cadence.send_time,
        settings.cadence.send_window,
    )


def notice_day(
    step_on: date, *, learner_zone: str, window: SendWindow, not_before: datetime | None = None
) -> date:
    """The recipient's local date on which a step the learner reaches on ``step_on`` is told.

    That is the first of the recipient's working days whose send time comes once the
    learner's local date is ``step_on`` (a step reached in the middle of someone's window
    waits for their next morning, so it is never told at a time nobody announced). A
    recipient on holiday that day is told on their next working day. With ``not_before``
    (an instant): not a day whose window has closed by then.

    Args:
        step_on: The learner's local date the step is reached (``step_date``).
        learner_zone: The learner's IANA time zone.
        window: The recipient's working days and send window.
        not_before: The earliest instant the notice can still go (the digest's "now").
    """
    reached = datetime.combine(step_on, time(0), tzinfo=ZoneInfo(learner_zone))
    zone = ZoneInfo(window.zone)
    day = reached.astimezone(zone).date() - timedelta(days=1)
    if not_before is not None:
        day = max(day, not_before.astimezone(zone).date())
    while True:
        day = window.calendar.next_working_day(day)
        if window.opens(day) >= reached and (not_before is None or not_before < window.closes(day)):
            return day
        day += timedelta(days=1)
