"""The daily digest as facts: what one person is told on one local day.

The planner decides a ``Digest``; the outbox stores it as JSON; ``messages.digest``
renders it (Block Kit and plain text) when it is sent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Literal

Section = Literal["overdue", "due_soon", "suggested"]


@dataclass(frozen=True)
class DigestItem:
    """One item in a digest."""

    assignment_id: int
    key: str
    title: str
    url: str | None
    method: str
    minutes: int
    required: bool
    due_date: date
    section: Section
    overdue_working_days: int = 0  # > 0 for overdue items
    due_in_working_days: int = 0  # >= 0 for items not yet due


@dataclass(frozen=True)
class Digest:
    """The bundled DM for ``person_id`` on their ``local_date``."""

    person_id: int
    first_name: str
    local_date: date
    items: tuple[DigestItem, ...]

    @property
    def key(self) -> str:
        """The outbox key: at most one digest per person per local day."""
        return digest_key(self.person_id, self.local_date)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["local_date"] = self.local_date.isoformat()
        data["items"] = [
            {**asdict(item), "due_date": item.due_date.isoformat()} for item in self.items
        ]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Digest:
        return cls(
            person_id=int(data["person_id"]),
            first_name=str(data["first_name"]),
            local_date=date.fromisoformat(data["local_date"]),
            items=tuple(
                DigestItem(**{**item, "due_date": date.fromisoformat(item["due_date"])})
                for item in data["items"]
            ),
        )


@dataclass(frozen=True)
class ItemOutcome:
    """What became of a digest item after the DM was sent, for updating the DM in place.

    ``kind`` is ``done``, ``waived`` or ``snoozed``; ``until`` is the local day a snoozed
    item comes back.
    """

    kind: Literal["done", "waived", "snoozed"]
    until: date | None = None


def digest_key(person_id: int, local_date: date) -> str:
    return f"digest:{person_id}:{local_date.isoformat()}"
