"""The bot process over HTTP: Bolt's real pipeline with real Slack signatures."""

import json
import time
import urllib.error
import urllib.request

import pytest
from slack_sdk.signature import SignatureVerifier

from server.app import build_app, health
from server.http import start_server
from tests.fakes.slack_api import FakeSlack
from tests.helpers import slack_settings

SECRET = "test-signing-secret"


@pytest.fixture
def served(db, clock):
    with FakeSlack() as fake:
        settings = slack_settings(fake.base_url, signing_secret=SECRET)
        app = build_app(settings, database=db, clock=clock)
        with start_server(
            settings=settings, host="127.0.0.1", port=0, health=lambda: health(db), slack=app
        ) as server:
            yield server.url


def post(url: str, body: str, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def signed(body: str, *, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
    return {
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": signature,
        "Content-Type": "application/json",
    }


def test_a_correctly_signed_url_verification_is_answered(served):
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"})
    status, reply = post(f"{served}/slack/events", body, signed(body))
    assert (status, json.loads(reply)["challenge"]) == (200, "abc123")


def test_a_forged_request_is_refused_with_401(served):
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"})
    status, _ = post(f"{served}/slack/events", body, signed(body, secret="not-the-secret"))
    assert status == 401


def test_a_replayed_old_request_is_refused(served):
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"})
    status, _ = post(
        f"{served}/slack/events", body, signed(body, timestamp=int(time.time()) - 3600)
    )
    assert status == 401


def test_health_reports_the_database(served):
    with urllib.request.urlopen(f"{served}/health", timeout=10) as response:
        assert response.status == 200
        assert json.loads(response.read()) == {"status": "ok", "database": "ok"}


def test_unknown_paths_are_404(served):
    status, _ = post(f"{served}/elsewhere", "{}", {"Content-Type": "application/json"})
    assert status == 404


def test_run_without_credentials_stops_at_once_naming_the_variable(cli):
    result = cli("run", env={"SLACK_BOT_TOKEN": "", "SLACK_SIGNING_SECRET": ""})
    assert result.code == 1
    assert "SLACK_BOT_TOKEN is not set" in result.err
    assert "python bot.py demo" in result.err or "simulate" in result.err
