"""Who is above whom: the reporting chain, and who can take an escalation.

Chain rules (the escalation ladder, extension requests):

* Walk up ``manager_id`` from the learner. A manager who is inactive, away on their own
  local date, or has no Slack user is skipped to the next level up.
* The first one left is the learner's *manager* for learnbot's purposes; the next one
  above that is the *skip-level*.
* Nobody is ever their own manager (a chain that loops back is cut where it loops).
* When nobody is left, the caller sends to the admins' channel instead.

``PeopleIndex`` loads people by id lazily, a batch per level, so resolving the chains of
thousands of learners costs a few queries, not one per person.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from learning.accounts import DELIVERY_PLATFORM, user_id_column
from models import Person

MAX_DEPTH = 64  # longer chains are data errors; stop rather than loop


@dataclass(frozen=True)
class ChainPerson:
    """What the chain rules need to know about one person."""

    id: int
    name: str
    email: str
    manager_id: int | None
    active: bool
    away_until: object  # date | None
    timezone: str | None
    chat_user_id: str | None  # their user id on the delivery platform (None: unreachable)
    workspace_id: str


_COLUMNS = (
    Person.id,
    Person.name,
    Person.email,
    Person.manager_id,
    Person.active,
    Person.away_until,
    Person.timezone,
    user_id_column(DELIVERY_PLATFORM),
    Person.workspace_id,
)


class PeopleIndex:
    """People by id, loaded on demand from ``session``."""

    def __init__(self, session: Session | None, *, org_zone: str) -> None:
        self._session = session
        self._people: dict[int, ChainPerson | None] = {}
        self.org_zone = org_zone

    @classmethod
    def of(cls, people: Iterable[ChainPerson], *, org_zone: str) -> PeopleIndex:
        """An index of ``people`` only, with no database behind it (anyone else is unknown)."""
        index = cls(None, org_zone=org_zone)
        index._people.update((person.id, person) for person in people)
        return index

    def load(self, ids: Iterable[int | None]) -> None:
        wanted = [i for i in {i for i in ids if i is not None} if i not in self._people]
        if self._session is None:
            self._people.update(dict.fromkeys(wanted))
            return
        for start in range(0, len(wanted), 1000):
            chunk = wanted[start : start + 1000]
            for row in self._session.execute(select(*_COLUMNS).where(Person.id.in_(chunk))):
                self._people[row[0]] = ChainPerson(*row)
            for missing in chunk:
                self._people.setdefault(missing, None)

    def get(self, person_id: int | None) -> ChainPerson | None:
        if person_id is None:
            return None
        if person_id not in self._people:
            self.load([person_id])
        return self._people[person_id]

    def load_chains(self, ids: Iterable[int]) -> None:
        """Load ``ids`` and everyone above them, a level per query."""
        level = set(ids)
        for _ in range(MAX_DEPTH):
            self.load(level)
            level = {
                p.manager_id
                for i in level
                if (p := self._people.get(i)) is not None and p.manager_id is not None
            } - self._people.keys()
            if not level:
                return

    def can_take(self, person: ChainPerson, now: datetime) -> bool:
        """Active, reachable in chat, and not away on their own local date."""
        if not person.active or not person.chat_user_id:
            return False
        if person.away_until is None:
            return True
        today = now.astimezone(ZoneInfo(person.timezone or self.org_zone)).date()
        return bool(person.away_until < today)  # type: ignore[operator]

    def above(self, person_id: int) -> list[ChainPerson]:
        """Everyone above ``person_id``, nearest first (cut where the chain loops)."""
        seen = {person_id}
        chain: list[ChainPerson] = []
        current = self.get(person_id)
        while current is not None and current.manager_id is not None and len(chain) < MAX_DEPTH:
            if current.manager_id in seen:
                break
            seen.add(current.manager_id)
            current = self.get(current.manager_id)
            if current is not None:
                chain.append(current)
        return chain

    def takers(
        self, person_id: int, now: datetime
    ) -> tuple[ChainPerson | None, ChainPerson | None]:
        """(manager, skip-level) of ``person_id`` under the chain rules; None: nobody left."""
        able = [p for p in self.above(person_id) if self.can_take(p, now)]
        return (able[0] if able else None, able[1] if len(able) > 1 else None)

    def is_above(self, boss_id: int, person_id: int) -> bool:
        """Whether ``boss_id`` is in ``person_id``'s chain (directly or further up)."""
        return any(p.id == boss_id for p in self.above(person_id))
