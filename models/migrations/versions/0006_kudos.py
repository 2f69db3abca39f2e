"""kudos

People thanking each other with ``/learn kudos @someone for ...``: who, whom, why, when,
and the giver's local day (the daily quota counts per giver per local day).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'kudos',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('giver_id', sa.Integer(), nullable=False),
        sa.Column('recipient_id', sa.Integer(), nullable=False),
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column('given_at', models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('giver_local_date', sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(['giver_id'], ['person.id'], ),
        sa.ForeignKeyConstraint(['recipient_id'], ['person.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_kudos_giver_local_date', 'kudos', ['giver_id', 'giver_local_date'])
    op.create_index(op.f('ix_kudos_recipient_id'), 'kudos', ['recipient_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_kudos_recipient_id'), table_name='kudos')
    op.drop_index('ix_kudos_giver_local_date', table_name='kudos')
    op.drop_table('kudos')
