"""People import: every bad row is reported with its line, and nothing is half-applied."""

import pytest
from sqlalchemy import select

from models import AuditEntry, Person
from tests.conftest import snapshot
from tests.helpers import PEOPLE_HEADER, PROGRAMS, people_csv, slack_id

GOOD = (
    "ceo@x.io,Cleo CEO,,engineer,Leadership,2024-01-08,Europe/London,U0CEO",
    "vp@x.io,Vic VP,ceo@x.io,engineer,Engineering,2025-02-03,America/Los_Angeles,",
    "mgr@x.io,Mia Manager,vp@x.io,sales,Sales,2025-06-02,Asia/Kolkata,",
    "ic@x.io,Ian IC,mgr@x.io,sales,Sales,2026-03-02,Australia/Sydney,U0IC",
)


@pytest.fixture
def loaded(cli, write):
    assert cli("load-config", write("programs.yml", PROGRAMS)).code == 0
    assert cli("import-people", write("people.csv", people_csv(*GOOD))).code == 0


def managers(db) -> dict[str, str | None]:
    with db.session() as session:
        people = list(session.scalars(select(Person)))
    email = {p.id: p.email for p in people}
    return {p.email: email.get(p.manager_id) for p in people}


def test_import_creates_people_with_their_manager_chain(loaded, db, cli):
    assert managers(db) == {
        "ceo@x.io": None,
        "vp@x.io": "ceo@x.io",
        "mgr@x.io": "vp@x.io",
        "ic@x.io": "mgr@x.io",
    }
    with db.session() as session:
        ic = session.scalars(select(Person).where(Person.email == "ic@x.io")).one()
        ic_slack = slack_id(session, ic)
    assert (ic_slack, ic.timezone, ic.team, ic.active) == (
        "U0IC",
        "Australia/Sydney",
        "Sales",
        True,
    )


def test_reimporting_the_same_file_changes_nothing(loaded, db, cli, write):
    before = snapshot(db)
    result = cli("import-people", write("people.csv", people_csv(*GOOD)))
    assert "0 added, 0 updated, 0 reactivated, 0 deactivated, 4 unchanged" in result.out
    assert snapshot(db) == before


def test_emails_match_case_insensitively_and_order_of_columns_is_free(loaded, db, cli, write):
    header = "name,email,role,team,role_start_date,manager_email,timezone,slack_user_id"
    text = header + "\nIan Renamed,IC@X.IO,sales,Sales,2026-03-02,MGR@x.io,Australia/Sydney,\n"
    result = cli("import-people", write("p.csv", text))
    assert result.code == 0, result.err
    assert "0 added, 1 updated" in result.out
    with db.session() as session:
        ic = session.scalars(select(Person).where(Person.email == "ic@x.io")).one()
        entries = list(session.scalars(select(AuditEntry).where(AuditEntry.person_id == ic.id)))
        ic_slack = slack_id(session, ic)
    assert ic.name == "Ian Renamed"
    assert ic_slack == "U0IC"  # an empty cell never erases a known Slack id
    assert entries[-1].details["changed"] == {"name": ["Ian IC", "Ian Renamed"]}


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        (
            "new@x.io,New,boss@x.io,sales,Sales,2026-03-02,,",
            "manager_email",
            "unknown manager boss@x.io",
        ),
        ("not-an-email,New,,sales,Sales,2026-03-02,,", "email", "invalid email 'not-an-email'"),
        (
            "new@x.io,New,,sales,Sales,2026-02-30,,",
            "role_start_date",
            "bad date '2026-02-30': write YYYY-MM-DD",
        ),
        (
            "new@x.io,New,,sales,Sales,02/03/2026,,",
            "role_start_date",
            "bad date '02/03/2026': write YYYY-MM-DD",
        ),
        (
            "new@x.io,New,,astronaut,Sales,2026-03-02,,",
            "role",
            "unknown role 'astronaut' (known roles: engineer, sales)",
        ),
        (
            "new@x.io,New,,sales,Sales,2026-03-02,Europe/Lodnon,",
            "timezone",
            "unknown time zone 'Europe/Lodnon'",
        ),
        (
            "new@x.io,New,new@x.io,sales,Sales,2026-03-02,,",
            "manager_email",
            "a person cannot be their own manager",
        ),
        ("new@x.io,,,sales,Sales,2026-03-02,,", "name", "missing name"),
        ("new@x.io,New,,sales,Sales,2026-03-02,,bob", "slack_user_id", "bad Slack user id 'bob'"),
        ("new@x.io,New,,sales,Sales,2026-03-02,", "", "row has 7 fields, the header has 8"),
    ],
)
def test_each_bad_row_is_reported_with_its_line_and_nothing_is_applied(
    loaded, db, cli, write, row, field, message
):
    before = snapshot(db)
    text = people_csv(*GOOD, "fine@x.io,Fine,ceo@x.io,sales,Sales,2026-03-02,,", row)
    path = write("people.csv", text)
    result = cli("import-people", path)
    assert result.code == 1
    where = f"{path}:7: {field}: " if field else f"{path}:7: "
    assert where + message in result.err
    assert "nothing was applied" in result.err
    assert snapshot(db) == before  # not even the good row was imported


def test_duplicate_email_names_the_first_line(loaded, cli, write):
    path = write("people.csv", people_csv(*GOOD, "ic@x.io,Again,,sales,Sales,2026-03-02,,"))
    result = cli("import-people", path)
    assert f"{path}:6: email: duplicate email ic@x.io (first at line 5)" in result.err


def test_manager_cycle_is_reported_with_the_chain(loaded, db, cli, write):
    before = snapshot(db)
    # The CEO now reports to the IC: ceo -> ic -> mgr -> vp -> ceo.
    rows = (GOOD[0].replace(",,engineer", ",ic@x.io,engineer"), *GOOD[1:])
    path = write("people.csv", people_csv(*rows))
    result = cli("import-people", path)
    assert result.code == 1
    assert "manager_email: manager cycle: " in result.err
    assert "ceo@x.io -> ic@x.io -> mgr@x.io -> vp@x.io -> ceo@x.io" in result.err
    assert snapshot(db) == before


def test_many_mistakes_are_all_reported_at_once(loaded, cli, write):
    path = write(
        "people.csv",
        people_csv(
            "a@x.io,A,,pilot,T,2026-03-02,,",
            "b@x.io,B,,sales,T,yesterday,Nowhere/City,",
            "bad,C,,sales,T,2026-03-02,,",
        ),
    )
    result = cli("import-people", path)
    assert "4 problems found, nothing was applied" in result.err
    for where in (
        f"{path}:2: role",
        f"{path}:3: role_start_date",
        f"{path}:3: timezone",
        f"{path}:4: email",
    ):
        assert where in result.err


def test_missing_and_unknown_columns_are_refused(loaded, db, cli, write):
    before = snapshot(db)
    text = "email,name,role,team,role_start_date,timezone,slack_user_id,shoe_size\n"
    path = write("people.csv", text + "a@x.io,A,sales,T,2026-03-02,,,42\n")
    result = cli("import-people", path)
    assert result.code == 1
    assert f"{path}:1: manager_email: missing required column 'manager_email'" in result.err
    assert f"{path}:1: shoe_size: unknown column 'shoe_size'; allowed: email, name" in result.err
    assert snapshot(db) == before


def test_empty_file_is_refused(loaded, cli, write):
    result = cli("import-people", write("people.csv", ""))
    assert result.code == 1
    assert "the file is empty: a header row is required" in result.err


def test_people_cannot_be_imported_before_the_curriculum(cli, write):
    result = cli("import-people", write("people.csv", people_csv(GOOD[0])))
    assert result.code == 1
    assert "no programs are loaded yet: run `python bot.py load-config FILE` first" in result.err


def test_absent_people_are_deactivated_only_when_asked(loaded, db, cli, write):
    path = write("people.csv", people_csv(*GOOD[:3]))
    assert "0 deactivated" in cli("import-people", path).out
    result = cli("import-people", path, "--deactivate-missing")
    assert "1 deactivated" in result.out
    with db.session() as session:
        ic = session.scalars(select(Person).where(Person.email == "ic@x.io")).one()
        assert ic.active is False  # kept, never deleted
    # Back in the file: reactivated.
    result = cli("import-people", write("all.csv", people_csv(*GOOD)))
    assert "1 reactivated" in result.out


def test_deactivating_someone_who_still_manages_people_is_refused(loaded, cli, write):
    path = write("people.csv", people_csv(*GOOD[:2], GOOD[3]))  # mgr@x.io missing
    result = cli("import-people", path, "--deactivate-missing")
    assert result.code == 1
    assert "manager mgr@x.io is not in this file and --deactivate-missing would" in result.err


def test_dry_run_reports_changes_and_applies_nothing(loaded, db, cli, write):
    before = snapshot(db)
    path = write("people.csv", people_csv(*GOOD, "new@x.io,New,mgr@x.io,sales,Sales,2026-03-02,,"))
    result = cli("import-people", path, "--dry-run")
    assert result.code == 0
    assert "1 added" in result.out and "dry run: nothing was applied" in result.out
    assert snapshot(db) == before


def test_a_manager_may_be_someone_imported_earlier(loaded, db, cli, write):
    result = cli(
        "import-people",
        write("more.csv", people_csv("new@x.io,New,mgr@x.io,sales,Sales,2026-03-02,,")),
    )
    assert result.code == 0, result.err
    assert managers(db)["new@x.io"] == "mgr@x.io"


def test_header_only_file_imports_nobody(loaded, cli, write):
    result = cli("import-people", write("people.csv", PEOPLE_HEADER + "\n"))
    assert result.code == 0
    assert "0 added" in result.out


def test_roles_match_the_programs_whatever_their_case(loaded, db, cli, write):
    before = snapshot(db)
    rows = [
        GOOD[0].replace(",engineer,", ",Engineer,"),
        GOOD[1],
        GOOD[2].replace(",sales,", ",SALES,"),
    ]
    result = cli("import-people", write("people.csv", people_csv(*rows, GOOD[3])))
    assert result.code == 0, result.err
    assert "0 added, 0 updated" in result.out  # "Engineer" is the role they already have
    assert snapshot(db) == before
    new = cli("import-people", write("new.csv", people_csv("new@x.io,New,,Sales,T,2026-03-02,,")))
    assert new.code == 0, new.err
    with db.session() as session:
        assert session.scalars(select(Person.role).where(Person.email == "new@x.io")).one() == (
            "sales"
        )


def test_an_unknown_role_suggests_the_closest_and_lists_them_all(loaded, cli, write):
    path = write("people.csv", people_csv("new@x.io,New,,enginer,T,2026-03-02,Europe/Londn,"))
    result = cli("import-people", path)
    assert result.code == 1
    assert (
        f"{path}:2: role: unknown role 'enginer' "
        "(did you mean 'engineer'? known roles: engineer, sales)"
    ) in result.err
    assert (
        f"{path}:2: timezone: unknown time zone 'Europe/Londn': did you mean 'Europe/London'?"
    ) in result.err


def test_a_mistyped_column_gets_a_suggestion(loaded, cli, write):
    text = PEOPLE_HEADER.replace("timezone", "timzone") + "\n"
    path = write("people.csv", text + "a@x.io,A,,sales,T,2026-03-02,,\n")
    result = cli("import-people", path)
    assert result.code == 1
    assert f"{path}:1: timzone: unknown column 'timzone' (did you mean 'timezone'?); " in (
        result.err
    )
