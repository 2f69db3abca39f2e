"""A truncated HR file must not deactivate the company (issue 14, item 4).

``import-people --deactivate-missing`` refuses, naming whom it would switch off, when it
would deactivate more than 10% of active people or 5, whichever is larger, unless
``--max-deactivate N`` allows it; a file with no rows is always refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import AuditEntry, Person
from tests.conftest import snapshot

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
LINES = (EXAMPLES / "people.csv").read_text(encoding="utf-8").splitlines(keepends=True)
HEADER, ROWS = LINES[0], LINES[1:]


@pytest.fixture
def company(cli, db):
    """The example company: 61 people, all active."""
    assert cli("load-config", str(EXAMPLES / "programs.yml")).code == 0
    assert cli("import-people", str(EXAMPLES / "people.csv")).code == 0
    assert active(db) == len(ROWS) == 61


def active(db) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).where(Person.active))


def people_file(tmp_path: Path, rows: list[str], name: str = "hr.csv") -> str:
    path = tmp_path / name
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return str(path)


def test_a_header_only_file_is_refused_and_nothing_is_applied(company, cli, db, tmp_path):
    path = people_file(tmp_path, [])
    before = snapshot(db)

    for extra in ([], ["--max-deactivate", "1000"], ["--dry-run"]):
        result = cli("import-people", path, "--deactivate-missing", *extra)

        assert result.code == 1, result.out
        assert "nothing was applied" in result.err
        assert (
            f"{path}: --deactivate-missing: the file lists nobody: "
            "it would deactivate all 61 active people"
        ) in result.err
    assert snapshot(db) == before


def test_three_of_61_rows_are_refused_naming_the_people_and_nothing_is_applied(
    company, cli, db, tmp_path
):
    path = people_file(tmp_path, ROWS[:3])  # the CEO and the first two of her chain
    before = snapshot(db)

    result = cli("import-people", path, "--deactivate-missing")

    assert result.code == 1
    assert (
        "--deactivate-missing: would deactivate 58 of 61 active people, more than the 6 "
        "allowed (10% of active people or 5, whichever is larger)"
    ) in result.err
    assert "and 48 more" in result.err  # ten names shown
    assert "run again with --max-deactivate 58" in result.err
    assert snapshot(db) == before
    assert active(db) == 61


def test_max_deactivate_allows_what_the_admin_expects_and_no_more(company, cli, db, tmp_path):
    path = people_file(tmp_path, ROWS[:3])
    before = snapshot(db)

    too_few = cli("import-people", path, "--deactivate-missing", "--max-deactivate", "57")
    assert too_few.code == 1
    assert "more than the 57 allowed (--max-deactivate 57)" in too_few.err
    assert snapshot(db) == before

    allowed = cli("import-people", path, "--deactivate-missing", "--max-deactivate", "58")

    assert allowed.code == 0, allowed.err
    assert "58 deactivated" in allowed.out
    assert active(db) == 3
    with db.session() as session:
        logged = session.scalar(
            select(func.count()).where(AuditEntry.action == "person.deactivate")
        )
    assert logged == 58


def test_dry_run_shows_the_count_and_the_first_names(company, cli, db, tmp_path):
    path = people_file(tmp_path, ROWS[:-8])  # 8 left out: more than 6
    before = snapshot(db)
    left_out = sorted((row.split(",")[1] for row in ROWS[-8:]), key=str.lower)

    refused = cli("import-people", path, "--deactivate-missing", "--dry-run")
    assert refused.code == 1
    assert "would deactivate 8 of 61 active people" in refused.err
    assert all(name in refused.err for name in left_out)

    shown = cli("import-people", path, "--deactivate-missing", "--max-deactivate", "8", "--dry-run")

    assert shown.code == 0, shown.err
    assert "8 deactivated" in shown.out
    [line] = [line for line in shown.out.splitlines() if line.startswith("deactivated (")]
    assert line.startswith(f"deactivated (not in the file): {left_out[0]} <")
    assert all(name in line for name in left_out)
    assert snapshot(db) == before


def test_up_to_ten_percent_goes_through_without_a_flag(company, cli, db, tmp_path):
    # 61 active: 10% is 6.1, so 6 may go and 7 may not.
    assert cli("import-people", people_file(tmp_path, ROWS[:-7]), "--deactivate-missing").code == 1
    result = cli("import-people", people_file(tmp_path, ROWS[:-6]), "--deactivate-missing")

    assert result.code == 0, result.err
    assert "6 deactivated" in result.out
    assert active(db) == 55


def test_a_small_company_may_lose_five_people_at_once(cli, db, tmp_path):
    assert cli("load-config", str(EXAMPLES / "programs.yml")).code == 0
    team = ROWS[:9]  # a CEO, a VP, a manager and her six reports
    assert cli("import-people", people_file(tmp_path, team, "team.csv")).code == 0
    six_fewer = people_file(tmp_path, team[:-6], "six-fewer.csv")
    assert cli("import-people", six_fewer, "--deactivate-missing").code == 1

    # Five of nine: far more than 10%, but no more than 5.
    result = cli(
        "import-people", people_file(tmp_path, team[:-5], "less.csv"), "--deactivate-missing"
    )

    assert result.code == 0, result.err
    assert "5 deactivated" in result.out
    assert active(db) == 4


def test_max_deactivate_needs_deactivate_missing(company, cli, tmp_path):
    result = cli("import-people", people_file(tmp_path, ROWS), "--max-deactivate", "3")

    assert result.code == 1
    assert "--max-deactivate only applies with --deactivate-missing" in result.err
