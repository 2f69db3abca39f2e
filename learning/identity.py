"""Who is asking: a caller the platform adapter resolved, admin rights, reporting chains.

Platform user ids are read at the edge (``platforms/<name>/identity.py``); the domain
gets a ``Caller`` (their person and whether they are an admin) or person ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlmodel import Session

from learning import accounts
from models import DEFAULT_WORKSPACE, ChatAccount, Person

UNKNOWN_PERSON = (
    "I don't have you in learnbot yet, so there is nothing for you here. "
    "Ask a learnbot admin to add you to the people list."
)


@dataclass(frozen=True)
class AdminList:
    """``LEARNBOT_ADMINS`` as one chat platform's adapter reads it.

    Attributes:
        platform: The platform whose user ids ``user_ids`` are.
        emails: Listed emails, lower case.
        user_ids: Listed platform user ids, spelled as the platform stores them.
        platform_admins: The platform's own admins count as learnbot admins
            (Slack: ``slack-admins``).
    """

    platform: str
    emails: frozenset[str] = frozenset()
    user_ids: frozenset[str] = frozenset()
    platform_admins: bool = False


@dataclass(frozen=True)
class Caller:
    """Who is asking, as the platform adapter resolved them at the edge.

    Attributes:
        person: Their person; None for an admin listed only by platform user id.
        admin: Whether they may run admin commands.
        handle: How an audit entry names them when learnbot does not know them
            (Slack: ``slack:U123``).
        audit_details: What an audit entry of theirs records about their account.
    """

    person: Person | None
    admin: bool
    handle: str
    audit_details: dict[str, str] = field(default_factory=dict)

    @property
    def actor(self) -> str:
        """How they appear as the actor of an audit entry."""
        return self.person.email if self.person is not None else self.handle

    @property
    def name(self) -> str:
        return self.person.name if self.person is not None else "A learnbot admin"


def is_admin(
    person: Person | None, *, user_id: str, account_admin: bool, admins: AdminList
) -> bool:
    """Whether this user may run admin commands.

    Admins are people flagged ``is_admin``, anyone whose email or platform user id is
    listed in ``LEARNBOT_ADMINS`` and, when the list says so (``platform_admins``),
    people the platform reports as its admins (``account_admin``). A deactivated person
    is never an admin.
    """
    if person is not None and not person.active:
        return False
    if user_id and user_id in admins.user_ids:
        return True
    if person is None:
        return False
    if account_admin and admins.platform_admins:
        return True
    return person.is_admin or person.email.lower() in admins.emails


@dataclass(frozen=True)
class AdminContact:
    """An admin learnbot can message on the platform."""

    user_id: str
    person_id: int | None


def admin_contacts(
    session: Session, *, admins: AdminList, workspace_id: str = DEFAULT_WORKSPACE
) -> tuple[AdminContact, ...]:
    """Admins with an account on ``admins.platform``: active people flagged
    ``is_admin``, the emails and user ids listed in ``LEARNBOT_ADMINS`` and, when it
    says so, the platform's own admins; in user id order."""
    flagged = Person.is_admin | Person.email.in_(admins.emails)  # type: ignore[attr-defined]
    if admins.platform_admins:
        flagged = flagged | ChatAccount.is_admin
    rows = session.execute(
        select(ChatAccount.user_id, Person.id)
        .join(Person, Person.id == ChatAccount.person_id)  # type: ignore[arg-type]
        .where(
            ChatAccount.platform == admins.platform,
            ChatAccount.workspace == workspace_id,
            Person.workspace_id == workspace_id,
            Person.active,
            flagged,
        )
    )
    contacts = {user_id: AdminContact(user_id, person_id) for user_id, person_id in rows}
    listed = admins.user_ids - contacts.keys()
    held = accounts.people_by_accounts(session, admins.platform, workspace_id, listed)
    for user_id in listed:
        person = held.get(user_id)
        if person is not None and not person.active:
            continue  # a deactivated person is never an admin
        contacts[user_id] = AdminContact(user_id, person.id if person else None)
    return tuple(contacts[key] for key in sorted(contacts))


def reporting_chain_ids(session: Session, manager_id: int) -> set[int]:
    """Ids of the active people directly or indirectly below ``manager_id``.

    One recursive query (SQLite and PostgreSQL). ``UNION`` (not ``UNION ALL``) drops rows
    already found, so a cycle in the manager links ends the walk instead of looping; the
    manager never counts as their own report even inside a cycle. The walk passes through
    deactivated managers (their reports are still in the chain until re-parented), but
    only active people are returned.
    """
    chain = (
        select(Person.id.label("id"))  # type: ignore[union-attr]
        .where(Person.manager_id == manager_id)
        .cte("chain", recursive=True)
    )
    below = select(Person.id).join(chain, Person.manager_id == chain.c.id)
    chain = chain.union(below)
    ids = session.scalars(
        select(Person.id).join(chain, Person.id == chain.c.id).where(Person.active)
    )
    return {person_id for person_id in ids if person_id != manager_id}


def manager_chain_ids(session: Session, person_id: int) -> list[int]:
    """Ids of ``person_id``'s managers, nearest first (cycle-safe, any activity state)."""
    seen: list[int] = []
    current = session.get(Person, person_id)
    while current is not None and current.manager_id is not None:
        if current.manager_id in seen or current.manager_id == person_id:
            break
        seen.append(current.manager_id)
        current = session.get(Person, current.manager_id)
    return seen


def can_see(session: Session, viewer: Person, subject_id: int, *, admin: bool) -> bool:
    """Whether ``viewer`` may see ``subject_id``'s progress: themself, their chain, or admin.

    Same answer as ``subject_id in reporting_chain_ids(viewer.id)`` for others, but walks
    up from the subject, so it costs the depth of the org, not the size of the team.
    """
    if admin or subject_id == viewer.id:
        return True
    if viewer.id is None or not viewer.active:
        return False
    subject = session.get(Person, subject_id)
    if subject is None or not subject.active:
        return False
    return viewer.id in manager_chain_ids(session, subject_id)
