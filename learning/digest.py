"""The daily digest as facts: what one person is told on one local day.

The planner decides a ``Digest``; the outbox stores it as JSON; ``messages.digest``
renders it (Block Kit and plain text) when it is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, NamedTuple

# ``rescheduled``: a required item with a new due date beyond the lookahead, listed once
# to tell the learner its new date.
Section = Literal["overdue", "due_soon", "rescheduled", "suggested"]


class DigestItem(NamedTuple):
    """One item in a digest.

    A named tuple rather than a frozen dataclass: the planner builds one per row (over a
    million a day at 100,000 people) and a tuple is four times cheaper to make.
    """

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
    # The escalation ladder (learning.ladder), for required items:
    reminder: bool = False  # today is a reminder day (N working days before due, or on it)
    warned: bool = False  # a learner step is reached: the digest says who is told when
    next_notice_to: str | None = None  # "manager" or "skip_level": who is told next
    next_notice_on: date | None = None  # ... on this date (the recipient's), unless done
    extension_requested: bool = False  # an extension request is open: the ladder waits
    # "Find a mentor" is offered (learning.mentoring): the item is a requirement of an
    # active certification, or a required item now overdue. Absent from older payloads.
    mentor_offer: bool = False
    # Its due date changed since the last digest, and why (``learning.enrollment``
    # events: ``role``, ``role_start``, ``curriculum``, ``admin``, ``prerequisite``); told
    # once. ``due_changed_after``: the prerequisite that was done, for ``prerequisite``.
    due_changed: str | None = None
    due_changed_after: str | None = None

    def to_row(self) -> list[Any]:
        """The item as a JSON row, in ``DigestItem._fields`` order (dates as ISO text)."""
        row = list(self)
        row[7] = self.due_date.isoformat()
        if self.next_notice_on is not None:
            row[14] = self.next_notice_on.isoformat()
        return row


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
        """The digest as JSON: items as rows under named ``columns``.

        Rows, not one object per item: the planner serialises a million items a day at
        100,000 people, and repeating every key per item was most of the encoding.
        """
        return {
            "person_id": self.person_id,
            "first_name": self.first_name,
            "local_date": self.local_date.isoformat(),
            "columns": list(DigestItem._fields),
            "items": [item.to_row() for item in self.items],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Digest:
        """Read ``to_json``'s form, or the older one with an object per item."""
        columns = data.get("columns")
        items = data["items"]
        if columns is not None:
            items = [dict(zip(columns, row, strict=True)) for row in items]
        return cls(
            person_id=int(data["person_id"]),
            first_name=str(data["first_name"]),
            local_date=date.fromisoformat(data["local_date"]),
            items=tuple(_item_from_json(item) for item in items),
        )


def _item_from_json(data: dict[str, Any]) -> DigestItem:
    notice_on = data.get("next_notice_on")
    return DigestItem(
        **{
            **data,
            "due_date": date.fromisoformat(data["due_date"]),
            "next_notice_on": date.fromisoformat(notice_on) if notice_on else None,
        }
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
