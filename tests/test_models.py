"""The schema: Alembic migrations, aware UTC timestamps, schema checks."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import exc, select, text
from sqlmodel import SQLModel

from models import Assignment, AuditEntry, Certification, CertificationAward, Person
from models.db import SchemaOutOfDate, alembic_config, open_database, redact_url
from tests.conftest import ON_POSTGRES
from tests.helpers import PROGRAMS


def test_migrations_build_exactly_the_models_schema(db):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []
    assert db.is_current()


def test_aware_utc_round_trips_from_any_offset(db):
    kolkata = timezone(timedelta(hours=5, minutes=30))
    at = datetime(2026, 3, 29, 1, 30, tzinfo=kolkata)
    with db.session() as session:
        session.add(AuditEntry(at=at, actor="test", action="check"))
    with db.session() as session:
        stored = session.scalars(select(AuditEntry)).one().at
    assert stored.tzinfo is not None and stored.utcoffset() == timedelta(0)
    assert stored == datetime(2026, 3, 28, 20, 0, tzinfo=UTC)


def test_naive_datetimes_are_refused(db):
    with pytest.raises(exc.StatementError, match="naive datetime"), db.session() as session:
        session.add(AuditEntry(at=datetime(2026, 3, 2, 9, 0), actor="test", action="x"))
        session.flush()


def test_email_is_unique_per_workspace(db):
    def person(workspace: str) -> Person:
        return Person(
            workspace_id=workspace,
            email="a@x.io",
            name="A",
            role="r",
            role_start_date=date(2026, 1, 5),
            created_at=datetime.now(UTC),
            updated_at=datetime.now(UTC),
        )

    with db.session() as session:
        session.add_all([person("T1"), person("T2")])
    with pytest.raises(exc.IntegrityError), db.session() as session:
        session.add(person("T1"))


def test_db_upgrade_brings_an_empty_sqlite_database_to_head(tmp_path, cli):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = cli("db", "upgrade", env={"DATABASE_URL": url})
    assert result.code == 0
    head = open_database(url).head_revision()
    assert head is not None and head >= "0003"
    assert f"empty -> {head} (current)" in result.out
    assert f"revision {head} (current)" in cli("db", "current", env={"DATABASE_URL": url}).out


def test_sqlite_is_upgraded_automatically_on_first_use(tmp_path, cli, write):
    # A command that writes creates the file; one that only reads refuses a missing one
    # (tests/test_database_location.py), and no command creates a missing folder.
    url = f"sqlite:///{tmp_path / 'auto.db'}"
    result = cli("load-config", write("programs.yml", PROGRAMS), env={"DATABASE_URL": url})
    assert result.code == 0, result.err
    assert open_database(url).is_current()
    assert cli("report", env={"DATABASE_URL": url}).code == 0


@pytest.mark.skipif(not ON_POSTGRES, reason="needs the PostgreSQL run")
def test_an_out_of_date_server_database_is_refused_with_the_fix(db):
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'old'")
    try:
        with pytest.raises(SchemaOutOfDate, match=r"run `python bot\.py db upgrade`"):
            db.ensure_schema()
    finally:
        with db.engine.begin() as conn:
            conn.execute(
                text("UPDATE alembic_version SET version_num = :head"),
                {"head": db.head_revision()},
            )


def test_passwords_never_appear_in_a_shown_url():
    shown = redact_url("postgresql://learnbot:s3cret@db.internal:5432/learnbot")
    assert "s3cret" not in shown and "db.internal" in shown


def test_upgrading_a_database_with_data_keeps_it(tmp_path):
    # Each migration must work on a database in use, not only an empty one: SQLite
    # refuses to rebuild a table other tables point at (batch mode would try).
    url = f"sqlite:///{tmp_path / 'old.db'}"
    database = open_database(url)
    command.upgrade(alembic_config(database.engine), "0001")
    with database.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO person (id, workspace_id, email, name, role, team, "
                "role_start_date, active, is_admin, created_at, updated_at) VALUES "
                "(1, 'default', 'a@x.io', 'Ann', 'engineer', '', '2026-03-02', 1, 0, "
                "'2026-03-02 09:00:00', '2026-03-02 09:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO item (id, key, title, method, minutes, active) "
                "VALUES (1, 'intro', 'Intro', 'reading', 10, 1)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO assignment (id, person_id, item_id, cycle, required, status, "
                "assigned_at, due_date) VALUES (1, 1, 1, 0, 1, 'open', "
                "'2026-03-02 09:00:00', '2026-03-04')"
            )
        )

    database.upgrade()

    assert database.is_current()
    with database.session() as session:
        ann = session.scalars(select(Person)).one()
        assert ann.email == "a@x.io"
        assert session.scalars(select(Assignment.ladder_step)).one() == 0


def test_upgrading_turns_stored_years_into_calendar_years_and_keeps_award_dates(tmp_path):
    """0010: 365-day multiples (the old parser's ``1y``, ``2y``) become calendar years;
    other day counts stay days; award dates are not touched."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    database = open_database(url)
    command.upgrade(alembic_config(database.engine), "0008")
    with database.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO certification (id, key, title, valid_days, recertify_window_days, "
                "grace_days, active) VALUES (1, 'one-year', 'One year', 365, 30, 14, 1), "
                "(2, 'two-years', 'Two years', 730, 60, 365, 1), "
                "(3, 'ninety-days', 'Ninety days', 90, 14, 0, 1)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO person (id, workspace_id, email, name, role, team, "
                "role_start_date, active, is_admin, created_at, updated_at) VALUES "
                "(1, 'default', 'a@x.io', 'Ann', 'engineer', '', '2026-03-02', 1, 0, "
                "'2026-03-02 09:00:00', '2026-03-02 09:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO certification_award (id, person_id, certification_id, cycle, "
                "awarded_at, expires_at) VALUES "
                "(1, 1, 2, 0, '2026-12-01 12:00:00', '2028-11-30 12:00:00')"
            )
        )

    database.upgrade()

    with database.session() as session:
        periods = session.execute(
            select(
                Certification.key,
                Certification.valid_months,
                Certification.valid_days,
                Certification.recertify_window_months,
                Certification.recertify_window_days,
                Certification.grace_months,
                Certification.grace_days,
            ).order_by(Certification.id)
        ).all()
        award = session.scalars(select(CertificationAward)).one()
    assert [tuple(row) for row in periods] == [
        ("one-year", 12, 0, 0, 30, 0, 14),
        ("two-years", 24, 0, 0, 60, 12, 0),
        ("ninety-days", 0, 90, 0, 14, 0, 0),
    ]
    assert (award.awarded_at, award.expires_at) == (
        datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
        datetime(2028, 11, 30, 12, 0, tzinfo=UTC),
    )
