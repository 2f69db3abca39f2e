"""Who is asking: a Slack user as a person, admin rights, and reporting chains."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from learning.errors import NotFound
from models import DEFAULT_WORKSPACE, Person

# In LEARNBOT_ADMINS: Slack workspace admins and owners are learnbot admins too.
SLACK_ADMINS = "slack-admins"

UNKNOWN_PERSON = (
    "I don't have you in learnbot yet, so there is nothing for you here. "
    "Ask a learnbot admin to add you to the people list."
)


SLACK_ID_MAX = 32  # the column's size; Slack's ids are about 11 characters


def person_by_slack_id(
    session: Session, slack_user_id: str, *, workspace_id: str = DEFAULT_WORKSPACE
) -> Person | None:
    """The person with this Slack user id in ``workspace_id``, active or not; None if unknown.

    Slack user ids are upper case; a lower-cased id (from a hand-written CSV) matches too.
    """
    if not slack_user_id or "\x00" in slack_user_id or len(slack_user_id) > SLACK_ID_MAX:
        return None  # never an id Slack sends (and PostgreSQL refuses NUL in text)
    candidates = list(
        session.scalars(
            select(Person)
            .where(
                # `workspace_id || ''`: no index serves this term, so SQLite (without
                # statistics) looks the id up in ix_person_slack_user_id instead of
                # walking the workspace's whole (workspace_id, email) index: every Slack
                # request starts here (18 ms at 10,000 people; docs/decisions.md, 64).
                Person.workspace_id.concat("") == workspace_id,  # type: ignore[attr-defined]
                Person.slack_user_id.in_(  # type: ignore[union-attr]
                    {slack_user_id, slack_user_id.upper(), slack_user_id.lower()}
                ),
            )
            .order_by(Person.active.desc(), Person.id)  # type: ignore[attr-defined]
        )
    )
    return candidates[0] if candidates else None


def require_person(
    session: Session, slack_user_id: str, *, workspace_id: str = DEFAULT_WORKSPACE
) -> Person:
    """``person_by_slack_id``, or ``NotFound`` with a message telling the user what to do."""
    person = person_by_slack_id(session, slack_user_id, workspace_id=workspace_id)
    if person is None:
        raise NotFound(UNKNOWN_PERSON)
    return person


def slack_admins_count(admins: tuple[str, ...]) -> bool:
    """Whether ``LEARNBOT_ADMINS`` makes Slack workspace admins and owners learnbot admins."""
    return any(entry.strip().lower() == SLACK_ADMINS for entry in admins)


def is_admin(person: Person | None, *, slack_user_id: str, admins: tuple[str, ...]) -> bool:
    """Whether this user may run admin commands.

    Admins are people flagged ``is_admin``, anyone whose email or Slack user id is
    listed in ``LEARNBOT_ADMINS`` (``Settings.admins``, already lower-cased; Slack ids
    are compared case-insensitively) and, when that list contains ``slack-admins``,
    people Slack reports as workspace admins or owners (``Person.slack_admin``).
    A deactivated person is never an admin.
    """
    if person is not None and not person.active:
        return False
    listed = {entry.strip().lower() for entry in admins if entry.strip()}
    if slack_user_id and slack_user_id.lower() in listed:
        return True
    if person is None:
        return False
    if person.slack_admin and SLACK_ADMINS in listed:
        return True
    return person.is_admin or person.email.lower() in listed


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
