"""public posts

A person-level privacy switch: whether certifications and milestones may be announced
in the recognition channel (``/learn privacy public|private``). Everyone starts public.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (with its default), not batch mode: batch would rebuild the
    # person table, and SQLite refuses to drop it while other tables point at it.
    op.add_column(
        'person',
        sa.Column('public_posts', sa.Boolean(), server_default=sa.true(), nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_column('public_posts')
