"""The command line as a person uses it."""

import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from settings import Settings, SettingsError
from tests.conftest import ROOT, snapshot
from tests.helpers import PROGRAMS


def test_load_config_dry_run_reports_and_applies_nothing(cli, write, db):
    before = snapshot(db)
    result = cli("load-config", write("programs.yml", PROGRAMS), "--dry-run")
    assert result.code == 0
    assert "items: 6 added" in result.out
    assert "programs: 2 added (engineer, sales)" in result.out
    assert result.out.rstrip().endswith("dry run: nothing was applied")
    assert snapshot(db) == before


def test_loading_the_same_curriculum_twice_changes_nothing(cli, write, db):
    path = write("programs.yml", PROGRAMS)
    assert cli("load-config", path).code == 0
    before = snapshot(db)
    result = cli("load-config", path)
    assert result.out.rstrip().endswith("nothing to change")
    assert snapshot(db) == before


def test_bad_yaml_exits_1_names_the_line_and_applies_nothing(cli, write, db):
    assert cli("load-config", write("programs.yml", PROGRAMS)).code == 0
    before = snapshot(db)
    broken = PROGRAMS.replace("minutes: 240", "minutes: lots").replace(
        "title: Selling 101", "title: Selling 102"
    )
    path = write("broken.yml", broken)
    result = cli("load-config", path)
    assert result.code == 1
    assert f"{path}:" in result.err and "items.shadow.minutes" in result.err
    assert snapshot(db) == before  # the valid title change was not applied either


def test_bad_instant_is_a_usage_error(cli):
    result = cli("--at", "next tuesday", "report")
    assert result.code == 1
    assert "'next tuesday' is not an ISO-8601 instant" in result.err


def test_missing_slack_token_names_the_variable_and_the_way_out():
    settings = Settings.from_env({"SLACK_SIGNING_SECRET": "abc"})
    try:
        settings.require_slack()
    except SettingsError as error:
        assert "SLACK_BOT_TOKEN is not set" in str(error)
        assert "python bot.py demo" in str(error)
    else:
        raise AssertionError("a missing token must be refused")


def test_malformed_numbers_in_settings_are_named():
    try:
        Settings.from_env({"PORT": "eighty"})
    except SettingsError as error:
        assert str(error) == "PORT must be a whole number, got 'eighty'"
    else:
        raise AssertionError("a bad PORT must be refused")


def test_the_working_on_it_budget_is_a_setting_below_slacks_three_seconds():
    assert Settings.from_env({}).ack_budget_seconds == 2.0
    assert Settings.from_env({"LEARNBOT_ACK_BUDGET_SECONDS": "0.5"}).ack_budget_seconds == 0.5
    with pytest.raises(SettingsError, match="LEARNBOT_ACK_BUDGET_SECONDS must be"):
        Settings.from_env({"LEARNBOT_ACK_BUDGET_SECONDS": "soon"})
    with pytest.raises(SettingsError, match="under 3"):
        Settings.from_env({"LEARNBOT_ACK_BUDGET_SECONDS": "3"})


def test_the_web_server_limits_are_settings_with_sane_defaults():
    defaults = Settings.from_env({})
    assert (defaults.host, defaults.port) == ("0.0.0.0", 3000)
    assert defaults.http_max_body_bytes == 1_000_000
    assert defaults.http_max_requests == 100
    assert defaults.http_header_timeout_seconds == 10.0
    chosen = Settings.from_env(
        {
            "LEARNBOT_HOST": "127.0.0.1",
            "LEARNBOT_HTTP_MAX_BODY_BYTES": "65536",
            "LEARNBOT_HTTP_MAX_REQUESTS": "20",
            "LEARNBOT_HTTP_THREADS": "4",
            "LEARNBOT_HTTP_HEADER_TIMEOUT_SECONDS": "2.5",
            "LEARNBOT_HTTP_BODY_TIMEOUT_SECONDS": "3",
            "LEARNBOT_HTTP_KEEPALIVE_SECONDS": "1",
        }
    )
    assert (chosen.host, chosen.http_max_body_bytes, chosen.http_max_requests) == (
        "127.0.0.1",
        65536,
        20,
    )
    assert (chosen.http_threads, chosen.http_header_timeout_seconds) == (4, 2.5)
    assert (chosen.http_body_timeout_seconds, chosen.http_keepalive_seconds) == (3.0, 1.0)
    with pytest.raises(SettingsError, match="LEARNBOT_HTTP_MAX_BODY_BYTES must be at least 1"):
        Settings.from_env({"LEARNBOT_HTTP_MAX_BODY_BYTES": "0"})
    with pytest.raises(SettingsError, match="LEARNBOT_HTTP_THREADS must be a whole number"):
        Settings.from_env({"LEARNBOT_HTTP_THREADS": "many"})
    with pytest.raises(SettingsError, match="LEARNBOT_HTTP_BODY_TIMEOUT_SECONDS must be more"):
        Settings.from_env({"LEARNBOT_HTTP_BODY_TIMEOUT_SECONDS": "0"})


def test_secrets_are_not_in_the_settings_repr():
    settings = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-secret-1", "SLACK_SIGNING_SECRET": "s2"})
    assert "xoxb-secret-1" not in repr(settings) and "s2" not in repr(settings)


def test_demo_loads_the_examples_and_prints_a_real_report(tmp_path):
    """`bot.py demo`, in a real process: the example company and its report."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}"}
    run = subprocess.run(
        [sys.executable, "bot.py", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "people: 61 added" in out
    assert "completions:" in out and "recorded" in out
    report = out[out.index("== report") :]
    by_role = report[report.index("By role") :].splitlines()
    roles = {line.split()[0] for line in by_role[2:5]}
    assert roles == {"engineer", "sales", "support"}
    assert all(line.strip().endswith("%") for line in by_role[2:5])
    # Certifications are dated from the work (months ago), so they are recorded silently.
    assert "recorded silently: old completions" in out
    certs = subprocess.run(
        [sys.executable, "bot.py", "--at", "2026-12-01T12:00:00Z", "certs"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    ).stdout
    # Arjun passed the security quiz on 4 Jun 2026: a year from that day, not from the demo.
    [arjun] = [line for line in certs.splitlines() if "arjun.reddy" in line and "Security" in line]
    assert "Thu 4 Jun 2026" in arjun and "valid until Fri 4 Jun 2027" in arjun
    assert "Wed 1 Dec 2027" not in certs
    # Running it again refuses (it would mix into what is there) and says what it holds;
    # --reset empties the database and loads the same company again.
    demo = [sys.executable, "bot.py", "demo"]
    again = subprocess.run(
        demo, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert again.returncode == 1 and again.stdout == ""
    assert "already holds 61 people, 3 programs" in again.stderr
    assert "python bot.py demo --reset" in again.stderr
    reset = subprocess.run(
        [*demo, "--reset"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert reset.returncode == 0, reset.stderr
    assert "--reset: deleted 61 people, 3 programs" in reset.stdout
    assert "people: 61 added" in reset.stdout
    assert reset.stdout[reset.stdout.index("== report") :] == report


def test_workspace_status_and_resume_after_an_uninstall(cli, db, clock):
    from learning import members
    from models.tables import AuditEntry

    assert "no workspaces yet" in cli("workspace").out
    with db.session() as session:
        members.stop_sending(
            session, workspace_id="T1", reason="app_uninstalled", clock=clock, actor="slack"
        )

    status = cli("workspace", "status")
    assert status.code == 0
    assert "T1: STOPPED since 2026-03-02 09:00 UTC (app_uninstalled)" in status.out

    resumed = cli("--actor", "ops@x.io", "workspace", "resume")  # the only stopped one
    assert resumed.code == 0
    assert "T1: sending resumed" in resumed.out
    assert "T1: sending; 0 pending messages" in cli("workspace").out
    with db.session() as session:
        assert not members.sending_stopped(session, "T1")
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "workspace.resume_sending")
        ).all()
        assert [(e.actor, e.subject) for e in entries] == [("ops@x.io", "T1")]
    again = cli("workspace", "resume", "T1")
    assert again.code == 0 and "was not stopped; nothing to do" in again.out


def test_workspace_resume_asks_which_when_several_are_stopped(cli, db, clock):
    from learning import members

    with db.session() as session:
        for team in ("T1", "T2"):
            members.stop_sending(session, workspace_id=team, reason="x", clock=clock, actor="t")

    result = cli("workspace", "resume")

    assert result.code == 1
    assert "name the workspace to resume (stopped: T1, T2)" in result.out
    with db.session() as session:
        assert members.sending_stopped(session, "T1") and members.sending_stopped(session, "T2")
