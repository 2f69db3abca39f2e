"""due date inputs

``assignment.due_role`` .. ``due_released_on``: the inputs an assignment's due date was
computed from, so enrollment re-dates only when one of them changes; ``due_notice``: a
due-date change the learner's next digest tells.

The upgrade keeps every stored date and sends nothing: open path assignments get the
inputs in force now (the person's role and role start, the tier's start day and the
item's offset), so their existing dates count as computed from them, and the day each
was assigned, in the person's own time zone.

Revision ID: 0009
Revises: 0012 (written on 0008; follows main's 0012 since the merge)
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from alembic import op


revision: str = '0009'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def upgrade() -> None:
    # Plain ADD COLUMN, not batch mode (see 0004).
    op.add_column('assignment', sa.Column('due_role', sa.String(length=64), nullable=True))
    op.add_column('assignment', sa.Column('due_role_start', sa.Date(), nullable=True))
    op.add_column('assignment', sa.Column('due_start_day', sa.Integer(), nullable=True))
    op.add_column('assignment', sa.Column('due_offset', sa.Integer(), nullable=True))
    op.add_column('assignment', sa.Column('due_counted_from', sa.Date(), nullable=True))
    op.add_column('assignment', sa.Column('due_released_on', sa.Date(), nullable=True))
    op.add_column('assignment', sa.Column('due_notice', sa.String(length=80), nullable=True))
    _backfill()


def _backfill() -> None:
    connection = op.get_bind()
    path_items = (
        "assignment.status = 'open' AND assignment.cycle = 0 "
        "AND assignment.tier_id IS NOT NULL AND assignment.due_date IS NOT NULL "
        "AND NOT assignment.due_pinned"
    )
    connection.execute(
        sa.text(
            "UPDATE assignment SET "
            "due_role = (SELECT program.role FROM tier JOIN program ON program.id = tier.program_id "
            "WHERE tier.id = assignment.tier_id), "
            "due_role_start = (SELECT person.role_start_date FROM person "
            "WHERE person.id = assignment.person_id), "
            "due_start_day = (SELECT tier.start_day FROM tier WHERE tier.id = assignment.tier_id), "
            "due_offset = (SELECT tier_item.due_working_days FROM tier_item "
            "WHERE tier_item.tier_id = assignment.tier_id "
            "AND tier_item.item_id = assignment.item_id) "
            f"WHERE {path_items}"
        )
    )
    org_zone = _organisation_zone(connection)
    assignment = sa.table(
        'assignment',
        sa.column('id', sa.Integer),
        sa.column('due_counted_from', sa.Date),
    )
    zones: dict[str | None, ZoneInfo] = {}
    last_id = 0
    while True:  # a page at a time: memory stays flat however many rows there are
        rows = connection.execute(
            sa.text(
                "SELECT assignment.id, assignment.assigned_at, person.timezone FROM assignment "
                "JOIN person ON person.id = assignment.person_id "
                f"WHERE {path_items} AND assignment.due_role IS NOT NULL "
                "AND assignment.id > :last ORDER BY assignment.id LIMIT :batch"
            ),
            {'last': last_id, 'batch': BATCH},
        ).all()
        if not rows:
            return
        values = []
        for assignment_id, assigned_at, timezone in rows:
            if timezone not in zones:
                zones[timezone] = _zone(timezone, org_zone)
            values.append({'aid': assignment_id, 'day': _local_day(assigned_at, zones[timezone])})
        _write(connection, assignment, values)
        last_id = rows[-1][0]


def _write(connection, assignment, values) -> None:  # type: ignore[no-untyped-def]
    connection.execute(
        assignment.update()
        .where(assignment.c.id == sa.bindparam('aid'))
        .values(due_counted_from=sa.bindparam('day')),
        values,
    )


def _organisation_zone(connection) -> str:  # type: ignore[no-untyped-def]
    settings = connection.execute(
        sa.text("SELECT settings FROM config_snapshot ORDER BY id DESC LIMIT 1")
    ).scalar()
    if isinstance(settings, str):
        import json

        settings = json.loads(settings)
    return ((settings or {}).get('organisation') or {}).get('timezone') or 'UTC'


def _zone(name: str | None, org_zone: str) -> ZoneInfo:
    for candidate in (name, org_zone, 'UTC'):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                continue
    return ZoneInfo('UTC')


def _local_day(at, zone: ZoneInfo):  # type: ignore[no-untyped-def]
    if isinstance(at, str):  # SQLite hands back text
        at = datetime.fromisoformat(at)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)  # stored as UTC (models.types.UTCDateTime)
    return at.astimezone(zone).date()


def downgrade() -> None:
    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.drop_column('due_notice')
        batch_op.drop_column('due_released_on')
        batch_op.drop_column('due_counted_from')
        batch_op.drop_column('due_offset')
        batch_op.drop_column('due_start_day')
        batch_op.drop_column('due_role_start')
        batch_op.drop_column('due_role')
