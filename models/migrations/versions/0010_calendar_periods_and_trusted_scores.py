"""calendar periods and trusted scores

A certification's validity, recertification window and grace become calendar periods:
``*_months`` calendar months, then the existing ``*_days``. Until now the programs file's
``y`` was stored as 365 days, so a stored whole number of 365-day years (365, 730, ...)
can only have come from ``1y``, ``2y`` (or from ``365d``, ``730d``, written out): it
becomes that many calendar years (12 months each, 0 days). Any other number of days stays
days. A file that really meant 365 days gets them back at its next ``load-config``
(reported as a changed certification). Award dates already stored are not touched.

``certification_requirement.self_reported_scores``: whether a score the learner typed
counts towards the requirement's ``min_score`` (default: no, only trusted sources).

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0010'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PERIODS = ('valid', 'recertify_window', 'grace')
YEAR_DAYS = 365


def upgrade() -> None:
    # Plain ADD COLUMN, not batch mode (see 0004).
    for name in PERIODS:
        op.add_column(
            'certification',
            sa.Column(f'{name}_months', sa.Integer(), server_default='0', nullable=False),
        )
    op.add_column(
        'certification_requirement',
        sa.Column(
            'self_reported_scores', sa.Boolean(), server_default=sa.false(), nullable=False
        ),
    )
    for name in PERIODS:
        days = sa.column(f'{name}_days', sa.Integer())
        months = sa.column(f'{name}_months', sa.Integer())
        certification = sa.table('certification', days, months)
        op.execute(
            certification.update()
            .where(days > 0, days % YEAR_DAYS == 0)
            .values({months: days // YEAR_DAYS * 12, days: 0})
        )


def downgrade() -> None:
    for name in PERIODS:
        days = sa.column(f'{name}_days', sa.Integer())
        months = sa.column(f'{name}_months', sa.Integer())
        certification = sa.table('certification', days, months)
        # Back to days as the old code counted them: a year of 365 days, a month of 30.
        op.execute(
            certification.update()
            .where(months > 0)
            .values(
                {days: days + months // 12 * YEAR_DAYS + months % 12 * 30, months: 0}
            )
        )
    with op.batch_alter_table('certification_requirement', schema=None) as batch_op:
        batch_op.drop_column('self_reported_scores')
    with op.batch_alter_table('certification', schema=None) as batch_op:
        for name in reversed(PERIODS):
            batch_op.drop_column(f'{name}_months')
