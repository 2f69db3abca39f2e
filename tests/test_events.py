"""Events API listeners through Bolt's real pipeline: members, installation, de-duplication."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from delivery import outbox
from learning import members
from learning.accounts import link_account
from models import (
    DEFAULT_WORKSPACE,
    Assignment,
    AuditEntry,
    ExtensionRequest,
    ExtensionStatus,
    OutboxMessage,
    Person,
    ProcessedEvent,
    WorkspaceState,
)
from platforms.slack.identity import person_by_slack_id
from server.app import build_app
from tests.fakes.bolt_requests import SlackRequests
from tests.fakes.slack_api import FakeSlack
from tests.helpers import PROGRAMS, people_csv, slack_id, slack_settings
from tests.outbox_support import Shown, make_sender, put, text_message

SECRET = "test-signing-secret"
PEOPLE = (
    "boss@x.io,Bo Boss,,engineer,Exec,2026-02-02,Europe/London,U0BOSS",
    "known@x.io,Kim Known,boss@x.io,engineer,Web,2026-02-02,Europe/London,",
)


@pytest.fixture
def fake():
    with FakeSlack() as server:
        yield server


@pytest.fixture
def org(cli, write, db):
    assert cli("load-config", write("programs.yml", PROGRAMS)).code == 0
    assert cli("import-people", write("people.csv", people_csv(*PEOPLE))).code == 0
    with db.session() as session:
        boss = session.scalars(select(Person).where(Person.email == "boss@x.io")).one()
        boss.is_admin = True


def slack(db, clock, fake, *, admins=("u0listed", "mail-admin@x.io")) -> SlackRequests:
    settings = slack_settings(fake.base_url, signing_secret=SECRET, admins=admins)
    app = build_app(settings, database=db, clock=clock, process_before_response=True)
    return SlackRequests(app, signing_secret=SECRET)


def slack_user(user_id: str, **fields) -> dict:
    user = {
        "id": user_id,
        "team_id": "T0TEAM",
        "name": "newbie",
        "real_name": "Nia New",
        "deleted": False,
        "tz": "America/New_York",
        "is_bot": False,
        "profile": {"email": "Nia@X.io", "real_name": "Nia New", "display_name": "nia"},
    }
    profile = fields.pop("profile", None)
    user.update(fields)
    if profile is not None:
        user["profile"] = profile
    return user


def person(db, email: str) -> Person | None:
    with db.session() as session:
        return session.scalars(select(Person).where(Person.email == email)).first()


def slack_id_of(db, email: str) -> str | None:
    with db.session() as session:
        found = session.scalars(select(Person).where(Person.email == email)).first()
        return slack_id(session, found) if found is not None else None


def audit_actions(db) -> list[str]:
    with db.session() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def outbox_rows(db) -> list[Shown]:
    with db.session() as session:
        return [
            Shown(row) for row in session.scalars(select(OutboxMessage).order_by(OutboxMessage.key))
        ]


# --- team_join ---------------------------------------------------------------------------


def test_team_join_creates_a_person_without_a_role_starting_today_in_their_zone(
    org, db, clock, fake
):
    clock.set(datetime(2026, 3, 3, 2, 0, tzinfo=UTC))  # still 2 March in New York
    response = slack(db, clock, fake).event({"type": "team_join", "user": slack_user("U0NEW")})
    assert response.status == 200
    new = person(db, "nia@x.io")
    assert new is not None
    assert (new.name, slack_id_of(db, "nia@x.io"), new.role, new.timezone) == (
        "Nia New",
        "U0NEW",
        "",
        "America/New_York",
    )
    assert new.role_start_date == date(2026, 3, 2)
    assert new.active
    with db.session() as session:
        assert session.scalars(select(Assignment).where(Assignment.person_id == new.id)).all() == []
    assert "person.join" in audit_actions(db)


def test_team_join_dms_every_admin_with_a_slack_id_through_the_outbox(org, db, clock, fake):
    with db.session() as session:
        mo = Person(
            email="mail-admin@x.io",
            name="Mo Mail",
            role="engineer",
            role_start_date=date(2026, 1, 1),
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        session.add(mo)
        session.flush()
        link_account(session, mo, platform="slack", workspace="default", user_id="U0MAIL")
    slack(db, clock, fake).event({"type": "team_join", "user": slack_user("U0NEW")})
    rows = outbox_rows(db)
    # is_admin (U0BOSS), LEARNBOT_ADMINS by Slack id (u0listed) and by email (U0MAIL).
    assert [row.key for row in rows] == [
        "team_join:U0NEW:U0BOSS",
        "team_join:U0NEW:U0LISTED",
        "team_join:U0NEW:U0MAIL",
    ]
    assert {row.channel for row in rows} == {"U0BOSS", "U0LISTED", "U0MAIL"}
    assert all(row.kind == "member_notice" and row.status == "pending" for row in rows)
    assert "<@U0NEW>" in rows[0].text and "role" in rows[0].text
    new = person(db, "nia@x.io")
    [button] = [
        element
        for block in rows[0].payload["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]
    assert (button["action_id"], button["value"]) == ("member_assign_role", str(new.id))


def test_the_join_dm_reaches_slack_when_the_outbox_is_drained(org, db, clock, fake):
    slack(db, clock, fake, admins=()).event({"type": "team_join", "user": slack_user("U0NEW")})
    make_sender(db, fake, clock).drain()
    [call] = fake.delivered("chat.postMessage")
    assert call.body["channel"] == "U0BOSS"
    assert any(b["type"] == "actions" for b in call.body["blocks"])


def test_team_join_of_a_known_email_links_the_slack_id_and_tells_nobody(org, db, clock, fake):
    user = slack_user("U0KIM", profile={"email": "known@x.io"})
    slack(db, clock, fake).event({"type": "team_join", "user": user})
    kim = person(db, "known@x.io")
    assert (slack_id_of(db, "known@x.io"), kim.role) == ("U0KIM", "engineer")
    assert outbox_rows(db) == []
    assert "person.link_slack" in audit_actions(db)


def test_team_join_without_an_email_tells_the_admins_how_to_add_them(org, db, clock, fake):
    user = slack_user("U0NOMAIL", profile={"real_name": "No Mail"})
    slack(db, clock, fake, admins=()).event({"type": "team_join", "user": user})
    [row] = outbox_rows(db)
    assert row.key == "team_join:U0NOMAIL:U0BOSS"
    assert "did not share their email" in row.text
    assert not any(b["type"] == "actions" for b in row.payload["blocks"])
    with db.session() as session:
        assert person_by_slack_id(session, "U0NOMAIL") is None


def test_a_bot_joining_is_ignored(org, db, clock, fake):
    slack(db, clock, fake).event({"type": "team_join", "user": slack_user("U0BOTTY", is_bot=True)})
    assert person(db, "nia@x.io") is None
    assert outbox_rows(db) == []


# --- user_change -------------------------------------------------------------------------


def test_user_change_updates_name_and_time_zone_and_audits_it(org, db, clock, fake):
    user = slack_user(
        "U0BOSS",
        real_name="Bo Renamed",
        tz="Asia/Kolkata",
        profile={"email": "boss@x.io"},
    )
    slack(db, clock, fake).event({"type": "user_change", "user": user})
    boss = person(db, "boss@x.io")
    assert (boss.name, boss.timezone, boss.active) == ("Bo Renamed", "Asia/Kolkata", True)
    with db.session() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "person.update")
        ).one()
    assert entry.details["changed"]["timezone"] == ["Europe/London", "Asia/Kolkata"]
    assert entry.actor == "slack:user_change"


def test_an_unknown_time_zone_from_slack_is_not_stored(org, db, clock, fake):
    user = slack_user("U0BOSS", real_name="Bo Boss", tz="Mars/Olympus_Mons")
    slack(db, clock, fake).event({"type": "user_change", "user": user})
    assert person(db, "boss@x.io").timezone == "Europe/London"


def test_deactivation_switches_the_person_off_and_reactivation_back_on(org, db, clock, fake):
    requests = slack(db, clock, fake)
    gone = slack_user("U0BOSS", real_name="Bo Boss", tz="Europe/London", deleted=True)
    requests.event({"type": "user_change", "user": gone})
    assert person(db, "boss@x.io").active is False
    requests.event({"type": "user_change", "user": {**gone, "deleted": False}})
    assert person(db, "boss@x.io").active is True
    actions = audit_actions(db)
    assert actions.index("person.deactivate") < actions.index("person.reactivate")


def test_deactivation_closes_the_persons_open_extension_requests(org, db, clock, fake):
    boss = person(db, "boss@x.io")
    with db.session() as session:
        assignment_id = session.scalars(
            select(Assignment.id).where(Assignment.person_id == boss.id)
        ).first()
        session.add(
            ExtensionRequest(
                assignment_id=assignment_id,
                person_id=boss.id,
                proposed_due=date(2026, 4, 1),
                reason="busy",
                requested_at=clock.now(),
                requested_on=clock.now().date(),
            )
        )
    gone = slack_user("U0BOSS", real_name="Bo Boss", tz="Europe/London", deleted=True)

    slack(db, clock, fake).event({"type": "user_change", "user": gone})

    with db.session() as session:
        request = session.scalars(select(ExtensionRequest)).one()
    assert request.status == ExtensionStatus.EXPIRED
    assert request.decision_note == "closed: the person was deactivated"
    assert "extension.close" in audit_actions(db)


def test_a_change_to_someone_learnbot_does_not_know_changes_nothing(org, db, clock, fake):
    before = audit_actions(db)
    slack(db, clock, fake).event({"type": "user_change", "user": slack_user("U0STRANGER")})
    assert person(db, "nia@x.io") is None
    assert audit_actions(db) == before


# --- installation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        {"type": "app_uninstalled"},
        {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["U0BOT"]}},
    ],
    ids=["app_uninstalled", "tokens_revoked"],
)
def test_losing_the_installation_stops_all_sending_to_the_workspace(event, org, db, clock, fake):
    put(db, [text_message("hello:U0BOSS", "U0BOSS", at=clock.now())], now=clock.now())
    assert slack(db, clock, fake).event(event).status == 200
    with db.session() as session:
        state = session.get(WorkspaceState, DEFAULT_WORKSPACE)
    assert state is not None and state.sending_stopped_at == clock.now()
    result = make_sender(db, fake, clock).drain()
    assert result.sent == 0
    assert fake.calls_to("chat.postMessage") == []
    assert [row.status for row in outbox_rows(db)] == ["pending"]  # kept, not failed
    assert "workspace.stop_sending" in audit_actions(db)


def test_revoked_user_tokens_alone_do_not_stop_the_bot(org, db, clock, fake):
    event = {"type": "tokens_revoked", "tokens": {"oauth": ["U0BOSS"], "bot": []}}
    slack(db, clock, fake).event(event)
    with db.session() as session:
        assert not members.sending_stopped(session, DEFAULT_WORKSPACE)


def test_a_stopped_workspace_does_not_hold_up_another_ones_messages(db, clock):
    now = clock.now()
    put(db, [text_message("a", "U1", at=now)], now=now)
    other = outbox.NewMessage(
        key="b", kind="plain", recipient_kind="person", recipient="U2", payload={"text": "hi"},
        workspace_id="other", not_before=now,
    )  # fmt: skip
    put(db, [other], now=now)
    with db.session() as session:
        members.stop_sending(
            session, workspace_id=DEFAULT_WORKSPACE, reason="test", clock=clock, actor="test"
        )
    claimed = outbox.claim(db, worker="w", now=now, limit=10)
    assert [row.key for row in claimed] == ["b"]


def test_resuming_a_workspace_lets_its_messages_go_again(db, clock):
    now = clock.now()
    put(db, [text_message("a", "U1", at=now)], now=now)
    with db.session() as session:
        members.stop_sending(
            session, workspace_id=DEFAULT_WORKSPACE, reason="x", clock=clock, actor="t"
        )
    assert outbox.claim(db, worker="w", now=now, limit=10) == []
    with db.session() as session:
        assert members.resume_sending(
            session, workspace_id=DEFAULT_WORKSPACE, clock=clock, actor="t"
        )
    assert [row.key for row in outbox.claim(db, worker="w", now=now, limit=10)] == ["a"]


# --- de-duplication -----------------------------------------------------------------------


def test_processed_event_ids_are_forgotten_after_a_day(db, clock):
    with db.session() as session:
        assert members.claim_event(session, event_id="Ev1", now=clock.now())
        assert not members.claim_event(session, event_id="Ev1", now=clock.now())
    later = clock.now() + timedelta(days=1, seconds=1)
    with db.session() as session:
        assert members.claim_event(session, event_id="Ev2", now=later)
        assert sorted(session.scalars(select(ProcessedEvent.event_id))) == ["Ev2"]


# --- the assign-role button and modal -----------------------------------------------------


def join(db, clock, fake) -> tuple[SlackRequests, int]:
    requests = slack(db, clock, fake)
    requests.event({"type": "team_join", "user": slack_user("U0NEW")})
    new = person(db, "nia@x.io")
    return requests, new.id


def click_assign(requests: SlackRequests, user_id: str, person_id: int):
    return requests.block_action(
        user_id=user_id,
        action={"type": "button", "action_id": "member_assign_role", "value": str(person_id)},
        message={"ts": "1700000000.000100", "text": "joined"},
    )


def submit_assign(requests: SlackRequests, user_id: str, person_id: int, role: str, team=None):
    return requests.view_submission(
        user_id=user_id,
        callback_id="member_assign_role_modal",
        private_metadata=str(person_id),
        values={
            "role": {"role_select": {"type": "static_select", "selected_option": {"value": role}}},
            "team": {"team_text": {"type": "plain_text_input", "value": team}},
        },
    )


def test_an_admin_clicking_assign_role_gets_a_modal_of_the_roles(org, db, clock, fake):
    requests, person_id = join(db, clock, fake)
    assert click_assign(requests, "U0BOSS", person_id).status == 200
    [call] = fake.wait_for_calls("views.open")
    view = call.body["view"]
    assert view["callback_id"] == "member_assign_role_modal"
    assert view["private_metadata"] == str(person_id)
    [select_block] = [b for b in view["blocks"] if b.get("block_id") == "role"]
    roles = [o["value"] for o in select_block["element"]["options"]]
    assert sorted(roles) == ["engineer", "sales"]


def test_a_non_admin_clicking_assign_role_is_refused_and_audited(org, db, clock, fake):
    requests, person_id = join(db, clock, fake)
    assert click_assign(requests, "U0NEW", person_id).status == 200
    assert fake.calls_to("views.open") == []
    [told] = fake.calls_to("chat.postEphemeral")
    assert told.body["user"] == "U0NEW" and "Only learnbot admins" in told.body["text"]
    with db.session() as session:
        refusal = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "admin.refused")
        ).one()
    assert refusal.actor == "nia@x.io"


def test_submitting_a_role_enrolls_the_person_and_refreshes_their_home(org, db, clock, fake):
    requests, person_id = join(db, clock, fake)
    response = submit_assign(requests, "U0BOSS", person_id, "sales", team="Field")
    assert response.status == 200 and not response.body
    new = person(db, "nia@x.io")
    assert (new.role, new.team) == ("sales", "Field")
    with db.session() as session:
        assigned = session.scalars(
            select(Assignment).where(Assignment.person_id == person_id)
        ).all()
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "person.assign_role")
        ).one()
    assert len(assigned) == 3  # the sales path's first tier
    assert entry.actor == "boss@x.io"
    fake.wait_for_calls("views.publish", where=lambda c: c.body.get("user_id") == "U0NEW")
    assert "*Sales* path" in json.dumps(fake.home_view("U0NEW")["blocks"])


def test_a_non_admin_submitting_a_role_gets_an_error_and_changes_nothing(org, db, clock, fake):
    requests, person_id = join(db, clock, fake)
    response = submit_assign(requests, "U0NEW", person_id, "engineer")
    assert response.status == 200
    assert '"response_action": "errors"' in response.body
    assert person(db, "nia@x.io").role == ""
    assert "admin.refused" in audit_actions(db)


def test_submitting_an_unknown_role_is_answered_in_the_form(org, db, clock, fake):
    requests, person_id = join(db, clock, fake)
    response = submit_assign(requests, "U0BOSS", person_id, "astronaut")
    assert "astronaut" in response.body and "errors" in response.body
    assert person(db, "nia@x.io").role == ""
