"""Shared pieces of the due-date tests: ticks on a virtual clock, what the fake Slack
received, and what the audit log says about due dates."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from learning.chain import PeopleIndex
from learning.clock import FrozenClock
from learning.digest import Digest, DigestItem
from learning.ladder import escalation_window, notice_day, step_date
from learning.paths import current_settings
from models import Assignment, AssignmentStatus, AuditEntry, Item, OutboxMessage, Person
from models.db import Database
from schedules.lock import SchedulerLock
from schedules.tick import TickResult, sweep
from tests.fakes.slack_api import FakeSlack
from tests.outbox_support import make_sender, outbox_key

DATE_ACTIONS = ("assignment.redate", "assignment.extend", "assignment.assign")


class Ticker:
    """Sweeps (enroll, plan, deliver) at chosen instants, as the scheduler would."""

    def __init__(self, db: Database, fake: FakeSlack, clock: FrozenClock) -> None:
        self.db, self.clock = db, clock
        self.sender = make_sender(db, fake, clock)
        self.lock = SchedulerLock(db)
        self.results: list[tuple[datetime, TickResult]] = []

    def tick(self, at: datetime) -> TickResult:
        # The sender's pacing moves the virtual clock on; time never goes back.
        self.clock.set(max(at, self.clock.now()))
        result = sweep(self.db, self.clock, sender=self.sender, lock=self.lock)
        self.results.append((self.clock.now(), result))
        return result

    def run(self, until: datetime, *, minutes: int = 30, hours: Iterable[int] = range(24)) -> None:
        """A sweep at ``minutes`` past each of ``hours`` (UTC), every day up to ``until``."""
        wanted = sorted(set(hours))
        day = self.clock.now().date()
        while True:
            for hour in wanted:
                at = datetime.combine(day, time(hour, minutes), tzinfo=UTC)
                if at < self.clock.now():
                    continue
                if at >= until:
                    return
                self.tick(at)
            day += timedelta(days=1)

    def run_send_times(self, until: datetime, zones: Iterable[str], at: time = time(9, 30)) -> None:
        """A sweep at ``at`` local time in each of ``zones`` (their send time: windows
        open then), every day up to ``until``."""
        day = self.clock.now().date() - timedelta(days=1)
        while True:
            instants = sorted(
                datetime.combine(day, at, tzinfo=ZoneInfo(zone)).astimezone(UTC) for zone in zones
            )
            for instant in instants:
                if instant >= until:
                    return
                if instant >= self.clock.now():
                    self.tick(instant)
            day += timedelta(days=1)

    def close(self) -> None:
        self.lock.release()


@dataclass(frozen=True)
class Received:
    """A message the fake Slack received: its outbox row and when it arrived."""

    key: str
    channel: str
    at: datetime
    payload: dict[str, Any]

    def local_date(self, zone: str) -> date:
        return self.at.astimezone(ZoneInfo(zone)).date()


def received(db: Database, fake: FakeSlack, prefix: str) -> list[Received]:
    """Every message with an outbox key starting with ``prefix`` that Slack stored."""
    calls = {}
    for call in fake.landed("chat.postMessage"):
        key = outbox_key(call)
        if key.startswith(prefix):
            calls.setdefault(key, call)
    if not calls:
        return []
    with db.session() as session:
        payloads = {
            row.key: row.payload
            for row in session.scalars(
                select(OutboxMessage).where(OutboxMessage.key.in_(list(calls)))  # type: ignore[attr-defined]
            )
        }
    return sorted(
        (
            Received(
                key,
                call.body["channel"],
                datetime.fromtimestamp(call.at, tz=UTC),
                payloads.get(key, {}),
            )
            for key, call in calls.items()
        ),
        key=lambda r: r.at,
    )


def escalated(db: Database, fake: FakeSlack) -> dict[tuple[int, str], list[Received]]:
    """Escalation DMs by (assignment id, due date it was told for)."""
    found: dict[tuple[int, str], list[Received]] = defaultdict(list)
    for message in received(db, fake, "escalation:"):
        for learner in message.payload.get("learners", []):
            for item in learner["items"]:
                found[(item["assignment_id"], item["due_date"])].append(message)
    return found


def digest_items(
    db: Database, fake: FakeSlack, person_id: int
) -> dict[date, dict[int, DigestItem]]:
    """The digests ``person_id`` received: local date -> assignment id -> item."""
    result: dict[date, dict[int, DigestItem]] = {}
    for message in received(db, fake, f"digest:{person_id}:"):
        digest = Digest.from_json(message.payload["digest"])
        result[digest.local_date] = {item.assignment_id: item for item in digest.items}
    return result


def open_due_dates(db: Database) -> dict[int, date | None]:
    """Every open assignment's due date."""
    with db.session() as session:
        return dict(
            session.execute(
                select(Assignment.id, Assignment.due_date).where(
                    Assignment.status == AssignmentStatus.OPEN
                )
            ).all()
        )


def date_audits(db: Database, *, after_id: int = 0) -> list[AuditEntry]:
    """Audit entries that changed a due date, newer than ``after_id``."""
    with db.session() as session:
        return list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.id > after_id, AuditEntry.action.in_(DATE_ACTIONS))  # type: ignore[attr-defined]
                .order_by(AuditEntry.id)
            )
        )


def last_audit_id(db: Database) -> int:
    with db.session() as session:
        return max(session.scalars(select(AuditEntry.id)).all(), default=0)


def unexplained_changes(
    before: dict[int, date | None], after: dict[int, date | None], audits: list[AuditEntry]
) -> dict[int, tuple[date | None, date | None]]:
    """Open items whose due date changed between ``before`` and ``after`` without exactly
    one audit entry naming the event, old and new date."""
    by_assignment: dict[int, list[AuditEntry]] = defaultdict(list)
    for entry in audits:
        by_assignment[int(entry.details.get("assignment_id") or entry.subject)].append(entry)
    wrong = {}
    for assignment_id, old in before.items():
        if assignment_id not in after or after[assignment_id] == old:
            continue
        new = after[assignment_id]
        entries = by_assignment.get(assignment_id, [])
        fits = [
            e
            for e in entries
            if e.details.get("event")
            and e.details.get("due") == (new.isoformat() if new else None)
            and e.details["before"]["due_date"] == (old.isoformat() if old else None)
        ]
        if len(fits) != 1:
            wrong[assignment_id] = (old, new)
    return wrong


def assignment_of(db: Database, email: str, item_key: str) -> Assignment:
    with db.session() as session:
        return session.scalars(
            select(Assignment)
            .join(Person, Person.id == Assignment.person_id)
            .join(Item, Item.id == Assignment.item_id)
            .where(Person.email == email, Item.key == item_key)
            .order_by(Assignment.cycle.desc())  # type: ignore[attr-defined]
            .limit(1)
        ).one()


def person_id(db: Database, email: str) -> int:
    with db.session() as session:
        return session.scalars(select(Person.id).where(Person.email == email)).one()


def text_of(payload: dict[str, Any]) -> str:
    """A rendered digest's item texts (what the learner reads)."""
    from platforms.slack.render.digest import render_digest

    rendered = render_digest(Digest.from_json(payload["digest"]))
    return "\n".join(b["text"]["text"] for b in rendered.blocks if b.get("text"))


def check_ladder_against_slack(db: Database, fake: FakeSlack, *, end: datetime) -> dict[str, int]:
    """Every step of every open required item that tells someone else, whose day ended
    before ``end``: one escalation DM to the person the chain rules name, on the day
    ``learning.ladder.notice_day`` gives, and every digest that announced it named that
    day. Returns how many steps were checked, by kind."""
    told = escalated(db, fake)
    checked = {"manager": 0, "skip_level": 0}
    with db.session() as session:
        settings = current_settings(session)
        org = settings.organisation.timezone
        index = PeopleIndex(session, org_zone=org)
        rows = session.execute(
            select(Assignment, Person, Item.key)
            .join(Person, Person.id == Assignment.person_id)
            .join(Item, Item.id == Assignment.item_id)
            .where(
                Assignment.status == "open",
                Assignment.required,
                Assignment.due_date.is_not(None),  # type: ignore[union-attr]
            )
        ).all()
        announced: dict[int, dict[date, DigestItem]] = {}
        for assignment, person, key in rows:
            zone = person.timezone or org
            calendar = settings.calendar_for(zone)
            manager, skip = index.takers(person.id, end)
            if person.id not in announced:
                announced[person.id] = digest_items(db, fake, person.id)
            for step in settings.escalation.steps:
                if step.notify == "learner":
                    continue
                taker = manager if step.notify == "manager" else skip
                window = escalation_window(settings, taker.timezone if taker else None)
                step_on = step_date(
                    step,
                    due=assignment.due_date,
                    calendar=calendar,
                    paused_days=assignment.ladder_paused_days,
                )
                day = notice_day(step_on, learner_zone=zone, window=window)
                if window.closes(day) > end:
                    continue
                channel = taker.chat_user_id if taker else settings.channels.admins
                sent = [
                    m
                    for m in told[(assignment.id, assignment.due_date.isoformat())]
                    if any(
                        i["assignment_id"] == assignment.id and i["step"] == step.notify
                        for learner in m.payload["learners"]
                        for i in learner["items"]
                    )
                ]
                where = f"{person.email} {key} due {assignment.due_date} {step.notify}"
                assert [(m.channel, m.local_date(window.zone)) for m in sent] == [(channel, day)], (
                    where
                )
                # Every digest that announced this step named that day.
                for item_day, items in announced[person.id].items():
                    item = items.get(assignment.id)
                    if (
                        item is not None
                        and item.due_date == assignment.due_date
                        and item.next_notice_to == step.notify
                    ):
                        assert item.next_notice_on == day, (where, item_day)
                checked[step.notify] += 1
    return checked
