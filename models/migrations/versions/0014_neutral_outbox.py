"""neutral outbox addresses, posted references and legacy payloads

The outbox addresses a recipient on a platform instead of a Slack channel string:
``platform`` ('slack' for every existing row), ``recipient_kind`` (person, channel,
group, thread), ``recipient`` (the old ``channel``, data kept, widened for platforms with
long conversation ids) and ``thread_parent`` (the ``thread_ts`` a reply's payload held).
What was posted is ``posted_conversation`` / ``posted_message`` (the old
``slack_channel`` / ``slack_ts``, renamed in place).

Payloads carry facts only from now on; rows of kind ``text`` (a rendered Slack message
stored by the old code) become kind ``legacy_slack``, which only the Slack adapter renders,
through the same escaping path as before, so rows queued before the upgrade are sent
once, unchanged. The ``text`` column (a copy of the rendered fallback) is dropped: the
renderer makes the text at send time (decision 81).

``recipient_kind`` of existing rows follows the Slack transport's own reading of the
channel string: a reply when the payload names a thread; user ids (``U…``/``W…``) joined
by commas are a group, one user id is a person; anything else a channel.

Downgrade puts the columns back; rows of the new fact kinds get an empty ``text`` and
the old code cannot render them (they would fail, visibly, in ``bot.py outbox``).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

USER_ID = "substr(recipient, 1, 1) IN ('U', 'W')"


def _thread_ts() -> str:
    """The payload's ``thread_ts`` as text, in this database's JSON dialect."""
    if op.get_bind().dialect.name == 'postgresql':
        return "payload->>'thread_ts'"
    return "json_extract(payload, '$.thread_ts')"


def upgrade() -> None:
    op.add_column(
        'outbox',
        sa.Column(
            'platform',
            sa.String(length=16),
            nullable=False,
            server_default='slack',
        ),
    )
    op.add_column(
        'outbox',
        sa.Column('recipient_kind', sa.String(length=16), nullable=True),
    )
    op.add_column(
        'outbox',
        sa.Column('thread_parent', sa.String(length=64), nullable=True),
    )
    thread_ts = _thread_ts()
    op.execute(f"UPDATE outbox SET thread_parent = {thread_ts} WHERE {thread_ts} <> ''")
    with op.batch_alter_table('outbox') as batch_op:
        batch_op.alter_column(
            'channel',
            new_column_name='recipient',
            existing_type=sa.String(length=64),
            type_=sa.String(length=255),
            existing_nullable=False,
        )
    op.execute(
        "UPDATE outbox SET recipient_kind = CASE "
        "WHEN thread_parent IS NOT NULL THEN 'thread' "
        f"WHEN {USER_ID} AND recipient LIKE '%,%' THEN 'group' "
        f"WHEN {USER_ID} THEN 'person' "
        "ELSE 'channel' END"
    )
    op.execute("UPDATE outbox SET kind = 'legacy_slack' WHERE kind = 'text'")
    with op.batch_alter_table('outbox') as batch_op:
        batch_op.alter_column(
            'platform',
            existing_type=sa.String(length=16),
            existing_nullable=False,
            server_default=None,
        )
        batch_op.alter_column(
            'recipient_kind',
            existing_type=sa.String(length=16),
            nullable=False,
        )
        batch_op.alter_column(
            'slack_channel',
            new_column_name='posted_conversation',
            existing_type=sa.String(length=64),
            type_=sa.String(length=255),
            existing_nullable=True,
        )
        batch_op.alter_column(
            'slack_ts',
            new_column_name='posted_message',
            existing_type=sa.String(length=32),
            type_=sa.String(length=64),
            existing_nullable=True,
        )
        batch_op.drop_column('text')


def downgrade() -> None:
    op.add_column('outbox', sa.Column('text', sa.String(), nullable=False, server_default=''))
    op.execute("UPDATE outbox SET kind = 'text' WHERE kind = 'legacy_slack'")
    with op.batch_alter_table('outbox') as batch_op:
        batch_op.alter_column('text', existing_type=sa.String(), server_default=None)
        batch_op.alter_column(
            'posted_message',
            new_column_name='slack_ts',
            existing_type=sa.String(length=64),
            type_=sa.String(length=32),
            existing_nullable=True,
        )
        batch_op.alter_column(
            'posted_conversation',
            new_column_name='slack_channel',
            existing_type=sa.String(length=255),
            type_=sa.String(length=64),
            existing_nullable=True,
        )
        batch_op.alter_column(
            'recipient',
            new_column_name='channel',
            existing_type=sa.String(length=255),
            type_=sa.String(length=64),
            existing_nullable=False,
        )
        batch_op.drop_column('thread_parent')
        batch_op.drop_column('recipient_kind')
        batch_op.drop_column('platform')
