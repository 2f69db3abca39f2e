"""Who is asking: Slack users as people, admins, and reporting chains."""

import itertools

import pytest
from sqlalchemy import event, select, update

from learning.errors import NotFound
from learning.identity import can_see, reporting_chain_ids
from models import Person
from platforms.slack.identity import is_slack_admin as is_admin
from platforms.slack.identity import person_by_slack_id, require_person
from tests.chat_support import setup_org
from tests.conftest import ON_POSTGRES


@pytest.fixture
def org(cli, write, clock, db):
    setup_org(cli, write, clock)
    with db.session() as session:
        return {p.name: p.id for p in session.scalars(select(Person))}


def names(db, ids):
    with db.session() as session:
        return sorted(session.get(Person, i).name for i in ids)


def test_a_slack_user_is_found_by_id_in_any_case(org, db):
    with db.session() as session:
        assert person_by_slack_id(session, "U0ANA").email == "ana@x.io"
        assert person_by_slack_id(session, "u0ana").email == "ana@x.io"
        assert person_by_slack_id(session, "U0NOBODY") is None
        assert person_by_slack_id(session, "U0ANA", workspace_id="T-other") is None


@pytest.mark.skipif(ON_POSTGRES, reason="PostgreSQL plans from statistics; SQLite's is fixed")
def test_a_slack_user_is_looked_up_by_the_slack_id_index_not_the_whole_workspace(org, db):
    statements = []

    def remember(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", remember)
    try:
        with db.session() as session:
            assert person_by_slack_id(session, "U0ANA") is not None
    finally:
        event.remove(db.engine, "before_cursor_execute", remember)
    [(statement, parameters)] = [(s, p) for s, p in statements if "FROM person" in s]
    with db.engine.connect() as conn:
        plan = [
            row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        ]
    # The account's unique (platform, workspace, user_id) index finds the row; the
    # person is then read by primary key.
    assert any(step.startswith("SEARCH chat_account USING") for step in plan), plan
    assert not any(step.startswith("SCAN") for step in plan), plan


def test_an_unknown_slack_user_gets_a_message_saying_what_to_do(org, db):
    with db.session() as session, pytest.raises(NotFound, match="Ask a learnbot admin"):
        require_person(session, "U0NOBODY")


def test_admins_are_flagged_people_and_those_listed_by_email_or_slack_id(org, db):
    with db.session() as session:
        ana = person_by_slack_id(session, "U0ANA")
        assert not is_admin(ana, slack_user_id="U0ANA", admins=())
        assert is_admin(ana, slack_user_id="U0ANA", admins=("ana@x.io",))
        # Settings lower-cases LEARNBOT_ADMINS; Slack ids arrive upper case.
        assert is_admin(ana, slack_user_id="U0ANA", admins=("u0ana",))
        assert not is_admin(ana, slack_user_id="U0ANA", admins=("ben@x.io", "u0ben"))
        assert is_admin(None, slack_user_id="U0ROOT", admins=("u0root",))
        assert not is_admin(None, slack_user_id="U0ROOT", admins=("ana@x.io",))
        ana.is_admin = True
        assert is_admin(ana, slack_user_id="U0ANA", admins=())


def test_a_deactivated_person_is_never_an_admin(org, db):
    with db.session() as session:
        ana = person_by_slack_id(session, "U0ANA")
        ana.is_admin, ana.active = True, False
        assert not is_admin(ana, slack_user_id="U0ANA", admins=("u0ana", "ana@x.io"))


def test_a_reporting_chain_is_everyone_below_at_any_depth(org, db):
    with db.session() as session:
        chain = {name: reporting_chain_ids(session, org[name]) for name in org}
    assert names(db, chain["Max"]) == ["Ana", "Ben", "Dan"]
    assert names(db, chain["Mia"]) == ["Cat"]
    assert names(db, chain["Ana"]) == ["Dan"]
    assert names(db, chain["Bea"]) == ["Ana", "Ben", "Cat", "Dan", "Max", "Mia"]
    assert chain["Ben"] == set()


def test_a_chain_skips_deactivated_people_but_walks_through_them(org, db):
    with db.session() as session:
        session.execute(update(Person).where(Person.id == org["Ana"]).values(active=False))
    with db.session() as session:
        assert names(db, reporting_chain_ids(session, org["Max"])) == ["Ben", "Dan"]


def test_a_cycle_in_manager_links_ends_the_walk(org, db):
    with db.session() as session:
        session.execute(update(Person).where(Person.id == org["Bea"]).values(manager_id=org["Dan"]))
    with db.session() as session:
        everyone_else = sorted(n for n in org if n != "Ana")
        assert names(db, reporting_chain_ids(session, org["Ana"])) == everyone_else
        assert org["Ana"] not in reporting_chain_ids(session, org["Ana"])
        bea = session.get(Person, org["Bea"])
        assert can_see(session, bea, org["Cat"], admin=False)
        assert not can_see(session, session.get(Person, org["Cat"]), org["Bea"], admin=False)


def test_two_managers_and_a_skip_level_each_see_only_their_own_chain(org, db):
    with db.session() as session:
        max_, mia, bea = (session.get(Person, org[n]) for n in ("Max", "Mia", "Bea"))
        assert can_see(session, max_, org["Dan"], admin=False)
        assert not can_see(session, max_, org["Cat"], admin=False)
        assert not can_see(session, max_, org["Mia"], admin=False)
        assert not can_see(session, max_, org["Bea"], admin=False)
        assert can_see(session, mia, org["Cat"], admin=False)
        assert not can_see(session, mia, org["Ana"], admin=False)
        assert all(can_see(session, bea, org[n], admin=False) for n in org)
        assert can_see(session, mia, org["Ana"], admin=True)


def test_can_see_agrees_with_the_reporting_chain_for_every_pair(org, db):
    with db.session() as session:
        for viewer_name, subject_name in itertools.product(org, org):
            viewer = session.get(Person, org[viewer_name])
            expected = viewer.id == org[subject_name] or org[subject_name] in reporting_chain_ids(
                session, viewer.id
            )
            assert can_see(session, viewer, org[subject_name], admin=False) == expected, (
                viewer_name,
                subject_name,
            )
