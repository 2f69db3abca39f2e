"""Locks that make a check-then-write unit of work race-free on both databases.

A limit (the kudos quota, a mentor's weekly cap, one open extension request per item)
is a count read before a row is written. Two requests at once must not both read the
old count, so the unit takes a lock *before* the check and keeps it until it commits:

* PostgreSQL: a row lock on the person the limit is about (``SELECT ... FOR NO KEY
  UPDATE``, which does not block the key-share locks that inserting rows pointing at
  the person takes). Under READ COMMITTED each later statement sees what the previous
  holder committed.
* SQLite has no row locks but one writer at a time. Python's ``sqlite3`` driver, in its
  default "legacy transaction control" (until Python 3.16), starts a transaction only at
  the first INSERT/UPDATE/DELETE: the reads before it run outside any transaction, so a
  check could read a count another writer is about to change. ``take_write_lock`` opens
  the transaction itself with ``BEGIN IMMEDIATE``, which waits (``busy_timeout``) for and
  then holds the database's write lock; the driver sees a transaction is open and emits
  no BEGIN of its own, and commits or rolls back as usual. A unit that has written
  already holds the lock and needs nothing more.

Only the units that check a limit take the lock at once; every other unit keeps SQLite's
lazy locking, which lets reads run alongside a writer.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from models import Person


class UnsupportedTransactionControl(RuntimeError):
    """The sqlite3 driver is not in legacy transaction control; the lock would be unsafe."""


def take_write_lock(session: Session) -> None:
    """On SQLite, hold the database's write lock from now until the transaction ends."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    raw: Any = connection.connection.dbapi_connection
    _require_legacy_control(raw)
    if not raw.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def lock_person(session: Session, person_id: int) -> None:
    """Serialise limit checks about one person until the transaction ends.

    The person's row on PostgreSQL; the whole database on SQLite (``take_write_lock``).
    """
    take_write_lock(session)
    session.execute(select(Person.id).where(Person.id == person_id).with_for_update(key_share=True))


def _require_legacy_control(raw: Any) -> None:
    # With PEP 249 transaction control (``autocommit=False``, the default from Python
    # 3.16) a deferred transaction is always open, ``in_transaction`` is always true and
    # this module would take no lock at all: fail loudly instead of racing quietly.
    legacy = getattr(sqlite3, "LEGACY_TRANSACTION_CONTROL", None)
    if getattr(raw, "autocommit", legacy) != legacy or raw.isolation_level is None:
        raise UnsupportedTransactionControl(
            "learning.locks needs sqlite3's legacy transaction control "
            "(isolation_level set, autocommit not set); see the module docstring"
        )
