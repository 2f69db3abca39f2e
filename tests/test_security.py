"""Request verification and retries through Bolt's real pipeline (``App.dispatch``).

Requests Slack did not sign, signed too long ago, or without a signature get HTTP 401
and change nothing; a retried event (``X-Slack-Retry-Num``) has one effect.
"""

from __future__ import annotations

import json
import threading
import time
from urllib.parse import urlencode

import pytest
from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import func, select

from models import AuditEntry, OutboxMessage, Person, ProcessedEvent
from server.app import build_app
from tests.conftest import snapshot
from tests.fakes.slack_api import FakeSlack
from tests.helpers import PROGRAMS, people_csv, slack_settings

SECRET = "test-signing-secret"
ADMINS = ("u0admin",)


@pytest.fixture
def fake():
    with FakeSlack() as server:
        yield server


@pytest.fixture
def app(cli, write, db, clock, fake) -> App:
    assert cli("load-config", write("programs.yml", PROGRAMS)).code == 0
    people = people_csv("boss@x.io,Bo Boss,,engineer,Exec,2026-02-02,Europe/London,U0BOSS")
    assert cli("import-people", write("people.csv", people)).code == 0
    settings = slack_settings(fake.base_url, signing_secret=SECRET, admins=ADMINS)
    return build_app(settings, database=db, clock=clock, process_before_response=True)


def team_join_body(event_id: str = "Ev0JOIN0001") -> str:
    return json.dumps(
        {
            "token": "legacy",
            "team_id": "T0TEAM",
            "api_app_id": "A0APP",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": {
                "type": "team_join",
                "user": {
                    "id": "U0NEW",
                    "real_name": "Nia New",
                    "tz": "Europe/London",
                    "profile": {"email": "nia@x.io"},
                },
            },
        }
    )


def command_body(text: str = "help") -> str:
    return urlencode(
        {
            "team_id": "T0TEAM",
            "user_id": "U0BOSS",
            "command": "/learn",
            "text": text,
            "response_url": "https://hooks.slack.test/commands/1",
            "trigger_id": "trigger-1",
        }
    )


def deliver(
    app: App,
    body: str,
    *,
    secret: str = SECRET,
    age_seconds: int = 0,
    content_type: str = "application/json",
    drop: tuple[str, ...] = (),
    extra: dict[str, str] | None = None,
) -> BoltResponse:
    """Sign ``body`` as Slack would (with ``secret``, ``age_seconds`` ago) and dispatch it."""
    timestamp = str(int(time.time()) - age_seconds)
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    headers = {
        "content-type": content_type,
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": signature,
        **(extra or {}),
    }
    for name in drop:
        headers.pop(name)
    return app.dispatch(BoltRequest(body=body, headers={k: [v] for k, v in headers.items()}))


def count(db, model) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


# --- verification ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param({"secret": "not-the-signing-secret"}, id="forged signature"),
        pytest.param({"age_seconds": 5 * 60 + 30}, id="timestamp older than 5 minutes"),
        pytest.param({"drop": ("x-slack-signature",)}, id="missing signature header"),
        pytest.param({"drop": ("x-slack-request-timestamp",)}, id="missing timestamp header"),
    ],
)
def test_an_unverifiable_event_gets_401_and_changes_nothing(tamper, app, db, fake):
    before = snapshot(db)
    response = deliver(app, team_join_body(), **tamper)
    assert response.status == 401
    assert snapshot(db) == before
    assert fake.calls == []  # not even auth.test


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param({"secret": "not-the-signing-secret"}, id="forged signature"),
        pytest.param({"age_seconds": 6 * 60}, id="timestamp older than 5 minutes"),
        pytest.param({"drop": ("x-slack-signature",)}, id="missing signature header"),
    ],
)
def test_an_unverifiable_command_gets_401_and_changes_nothing(tamper, app, db, fake):
    before = snapshot(db)
    body = command_body("admin assign boss@x.io intro")
    response = deliver(app, body, content_type="application/x-www-form-urlencoded", **tamper)
    assert response.status == 401
    assert snapshot(db) == before
    assert fake.calls == []


def test_a_correctly_signed_event_just_under_5_minutes_old_is_accepted(app, db):
    response = deliver(app, team_join_body(), age_seconds=4 * 60 + 50)
    assert response.status == 200
    assert count(db, Person) == 2


# --- retries ---------------------------------------------------------------------------------


def test_the_same_event_delivered_with_retries_1_to_3_has_one_effect(app, db):
    body = team_join_body()
    first = deliver(app, body)
    retries = [
        deliver(
            app,
            body,
            extra={"x-slack-retry-num": str(n), "x-slack-retry-reason": "http_timeout"},
        )
        for n in (1, 2, 3)
    ]
    assert [r.status for r in (first, *retries)] == [200, 200, 200, 200]
    assert count(db, Person) == 2  # Bo and the one new member
    with db.session() as session:
        assert list(session.scalars(select(OutboxMessage.key))) == ["team_join:U0NEW:U0ADMIN"]
    assert count(db, ProcessedEvent) == 1
    with db.session() as session:
        joins = session.scalars(select(AuditEntry).where(AuditEntry.action == "person.join"))
        assert len(joins.all()) == 1


def test_concurrent_deliveries_of_one_event_have_one_effect(app, db):
    body = team_join_body("Ev0RACE0001")
    start = threading.Barrier(4)
    statuses: list[int] = []

    def send(n: int) -> None:
        start.wait(timeout=10)
        statuses.append(deliver(app, body, extra={"x-slack-retry-num": str(n)}).status)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [200] * 4
    assert count(db, Person) == 2
    assert count(db, OutboxMessage) == 1


def test_different_events_are_each_handled(app, db):
    deliver(app, team_join_body("Ev0A"))
    other = json.loads(team_join_body("Ev0B"))
    other["event"]["user"] = {"id": "U0TWO", "real_name": "Two", "profile": {"email": "two@x.io"}}
    deliver(app, json.dumps(other))
    assert count(db, Person) == 3
    assert count(db, ProcessedEvent) == 2
