"""peer learning

The game board opt-in (``person.on_leaderboard``) and mentoring opt-out
(``person.mentoring``); peer-learning prompts and their clicks; mentor pairings.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 16:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN, not batch mode (see 0004).
    op.add_column(
        'person',
        sa.Column('on_leaderboard', sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column(
        'person',
        sa.Column('mentoring', sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    op.create_table(
        'peer_prompt',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column('local_date', sa.Date(), nullable=False),
        sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('learners_due', sa.Integer(), nullable=False),
        sa.Column('created_at', models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('followed_up_at', models.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['item_id'], ['item.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('workspace_id', 'local_date', name='uq_peer_prompt_day'),
    )
    op.create_index('ix_peer_prompt_item', 'peer_prompt', ['item_id', 'local_date'])
    op.create_table(
        'peer_prompt_response',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('prompt_id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('clicked_at', models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
        sa.ForeignKeyConstraint(['prompt_id'], ['peer_prompt.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('prompt_id', 'person_id', 'kind', name='uq_peer_prompt_response'),
    )
    op.create_index(
        op.f('ix_peer_prompt_response_prompt_id'), 'peer_prompt_response', ['prompt_id']
    )
    op.create_index(
        op.f('ix_peer_prompt_response_person_id'), 'peer_prompt_response', ['person_id']
    )
    op.create_table(
        'mentor_pairing',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('learner_id', sa.Integer(), nullable=False),
        sa.Column('mentor_id', sa.Integer(), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column('certification_id', sa.Integer(), nullable=True),
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('paired_at', models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['certification_id'], ['certification.id'], ),
        sa.ForeignKeyConstraint(['item_id'], ['item.id'], ),
        sa.ForeignKeyConstraint(['learner_id'], ['person.id'], ),
        sa.ForeignKeyConstraint(['mentor_id'], ['person.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_mentor_pairing_mentor', 'mentor_pairing', ['mentor_id', 'paired_at'])
    op.create_index(
        'ix_mentor_pairing_pair', 'mentor_pairing', ['learner_id', 'mentor_id', 'paired_at']
    )


def downgrade() -> None:
    op.drop_index('ix_mentor_pairing_pair', table_name='mentor_pairing')
    op.drop_index('ix_mentor_pairing_mentor', table_name='mentor_pairing')
    op.drop_table('mentor_pairing')
    op.drop_index(op.f('ix_peer_prompt_response_person_id'), table_name='peer_prompt_response')
    op.drop_index(op.f('ix_peer_prompt_response_prompt_id'), table_name='peer_prompt_response')
    op.drop_table('peer_prompt_response')
    op.drop_index('ix_peer_prompt_item', table_name='peer_prompt')
    op.drop_table('peer_prompt')
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_column('mentoring')
        batch_op.drop_column('on_leaderboard')
