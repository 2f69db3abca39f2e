"""The audit log: who changed what, when, why."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import ColumnElement, func, insert, select
from sqlmodel import Session

from learning.clock import Clock, parse_instant
from learning.errors import NotFound
from models import AuditEntry, Person

DEFAULT_LIMIT = 200


def record(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    action: str,
    subject: str = "",
    person_id: int | None = None,
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    """Add an audit entry to the caller's transaction (texts cut to their columns)."""
    session.add(
        AuditEntry(
            at=clock.now(),
            actor=_fit(actor, ACTOR_MAX),
            action=_fit(action, ACTION_MAX),
            subject=_fit(subject, SUBJECT_MAX),
            person_id=person_id,
            reason=_fit(reason, REASON_MAX),
            details=details or {},
        )
    )


# Column sizes of ``audit_entry``: a long import path or ``--actor`` is cut (with an
# ellipsis) rather than failing the change it records.
ACTOR_MAX, ACTION_MAX, SUBJECT_MAX, REASON_MAX = 254, 64, 300, 1000


def _fit(text: str, limit: int) -> str:
    """``text`` without NUL (PostgreSQL refuses it in text), at most ``limit`` long."""
    text = (text or "").replace("\x00", "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def set_person_setting(
    session: Session,
    *,
    person: Person,
    field: str,
    value: bool,
    action: str,
    clock: Clock,
    details: dict[str, Any] | None = None,
) -> bool:
    """Set one of ``person``'s own settings (``public_posts``, ``mentoring``...) and audit
    it as ``action``, by the person; False (and nothing written) if it already had it."""
    if getattr(person, field) == value:
        return False
    setattr(person, field, value)
    person.updated_at = clock.now()
    record(
        session,
        clock=clock,
        actor=person.email,
        action=action,
        person_id=person.id,
        subject=person.email,
        details={field: value, **(details or {})},
    )
    session.flush()
    return True


def record_many(session: Session, *, clock: Clock, entries: list[dict[str, Any]]) -> None:
    """Add many audit entries at once (one INSERT ... executemany, no ORM objects).

    Each entry has ``actor`` and ``action``, and optionally ``subject``, ``person_id``,
    ``reason`` and ``details``. For jobs that audit thousands of rows in one pass.
    """
    if not entries:
        return
    at = clock.now()
    rows = [
        {
            "at": at,
            "actor": _fit(entry["actor"], ACTOR_MAX),
            "action": _fit(entry["action"], ACTION_MAX),
            "subject": _fit(entry.get("subject", ""), SUBJECT_MAX),
            "person_id": entry.get("person_id"),
            "reason": _fit(entry.get("reason", ""), REASON_MAX),
            "details": entry.get("details") or {},
        }
        for entry in entries
    ]
    session.execute(insert(AuditEntry.__table__), rows)  # type: ignore[attr-defined]


# --- reading the log ---------------------------------------------------------


@dataclass(frozen=True)
class AuditLine:
    """One audit entry as an admin reads it: the person by email, not by id."""

    id: int
    at: datetime
    actor: str
    action: str
    person_email: str | None
    subject: str
    reason: str
    details: dict[str, Any]


@dataclass(frozen=True)
class AuditFilter:
    """What ``bot.py audit`` was asked for; empty means everything."""

    person_email: str | None = None
    since: datetime | None = None
    action_prefix: str | None = None

    def describe(self) -> str:
        parts = []
        if self.person_email:
            parts.append(f"about {self.person_email}")
        if self.since:
            parts.append(f"since {self.since:%Y-%m-%d %H:%M} UTC")
        if self.action_prefix:
            parts.append(f"with an action starting {self.action_prefix!r}")
        return " ".join(parts)


@dataclass(frozen=True)
class AuditPage:
    """The most recent matching entries, oldest first, and how many matched in all."""

    entries: list[AuditLine]
    total: int
    filter: AuditFilter = field(default_factory=AuditFilter)

    @property
    def cut(self) -> bool:
        return self.total > len(self.entries)


def parse_since(text: str) -> datetime:
    """``YYYY-MM-DD`` (00:00 UTC that day) or an ISO-8601 instant with a zone, as aware UTC.

    Raise ``ValueError`` naming ``text`` when it is neither.
    """
    value = text.strip()
    try:
        day = date.fromisoformat(value)
    except ValueError:
        pass
    else:
        return datetime.combine(day, time(), tzinfo=UTC)
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date or an instant; write YYYY-MM-DD (from 00:00 UTC) "
            "or an ISO-8601 instant such as 2026-03-02T09:30:00Z"
        ) from None
    return parse_instant(value)  # names the value when the zone is missing


def read_log(
    session: Session,
    *,
    person_email: str | None = None,
    since: datetime | None = None,
    action_prefix: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> AuditPage:
    """The last ``limit`` entries matching every filter given, in chronological order.

    ``person_email`` (any case, any workspace) selects entries about that person and
    raises ``NotFound`` when nobody has that email; ``since`` keeps entries at or after
    that instant; ``action_prefix`` keeps actions starting with it (``escalation``
    matches ``escalation.manager``).
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    email = person_email.strip().lower() if person_email is not None else None
    prefix = action_prefix.strip().lower() if action_prefix is not None else None
    conditions: list[ColumnElement[bool]] = []
    if email is not None:
        person_ids = session.scalars(
            select(Person.id).where(func.lower(Person.email) == email)
        ).all()
        if not person_ids:
            raise NotFound(f"nobody with email {person_email!r}")
        conditions.append(AuditEntry.person_id.in_(person_ids))  # type: ignore[union-attr]
    if since is not None:
        conditions.append(AuditEntry.at >= since)  # type: ignore[arg-type]
    if prefix:
        conditions.append(
            func.lower(AuditEntry.action).startswith(prefix, autoescape=True)  # type: ignore[arg-type]
        )
    total = session.scalar(select(func.count()).select_from(AuditEntry).where(*conditions)) or 0
    rows = session.execute(
        select(AuditEntry, Person.email)
        .outerjoin(Person, Person.id == AuditEntry.person_id)  # type: ignore[arg-type]
        .where(*conditions)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())  # type: ignore[attr-defined,union-attr]
        .limit(limit)
    ).all()
    entries = [
        AuditLine(
            id=entry.id,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            person_email=person,
            subject=entry.subject,
            reason=entry.reason,
            details=dict(entry.details or {}),
        )
        for entry, person in reversed(rows)
    ]
    return AuditPage(
        entries=entries,
        total=total,
        filter=AuditFilter(person_email=email, since=since, action_prefix=prefix or None),
    )
