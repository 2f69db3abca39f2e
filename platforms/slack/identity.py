"""Slack's side of identity: Slack user ids, user objects and admin lists, read at the edge.

Everything Slack says about people is turned into domain terms here: a Slack user id
into a person (``person_by_slack_id``, ``caller``), a Slack user object into a
``learning.members.Member`` (``member_from_slack``), ``LEARNBOT_ADMINS`` (with its Slack
ids and ``slack-admins``) into an ``AdminList``, and the people file's
``slack_user_id`` column into a chat account (``PEOPLE_COLUMN``). The domain only
sees person ids and ``ChatAccount`` rows with ``platform == "slack"``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session

from learning import accounts
from learning.errors import NotFound
from learning.identity import UNKNOWN_PERSON, AdminList, Caller, is_admin
from learning.members import NAME_MAX, ZONE_MAX, Member
from learning.people_import import AccountColumn
from learning.plain_text import one_line
from models import DEFAULT_WORKSPACE, ChatAccount, Person

PLATFORM = "slack"
# In LEARNBOT_ADMINS: Slack workspace admins and owners are learnbot admins too.
SLACK_ADMINS = "slack-admins"
SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,31}$")  # in the people file
SLACK_ID_MAX = 32  # Slack's ids are about 11 characters


def canonical(slack_user_id: str) -> str:
    """Slack user ids are upper case; a lower-cased one (hand-written) means the same."""
    return slack_user_id.upper()


# --- people ------------------------------------------------------------------------------


def person_by_slack_id(
    session: Session, slack_user_id: str, *, workspace_id: str = DEFAULT_WORKSPACE
) -> Person | None:
    """The person with this Slack user id in ``workspace_id``, active or not; None if unknown."""
    if not slack_user_id or len(slack_user_id) > SLACK_ID_MAX:
        return None
    return accounts.person_by_account(session, PLATFORM, workspace_id, canonical(slack_user_id))


def slack_account(session: Session, person: Person | None) -> ChatAccount | None:
    """``person``'s Slack account in their workspace."""
    if person is None or person.id is None:
        return None
    return accounts.account_of(session, person.id, PLATFORM, workspace=person.workspace_id)


def slack_id_of(session: Session, person_id: int | None) -> str | None:
    """The Slack user id that addresses ``person_id``; None if they have none."""
    return accounts.user_id_of(session, person_id, PLATFORM)


def require_person(
    session: Session, slack_user_id: str, *, workspace_id: str = DEFAULT_WORKSPACE
) -> Person:
    """``person_by_slack_id``, or ``NotFound`` with a message telling the user what to do."""
    person = person_by_slack_id(session, slack_user_id, workspace_id=workspace_id)
    if person is None:
        raise NotFound(UNKNOWN_PERSON)
    return person


# --- admins ------------------------------------------------------------------------------


def slack_admins_count(admins: tuple[str, ...]) -> bool:
    """Whether ``LEARNBOT_ADMINS`` makes Slack workspace admins and owners learnbot admins."""
    return any(entry.strip().lower() == SLACK_ADMINS for entry in admins)


def admin_list(admins: tuple[str, ...]) -> AdminList:
    """``LEARNBOT_ADMINS`` (``Settings.admins``, lower-cased) as Slack reads it: emails,
    Slack user ids (compared case-insensitively) and ``slack-admins``."""
    listed = {entry.strip().lower() for entry in admins if entry.strip()}
    return AdminList(
        platform=PLATFORM,
        emails=frozenset(entry for entry in listed if "@" in entry),
        user_ids=frozenset(
            canonical(entry) for entry in listed if SLACK_ID.match(canonical(entry))
        ),
        platform_admins=SLACK_ADMINS in listed,
    )


def is_slack_admin(
    person: Person | None,
    *,
    slack_user_id: str,
    admins: tuple[str, ...],
    workspace_admin: bool = False,
) -> bool:
    """Whether this Slack user may run admin commands (``learning.identity.is_admin``):
    ``workspace_admin`` is what Slack last said of them (their account's admin flag)."""
    return is_admin(
        person,
        user_id=canonical(slack_user_id),
        account_admin=workspace_admin,
        admins=admin_list(admins),
    )


def caller(
    session: Session,
    slack_user_id: str,
    *,
    admins: tuple[str, ...],
    workspace_id: str = DEFAULT_WORKSPACE,
) -> Caller:
    """The person behind ``slack_user_id`` and whether they are a learnbot admin."""
    person = person_by_slack_id(session, slack_user_id, workspace_id=workspace_id)
    account = slack_account(session, person)
    admin = is_slack_admin(
        person,
        slack_user_id=slack_user_id,
        admins=admins,
        workspace_admin=account is not None and account.is_admin,
    )
    return Caller(
        person,
        admin,
        handle=f"slack:{slack_user_id}",
        audit_details={"slack_user_id": slack_user_id},
    )


# --- Slack user objects ------------------------------------------------------------------


def member_from_slack(user: Mapping[str, Any]) -> Member:
    """Read a Slack user object (``team_join`` / ``user_change`` ``event.user``,
    ``users.info``).

    The name is the real name, else the display name, else the handle. A time zone
    Python does not know is dropped rather than stored.
    """
    profile = user.get("profile") or {}
    if not isinstance(profile, Mapping):
        profile = {}
    email = str(profile.get("email") or user.get("email") or "").strip().lower() or None
    name = next(
        (
            one_line(str(value))  # plain words: no control characters, one line
            for value in (
                user.get("real_name"),
                profile.get("real_name"),
                profile.get("display_name"),
                user.get("name"),
            )
            if value and str(value).strip()
        ),
        "",
    )
    return Member(
        platform=PLATFORM,
        label="Slack",
        user_id=str(user.get("id") or ""),
        email=email,
        name=name[:NAME_MAX],
        timezone=_valid_zone(user.get("tz")),
        deleted=bool(user.get("deleted")),
        is_bot=bool(user.get("is_bot") or user.get("is_app_user")) or user.get("id") == "USLACKBOT",
        workspace_admin=any(
            user.get(flag) is True for flag in ("is_admin", "is_owner", "is_primary_owner")
        ),
    )


def _valid_zone(value: Any) -> str | None:
    if not isinstance(value, str) or not value or len(value) > ZONE_MAX:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return value


# --- the people file ---------------------------------------------------------------------


def _check_people_file_id(value: str) -> str | None:
    if not SLACK_USER_ID.match(value):
        return f"bad Slack user id {value!r} (looks like U0123ABCD)"
    return None


# The people file's ``slack_user_id`` column: a person's Slack account.
PEOPLE_COLUMN = AccountColumn(
    column="slack_user_id",
    platform=PLATFORM,
    label="Slack user id",
    problem=_check_people_file_id,
    key=canonical,
)


def known_caller(
    session: Session,
    slack_user_id: str,
    *,
    admins: tuple[str, ...],
    workspace_id: str = DEFAULT_WORKSPACE,
) -> Caller:
    """``caller``, refusing (``NotFound``) someone learnbot does not know who is not a
    listed admin either."""
    found = caller(session, slack_user_id, admins=admins, workspace_id=workspace_id)
    if found.person is None and not found.admin:
        raise NotFound(UNKNOWN_PERSON)
    return found
