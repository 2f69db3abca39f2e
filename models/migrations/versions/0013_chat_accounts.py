"""chat accounts

A person's chat identities move out of the person row: ``person.slack_user_id`` and
``person.slack_admin`` become one ``chat_account`` row each (platform ``slack``, the
person's workspace, the Slack user id, the admin flag), so that a person may have
accounts on several platforms and the domain addresses people by person id.

Every person with a Slack user id keeps it. Slack ids are upper case; a lower-cased id
(from a hand-written CSV) is stored upper-cased, as the lookup already matched it. Two
people holding the same id (which the old column allowed) cannot both keep it under the
new unique constraint: it stays with the one the old lookup answered for (active first,
then the oldest), which is the only one Slack requests could ever reach.

The downgrade puts each person's Slack account back in the person row (accounts on
other platforms are dropped with the table).

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-10 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0013"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 5000
SLACK = "slack"

person = sa.table(
    "person",
    sa.column("id", sa.Integer),
    sa.column("workspace_id", sa.String),
    sa.column("active", sa.Boolean),
    sa.column("slack_user_id", sa.String),
    sa.column("slack_admin", sa.Boolean),
)
chat_account = sa.table(
    "chat_account",
    sa.column("id", sa.Integer),
    sa.column("person_id", sa.Integer),
    sa.column("platform", sa.String),
    sa.column("workspace", sa.String),
    sa.column("user_id", sa.String),
    sa.column("is_admin", sa.Boolean),
)


def upgrade() -> None:
    op.create_table(
        "chat_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("is_admin", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("person_id", "platform", "workspace", name="uq_chat_account_person"),
        sa.UniqueConstraint("platform", "workspace", "user_id", name="uq_chat_account_user"),
    )
    _copy_slack_accounts(op.get_bind())
    op.drop_index("ix_person_slack_user_id", table_name="person")
    # Plain DROP COLUMN (SQLite 3.35+), not batch mode: batch would rebuild the person
    # table, which SQLite refuses while other tables' rows point at it (see 0004).
    op.drop_column("person", "slack_user_id")
    op.drop_column("person", "slack_admin")


def _copy_slack_accounts(conn: sa.engine.Connection) -> None:
    rows = []
    taken: set[tuple[str, str]] = set()
    for person_id, workspace, user_id, admin in conn.execute(
        sa.select(person.c.id, person.c.workspace_id, person.c.slack_user_id, person.c.slack_admin)
        .where(person.c.slack_user_id.is_not(None), person.c.slack_user_id != "")
        .order_by(person.c.active.desc(), person.c.id)
    ):
        key = (workspace, user_id.upper())
        if key in taken:
            continue  # the id's holder is the person the old lookup answered for
        taken.add(key)
        rows.append(
            {
                "person_id": person_id,
                "platform": SLACK,
                "workspace": workspace,
                "user_id": user_id.upper(),
                "is_admin": bool(admin),
            }
        )
    for start in range(0, len(rows), CHUNK):
        conn.execute(chat_account.insert(), rows[start : start + CHUNK])


def downgrade() -> None:
    op.add_column("person", sa.Column("slack_user_id", sa.String(length=32), nullable=True))
    op.add_column(
        "person",
        sa.Column("slack_admin", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.create_index("ix_person_slack_user_id", "person", ["slack_user_id"], unique=False)
    conn = op.get_bind()
    rows = [
        {"pid": person_id, "uid": user_id, "admin": bool(admin)}
        for person_id, user_id, admin in conn.execute(
            sa.select(chat_account.c.person_id, chat_account.c.user_id, chat_account.c.is_admin)
            .join(person, person.c.id == chat_account.c.person_id)
            .where(
                chat_account.c.platform == SLACK,
                chat_account.c.workspace == person.c.workspace_id,
            )
        )
    ]
    statement = (
        person.update()
        .where(person.c.id == sa.bindparam("pid"))
        .values(slack_user_id=sa.bindparam("uid"), slack_admin=sa.bindparam("admin"))
    )
    for start in range(0, len(rows), CHUNK):
        conn.execute(statement, rows[start : start + CHUNK])
    op.drop_table("chat_account")
