"""The whole-tick benchmark's set-up builds the organisation the product would have built.

With recorded due dates (decision 24) an item waiting for a prerequisite has no date
until the prerequisite is recorded done. The set-up completes history directly, so it
must also release what waited, as the Done button does; otherwise a third of the
organisation's items never get a date and the bench measures a lighter day.
"""

from __future__ import annotations

from datetime import UTC, date, timedelta

from sqlalchemy import select

from bench.tick import build_parser, set_up
from learning.clock import local_date
from learning.paths import current_settings
from models import Assignment, AssignmentStatus, ItemPrerequisite, Person
from models.db import Database

DAY = date(2026, 12, 7)


def _aware(at):  # type: ignore[no-untyped-def]
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def test_history_releases_what_waited_for_a_completed_prerequisite(db: Database) -> None:
    args = build_parser().parse_args(["--people", "120", "--seed", "7"])
    set_up(db, args, 120, DAY)

    with db.session() as session:
        settings = current_settings(session)
        assert settings is not None
        after = settings.due_dates.after_prerequisite
        requires: dict[int, list[int]] = {}
        for item_id, required in session.execute(
            select(ItemPrerequisite.item_id, ItemPrerequisite.requires_item_id)
        ):
            requires.setdefault(item_id, []).append(required)
        zones = dict(session.execute(select(Person.id, Person.timezone)).all())
        rows = session.execute(
            select(
                Assignment.person_id,
                Assignment.item_id,
                Assignment.status,
                Assignment.due_date,
                Assignment.due_released_on,
                Assignment.completed_at,
            ).where(Assignment.cycle == 0)
        ).all()
    by_key = {(row.person_id, row.item_id): row for row in rows}
    released = [row for row in rows if row.due_released_on is not None]
    # Most dependants got their date from the completion of their prerequisite...
    dependants = [row for row in rows if row.item_id in requires]
    assert len(released) > len(dependants) / 2
    for row in released:
        prerequisites = [by_key[(row.person_id, item)] for item in requires[row.item_id]]
        done = [p.completed_at for p in prerequisites if p.status == AssignmentStatus.COMPLETED]
        assert done, "released although no prerequisite was completed"
        last = max(_aware(at) for at in done)
        zone = zones[row.person_id] or settings.organisation.timezone
        # ...counted from the learner's local day of the last one's completion...
        assert row.due_released_on == local_date(last, zone)
        assert row.due_date is not None
        assert row.due_date >= row.due_released_on + timedelta(days=after)
        # ...and nobody completed a dependant before its prerequisite.
        if row.status == AssignmentStatus.COMPLETED:
            assert _aware(row.completed_at) >= last
