"""ladder bookmark

``assignment.ladder_next_on`` / ``ladder_next_due``: the date before which the
escalation job need not look at an item again, and the due date it was computed for.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN, not batch mode (see 0004).
    op.add_column('assignment', sa.Column('ladder_next_on', sa.Date(), nullable=True))
    op.add_column('assignment', sa.Column('ladder_next_due', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.drop_column('ladder_next_due')
        batch_op.drop_column('ladder_next_on')
