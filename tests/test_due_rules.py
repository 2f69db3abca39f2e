"""The date rules as pure functions: due dates of fact, prerequisite release, and the
day a ladder step is really told. No database, no clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from learning.calendar import WorkCalendar
from learning.curriculum import Escalation, LadderStep
from learning.enrollment import (
    CURRICULUM,
    PREREQUISITE,
    ROLE,
    ROLE_START,
    DueBasis,
    Held,
    LearningPath,
    PathItem,
    Person,
    due_on,
    plan_enrollment,
    release,
    settle_redate,
    waiting_for,
)
from learning.ladder import SendWindow, next_telling_step, notice_day, step_date

WEEKDAYS = WorkCalendar(holidays=frozenset({date(2026, 3, 6)}))  # Fri 6 March off
MON = date(2026, 3, 2)

# engineer: intro (due 0), safety (3), quiz (1, requires safety), shadow (suggested, 10,
# requires intro); tier 2 from day 31: advanced (5, requires quiz).
INTRO, SAFETY, QUIZ, SHADOW, ADVANCED = 1, 2, 3, 4, 5
ENGINEER = LearningPath(
    "engineer",
    (
        PathItem(INTRO, 10, 0, True, 0),
        PathItem(SAFETY, 10, 0, True, 3),
        PathItem(QUIZ, 10, 0, True, 1, (SAFETY,)),
        PathItem(SHADOW, 10, 0, False, 10, (INTRO,)),
        PathItem(ADVANCED, 11, 31, True, 5, (QUIZ,)),
    ),
)


def entry(item_id: int, path: LearningPath = ENGINEER) -> PathItem:
    return next(e for e in path.items if e.item_id == item_id)


def person(today: date, *, role: str = "engineer", start: date = MON) -> Person:
    return Person(role, start, today, WEEKDAYS, after_prerequisite=3)


def enroll(path: LearningPath, who: Person, held: list[Held] = ()) -> list[Held]:  # type: ignore[assignment]
    """Apply one enrollment pass to ``held`` as the database would: the new state."""
    changes = plan_enrollment(path, who, held)
    by_id = {h.id: h for h in held}
    for update in changes.update:
        old = by_id[update.assignment_id]
        by_id[old.id] = replace(
            old,
            tier_id=update.tier_id,
            required=update.required,
            due_date=update.new_due,
            basis=update.basis,
        )
    for assignment_id, want in changes.reopen:
        by_id[assignment_id] = replace(
            by_id[assignment_id],
            status="open",
            due_date=want.due_date,
            basis=want.basis,
            due_pinned=False,
        )
    for assignment_id in changes.close:
        by_id[assignment_id] = replace(by_id[assignment_id], status="closed")
    next_id = max(by_id, default=0) + 1
    for want in changes.create:
        by_id[next_id] = Held(
            next_id,
            want.item_id,
            0,
            "open",
            want.tier_id,
            want.required,
            want.due_date,
            who.today,
            False,
            want.basis,
        )
        next_id += 1
    return list(by_id.values())


def dates(held: list[Held]) -> dict[int, date | None]:
    return {h.item_id: h.due_date for h in held if h.status == "open"}


def done(held: list[Held], item_id: int) -> list[Held]:
    return [replace(h, status="completed") if h.item_id == item_id else h for h in held]


# --- due dates of fact -------------------------------------------------------------------


def test_an_offset_counts_working_days_from_the_tier_start_or_a_later_assignment_day():
    basis = DueBasis("engineer", MON, 0, 3, counted_from=MON)
    assert due_on(basis, calendar=WEEKDAYS, after_prerequisite=3) == date(2026, 3, 5)
    # Assigned on Wed 11 March, long after the tier began: its full offset from then.
    late = replace(basis, counted_from=date(2026, 3, 11))
    assert due_on(late, calendar=WEEKDAYS, after_prerequisite=3) == date(2026, 3, 16)


def test_a_released_item_is_due_no_earlier_than_its_tier_date_nor_n_days_after_release():
    basis = DueBasis("engineer", MON, 0, 10, counted_from=MON)  # tier date: Tue 17 March
    early = replace(basis, released_on=MON)
    assert due_on(early, calendar=WEEKDAYS, after_prerequisite=3) == date(2026, 3, 17)
    late = replace(basis, released_on=date(2026, 3, 16))
    assert due_on(late, calendar=WEEKDAYS, after_prerequisite=3) == date(2026, 3, 19)


def test_enrollment_on_later_days_changes_no_date():
    held = enroll(ENGINEER, person(MON))
    before = dates(held)
    for day in range(1, 30):
        today = MON + timedelta(days=day)
        changes = plan_enrollment(ENGINEER, person(today), held)
        assert not changes.update and not changes.create, today
    assert (
        dates(held)
        == before
        == {
            INTRO: MON,
            SAFETY: date(2026, 3, 5),
            QUIZ: None,  # waits for safety
            SHADOW: None,  # a suggestion waits for its (required) prerequisite too
        }
    )


# --- prerequisites ---------------------------------------------------------------------


def test_only_a_prerequisite_on_the_path_and_not_merely_suggested_holds_an_item_back():
    suggested_safety = LearningPath(
        "x", (PathItem(SAFETY, 1, 0, False, 3), PathItem(QUIZ, 1, 0, True, 1, (SAFETY,)))
    )
    assert waiting_for(entry(QUIZ), ENGINEER, done=()) == (SAFETY,)
    assert waiting_for(entry(QUIZ), ENGINEER, done={SAFETY}) == ()
    assert waiting_for(entry(QUIZ, suggested_safety), suggested_safety, done=()) == ()
    off_path = LearningPath("y", (PathItem(QUIZ, 1, 0, True, 1, (SAFETY,)),))
    assert waiting_for(entry(QUIZ, off_path), off_path, done=()) == ()


def test_a_waiting_item_is_released_once_counting_from_the_day_it_was_recorded():
    basis = DueBasis("engineer", MON, 0, 1, counted_from=MON)
    still = release(
        entry(QUIZ), ENGINEER, basis, done=(), today=MON, calendar=WEEKDAYS, after_prerequisite=3
    )
    assert still is None
    # Safety recorded done on Thu 12 March (an LMS import of work done in February):
    # due 3 working days after the day it was recorded, not after the work.
    released = release(
        entry(QUIZ),
        ENGINEER,
        basis,
        done={SAFETY},
        today=date(2026, 3, 12),
        calendar=WEEKDAYS,
        after_prerequisite=3,
    )
    assert released is not None
    assert released[1] == date(2026, 3, 17)
    assert released[0].released_on == date(2026, 3, 12)


def test_enrollment_releases_an_item_whose_prerequisite_no_longer_holds_it():
    held = enroll(ENGINEER, person(MON))
    held = done(held, SAFETY)  # recorded by a path that did not release it
    changes = plan_enrollment(ENGINEER, person(date(2026, 3, 9)), held)
    [update] = changes.update
    assert (update.item_id, update.event, update.new_due) == (QUIZ, PREREQUISITE, date(2026, 3, 12))


# --- named events ------------------------------------------------------------------------


def test_a_role_change_re_dates_shared_open_items_from_the_day_of_the_change():
    sales = LearningPath("sales", (PathItem(INTRO, 20, 0, True, 2), PathItem(9, 20, 0, True, 5)))
    held = enroll(ENGINEER, person(MON))
    changes = plan_enrollment(sales, person(date(2026, 3, 16), role="sales"), held)
    [update] = changes.update
    assert (update.item_id, update.event, update.old_due, update.new_due) == (
        INTRO,
        ROLE,
        MON,
        date(2026, 3, 18),
    )
    assert len(changes.create) == 1 and len(changes.close) == 3


def test_a_later_role_start_re_dates_and_an_earlier_one_never_shortens_a_date():
    held = enroll(ENGINEER, person(MON))
    # Tue 10 March, the start corrected to Mon 9: safety is due 3 working days after it;
    # intro, overdue under the old start and the new alike, keeps its date and ladder.
    later = plan_enrollment(ENGINEER, person(date(2026, 3, 10), start=date(2026, 3, 9)), held)
    assert [(u.item_id, u.event, u.new_due) for u in later.redated] == [
        (SAFETY, ROLE_START, date(2026, 3, 12))
    ]
    [kept] = [u for u in later.update if u.item_id == INTRO]
    assert (kept.event, kept.new_due) == (ROLE_START, MON)
    earlier = plan_enrollment(ENGINEER, person(date(2026, 3, 3), start=date(2026, 2, 2)), held)
    assert earlier.redated == []  # counted from the day they were assigned, as before


def test_a_curriculum_offset_change_recomputes_from_the_stored_inputs():
    held = enroll(ENGINEER, person(MON))
    longer = LearningPath(
        "engineer", tuple(replace(e, due_working_days=7) if e.item_id == SAFETY else e
                          for e in ENGINEER.items)
    )  # fmt: skip
    [update] = plan_enrollment(longer, person(date(2026, 3, 3)), held).redated
    assert (update.item_id, update.event, update.new_due) == (SAFETY, CURRICULUM, date(2026, 3, 12))


def test_a_curriculum_change_never_makes_anyone_overdue_on_the_spot():
    assert settle_redate(old=date(2026, 3, 20), recomputed=MON, today=date(2026, 3, 10),
                         required=True) == date(2026, 3, 10)  # fmt: skip
    # Overdue under the old and the new offset: keeps its date (and its ladder).
    assert settle_redate(old=date(2026, 3, 5), recomputed=date(2026, 3, 6),
                         today=date(2026, 3, 10), required=True) == date(2026, 3, 5)  # fmt: skip
    # Overdue before, not after: it gets the new date.
    assert settle_redate(old=date(2026, 3, 5), recomputed=date(2026, 3, 12),
                         today=date(2026, 3, 10), required=True) == date(2026, 3, 12)  # fmt: skip


def test_a_suggestion_made_required_gets_its_full_offset_from_the_change():
    path = LearningPath("x", (PathItem(SHADOW, 1, 0, False, 10),))
    held = enroll(path, person(MON))
    required = LearningPath("x", (PathItem(SHADOW, 1, 0, True, 10),))
    [update] = plan_enrollment(required, person(date(2026, 3, 23)), held).redated
    assert (update.event, update.required, update.new_due) == (CURRICULUM, True, date(2026, 4, 6))


def test_a_pinned_date_stays_and_an_adopted_item_keeps_its_date():
    held = enroll(ENGINEER, person(MON))
    pinned = [replace(h, due_pinned=True) if h.item_id == SAFETY else h for h in held]
    changes = plan_enrollment(ENGINEER, person(date(2026, 3, 3), start=date(2026, 3, 9)), pinned)
    assert SAFETY not in {u.item_id for u in changes.redated}
    admin = [replace(h, basis=None, tier_id=None) if h.item_id == INTRO else h for h in held]
    [adopt] = [u for u in plan_enrollment(ENGINEER, person(MON), admin).update]
    assert (adopt.item_id, adopt.event, adopt.new_due, adopt.tier_id) == (INTRO, None, MON, 10)


# --- when a ladder step is told --------------------------------------------------------

LADDER = Escalation(
    steps=[
        LadderStep(after_overdue=3, notify="learner"),
        LadderStep(after_overdue=5, notify="manager"),
        LadderStep(after_overdue=10, notify="skip_level"),
    ]
)


def window(zone: str, *holidays: date) -> SendWindow:
    return SendWindow(zone, WorkCalendar(holidays=frozenset(holidays)), time(9, 30), 240)


def test_the_next_telling_step_follows_the_ladder_state():
    assert next_telling_step(LADDER, told=0) == (1, LADDER.steps[1])
    assert next_telling_step(LADDER, told=2) == (2, LADDER.steps[2])
    assert next_telling_step(LADDER, told=3) is None


def test_a_step_is_told_on_the_recipients_day_in_their_send_window():
    london = window("Europe/London")
    assert notice_day(date(2026, 3, 13), learner_zone="Europe/London", window=london) == date(
        2026, 3, 13
    )
    # A Sydney learner reaches the step on Wed 11 March; Los Angeles is still on Tue 10
    # when its 09:30 comes (Wed 04:30 in Sydney): told then, on the manager's Tuesday.
    la = window("America/Los_Angeles")
    assert notice_day(date(2026, 3, 11), learner_zone="Australia/Sydney", window=la) == date(
        2026, 3, 10
    )
    # A Los Angeles learner's Wed 11 begins at 18:00 in Sydney: past that morning's send
    # time, so the Sydney manager is told on Thu 12.
    sydney = window("Australia/Sydney")
    assert notice_day(date(2026, 3, 11), learner_zone="America/Los_Angeles", window=sydney) == (
        date(2026, 3, 12)
    )


def test_a_recipient_on_holiday_is_told_on_their_next_working_day():
    off = window("America/Los_Angeles", date(2026, 3, 10))
    assert notice_day(date(2026, 3, 11), learner_zone="Australia/Sydney", window=off) == date(
        2026, 3, 11
    )
    friday = window("Europe/London", date(2026, 3, 13))
    assert notice_day(date(2026, 3, 13), learner_zone="Europe/London", window=friday) == date(
        2026, 3, 16
    )


def test_a_day_whose_window_has_closed_is_not_announced():
    london = window("Europe/London")
    evening = datetime(2026, 3, 13, 18, 0, tzinfo=UTC)
    morning = datetime(2026, 3, 13, 10, 0, tzinfo=UTC)
    step_on = date(2026, 3, 12)
    assert notice_day(step_on, learner_zone="Europe/London", window=london) == date(2026, 3, 12)
    assert notice_day(
        step_on, learner_zone="Europe/London", window=london, not_before=morning
    ) == date(2026, 3, 13)
    assert notice_day(
        step_on, learner_zone="Europe/London", window=london, not_before=evening
    ) == date(2026, 3, 16)


def test_step_dates_count_the_learners_working_days_and_pauses():
    due = date(2026, 3, 5)
    manager = LADDER.steps[1]
    assert step_date(manager, due=due, calendar=WEEKDAYS) == date(2026, 3, 13)
    assert step_date(manager, due=due, calendar=WEEKDAYS, paused_days=2) == date(2026, 3, 17)
