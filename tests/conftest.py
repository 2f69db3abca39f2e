"""Shared fixtures: a fresh database per test, a frozen clock, CLI and file helpers.

Set ``DATABASE_URL`` to a PostgreSQL URL to run every test against PostgreSQL
(``.ci/run`` does this with a throwaway cluster); otherwise each test gets its own
SQLite file, copied from a template the real Alembic migrations built.
"""

from __future__ import annotations

import io
import os
import shutil
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, select, text
from sqlmodel import SQLModel

import bot
from learning.clock import FrozenClock
from models.db import Database, open_database

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SERVER_URL = os.environ.get("DATABASE_URL", "").strip()
ON_POSTGRES = SERVER_URL.startswith(("postgres://", "postgresql"))
# Monday 2 March 2026, 09:00 UTC: a working day in every example region.
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = open_database(f"sqlite:///{path}")
    db.upgrade()
    db.dispose()
    return path


@pytest.fixture(scope="session")
def _server_database() -> Iterator[Database]:
    db = open_database(SERVER_URL)
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    db.upgrade()
    yield db
    db.dispose()


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, current-schema database for this test."""
    if ON_POSTGRES:
        db: Database = request.getfixturevalue("_server_database")
        tables = [t.name for t in SQLModel.metadata.sorted_tables]
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        return SERVER_URL
    template: Path = request.getfixturevalue("_sqlite_template")
    path = tmp_path / "learnbot.db"
    shutil.copy(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = open_database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(database_url: str, clock: FrozenClock):  # type: ignore[no-untyped-def]
    """Run ``bot.py`` in-process against this test's database and clock."""

    def run(*args: str, env: dict[str, str] | None = None) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        code = bot.main(
            list(args),
            env={"DATABASE_URL": database_url, **(env or {})},
            clock=clock,
            out=out,
            err=err,
        )
        return CliResult(code, out.getvalue(), err.getvalue())

    return run


@pytest.fixture
def write(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write a text file (dedented) into the test's folder and return its path."""

    def _write(name: str, content: str) -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
        return str(path)

    return _write


# Request bookkeeping, not state: every signed command or click leaves its signature in
# ``seen_request`` (replay protection), also one that changes nothing.
BOOKKEEPING = ("seen_request",)


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (but ``BOOKKEEPING``), for "nothing changed" assertions."""
    metadata = MetaData()
    metadata.reflect(db.engine)
    result = {}
    with db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name in BOOKKEEPING:
                continue
            rows = conn.execute(select(table)).all()
            result[table.name] = sorted(tuple(map(repr, row)) for row in rows)
    return result
