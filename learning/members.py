"""Chat workspace membership as it affects learnbot, as service functions.

* ``claim_event``: each Events API delivery is handled once (Slack retries carry the
  same ``event_id``).
* ``add_member`` / ``update_member``: a new chat member becomes a person without a role
  (an admin assigns one: ``assign_role``) with a chat account; profile changes update
  name and time zone; deactivation switches the person off, reactivation back on.
  Whether the platform calls them an admin is kept on their account
  (``ChatAccount.is_admin``; with Slack it makes them a learnbot admin when
  ``LEARNBOT_ADMINS`` contains ``slack-admins``), and every change of it is audited.
* ``stop_sending``: the app was uninstalled or its tokens revoked, so nothing more is
  sent to that workspace (``delivery.outbox.claim`` skips it) until ``resume_sending``.

Every function takes the caller's ``Session`` and never commits. The platform's user
objects are read by its adapter (Slack: ``platforms.slack.identity.member_from_slack``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from learning import accounts, audit
from learning.actions import NotAllowed
from learning.clock import Clock, local_date
from learning.curriculum import ProgramSettings
from learning.errors import LearnbotError, NotFound
from learning.identity import AdminContact, AdminList, Caller, admin_contacts
from learning.paths import current_settings, enroll
from models import (
    DEFAULT_WORKSPACE,
    ChatAccount,
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
ADMINS_ONLY = "Only learnbot admins can do that."


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
class Member:
    """A member of a chat workspace, as the platform's adapter read them.

    Attributes:
        platform: The platform (``ChatAccount.platform``).
        label: The platform's name for people ("Slack"), in audit reasons.
        user_id: Their user id on the platform.
        workspace_admin: The platform calls them an admin (Slack: workspace admin,
            owner or primary owner).
    """

    platform: str
    label: str
    user_id: str
    email: str | None
    name: str
    timezone: str | None  # a valid IANA zone, or None
    deleted: bool
    is_bot: bool
    workspace_admin: bool = False


@dataclass(frozen=True)
class Joined:
    """What ``add_member`` did.

    Attributes:
        person: The person (new or linked), or None when the platform gave no email.
        created: A new person without a role: the admins should assign one.
        linked: A known person (by email) got this chat account.
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
    member: Member,
    *,
    clock: Clock,
    admins: AdminList,
    workspace_id: str = DEFAULT_WORKSPACE,
    actor: str | None = None,
) -> Joined | None:
    """A new chat member: create their person if their email is unknown.

    The new person has no role (``NO_ROLE``, so no path), starts today in their own time
    zone and is active. A known email only gets the account linked. Bots are ignored
    (None). ``actor`` defaults to ``<platform>:team_join``.
    """
    actor = actor or f"{member.platform}:team_join"
    if member.is_bot or not member.user_id:
        return None
    if member.email is None:
        log.warning(
            "team_join %s: %s gave no email; nobody was added", member.user_id, member.label
        )
        return Joined(
            None, admins=admin_contacts(session, admins=admins, workspace_id=workspace_id)
        )
    person = session.scalars(
        select(Person).where(Person.workspace_id == workspace_id, Person.email == member.email)
    ).first()
    if person is not None:
        return _link_known(session, person, member, clock=clock, actor=actor)
    return _create_member(
        session, member, clock=clock, admins=admins, workspace_id=workspace_id, actor=actor
    )


def _link_known(
    session: Session, person: Person, member: Member, *, clock: Clock, actor: str
) -> Joined:
    """A known email joined: link their chat account (unless another person holds it)."""
    assert person.id is not None
    workspace_id = person.workspace_id
    held = accounts.account_of(session, person.id, member.platform, workspace=workspace_id)
    if held is not None:
        if held.user_id.upper() == member.user_id.upper():
            set_platform_admin(session, person, held, member, clock=clock, actor=actor)
        return Joined(person)
    account = accounts.link_account(
        session,
        person,
        platform=member.platform,
        workspace=workspace_id,
        user_id=member.user_id,
    )
    if account is None:
        log.warning("%s %s is another person's account: not linked", member.label, member.user_id)
        return Joined(person)
    person.updated_at = clock.now()
    audit.record(
        session,
        clock=clock,
        actor=actor,
        action=f"person.link_{member.platform}",
        subject=person.email,
        person_id=person.id,
        details={f"{member.platform}_user_id": member.user_id},
    )
    set_platform_admin(session, person, account, member, clock=clock, actor=actor)
    return Joined(person, linked=True)


def _create_member(
    session: Session,
    member: Member,
    *,
    clock: Clock,
    admins: AdminList,
    workspace_id: str,
    actor: str,
) -> Joined:
    """A new email joined: a person with no role, starting today in their zone."""
    assert member.email is not None
    settings = current_settings(session) or ProgramSettings()
    zone = member.timezone or settings.organisation.timezone
    now = clock.now()
    person = Person(
        workspace_id=workspace_id,
        email=member.email,
        name=member.name or member.email,
        role=NO_ROLE,
        role_start_date=local_date(now, zone),
        timezone=member.timezone,
        active=not member.deleted,
        created_at=now,
        updated_at=now,
    )
    session.add(person)
    session.flush()
    account = accounts.link_account(
        session, person, platform=member.platform, workspace=workspace_id, user_id=member.user_id
    )
    audit.record(
        session,
        clock=clock,
        actor=actor,
        action="person.join",
        subject=person.email,
        person_id=person.id,
        details={f"{member.platform}_user_id": member.user_id, "role": NO_ROLE},
    )
    if account is not None:
        set_platform_admin(session, person, account, member, clock=clock, actor=actor)
    contacts = admin_contacts(session, admins=admins, workspace_id=workspace_id)
    return Joined(
        person,
        created=True,
        admins=tuple(a for a in contacts if a.user_id != member.user_id),
    )


@dataclass(frozen=True)
class MemberChange:
    """What ``update_member`` changed: field -> [before, after]."""

    person: Person
    changed: dict[str, list[Any]]


def update_member(
    session: Session,
    member: Member,
    *,
    clock: Clock,
    workspace_id: str = DEFAULT_WORKSPACE,
    actor: str | None = None,
) -> MemberChange | None:
    """Bring a known person in line with their chat profile; None if learnbot does not
    know them.

    Name and time zone follow the platform; ``deleted`` switches the person off (never
    nudged again) and its reversal back on; the account's admin flag follows the
    workspace role (under ``changed`` too, as ``<platform>_admin``). A new time zone or
    a reactivation re-enrolls the person, as a people import does. Every change is
    audited. ``actor`` defaults to ``<platform>:user_change``.
    """
    actor = actor or f"{member.platform}:user_change"
    if member.is_bot or not member.user_id:
        return None
    person = accounts.person_by_account(session, member.platform, workspace_id, member.user_id)
    if person is None:
        return None
    assert person.id is not None
    account = accounts.account_of(session, person.id, member.platform, workspace=workspace_id)
    assert account is not None
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
    role_changed = set_platform_admin(session, person, account, member, clock=clock, actor=actor)
    role_key = f"{member.platform}_admin"
    if not changed:
        if role_changed:
            changed[role_key] = [not account.is_admin, account.is_admin]
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
        reason=f"{member.label} profile changed",
        details={"changed": changed},
    )
    if not person.active:
        _close_open_escalations(session, person, clock=clock)
    settings = current_settings(session)
    if person.active and settings is not None and {"timezone", "active"} & changed.keys():
        session.flush()
        enroll(session, clock=clock, settings=settings, person_ids=[person.id])
    if role_changed:
        changed[role_key] = [not account.is_admin, account.is_admin]
    return MemberChange(person, changed)


def set_platform_admin(
    session: Session,
    person: Person,
    account: ChatAccount,
    member: Member,
    *,
    clock: Clock,
    actor: str,
) -> bool:
    """Record whether the platform calls ``person`` an admin (Slack: workspace admin or
    owner) on their ``account``; True if that changed. A change is audited
    (``person.<platform>_admin_granted`` / ``_revoked``) whether or not the platform's
    admins count as learnbot admins: that may be configured later."""
    if not accounts.set_platform_admin(session, account, member.workspace_admin):
        return False
    person.updated_at = clock.now()
    if person.id is None:
        session.flush()
    state = "granted" if member.workspace_admin else "revoked"
    audit.record(
        session,
        clock=clock,
        actor=actor,
        action=f"person.{member.platform}_admin_{state}",
        subject=person.email,
        person_id=person.id,
        reason=f"{member.label} workspace role changed",
        details={
            f"{member.platform}_user_id": member.user_id,
            f"{member.platform}_admin": member.workspace_admin,
        },
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
    session: Session, *, caller: Caller, clock: Clock, attempted: str
) -> Person | None:
    """The admin's person (None for an admin listed only by platform user id); refuse
    anyone else.

    Raises:
        NotAllowed: not a learnbot admin. The refusal is audited (flushed to the session;
            run the call in ``learning.actions.unit_of_work`` to keep it).
    """
    if caller.admin:
        return caller.person
    person = caller.person
    entry = {
        "at": clock.now(),
        "actor": caller.actor,
        "action": "admin.refused",
        "person_id": person.id if person is not None else None,
        "subject": attempted,
        "reason": "not a learnbot admin",
        "details": {**caller.audit_details, "attempted": attempted},
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
    caller: Caller,
    clock: Clock,
    workspace_id: str = DEFAULT_WORKSPACE,
) -> RoleForm:
    """The assign-role modal's contents, for an admin only.

    Raises:
        NotAllowed: ``caller`` is not an admin (audited).
        NotFound: No such person in the workspace.
    """
    require_admin(session, caller=caller, clock=clock, attempted="assign_role")
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
    caller: Caller,
    clock: Clock,
    workspace_id: str = DEFAULT_WORKSPACE,
) -> Person:
    """``assign_role`` for the admin ``caller``, who is checked (and audited) first.

    Raises:
        NotAllowed: not an admin (audited).
        NotFound: No such person in the workspace.
        RoleUnknown: ``role`` has no active program.
    """
    require_admin(session, caller=caller, clock=clock, attempted="assign_role")
    person = session.get(Person, person_id)
    if person is None or person.workspace_id != workspace_id:
        raise NotFound("That person is no longer in learnbot.")
    return assign_role(
        session, person_id=person_id, role=role, clock=clock, actor=caller.actor, team=team
    )
