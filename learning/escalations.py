"""The escalation planner's decisions: which reached ladder steps are told now, to whom.

For every open *required* item of an active learner who is not away, the ladder
(learning.ladder) says which steps are reached on the learner's local date. Steps that
notify the learner need no message: the learner's digest shows them. Steps that notify
the manager or the skip-level become one bundled DM per recipient per local working day,
sent in the recipient's own send window (their ``send_time`` + ``send_window``).

Rules decided here:

* Steps go in order: a skip-level is never told before the manager was.
* A recipient who already had today's DM waits for their next working day; an item that
  reached the manager step while its manager is asleep waits for the manager's morning.
* Chain rules (learning.chain): inactive, away or unreachable managers are skipped; when
  nobody is left, the admins get the notice instead, at the organisation's send time.
* An open extension request pauses the item's ladder; deciding it moves it on.

Nothing here reads the database or the clock: the job (``schedules.escalations``) reads
the candidate items, the open requests, the people and the DMs already sent, passes
``now``, and writes what is decided here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from learning.calendar import WorkCalendar
from learning.chain import ChainPerson, PeopleIndex
from learning.curriculum import ProgramSettings
from learning.ladder import (
    TELLS_SOMEONE_ELSE,
    SendWindow,
    escalation_window,
    notice_day,
    overdue_working_days,
    reached_steps,
    step_date,
)
from learning.planner import open_windows

ADMINS = "admins"


class LadderRow(NamedTuple):
    """One open required item that may have reached a step (the job's query row)."""

    assignment_id: int
    person_id: int
    due: date
    done_steps: int  # ``Assignment.ladder_step``: steps already acted on
    paused_days: int
    item_key: str
    item_title: str
    next_on: date | None  # the bookmark: the next step's date, for ``next_due``
    next_due: date | None


@dataclass(frozen=True)
class Recipient:
    """Who gets a notice: a person, or the admins (channel, or DMs when none is set)."""

    key: str  # "person:{id}" or "admins"
    person: ChainPerson | None


@dataclass
class Notice:
    """One reached step of one item that tells someone else."""

    assignment_id: int
    step_index: int
    step: str  # "manager" | "skip_level"
    recipient: Recipient
    learner: ChainPerson
    item_key: str
    item_title: str
    due: date
    overdue: int
    told_first: str | None  # for a skip-level notice: who was told at the manager step
    tell_on: date  # the recipient's local date it is told (learning.ladder.notice_day)


class Bookmark(NamedTuple):
    """An item not looked at again until its next step's date ``next_on``."""

    assignment_id: int
    next_on: date
    due: date


class Wait(NamedTuple):
    """An item not looked at again until its recipient's next send window, ``until``."""

    assignment_id: int
    until: datetime
    due: date


@dataclass
class Reached:
    """Every reached, un-notified step of the candidate items, in ladder order."""

    notices: dict[int, list[Notice]] = field(default_factory=dict)  # by assignment id
    advance_only: dict[int, int] = field(default_factory=dict)  # learner steps: new step
    bookmarks: list[Bookmark] = field(default_factory=list)

    def recipients(self) -> dict[str, Recipient]:
        """Everyone a reached step tells, by recipient key."""
        return {n.recipient.key: n.recipient for ns in self.notices.values() for n in ns}


@dataclass
class Decision:
    """What is told now, and what waits."""

    bundles: dict[str, list[Notice]]  # recipient key -> notices in their DM now
    new_step: dict[int, int]  # assignment id -> its ``ladder_step`` once told
    waits: list[Wait]
    waiting: int  # reached steps whose recipient's window is not open (or had today's)


def telling_days(settings: ProgramSettings) -> list[int]:
    """The overdue working days of the steps that tell someone else (empty: none do)."""
    return [s.after_overdue for s in settings.escalation.steps if s.notify in TELLS_SOMEONE_ELSE]


def candidate_cutoff(settings: ProgramSettings, *, now: datetime) -> tuple[date, date]:
    """``(latest_today, cutoff)``: the latest local date anywhere at ``now``, and the
    latest due date that can have reached a telling step by then."""
    # No time zone is more than a day ahead of UTC; overdue working days never exceed
    # calendar days, so nothing due after the cutoff can have reached a telling step.
    latest_today = (now + timedelta(days=1)).date()
    return latest_today, latest_today - timedelta(days=max(1, min(telling_days(settings))))


class _Ladders:
    """Dates of one pass, memoised: many items share a zone, a due date and a pause."""

    def __init__(self, settings: ProgramSettings, people: PeopleIndex, now: datetime) -> None:
        self.settings = settings
        self.people = people
        self.now = now
        self.steps = settings.escalation.steps
        self.org_zone = settings.organisation.timezone
        # Holidays only ever push a step later, so dates counted without them are a lower
        # bound that holds in every region (a person may move zones between ticks).
        self.plain = WorkCalendar(settings.calendar_for(self.org_zone).working_weekdays)
        self.calendars: dict[str, WorkCalendar] = {}
        self._todays: dict[str, date] = {}
        self._reached: dict[tuple[str, date, int], tuple[int, ...]] = {}
        self._next: dict[tuple[date, int, int], date] = {}
        self._takers: dict[int, tuple[ChainPerson | None, ChainPerson | None]] = {}
        self._windows: dict[str, SendWindow] = {}
        self._tell_on: dict[tuple[str, date, int, int, str], date] = {}

    def today(self, zone: str) -> date:
        """The local date in ``zone`` (and its calendar loaded)."""
        today = self._todays.get(zone)
        if today is None:
            today = self._todays[zone] = self.now.astimezone(ZoneInfo(zone)).date()
            self.calendars[zone] = self.settings.calendar_for(zone)
        return today

    def reached(self, zone: str, due: date, paused_days: int) -> tuple[int, ...]:
        key = (zone, due, paused_days)
        if key not in self._reached:
            self._reached[key] = reached_steps(
                self.settings.escalation,
                due=due,
                today=self._todays[zone],
                calendar=self.calendars[zone],
                paused_days=paused_days,
            )
        return self._reached[key]

    def next_step_on(self, due: date, paused_days: int, done_steps: int) -> date:
        """A lower bound of the date the next step is reached, in any region."""
        key = (due, paused_days, done_steps)
        if key not in self._next:
            self._next[key] = step_date(
                self.steps[done_steps], due=due, calendar=self.plain, paused_days=paused_days
            )
        return self._next[key]

    def takers(self, person_id: int) -> tuple[ChainPerson | None, ChainPerson | None]:
        if person_id not in self._takers:
            self._takers[person_id] = self.people.takers(person_id, self.now)
        return self._takers[person_id]

    def tell_on(self, zone: str, due: date, paused_days: int, index: int, taker_zone: str) -> date:
        """The day the learner's digest announced: the job keeps it."""
        key = (zone, due, paused_days, index, taker_zone)
        if key not in self._tell_on:
            if taker_zone not in self._windows:
                self._windows[taker_zone] = escalation_window(self.settings, taker_zone)
            step_on = step_date(
                self.steps[index], due=due, calendar=self.calendars[zone], paused_days=paused_days
            )
            self._tell_on[key] = notice_day(
                step_on, learner_zone=zone, window=self._windows[taker_zone]
            )
        return self._tell_on[key]


def reached_notices(
    rows: list[LadderRow],
    *,
    paused: set[int],
    people: PeopleIndex,
    settings: ProgramSettings,
    now: datetime,
) -> Reached:
    """Every reached, un-notified step of ``rows``, in ladder order, as of ``now``.

    Items in ``paused`` (an open extension request) and items of away or unknown
    learners are left alone; an item with no step reached gets a bookmark (unless it
    has that one already).
    """
    ladders = _Ladders(settings, people, now)
    reached = Reached()
    for row in rows:
        if row.assignment_id in paused:
            continue
        learner = people.get(row.person_id)
        if learner is None:
            continue
        zone = learner.timezone or ladders.org_zone
        today = ladders.today(zone)
        if learner.away_until is not None and learner.away_until >= today:  # type: ignore[operator]
            continue  # away people are not chased, and not counted against
        steps = [i for i in ladders.reached(zone, row.due, row.paused_days) if i >= row.done_steps]
        if steps:
            _add_item_notices(reached, row, learner, steps, zone=zone, ladders=ladders)
            continue
        next_on = ladders.next_step_on(row.due, row.paused_days, row.done_steps)
        if (row.next_on, row.next_due) != (next_on, row.due):
            reached.bookmarks.append(Bookmark(row.assignment_id, next_on, row.due))
    return reached


def _add_item_notices(
    reached: Reached,
    row: LadderRow,
    learner: ChainPerson,
    steps: list[int],
    *,
    zone: str,
    ladders: _Ladders,
) -> None:
    """Add one item's reached ``steps`` to ``reached``: notices for the steps that tell
    someone, or the new step when only learner steps come first."""
    manager, skip = ladders.takers(row.person_id)
    overdue = overdue_working_days(
        due=row.due,
        today=ladders.today(zone),
        calendar=ladders.calendars[zone],
        paused_days=row.paused_days,
    )
    notices: list[Notice] = []
    for index in steps:
        step = ladders.steps[index].notify
        if step == "learner":
            if not notices:
                reached.advance_only[row.assignment_id] = index + 1
            continue
        taker = manager if step == "manager" else skip
        told_first = manager.name if step == "skip_level" and manager else None
        taker_zone = (taker.timezone if taker else None) or ladders.org_zone
        notices.append(
            Notice(
                row.assignment_id,
                index,
                step,
                recipient_of(taker),
                learner,
                row.item_key,
                row.item_title,
                row.due,
                overdue,
                told_first,
                ladders.tell_on(zone, row.due, row.paused_days, index, taker_zone),
            )
        )
    if notices:
        reached.notices[row.assignment_id] = notices


def recipient_of(taker: ChainPerson | None) -> Recipient:
    """The recipient for a step's taker; nobody left in the chain: the admins."""
    return Recipient(f"person:{taker.id}", taker) if taker else Recipient(ADMINS, None)


def todays_keys(
    recipients: dict[str, Recipient], *, now: datetime, settings: ProgramSettings
) -> dict[str, str]:
    """The outbox key of today's DM of each recipient whose send window is open at
    ``now`` (``escalation:{who}:{their local date}``), by recipient key."""
    cache: dict[str, str | None] = {}
    keys = {
        key: today_key(recipient, now=now, settings=settings, cache=cache)
        for key, recipient in recipients.items()
    }
    return {key: k for key, k in keys.items() if k is not None}


def today_key(
    recipient: Recipient,
    *,
    now: datetime,
    settings: ProgramSettings,
    cache: dict[str, str | None],
) -> str | None:
    """The outbox key of ``recipient``'s DM today, or None if their window is not open."""
    zone = (
        recipient.person.timezone if recipient.person else None
    ) or settings.organisation.timezone
    if zone not in cache:
        windows = open_windows([zone], now=now, settings=settings)
        cache[zone] = windows[0].today.isoformat() if windows else None
    day = cache[zone]
    if day is None:
        return None
    who = recipient.person.id if recipient.person else ADMINS
    return f"escalation:{who}:{day}"


def recipient_day(key: str) -> date:
    """The recipient's local date in an ``escalation:{who}:{date}`` key."""
    return date.fromisoformat(key.rsplit(":", 1)[1])


def take_steps(
    reached: Reached,
    *,
    keys: dict[str, str],
    sent: set[str],
    now: datetime,
    settings: ProgramSettings,
) -> Decision:
    """Take each item's steps in order while their recipient can be told now.

    Args:
        reached: The reached steps (``reached_notices``).
        keys: Today's DM key of each recipient whose window is open (``todays_keys``).
        sent: Those of ``keys`` already in the outbox: that recipient had today's DM.
        now: The instant of this pass.
        settings: The program settings (send time, for the waits).
    """
    can_tell = {key for key, k in keys.items() if k not in sent}
    decision = Decision(bundles={}, new_step=dict(reached.advance_only), waits=[], waiting=0)
    for assignment_id, notices in reached.notices.items():
        for notice in notices:
            key = notice.recipient.key
            if key not in can_tell or recipient_day(keys[key]) < notice.tell_on:
                # Not their window, told already today, or not yet the announced day
                # (the step came in the middle of their window: their next morning).
                decision.waiting += 1
                if assignment_id not in decision.new_step:  # nothing to mark: wait
                    until = next_send_at(notice.recipient, now=now, settings=settings)
                    decision.waits.append(Wait(assignment_id, until, notice.due))
                break
            decision.bundles.setdefault(key, []).append(notice)
            decision.new_step[assignment_id] = notice.step_index + 1
    return decision


def next_send_at(recipient: Recipient, *, now: datetime, settings: ProgramSettings) -> datetime:
    """The next start of ``recipient``'s send window after ``now`` (UTC): the earliest
    they can be told, whether their window is not open yet, is over, or they had today's
    DM. A holiday or weekend there just means the item is looked at and waits again."""
    zone = ZoneInfo(
        (recipient.person.timezone if recipient.person else None) or settings.organisation.timezone
    )
    local = now.astimezone(zone)
    send_at = datetime.combine(local.date(), settings.cadence.send_time, tzinfo=zone)
    if send_at <= local:
        send_at = datetime.combine(
            local.date() + timedelta(days=1), settings.cadence.send_time, tzinfo=zone
        )
    return send_at.astimezone(UTC)
