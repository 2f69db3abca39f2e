"""SQLModel tables, the engine/session factory and Alembic migrations.

Importing this package has no side effects: no engine is built until asked.
"""

from models.db import Database, open_database
from models.tables import (
    DEFAULT_WORKSPACE,
    Assignment,
    AssignmentStatus,
    AuditEntry,
    Certification,
    CertificationAward,
    CertificationRequirement,
    CompletionEvent,
    ConfigSnapshot,
    ExtensionRequest,
    ExtensionStatus,
    Item,
    ItemFeedback,
    ItemPrerequisite,
    Kudos,
    OutboxMessage,
    OutboxStatus,
    Person,
    ProcessedEvent,
    Program,
    Tier,
    TierItem,
    WorkspaceState,
    status_by_person,
)
from models.types import UTCDateTime

__all__ = [
    "DEFAULT_WORKSPACE",
    "Assignment",
    "AssignmentStatus",
    "AuditEntry",
    "Certification",
    "CertificationAward",
    "CertificationRequirement",
    "CompletionEvent",
    "ConfigSnapshot",
    "Database",
    "ExtensionRequest",
    "ExtensionStatus",
    "Item",
    "ItemFeedback",
    "ItemPrerequisite",
    "Kudos",
    "OutboxMessage",
    "OutboxStatus",
    "Person",
    "ProcessedEvent",
    "Program",
    "Tier",
    "TierItem",
    "UTCDateTime",
    "WorkspaceState",
    "open_database",
    "status_by_person",
]
