"""docs/deploy.md's process layouts: the sender loop, the role options, and both layouts
started for real by ``scripts/deploy_layout.py``."""

from __future__ import annotations

import io
import re
import shlex
import subprocess
import sys
import threading
from datetime import datetime, timedelta

import pytest

from bot import SLICE_SECONDS, drain_until_stopped
from delivery.sender import DrainResult, Sender
from tests.conftest import ON_POSTGRES, ROOT
from tests.fakes.slack_api import FakeSlack
from tests.outbox_support import dms, make_sender, put, rows

SCRIPT = ROOT / "scripts" / "deploy_layout.py"


class Stopping:
    """A sender that asks the loop to stop after ``calls`` drains (or raises once first)."""

    def __init__(self, sender: Sender | None, stop: threading.Event, *, calls: int) -> None:
        self.sender = sender
        self.stop = stop
        self.calls = calls
        self.deadlines: list[datetime | None] = []
        self.fail_first = False

    def drain(self, *, until: datetime | None = None) -> DrainResult:
        self.deadlines.append(until)
        if len(self.deadlines) >= self.calls:
            self.stop.set()
        if self.fail_first and len(self.deadlines) == 1:
            raise ConnectionError("database went away")
        return self.sender.drain(until=until) if self.sender else DrainResult()


def test_the_sender_loop_sends_what_is_due_in_slices_until_stopped(db, clock):
    stop = threading.Event()
    with FakeSlack() as fake:
        put(db, dms(3, at=clock.now()), now=clock.now())
        sender = Stopping(make_sender(db, fake, clock), stop, calls=2)
        code = drain_until_stopped(
            sender,  # type: ignore[arg-type]
            clock=clock,
            stop=stop,
            idle_seconds=60,
            out=io.StringIO(),
        )
        assert len(fake.delivered()) == 3
    assert code == 0
    assert {row.status for row in rows(db).values()} == {"sent"}
    # The first pass sent, so the loop went round at once for the second (idle) one.
    assert len(sender.deadlines) == 2
    assert sender.deadlines[0] is not None
    assert sender.deadlines[0] - clock.now() <= timedelta(seconds=SLICE_SECONDS)


def test_a_failed_pass_is_logged_and_the_loop_goes_on(clock, caplog):
    stop = threading.Event()
    sender = Stopping(None, stop, calls=1)  # asks to stop, then fails: the wait ends at once
    sender.fail_first = True
    code = drain_until_stopped(
        sender,  # type: ignore[arg-type]
        clock=clock,
        stop=stop,
        idle_seconds=60,
        out=io.StringIO(),
    )
    assert code == 0 and len(sender.deadlines) == 1
    assert "drain failed; trying again in 60s" in caplog.text
    assert "ConnectionError: database went away" in caplog.text


def test_the_sender_loop_exits_1_when_slack_refuses_the_token(db, clock):
    stop = threading.Event()
    out = io.StringIO()
    with FakeSlack(require_token="xoxb-right") as fake:
        put(db, dms(2, at=clock.now()), now=clock.now())
        code = drain_until_stopped(
            make_sender(db, fake, clock, token="xoxb-wrong"),
            clock=clock,
            stop=stop,
            idle_seconds=60,
            out=out,
        )
    assert code == 1
    assert "invalid_auth" in out.getvalue() and "stay pending" in out.getvalue()
    assert {row.status for row in rows(db).values()} == {"pending"}


def test_drain_loop_refuses_max_and_at(cli):
    for args in (
        ["drain", "--loop", "--max", "3"],
        ["--at", "2026-03-02T09:00:00Z", "drain", "--loop"],
    ):
        result = cli(*args)
        assert result.code == 1 and "leave out --max and --at" in result.err


def test_run_is_a_web_process_or_a_scheduler_not_neither(cli):
    with pytest.raises(SystemExit) as exit_:
        cli("run", "--no-scheduler", "--no-listener")
    assert exit_.value.code == 2


def test_the_systemd_unit_runs_bot_commands_that_exist_from_learnbot_home():
    """docs/deploy/learnbot.service: every command it starts is a real `bot.py` command
    line, and the service's home is the state directory it may write to."""
    from bot import build_parser

    unit = (ROOT / "docs" / "deploy" / "learnbot.service").read_text(encoding="utf-8")
    settings = [line.split("=", 1) for line in unit.splitlines() if re.match(r"^\w+=", line)]
    commands = [value for key, value in settings if key in ("ExecStart", "ExecStartPre")]
    assert [command.split("bot.py ", 1)[1] for command in commands] == ["db upgrade", "run"]
    for command in commands:
        build_parser().parse_args(shlex.split(command.split("bot.py ", 1)[1]))
    values = dict(settings[::-1])  # the first of each key
    assert values["Environment"] == "LEARNBOT_HOME=/var/lib/learnbot"
    assert values["StateDirectory"] == "learnbot" and values["ProtectSystem"] == "strict"
    assert values["KillSignal"] == "SIGTERM"


def _run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.skipif(ON_POSTGRES, reason="runs once, in the SQLite pass: it uses its own file")
def test_the_single_process_sqlite_layout_starts_serves_sends_and_stops():
    done = _run_script("--layout", "single")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "single layout: all checks passed" in done.stdout


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.skipif(
    not ON_POSTGRES,
    reason="needs PostgreSQL: set DATABASE_URL (.ci/run's PostgreSQL pass does)",
)
def test_the_postgresql_layout_of_web_scheduler_and_senders_works_together():
    done = _run_script("--layout", "scaled")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "scaled layout: all checks passed" in out
    for name in ("web1", "web2", "scheduler", "sender1", "sender2"):
        assert f"{name}: stopped cleanly on SIGTERM" in out
    assert "planning: skipped, another process holds the scheduler lock" in out
