"""Where the database is, and no silent databases: a command that only reads never creates
one, and a wrong DATABASE_URL is one clear line (issue 19, "No silent databases")."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import bot
from settings import CHECKOUT, Settings

READ_COMMANDS = (
    ("status", "ada@x.io"),
    ("report",),
    ("report", "--csv"),
    ("certs",),
    ("certs", "--expiring", "30"),
    ("audit",),
    ("outbox",),
    ("outbox", "--status", "failed"),
    ("workspace",),
    ("workspace", "status"),
    ("db", "current"),
)
SUPPORTED = "learnbot supports sqlite:///PATH"


def run(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """``bot.py ARGS`` in this process with exactly ``env`` (no .env, no DATABASE_URL of
    the test run)."""
    out, err = io.StringIO(), io.StringIO()
    code = bot.main(list(args), env=env, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def files_under(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current directory that is not LEARNBOT_HOME."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
def test_a_read_command_on_a_missing_database_says_so_and_creates_nothing(
    command, tmp_path, elsewhere
):
    home = tmp_path / "home"
    home.mkdir()
    code, out, err = run(*command, env={"LEARNBOT_HOME": str(home)})

    assert code == 1 and out == ""
    [line] = err.splitlines()
    assert line == (
        f"error: no database at {home / 'learnbot.db'} (the default: learnbot.db in "
        "LEARNBOT_HOME): create it with `python bot.py load-config FILE` (or `python bot.py "
        "db upgrade`), or try the example company with `python bot.py demo`"
    )
    assert files_under(home) == [] and files_under(elsewhere) == []


@pytest.mark.parametrize("command", [("report",), ("status", "ada@x.io"), ("db", "current")])
def test_a_missing_file_named_by_database_url_is_not_created_nor_its_folder(
    command, tmp_path, elsewhere
):
    url = f"sqlite:///{tmp_path / 'typo' / 'learnbot.db'}"
    code, _, err = run(*command, env={"DATABASE_URL": url})

    assert code == 1
    [line] = err.splitlines()
    assert f"no database at {tmp_path / 'typo' / 'learnbot.db'} (from DATABASE_URL)" in line
    assert not (tmp_path / "typo").exists() and files_under(elsewhere) == []


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("notaurl", "DATABASE_URL 'notaurl' is not a database URL: "),
        # Mistyped, with a password in it: not echoed.
        ("postgresql//learnbot:s3cret-pw@db/learnbot", "DATABASE_URL is not a database URL: "),
        ("mysql://learnbot:s3cret-pw@db.example.com/learnbot", "DATABASE_URL uses 'mysql', "),
        ("postgresql+asyncpg://db/learnbot", "DATABASE_URL uses 'postgresql+asyncpg', "),
        ("oracle://scott:tiger@db/orcl", "DATABASE_URL uses 'oracle', "),
    ],
)
@pytest.mark.parametrize("command", [("report",), ("audit",), ("load-config", "x.yml")])
def test_a_bad_or_unsupported_database_url_is_one_line_naming_what_is_supported(
    url, said, command, elsewhere
):
    code, out, err = run(*command, env={"DATABASE_URL": url})

    assert code == 1 and out == ""
    [line] = err.splitlines()
    assert line.startswith("error: " + said)
    assert SUPPORTED in line and "postgresql://USER@HOST/DATABASE" in line
    assert "s3cret-pw" not in line and "Traceback" not in err
    assert files_under(elsewhere) == []


def test_a_database_in_a_folder_that_does_not_exist_is_refused_without_creating_it(elsewhere):
    missing = Path("/nonexistent-dir-of-learnbot") / "x.db"
    url = f"sqlite:///{missing}"
    for command in (("report",), ("db", "current")):
        code, _, err = run(*command, env={"DATABASE_URL": url})
        assert code == 1
        assert err.splitlines() == [
            f"error: no database at {missing} (from DATABASE_URL): create it with "
            "`python bot.py load-config FILE` (or `python bot.py db upgrade`), or try the "
            "example company with `python bot.py demo`"
        ]
    for command in (("db", "upgrade"), ("demo",), ("enroll",)):
        code, _, err = run(*command, env={"DATABASE_URL": url})
        assert code == 1, command
        assert err.splitlines() == [
            f"error: the folder of the database {missing} does not exist: create it, or point "
            "DATABASE_URL (or LEARNBOT_HOME) at one that does"
        ]
    assert not missing.parent.exists() and files_under(elsewhere) == []


def test_a_relative_sqlite_path_is_under_learnbot_home_wherever_the_command_runs(
    tmp_path, monkeypatch, write
):
    from tests.helpers import PROGRAMS

    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    env = {"LEARNBOT_HOME": str(home), "DATABASE_URL": "sqlite:///data/learnbot.db"}
    programs = write("programs.yml", PROGRAMS)
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
    monkeypatch.chdir(tmp_path / "one")
    code, _, err = run("load-config", programs, env=env)
    assert code == 0, err
    monkeypatch.chdir(tmp_path / "two")  # cron, another shell: the same database
    code, out, err = run("db", "current", env=env)
    assert code == 0, err
    assert f"database sqlite:///{home / 'data' / 'learnbot.db'}: revision" in out
    assert (home / "data" / "learnbot.db").exists()
    assert files_under(tmp_path / "one") == files_under(tmp_path / "two") == []


def test_learnbot_home_defaults_to_the_checkout_not_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    assert settings.home == CHECKOUT == Path(bot.__file__).resolve().parent
    assert settings.database_url == f"sqlite:///{CHECKOUT / 'learnbot.db'}"
    assert Settings.from_env({"DATABASE_URL": "sqlite:////srv/x.db"}).database_url == (
        "sqlite:////srv/x.db"
    )
    # PostgreSQL URLs are kept as written, the usual spellings included.
    for url in ("postgresql://u:p@h/db", "postgres://u@h/db", "postgresql+psycopg://h/db"):
        assert Settings.from_env({"DATABASE_URL": url}).database_url == url


def test_demo_reset_is_refused_on_postgresql_before_connecting(elsewhere):
    url = "postgresql://learnbot:s3cret-pw@127.0.0.1:1/learnbot"  # nothing listens there
    code, out, err = run("demo", "--reset", env={"DATABASE_URL": url})

    assert code == 1 and out == ""
    [line] = err.splitlines()
    assert line.startswith("error: demo --reset empties the database, so it only works on SQLite")
    assert "s3cret-pw" not in line


def test_demo_refuses_a_database_that_holds_data_and_says_what(cli, write):
    from tests.helpers import PROGRAMS

    assert cli("load-config", write("programs.yml", PROGRAMS)).code == 0

    result = cli("demo")

    assert result.code == 1 and result.out == ""
    assert "already holds 2 programs" in result.err
    assert "`python bot.py demo --reset` deletes all of it first" in result.err
    assert "audit entries" in result.err
