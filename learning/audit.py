"""The audit log: who changed what, when, why."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from learning.clock import Clock
from models import AuditEntry


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
    """Add an audit entry to the caller's transaction."""
    session.add(
        AuditEntry(
            at=clock.now(),
            actor=actor,
            action=action,
            subject=subject,
            person_id=person_id,
            reason=reason,
            details=details or {},
        )
    )
