"""Chat accounts: the 0013 upgrade keeps every Slack account, and the neutral lookups."""

from alembic import command
from sqlalchemy import select, text

from learning import accounts
from models import AuditEntry, ChatAccount, Person
from models.db import alembic_config
from tests.conftest import snapshot
from tests.helpers import PROGRAMS, people_csv

ROWS = (
    "ana@x.io,Ana,,engineer,Web,2026-02-09,Europe/London,U0ANA",
    "ben@x.io,Ben,ana@x.io,engineer,Web,2026-02-09,Europe/London,U0BEN",
    "cat@x.io,Cat,ana@x.io,sales,Sales,2026-02-09,,",
)


def _org(cli, write):  # type: ignore[no-untyped-def]
    assert cli("load-config", write("programs.yml", PROGRAMS)).code == 0
    assert cli("import-people", write("people.csv", people_csv(*ROWS))).code == 0


def _columns(db, table: str) -> set[str]:
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "sqlite":
            return {row[1] for row in conn.exec_driver_sql(f"PRAGMA table_info({table})")}
        return set(
            conn.execute(
                text("SELECT column_name FROM information_schema.columns WHERE table_name = :t"),
                {"t": table},
            ).scalars()
        )


def test_the_upgrade_keeps_every_slack_account_and_admin_flag(cli, write, db):
    _org(cli, write)
    config = alembic_config(db.engine)
    command.downgrade(config, "0011")  # the schema with person.slack_user_id
    assert {"slack_user_id", "slack_admin"} <= _columns(db, "person")
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE person SET slack_admin = :yes WHERE email = 'ben@x.io'"), {"yes": True}
        )
        # A hand-written lower-case id is stored as Slack spells it.
        conn.execute(text("UPDATE person SET slack_user_id = 'u0ana' WHERE email = 'ana@x.io'"))
    command.upgrade(config, "head")
    assert "slack_user_id" not in _columns(db, "person")
    with db.session() as session:
        held = {
            session.get(Person, a.person_id).email: (a.platform, a.workspace, a.user_id, a.is_admin)
            for a in session.scalars(select(ChatAccount))
        }
    assert held == {
        "ana@x.io": ("slack", "default", "U0ANA", False),
        "ben@x.io": ("slack", "default", "U0BEN", True),
    }


def test_the_downgrade_puts_the_slack_accounts_back(cli, write, db):
    _org(cli, write)
    config = alembic_config(db.engine)
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE chat_account SET is_admin = :yes WHERE user_id = 'U0BEN'"), {"yes": True}
        )
    command.downgrade(config, "0011")
    with db.engine.connect() as conn:
        rows = set(conn.execute(text("SELECT email, slack_user_id, slack_admin FROM person")))
    assert rows == {
        ("ana@x.io", "U0ANA", False),
        ("ben@x.io", "U0BEN", True),
        ("cat@x.io", None, False),
    }
    command.upgrade(config, "head")
    with db.session() as session:
        assert len(session.scalars(select(ChatAccount)).all()) == 2


def test_lookups_by_person_and_by_account(cli, write, db):
    _org(cli, write)
    with db.session() as session:
        people = {p.email: p.id for p in session.scalars(select(Person))}
        ana = accounts.person_by_account(session, "slack", "default", "U0ANA")
        assert ana is not None and ana.email == "ana@x.io"
        assert accounts.person_by_account(session, "slack", "other", "U0ANA") is None
        assert accounts.person_by_account(session, "teams", "default", "U0ANA") is None
        assert accounts.user_id_of(session, people["ben@x.io"], "slack") == "U0BEN"
        assert accounts.account_of(session, people["cat@x.io"], "slack") is None
        assert accounts.user_ids_of(session, people.values(), "slack") == {
            people["ana@x.io"]: "U0ANA",
            people["ben@x.io"]: "U0BEN",
        }
        found = accounts.people_by_accounts(session, "slack", "default", ["U0ANA", "U0NOBODY"])
        assert {u: p.email for u, p in found.items()} == {"U0ANA": "ana@x.io"}
        # A second platform: Cat gets a Teams account; the Slack id stays Ben's alone.
        cat = session.get(Person, people["cat@x.io"])
        teams = accounts.link_account(
            session, cat, platform="teams", workspace="tenant-1", user_id="29:cat"
        )
        assert teams is not None
        assert (
            accounts.link_account(
                session, cat, platform="slack", workspace="default", user_id="U0BEN"
            )
            is None
        )  # Ben's
        assert accounts.user_id_of(session, cat.id, "teams") == "29:cat"
        assert (
            accounts.person_by_account(session, "teams", "tenant-1", "29:cat").email == "cat@x.io"
        )


def test_a_people_file_may_not_give_away_a_slack_id_somebody_keeps(cli, write, db):
    _org(cli, write)
    before = snapshot(db)
    rows = (ROWS[0], "cat@x.io,Cat,ana@x.io,sales,Sales,2026-02-09,,U0BEN")  # Ben keeps it
    result = cli("import-people", write("people.csv", people_csv(*rows)))
    assert result.code == 1
    assert "slack_user_id: Slack user id U0BEN is ben@x.io's" in result.err
    assert snapshot(db) == before


def test_two_people_may_swap_slack_ids_in_one_file(cli, write, db):
    _org(cli, write)
    swapped = (
        ROWS[0].replace("U0ANA", "U0BEN"),
        ROWS[1].replace("U0BEN", "U0ANA"),
        ROWS[2],
    )
    result = cli("import-people", write("people.csv", people_csv(*swapped)))
    assert result.code == 0, result.err
    with db.session() as session:
        held = {
            session.get(Person, a.person_id).email: a.user_id
            for a in session.scalars(select(ChatAccount))
        }
        changes = [
            e.details["changed"]
            for e in session.scalars(select(AuditEntry).where(AuditEntry.action == "person.update"))
        ]
    assert held == {"ana@x.io": "U0BEN", "ben@x.io": "U0ANA"}
    assert {"slack_user_id": ["U0ANA", "U0BEN"]} in changes
