"""The memory platform's identities: its user ids (``m-<name>``) in one tenant.

A person's memory account is a ``ChatAccount`` row like their Slack one, written through
``learning.accounts`` (platform and ids are opaque strings there): nothing in core
changes for a new platform's directory sync.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from learning.accounts import link_account, person_by_account
from learning.errors import NotFound
from models import Person
from models.db import Database

NAME = "memory"
"""The ``platform`` of the memory adapter's accounts and outbox rows."""
TENANT = "memory-tenant"
"""The memory platform's one workspace (a Teams tenant would be here)."""


def sync_directory(database: Database, users: dict[str, str]) -> None:
    """The platform's directory sync: ``users`` maps a person's email to their memory id.

    Raises:
        LookupError: An email is nobody's, or the id is somebody else's.
    """
    with database.session() as session:
        for email, user_id in users.items():
            person = session.scalars(select(Person).where(Person.email == email)).first()
            if person is None:
                raise LookupError(f"no person {email!r}")
            if (
                link_account(session, person, platform=NAME, workspace=TENANT, user_id=user_id)
                is None
            ):
                raise LookupError(f"{user_id!r} belongs to somebody else")


def require_person(session: Session, user_id: str) -> Person:
    """The person behind a memory user id, as a listener reads it from an event.

    Raises:
        NotFound: The id is nobody's on this platform (a refusal told to the clicker).
    """
    person = person_by_account(session, NAME, TENANT, user_id)
    if person is None:
        raise NotFound("You are not a learnbot user on this platform yet.")
    return person
