"""Addressing people on the memory platform: the stand-in for a per-person primary
platform, which core does not have yet.

What stops it in core (found while writing this adapter):

- Every planner and workflow addresses ``learning.accounts.DELIVERY_PLATFORM``, a
  constant (``"slack"``): the recipient is the person's user id on that platform
  (``user_id_column(DELIVERY_PLATFORM)`` / ``user_id_of(..., DELIVERY_PLATFORM)`` in
  ``learning/planner.py``, ``schedules/escalations.py``, ``schedules/certifications.py``,
  ``learning/certifications.py`` and eight more), and ``NewMessage.platform`` defaults to
  ``models.tables.DEFAULT_PLATFORM``, which no planner overrides. There is no per-person
  or per-company choice of platform to set.
- A person without a Slack account is "unreachable" to the planners (``PlanStats``),
  even with a memory account: they get no digest, escalation or award DM at all.
- Some facts carry Slack user ids for mentions (``holder_slack_id``, ``slack_user_id``
  in the certification kinds): another platform's renderer is handed Slack's ids, not
  person ids it could turn into its own mention.

So the test's composition root re-addresses, after planning and before sending, the
pending person rows of people whose primary platform is memory: same key, kind and
facts, new address (platform, tenant, the person's memory user id, looked up through
``learning.accounts``). Rows addressed to channels stay where the YAML put them.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from learning.accounts import DELIVERY_PLATFORM, accounts_of
from models import OutboxMessage, OutboxStatus, RecipientKind
from models.db import Database
from tests.memory_platform.identity import NAME


def readdress_to_memory(database: Database, person_ids: set[int]) -> int:
    """Move pending person rows of ``person_ids`` to their memory accounts; how many."""
    with database.session() as session:
        return _readdress(session, person_ids)


def _readdress(session: Session, person_ids: set[int]) -> int:
    rows = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.platform == DELIVERY_PLATFORM,
            OutboxMessage.recipient_kind == RecipientKind.PERSON,
            OutboxMessage.person_id.in_(sorted(person_ids)),  # type: ignore[union-attr]
        )
    ).all()
    accounts = accounts_of(session, [r.person_id for r in rows if r.person_id], NAME)
    moved = 0
    for row in rows:
        account = accounts.get(row.person_id or 0)
        if account is None:
            continue  # no memory account: the row stays on its platform
        row.platform, row.workspace_id, row.recipient = NAME, account.workspace, account.user_id
        session.add(row)
        moved += 1
    return moved
