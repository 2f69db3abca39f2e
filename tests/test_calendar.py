"""Working days, local dates and DST."""

from datetime import UTC, date, datetime

from learning.calendar import WorkCalendar
from learning.clock import FrozenClock, local_date
from learning.curriculum import load_curriculum

WEEKDAYS = frozenset(range(5))


def test_due_date_skips_the_weekend():
    calendar = WorkCalendar(WEEKDAYS)
    # Thursday 5 March 2026 + 2 working days: Friday, then Monday (the weekend is skipped).
    assert calendar.add_working_days(date(2026, 3, 5), 2) == date(2026, 3, 9)


def test_due_date_skips_a_holiday_and_the_weekend():
    calendar = WorkCalendar(WEEKDAYS, frozenset({date(2026, 3, 6)}))
    assert calendar.add_working_days(date(2026, 3, 5), 1) == date(2026, 3, 9)
    assert calendar.add_working_days(date(2026, 3, 5), 2) == date(2026, 3, 10)


def test_zero_offset_from_a_weekend_start_is_the_next_monday():
    calendar = WorkCalendar(WEEKDAYS)
    assert calendar.add_working_days(date(2026, 3, 7), 0) == date(2026, 3, 9)


def test_working_days_between_counts_neither_weekend_nor_holiday():
    calendar = WorkCalendar(WEEKDAYS, frozenset({date(2026, 3, 6)}))
    # Due Wed 4 March; on Tue 10 March it is Thu, Mon, Tue overdue (Fri is a holiday).
    assert calendar.working_days_between(date(2026, 3, 4), date(2026, 3, 10)) == 3
    assert calendar.working_days_between(date(2026, 3, 10), date(2026, 3, 4)) == -3


def test_same_utc_instant_is_a_different_local_date_in_kolkata_and_los_angeles():
    instant = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)
    assert local_date(instant, "Asia/Kolkata") == date(2026, 3, 3)  # 01:30 next day
    assert local_date(instant, "America/Los_Angeles") == date(2026, 3, 2)  # 12:00


def test_kolkata_half_hour_offset_changes_date_at_1830_utc():
    assert local_date(datetime(2026, 3, 2, 18, 29, tzinfo=UTC), "Asia/Kolkata") == date(2026, 3, 2)
    assert local_date(datetime(2026, 3, 2, 18, 30, tzinfo=UTC), "Asia/Kolkata") == date(2026, 3, 3)


def test_local_dates_follow_dst_changes_in_both_hemispheres():
    # Los Angeles springs forward on Sun 8 March 2026: 07:30 UTC is 23:30 PST the day
    # before; a week later the same UTC instant is 00:30 PDT on the next date.
    assert local_date(datetime(2026, 3, 7, 7, 30, tzinfo=UTC), "America/Los_Angeles") == date(
        2026, 3, 6
    )
    assert local_date(datetime(2026, 3, 14, 7, 30, tzinfo=UTC), "America/Los_Angeles") == date(
        2026, 3, 14
    )
    # Sydney falls back on Sun 5 April 2026 (AEDT +11 -> AEST +10): 13:30 UTC is
    # 00:30 the next day before the change and 23:30 the same day after it.
    assert local_date(datetime(2026, 4, 2, 13, 30, tzinfo=UTC), "Australia/Sydney") == date(
        2026, 4, 3
    )
    assert local_date(datetime(2026, 4, 9, 13, 30, tzinfo=UTC), "Australia/Sydney") == date(
        2026, 4, 9
    )


def test_working_day_count_across_a_dst_week_is_unchanged():
    calendar = WorkCalendar(WEEKDAYS)
    clock = FrozenClock(datetime(2026, 3, 6, 17, 0, tzinfo=UTC))  # Fri 09:00 PST
    start = local_date(clock.now(), "America/Los_Angeles")
    clock.set(datetime(2026, 3, 13, 16, 0, tzinfo=UTC))  # Fri 09:00 PDT, a week later
    end = local_date(clock.now(), "America/Los_Angeles")
    assert (start, end) == (date(2026, 3, 6), date(2026, 3, 13))
    assert calendar.working_days_between(start, end) == 5


def test_regional_holidays_apply_only_to_that_region():
    settings = load_curriculum("examples/programs.yml").config.settings()
    republic_day = date(2027, 1, 26)
    assert not settings.calendar_for("Asia/Kolkata").is_working_day(republic_day)
    assert not settings.calendar_for("Australia/Sydney").is_working_day(republic_day)
    assert settings.calendar_for("Europe/London").is_working_day(republic_day)
    # Holidays "everywhere" apply to everyone, and a missing zone means the org's zone.
    assert not settings.calendar_for(None).is_working_day(date(2026, 12, 25))
    assert not settings.calendar_for(None).is_working_day(date(2026, 12, 28))  # UK only
