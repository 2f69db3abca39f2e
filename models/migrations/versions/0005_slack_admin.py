"""slack admin

Whether a person is a Slack workspace admin or owner, as Slack last reported it; with
``slack-admins`` in ``LEARNBOT_ADMINS`` such people are learnbot admins too.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (with its default), not batch mode: batch would rebuild the
    # person table, and SQLite refuses to drop it while other tables point at it.
    op.add_column(
        'person',
        sa.Column('slack_admin', sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_column('slack_admin')
