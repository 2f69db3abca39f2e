"""When a certification is earned, from the dates of the work: pure rules.

A certification is awarded at the instant its last requirement was met (a completion's
``completed_at``, so in the learner's calendar it is the local date of that work, not
the day learnbot heard of it), and is valid for a calendar period from there
(``learning.periods``). Rounds (``cycle``) follow one another:

* **Round 0** is met when every requirement has a completion that counts. A requirement
  is met at its earliest such completion; the round at the latest of those.
* **Round N + 1** (a renewal) needs, for every requirement, a completion that counts,
  done after round N was awarded and either on or after the day its recertification
  window opened (expiry minus the window) or recorded after learnbot assigned the
  round's items again (the window job; an LMS import may back-date such a completion).
  So the work that earned one round never earns the next.
* **Which kind.** Met before the previous round lapsed (expiry plus grace): a
  *renewal*, valid from the old expiry on, so renewing early loses nothing. Met after:
  *regained*, valid from the new award, and the previous round is recorded as lapsed.

A completion counts towards a requirement with ``min_score`` only with at least that
score *from a trusted source* (``TRUSTED_SCORE_SOURCES``), unless the requirement allows
self-reported scores (``self_reported_scores: true`` in the programs file). A score the
learner types into the Done form is self-reported.

Everything here is a function of completions, previous awards and configuration: the
same rules make an award as a completion arrives, replay years of LMS history in one
import, award everyone who already qualifies for a certification added later, and
re-date old awards (``learning.award_redating``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from learning.periods import Period, earlier, later

# Completion sources whose scores count towards a requirement's min_score: the LMS
# (``import-completions``) and an admin recording a result. A signed LMS webhook or an
# xAPI statement will join them. A learner's own Done form ("slack") and ``/learn done``
# ("slack_command") are self-reported.
TRUSTED_SCORE_SOURCES = frozenset({"import", "admin"})

FIRST, RENEWAL, REGAINED = "first", "renewal", "regained"


@dataclass(frozen=True)
class Requirement:
    """One item a certification needs, with the catalogue facts its messages show."""

    item_id: int
    key: str
    title: str
    method: str
    minutes: int
    min_score: float | None = None
    self_reported_scores: bool = False


@dataclass(frozen=True)
class CertificationRule:
    """An active certification and its requirements (active items only)."""

    id: int
    key: str
    title: str
    valid: Period
    window: Period
    grace: Period
    requirements: tuple[Requirement, ...]

    @property
    def minutes(self) -> int:
        return sum(r.minutes for r in self.requirements)


@dataclass(frozen=True)
class CompletionFact:
    """One recorded completion of an item (a ``CompletionEvent``)."""

    item_id: int
    completed_at: datetime
    recorded_at: datetime
    score: float | None
    source: str


@dataclass(frozen=True)
class PastAward:
    """An award already made (or planned just before): what the next round depends on."""

    cycle: int
    awarded_at: datetime
    expires_at: datetime | None
    lapsed_at: datetime | None = None


@dataclass(frozen=True)
class PlannedAward:
    """A round the completions earn: when, which kind, until when."""

    cycle: int
    kind: str  # FIRST, RENEWAL or REGAINED
    awarded_at: datetime
    expires_at: datetime


def score_counts(requirement: Requirement, fact: CompletionFact) -> bool:
    """Whether ``fact`` meets ``requirement``'s minimum score (always, when it has none)."""
    if requirement.min_score is None:
        return True
    if fact.score is None or fact.score < requirement.min_score:
        return False
    return requirement.self_reported_scores or fact.source in TRUSTED_SCORE_SOURCES


def only_self_reported(requirement: Requirement, score: float | None, source: str) -> bool:
    """Whether a score of ``score`` would meet ``requirement`` if only it came from a
    trusted source (what the learner is told when they type a passing score)."""
    return (
        requirement.min_score is not None
        and score is not None
        and score >= requirement.min_score
        and not requirement.self_reported_scores
        and source not in TRUSTED_SCORE_SOURCES
    )


def lapses_at(rule: CertificationRule, expires_at: datetime, zone: str) -> datetime:
    """When an award expiring at ``expires_at`` lapses without renewal: expiry plus grace."""
    return later(expires_at, rule.grace, zone)


def window_opens_at(rule: CertificationRule, expires_at: datetime, zone: str) -> datetime:
    """When the recertification window of an award expiring at ``expires_at`` opens."""
    return earlier(expires_at, rule.window, zone)


def round_met_at(
    rule: CertificationRule,
    facts: Mapping[int, Sequence[CompletionFact]],
    *,
    previous: PastAward | None,
    round_assigned: Mapping[int, datetime],
    zone: str,
) -> datetime | None:
    """The instant the round after ``previous`` (round 0 without one) was met, or None.

    Args:
        facts: The person's completions of the rule's items, by item id.
        previous: The newest award of this certification, if any.
        round_assigned: When the round's items were assigned again (the window job), by
            item id; completions recorded from then on count for the round.
        zone: The person's time zone (the window opens on their calendar).
    """
    if not rule.requirements:
        return None
    opens = None
    if previous is not None and previous.expires_at is not None:
        opens = window_opens_at(rule, previous.expires_at, zone)
    met: list[datetime] = []
    for requirement in rule.requirements:
        assigned = round_assigned.get(requirement.item_id)
        times = [
            fact.completed_at
            for fact in facts.get(requirement.item_id, ())
            if score_counts(requirement, fact)
            and (
                previous is None
                or (
                    fact.completed_at > previous.awarded_at
                    and (
                        (opens is not None and fact.completed_at >= opens)
                        or (assigned is not None and fact.recorded_at >= assigned)
                    )
                )
            )
        ]
        if not times:
            return None
        met.append(min(times))
    return max(met)


def next_award(
    rule: CertificationRule, previous: PastAward | None, at: datetime, zone: str
) -> PlannedAward:
    """The award of the round after ``previous``, met at ``at``."""
    cycle = 0 if previous is None else previous.cycle + 1
    if previous is None:
        return PlannedAward(cycle, FIRST, at, later(at, rule.valid, zone))
    if previous.expires_at is None:
        return PlannedAward(cycle, RENEWAL, at, later(at, rule.valid, zone))
    lapsed = previous.lapsed_at is not None and previous.lapsed_at <= at
    if lapsed or at >= lapses_at(rule, previous.expires_at, zone):
        return PlannedAward(cycle, REGAINED, at, later(at, rule.valid, zone))
    # Renewing early never loses time: the new period starts where the old one ends.
    return PlannedAward(cycle, RENEWAL, at, later(previous.expires_at, rule.valid, zone))


def award_chain(
    rule: CertificationRule,
    facts: Mapping[int, Sequence[CompletionFact]],
    *,
    previous: PastAward | None,
    rounds_assigned: Mapping[tuple[int, int], datetime],
    zone: str,
) -> list[PlannedAward]:
    """Every round after ``previous`` that the completions earn, oldest first.

    Usually none or one; an import of years of history can earn several (a first award,
    renewals, a lapse and a regained award). Each round's award instant is later than
    the one before (it needs newer work), so the chain ends.

    Args:
        rounds_assigned: When each (item id, cycle) was assigned again by the window job.
    """
    chain: list[PlannedAward] = []
    while True:
        cycle = 0 if previous is None else previous.cycle + 1
        assigned = {item: at for (item, c), at in rounds_assigned.items() if c == cycle}
        at = round_met_at(rule, facts, previous=previous, round_assigned=assigned, zone=zone)
        if at is None:
            return chain
        planned = next_award(rule, previous, at, zone)
        chain.append(planned)
        previous = PastAward(planned.cycle, planned.awarded_at, planned.expires_at)


def lapse_of(
    rule: CertificationRule,
    award: PlannedAward | PastAward,
    following: PlannedAward | None,
    *,
    now: datetime,
    zone: str,
) -> datetime | None:
    """When ``award`` lapsed, as its history tells, or None while it has not.

    With a ``following`` round: lapsed only if that round came after the grace period
    (it was regained, not renewed). As the newest award: lapsed once expiry plus grace
    is past ``now``.
    """
    if award.expires_at is None:
        return None
    lapse = lapses_at(rule, award.expires_at, zone)
    if following is not None:
        return lapse if following.kind == REGAINED else None
    return lapse if lapse <= now else None
