"""Command-line habits: global options on either side of the command, and a result said
once (issue 19, "CLI habits")."""

from __future__ import annotations

import io
import shutil

import pytest

import bot
from settings import Settings
from tests.helpers import PROGRAMS, people_csv

PEOPLE = (
    "lee@x.io,Lee,,engineer,Web,2026-03-02,Europe/London,U0LDN",
    "sid@x.io,Sid,lee@x.io,sales,Sales,2026-03-02,Australia/Sydney,U0SYD",
)
AT = "2026-03-03T09:35:00Z"  # Lee's send time in London


def test_global_options_before_or_after_the_command_do_the_same(
    _sqlite_template, tmp_path, write, clock
):
    programs = write("programs.yml", PROGRAMS)
    people = write("people.csv", people_csv(*PEOPLE))
    before = [
        ["--actor", "hr@x.io", "load-config", programs],
        ["--actor", "hr@x.io", "import-people", people],
        ["--at", AT, "sweep", "--plan-only"],
        ["--at", AT, "outbox"],
        ["--at", AT, "audit"],
    ]
    after = [
        ["load-config", programs, "--actor", "hr@x.io"],
        ["import-people", "--actor", "hr@x.io", people],
        ["sweep", "--plan-only", "--at", AT],
        ["outbox", "--at", AT],
        ["audit", "--at", AT],
    ]
    outputs = []
    for name, commands in (("before", before), ("after", after)):
        # Each form on its own fresh database (SQLite files, also in a PostgreSQL run).
        path = tmp_path / f"{name}.db"
        shutil.copy(_sqlite_template, path)
        said = []
        for argv in commands:
            out, err = io.StringIO(), io.StringIO()
            code = bot.main(
                argv, env={"DATABASE_URL": f"sqlite:///{path}"}, clock=clock, out=out, err=err
            )
            assert code == 0, (argv, err.getvalue())
            said.append(out.getvalue())
        outputs.append(said)

    assert outputs[0] == outputs[1]
    sweep, audit = outputs[0][2], outputs[0][4]
    assert "sweep as of 2026-03-03 09:35:00 UTC" in sweep and "1 digests planned" in sweep
    assert "hr@x.io" in audit and " cli " not in audit  # --actor was honoured both ways


def test_global_options_parse_the_same_on_either_side():
    parser = bot.build_parser()
    first = parser.parse_args(["--at", AT, "--actor", "ops", "-v", "report", "--csv"])
    second = parser.parse_args(["report", "--csv", "--at", AT, "--actor", "ops", "--verbose"])
    assert vars(first) == vars(second)
    plain = parser.parse_args(["report"])
    assert (plain.at, plain.actor, plain.verbose) == (None, "cli", False)


def test_a_command_prints_its_result_once_and_logs_only_when_asked(cli, write):
    loaded = cli("load-config", write("programs.yml", PROGRAMS))
    people = cli("import-people", write("people.csv", people_csv(*PEOPLE)))
    sweep = cli("--at", AT, "sweep", "--plan-only")

    for result in (loaded, people, sweep):
        assert result.code == 0 and result.out
        assert result.err == ""  # the result is on stdout, not logged again on stderr
    assert "planning: 1 digests planned" in sweep.out

    for asked in (
        cli("sweep", "--plan-only", "--verbose"),
        cli("sweep", "--plan-only", env={"LEARNBOT_LOG_LEVEL": "INFO"}),
    ):
        assert asked.code == 0
        assert " INFO schedules.enrollment: enrollment: " in asked.err


@pytest.mark.parametrize(
    ("argv", "env", "level"),
    [
        (["run"], {}, "INFO"),  # services log what they do
        (["drain", "--loop"], {}, "INFO"),
        (["drain"], {}, "WARNING"),
        (["sweep"], {}, "WARNING"),
        (["report", "--verbose"], {}, "INFO"),
        (["report"], {"LEARNBOT_LOG_LEVEL": "error"}, "ERROR"),
        (["report", "-v"], {"LEARNBOT_LOG_LEVEL": "DEBUG"}, "DEBUG"),
        (["run"], {"LEARNBOT_LOG_LEVEL": "WARNING"}, "WARNING"),
    ],
)
def test_the_log_level_of_each_kind_of_command(argv, env, level):
    args = bot.build_parser().parse_args(argv)
    assert bot._log_level(Settings.from_env(env), args) == level
