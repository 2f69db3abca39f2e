"""Re-date existing awards from the completions behind them, on an operator's request.

``python bot.py certs --redate-from-completions [--dry-run]``. Awards made before
learnbot dated them from the work carry the day of the import as their award date and
expire 365 days on. Upgrading the database leaves them alone (dates are recorded facts);
this command replays each person's recorded completions through the same rules that
award today (``learning.award_rules.award_chain``) and gives every award the dates its
work earns: awarded when its last requirement was met, valid a calendar period from
there, and lapsed if that has run out (expiry plus grace in the past). Each change is
audited (``certification.redate``: old and new dates); nothing is sent.

Awards the recorded completions do not earn (a score typed in Slack before only trusted
scores counted, completions made outside learnbot's knowledge) are kept as they are and
listed. A recertification round already assigned keeps its due date.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlmodel import Session

from learning import audit
from learning.award_rules import CertificationRule, PlannedAward, award_chain, lapse_of
from learning.certifications import (
    certification_rules,
    completion_facts,
    lock_person,
    rounds_assigned,
)
from learning.clock import Clock
from learning.curriculum import ProgramSettings
from models import Assignment, CertificationAward, Person


@dataclass(frozen=True)
class Redated:
    """One award whose dates changed (or would, in a dry run): old and new values."""

    email: str
    certification: str
    cycle: int
    zone: str
    awarded_at: tuple[datetime, datetime]
    expires_at: tuple[datetime | None, datetime | None]
    lapsed_at: tuple[datetime | None, datetime | None]


@dataclass(frozen=True)
class Kept:
    """An award the recorded completions do not earn: left as it is."""

    email: str
    certification: str
    cycle: int


@dataclass
class RedateResult:
    redated: list[Redated] = field(default_factory=list)
    unchanged: int = 0
    kept: list[Kept] = field(default_factory=list)
    open_rounds: int = 0  # re-dated awards whose next round is already assigned

    def summary(self) -> str:
        line = (
            f"awards: {len(self.redated)} re-dated from their completions, "
            f"{self.unchanged} already right, {len(self.kept)} kept as they are "
            "(their recorded completions do not earn them)"
        )
        if self.open_rounds:
            line += (
                f"; {self.open_rounds} of the re-dated awards already have their "
                "recertification round assigned, which keeps its due date"
            )
        return line


@dataclass(frozen=True)
class _Row:
    id: int
    person_id: int
    certification_id: int
    cycle: int
    awarded_at: datetime
    expires_at: datetime | None
    lapsed_at: datetime | None
    email: str
    timezone: str | None


def redate_awards(
    session: Session, *, clock: Clock, settings: ProgramSettings, actor: str
) -> RedateResult:
    """Give every award of an active certification the dates its completions earn.

    Runs in the caller's transaction (a dry run rolls it back). Sends nothing.
    """
    result = RedateResult()
    rules = certification_rules(session)
    if not rules:
        return result
    by_person = _awards_by_person(session, rules)
    now = clock.now()
    for person_id, rows in by_person.items():
        lock_person(session, person_id)
        zone = rows[0].timezone or settings.organisation.timezone
        cert_ids = {row.certification_id for row in rows}
        item_ids = {r.item_id for c in cert_ids for r in rules[c].requirements}
        facts = completion_facts(session, person_id, item_ids)
        rounds = rounds_assigned(session, person_id, item_ids)
        for cert_id in sorted(cert_ids):
            rule = rules[cert_id]
            held = [row for row in rows if row.certification_id == cert_id]
            chain = award_chain(rule, facts, previous=None, rounds_assigned=rounds, zone=zone)
            planned = {award.cycle: award for award in chain}
            cycles = {row.cycle for row in held}
            for row in held:
                award = planned.get(row.cycle)
                if award is None:
                    result.kept.append(Kept(row.email, rule.key, row.cycle))
                    continue
                lapsed = _lapse(rule, row, award, planned, cycles, now=now, zone=zone)
                if (row.awarded_at, row.expires_at, row.lapsed_at) == (
                    award.awarded_at,
                    award.expires_at,
                    lapsed,
                ):
                    result.unchanged += 1
                    continue
                _redate(session, row, award, lapsed, rule_key=rule.key, clock=clock, actor=actor)
                result.redated.append(
                    Redated(
                        row.email,
                        rule.key,
                        row.cycle,
                        zone,
                        (row.awarded_at, award.awarded_at),
                        (row.expires_at, award.expires_at),
                        (row.lapsed_at, lapsed),
                    )
                )
                if (row.cycle + 1) not in cycles and _round_assigned(session, row, rule):
                    result.open_rounds += 1
    if result.redated:
        audit.record(
            session,
            clock=clock,
            actor=actor,
            action="certifications.redate",
            subject="certs --redate-from-completions",
            details={"summary": result.summary()},
        )
    return result


def _awards_by_person(
    session: Session, rules: dict[int, CertificationRule]
) -> dict[int, list[_Row]]:
    """The awards of the certifications in ``rules``, by person, by certification and cycle."""
    by_person: dict[int, list[_Row]] = defaultdict(list)
    for row in session.execute(
        select(
            CertificationAward.id,
            CertificationAward.person_id,
            CertificationAward.certification_id,
            CertificationAward.cycle,
            CertificationAward.awarded_at,
            CertificationAward.expires_at,
            CertificationAward.lapsed_at,
            Person.email,
            Person.timezone,
        )
        .join(Person, Person.id == CertificationAward.person_id)
        .where(CertificationAward.certification_id.in_(list(rules)))  # type: ignore[attr-defined]
        .order_by(
            CertificationAward.person_id,
            CertificationAward.certification_id,
            CertificationAward.cycle,
        )
    ):
        by_person[row.person_id].append(_Row(*row))
    return by_person


def _lapse(
    rule: CertificationRule,
    row: _Row,
    award: PlannedAward,
    planned: dict[int, PlannedAward],
    cycles: set[int],
    *,
    now: datetime,
    zone: str,
) -> datetime | None:
    """The award's lapse as its history now tells (an award kept after it: unchanged)."""
    nxt = row.cycle + 1
    if nxt in cycles and nxt not in planned:
        return row.lapsed_at
    following = planned.get(nxt) if nxt in cycles else None
    return lapse_of(rule, award, following, now=now, zone=zone)


def _redate(
    session: Session,
    row: _Row,
    award: PlannedAward,
    lapsed: datetime | None,
    *,
    rule_key: str,
    clock: Clock,
    actor: str,
) -> None:
    session.execute(
        update(CertificationAward)
        .where(CertificationAward.id == row.id)  # type: ignore[arg-type]
        .values(awarded_at=award.awarded_at, expires_at=award.expires_at, lapsed_at=lapsed)
    )

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    audit.record(
        session,
        clock=clock,
        actor=actor,
        action="certification.redate",
        person_id=row.person_id,
        subject=rule_key,
        reason="re-dated from its completions (certs --redate-from-completions)",
        details={
            "award_id": row.id,
            "cycle": row.cycle,
            "awarded_at": [iso(row.awarded_at), iso(award.awarded_at)],
            "expires_at": [iso(row.expires_at), iso(award.expires_at)],
            "lapsed_at": [iso(row.lapsed_at), iso(lapsed)],
        },
    )


def _round_assigned(session: Session, row: _Row, rule: CertificationRule) -> bool:
    """Whether the round after ``row`` was already assigned by the window job."""
    return (
        session.scalar(
            select(Assignment.id)
            .where(
                Assignment.person_id == row.person_id,
                Assignment.cycle == row.cycle + 1,
                Assignment.item_id.in_([r.item_id for r in rule.requirements]),  # type: ignore[attr-defined]
            )
            .limit(1)
        )
        is not None
    )
