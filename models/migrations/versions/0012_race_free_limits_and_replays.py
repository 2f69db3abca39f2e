"""race-free limits and replayed requests

``uq_extension_request_open``: at most one open extension request per assignment (a
partial unique index; a second open request already stored by the old race is closed
first, the earliest one stays). ``seen_request``: signatures of handled Slack requests,
kept for Slack's 5-minute signature window, so a replay is processed once.

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-01 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types


revision: str = '0012'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    op.execute(
        "UPDATE extension_request SET status = 'expired', decided_at = requested_at, "
        "decided_by = 'learnbot', decision_note = 'closed: a second open request on the "
        "same item (the first one stays open)' "
        "WHERE status = 'open' AND id > (SELECT min(earlier.id) FROM extension_request earlier "
        "WHERE earlier.assignment_id = extension_request.assignment_id "
        "AND earlier.status = 'open')"
    )
    op.create_index(
        'uq_extension_request_open',
        'extension_request',
        ['assignment_id'],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
    op.create_table(
        'seen_request',
        sa.Column('signature', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('expires_at', models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('signature'),
    )
    op.create_index(op.f('ix_seen_request_expires_at'), 'seen_request', ['expires_at'])


def downgrade() -> None:
    op.drop_index(op.f('ix_seen_request_expires_at'), table_name='seen_request')
    op.drop_table('seen_request')
    op.drop_index('uq_extension_request_open', table_name='extension_request')
