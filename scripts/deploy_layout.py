#!/usr/bin/env python3
"""Start a docs/deploy.md process layout on this machine, check it, and stop it.

    .venv/bin/python scripts/deploy_layout.py                 # scaled: PostgreSQL
    .venv/bin/python scripts/deploy_layout.py --layout single # one process, SQLite

``scaled`` is the large layout: 2 web processes (``run --no-scheduler``), 1 scheduler
(``run --no-listener``) and 2 senders (``drain --loop``) sharing one PostgreSQL database.
It uses the server of ``DATABASE_URL`` when that is a PostgreSQL URL (in a scratch
database it creates and drops, owned by a scratch role with a password), else starts a
throwaway cluster with ``.ci/pg.sh``. ``single`` is the small layout: one ``run`` process
on a SQLite file.

Slack is the fake Web API of the tests (``tests/fakes/slack_api.py``), served from this
script on 127.0.0.1. The checks: every process answers ``/health`` and ``/metrics`` (a
valid Prometheus exposition), each web process answers a signed ``/slack/events`` request
and refuses a forged one, messages put in the outbox are delivered exactly once by the
senders (their ``learnbot_messages_sent_total`` add up to it), ``bot.py sweep`` run as
cron would run it leaves planning to the scheduler, every process stops cleanly on
SIGTERM, and every log line is one JSON object that names no secret.

Exit status 0 when every check passed, 1 when one failed, 2 when PostgreSQL is missing.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from delivery import metrics  # noqa: E402
from delivery.outbox import NewMessage, enqueue  # noqa: E402
from models.db import open_database  # noqa: E402
from platforms.slack.transport import metadata_key  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402

SEEDED = 24


class CheckFailed(Exception):
    """A check of the layout failed; the message says which and why."""


class NoPostgres(Exception):
    """No PostgreSQL server to run the scaled layout on."""


@dataclass
class Process:
    """One learnbot process of the layout: its port, its log (stderr) and its stdout."""

    name: str
    args: list[str]
    port: int
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    _files: list[IO[bytes]] = field(default_factory=list, repr=False)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, env: dict[str, str]) -> None:
        self._files = [open(path, "wb") for path in (self.out_path, self.log_path)]  # noqa: SIM115
        self.popen = subprocess.Popen(
            [sys.executable, str(ROOT / "bot.py"), *self.args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._files[0],
            stderr=self._files[1],
        )

    @property
    def out_path(self) -> Path:
        return self.log_path.with_suffix(".out")

    def stop(self, timeout: float) -> int | None:
        """SIGTERM, then wait; SIGKILL if it would not stop. Returns the exit status."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        for file in self._files:
            file.close()
        return self.popen.returncode

    def tail(self, lines: int = 15) -> str:
        text = [
            *self.out_path.read_text(errors="replace").splitlines(),
            *self.log_path.read_text(errors="replace").splitlines(),
        ]
        return "\n".join(f"    {line}" for line in text[-lines:])


def say(text: str) -> None:
    print(f"[layout] {text}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, timeout: float = 5.0) -> tuple[int, str, str]:
    """Status, content type and body of a GET (an HTTP error status is returned, not raised)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def post(url: str, body: str, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_for(what: str, ready: Callable[[], bool], *, timeout: float, every: float = 0.2) -> None:
    """Poll ``ready`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


def signed(body: str, secret: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256)
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": "v0=" + digest.hexdigest(),
        "Content-Type": "application/json",
    }


# --- PostgreSQL --------------------------------------------------------------------


@contextmanager
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server to create databases on (superuser or CREATEDB)."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if url.startswith(("postgres://", "postgresql")):
        yield url
        return
    if shutil.which("bash") is None:
        raise NoPostgres("no DATABASE_URL and no bash to run .ci/pg.sh")
    started = subprocess.run(
        ["bash", str(ROOT / ".ci/pg.sh"), "start"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    exported = dict(re.findall(r"^export (\w+)=(.*)$", started.stdout, re.MULTILINE))
    directory = shlex.split(exported.get("PG_CI_DIR", "''"))[0] if exported else ""
    try:
        if started.returncode != 0 or "DATABASE_URL" not in exported:
            raise NoPostgres(
                f"no DATABASE_URL, and .ci/pg.sh could not start a cluster:\n"
                f"{started.stderr.strip()}"
            )
        say(f"started a throwaway PostgreSQL cluster in {directory}")
        yield shlex.split(exported["DATABASE_URL"])[0]
    finally:
        if directory:
            subprocess.run(
                ["bash", str(ROOT / ".ci/pg.sh"), "stop", directory],
                cwd=ROOT,
                capture_output=True,
                timeout=120,
                check=False,
            )


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new database owned by a new role with a password; both dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from models.db import normalise_url

    suffix = secrets.token_hex(4)
    name, role, password = f"learnbot_layout_{suffix}", f"learnbot_layout_{suffix}", f"pw-{suffix}x"
    admin = create_engine(normalise_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'"))
        conn.execute(text(f"CREATE DATABASE {name} OWNER {role}"))
    url = make_url(normalise_url(server_url)).set(username=role, password=password, database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()


# --- the layout ------------------------------------------------------------------------


@dataclass
class Layout:
    """Everything the checks need: processes, secrets, the fake Slack, the database."""

    database_url: str
    token: str
    signing_secret: str
    fake: FakeSlack
    workdir: Path
    processes: list[Process] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("SLACK_", "LEARNBOT_", "PG_CI_")) and key != "DATABASE_URL"
        }
        env.update(
            DATABASE_URL=self.database_url,
            SLACK_BOT_TOKEN=self.token,
            SLACK_SIGNING_SECRET=self.signing_secret,
            SLACK_APP_TOKEN="",  # HTTP mode, whatever a .env says
            SLACK_API_URL=self.fake.base_url,
            LOG_FORMAT="json",
            LEARNBOT_LOG_LEVEL="INFO",
            LEARNBOT_DB_POOL_SIZE="2",
            LEARNBOT_DB_MAX_OVERFLOW="3",
            # The fake has no rate limits; spacing posts a second apart would only slow this.
            LEARNBOT_WORKSPACE_RATE_PER_MINUTE="6000",
            LEARNBOT_CHANNEL_INTERVAL_SECONDS="0",
            PYTHONUNBUFFERED="1",
        )
        return env

    def secrets(self) -> list[str]:
        from sqlalchemy.engine import make_url

        password = make_url(self.database_url).password
        return [self.token, self.signing_secret, *([password] if password else [])]

    def bot(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run one ``bot.py`` command to completion, as a release step or cron would."""
        return subprocess.run(
            [sys.executable, str(ROOT / "bot.py"), *args],
            cwd=ROOT,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def add(self, name: str, *args: str) -> Process:
        port = free_port()
        process = Process(
            name,
            [*args, "--host", "127.0.0.1", "--port", str(port)],
            port,
            self.workdir / f"{name}.log",
        )
        self.processes.append(process)
        return process


def prepare(layout: Layout) -> None:
    for step in (
        ["db", "upgrade"],
        ["load-config", "examples/programs.yml"],
        ["import-people", "examples/people.csv"],
    ):
        done = layout.bot(*step)
        if done.returncode != 0:
            raise CheckFailed(f"bot.py {' '.join(step)} exited {done.returncode}:\n{done.stderr}")
        say(f"bot.py {' '.join(step)}: ok")


def start_and_wait(layout: Layout, timeout: float) -> None:
    env = layout.env()
    for process in layout.processes:
        process.start(env)
        say(
            f"started {process.name} (pid {process.popen.pid if process.popen else '?'}): "
            f"bot.py {' '.join(process.args)}"
        )

    def healthy(process: Process) -> bool:
        assert process.popen is not None
        if process.popen.poll() is not None:
            raise CheckFailed(
                f"{process.name} exited {process.popen.returncode} while starting:\n"
                + process.tail()
            )
        try:
            status, _, body = get(f"{process.base}/health", timeout=2)
        except OSError:
            return False
        return status == 200 and json.loads(body).get("status") == "ok"

    for process in layout.processes:
        wait_for(f"{process.name} /health", lambda p=process: healthy(p), timeout=timeout)
        _, _, body = get(f"{process.base}/health")
        say(f"{process.name} /health: {body}")


def check_events(layout: Layout, web: list[Process]) -> None:
    for process in web:
        challenge = secrets.token_hex(8)
        body = json.dumps({"type": "url_verification", "challenge": challenge, "token": "x"})
        status, reply = post(
            f"{process.base}/slack/events", body, signed(body, layout.signing_secret)
        )
        if status != 200 or json.loads(reply).get("challenge") != challenge:
            raise CheckFailed(f"{process.name}: signed url_verification answered {status} {reply}")
        status, _ = post(f"{process.base}/slack/events", body, signed(body, "forged-secret"))
        if status != 401:
            raise CheckFailed(f"{process.name}: a forged request got {status}, not 401")
        say(f"{process.name} /slack/events: signed request 200, forged request 401")


def seed(layout: Layout) -> list[str]:
    """Put messages due now in the outbox, as a planner would; return their keys."""
    now = datetime.now(UTC)
    keys = [f"layout:{n:03d}" for n in range(SEEDED)]
    database = open_database(layout.database_url)
    try:
        with database.session() as session:
            enqueue(
                session,
                [
                    NewMessage(
                        key=key,
                        kind="plain",
                        recipient_kind="person",
                        recipient=f"U{n:03d}LAYOUT",
                        payload={"text": f"layout check {key}"},
                        not_before=now,
                    )
                    for n, key in enumerate(keys)
                ],
                now=now,
            )
    finally:
        database.dispose()
    say(f"put {SEEDED} messages due now in the outbox")
    return keys


def scrape(process: Process) -> dict[str, float]:
    status, content_type, body = get(f"{process.base}/metrics")
    if status != 200 or not content_type.startswith("text/plain; version=0.0.4"):
        raise CheckFailed(f"{process.name} /metrics answered {status} {content_type}")
    try:
        return metrics.parse(body)
    except ValueError as exc:
        raise CheckFailed(f"{process.name} /metrics is not a valid exposition: {exc}") from None


def check_delivery(layout: Layout, keys: list[str], senders: list[Process], timeout: float) -> None:
    def outbox_status() -> dict[str, str]:
        from sqlalchemy import select

        from models.tables import OutboxMessage

        database = open_database(layout.database_url)
        try:
            with database.session() as session:
                rows = session.execute(
                    select(OutboxMessage.key, OutboxMessage.status).where(
                        OutboxMessage.key.in_(keys)  # type: ignore[attr-defined]
                    )
                ).all()
        finally:
            database.dispose()
        return dict(rows)  # type: ignore[arg-type]

    wait_for(
        f"the {SEEDED} messages to be sent",
        lambda: set(outbox_status().values()) == {"sent"},
        timeout=timeout,
        every=0.5,
    )
    posted = Counter(metadata_key(call.body) for call in layout.fake.delivered())
    twice = {key: count for key, count in posted.items() if count > 1}
    if twice:
        raise CheckFailed(f"delivered more than once: {twice}")
    missing = [key for key in keys if posted[key] != 1]
    if missing:
        raise CheckFailed(f"marked sent but never posted: {missing}")
    # Prometheus adds the per-process counters up; so does this check. (The scheduler may
    # plan digests meanwhile, so read both sides until they agree.)
    counted: dict[str, float] = {}

    def counters_add_up() -> bool:
        counted.update(
            {p.name: scrape(p).get("learnbot_messages_sent_total", 0.0) for p in senders}
        )
        return sum(counted.values()) == len(layout.fake.delivered())

    wait_for("the senders' learnbot_messages_sent_total to add up", counters_add_up, timeout=10)
    say(f"{SEEDED} messages delivered once each; learnbot_messages_sent_total: {counted}")


def check_metrics(layout: Layout, web: list[Process]) -> None:
    for process in layout.processes:
        samples = scrape(process)
        if samples.get("learnbot_database_up") != 1:
            raise CheckFailed(f"{process.name} /metrics: learnbot_database_up is not 1")
        failed = samples.get('learnbot_outbox_messages{status="failed"}', -1)
        if failed != 0:
            raise CheckFailed(f"{process.name} /metrics: {failed} failed outbox rows, not 0")
        for name in (
            "learnbot_messages_sent_total",
            "learnbot_message_retries_total",
            "learnbot_slack_rate_limited_total",
            "learnbot_planning_duration_seconds_count",
        ):
            if name not in samples:
                raise CheckFailed(f"{process.name} /metrics has no {name}")
        if process in web and samples["learnbot_messages_sent_total"] != 0:
            raise CheckFailed(f"web process {process.name} sent messages")
        pending = samples['learnbot_outbox_messages{status="pending"}']
        say(f"{process.name} /metrics: {len(samples)} samples, outbox pending {pending:g}")


def check_cron_sweep(layout: Layout, *, lock_held: bool) -> None:
    done = layout.bot("sweep")
    if done.returncode != 0:
        raise CheckFailed(f"bot.py sweep exited {done.returncode}:\n{done.stdout}{done.stderr}")
    skipped = "planning: skipped, another process holds the scheduler lock" in done.stdout
    if lock_held and not skipped:
        raise CheckFailed(f"bot.py sweep planned beside the scheduler:\n{done.stdout}")
    say("bot.py sweep (as from cron): exit 0; " + "; ".join(done.stdout.strip().splitlines()[1:]))
    check_log_lines("bot.py sweep", done.stderr, done.stdout, layout.secrets())


def check_log_lines(name: str, log: str, out: str, secret_values: list[str]) -> int:
    """Every log line is one JSON event, none an error, and no secret appears anywhere."""
    events = 0
    for line in log.splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            raise CheckFailed(f"{name}: a log line is not JSON: {line[:300]}") from None
        if not {"time", "level", "logger", "message"} <= set(event):
            raise CheckFailed(f"{name}: a log event lacks time/level/logger/message: {line}")
        if event["level"] in ("ERROR", "CRITICAL"):
            raise CheckFailed(f"{name}: logged an error: {line[:1000]}")
        events += 1
    for value in secret_values:
        if value in log or value in out:
            raise CheckFailed(f"{name}: a secret appears in its output")
    return events


def stop_all(layout: Layout, timeout: float) -> None:
    problems = []
    for process in reversed(layout.processes):
        if process.popen is None:
            continue
        code = process.stop(timeout)
        if code != 0:
            problems.append(f"{process.name} exited {code} on SIGTERM:\n{process.tail()}")
        else:
            say(f"{process.name}: stopped cleanly on SIGTERM")
    if problems:
        raise CheckFailed("\n".join(problems))


def check_logs(layout: Layout) -> None:
    for process in layout.processes:
        events = check_log_lines(
            process.name,
            process.log_path.read_text(errors="replace"),
            process.out_path.read_text(errors="replace"),
            layout.secrets(),
        )
        say(f"{process.name}: {events} JSON log events, no error, no secret")


def run_layout(kind: str, database_url: str, workdir: Path, timeout: float) -> None:
    token = f"xoxb-layout-{secrets.token_hex(8)}"
    with FakeSlack(require_token=token) as fake:
        layout = Layout(database_url, token, secrets.token_hex(16), fake, workdir)
        prepare(layout)
        if kind == "scaled":
            web = [layout.add(f"web{n}", "run", "--no-scheduler") for n in (1, 2)]
            layout.add("scheduler", "run", "--no-listener")
            for n in (1, 2):
                layout.add(f"sender{n}", "drain", "--loop", "--idle-seconds", "0.5")
            # The scheduler sends too (on its tick, from its start); count it as a sender.
            counted = [p for p in layout.processes if p not in web]
        else:
            web = [layout.add("bot", "run")]
            counted = web
        try:
            # One process sends on its scheduler's tick, which starts with it: seed first.
            # Senders of the scaled layout poll: seed once they run.
            keys = seed(layout) if kind == "single" else []
            start_and_wait(layout, timeout)
            check_events(layout, web)
            keys = keys or seed(layout)
            check_delivery(layout, keys, counted, timeout)
            check_metrics(layout, web if kind == "scaled" else [])
            check_cron_sweep(layout, lock_held=True)
        finally:
            stop_all(layout, timeout=30)
        check_logs(layout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layout", choices=["scaled", "single"], default="scaled")
    parser.add_argument("--timeout", type=float, default=90, help="seconds per wait")
    parser.add_argument("--keep", metavar="DIR", help="keep the process logs in DIR")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with ExitStack() as stack:
        workdir = (
            Path(args.keep)
            if args.keep
            else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="learnbot-layout-")))
        )
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            if args.layout == "scaled":
                server = stack.enter_context(postgres_server())
                url = stack.enter_context(scratch_database(server))
            else:
                url = f"sqlite:///{workdir / 'learnbot.db'}"
            run_layout(args.layout, url, workdir, args.timeout)
        except NoPostgres as exc:
            say(f"SKIPPED: {exc}")
            return 2
        except CheckFailed as exc:
            say(f"FAILED: {exc}")
            return 1
    say(f"{args.layout} layout: all checks passed in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
