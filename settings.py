"""Runtime settings from the environment (and ``.env``), as one typed object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# The checkout (the folder of bot.py and this file): LEARNBOT_HOME when it is not set.
CHECKOUT = Path(__file__).resolve().parent
DEFAULT_DATABASE_URL = "sqlite:///learnbot.db"  # under LEARNBOT_HOME
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
PLACEHOLDERS = ("", "xoxb-your-token", "changeme", "your-signing-secret", "xapp-your-token")
LOG_FORMATS = ("text", "json")
SUPPORTED_DATABASES = (
    "learnbot supports sqlite:///PATH (a file; a relative PATH is under LEARNBOT_HOME) "
    "and postgresql://USER@HOST/DATABASE (the password after USER and a colon)"
)


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names the variable."""


def learnbot_home(env: Mapping[str, str]) -> Path:
    """Where ``.env`` and the default SQLite database live: ``LEARNBOT_HOME``, else the
    checkout. Never the current directory, so a command run from elsewhere (cron, another
    shell) finds the same database."""
    raw = env.get("LEARNBOT_HOME", "").strip()
    return Path(raw).expanduser().absolute() if raw else CHECKOUT


def resolve_database_url(raw: str, home: Path) -> str:
    """``DATABASE_URL`` checked, with a relative SQLite path made absolute under ``home``.

    Raises:
        SettingsError: the URL cannot be read, or names a database learnbot does not
            support; the message says what is supported.
    """
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):
        # Shown only when it cannot hold a password (user:password@host, mistyped).
        shown = f" {raw!r}" if len(raw) <= 60 and not set(raw) & set(":@") else ""
        raise SettingsError(
            f"DATABASE_URL{shown} is not a database URL: {SUPPORTED_DATABASES}"
        ) from None
    backend, _, driver = url.drivername.partition("+")
    if backend in ("postgres", "postgresql") and driver in ("", "psycopg"):
        return raw  # read with psycopg 3 (models.db.normalise_url)
    if backend != "sqlite" or driver not in ("", "pysqlite"):
        raise SettingsError(
            f"DATABASE_URL uses {url.drivername!r}, which learnbot does not support: "
            f"{SUPPORTED_DATABASES}"
        )
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return raw
    path = Path(database).expanduser()
    if not path.is_absolute():
        path = home / path
    return url.set(database=str(path)).render_as_string(hide_password=False)


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    # LEARNBOT_HOME: holds .env and the default database (``learnbot_home``).
    home: Path = CHECKOUT
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_app_token: str | None = field(default=None, repr=False)
    slack_api_url: str = DEFAULT_SLACK_API_URL
    host: str = "0.0.0.0"
    port: int = 3000
    # LEARNBOT_ADMINS, lower-cased: emails, Slack user ids, and ``slack-admins`` (Slack
    # workspace admins and owners count as learnbot admins; see learning.identity).
    admins: tuple[str, ...] = ()
    db_pool_size: int = 5
    db_max_overflow: int = 10
    # LEARNBOT_LOG_LEVEL; None (not set): INFO for the services (`run`, `drain --loop`),
    # WARNING for one-shot commands, whose result is what they print (bot.py).
    log_level: str | None = None
    log_format: str = "text"
    workspace_rate_per_minute: int = 200
    channel_interval_seconds: float = 1.0
    send_lease_seconds: float = 300.0
    programs_file: str | None = None
    # Seconds a /learn answer may take before the ack says "working on it" and the
    # answer follows through ``respond`` (Slack waits 3 s for the ack).
    ack_budget_seconds: float = 2.0
    # The web server (server/http.py; docs/deploy.md, "Web server limits").
    http_max_body_bytes: int = 1_000_000
    http_max_requests: int = 100
    http_threads: int = 32
    http_header_timeout_seconds: float = 10.0
    http_body_timeout_seconds: float = 10.0
    http_keepalive_seconds: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings; raise ``SettingsError`` naming any malformed variable."""
        env = os.environ if env is None else env

        def number(name: str, default: int) -> int:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                return int(raw)
            except ValueError:
                raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None

        def decimal(name: str, default: float) -> float:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
            if value < 0 or value != value:
                raise SettingsError(f"{name} must be zero or more, got {raw!r}")
            return value

        def secret(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        rate = number("LEARNBOT_WORKSPACE_RATE_PER_MINUTE", 200)
        if rate < 1:
            raise SettingsError(
                f"LEARNBOT_WORKSPACE_RATE_PER_MINUTE must be at least 1, got {rate}"
            )
        pool_size = number("LEARNBOT_DB_POOL_SIZE", 5)
        max_overflow = number("LEARNBOT_DB_MAX_OVERFLOW", 10)
        if pool_size < 1 or max_overflow < 0:
            raise SettingsError(
                "LEARNBOT_DB_POOL_SIZE must be at least 1 and LEARNBOT_DB_MAX_OVERFLOW 0 or "
                f"more, got {pool_size} and {max_overflow}"
            )
        ack_budget = decimal("LEARNBOT_ACK_BUDGET_SECONDS", 2.0)
        if ack_budget >= 3:
            raise SettingsError(
                "LEARNBOT_ACK_BUDGET_SECONDS must be under 3 (Slack gives up on an answer "
                f"after 3 seconds), got {ack_budget:g}"
            )
        http_counts = {
            name: number(name, default)
            for name, default in (
                ("LEARNBOT_HTTP_MAX_BODY_BYTES", 1_000_000),
                ("LEARNBOT_HTTP_MAX_REQUESTS", 100),
                ("LEARNBOT_HTTP_THREADS", 32),
            )
        }
        for name, value in http_counts.items():
            if value < 1:
                raise SettingsError(f"{name} must be at least 1, got {value}")
        http_timeouts = {
            name: decimal(name, default)
            for name, default in (
                ("LEARNBOT_HTTP_HEADER_TIMEOUT_SECONDS", 10.0),
                ("LEARNBOT_HTTP_BODY_TIMEOUT_SECONDS", 10.0),
                ("LEARNBOT_HTTP_KEEPALIVE_SECONDS", 5.0),
            )
        }
        for name, seconds in http_timeouts.items():
            if seconds == 0:
                raise SettingsError(f"{name} must be more than 0, got {seconds:g}")
        log_format = env.get("LOG_FORMAT", "").strip().lower() or "text"
        if log_format not in LOG_FORMATS:
            raise SettingsError(f"LOG_FORMAT must be text or json, got {log_format!r}")
        api_url = env.get("SLACK_API_URL", "").strip() or DEFAULT_SLACK_API_URL
        if not api_url.endswith("/"):
            api_url += "/"
        home = learnbot_home(env)
        return cls(
            database_url=resolve_database_url(
                env.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL, home
            ),
            home=home,
            slack_bot_token=secret("SLACK_BOT_TOKEN"),
            slack_signing_secret=secret("SLACK_SIGNING_SECRET"),
            slack_app_token=secret("SLACK_APP_TOKEN"),
            slack_api_url=api_url,
            host=env.get("LEARNBOT_HOST", "").strip() or "0.0.0.0",
            port=number("PORT", 3000),
            admins=tuple(
                email.strip().lower()
                for email in env.get("LEARNBOT_ADMINS", "").split(",")
                if email.strip()
            ),
            db_pool_size=pool_size,
            db_max_overflow=max_overflow,
            log_level=env.get("LEARNBOT_LOG_LEVEL", "").strip().upper() or None,
            log_format=log_format,
            workspace_rate_per_minute=rate,
            channel_interval_seconds=decimal("LEARNBOT_CHANNEL_INTERVAL_SECONDS", 1.0),
            send_lease_seconds=decimal("LEARNBOT_SEND_LEASE_SECONDS", 300.0),
            programs_file=env.get("LEARNBOT_PROGRAMS_FILE", "").strip() or None,
            ack_budget_seconds=ack_budget,
            http_max_body_bytes=http_counts["LEARNBOT_HTTP_MAX_BODY_BYTES"],
            http_max_requests=http_counts["LEARNBOT_HTTP_MAX_REQUESTS"],
            http_threads=http_counts["LEARNBOT_HTTP_THREADS"],
            http_header_timeout_seconds=http_timeouts["LEARNBOT_HTTP_HEADER_TIMEOUT_SECONDS"],
            http_body_timeout_seconds=http_timeouts["LEARNBOT_HTTP_BODY_TIMEOUT_SECONDS"],
            http_keepalive_seconds=http_timeouts["LEARNBOT_HTTP_KEEPALIVE_SECONDS"],
        )

    def secrets(self) -> tuple[str, ...]:
        """Values that must never be logged: tokens, signing secret, database password."""
        values = [self.slack_bot_token, self.slack_signing_secret, self.slack_app_token]
        try:
            password = urlsplit(self.database_url).password
        except ValueError:  # an unparsable URL: nothing to pick out of it
            password = None
        if password:
            values += [password, unquote(password)]
        return tuple(dict.fromkeys(value for value in values if value))

    def require_slack(self) -> None:
        """Refuse to talk to Slack without real credentials, naming every one missing."""
        missing = []
        for name, value, needed in (
            ("SLACK_BOT_TOKEN", self.slack_bot_token, True),
            ("SLACK_SIGNING_SECRET", self.slack_signing_secret, True),
            ("SLACK_APP_TOKEN", self.slack_app_token, False),  # optional: Socket Mode
        ):
            if value is None:
                if needed:
                    missing.append(f"{name} is not set")
            elif value.lower() in PLACEHOLDERS:
                missing.append(f"{name} still has the placeholder value of .env.example")
        if missing:
            raise SettingsError(
                f"{'; '.join(missing)}. Create the Slack app from manifest.yml and put its "
                f"credentials in {self.home / '.env'} (see README, 'Create the Slack app'), "
                "or try learnbot without Slack: python bot.py simulate (or: python bot.py demo)"
            )
