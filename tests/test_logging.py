"""Logs: one line per event, JSON with LOG_FORMAT=json, and never a secret in them."""

from __future__ import annotations

import io
import json
import logging
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from logs import MASK, Redactor, configure_logging, remove_logging
from settings import Settings
from tests.fakes.slack_api import FakeSlack
from tests.outbox_support import dms, put

TOKEN = "xoxb-1111-2222-SeCrEtToKeN"
SIGNING_SECRET = "8f14e45fceea167a5a36dedd4bea2543"
DB_PASSWORD = "Db-Pa55word-x"
FORMATS = ["text", "json"]
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def logged() -> Iterator[tuple[io.StringIO, logging.Logger]]:
    """A JSON-or-text handler on a fresh stream (set up per test by ``use``)."""
    stream = io.StringIO()
    yield stream, logging.getLogger("learnbot.test")
    remove_logging()


def use(stream: io.StringIO, log_format: str, *secrets: str) -> None:
    configure_logging(stream=stream, level="INFO", log_format=log_format, secrets=secrets)


def boom() -> None:
    raise RuntimeError(f"cannot connect with {TOKEN}")


def test_json_logs_are_one_object_per_line_with_time_level_logger_and_message(logged):
    stream, log = logged
    use(stream, "json")
    log.info("planned %d digests", 3, extra={"zone": "Europe/Paris"})
    try:
        boom()
    except RuntimeError:
        log.exception("sweep failed")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "planned 3 digests" and first["zone"] == "Europe/Paris"
    assert (first["level"], first["logger"]) == ("INFO", "learnbot.test")
    assert first["time"].endswith("Z") and "T" in first["time"]
    assert second["level"] == "ERROR"
    assert "Traceback" in second["exception"] and "RuntimeError" in second["exception"]


def test_text_logs_keep_a_traceback_on_the_event_line(logged):
    stream, log = logged
    use(stream, "text")
    try:
        boom()
    except RuntimeError:
        log.exception("sweep failed")
    [line] = stream.getvalue().splitlines()
    assert " ERROR learnbot.test: sweep failed | Traceback (most recent call last): | " in line
    assert line.rstrip().endswith(f"RuntimeError: cannot connect with xoxb-{MASK}")


def test_below_the_level_nothing_is_written(logged):
    stream, log = logged
    configure_logging(stream=stream, level="WARNING", log_format="text")
    log.info("routine")
    assert stream.getvalue() == ""


@pytest.mark.parametrize("log_format", FORMATS)
def test_given_secrets_tokens_and_url_passwords_are_masked(logged, log_format):
    stream, log = logged
    quoted = 'pa"ss\\word-1'  # JSON escapes it: it must be masked before encoding
    use(stream, log_format, SIGNING_SECRET, quoted)
    log.warning(
        "token %s, app token %s, secret %s, url %s, other %s",
        TOKEN,
        "xapp-1-A0-123-abc",
        SIGNING_SECRET,
        f"postgresql://learnbot:{DB_PASSWORD}@db:5432/learnbot",
        quoted,
        extra={"detail": {"token": TOKEN}},
    )
    text = stream.getvalue()
    for secret in (TOKEN, "xapp-1-A0-123-abc", SIGNING_SECRET, DB_PASSWORD, quoted, "pa\\"):
        assert secret not in text
    assert f"postgresql://learnbot:{MASK}@db:5432/learnbot" in text


def test_short_values_are_not_taken_for_secrets():
    redact = Redactor(["x"])
    assert redact("next exit") == "next exit"


def test_settings_name_every_secret_including_the_encoded_database_password():
    settings = Settings.from_env(
        {
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "DATABASE_URL": "postgresql://learnbot:p%40ss-word@db/learnbot",
        }
    )
    assert set(settings.secrets()) == {TOKEN, SIGNING_SECRET, "p%40ss-word", "p@ss-word"}


def test_log_format_must_be_text_or_json(cli):
    result = cli("report", env={"LOG_FORMAT": "xml"})
    assert result.code == 1
    assert "LOG_FORMAT must be text or json, got 'xml'" in result.err


def test_pool_sizes_must_make_sense():
    from settings import SettingsError

    with pytest.raises(SettingsError, match="LEARNBOT_DB_POOL_SIZE"):
        Settings.from_env({"LEARNBOT_DB_POOL_SIZE": "0"})
    settings = Settings.from_env({"LEARNBOT_DB_POOL_SIZE": "3", "LEARNBOT_DB_MAX_OVERFLOW": "0"})
    assert (settings.db_pool_size, settings.db_max_overflow) == (3, 0)


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize("log_format", FORMATS)
def test_a_failing_slack_run_logs_errors_but_no_token_or_signing_secret(cli, db, clock, log_format):
    with FakeSlack() as fake:
        fake.respond("chat.postMessage", {"ok": False, "error": "channel_not_found"}, times=1)
        fake.respond("chat.postMessage", {"ok": False, "error": "invalid_auth"})
        put(db, dms(2, at=clock.now()), now=clock.now())
        result = cli(
            "drain",
            env={
                "SLACK_BOT_TOKEN": TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": fake.base_url,
                "LEARNBOT_CHANNEL_INTERVAL_SECONDS": "0",
                "LEARNBOT_WORKSPACE_RATE_PER_MINUTE": "60000",
                "LEARNBOT_LOG_LEVEL": "DEBUG",  # the SDK's request logs too
                "LOG_FORMAT": log_format,
            },
        )
        assert {call.token for call in fake.calls} == {TOKEN}  # the token was used
    assert result.code == 1
    assert "channel_not_found" in result.err and "invalid_auth" in result.err
    assert "slack_sdk" in result.err  # the SDK's debug lines went through the handler
    for secret in (TOKEN, SIGNING_SECRET):
        assert secret not in result.out + result.err
    if log_format == "json":
        events = _json_lines(result.err)
        assert {"WARNING", "ERROR", "DEBUG"} <= {event["level"] for event in events}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("log_format", FORMATS)
def test_an_unreachable_database_is_named_without_its_password(cli, log_format):
    url = f"postgresql://learnbot:{DB_PASSWORD}@127.0.0.1:{_closed_port()}/learnbot"
    result = cli(
        "db",
        "current",
        env={"DATABASE_URL": url, "LOG_FORMAT": log_format, "LEARNBOT_LOG_LEVEL": "DEBUG"},
    )
    assert result.code == 1
    assert DB_PASSWORD not in result.out + result.err
    assert f"postgresql://learnbot:{MASK}@127.0.0.1" in result.err
    assert "Connection refused" in result.err or "connection failed" in result.err
    if log_format == "json":
        assert any(event["level"] == "ERROR" for event in _json_lines(result.err))
    else:
        assert "error: the database at postgresql://learnbot:***@127.0.0.1:" in result.err


def test_an_unexpected_failure_is_logged_masked_and_exits_1(cli, monkeypatch):
    import bot

    def crash(ctx, args):  # type: ignore[no-untyped-def]
        raise RuntimeError(f"the driver said: token={TOKEN}")

    monkeypatch.setattr(bot, "cmd_report", crash)
    result = cli("report", env={"LOG_FORMAT": "json", "SLACK_BOT_TOKEN": TOKEN})
    assert result.code == 1
    [event] = [e for e in _json_lines(result.err) if e["level"] == "ERROR"]
    assert event["message"] == "report failed" and "RuntimeError" in str(event["exception"])
    assert TOKEN not in result.err


def test_the_log_handler_goes_away_when_the_command_ends(cli):
    assert cli("report", env={"LOG_FORMAT": "json"}).code == 0
    assert "learnbot" not in [handler.get_name() for handler in logging.getLogger().handlers]


# --- requests: no response_url, token or refused body in the logs ------------------------

LEGACY_TOKEN = "LeGaCyVeRiFiCaTiOn"
RESPONSE_PATH = "T0TEAM/1234567/ReSpOnSeUrLsEcReT"


def _signed(app, body: str, *, secret: str, content_type: str):  # type: ignore[no-untyped-def]
    from slack_bolt import BoltRequest
    from slack_sdk.signature import SignatureVerifier

    timestamp = str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    headers = {
        "content-type": [content_type],
        "x-slack-request-timestamp": [timestamp],
        "x-slack-signature": [signature],
    }
    return app.dispatch(BoltRequest(body=body, headers=headers)), signature


@pytest.mark.parametrize("log_format", FORMATS)
def test_a_request_refused_for_its_signature_is_logged_without_its_body(db, clock, log_format):
    from server.app import build_app
    from tests.helpers import slack_settings

    stream = io.StringIO()
    configure_logging(
        stream=stream, level="DEBUG", log_format=log_format, secrets=(SIGNING_SECRET,)
    )
    try:
        with FakeSlack() as fake:
            settings = slack_settings(fake.base_url, signing_secret=SIGNING_SECRET)
            app = build_app(settings, database=db, clock=clock, process_before_response=True)
            body = urlencode(
                {
                    "token": LEGACY_TOKEN,
                    "team_id": "T0TEAM",
                    "user_id": "U0ANY",
                    "command": "/learn",
                    "text": "kudos <@U0BOB> for my private words",
                    "response_url": f"https://hooks.slack.com/commands/{RESPONSE_PATH}",
                    "trigger_id": "1.2.3",
                }
            )
            response, signature = _signed(
                app, body, secret="not-the-signing-secret", content_type=FORM
            )
    finally:
        remove_logging()
    assert response.status == 401
    logged = stream.getvalue()
    assert "Invalid request signature detected: request refused" in logged
    for leak in ("ReSpOnSeUrLsEcReT", LEGACY_TOKEN, "private words", signature, SIGNING_SECRET):
        assert leak not in logged
    if log_format == "json":
        assert all(isinstance(event, dict) for event in _json_lines(logged))


@pytest.mark.parametrize("log_format", FORMATS)
def test_a_response_url_is_masked_where_slack_sdk_logs_it(db, clock, log_format):
    """An answer sent through a click's ``response_url`` (the SDK logs its url and body
    at DEBUG) leaves the url masked; the answer itself still arrives."""
    from platforms.slack.render import ids
    from server.app import build_app
    from tests.helpers import slack_settings

    stream = io.StringIO()
    configure_logging(stream=stream, level="DEBUG", log_format=log_format)
    try:
        with FakeSlack() as fake:
            settings = slack_settings(fake.base_url, signing_secret=SIGNING_SECRET)
            app = build_app(settings, database=db, clock=clock, process_before_response=True)
            payload = {
                "type": "block_actions",
                "token": LEGACY_TOKEN,
                "team": {"id": "T0TEAM"},
                "user": {"id": "U0ANY"},
                "api_app_id": "A0APP",
                "trigger_id": "1.2.3",
                "container": {"type": "message", "channel_id": "C0PEER", "message_ts": "1.2"},
                "channel": {"id": "C0PEER"},
                "response_url": f"{fake.base_url}actions/{RESPONSE_PATH}",
                "actions": [
                    {"type": "button", "action_id": ids.PEER_CAN_HELP, "value": "not-an-id"}
                ],
            }
            response, _ = _signed(
                app,
                urlencode({"payload": json.dumps(payload)}),
                secret=SIGNING_SECRET,
                content_type=FORM,
            )
            [answer] = fake.calls_to(f"actions/{RESPONSE_PATH}")
    finally:
        remove_logging()
    assert response.status == 200
    assert "no longer works" in answer.body["text"]
    # The fake Slack server's own access log names the path it was asked for.
    logged = "\n".join(line for line in stream.getvalue().splitlines() if "tests.fakes" not in line)
    assert "actions/***" in logged  # the SDK's request line is there, its url masked
    for leak in ("ReSpOnSeUrLsEcReT", LEGACY_TOKEN):
        assert leak not in logged


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        (
            "token=abc123&team_id=T1&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands"
            "%2FT1%2F1%2FsEcReT&text=hi",
            "team_id=T1",
            ("abc123", "sEcReT"),
        ),
        ("{'token': 'abc123', 'response_url': 'https://x.test/1', 'n': 1}", "'n': 1", ("abc123",)),
        (
            '{"response_url":"https:\\/\\/hooks.slack.com\\/actions\\/T1\\/2\\/sEcReT"}',
            "{",
            ("sEcReT",),
        ),
        ("posting to https://hooks.slack.com/services/T1/B2/sEcReT failed", "failed", ("sEcReT",)),
        ("tokens revoked in T1; the bot token is unaffected", "the bot token is unaffected", ()),
    ],
)
def test_response_urls_webhooks_and_token_fields_are_masked(text, kept, gone):
    masked = Redactor()(text)
    assert kept in masked
    for secret in gone:
        assert secret not in masked
