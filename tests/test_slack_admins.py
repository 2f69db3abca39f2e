"""``slack-admins`` in LEARNBOT_ADMINS: Slack workspace admins and owners are learnbot admins.

Through Bolt's real pipeline against the fake Slack Web API: ``user_change`` events
carry the workspace role, and a refused admin command asks ``users.info`` once.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from learning.identity import admin_contacts
from models import AuditEntry, Person
from platforms.slack.identity import (
    admin_list,
    is_slack_admin,
    member_from_slack,
    slack_account,
)
from server.app import build_app
from tests.fakes.bolt_requests import SlackRequests
from tests.fakes.slack_api import FakeSlack
from tests.helpers import PROGRAMS, people_csv, slack_settings
from tests.test_learn_command import PEOPLE, said

SECRET = "test-signing-secret"
REFUSED = "Only learnbot admins can do that."
WITH_SLACK_ADMINS = ("zoe@acme.test", "slack-admins")
WITHOUT_SLACK_ADMINS = ("zoe@acme.test",)


def mia(**fields: Any) -> dict[str, Any]:
    """Mia's Slack user object, as ``user_change`` and ``users.info`` carry it."""
    user: dict[str, Any] = {
        "id": "UMIA",
        "team_id": "T0TEAM",
        "name": "mia",
        "real_name": "Mia Manager",
        "deleted": False,
        "tz": "Europe/London",
        "is_bot": False,
        "is_admin": False,
        "is_owner": False,
        "is_primary_owner": False,
        "profile": {"email": "mia@acme.test", "real_name": "Mia Manager"},
    }
    user.update(fields)
    return user


class Bot:
    """The app with a given LEARNBOT_ADMINS, and what it recorded."""

    def __init__(self, db: Any, clock: Any, fake: FakeSlack, admins: tuple[str, ...]) -> None:
        settings = slack_settings(fake.base_url, signing_secret=SECRET, admins=admins)
        app = build_app(settings, database=db, clock=clock, process_before_response=True)
        self.requests = SlackRequests(app, signing_secret=SECRET)
        self.db = db

    def learn(self, user_id: str, text: str) -> str:
        return said(self.requests.command(text, user_id=user_id))

    def user_change(self, user: dict[str, Any]) -> None:
        assert self.requests.event({"type": "user_change", "user": user}).status == 200

    def person(self, email: str) -> Person:
        with self.db.session() as session:
            return session.scalars(select(Person).where(Person.email == email)).one()

    def slack_admin(self, email: str) -> bool:
        """Whether Slack last called them a workspace admin (their Slack account's flag)."""
        with self.db.session() as session:
            person = session.scalars(select(Person).where(Person.email == email)).one()
            account = slack_account(session, person)
            return account is not None and account.is_admin

    def audit(self, prefix: str = "person.slack_admin") -> list[AuditEntry]:
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(AuditEntry)
                    .where(AuditEntry.action.startswith(prefix))  # type: ignore[attr-defined]
                    .order_by(AuditEntry.id)
                )
            )


@pytest.fixture
def fake():
    with FakeSlack() as server:
        yield server


@pytest.fixture
def org(cli, write):
    assert cli("load-config", write("programs.yml", PROGRAMS)).code == 0
    assert cli("import-people", write("people.csv", people_csv(*PEOPLE))).code == 0


def is_report(text: str) -> bool:
    return text.startswith("```Completion of required items")


# --- user_change -------------------------------------------------------------------------


def test_a_workspace_admin_is_a_learnbot_admin_until_slack_demotes_them(org, db, clock, fake):
    bot = Bot(db, clock, fake, WITH_SLACK_ADMINS)
    fake.users = [mia()]
    assert bot.learn("UMIA", "admin report") == REFUSED

    bot.user_change(mia(is_admin=True))
    fake.users = [mia(is_admin=True)]
    assert bot.slack_admin("mia@acme.test")
    assert is_report(bot.learn("UMIA", "admin report"))

    bot.user_change(mia())
    fake.users = [mia()]
    assert not bot.slack_admin("mia@acme.test")
    assert bot.learn("UMIA", "admin report") == REFUSED

    entries = bot.audit()
    assert [(e.action, e.actor, e.reason, e.subject) for e in entries] == [
        (
            "person.slack_admin_granted",
            "slack:user_change",
            "Slack workspace role changed",
            "mia@acme.test",
        ),
        (
            "person.slack_admin_revoked",
            "slack:user_change",
            "Slack workspace role changed",
            "mia@acme.test",
        ),
    ]
    assert entries[0].details == {"slack_user_id": "UMIA", "slack_admin": True}


@pytest.mark.parametrize("flag", ["is_owner", "is_primary_owner"])
def test_workspace_owners_count_as_well(org, db, clock, fake, flag):
    bot = Bot(db, clock, fake, WITH_SLACK_ADMINS)
    bot.user_change(mia(**{flag: True}))
    assert is_report(bot.learn("UMIA", "admin report"))


def test_without_the_token_a_workspace_admin_is_refused_and_slack_is_not_asked(
    org, db, clock, fake
):
    bot = Bot(db, clock, fake, WITHOUT_SLACK_ADMINS)
    fake.users = [mia(is_admin=True)]
    bot.user_change(mia(is_admin=True))
    assert bot.slack_admin("mia@acme.test")  # recorded, audited, but not honoured
    assert [e.action for e in bot.audit()] == ["person.slack_admin_granted"]
    assert bot.learn("UMIA", "admin report") == REFUSED
    assert fake.calls_to("users.info") == []


def test_a_deactivated_workspace_admin_is_refused(org, db, clock, fake):
    bot = Bot(db, clock, fake, WITH_SLACK_ADMINS)
    fake.users = [mia(is_admin=True)]
    bot.user_change(mia(is_admin=True, deleted=True))
    person = bot.person("mia@acme.test")
    assert bot.slack_admin("mia@acme.test") and not person.active
    assert bot.learn("UMIA", "admin report") == REFUSED
    # Slack is not asked either: a refresh must not reactivate anyone behind the scenes.
    assert fake.calls_to("users.info") == []
    assert not bot.person("mia@acme.test").active


def test_team_join_of_a_workspace_admin_is_recorded_and_they_hear_of_new_members(
    org, db, clock, fake
):
    bot = Bot(db, clock, fake, WITH_SLACK_ADMINS)
    owner = mia(
        id="UOWN",
        name="owen",
        real_name="Owen Owner",
        is_owner=True,
        profile={"email": "owen@acme.test", "real_name": "Owen Owner"},
    )
    assert bot.requests.event({"type": "team_join", "user": owner}).status == 200
    assert bot.slack_admin("owen@acme.test")
    assert [(e.action, e.actor) for e in bot.audit()] == [
        ("person.slack_admin_granted", "slack:team_join")
    ]
    with db.session() as session:
        contacts = admin_contacts(session, admins=admin_list(WITH_SLACK_ADMINS))
        without = admin_contacts(session, admins=admin_list(WITHOUT_SLACK_ADMINS))
    assert "UOWN" in {c.user_id for c in contacts}
    assert "UOWN" not in {c.user_id for c in without}


# --- users.info, for people imported before they had a role in Slack -----------------------


def test_an_imported_workspace_admin_is_granted_after_asking_slack(org, db, clock, fake):
    bot = Bot(db, clock, fake, WITH_SLACK_ADMINS)
    fake.users = [mia(is_admin=True)]
    assert not bot.slack_admin("mia@acme.test")
    assert is_report(bot.learn("UMIA", "admin report"))
    assert [call.body.get("user") for call in fake.calls_to("users.info")] == ["UMIA"]
    assert bot.slack_admin("mia@acme.test")
    assert [(e.action, e.actor) for e in bot.audit()] == [
        ("person.slack_admin_granted", "slack:users.info")
    ]
    # Stored: the next command needs no second question.
    fake.clear_calls()
    assert is_report(bot.learn("UMIA", "admin report"))
    assert fake.calls_to("users.info") == []


def test_an_imported_member_who_is_no_workspace_admin_stays_refused(org, db, clock, fake):
    bot = Bot(db, clock, fake, WITH_SLACK_ADMINS)
    fake.users = [mia()]
    assert bot.learn("UMIA", "admin report") == REFUSED
    assert len(fake.calls_to("users.info")) == 1
    assert bot.audit() == []


@pytest.mark.parametrize("fault", ["slack_error", "server_error", "dropped"])
def test_a_users_info_failure_keeps_the_refusal(org, db, clock, fake, fault):
    bot = Bot(db, clock, fake, WITH_SLACK_ADMINS)
    fake.users = [mia(is_admin=True)]  # Slack would say yes, if it answered
    if fault == "slack_error":
        fake.respond("users.info", {"ok": False, "error": "missing_scope"})
    elif fault == "server_error":
        fake.server_error("users.info")
    else:
        fake.drop_connection("users.info", times=None)
    assert bot.learn("UMIA", "admin report") == REFUSED
    assert fake.calls_to("users.info")
    assert not bot.slack_admin("mia@acme.test")
    assert bot.audit() == []


def test_someone_learnbot_does_not_know_is_refused_without_asking_slack(org, db, clock, fake):
    bot = Bot(db, clock, fake, WITH_SLACK_ADMINS)
    fake.users = [mia(id="USTRANGER", is_admin=True)]
    assert bot.learn("USTRANGER", "admin report") == REFUSED
    assert fake.calls_to("users.info") == []


# --- reading Slack's user object ---------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, False),
        ({"is_admin": True}, True),
        ({"is_owner": True}, True),
        ({"is_primary_owner": True}, True),
        ({"is_admin": "yes"}, False),  # only a JSON true counts
    ],
)
def test_member_from_slack_reads_the_workspace_role(fields, expected):
    assert member_from_slack(mia(**fields)).workspace_admin is expected


def test_is_admin_honours_slack_admin_only_with_the_token_and_never_when_deactivated():
    from datetime import date

    def someone(**fields: Any) -> Person:
        return Person(
            email="mia@acme.test",
            name="Mia",
            role="engineer",
            role_start_date=date(2026, 3, 2),
            **fields,
        )

    def is_admin(person: Person, *, slack_admin: bool, admins: tuple[str, ...]) -> bool:
        return is_slack_admin(
            person, slack_user_id="UMIA", workspace_admin=slack_admin, admins=admins
        )

    assert is_admin(someone(), slack_admin=True, admins=WITH_SLACK_ADMINS)
    assert not is_admin(someone(), slack_admin=True, admins=WITHOUT_SLACK_ADMINS)
    assert not is_admin(someone(), slack_admin=False, admins=WITH_SLACK_ADMINS)
    assert not is_admin(someone(active=False), slack_admin=True, admins=WITH_SLACK_ADMINS)


def test_slacks_answer_is_kept_even_when_the_admin_command_then_fails(org, db, clock, fake):
    bot = Bot(db, clock, fake, WITH_SLACK_ADMINS)
    fake.users = [mia(is_admin=True)]
    text = bot.learn("UMIA", "admin assign nobody@acme.test intro")
    assert text != REFUSED
    assert bot.slack_admin("mia@acme.test")
    assert [e.action for e in bot.audit()] == ["person.slack_admin_granted"]
