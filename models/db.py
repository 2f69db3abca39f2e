"""Engine, sessions and schema migrations."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class SchemaOutOfDate(RuntimeError):
    """The database schema is behind the code; ``python bot.py db upgrade`` fixes it."""


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs written the usual way."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def redact_url(url: str) -> str:
    """The URL with any password hidden, for logs and error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable database URL>"


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names; None for in-memory SQLite or another database."""
    try:
        parsed = make_url(url)
    except Exception:
        return None
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:"):  # a URI filename: its own rules, left to SQLite
        return None
    return Path(database)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# JSON columns (outbox payloads, audit details) without the spaces json.dumps puts after
# "," and ":": a tenth smaller, and the planner writes a million items a day at scale.
_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def build_engine(url: str, *, pool_size: int = 5, max_overflow: int = 10) -> Engine:
    """An engine for ``url`` with learnbot's connection settings."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_serializer=_json,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        if make_url(url).database not in (None, "", ":memory:"):
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        return engine
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        json_serializer=_json,
    )


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


@dataclass
class Database:
    """One database: its engine and the session factory the service layer uses."""

    engine: Engine

    @property
    def url(self) -> str:
        return redact_url(str(self.engine.url.render_as_string(hide_password=False)))

    @contextmanager
    def session(self, *, dry_run: bool = False) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error.

        With ``dry_run`` the work is done in full and then rolled back, so a dry run
        reports exactly what a real run would change.
        """
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                if dry_run:
                    session.rollback()
                else:
                    session.commit()
            except BaseException:
                session.rollback()
                raise

    def head_revision(self) -> str | None:
        return ScriptDirectory.from_config(alembic_config(self.engine)).get_current_head()

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def is_current(self) -> bool:
        return self.current_revision() == self.head_revision()

    def upgrade(self) -> None:
        """Bring the schema to the newest revision."""
        command.upgrade(alembic_config(self.engine), "head")

    def ensure_schema(self) -> None:
        """Upgrade SQLite on first use; refuse to run on an out-of-date server database."""
        if self.is_current():
            return
        if self.engine.dialect.name == "sqlite":
            log.info("upgrading SQLite schema at %s", self.url)
            self.upgrade()
            return
        raise SchemaOutOfDate(
            f"the database at {self.url} is at revision {self.current_revision() or 'none'}, "
            f"the code needs {self.head_revision()}: run `python bot.py db upgrade`"
        )

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url: str, *, pool_size: int = 5, max_overflow: int = 10) -> Database:
    """Open (without touching the schema) the database at ``url``."""
    if url.startswith("sqlite:///") and ":memory:" not in url:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return Database(build_engine(url, pool_size=pool_size, max_overflow=max_overflow))
