"""Completions: record one (from any source) and import an LMS export."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from learning import audit
from learning.certifications import AwardTally, certification_rules, check_awards
from learning.clock import Clock
from learning.csv_source import CsvRow, read_csv
from learning.curriculum import ProgramSettings
from learning.due_changes import release_dependants
from learning.enrollment_schedule import mark_for_enrollment
from learning.errors import Problem, ValidationFailed
from learning.paths import current_settings
from models import (
    DEFAULT_WORKSPACE,
    Assignment,
    AssignmentStatus,
    CompletionEvent,
    Item,
    Person,
)


@dataclass(frozen=True)
class Completion:
    """A completion to record."""

    person_id: int
    item_id: int
    completed_at: datetime
    source: str
    dedupe_key: str
    score: float | None = None
    evidence_url: str | None = None


def record_completion(
    session: Session,
    completion: Completion,
    *,
    clock: Clock,
    settings: ProgramSettings | None = None,
    award: bool = True,
) -> bool:
    """Record ``completion`` once; return False if its ``dedupe_key`` was seen before.

    The newest round of the person's assignment for the item becomes completed (a
    completion of an item not on their path is kept as a completed, unrequired
    assignment, so it counts if a later path includes it). A later completion of a
    completed item keeps the first date and the best score.

    Every completion path comes through here, so this is where certifications are
    awarded (``learning.certifications.check_awards``, same transaction), unless
    ``award`` is false: then the caller checks awards itself (an import checks each
    person once, after all their rows). ``settings`` (channels, time zone) default to the
    configuration in force.
    """
    exists = session.scalars(
        select(CompletionEvent.id).where(CompletionEvent.dedupe_key == completion.dedupe_key)
    ).first()
    if exists is not None:
        return False
    session.add(
        CompletionEvent(
            dedupe_key=completion.dedupe_key,
            person_id=completion.person_id,
            item_id=completion.item_id,
            completed_at=completion.completed_at,
            recorded_at=clock.now(),
            score=completion.score,
            evidence_url=completion.evidence_url,
            source=completion.source,
        )
    )
    newly_done = _complete_assignment(session, completion, now=clock.now())
    session.flush()
    if newly_done:
        # Items that waited for this one get their due date, counted from today.
        release_dependants(
            session,
            person_id=completion.person_id,
            item_ids=[completion.item_id],
            clock=clock,
            settings=settings or current_settings(session) or ProgramSettings(),
        )
    if award:
        check_awards(
            session,
            person_id=completion.person_id,
            clock=clock,
            settings=settings or current_settings(session) or ProgramSettings(),
        )
    # What the person holds changed: the next enrollment pass looks at them again. Last,
    # so the person's row is written under the person lock the award check takes (two
    # completions at once reach that lock instead of queueing on the row before it).
    mark_for_enrollment(session, person_ids=[completion.person_id])
    return True


def _complete_assignment(session: Session, completion: Completion, *, now: datetime) -> bool:
    """Mark the newest round of the person's assignment for the item completed (or keep
    the completion as a completed, unrequired assignment); whether it is newly done."""
    assignment = session.scalars(
        select(Assignment)
        .where(
            Assignment.person_id == completion.person_id, Assignment.item_id == completion.item_id
        )
        .order_by(Assignment.cycle.desc())  # type: ignore[attr-defined]
        .limit(1)
    ).first()
    newly_done = True
    if assignment is None:
        session.add(
            Assignment(
                person_id=completion.person_id,
                item_id=completion.item_id,
                required=False,
                status=AssignmentStatus.COMPLETED,
                assigned_at=now,
                completed_at=completion.completed_at,
                score=completion.score,
                evidence_url=completion.evidence_url,
                completion_source=completion.source,
            )
        )
    elif assignment.status == AssignmentStatus.COMPLETED:
        if completion.score is not None and (assignment.score or 0) < completion.score:
            assignment.score = completion.score
        newly_done = False  # done before: its dependants were released then
    else:
        assignment.status = AssignmentStatus.COMPLETED
        assignment.completed_at = completion.completed_at
        assignment.score = completion.score
        assignment.evidence_url = completion.evidence_url
        assignment.completion_source = completion.source
        assignment.closed_at = None
        assignment.snoozed_until = None
    return newly_done


@dataclass
class CompletionImportResult:
    recorded: int = 0
    already_known: int = 0
    people: set[str] = field(default_factory=set)
    awards: AwardTally = field(default_factory=AwardTally)

    def summary(self) -> str:
        return (
            f"completions: {self.recorded} recorded, {self.already_known} already known, "
            f"for {len(self.people)} people\ncertifications: {self.awards.describe()}"
        )


def _parse_when(text: str, zone: str) -> datetime:
    """An ISO date or date-time; naive values are meant in the person's time zone.

    A date alone is the start of that day where the person is, so the completion lands
    on the date the file says in every read-out.
    """
    if len(text) == 10:
        parsed = datetime.combine(datetime.fromisoformat(text).date(), time(0))
    else:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(zone))
    return parsed.astimezone(ZoneInfo("UTC"))


def import_completions(
    session: Session,
    path: str | Path,
    *,
    clock: Clock,
    actor: str = "cli",
    workspace_id: str = DEFAULT_WORKSPACE,
) -> CompletionImportResult:
    """Validate every row of an LMS export, then record the completions.

    Columns: ``email,item,completed_at,score`` (``score`` may be empty). A date without a
    time is the start of that day in the person's time zone. The same row imported twice is one
    completion. Raises ``ValidationFailed`` before writing anything.
    """
    source = read_csv(path, required=("email", "item", "completed_at"), optional=("score",))
    settings = current_settings(session)
    default_zone = settings.organisation.timezone if settings else "UTC"
    people = {
        p.email: p
        for p in session.scalars(select(Person).where(Person.workspace_id == workspace_id))
    }
    items = {i.key: i for i in session.scalars(select(Item))}
    problems = list(source.problems)
    completions: list[tuple[str, Completion]] = []
    now = clock.now()
    for row in source.rows:
        parsed = _parse_completion(
            row, source.name, people, items, default_zone=default_zone, now=now, problems=problems
        )
        if parsed is not None:
            completions.append(parsed)
    if problems:
        raise ValidationFailed(problems)
    result = CompletionImportResult()
    settings = settings or ProgramSettings()
    touched: set[int] = set()
    for email, completion in completions:
        if record_completion(session, completion, clock=clock, settings=settings, award=False):
            result.recorded += 1
            result.people.add(email)
            touched.add(completion.person_id)
        else:
            result.already_known += 1
    # Awards once per person, after all their rows: then the order of the rows does not
    # matter, and years of history make each round once, dated from its own work.
    rules = certification_rules(session)
    for person_id in sorted(touched):
        result.awards.add(
            check_awards(session, person_id=person_id, clock=clock, settings=settings, rules=rules)
        )
    if result.recorded:
        audit.record(
            session,
            clock=clock,
            actor=actor,
            action="completions.import",
            subject=str(path),
            details={"summary": result.summary()},
        )
    return result


def _parse_completion(
    row: CsvRow,
    name: str,
    people: dict[str, Person],
    items: dict[str, Item],
    *,
    default_zone: str,
    now: datetime,
    problems: list[Problem],
) -> tuple[str, Completion] | None:
    """One row of an LMS export as (email, completion); None, with its problems added to
    ``problems``, when it is not valid."""
    values = row.values
    before = len(problems)

    def bad(column: str, message: str, line: int = row.line) -> None:
        problems.append(Problem(name, line, column, message))

    person = people.get(values["email"].lower())
    if person is None:
        bad("email", f"unknown person {values['email']!r} (import people first)")
    item = items.get(values["item"])
    if item is None:
        bad("item", f"unknown item {values['item']!r}")
    when: datetime | None = None
    try:
        when = _parse_when(
            values["completed_at"], (person.timezone if person else None) or default_zone
        )
        if when > now:
            bad("completed_at", f"{values['completed_at']} is in the future")
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 moved to UTC
        bad(
            "completed_at",
            f"bad date {values['completed_at']!r}: write YYYY-MM-DD or an ISO-8601 date-time",
        )
    score: float | None = None
    if values["score"]:
        try:
            score = float(values["score"])
            if not 0 <= score <= 100:
                bad("score", f"score {values['score']} is outside 0-100")
        except ValueError:
            bad("score", f"bad score {values['score']!r}: write a number from 0 to 100")
    if len(problems) > before or person is None or item is None or when is None:
        return None
    assert person.id is not None and item.id is not None
    key = f"import:{person.id}:{item.id}:{when.isoformat()}"
    return (person.email, Completion(person.id, item.id, when, "import", key, score))
