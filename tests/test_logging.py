"""Logs: one line per event, JSON with LOG_FORMAT=json, and never a secret in them."""

from __future__ import annotations

import io
import json
import logging
import socket
from collections.abc import Iterator

import pytest

from logs import MASK, Redactor, configure_logging, remove_logging
from settings import Settings
from tests.fakes.slack_api import FakeSlack
from tests.outbox_support import dms, put

TOKEN = "xoxb-1111-2222-SeCrEtToKeN"
SIGNING_SECRET = "8f14e45fceea167a5a36dedd4bea2543"
DB_PASSWORD = "Db-Pa55word-x"
FORMATS = ["text", "json"]


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
