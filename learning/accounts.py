"""Chat accounts: how each chat platform knows a person (``ChatAccount``).

The domain addresses people by person id; a platform adapter turns its user ids into
people (``person_by_account``) at the edge, and a message's recipient into the
platform's user id (``account_of``) when it addresses a message. Platform names and
user ids are opaque strings here: only the adapter knows their shape.

Every function takes the caller's ``Session`` and never commits.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ScalarSelect, select
from sqlmodel import Session

from models import ChatAccount, Person

# The platform whose accounts address outgoing messages today (the outbox's recipients
# are that platform's user ids until addresses become neutral).
DELIVERY_PLATFORM = "slack"

USER_ID_MAX = 64  # the column's size


def account_of(
    session: Session, person_id: int, platform: str, *, workspace: str | None = None
) -> ChatAccount | None:
    """``person_id``'s account on ``platform`` (in ``workspace`` if given); None if none.

    Without ``workspace``, the account in the person's own workspace if they have one
    there, else their oldest account on the platform.
    """
    accounts = list(
        session.scalars(
            select(ChatAccount)
            .where(ChatAccount.person_id == person_id, ChatAccount.platform == platform)
            .order_by(ChatAccount.id)  # type: ignore[arg-type]
        )
    )
    if workspace is not None:
        return next((a for a in accounts if a.workspace == workspace), None)
    if len(accounts) > 1:
        person = session.get(Person, person_id)
        home = person.workspace_id if person is not None else None
        return next((a for a in accounts if a.workspace == home), accounts[0])
    return accounts[0] if accounts else None


def user_id_of(session: Session, person_id: int | None, platform: str) -> str | None:
    """The user id that addresses ``person_id`` on ``platform``; None if they have none."""
    if person_id is None:
        return None
    account = account_of(session, person_id, platform)
    return account.user_id if account is not None else None


def accounts_of(
    session: Session, person_ids: Iterable[int], platform: str
) -> dict[int, ChatAccount]:
    """Batch ``account_of``: person id -> account, for the people who have one."""
    ids = sorted(set(person_ids))
    found: dict[int, ChatAccount] = {}
    for start in range(0, len(ids), 500):
        for account in session.scalars(
            select(ChatAccount)
            .where(
                ChatAccount.person_id.in_(ids[start : start + 500]),  # type: ignore[attr-defined]
                ChatAccount.platform == platform,
            )
            .order_by(ChatAccount.id)  # type: ignore[arg-type]
        ):
            found.setdefault(account.person_id, account)
    return found


def user_ids_of(session: Session, person_ids: Iterable[int], platform: str) -> dict[int, str]:
    """Batch ``user_id_of``: person id -> user id, for the people who have one."""
    return {pid: a.user_id for pid, a in accounts_of(session, person_ids, platform).items()}


def user_id_column(platform: str) -> ScalarSelect[str]:
    """A column for queries on ``Person``: the person's user id on ``platform`` in their
    workspace, NULL without an account; a planner reads it in the same query.

    A correlated subquery (one probe of ``uq_chat_account_person`` per row), not a join:
    the query keeps the plan it had on ``person`` alone, and a grouped query groups by
    the person only.
    """
    return (
        select(ChatAccount.user_id)
        .where(
            ChatAccount.person_id == Person.id,
            ChatAccount.platform == platform,
            ChatAccount.workspace == Person.workspace_id,
        )
        .correlate(Person)
        .scalar_subquery()
    )


def person_by_account(
    session: Session, platform: str, workspace: str, user_id: str
) -> Person | None:
    """The person whose account this is, active or not; None if unknown."""
    if not user_id or "\x00" in user_id or len(user_id) > USER_ID_MAX:
        return None  # never a real id (and PostgreSQL refuses NUL in text)
    return session.scalars(
        select(Person)
        .join(ChatAccount, ChatAccount.person_id == Person.id)  # type: ignore[arg-type]
        .where(
            ChatAccount.platform == platform,
            ChatAccount.workspace == workspace,
            ChatAccount.user_id == user_id,
        )
    ).first()


def people_by_accounts(
    session: Session, platform: str, workspace: str, user_ids: Iterable[str]
) -> dict[str, Person]:
    """Batch ``person_by_account``: user id -> person, for the ids somebody holds."""
    wanted = sorted({u for u in user_ids if u and "\x00" not in u and len(u) <= USER_ID_MAX})
    found: dict[str, Person] = {}
    for start in range(0, len(wanted), 500):
        for user_id, person in session.execute(
            select(ChatAccount.user_id, Person)
            .join(Person, Person.id == ChatAccount.person_id)  # type: ignore[arg-type]
            .where(
                ChatAccount.platform == platform,
                ChatAccount.workspace == workspace,
                ChatAccount.user_id.in_(wanted[start : start + 500]),  # type: ignore[attr-defined]
            )
        ):
            found[user_id] = person
    return found


def link_account(
    session: Session, person: Person, *, platform: str, workspace: str, user_id: str
) -> ChatAccount | None:
    """Give ``person`` this account, replacing their previous user id on that platform
    and workspace; None (nothing changed) if somebody else holds ``user_id`` there: a
    user id addresses one person, the one who had it first."""
    assert person.id is not None
    holder = session.scalars(
        select(ChatAccount).where(
            ChatAccount.platform == platform,
            ChatAccount.workspace == workspace,
            ChatAccount.user_id == user_id,
        )
    ).first()
    if holder is not None:
        return holder if holder.person_id == person.id else None
    account = account_of(session, person.id, platform, workspace=workspace)
    if account is None:
        account = ChatAccount(
            person_id=person.id, platform=platform, workspace=workspace, user_id=user_id
        )
    else:
        account.user_id = user_id
    session.add(account)
    session.flush()
    return account


def set_platform_admin(session: Session, account: ChatAccount, admin: bool) -> bool:
    """Record whether the platform calls the account's owner an admin; True if changed."""
    if account.is_admin == admin:
        return False
    account.is_admin = admin
    session.add(account)
    return True


__all__ = [
    "DELIVERY_PLATFORM",
    "account_of",
    "accounts_of",
    "link_account",
    "people_by_accounts",
    "person_by_account",
    "set_platform_admin",
    "user_id_column",
    "user_id_of",
    "user_ids_of",
]
