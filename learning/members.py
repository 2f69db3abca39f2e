"""Slack workspace membership as it affects learnbot, as service functions.

* ``claim_event``: each Events API delivery is handled once (Slack retries carry the
  same ``event_id``).
* ``add_member`` / ``update_member``: a new Slack member becomes a person without a role
  (an admin assigns one: ``assign_role``); profile changes update name and time zone;
  deactivation switches the person off, reactivation back on. Whether Slack calls them a
  workspace admin or owner is kept too (``Person.slack_admin``; it makes them a learnbot
  admin when ``LEARNBOT_ADMINS`` contains ``slack-admins``), and every change of it is
  audited.
* ``stop_sending``: the app was uninstalled or its tokens revoked, so nothing more is
  sent to that workspace (``delivery.outbox.claim`` skips it) until ``resume_sending``.

Every function takes the caller's ``Session`` and never commits. Slack's user object is
read by ``member_from_slack`` (plain dicts: the domain never imports ``slack_sdk``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from learning import audit
from learning.actions import NotAllowed
from learning.clock import Clock, local_date
from learning.curriculum import ProgramSettings
from learning.errors import LearnbotError, NotFound
from learning.identity import is_admin, person_by_slack_id, slack_admins_count
from learning.paths import current_settings, enroll
from learning.plain_text import one_line
from models import (
    DEFAULT_WORKSPACE,
    ExtensionRequest,
    ExtensionStatus,
    Person,
    ProcessedEvent,
    Program,
    WorkspaceState,
)

log = logging.getLogger(__name__)

# Slack retries a delivery three times within about an hour; a day is plenty.
KEEP_PROCESSED_EVENTS = timedelta(days=1)
NO_ROLE = ""  # a person nobody has given a role yet: no path, nothing is nudged
NAME_MAX = 200
ZONE_MAX = 64
SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
ADMINS_ONLY = "Only learnbot admins can do that."
SLACK_ROLE_CHANGED = "Slack workspace role changed"


class RoleUnknown(LearnbotError):
    """The role has no active program."""


# --- event de-duplication --------------------------------------------------------------


def claim_event(
    session: Session,
    *,
    event_id: str,
    workspace_id: str = DEFAULT_WORKSPACE,
    now: datetime,
    keep: timedelta = KEEP_PROCESSED_EVENTS,
) -> bool:
    """Record ``event_id`` as handled; False if it already was (a retry: do nothing).

    ``INSERT ... ON CONFLICT DO NOTHING``: of two deliveries racing, exactly one gets
    True. Ids older than ``keep`` are forgotten on the way (an indexed range delete
    that usually finds one row or none), so the table stays small without a job.
    """
    row = {"event_id": event_id[:64], "workspace_id": workspace_id, "received_at": now}
    table = ProcessedEvent.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        insert: Any = postgresql.insert(table)
    elif dialect == "sqlite":
        insert = sqlite.insert(table)
    else:
        raise NotImplementedError(
            f"event de-duplication supports PostgreSQL and SQLite, not {dialect}"
        )
    claimed = session.execute(
        insert.values(**row)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(table.c.event_id)
    ).first()
    session.execute(delete(table).where(table.c.received_at < now - keep))
    return claimed is not None


# --- the workspace switch -------------------------------------------------------------------


def stop_sending(
    session: Session, *, workspace_id: str, reason: str, clock: Clock, actor: str
) -> bool:
    """Stop all sending to ``workspace_id``; False if it was stopped already."""
    state = session.get(WorkspaceState, workspace_id)
    if state is not None and state.sending_stopped_at is not None:
        return False
    if state is None:
        state = WorkspaceState(workspace_id=workspace_id)
        session.add(state)
    state.sending_stopped_at = clock.now()
    state.reason = reason[:200]
    audit.record(
        session,
        clock=clock,
        actor=actor,
        action="workspace.stop_sending",
        subject=workspace_id,
        reason=reason,
    )
    return True


def resume_sending(session: Session, *, workspace_id: str, clock: Clock, actor: str) -> bool:
    """Allow sending to ``workspace_id`` again (after a reinstall); False if it was not stopped."""
    state = session.get(WorkspaceState, workspace_id)
    if state is None or state.sending_stopped_at is None:
        return False
    state.sending_stopped_at = None
    state.reason = ""
    audit.record(
        session, clock=clock, actor=actor, action="workspace.resume_sending", subject=workspace_id
    )
    return True


def sending_stopped(session: Session, workspace_id: str) -> bool:
    """Whether sending to ``workspace_id`` is stopped."""
    state = session.get(WorkspaceState, workspace_id)
    return state is not None and state.sending_stopped_at is not None


# --- members -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlackMember:
    """What learnbot reads from a Slack user object."""

    slack_user_id: str
    email: str | None
    name: str
    timezone: str | None  # a valid IANA zone, or None
    deleted: bool
    is_bot: bool
    workspace_admin: bool = False  # a Slack workspace admin, owner or primary owner


def member_from_slack(user: Mapping[str, Any]) -> SlackMember:
    """Read a Slack user object (``team_join`` / ``user_change`` ``event.user``).

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
    return SlackMember(
        slack_user_id=str(user.get("id") or ""),
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


@dataclass(frozen=True)
class AdminContact:
    """An admin learnbot can DM."""

    slack_user_id: str
    person_id: int | None


@dataclass(frozen=True)
class Joined:
    """What ``add_member`` did.

    Attributes:
        person: The person (new or linked), or None when Slack gave no email.
        created: A new person without a role: the admins should assign one.
        linked: A known person (by email) got this Slack user id.
        admins: Who to tell about a new person, or about one learnbot cannot add.
    """

    person: Person | None
    created: bool = False
    linked: bool = False
    admins: tuple[AdminContact, ...] = field(default_factory=tuple)

    @property
    def tell_admins(self) -> bool:
        return self.created or self.person is None


def add_member(
    session: Session,
    member: SlackMember,
    *,
    clock: Clock,
    admins: tuple[str, ...],
    workspace_id: str = DEFAULT_WORKSPACE,
    actor: str = "slack:team_join",
) -> Joined | None:
    """A new Slack member: create their person if their email is unknown.

    The new person has no role (``NO_ROLE``, so no path), starts today in their own time
    zone and is active. A known email only gets the Slack user id linked. Bots are
    ignored (None).
    """
    if member.is_bot or not member.slack_user_id:
        return None
    if member.email is None:
        log.warning("team_join %s: Slack gave no email; nobody was added", member.slack_user_id)
        return Joined(
            None, admins=admin_contacts(session, admins=admins, workspace_id=workspace_id)
        )
    person = session.scalars(
        select(Person).where(Person.workspace_id == workspace_id, Person.email == member.email)
    ).first()
    if person is not None:
        if person.slack_user_id:
            if person.slack_user_id.upper() == member.slack_user_id.upper():
                set_slack_admin(session, person, member, clock=clock, actor=actor)
            return Joined(person)
        person.slack_user_id = member.slack_user_id
        person.updated_at = clock.now()
        audit.record(
            session,
            clock=clock,
            actor=actor,
            action="person.link_slack",
            subject=person.email,
            person_id=person.id,
            details={"slack_user_id": member.slack_user_id},
        )
        set_slack_admin(session, person, member, clock=clock, actor=actor)
        return Joined(person, linked=True)
    settings = current_settings(session) or ProgramSettings()
    zone = member.timezone or settings.organisation.timezone
    now = clock.now()
    person = Person(
        workspace_id=workspace_id,
        email=member.email,
        name=member.name or member.email,
        slack_user_id=member.slack_user_id,
        role=NO_ROLE,
        role_start_date=local_date(now, zone),
        timezone=member.timezone,
        active=not member.deleted,
        created_at=now,
        updated_at=now,
    )
    session.add(person)
    session.flush()
    audit.record(
        session,
        clock=clock,
        actor=actor,
        action="person.join",
        subject=person.email,
        person_id=person.id,
        details={"slack_user_id": member.slack_user_id, "role": NO_ROLE},
    )
    set_slack_admin(session, person, member, clock=clock, actor=actor)
    contacts = admin_contacts(session, admins=admins, workspace_id=workspace_id)
    return Joined(
        person,
        created=True,
        admins=tuple(a for a in contacts if a.slack_user_id != member.slack_user_id),
    )


def admin_contacts(
    session: Session, *, admins: tuple[str, ...], workspace_id: str = DEFAULT_WORKSPACE
) -> tuple[AdminContact, ...]:
    """Admins with a Slack user id: active people flagged ``is_admin``, the Slack ids
    and emails in ``LEARNBOT_ADMINS`` (``Settings.admins``, lower-cased) and, with
    ``slack-admins`` in it, Slack workspace admins and owners; in id order."""
    listed = {entry.strip().lower() for entry in admins if entry.strip()}
    emails = {entry for entry in listed if "@" in entry}
    slack_ids = {entry.upper() for entry in listed if SLACK_ID.match(entry.upper())}
    flagged = Person.is_admin | Person.email.in_(emails)  # type: ignore[attr-defined]
    if slack_admins_count(admins):
        flagged = flagged | Person.slack_admin
    people = session.scalars(
        select(Person).where(
            Person.workspace_id == workspace_id,
            Person.active,
            Person.slack_user_id.is_not(None),  # type: ignore[union-attr]
            flagged,
        )
    )
    contacts: dict[str, AdminContact] = {}
    for person in people:
        assert person.slack_user_id is not None
        contacts[person.slack_user_id.upper()] = AdminContact(person.slack_user_id, person.id)
    for slack_id in slack_ids - contacts.keys():
        person = person_by_slack_id(session, slack_id, workspace_id=workspace_id)
        if person is not None and not person.active:
            continue  # a deactivated person is never an admin
        contacts[slack_id] = AdminContact(slack_id, person.id if person else None)
    return tuple(contacts[key] for key in sorted(contacts))


@dataclass(frozen=True)
class MemberChange:
    """What ``update_member`` changed: field -> [before, after]."""

    person: Person
    changed: dict[str, list[Any]]


def update_member(
    session: Session,
    member: SlackMember,
    *,
    clock: Clock,
    workspace_id: str = DEFAULT_WORKSPACE,
    actor: str = "slack:user_change",
) -> MemberChange | None:
    """Bring a known person in line with their Slack profile; None if learnbot does not
    know them.

    Name and time zone follow Slack; ``deleted`` switches the person off (never nudged
    again) and its reversal back on; ``slack_admin`` follows the workspace role (under
    ``changed`` too). A new time zone or a reactivation re-enrolls the person, as a
    people import does. Every change is audited.
    """
    if member.is_bot or not member.slack_user_id:
        return None
    person = person_by_slack_id(session, member.slack_user_id, workspace_id=workspace_id)
    if person is None:
        return None
    changed: dict[str, list[Any]] = {}
    if member.name and member.name != person.name:
        changed["name"] = [person.name, member.name]
        person.name = member.name
    if member.timezone and member.timezone != person.timezone:
        changed["timezone"] = [person.timezone, member.timezone]
        person.timezone = member.timezone
    if member.deleted == person.active:
        changed["active"] = [person.active, not member.deleted]
        person.active = not member.deleted
    role_changed = set_slack_admin(session, person, member, clock=clock, actor=actor)
    if not changed:
        if role_changed:
            changed["slack_admin"] = [not person.slack_admin, person.slack_admin]
        return MemberChange(person, changed)
    person.updated_at = clock.now()
    action = "person.update"
    if "active" in changed:
        action = "person.reactivate" if person.active else "person.deactivate"
    audit.record(
        session,
        clock=clock,
        actor=actor,
        action=action,
        subject=person.email,
        person_id=person.id,
        reason="Slack profile changed",
        details={"changed": changed},
    )
    if not person.active:
        _close_open_escalations(session, person, clock=clock)
    settings = current_settings(session)
    if person.active and settings is not None and {"timezone", "active"} & changed.keys():
        assert person.id is not None
        session.flush()
        enroll(session, clock=clock, settings=settings, person_ids=[person.id])
    if role_changed:
        changed["slack_admin"] = [not person.slack_admin, person.slack_admin]
    return MemberChange(person, changed)


def set_slack_admin(
    session: Session, person: Person, member: SlackMember, *, clock: Clock, actor: str
) -> bool:
    """Record whether Slack calls ``person`` a workspace admin or owner; True if that
    changed. A change is audited (``person.slack_admin_granted`` / ``_revoked``) whether
    or not ``slack-admins`` is configured: it may be configured later."""
    if person.slack_admin == member.workspace_admin:
        return False
    person.slack_admin = member.workspace_admin
    person.updated_at = clock.now()
    if person.id is None:
        session.flush()
    action = "person.slack_admin_granted"
    if not member.workspace_admin:
        action = "person.slack_admin_revoked"
    audit.record(
        session,
        clock=clock,
        actor=actor,
        action=action,
        subject=person.email,
        person_id=person.id,
        reason=SLACK_ROLE_CHANGED,
        details={"slack_user_id": member.slack_user_id, "slack_admin": member.workspace_admin},
    )
    return True


def _close_open_escalations(session: Session, person: Person, *, clock: Clock) -> None:
    """A deactivated person's escalations end: the ladder skips inactive learners, and
    their open extension requests are closed (nobody needs to decide them any more)."""
    closed = session.execute(
        update(ExtensionRequest)
        .where(
            ExtensionRequest.person_id == person.id,
            ExtensionRequest.status == ExtensionStatus.OPEN,
        )
        .values(
            status=ExtensionStatus.EXPIRED,
            decided_at=clock.now(),
            decided_by="learnbot",
            decision_note="closed: the person was deactivated",
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if closed:
        audit.record(
            session,
            clock=clock,
            actor="learnbot",
            action="extension.close",
            subject=person.email,
            person_id=person.id,
            reason="the person was deactivated",
            details={"requests": closed},
        )


# --- roles ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleChoice:
    """A role an admin can give someone: the program's role key and title."""

    role: str
    title: str


def role_choices(session: Session) -> list[RoleChoice]:
    """The roles with an active program, by title."""
    return [
        RoleChoice(role, title)
        for role, title in session.execute(
            select(Program.role, Program.title).where(Program.active).order_by(Program.title)
        )
    ]


def assign_role(
    session: Session,
    *,
    person_id: int,
    role: str,
    clock: Clock,
    actor: str,
    team: str | None = None,
) -> Person:
    """Give a person a role (and so a path) and enroll them at once.

    Someone who had no role keeps their start date (the day they joined); a change from
    another role restarts the tier clock today, in their own time zone.

    Raises:
        NotFound: No such person.
        RoleUnknown: ``role`` has no active program.
    """
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(f"nobody with id {person_id}")
    program = session.scalars(select(Program).where(Program.role == role, Program.active)).first()
    if program is None:
        raise RoleUnknown(f"there is no active program for the role {role!r}")
    settings = current_settings(session) or ProgramSettings()
    changed: dict[str, list[Any]] = {}
    if person.role != role:
        changed["role"] = [person.role, role]
        if person.role != NO_ROLE:
            zone = person.timezone or settings.organisation.timezone
            start = local_date(clock.now(), zone)
            changed["role_start_date"] = [person.role_start_date.isoformat(), start.isoformat()]
            person.role_start_date = start
        person.role = role
    if team is not None and team.strip() != person.team:
        changed["team"] = [person.team, team.strip()]
        person.team = team.strip()[:100]
    if changed:
        person.updated_at = clock.now()
        audit.record(
            session,
            clock=clock,
            actor=actor,
            action="person.assign_role",
            subject=person.email,
            person_id=person.id,
            details={"changed": changed},
        )
        session.flush()
        enroll(session, clock=clock, settings=settings, person_ids=[person_id])
    return person


# --- authorization ------------------------------------------------------------------------


def require_admin(
    session: Session,
    *,
    slack_user_id: str,
    admins: tuple[str, ...],
    clock: Clock,
    attempted: str,
    workspace_id: str = DEFAULT_WORKSPACE,
) -> Person | None:
    """The admin's person (None for an admin listed only by Slack id); refuse anyone else.

    Raises:
        NotAllowed: not a learnbot admin. The refusal is audited (flushed to the session;
            run the call in ``learning.actions.unit_of_work`` to keep it).
    """
    person = person_by_slack_id(session, slack_user_id, workspace_id=workspace_id)
    if is_admin(person, slack_user_id=slack_user_id, admins=admins):
        return person
    entry = {
        "at": clock.now(),
        "actor": person.email if person is not None else f"slack:{slack_user_id}",
        "action": "admin.refused",
        "person_id": person.id if person is not None else None,
        "subject": attempted,
        "reason": "not a learnbot admin",
        "details": {"slack_user_id": slack_user_id, "attempted": attempted},
    }
    audit.record(session, clock=clock, **{k: v for k, v in entry.items() if k != "at"})
    session.flush()
    raise NotAllowed(ADMINS_ONLY, audit_entry=entry)


@dataclass(frozen=True)
class RoleForm:
    """What the assign-role modal shows about one person."""

    person_id: int
    name: str
    role: str
    team: str
    roles: list[RoleChoice]


def role_form(
    session: Session,
    *,
    person_id: int,
    slack_user_id: str,
    admins: tuple[str, ...],
    clock: Clock,
    workspace_id: str = DEFAULT_WORKSPACE,
) -> RoleForm:
    """The assign-role modal's contents, for an admin only.

    Raises:
        NotAllowed: ``slack_user_id`` is not an admin (audited).
        NotFound: No such person in the workspace.
    """
    require_admin(
        session,
        slack_user_id=slack_user_id,
        admins=admins,
        clock=clock,
        attempted="assign_role",
        workspace_id=workspace_id,
    )
    person = session.get(Person, person_id)
    if person is None or person.workspace_id != workspace_id:
        raise NotFound("That person is no longer in learnbot.")
    return RoleForm(person_id, person.name, person.role, person.team, role_choices(session))


def assign_role_as_admin(
    session: Session,
    *,
    person_id: int,
    role: str,
    team: str | None,
    slack_user_id: str,
    admins: tuple[str, ...],
    clock: Clock,
    workspace_id: str = DEFAULT_WORKSPACE,
) -> Person:
    """``assign_role`` for the admin ``slack_user_id``, who is checked (and audited) first.

    Raises:
        NotAllowed: not an admin (audited).
        NotFound: No such person in the workspace.
        RoleUnknown: ``role`` has no active program.
    """
    admin = require_admin(
        session,
        slack_user_id=slack_user_id,
        admins=admins,
        clock=clock,
        attempted="assign_role",
        workspace_id=workspace_id,
    )
    person = session.get(Person, person_id)
    if person is None or person.workspace_id != workspace_id:
        raise NotFound("That person is no longer in learnbot.")
    return assign_role(
        session,
        person_id=person_id,
        role=role,
        clock=clock,
        actor=admin.email if admin is not None else f"slack:{slack_user_id}",
        team=team,
    )
