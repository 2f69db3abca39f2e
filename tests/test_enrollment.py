"""Enrollment: due dates in working days, tiers over time, role changes, idempotence."""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from learning.progress import person_status
from models import Assignment, Item, Person
from tests.conftest import snapshot
from tests.helpers import PROGRAMS, people_csv


@pytest.fixture
def org(cli, write):
    """The test program loaded, and a writer for people files."""
    assert cli("load-config", write("programs.yml", PROGRAMS)).code == 0

    def import_people(*rows: str, flags: tuple[str, ...] = ()):
        result = cli("import-people", write("people.csv", people_csv(*rows)), *flags)
        assert result.code == 0, result.err
        return result

    return import_people


def items_of(db, email: str) -> dict[str, tuple[str, date | None]]:
    with db.session() as session:
        person = session.scalars(select(Person).where(Person.email == email)).one()
        rows = session.execute(
            select(Item.key, Assignment.status, Assignment.due_date)
            .join(Item, Item.id == Assignment.item_id)
            .where(Assignment.person_id == person.id)
        )
        return {key: (status, due) for key, status, due in rows}


def test_first_tier_due_dates_count_working_days_and_skip_holidays(org, db):
    org("ana@x.io,Ana,,engineer,Web,2026-03-02,Europe/London,")
    assert items_of(db, "ana@x.io") == {
        "intro": ("open", date(2026, 3, 2)),  # due 0: the first day
        "safety": ("open", date(2026, 3, 5)),  # Tue, Wed, Thu
        # Waits for its prerequisite, safety: no due date until that is done.
        "safety-quiz": ("open", None),
        # 10 working days: Fri 6 March is a holiday everywhere, weekends skipped.
        "shadow": ("open", date(2026, 3, 17)),
    }


def test_regional_holiday_moves_due_dates_only_in_that_region(org, db):
    org(
        "ana@x.io,Ana,,engineer,Web,2026-03-02,Europe/London,",
        "ravi@x.io,Ravi,ana@x.io,engineer,Web,2026-03-02,Asia/Kolkata,",
    )
    # Wed 4 March is a holiday in India: Tue, Thu, (Fri holiday), Mon.
    assert items_of(db, "ravi@x.io")["safety"] == ("open", date(2026, 3, 9))
    assert items_of(db, "ana@x.io")["safety"] == ("open", date(2026, 3, 5))


def test_second_tier_items_appear_when_the_second_tier_starts(org, db, cli, clock, write):
    org("ana@x.io,Ana,,engineer,Web,2026-03-02,Europe/London,")
    # Its prerequisites done, "advanced" does not wait for them.
    done = "email,item,completed_at,score\nana@x.io,safety,2026-03-02,\n"
    done += "ana@x.io,safety-quiz,2026-03-02,90\n"
    assert cli("import-completions", write("done.csv", done)).code == 0
    clock.set(datetime(2026, 4, 1, 12, 0, tzinfo=UTC))  # day 30 of the role
    assert cli("enroll").code == 0
    assert "advanced" not in items_of(db, "ana@x.io")
    clock.set(datetime(2026, 4, 2, 12, 0, tzinfo=UTC))  # day 31: "Proficient" starts
    assert cli("enroll").code == 0
    # Thu 2 April + 5 working days.
    assert items_of(db, "ana@x.io")["advanced"] == ("open", date(2026, 4, 9))


def test_tier_start_follows_the_persons_local_date(org, db, cli, clock):
    org(
        "ana@x.io,Ana,,engineer,Web,2026-03-02,America/Los_Angeles,",
        "raj@x.io,Raj,ana@x.io,engineer,Web,2026-03-02,Asia/Kolkata,",
    )
    # 20:00 UTC on 1 April: already 2 April in Kolkata, still 1 April in Los Angeles.
    clock.set(datetime(2026, 4, 1, 20, 0, tzinfo=UTC))
    cli("enroll")
    assert "advanced" in items_of(db, "raj@x.io")
    assert "advanced" not in items_of(db, "ana@x.io")


def test_enrolling_twice_changes_nothing(org, db, cli):
    org("ana@x.io,Ana,,engineer,Web,2026-03-02,Europe/London,")
    before = snapshot(db)
    result = cli("enroll")
    assert result.out.startswith("0 people's assignments changed")
    assert snapshot(db) == before


def test_someone_enrolled_long_after_their_role_began_does_not_start_overdue(org, db):
    org("old@x.io,Olga,,engineer,Web,2025-01-06,Europe/London,")
    items = items_of(db, "old@x.io")
    # Offsets count from the day of assignment (Mon 2 March 2026), not from 2025.
    assert items["intro"] == ("open", date(2026, 3, 2))
    assert items["safety"] == ("open", date(2026, 3, 5))
    assert items["advanced"] == ("open", None)  # waits for safety-quiz, which waits for safety


def test_role_change_restarts_the_clock_and_keeps_shared_completions(org, db, cli, write, clock):
    org("ana@x.io,Ana,,engineer,Web,2026-03-02,Europe/London,")
    done = write("done.csv", "email,item,completed_at,score\nana@x.io,safety,2026-03-02,\n")
    assert cli("import-completions", done).code == 0
    clock.set(datetime(2026, 3, 16, 9, 0, tzinfo=UTC))
    result = org("ana@x.io,Ana,,sales,Sales,2026-03-16,Europe/London,")
    assert "role or role start changed (tier clock restarted): 1 (ana@x.io)" in result.out
    assert items_of(db, "ana@x.io") == {
        "intro": ("open", date(2026, 3, 16)),  # shared and open: re-dated from the new start
        "safety": ("completed", date(2026, 3, 5)),  # shared and done: still counts
        "sales-101": ("open", date(2026, 3, 23)),
        # Released when safety was recorded done (Mon 2): 3 working days later. Not on
        # the sales path.
        "safety-quiz": ("closed", date(2026, 3, 5)),
        "shadow": ("closed", date(2026, 3, 17)),
    }
    with db.session() as session:
        status = person_status(session, "ana@x.io", clock=clock)
    [tier] = status.tiers
    assert tier.required_done == (1, 3)


def test_changing_a_due_offset_re_dates_open_assignments_only(org, db, cli, write):
    org("ana@x.io,Ana,,engineer,Web,2026-03-02,Europe/London,")
    cli(
        "import-completions",
        write("done.csv", "email,item,completed_at,score\nana@x.io,intro,2026-03-02,\n"),
    )
    changed = PROGRAMS.replace(
        "{item: safety, required: true, due: 3}", "{item: safety, required: true, due: 7}"
    )
    changed = changed.replace(
        "{item: intro, required: true, due: 0}", "{item: intro, required: true, due: 2}", 1
    )
    result = cli("load-config", write("programs2.yml", changed))
    assert result.code == 0
    assert "programs: 0 added, 1 changed (engineer), 0 removed" in result.out
    assert "1 people's assignments changed: 0 assigned, 1 re-dated" in result.out
    assert "1 open item got a new due date: ana@x.io safety Thu 5 Mar 2026 -> Thu 12 Mar 2026" in (
        result.out
    )
    items = items_of(db, "ana@x.io")
    assert items["safety"] == ("open", date(2026, 3, 12))
    assert items["safety-quiz"] == ("open", None)  # still waits for safety
    assert items["intro"] == ("completed", date(2026, 3, 2))  # done: left as it was


def test_removing_an_item_closes_open_work_and_keeps_history(org, db, cli, write, clock):
    org("ana@x.io,Ana,,engineer,Web,2026-03-02,Europe/London,")
    cli(
        "import-completions",
        write("done.csv", "email,item,completed_at,score\nana@x.io,intro,2026-03-02,\n"),
    )
    without = PROGRAMS.replace("          - {item: intro, required: true, due: 0}\n", "")
    without = without.replace("          - {item: shadow, due: 10}\n", "")
    without = without.replace(
        "  shadow:\n    title: Shadow a colleague\n    method: shadowing\n    minutes: 240\n", ""
    )
    result = cli("load-config", write("programs2.yml", without))
    assert result.code == 0, result.err
    assert "items: 0 added, 0 changed, 1 removed (shadow)" in result.out
    items = items_of(db, "ana@x.io")
    assert items["shadow"][0] == "closed"
    assert items["intro"][0] == "completed"
    with db.session() as session:
        status = person_status(session, "ana@x.io", clock=clock)
    assert [(line.key, line.status) for line in status.other] == [("intro", "done")]
    assert "shadow" not in [line.key for tier in status.tiers for line in tier.items]
    # Putting the item back reopens the closed assignment instead of making another.
    cli("load-config", write("programs.yml", PROGRAMS))
    assert items_of(db, "ana@x.io")["shadow"] == ("open", date(2026, 3, 17))
