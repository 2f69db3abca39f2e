"""next enroll on, ladder wait

``person.next_enroll_on``: the person's local date on which the enrollment job must
look at them again (their next tier opening, or a date long past when a change marked
them), with an index, so that the hourly job reads only the people whose date has come.
``assignment.ladder_wait_until``: an item whose escalation step is reached waits for its
recipient's next send window; the escalation job skips it until then.
``ix_assignment_escalation``: the escalation job's scan reads the index, not the table,
for items that finished climbing the ladder.

The backfill keeps every stored date and sends nothing: it only says when each active
person is next due. A tier of their path that they hold no assignment of is due on its
opening day (already past if enrollment has not reached it yet: the next pass does, as
the old hourly walk would have); tiers they hold are done. Nothing is enrolled here.

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-08 10:00:00.000000
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta

import sqlalchemy as sa
from alembic import op

import models.types


revision: str = '0011'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 5000

person = sa.table(
    'person',
    sa.column('id', sa.Integer),
    sa.column('role', sa.String),
    sa.column('role_start_date', sa.Date),
    sa.column('active', sa.Boolean),
    sa.column('next_enroll_on', sa.Date),
)
program = sa.table(
    'program', sa.column('id', sa.Integer), sa.column('role', sa.String), sa.column('active', sa.Boolean)
)
tier = sa.table(
    'tier',
    sa.column('id', sa.Integer),
    sa.column('program_id', sa.Integer),
    sa.column('start_day', sa.Integer),
    sa.column('active', sa.Boolean),
)
tier_item = sa.table('tier_item', sa.column('tier_id', sa.Integer))
assignment = sa.table(
    'assignment', sa.column('person_id', sa.Integer), sa.column('tier_id', sa.Integer)
)


def upgrade() -> None:
    # Plain ADD COLUMN, not batch mode (see 0004).
    op.add_column('person', sa.Column('next_enroll_on', sa.Date(), nullable=True))
    op.create_index('ix_person_next_enroll_on', 'person', ['next_enroll_on'], unique=False)
    op.add_column(
        'assignment',
        sa.Column('ladder_wait_until', models.types.UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index(
        'ix_assignment_escalation',
        'assignment',
        ['status', 'required', 'due_date', 'ladder_step'],
        unique=False,
    )
    _backfill(op.get_bind())


def _backfill(conn: sa.engine.Connection) -> None:
    tiers: dict[str, dict[int, int]] = defaultdict(dict)  # role -> tier id -> start day
    for role, tier_id, start_day in conn.execute(
        sa.select(program.c.role, tier.c.id, tier.c.start_day)
        .join(tier, tier.c.program_id == program.c.id)
        .where(
            program.c.active,
            tier.c.active,
            sa.exists().where(tier_item.c.tier_id == tier.c.id),
        )
    ):
        tiers[role][tier_id] = start_day
    if not tiers:
        return
    held: dict[int, set[int]] = defaultdict(set)
    for person_id, tier_id in conn.execute(
        sa.select(assignment.c.person_id, assignment.c.tier_id)
        .where(assignment.c.tier_id.is_not(None))
        .distinct()
    ):
        held[person_id].add(tier_id)
    rows = []
    for person_id, role, start in conn.execute(
        sa.select(person.c.id, person.c.role, person.c.role_start_date).where(person.c.active)
    ):
        openings = [
            _as_date(start) + timedelta(days=start_day)
            for tier_id, start_day in tiers.get(role, {}).items()
            if tier_id not in held[person_id]
        ]
        if openings:
            rows.append({'pid': person_id, 'next_on': min(openings)})
    statement = (
        person.update()
        .where(person.c.id == sa.bindparam('pid'))
        .values(next_enroll_on=sa.bindparam('next_on'))
    )
    for start in range(0, len(rows), CHUNK):
        conn.execute(statement, rows[start : start + CHUNK])


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def downgrade() -> None:
    op.drop_index('ix_assignment_escalation', table_name='assignment')
    op.drop_column('assignment', 'ladder_wait_until')
    op.drop_index('ix_person_next_enroll_on', table_name='person')
    # A plain DROP COLUMN (SQLite 3.35+): batch mode would rebuild the person table,
    # which SQLite refuses while other tables' rows point at it.
    op.drop_column('person', 'next_enroll_on')
