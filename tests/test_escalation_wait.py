"""An item whose recipient cannot be told yet is not read again until their window opens."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.test_escalation import (
    assignment_of,
    candidates_at,
    d,
    escalation_days,
    fake,  # noqa: F401 (fixture)
    run_hours,
    through_the_manager_step,
)


@pytest.mark.slow
def test_an_item_waiting_for_the_skip_levels_morning_is_skipped_until_then(
    cli,
    write,
    clock,
    db,
    fake,  # noqa: F811
):
    through_the_manager_step(cli, write, clock, db, fake)
    # Fri 20 Nov: Lea's item reaches the skip-level step at London's morning, while Sam
    # is asleep in New York (09:30 there is 14:30 UTC).
    run_hours(db, fake, clock, datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    lea = assignment_of(db, "lea@x.io", "compliance")
    assert lea.ladder_wait_until == datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
    assert lea.ladder_step == 2  # the manager step; the skip-level one waits
    # London's window is open, so the job runs its query; the item is not in it.
    assert candidates_at(db, clock, datetime(2026, 11, 20, 12, 0, tzinfo=UTC)) == 0
    run_hours(db, fake, clock, datetime(2026, 11, 21, 0, 0, tzinfo=UTC))
    assert escalation_days(fake) == {"U0MAX": [d(13)], "U0SAM": [d(20)]}
    lea = assignment_of(db, "lea@x.io", "compliance")
    assert (lea.ladder_step, lea.ladder_wait_until) == (3, None)


def test_an_items_manager_and_skip_level_are_written_in_one_transaction():
    """Chunks of about N notices; the recipients told about one item share a chunk, so
    the item's step is marked with every message about it."""
    from types import SimpleNamespace

    from schedules.escalations import _chunks

    def notices(*items: int) -> list:
        return [SimpleNamespace(assignment_id=item) for item in items]

    bundles = {
        "person:1": notices(10, 11),  # manager of items 10, 11
        "person:2": notices(20, 21),
        "person:3": notices(30, 31),
        "person:9": notices(10),  # skip-level of item 10, told on the same tick
    }
    assert _chunks(bundles, 2) == [["person:1", "person:9"], ["person:2"], ["person:3"]]
    assert _chunks(bundles, 100) == [["person:1", "person:9", "person:2", "person:3"]]
