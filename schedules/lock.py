"""One scheduler per database: a PostgreSQL advisory lock, or a lock file beside SQLite.

APScheduler 3 must not share a job store between processes, and two planners would do
the same work twice (harmlessly, thanks to unique outbox keys, but wastefully). The
process that holds this lock plans; every process may send.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import IO, Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from models.db import Database

log = logging.getLogger(__name__)

# An arbitrary 64-bit key that names "learnbot's scheduler" among advisory locks.
ADVISORY_KEY = 0x1EA2_B07


class SchedulerLock:
    """A non-blocking, process-wide lock tied to one database.

    Use ``acquire()``/``release()`` or ``with lock: ...``; ``held`` says whether this
    process holds it. Released automatically if the process dies (the connection or the
    file descriptor goes away with it). Thread-safe: the scheduler's jobs run on several
    threads, and the lock's one connection must serve them one at a time.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._connection: Any = None
        self._file: IO[str] | None = None
        self._mutex = threading.Lock()
        self.held = False

    def acquire(self) -> bool:
        with self._mutex:
            return self._acquire()

    def _acquire(self) -> bool:
        if self.held and not self._lost():
            return True
        if self.database.engine.dialect.name == "postgresql":
            connection = self.database.engine.connect()
            got = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
            ).scalar()
            connection.commit()
            if got:
                self._connection = connection
            else:
                connection.close()
            self.held = bool(got)
        else:
            path = self.path()
            handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held while locked)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                return False
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            self._file = handle
            self.held = True
        return self.held

    def _lost(self) -> bool:
        """True (and the lock dropped) if the PostgreSQL session holding it has died,
        e.g. the server restarted: the advisory lock died with it, so another process
        may plan now, and this one must take the lock again before it plans."""
        if self._connection is None:
            return False
        try:
            self._connection.execute(text("SELECT 1"))
            self._connection.commit()
            return False
        except DBAPIError:
            log.warning("the scheduler lock's database session was lost; taking it again")
            self._close_quietly()
            self.held = False
            return True

    def _close_quietly(self) -> None:
        with contextlib.suppress(DBAPIError):
            self._connection.close()
        self._connection = None

    def release(self) -> None:
        with self._mutex:
            self._release()

    def _release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY}
                )
                self._connection.commit()
            except DBAPIError:  # the session died (and the lock with it)
                log.warning("the scheduler lock's database session was already gone")
            finally:
                self._close_quietly()
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        self.held = False

    def path(self) -> Path:
        """The lock file of a SQLite database (beside it; in /tmp for in-memory ones)."""
        database = make_url(str(self.database.engine.url)).database
        if not database or database == ":memory:":
            return Path("/tmp/learnbot-memory.scheduler.lock")
        return Path(database + ".scheduler.lock")

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
