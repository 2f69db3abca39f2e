"""The certification job's decisions: which awards open a recertification window or
lapse at an instant, and which items a new round assigns.

* **Window.** From ``expires_at - recertify_window`` on (a calendar period, counted in
  the holder's time zone), the certification's items are assigned again as a new round
  (``cycle = award.cycle + 1``, required, due on the expiry date in the holder's
  calendar, no tier); an item already assigned for that round (or a later one) is not.
* **Lapse.** From ``expires_at + grace`` (calendar) without a renewal.

Nothing here reads the database or the clock: ``schedules.certifications`` reads the
newest awards (with a bound from ``window_horizon`` / ``lapse_horizon``) and passes
``now``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from learning.award_rules import CertificationRule, lapses_at, window_opens_at
from learning.curriculum import ProgramSettings
from models import AssignmentStatus, CertificationAward, Person

AwardOf = tuple[CertificationAward, Person]


def holder_zone(person: Person, settings: ProgramSettings) -> str:
    """The holder's time zone (the organisation's when they have none)."""
    return person.timezone or settings.organisation.timezone


def window_horizon(rules: Mapping[int, CertificationRule], *, now: datetime) -> datetime:
    """Awards expiring after this instant cannot have their window open at ``now``."""
    # The exact instant is on the holder's calendar (a day of a DST change is an hour
    # shorter or longer, hence the spare day).
    widest = max(rule.window.longest_days for rule in rules.values()) + 1
    return now + timedelta(days=widest)


def lapse_horizon(rules: Mapping[int, CertificationRule], *, now: datetime) -> datetime:
    """Awards expiring after this instant cannot have lapsed by ``now``."""
    narrowest = max(min(rule.grace.shortest_days for rule in rules.values()) - 1, 0)
    return now - timedelta(days=narrowest)


def windows_open(
    awards: Iterable[AwardOf],
    rules: Mapping[int, CertificationRule],
    *,
    settings: ProgramSettings,
    now: datetime,
) -> list[AwardOf]:
    """The awards whose recertification window has opened by ``now``, in order."""
    return [
        (award, person)
        for award, person in awards
        if award.expires_at is not None
        and window_opens_at(
            rules[award.certification_id], award.expires_at, holder_zone(person, settings)
        )
        <= now
    ]


def lapses_due(
    awards: Iterable[AwardOf],
    rules: Mapping[int, CertificationRule],
    *,
    settings: ProgramSettings,
    now: datetime,
) -> list[AwardOf]:
    """The awards whose grace period has ended by ``now``, in order."""
    return [
        (award, person)
        for award, person in awards
        if award.expires_at is not None
        and lapses_at(
            rules[award.certification_id], award.expires_at, holder_zone(person, settings)
        )
        <= now
    ]


def newest_rounds(rows: Iterable[tuple[int, int, int]]) -> dict[tuple[int, int], int]:
    """The newest round (cycle) assigned per (person id, item id), from such triples."""
    newest: dict[tuple[int, int], int] = {}
    for person_id, item_id, cycle in rows:
        key = (person_id, item_id)
        newest[key] = max(cycle, newest.get(key, -1))
    return newest


def round_assignments(
    rule: CertificationRule,
    *,
    person_id: int,
    cycle: int,
    due_on: date,
    newest_round: Mapping[tuple[int, int], int],
    now: datetime,
) -> list[dict[str, Any]]:
    """The assignment rows of round ``cycle`` of ``rule`` for ``person_id``: each
    requirement not yet assigned for that round, required, due on ``due_on``."""
    return [
        {
            "person_id": person_id,
            "item_id": r.item_id,
            "tier_id": None,
            "cycle": cycle,
            "required": True,
            "status": AssignmentStatus.OPEN,
            "assigned_at": now,
            "due_date": due_on,
        }
        for r in rule.requirements
        if newest_round.get((person_id, r.item_id), -1) < cycle
    ]
