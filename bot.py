#!/usr/bin/env python3
"""learnbot: the composition root and command line.

Run ``python bot.py --help``. Nothing happens at import time; ``main`` wires settings,
database and clock for each command.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from sqlalchemy.exc import OperationalError

from learning.clock import Clock, FrozenClock, SystemClock, parse_instant
from learning.errors import LearnbotError
from logs import Redactor, configure_logging, remove_logging
from models.db import Database, SchemaOutOfDate, open_database, redact_url, sqlite_file
from settings import (
    DEFAULT_DATABASE_URL,
    Settings,
    SettingsError,
    learnbot_home,
    resolve_database_url,
)

if TYPE_CHECKING:
    from slack_bolt import App

    from delivery.sender import Sender
    from server.http import WebServer

log = logging.getLogger("learnbot")

ROOT = Path(__file__).resolve().parent
EXAMPLES = ROOT / "examples"
# The example organisation's data is written as of this instant; `demo` shows it then.
DEMO_AT = "2026-12-01T12:00:00Z"
DEMO_SINCE = "2026-06-01T00:00:00Z"
DEFAULT_SIMULATION_START = "2026-11-30"


class Context:
    """What a command needs: settings, a clock, an output stream, the database."""

    def __init__(self, settings: Settings, clock: Clock, out: TextIO) -> None:
        self.settings = settings
        self.clock = clock
        self.out = out
        self._db: Database | None = None

    def db(self, *, ensure_schema: bool = True, must_exist: bool = False) -> Database:
        """The database, opened on first use (SQLite: created, unless ``must_exist``).

        Raises:
            LearnbotError: ``must_exist`` and the SQLite file is not there (a command that
                only reads would otherwise create an empty database and report on it), or
                the file's folder does not exist. Nothing is created either way.
        """
        if self._db is None:
            self._check_sqlite_file(must_exist=must_exist)
            self._db = open_database(
                self.settings.database_url,
                pool_size=self.settings.db_pool_size,
                max_overflow=self.settings.db_max_overflow,
            )
            if ensure_schema:
                self._db.ensure_schema()
        return self._db

    def _check_sqlite_file(self, *, must_exist: bool) -> None:
        path = sqlite_file(self.settings.database_url)
        if path is None:
            return
        if must_exist and not path.exists():
            default = resolve_database_url(DEFAULT_DATABASE_URL, self.settings.home)
            where = (
                "the default: learnbot.db in LEARNBOT_HOME"
                if self.settings.database_url == default
                else "from DATABASE_URL"
            )
            raise LearnbotError(
                f"no database at {path} ({where}): create it with "
                "`python bot.py load-config FILE` (or `python bot.py db upgrade`), or try "
                "the example company with `python bot.py demo`"
            )
        if not path.parent.is_dir():
            raise LearnbotError(
                f"the folder of the database {path} does not exist: create it, or point "
                "DATABASE_URL (or LEARNBOT_HOME) at one that does"
            )

    def say(self, text: str = "") -> None:
        print(text, file=self.out)

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()


# --- commands ----------------------------------------------------------------


def cmd_db(ctx: Context, args: argparse.Namespace) -> int:
    db = ctx.db(ensure_schema=False, must_exist=args.action == "current")
    if args.action == "upgrade":
        before = db.current_revision()
        db.upgrade()
        ctx.say(f"database {db.url}: {before or 'empty'} -> {db.current_revision()} (current)")
    else:
        state = "current" if db.is_current() else f"behind; the code needs {db.head_revision()}"
        ctx.say(f"database {db.url}: revision {db.current_revision() or 'none'} ({state})")
    return 0


def cmd_load_config(ctx: Context, args: argparse.Namespace) -> int:
    from learning.curriculum import load_curriculum
    from learning.curriculum_sync import apply_config
    from schedules.enrollment import enroll_everyone

    loaded = load_curriculum(args.file)
    with ctx.db().session(dry_run=args.dry_run) as session:
        # A dry run enrolls in its one (rolled back) transaction to show everything; a
        # real load commits the curriculum with the affected people marked, then the
        # enrollment job brings them up to date a batch per transaction.
        changes = apply_config(
            session, loaded, clock=ctx.clock, actor=args.actor, enroll_now=args.dry_run
        )
    if not args.dry_run:
        changes.enrollment = enroll_everyone(ctx.db(), ctx.clock) or changes.enrollment
        changes.enrollment_deferred = False
    ctx.say(f"{args.file}: valid")
    ctx.say(changes.summary(dry_run=args.dry_run))
    ctx.say(_outcome(args.dry_run, bool(changes)))
    return 0


def cmd_import_people(ctx: Context, args: argparse.Namespace) -> int:
    from learning.people_import import import_people
    from platforms.slack.identity import PEOPLE_COLUMN

    if args.max_deactivate is not None and not args.deactivate_missing:
        raise LearnbotError("--max-deactivate only applies with --deactivate-missing")
    if args.max_deactivate is not None and args.max_deactivate < 0:
        raise LearnbotError("--max-deactivate must be 0 or more")
    with ctx.db().session(dry_run=args.dry_run) as session:
        result = import_people(
            session,
            args.file,
            clock=ctx.clock,
            actor=args.actor,
            deactivate_missing=args.deactivate_missing,
            max_deactivate=args.max_deactivate,
            account_columns=(PEOPLE_COLUMN,),
        )
    ctx.say(f"{args.file}: valid")
    ctx.say(result.summary(dry_run=args.dry_run))
    ctx.say(_outcome(args.dry_run, True))
    return 0


def cmd_import_completions(ctx: Context, args: argparse.Namespace) -> int:
    from learning.completions import import_completions

    with ctx.db().session(dry_run=args.dry_run) as session:
        result = import_completions(session, args.file, clock=ctx.clock, actor=args.actor)
    ctx.say(f"{args.file}: valid")
    ctx.say(result.summary())
    ctx.say(_outcome(args.dry_run, result.recorded > 0))
    return 0


def cmd_enroll(ctx: Context, args: argparse.Namespace) -> int:
    from schedules.enrollment import enroll_everyone

    summary = enroll_everyone(ctx.db(), ctx.clock)
    if summary is None:
        raise LearnbotError("no configuration loaded yet: run `python bot.py load-config FILE`")
    ctx.say(str(summary))
    ctx.say(
        f"{summary.visited} people looked at (a tier of theirs opened, or a change marked them)"
    )
    return 0


def cmd_status(ctx: Context, args: argparse.Namespace) -> int:
    from learning.certifications import person_certifications
    from learning.curriculum import ProgramSettings
    from learning.paths import current_settings
    from learning.progress import person_by_email, person_status
    from messages.report import render_status

    with ctx.db(must_exist=True).session() as session:
        status = person_status(session, args.email, clock=ctx.clock)
        standings = person_certifications(
            session,
            person_by_email(session, args.email),
            settings=current_settings(session) or ProgramSettings(),
        )
        ctx.say(render_status(status, certifications=standings))
    return 0


def cmd_report(ctx: Context, args: argparse.Namespace) -> int:
    from learning.progress import completion_report
    from messages.report import render_report, render_report_csv

    with ctx.db(must_exist=True).session() as session:
        report = completion_report(session, clock=ctx.clock)
    ctx.out.write(render_report_csv(report) if args.csv else render_report(report) + "\n")
    return 0


def cmd_certs(ctx: Context, args: argparse.Namespace) -> int:
    from learning.certifications import list_holders
    from learning.curriculum import ProgramSettings
    from learning.paths import current_settings
    from messages.certifications import render_holders, render_holders_csv

    if args.redate_from_completions:
        return _redate_awards(ctx, args)
    if args.dry_run:
        raise LearnbotError("--dry-run goes with --redate-from-completions")
    if args.expiring is not None and args.expiring < 0:
        raise LearnbotError("--expiring takes a number of days, 0 or more")
    with ctx.db(must_exist=True).session() as session:
        lines = list_holders(
            session,
            clock=ctx.clock,
            settings=current_settings(session) or ProgramSettings(),
            expiring_within_days=args.expiring,
        )
    if args.csv:
        ctx.out.write(render_holders_csv(lines))
    else:
        ctx.say(render_holders(lines, expiring=args.expiring))
    return 0


def _redate_awards(ctx: Context, args: argparse.Namespace) -> int:
    """``certs --redate-from-completions``: awards dated from their work (audited, silent)."""
    from learning.award_redating import redate_awards
    from learning.paths import current_settings
    from messages.certifications import render_redate

    if args.expiring is not None or args.csv:
        raise LearnbotError("--redate-from-completions takes no --expiring or --csv")
    with ctx.db(must_exist=True).session(dry_run=args.dry_run) as session:
        settings = current_settings(session)
        if settings is None:
            raise LearnbotError("no configuration loaded yet: run `python bot.py load-config FILE`")
        result = redate_awards(session, clock=ctx.clock, settings=settings, actor=args.actor)
    ctx.say(render_redate(result))
    ctx.say(_outcome(args.dry_run, bool(result.redated)))
    return 0


def cmd_outbox(ctx: Context, args: argparse.Namespace) -> int:
    from delivery.runner import outbox_command

    return outbox_command(
        ctx.db(must_exist=True),
        clock=ctx.clock,
        out=ctx.out,
        actor=args.actor,
        status=args.status,
        limit=args.limit,
        retry_id=args.retry,
        retry_all_failed=args.retry_all_failed,
    )


def cmd_audit(ctx: Context, args: argparse.Namespace) -> int:
    from learning.audit import read_log
    from messages.audit_log import cut_notice, render_audit, render_audit_csv

    if args.limit < 1:
        raise LearnbotError("--limit must be at least 1")
    with ctx.db(must_exist=True).session() as session:
        page = read_log(
            session,
            person_email=args.person,
            since=args.since,
            action_prefix=args.action,
            limit=args.limit,
        )
    if args.csv:
        ctx.out.write(render_audit_csv(page))
        if page.cut:  # keep the CSV clean: the note goes to stderr
            print(cut_notice(page), file=sys.stderr)
    else:
        ctx.say(render_audit(page))
    return 0


def _audit_since(text: str):  # type: ignore[no-untyped-def]
    """``--since``: a bad value is a usage error (exit 2) that names it."""
    from learning.audit import parse_since

    try:
        return parse_since(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def cmd_workspace(ctx: Context, args: argparse.Namespace) -> int:
    from sqlalchemy import func, select

    from learning import members
    from models.tables import OutboxMessage, OutboxStatus, WorkspaceState

    with ctx.db(must_exist=True).session() as session:
        if args.action == "resume":
            if not args.workspace:
                stopped = session.scalars(
                    select(WorkspaceState.workspace_id).where(
                        WorkspaceState.sending_stopped_at.is_not(None)
                    )
                ).all()
                if len(stopped) != 1:
                    listed = ", ".join(stopped) or "none"
                    ctx.say(
                        f"name the workspace to resume (stopped: {listed}): "
                        "bot.py workspace resume ID"
                    )
                    return 1
                args.workspace = stopped[0]
            if not members.resume_sending(
                session, workspace_id=args.workspace, clock=ctx.clock, actor=args.actor
            ):
                ctx.say(f"workspace {args.workspace}: sending was not stopped; nothing to do")
                return 0
            ctx.say(f"workspace {args.workspace}: sending resumed; pending messages go out now")
            return 0
        pending = dict(
            session.execute(
                select(OutboxMessage.workspace_id, func.count())
                .where(OutboxMessage.status == OutboxStatus.PENDING)
                .group_by(OutboxMessage.workspace_id)
            ).all()
        )
        states = {state.workspace_id: state for state in session.scalars(select(WorkspaceState))}
        for workspace in sorted(set(pending) | set(states)):
            state = states.get(workspace)
            if state is not None and state.sending_stopped_at is not None:
                line = (
                    f"STOPPED since {state.sending_stopped_at:%Y-%m-%d %H:%M} UTC "
                    f"({state.reason or 'no reason given'})"
                )
            else:
                line = "sending"
            ctx.say(f"{workspace}: {line}; {pending.get(workspace, 0)} pending messages")
        if not pending and not states:
            ctx.say("no workspaces yet: nothing has been sent or stopped")
    return 0


def cmd_drain(ctx: Context, args: argparse.Namespace) -> int:
    from delivery.runner import drain_command

    if not args.loop:
        return drain_command(
            ctx.settings,
            _routes(ctx),
            ctx.db,
            clock=ctx.clock,
            out=ctx.out,
            max_messages=args.max,
        )
    if args.max is not None or args.at:
        raise LearnbotError(
            "--loop runs until stopped, on the real clock: leave out --max and --at"
        )
    if args.idle_seconds <= 0:
        raise LearnbotError("--idle-seconds must be more than 0")
    ctx.settings.require_slack()
    database = ctx.db()
    sender = _sender(ctx, database)
    server = (
        None
        if args.port is None
        else _serve_status(ctx, database, host=args.host or ctx.settings.host, port=args.port)
    )
    if server is not None:
        ctx.say(f"health and metrics on {server.url}")
    ctx.say("sending due messages until stopped (SIGTERM or Ctrl-C)")
    try:
        with _stop_on_signals() as stop:
            return drain_until_stopped(
                sender, clock=ctx.clock, stop=stop, idle_seconds=args.idle_seconds, out=ctx.out
            )
    finally:
        if server is not None:
            server.stop()


SLICE_SECONDS = 10.0
SHARED_SWITCH_INTERVAL = 0.001  # seconds; `run` with both the listener and the scheduler


def drain_until_stopped(
    sender: Sender,
    *,
    clock: Clock,
    stop: threading.Event,
    idle_seconds: float,
    out: TextIO,
    slice_seconds: float = SLICE_SECONDS,
) -> int:
    """``drain --loop``: drain, and when nothing was due wait ``idle_seconds``; until ``stop``.

    Each drain starts no post after ``slice_seconds``, so a stop request is honoured
    between two posts, never in the middle of one (no row is left ``sending``). A failed
    drain (database or Slack unreachable) is logged and tried again after the idle wait.
    Returns 1 if Slack refused the bot token (a restart with a fixed token is needed).
    """
    while not stop.is_set():
        try:
            result = sender.drain(until=clock.now() + timedelta(seconds=slice_seconds))
        except Exception:
            log.exception("drain failed; trying again in %gs", idle_seconds)
            stop.wait(idle_seconds)
            continue
        if result.stopped:
            print(
                f"Slack refused the bot token ({result.stopped}); the messages stay pending. "
                "Fix SLACK_BOT_TOKEN (or reinstall the app) and start the sender again.",
                file=out,
            )
            return 1
        if result.idle:
            stop.wait(idle_seconds)
    return 0


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event set by the first SIGTERM or SIGINT; a second one stops at once."""
    stop = threading.Event()

    def handle(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _serve_status(
    ctx: Context,
    database: Database,
    *,
    host: str,
    port: int,
    app: App | None = None,
    checks: Callable[[], dict[str, str]] | None = None,
) -> WebServer:
    """Serve ``/health`` and ``/metrics`` (and ``/slack/events`` with ``app``) in a thread."""
    from delivery.metrics import render
    from server.app import health
    from server.http import start_server

    def health_checks() -> dict[str, str]:
        return {**health(database), **(checks() if checks else {})}

    return start_server(
        settings=ctx.settings,
        host=host,
        port=port,
        health=health_checks,
        metrics=lambda: render(database, now=ctx.clock.now()),
        slack=app,
    )


def _routes(ctx: Context):  # type: ignore[no-untyped-def]
    """The composition root's platform registry: platform name -> renderer, transport."""
    from platforms.base import routes
    from platforms.slack import slack_platform
    from platforms.slack.transport import build_slack_transport

    return routes([slack_platform(build_slack_transport(ctx.settings))])


def _sender(ctx: Context, database: Database):  # type: ignore[no-untyped-def]
    from delivery.runner import build_sender, real_sleep

    return build_sender(
        ctx.settings,
        database,
        _routes(ctx),
        clock=ctx.clock,
        sleep=real_sleep(ctx.clock),
    )


def cmd_sweep(ctx: Context, args: argparse.Namespace) -> int:
    """One tick as of now (or ``--at``): enroll, plan, deliver. For cron and tests."""
    from schedules.lock import SchedulerLock
    from schedules.tick import sweep

    if not args.plan_only:
        ctx.settings.require_slack()
    database = ctx.db()
    lock = SchedulerLock(database)
    try:
        result = sweep(
            database,
            ctx.clock,
            lock=lock,
            sender=None if args.plan_only else _sender(ctx, database),
        )
    finally:
        lock.release()
    ctx.say(f"sweep as of {ctx.clock.now():%Y-%m-%d %H:%M:%S} UTC")
    ctx.say(result.summary())
    return 1 if result.delivery is not None and result.delivery.stopped else 0


def cmd_run(ctx: Context, args: argparse.Namespace) -> int:
    """The bot process: the Slack listener (Socket Mode or HTTP) and the scheduler.

    ``--no-scheduler`` makes a web process (listener only), ``--no-listener`` a scheduler
    process. Every form serves ``GET /health`` and ``GET /metrics`` on the port; the HTTP
    listener adds ``POST /slack/events`` there.
    """
    from schedules.lock import SchedulerLock
    from schedules.scheduler import build_scheduler
    from server.app import build_app

    ctx.settings.require_slack()  # refuse at once, before touching the database
    database = ctx.db()
    app = None if args.no_listener else build_app(ctx.settings, database=database, clock=ctx.clock)
    socket_mode = app is not None and bool(ctx.settings.slack_app_token)
    scheduler = lock = None
    if not args.no_scheduler:
        lock = SchedulerLock(database)
        if lock.acquire():
            log.info("this process holds the scheduler lock: it plans and sends")
        else:
            log.info("another process holds the scheduler lock: this one only sends")
        scheduler = build_scheduler(
            database,
            ctx.clock,
            sender=_sender(ctx, database),
            lock=lock,
            tick=timedelta(minutes=args.tick_minutes),
        )
        scheduler.start()

    def scheduler_check() -> dict[str, str]:
        if scheduler is None:
            return {}
        return {"scheduler": "ok" if scheduler.running else "stopped"}

    port = ctx.settings.port if args.port is None else args.port
    server = None
    switch_interval = sys.getswitchinterval()
    if app is not None and scheduler is not None:
        # The scheduler's passes are CPU-bound Python in this process: switching threads
        # every 1 ms (Python's default is 5) keeps them from holding up Slack's requests
        # as long (docs/decisions.md, 65).
        sys.setswitchinterval(SHARED_SWITCH_INTERVAL)
    try:
        server = _serve_status(
            ctx,
            database,
            host=args.host or ctx.settings.host,
            port=port,
            app=None if socket_mode else app,
            checks=scheduler_check,
        )
        base = server.url
        with _stop_on_signals() as stop:
            if socket_mode:
                from slack_bolt.adapter.socket_mode import SocketModeHandler

                handler = SocketModeHandler(app, ctx.settings.slack_app_token)  # type: ignore[arg-type]
                handler.connect()
                ctx.say(
                    f"learnbot is running in Socket Mode (health: {base}/health; Ctrl-C to stop)"
                )
                stop.wait()
                handler.close()
            else:
                what = "the scheduler" if app is None else f"{base}/slack/events"
                ctx.say(
                    f"learnbot is running {what} (health: {base}/health, metrics: "
                    f"{base}/metrics; Ctrl-C to stop)"
                )
                stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.stop()
        if scheduler is not None and lock is not None:
            scheduler.shutdown(wait=False)
            lock.release()
        sys.setswitchinterval(switch_interval)
    return 0


def cmd_simulate(ctx: Context, args: argparse.Namespace) -> int:
    """Simulate days of nudges on a temporary database, printing a transcript."""
    from datetime import date

    from platforms.base import routes
    from platforms.slack import slack_platform
    from platforms.slack.identity import PEOPLE_COLUMN
    from schedules.simulation import SimulationOptions, simulate

    try:
        start = date.fromisoformat(args.start)
    except ValueError:
        raise LearnbotError(f"--start {args.start!r}: write YYYY-MM-DD") from None
    if not 1 <= args.days <= 366:
        raise LearnbotError("--days must be between 1 and 366")
    if not 0 <= args.completion_rate <= 1:
        raise LearnbotError("--completion-rate must be between 0 and 1, e.g. 0.6")
    options = SimulationOptions(
        people=Path(args.people),
        programs=Path(args.programs),
        start=start,
        days=args.days,
        completion_rate=args.completion_rate,
        seed=args.seed,
        tick=timedelta(minutes=args.tick_minutes),
        account_columns=(PEOPLE_COLUMN,),
        routes_for=lambda transport: routes([slack_platform(transport)]),
    )
    if "LEARNBOT_LOG_LEVEL" not in os.environ:
        logging.getLogger().setLevel(logging.WARNING)  # the transcript is the output
    simulate(options, ctx.out)
    return 0


def cmd_demo(ctx: Context, args: argparse.Namespace) -> int:
    """Load the example organisation and print its report: learnbot without Slack.

    The example company has used learnbot since ``DEMO_SINCE``: the configuration and
    people are loaded then, enrollment runs once a day (as the scheduler does) up to
    the demo instant, then the LMS completions are imported and the report printed.
    """
    from learning.paths import current_settings, enroll, load_paths

    if args.reset and not ctx.settings.database_url.startswith("sqlite"):
        raise LearnbotError(
            f"demo --reset empties the database, so it only works on SQLite; DATABASE_URL is "
            f"{redact_url(ctx.settings.database_url)}. Run the demo on a SQLite file "
            "(DATABASE_URL=sqlite:///demo.db), or empty this database yourself"
        )
    held = _stored_rows(ctx.db())
    if held and not args.reset:
        raise LearnbotError(
            f"the database at {redact_url(ctx.settings.database_url)} already holds "
            f"{_describe_rows(held)}: demo would mix the example company into it. "
            "`python bot.py demo --reset` deletes all of it first; or point DATABASE_URL at "
            "a new file"
        )
    end = ctx.clock.now()
    start = min(parse_instant(DEMO_SINCE), end)
    ctx.say(
        f"learnbot demo on {redact_url(ctx.settings.database_url)}: the example company "
        f"from {start:%Y-%m-%d} to {end:%Y-%m-%d %H:%M} UTC"
    )
    if held:
        _delete_all_rows(ctx.db())
        ctx.say(f"--reset: deleted {_describe_rows(held)}")
    history = Context(ctx.settings, FrozenClock(start), ctx.out)
    history._db = ctx.db()
    for name, command, step_args in (
        (
            "load-config",
            cmd_load_config,
            argparse.Namespace(file=str(EXAMPLES / "programs.yml"), dry_run=False, actor="demo"),
        ),
        (
            "import-people",
            cmd_import_people,
            argparse.Namespace(
                file=str(EXAMPLES / "people.csv"),
                dry_run=False,
                deactivate_missing=False,
                max_deactivate=None,
                actor="demo",
            ),
        ),
    ):
        ctx.say(f"\n== {name} {Path(step_args.file).relative_to(ROOT)}")
        command(history, step_args)
    ctx.say(f"\n== daily enrollment {start:%Y-%m-%d} .. {end:%Y-%m-%d}")
    day = FrozenClock(start)
    with ctx.db().session() as session:
        settings = current_settings(session)
        assert settings is not None
        paths = load_paths(session)
        total = 0
        while day.now() <= end:
            total += enroll(session, clock=day, settings=settings, paths=paths).created
            day.advance(timedelta(days=1))
    ctx.say(f"{total} assignments made as people reached their tiers")
    ctx.say("\n== import-completions examples/completions.csv")
    cmd_import_completions(
        ctx, argparse.Namespace(file=str(EXAMPLES / "completions.csv"), dry_run=False, actor="demo")
    )
    ctx.say("\n== report")
    cmd_report(ctx, argparse.Namespace(csv=False))
    ctx.say(f"\nNext: python bot.py --at {DEMO_AT} status EMAIL   (emails: examples/people.csv)")
    return 0


# What `demo` says a database holds, by table; other tables are "other records".
_DESCRIBED_TABLES = (
    ("person", "people"),
    ("program", "programs"),
    ("completion_event", "completions"),
    ("certification_award", "certification awards"),
    ("outbox", "outbox messages"),
    ("audit_log", "audit entries"),
)


def _stored_rows(database: Database) -> dict[str, int]:
    """Rows in each of learnbot's tables that has any."""
    from sqlalchemy import func, select
    from sqlmodel import SQLModel

    import models.tables  # noqa: F401  (the tables' metadata)

    with database.session() as session:
        counts = {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in SQLModel.metadata.sorted_tables
        }
    return {name: count for name, count in counts.items() if count}


def _describe_rows(rows: dict[str, int]) -> str:
    named = dict(_DESCRIBED_TABLES)
    parts = [f"{rows[table]} {label}" for table, label in _DESCRIBED_TABLES if table in rows]
    others = sum(count for table, count in rows.items() if table not in named)
    if others:
        parts.append(f"{others} other records")
    return ", ".join(parts)


def _delete_all_rows(database: Database) -> None:
    """``demo --reset`` on SQLite: every row of every table, in one transaction."""
    from sqlmodel import SQLModel

    with database.session() as session:
        for table in reversed(SQLModel.metadata.sorted_tables):
            session.execute(table.delete())


def _outcome(dry_run: bool, changed: bool) -> str:
    if dry_run:
        return "dry run: nothing was applied"
    return "applied" if changed else "nothing to change"


# --- wiring ------------------------------------------------------------------


def _global_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """``--at``, ``--actor`` and ``--verbose``, written before or after the command.

    The main parser holds the defaults; each command's parser takes the same options with
    no default (``SUPPRESS``), so one written after the command overrides the main
    parser's value and one left out does not reset it.
    """

    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument(
        "--at",
        metavar="ISO-8601",
        default=default(None),
        help="act as if it were this instant (e.g. 2026-03-02T09:30:00Z)",
    )
    parser.add_argument(
        "--actor", default=default("cli"), help="name recorded in the audit log (default cli)"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default(False),
        help="log what happens (INFO) to standard error, not only warnings and errors",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bot.py",
        description="learnbot: runs your training program in Slack. Settings come from the "
        "environment or LEARNBOT_HOME/.env (see README). --at, --actor and --verbose may "
        "also be written after the command.",
    )
    _global_options(parser, defaults=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = commands.add_parser("db", help="database schema: upgrade, current")
    db.add_argument("action", choices=["upgrade", "current"])
    db.set_defaults(func=cmd_db)

    load = commands.add_parser("load-config", help="validate and apply a programs YAML file")
    load.add_argument("file")
    load.add_argument("--dry-run", action="store_true", help="validate and show changes only")
    load.set_defaults(func=cmd_load_config)

    people = commands.add_parser("import-people", help="import people from a CSV file")
    people.add_argument("file")
    people.add_argument("--dry-run", action="store_true", help="validate and show changes only")
    people.add_argument(
        "--deactivate-missing",
        action="store_true",
        help="deactivate (never delete) people who are not in the file",
    )
    people.add_argument(
        "--max-deactivate",
        type=int,
        metavar="N",
        help="allow --deactivate-missing to deactivate up to N people (default: 10%% of "
        "active people or 5, whichever is larger); a file with no rows is always refused",
    )
    people.set_defaults(func=cmd_import_people)

    completions = commands.add_parser(
        "import-completions", help="import completions (email,item,completed_at,score)"
    )
    completions.add_argument("file")
    completions.add_argument(
        "--dry-run", action="store_true", help="validate and show changes only"
    )
    completions.set_defaults(func=cmd_import_completions)

    enroll = commands.add_parser("enroll", help="bring everyone's assignments up to date")
    enroll.set_defaults(func=cmd_enroll)

    status = commands.add_parser("status", help="one person's learning path")
    status.add_argument("email")
    status.set_defaults(func=cmd_status)

    report = commands.add_parser("report", help="completion by team and by role")
    report.add_argument("--csv", action="store_true", help="CSV for spreadsheets")
    report.set_defaults(func=cmd_report)

    certs = commands.add_parser("certs", help="certification holders and when they expire")
    certs.add_argument(
        "--expiring",
        type=int,
        metavar="DAYS",
        help="only certifications (not lapsed) that expire within DAYS days",
    )
    certs.add_argument("--csv", action="store_true", help="CSV for spreadsheets")
    certs.add_argument(
        "--redate-from-completions",
        action="store_true",
        help="give existing awards the dates their completions earn (audited; sends nothing)",
    )
    certs.add_argument(
        "--dry-run",
        action="store_true",
        help="with --redate-from-completions: show the changes, apply nothing",
    )
    certs.set_defaults(func=cmd_certs)

    outbox = commands.add_parser("outbox", help="list outbox messages; retry failed ones")
    outbox.add_argument("--status", choices=["pending", "sending", "sent", "failed"])
    outbox.add_argument("--limit", type=int, default=50, help="rows to show (default 50)")
    retry = outbox.add_mutually_exclusive_group()
    retry.add_argument("--retry", type=int, metavar="ID", help="send failed message ID again")
    retry.add_argument(
        "--retry-all-failed", action="store_true", help="send every failed message again"
    )
    outbox.set_defaults(func=cmd_outbox)

    audit = commands.add_parser(
        "audit", help="the audit log: who did what, when and why (oldest first)"
    )
    audit.add_argument("--person", metavar="EMAIL", help="entries about this person")
    audit.add_argument(
        "--since",
        type=_audit_since,
        metavar="DATE",
        help="from YYYY-MM-DD (00:00 UTC) or an ISO-8601 instant",
    )
    audit.add_argument(
        "--action", metavar="PREFIX", help="actions starting with PREFIX, e.g. escalation"
    )
    audit.add_argument(
        "--limit", type=int, default=200, metavar="N", help="most recent entries (default 200)"
    )
    audit.add_argument("--csv", action="store_true", help="CSV with full values and details")
    audit.set_defaults(func=cmd_audit)

    workspace = commands.add_parser(
        "workspace", help="is sending on or stopped (app uninstalled, tokens revoked); resume it"
    )
    workspace.add_argument("action", choices=["status", "resume"], nargs="?", default="status")
    workspace.add_argument(
        "workspace", nargs="?", help="workspace (team) id; resume: optional if one is stopped"
    )
    workspace.set_defaults(func=cmd_workspace)

    drain = commands.add_parser("drain", help="send every outbox message that is due now")
    drain.add_argument("--max", type=int, metavar="N", help="stop after N messages")
    drain.add_argument(
        "--loop",
        action="store_true",
        help="keep sending as messages fall due, until SIGTERM (a sender process)",
    )
    drain.add_argument(
        "--idle-seconds",
        type=float,
        default=5.0,
        metavar="S",
        help="--loop: wait this long when nothing was due (default 5)",
    )
    drain.add_argument("--port", type=int, help="--loop: serve /health and /metrics on this port")
    drain.add_argument(
        "--host", help="--loop: address for --port (default: LEARNBOT_HOST, else 0.0.0.0)"
    )
    drain.set_defaults(func=cmd_drain)

    sweep = commands.add_parser("sweep", help="run one tick (enroll, plan, deliver) and exit")
    sweep.add_argument(
        "--plan-only", action="store_true", help="enroll and plan into the outbox, but send nothing"
    )
    sweep.set_defaults(func=cmd_sweep)

    run = commands.add_parser("run", help="run the bot: Slack listener and scheduler")
    run.add_argument("--host", help="HTTP bind address (default: LEARNBOT_HOST, else 0.0.0.0)")
    run.add_argument("--port", type=int, help="HTTP port (default: PORT, else 3000)")
    run.add_argument("--tick-minutes", type=int, default=5, help="planning interval")
    role = run.add_mutually_exclusive_group()
    role.add_argument(
        "--no-scheduler",
        action="store_true",
        help="only the Slack listener: a web process (plans and sends nothing)",
    )
    role.add_argument(
        "--no-listener",
        action="store_true",
        help="only the scheduler: a scheduler process (/health and /metrics on the port)",
    )
    run.set_defaults(func=cmd_run)

    simulate = commands.add_parser(
        "simulate", help="simulate days of nudges on a temporary database (no Slack)"
    )
    simulate.add_argument("--days", type=int, default=30)
    simulate.add_argument("--start", default=DEFAULT_SIMULATION_START, help="YYYY-MM-DD")
    simulate.add_argument("--people", default=str(EXAMPLES / "people.csv"))
    simulate.add_argument("--programs", default=str(EXAMPLES / "programs.yml"))
    simulate.add_argument(
        "--completion-rate",
        type=float,
        default=0.6,
        help="chance that a reminded learner does an item that day",
    )
    simulate.add_argument("--seed", type=int, default=1)
    simulate.add_argument("--tick-minutes", type=int, default=15)
    simulate.set_defaults(func=cmd_simulate)

    demo = commands.add_parser("demo", help="load the example organisation and print a report")
    demo.add_argument(
        "--reset",
        action="store_true",
        help="empty the database first (SQLite only); without it, demo refuses a database "
        "that holds data",
    )
    demo.set_defaults(func=cmd_demo)
    for command in commands.choices.values():
        _global_options(command, defaults=False)
    return parser


def _log_level(settings: Settings, args: argparse.Namespace) -> str:
    """INFO with ``--verbose`` (DEBUG if ``LEARNBOT_LOG_LEVEL`` asks for it); else
    ``LEARNBOT_LOG_LEVEL`` if set; else INFO for a service (``run``, ``drain --loop``) and
    WARNING for a one-shot command: its result is what it prints, and the same result
    logged at INFO would say it twice."""
    if args.verbose and settings.log_level != "DEBUG":
        return "INFO"
    if settings.log_level:
        return settings.log_level
    service = args.func is cmd_run or (args.func is cmd_drain and args.loop)
    return "INFO" if service else "WARNING"


def main(
    argv: Sequence[str] | None = None,
    *,
    env: dict[str, str] | None = None,
    clock: Clock | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run one command; return the exit status (0 ok, 1 refused, 2 usage)."""
    out = out or sys.stdout
    err = err or sys.stderr
    if env is None:
        from dotenv import load_dotenv

        # LEARNBOT_HOME comes from the real environment: it says where .env is.
        load_dotenv(learnbot_home(os.environ) / ".env")
    args = build_parser().parse_args(argv)
    redact = Redactor()
    json_logs = False
    database_url = ""

    def complain(message: str) -> None:
        """Tell the person what went wrong: ``error: ...``, or a JSON event with JSON logs."""
        if json_logs:
            log.error("%s", message)
        else:
            print(f"error: {redact(message)}", file=err)

    try:
        settings = Settings.from_env(env)
        database_url = settings.database_url
        redact = Redactor(settings.secrets())
        configure_logging(
            stream=err,
            level=_log_level(settings, args),
            log_format=settings.log_format,
            secrets=settings.secrets(),
        )
        json_logs = settings.log_format == "json"
        # Alembic's and APScheduler's INFO lines (every migration step, every job run) are
        # noise next to learnbot's own; their warnings and errors still show.
        for chatty in ("alembic", "apscheduler"):
            logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))
        if args.at:
            clock = FrozenClock(parse_instant(args.at))
        elif clock is None:
            clock = FrozenClock(parse_instant(DEMO_AT)) if args.func is cmd_demo else SystemClock()
        ctx = Context(settings, clock, out)
        try:
            return int(args.func(ctx, args))
        finally:
            ctx.close()
    except (LearnbotError, SettingsError, SchemaOutOfDate, ValueError) as exc:
        complain(str(exc))
        return 1
    except OperationalError as exc:
        # Down, unreachable or refusing us: say which database (password hidden) and why.
        log.debug("database error", exc_info=True)
        reason = (str(exc.orig or exc).strip().splitlines() or ["no reason given"])[0]
        complain(f"the database at {redact_url(database_url)} failed: {reason}")
        return 1
    except Exception:
        # Logged, not raised: Python's own traceback would skip the log format and the
        # masking of secrets (a driver error may quote a connection string).
        log.exception("%s failed", args.command)
        return 1
    finally:
        remove_logging()


if __name__ == "__main__":
    sys.exit(main())
