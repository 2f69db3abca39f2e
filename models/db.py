"""Engine, sessions and schema migrations."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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


# SQLite's busy handler retries a locked write after 1, 2, 5, ... then every 100 ms.
MAX_WRITER_RETRY_INTERVAL = 0.1


@dataclass
class Database:
    """One database: its engine and the session factory the service layer uses.

    ``write_pause`` and ``sleep`` pace background jobs on SQLite (``batch``): after each
    of their write transactions the job pauses for ``write_pause`` times as long as the
    transaction took (at most 100 ms), so that other writers get the one write lock.
    """

    engine: Engine
    write_pause: float = 1.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

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

    @contextmanager
    def batch(self) -> Iterator[Session]:
        """``session()`` for one batch of a background job's writes, then a pause.

        SQLite has one write lock and no queue for it: a writer that finds it taken
        (a Done click) sleeps and tries again, 1, 2, 5 ... and then 100 ms apart. A job
        that commits and writes again at once holds the lock nearly all the time, and
        such a writer can wait for the whole job. After each batch the job leaves the
        lock free for as long as the batch took (``write_pause``), up to the writers'
        longest retry interval. No pause on PostgreSQL (row locks, no single lock).
        """
        started = time.monotonic()
        with self.session() as session:
            yield session
            wrote = self.holds_write_lock(session)
        if wrote:
            self.pause_for_writers(time.monotonic() - started)

    def batches(self, session: Session) -> Batches:
        """Commit a background job's ``session`` batch by batch, pausing like ``batch``."""
        return Batches(self, session)

    def holds_write_lock(self, session: Session) -> bool:
        """SQLite: ``session`` has written (the driver opens its transaction at the first
        INSERT, UPDATE or DELETE), so it holds the write lock until it commits."""
        if self.engine.dialect.name != "sqlite" or not session.in_transaction():
            return False
        raw = session.connection().connection.dbapi_connection
        return bool(getattr(raw, "in_transaction", False))

    def pause_for_writers(self, held: float) -> None:
        """Leave SQLite's write lock free after a batch that took ``held`` seconds."""
        if self.engine.dialect.name == "sqlite" and held > 0 and self.write_pause > 0:
            self.sleep(min(held * self.write_pause, MAX_WRITER_RETRY_INTERVAL))

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


class Batches:
    """A background job's one session, committed a batch at a time (``Database.batch``)."""

    def __init__(self, database: Database, session: Session) -> None:
        self._database = database
        self._session = session
        self._since = time.monotonic()

    def commit(self) -> None:
        """Commit what the batch wrote, then (if it wrote) leave the write lock free."""
        wrote = self._database.holds_write_lock(self._session)
        self._session.commit()
        if wrote:
            self._database.pause_for_writers(time.monotonic() - self._since)
        self._since = time.monotonic()


def open_database(url: str, *, pool_size: int = 5, max_overflow: int = 10) -> Database:
    """Open (without touching the schema) the database at ``url``."""
    if url.startswith("sqlite:///") and ":memory:" not in url:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return Database(build_engine(url, pool_size=pool_size, max_overflow=max_overflow))
