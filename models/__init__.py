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
    CertificationRequirement,
    CompletionEvent,
    ConfigSnapshot,
    Item,
    ItemFeedback,
    ItemPrerequisite,
    OutboxMessage,
    OutboxStatus,
    Person,
    ProcessedEvent,
    Program,
    Tier,
    TierItem,
    WorkspaceState,
)
from models.types import UTCDateTime

__all__ = [
    "DEFAULT_WORKSPACE",
    "Assignment",
    "AssignmentStatus",
    "AuditEntry",
    "Certification",
    "CertificationRequirement",
    "CompletionEvent",
    "ConfigSnapshot",
    "Database",
    "Item",
    "ItemFeedback",
    "ItemPrerequisite",
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
]
