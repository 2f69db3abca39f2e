"""The database tables.

Time rules: every instant is an aware UTC ``datetime`` (``UTCDateTime``); every
calendar day that belongs to a person (a due date, a role start, an away-until) is a
plain ``date`` meant in that person's own time zone.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, false, text, true
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime

DEFAULT_WORKSPACE = "default"
DEFAULT_PLATFORM = "slack"
"""The platform of outbox rows written before platforms were named (all Slack's)."""


class RecipientKind:
    """Who an outbox message goes to (``OutboxMessage.recipient_kind``)."""

    PERSON = "person"  # a direct message; recipient: the platform user id
    CHANNEL = "channel"  # a post in a conversation; recipient: its id (or Slack name)
    GROUP = "group"  # one conversation with several people; recipient: user ids, comma-joined
    THREAD = "thread"  # a reply; recipient: the conversation, thread_parent: the message
    ALL = (PERSON, CHANNEL, GROUP, THREAD)


def _utc(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


# --- People -----------------------------------------------------------------


class Person(SQLModel, table=True):
    """Someone in the organisation, as imported from the people CSV or a chat platform.

    How chat platforms know them is in ``ChatAccount`` (none, one or several accounts).
    """

    __tablename__ = "person"
    __table_args__ = (
        UniqueConstraint("workspace_id", "email", name="uq_person_workspace_email"),
        Index("ix_person_manager_id", "manager_id"),
        Index("ix_person_next_enroll_on", "next_enroll_on"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = Field(default=DEFAULT_WORKSPACE, max_length=32)
    email: str = Field(max_length=254)
    name: str = Field(max_length=200)
    manager_id: int | None = Field(default=None, foreign_key="person.id")
    role: str = Field(max_length=64)
    team: str = Field(default="", max_length=100)
    role_start_date: date
    timezone: str | None = Field(default=None, max_length=64)
    active: bool = True
    is_admin: bool = False
    away_until: date | None = None
    # Certifications and milestones may be announced in the recognition channel
    # (``/learn privacy public|private``); False means no public post names them.
    public_posts: bool = Field(default=True, sa_column_kwargs={"server_default": true()})
    # Named on the weekly game board and in ``/learn leaderboard`` (opt-in:
    # ``/learn leaderboard join``); teams are always ranked, people only by choice.
    on_leaderboard: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # May be paired with learners as a mentor (``/learn mentor on|off``).
    mentoring: bool = Field(default=True, sa_column_kwargs={"server_default": true()})
    # The person's local date on which the enrollment job must look at them again: the
    # next tier opening of their path, or a date long past when something they depend
    # on changed (``learning.enrollment_schedule``). None: nothing to wait for.
    next_enroll_on: date | None = None
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class ChatAccount(SQLModel, table=True):
    """How one chat platform knows a person: their user id in a workspace or tenant.

    A person has at most one account per platform and workspace, and a platform user id
    belongs to one person. Only the platform's adapter (``platforms/<name>/``) reads or
    writes ``user_id``; the domain addresses people by ``person_id``.
    """

    __tablename__ = "chat_account"
    __table_args__ = (
        UniqueConstraint("platform", "workspace", "user_id", name="uq_chat_account_user"),
        UniqueConstraint("person_id", "platform", "workspace", name="uq_chat_account_person"),
    )

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    platform: str = Field(max_length=16)  # "slack", "teams", ...
    # The platform's workspace (Slack) or tenant (Teams), as the adapter names it.
    workspace: str = Field(max_length=64)
    user_id: str = Field(max_length=64)
    # A platform admin (Slack: workspace admin or owner), as the platform last said;
    # the adapter decides whether that makes them a learnbot admin (``slack-admins``).
    is_admin: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


# --- Curriculum (synced from YAML) -----------------------------------------


class Item(SQLModel, table=True):
    """A learning item in the catalogue. Retired, never deleted, so history stays."""

    __tablename__ = "item"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)
    title: str = Field(max_length=200)
    url: str | None = Field(default=None, max_length=500)
    method: str = Field(max_length=20)
    minutes: int = 0
    active: bool = True


class ItemPrerequisite(SQLModel, table=True):
    """``item_id`` should be delivered after ``requires_item_id``."""

    __tablename__ = "item_prerequisite"

    item_id: int = Field(foreign_key="item.id", primary_key=True)
    requires_item_id: int = Field(foreign_key="item.id", primary_key=True)


class Program(SQLModel, table=True):
    """The learning path for one job role."""

    __tablename__ = "program"

    id: int | None = Field(default=None, primary_key=True)
    role: str = Field(max_length=64, unique=True)
    title: str = Field(max_length=200)
    active: bool = True


class Tier(SQLModel, table=True):
    """A stage of a program, starting ``start_day`` calendar days into the role."""

    __tablename__ = "tier"
    __table_args__ = (UniqueConstraint("program_id", "key", name="uq_tier_program_key"),)

    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(foreign_key="program.id")
    key: str = Field(max_length=64)
    title: str = Field(max_length=200)
    start_day: int = 0
    position: int = 0
    active: bool = True


class TierItem(SQLModel, table=True):
    """An item's place in a tier: order, required or suggested, due offset."""

    __tablename__ = "tier_item"

    tier_id: int = Field(foreign_key="tier.id", primary_key=True)
    item_id: int = Field(foreign_key="item.id", primary_key=True)
    position: int = 0
    required: bool = False
    due_working_days: int = 0


class Certification(SQLModel, table=True):
    """A certification awarded when its requirements are met.

    Its validity, recertification window and grace are calendar periods
    (``learning.periods.Period``): ``*_months`` calendar months, then ``*_days`` days
    (``1y`` is 12 months and 0 days; ``30d`` is 0 months and 30 days).
    """

    __tablename__ = "certification"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)
    title: str = Field(max_length=200)
    valid_days: int
    recertify_window_days: int = 30
    grace_days: int = 0
    valid_months: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    recertify_window_months: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    grace_months: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    active: bool = True


class CertificationRequirement(SQLModel, table=True):
    """One item a certification needs, with an optional minimum assessment score."""

    __tablename__ = "certification_requirement"

    certification_id: int = Field(foreign_key="certification.id", primary_key=True)
    item_id: int = Field(foreign_key="item.id", primary_key=True)
    min_score: float | None = None
    # A score the learner typed counts towards min_score (else only trusted sources do).
    self_reported_scores: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


class ConfigSnapshot(SQLModel, table=True):
    """Each applied program configuration; the newest one is in force.

    The curriculum lives in its own tables; the rest of the file (cadence, calendar,
    ladder, channels) is kept here as validated JSON so every process reads one truth.
    """

    __tablename__ = "config_snapshot"

    id: int | None = Field(default=None, primary_key=True)
    loaded_at: datetime = _utc()
    source: str = Field(max_length=500)
    sha256: str = Field(max_length=64)
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class CertificationAward(SQLModel, table=True):
    """A person holds (or held) a certification; ``cycle`` counts renewals (0 = first)."""

    __tablename__ = "certification_award"
    __table_args__ = (
        UniqueConstraint(
            "person_id", "certification_id", "cycle", name="uq_certification_award_cycle"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    certification_id: int = Field(foreign_key="certification.id")
    cycle: int = 0
    awarded_at: datetime = _utc()
    expires_at: datetime | None = _utc(default=None)
    lapsed_at: datetime | None = _utc(default=None)


class Kudos(SQLModel, table=True):
    """One person thanking another (``/learn kudos @someone for ...``).

    ``giver_local_date`` is the day in the giver's own time zone when it was given: the
    daily quota counts per giver per that day.
    """

    __tablename__ = "kudos"
    __table_args__ = (Index("ix_kudos_giver_local_date", "giver_id", "giver_local_date"),)

    id: int | None = Field(default=None, primary_key=True)
    giver_id: int = Field(foreign_key="person.id")
    recipient_id: int = Field(foreign_key="person.id", index=True)
    reason: str = Field(max_length=500)
    given_at: datetime = _utc()
    giver_local_date: date


# --- Peer learning ------------------------------------------------------------


class PeerPrompt(SQLModel, table=True):
    """A peer-learning prompt about one item, posted in the community channel.

    ``local_date`` is the organisation-time-zone day it was planned for (one prompt a
    day at most); the outbox key is ``peer:{id}:post`` and the thread follow-up
    ``peer:{id}:intro``. ``learners_due`` is the weight the item was chosen with.
    """

    __tablename__ = "peer_prompt"
    __table_args__ = (
        UniqueConstraint("workspace_id", "local_date", name="uq_peer_prompt_day"),
        Index("ix_peer_prompt_item", "item_id", "local_date"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = Field(default=DEFAULT_WORKSPACE, max_length=32)
    item_id: int = Field(foreign_key="item.id")
    local_date: date
    channel: str = Field(max_length=100)
    learners_due: int = 0
    created_at: datetime = _utc()
    followed_up_at: datetime | None = _utc(default=None)


class PeerPromptResponse(SQLModel, table=True):
    """Someone clicked "I can help" (``help``) or "I'm learning this" (``learning``)."""

    __tablename__ = "peer_prompt_response"
    __table_args__ = (
        UniqueConstraint("prompt_id", "person_id", "kind", name="uq_peer_prompt_response"),
    )

    id: int | None = Field(default=None, primary_key=True)
    prompt_id: int = Field(foreign_key="peer_prompt.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    kind: str = Field(max_length=16)
    clicked_at: datetime = _utc()


class MentorPairing(SQLModel, table=True):
    """A learner paired with a mentor for one item; the intro goes to a group DM
    (outbox key ``pairing:{id}:intro``)."""

    __tablename__ = "mentor_pairing"
    __table_args__ = (
        Index("ix_mentor_pairing_mentor", "mentor_id", "paired_at"),
        Index("ix_mentor_pairing_pair", "learner_id", "mentor_id", "paired_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    learner_id: int = Field(foreign_key="person.id")
    mentor_id: int = Field(foreign_key="person.id")
    item_id: int = Field(foreign_key="item.id")
    certification_id: int | None = Field(default=None, foreign_key="certification.id")
    reason: str = Field(max_length=32)  # why the mentor qualified: "certified" | "offered_help"
    paired_at: datetime = _utc()


# --- Progress ----------------------------------------------------------------


class AssignmentStatus:
    OPEN = "open"
    COMPLETED = "completed"
    WAIVED = "waived"
    CLOSED = "closed"  # no longer on the person's path (item removed, role changed)

    ALL = (OPEN, COMPLETED, WAIVED, CLOSED)


class Assignment(SQLModel, table=True):
    """A person owes an item. ``cycle`` counts recertification rounds (0 = first)."""

    __tablename__ = "assignment"
    __table_args__ = (
        UniqueConstraint("person_id", "item_id", "cycle", name="uq_assignment_person_item_cycle"),
        Index("ix_assignment_status_due", "status", "due_date"),
        # The escalation job's scan: open required items due by a date, those still
        # climbing the ladder filtered in the index (not one table read per overdue item).
        Index("ix_assignment_escalation", "status", "required", "due_date", "ladder_step"),
    )

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    item_id: int = Field(foreign_key="item.id")
    tier_id: int | None = Field(default=None, foreign_key="tier.id")
    cycle: int = 0
    required: bool = False
    status: str = Field(default=AssignmentStatus.OPEN, max_length=16)
    assigned_at: datetime = _utc()
    due_date: date | None = None
    # An admin set the due date by hand: enrollment leaves it alone.
    due_pinned: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    completed_at: datetime | None = _utc(default=None)
    score: float | None = None
    evidence_url: str | None = Field(default=None, max_length=500)
    completion_source: str | None = Field(default=None, max_length=32)
    waived_reason: str | None = Field(default=None, max_length=500)
    closed_at: datetime | None = _utc(default=None)
    snoozed_until: datetime | None = _utc(default=None)
    # The escalation ladder (learning.ladder): how many of its steps have been acted on,
    # and the working days it was paused by extension requests (they push later steps).
    ladder_step: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    ladder_paused_days: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # The escalation job's bookmark: no step is reached before ``ladder_next_on``
    # (a lower bound, in the learner's days) as computed for due date
    # ``ladder_next_due``; a new due date makes it void (schedules.escalations).
    ladder_next_on: date | None = None
    ladder_next_due: date | None = None
    # The inputs the due date was computed from (``learning.enrollment.DueBasis``):
    # enrollment re-dates an item only when one of them really changed. None for items
    # made outside the path rules (an admin's, a recertification round).
    due_role: str | None = Field(default=None, max_length=64)
    due_role_start: date | None = None
    due_start_day: int | None = None
    due_offset: int | None = None
    due_counted_from: date | None = None  # the learner's local day it was assigned
    due_released_on: date | None = None  # ... and the day its prerequisites were done
    # A due-date change the learner has not been told yet (``role``, ``role_start``,
    # ``curriculum``, ``admin``, ``prerequisite:ITEM_ID``): their next digest says it
    # once, and the transaction that enqueues that digest clears it.
    due_notice: str | None = Field(default=None, max_length=80)
    # A step is reached but its recipient cannot be told before this instant (their send
    # window is not open, or they had today's DM): the job skips the item until then,
    # for the due date in ``ladder_next_due`` (schedules.escalations).
    ladder_wait_until: datetime | None = _utc(default=None)


def status_by_person() -> Any:
    """``assignment.status`` for queries that pick assignments by person.

    Written ``status || ''`` so that no index serves the term: SQLite, without
    statistics, otherwise starts from ``ix_assignment_status_due`` (every open assignment
    of the company) instead of the person's index. docs/decisions.md, item 18.
    """
    return Assignment.status.concat("")  # type: ignore[attr-defined]


class ExtensionStatus:
    OPEN = "open"
    APPROVED = "approved"
    DECLINED = "declined"
    EXPIRED = "expired"  # nobody decided within the ladder's pause limit


class ExtensionRequest(SQLModel, table=True):
    """A learner asked for more time on an overdue item; the ladder pauses while it is open."""

    __tablename__ = "extension_request"
    __table_args__ = (
        Index("ix_extension_request_status", "status"),
        # One open request per assignment, whatever races (``learning.locks`` queues
        # them first; this is the database's own guarantee).
        Index(
            "uq_extension_request_open",
            "assignment_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    assignment_id: int = Field(foreign_key="assignment.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    approver_id: int | None = Field(default=None, foreign_key="person.id")
    proposed_due: date
    reason: str = Field(max_length=500)
    status: str = Field(default=ExtensionStatus.OPEN, max_length=16)
    requested_at: datetime = _utc()
    requested_on: date  # the learner's local date: the pause counts working days from it
    decided_at: datetime | None = _utc(default=None)
    decided_by: str | None = Field(default=None, max_length=254)
    decision_note: str | None = Field(default=None, max_length=500)


class CompletionEvent(SQLModel, table=True):
    """Every completion that arrived, from any source; ``dedupe_key`` makes it idempotent."""

    __tablename__ = "completion_event"

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=300, unique=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    item_id: int = Field(foreign_key="item.id")
    completed_at: datetime = _utc()
    recorded_at: datetime = _utc()
    score: float | None = None
    evidence_url: str | None = Field(default=None, max_length=500)
    source: str = Field(max_length=32)


class AuditEntry(SQLModel, table=True):
    """Who changed what, when and why."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _utc(index=True)
    actor: str = Field(max_length=254)
    action: str = Field(max_length=64)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    subject: str = Field(default="", max_length=300)
    reason: str = Field(default="", max_length=1000)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


# --- Delivery ---------------------------------------------------------------


class OutboxStatus:
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"

    ALL = (PENDING, SENDING, SENT, FAILED)


class OutboxMessage(SQLModel, table=True):
    """One message the bot decided to send; ``key`` is unique so planning is idempotent.

    The address is neutral: ``platform`` (e.g. ``slack``), ``workspace_id`` (workspace or
    tenant), ``recipient_kind`` (``RecipientKind``) and ``recipient`` (a user id, a
    conversation id, or user ids joined by commas for a group), with ``thread_parent``
    the posted message a ``thread`` reply answers. ``payload`` holds the facts of its
    ``kind``; the platform's renderer turns them into a message at send time. Where it
    landed is ``posted_conversation`` / ``posted_message``.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_not_before", "status", "not_before"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    platform: str = Field(default=DEFAULT_PLATFORM, max_length=16)
    workspace_id: str = Field(default=DEFAULT_WORKSPACE, max_length=32)
    kind: str = Field(max_length=32)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    recipient_kind: str = Field(max_length=16)
    recipient: str = Field(max_length=255)
    thread_parent: str | None = Field(default=None, max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=OutboxStatus.PENDING, max_length=16)
    attempts: int = 0
    not_before: datetime = _utc()
    created_at: datetime = _utc()
    claimed_at: datetime | None = _utc(default=None)
    claimed_by: str | None = Field(default=None, max_length=100)
    sent_at: datetime | None = _utc(default=None)
    posted_conversation: str | None = Field(default=None, max_length=255)
    posted_message: str | None = Field(default=None, max_length=64)
    last_error: str | None = Field(default=None, max_length=1000)


# --- Chat interactions --------------------------------------------------------


class ItemFeedback(SQLModel, table=True):
    """A learner's reaction to an item (Kirkpatrick level 1): a 1-5 rating and a comment.

    One row per assignment: answering again replaces the earlier answer.
    """

    __tablename__ = "item_feedback"
    __table_args__ = (UniqueConstraint("assignment_id", name="uq_item_feedback_assignment"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    assignment_id: int = Field(foreign_key="assignment.id")
    rating: int
    comment: str | None = Field(default=None, max_length=1000)
    at: datetime = _utc()


class ProcessedEvent(SQLModel, table=True):
    """An Events API delivery already handled: Slack's retries carry the same ``event_id``."""

    __tablename__ = "processed_event"

    event_id: str = Field(primary_key=True, max_length=64)
    workspace_id: str = Field(default=DEFAULT_WORKSPACE, max_length=32)
    received_at: datetime = _utc(index=True)


class SeenRequest(SQLModel, table=True):
    """A signed slash command or interaction already handled, by its signature.

    The same signature means the same timestamp and body: a replay. It is kept while
    Slack's signature window (5 minutes) could still accept it, then deleted.
    """

    __tablename__ = "seen_request"

    signature: str = Field(primary_key=True, max_length=100)
    expires_at: datetime = _utc(index=True)


class WorkspaceState(SQLModel, table=True):
    """Per-workspace switches: sending stops when the app is uninstalled or its tokens revoked."""

    __tablename__ = "workspace_state"

    workspace_id: str = Field(primary_key=True, max_length=32)
    sending_stopped_at: datetime | None = _utc(default=None)
    reason: str = Field(default="", max_length=200)
