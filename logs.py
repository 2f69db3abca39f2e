"""Log set-up for every command: one line per event, as text or JSON, secrets masked.

``bot.py`` calls ``configure_logging`` in ``main`` (never at import). Every record, ours
and the libraries' (Bolt, slack_sdk, SQLAlchemy, APScheduler), goes through one handler
whose formatter writes the event on one line (a traceback too) and masks, in the final
text, the secrets it was given (tokens, signing secret, database password), anything
shaped like a Slack token, the password of any ``scheme://user:password@`` URL, every
``response_url`` (and any Slack webhook url: whoever has one can post in that
conversation) and the legacy verification ``token`` field of Slack's request bodies.
The body of a request refused for its signature is never written: Bolt logs it whole
(with its ``response_url``, ``token`` and what the person typed), so that line is
replaced by one that says only what happened.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

MASK = "***"
# Shorter values (e.g. a dummy "x") would mask ordinary words; real secrets are longer,
# and a short database password is still masked inside its URL by the URL rule.
MIN_SECRET_LENGTH = 6
_SLACK_TOKEN = re.compile(r"\b(x(?:ox[a-z]|app)-)[A-Za-z0-9-]+")
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/?#@]*:)[^\s@/]+@", re.IGNORECASE)
# Slack's response urls and webhooks (https://hooks.slack.com/commands/T1/123/abc...),
# also as JSON (\/) or form (%2F) text.
_WEBHOOK_URL = re.compile(
    r"(\bhttps?(?::|%3A)(?:\\?/|%2F){2}[^\s/\\%\"'<>]+(?:\\?/|%2F)"
    r"(?:[^\s/\\%\"'<>]+(?:\\?/|%2F))*?"
    r"(?:commands|actions|services|workflows|triggers)(?:\\?/|%2F))[^\s\"'<>,)&]+",
    re.IGNORECASE,
)
# A field in a form body (response_url=...), JSON ("response_url": "...") or a repr.
_SECRET_FIELD = re.compile(
    r"((?<![\w-])[\"']?(?:response_url|token)[\"']?\s*(?:=|:)\s*[\"']?)[^\s\"'&,}]+"
)
_REFUSED_SIGNATURE = "Invalid request signature detected"
_REFUSED_SIGNATURE_LINE = (
    "Invalid request signature detected: request refused (its signature, timestamp and "
    "body are not logged)"
)
_RECORD_FIELDS = frozenset(
    set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
)


class Redactor:
    """Masks secrets in text: the given values, Slack tokens, and URL passwords."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted(
            {value for value in secrets if len(value) >= MIN_SECRET_LENGTH}, key=len, reverse=True
        )

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        text = _SLACK_TOKEN.sub(lambda match: match.group(1) + MASK, text)
        text = _WEBHOOK_URL.sub(lambda match: match.group(1) + MASK, text)
        text = _SECRET_FIELD.sub(lambda match: match.group(1) + MASK, text)
        return _URL_PASSWORD.sub(lambda match: match.group(1) + MASK + "@", text)


def _message(record: logging.LogRecord) -> str:
    """The record's message; Bolt's line about a refused signature loses the request."""
    text = record.getMessage()
    if text.startswith(_REFUSED_SIGNATURE):
        return _REFUSED_SIGNATURE_LINE
    return text


def _timestamp(record: logging.LogRecord) -> str:
    at = datetime.fromtimestamp(record.created, UTC)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TextFormatter(logging.Formatter):
    """``2026-03-02T09:00:00.123Z INFO delivery.sender: message`` on one line.

    A traceback follows on the same line, its line breaks written as `` | ``.
    """

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        text = _message(record)
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            text += "\n" + self.formatStack(record.stack_info)
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {text}"
        return self._redact(" | ".join(part for part in line.splitlines() if part.strip()))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``, ``pid``,
    ``exception`` (with a traceback) and any ``extra=`` fields."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
            "pid": record.process,
        }
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            event["stack"] = self.formatStack(record.stack_info)
        for name, value in vars(record).items():
            if name not in _RECORD_FIELDS and not name.startswith("_"):
                event[name] = value
        return json.dumps(self._masked(event), default=str, ensure_ascii=False)

    def _masked(self, value: Any) -> Any:
        # Mask each string before encoding: a secret with a quote or backslash in it
        # would no longer match once JSON-escaped.
        if isinstance(value, str):
            return self._redact(value)
        if isinstance(value, dict):
            return {key: self._masked(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._masked(item) for item in value]
        if isinstance(value, int | float | bool) or value is None:
            return value
        return self._redact(str(value))


def configure_logging(
    *, stream: TextIO, level: str, log_format: str, secrets: Iterable[str] = ()
) -> logging.Handler:
    """Send log records at ``level`` and above to ``stream``; return the handler.

    Replaces the handler an earlier call installed (so ``main`` can run several times in
    one process, as the tests do) and leaves any other handler alone.

    Args:
        stream: Where the lines go (standard error).
        level: A logging level name, e.g. ``"INFO"``.
        log_format: ``"text"`` or ``"json"``.
        secrets: Values to mask wherever they appear.
    """
    redact = Redactor(secrets)
    handler = logging.StreamHandler(stream)
    handler.set_name("learnbot")
    handler.setLevel(level)
    handler.setFormatter(JsonFormatter(redact) if log_format == "json" else TextFormatter(redact))
    root = logging.getLogger()
    remove_logging()
    root.addHandler(handler)
    if root.getEffectiveLevel() > handler.level:
        root.setLevel(handler.level)
    return handler


def remove_logging() -> None:
    """Take away the handler ``configure_logging`` installed, if any."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == "learnbot":
            root.removeHandler(handler)
