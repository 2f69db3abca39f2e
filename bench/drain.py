"""Benchmark: drain the outbox against a fake Slack that enforces Slack-like rate limits.

    python -m bench.drain [--people 600] [--posts 30] [--channels 6] [--rate 1200]
                          [--senders 1,2,3] [--database-url URL] [--reset] [--json PATH]

The acceptance benchmark of the sender (issue 8): the messages a minute it achieves
against the rate Slack allows, and that every message arrives exactly once. Target: at
least 90% of the allowed rate, with no duplicates and nothing lost.

Set-up (not measured): the schema, ``examples/programs.yml`` and a ``bench.orggen``
organisation of ``--people`` people with 20 assignments each (``bench.plan_day.set_up``);
then one day of digests planned into the outbox by the planner (``plan_nudges`` at each
zone's send time), so the DMs are real digests that the sender renders as in production;
then ``--posts`` text posts spread over ``--channels`` channels. All rows are due at
once, the channel posts interleaved evenly among the DMs.

Measured, for each sender count in ``--senders``, on the same rows put back ``pending``:

    * a ``FakeSlack`` on 127.0.0.1 enforcing, in real time, a workspace budget of
      ``--rate`` chat.postMessage calls a minute (bursts of up to one second's worth)
      and one post a second per channel (bursts of 2), answering HTTP 429 with
      ``Retry-After`` over either (``FakeSlack.enforce_rate_limits``);
    * that many sender processes (spawned, each its own interpreter, database pool and
      pacer, as separate ``bot.py`` processes would be), each built by
      ``delivery.runner.build_sender`` with ``LEARNBOT_WORKSPACE_RATE_PER_MINUTE`` set
      to ``--rate``: every process configured alike, the way an operator would. They
      start together and each runs one ``Sender.drain()`` (real clock, real sleep).

Figures, from the fake's log: achieved rate = posts delivered / (last delivery - start)
x 60; ratio = achieved / ``--rate``; 429s answered; duplicates (keys delivered more
than once) and lost (outbox keys never delivered, or rows not ``sent``). The default
rate, 1,200 a minute, is six times the bot's default (200), so that the 620 messages
take about 30 s a run; the ratio is what counts.
Peak memory: the largest peak RSS of a sender process (Linux ``VmHWM``).

The database: a temporary SQLite file, unless ``--database-url`` or ``DATABASE_URL``
names one (it must hold no people unless ``--reset`` is given; see bench.import_people).
Exit status 1 when a run misses the target.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, func, select, update

from bench.import_people import Refused, backend, prepare, remove_sqlite, say
from bench.plan_day import (
    DEFAULT_CONFIG,
    DEFAULT_DAY,
    plan_once,
    rss_peak,
    send_instants,
    set_up,
)
from bench.results import Figure, add_json_option, write_figures
from delivery.outbox import enqueue
from delivery.runner import build_sender
from learning.clock import SystemClock
from learning.paths import current_settings
from models import OutboxMessage, OutboxStatus
from models.db import Database, open_database
from platforms.base import routes
from platforms.slack import slack_platform
from platforms.slack.transport import build_slack_transport
from settings import Settings
from tests.fakes.slack_api import FakeSlack
from tests.outbox_support import deliveries, text_message

BENCHMARK = True  # `python -m bench` runs every bench module that sets this

MIN_RATIO = 0.9
START_TIMEOUT_S = 120.0  # for the sender processes to start (imports, connections)
_TABLE = OutboxMessage.__table__  # type: ignore[attr-defined]


# --- set-up --------------------------------------------------------------------------


def fill_outbox(db: Database, args: argparse.Namespace) -> list[int]:
    """The organisation, a day of digests, the channel posts; the rows' ids in send order."""
    day = date.fromisoformat(args.day)
    plan_args = argparse.Namespace(config=args.config, seed=args.seed, assignments=20)
    info = set_up(db, plan_args, args.people, day)
    with db.session() as session:
        settings = current_settings(session)
    assert settings is not None
    for instant in send_instants(info.zones, day, settings):
        plan_once(db, instant.at)
    now = datetime.now(UTC)
    posts = [
        text_message(
            f"bench-post:{n:05d}",
            f"C0BENCH{n % args.channels:03d}",
            at=now,
            text=f"Team update {n}: new material in the catalogue",
        )
        for n in range(args.posts)
    ]
    with db.session() as session:
        enqueue(session, posts, now=now)
    with db.engine.connect() as conn:
        rows = conn.execute(select(_TABLE.c.id, _TABLE.c.kind).order_by(_TABLE.c.id)).all()
    dms = [row.id for row in rows if row.kind != "plain"]
    channel_posts = [row.id for row in rows if row.kind == "plain"]
    order: list[int] = []
    every = max(1, len(dms) // max(1, len(channel_posts)))
    for index, message_id in enumerate(dms):
        order.append(message_id)
        if (index + 1) % every == 0 and channel_posts:
            order.append(channel_posts.pop(0))
    return order + channel_posts


def reset_outbox(db: Database, order: Sequence[int]) -> None:
    """Every row ``pending`` and due, in ``order`` (a microsecond apart), as never sent."""
    base = datetime.now(UTC) - timedelta(hours=1)
    statement = (
        update(_TABLE)
        .where(_TABLE.c.id == bindparam("row_id"))
        .values(
            status=OutboxStatus.PENDING,
            not_before=bindparam("due"),
            attempts=0,
            claimed_at=None,
            claimed_by=None,
            posted_message=None,
            posted_conversation=None,
            sent_at=None,
            last_error=None,
        )
    )
    with db.engine.begin() as conn:
        conn.execute(
            statement,
            [
                {"row_id": row_id, "due": base + timedelta(microseconds=n)}
                for n, row_id in enumerate(order)
            ],
        )


# --- the senders ---------------------------------------------------------------------


def sender_process(
    url: str, api_url: str, rate: int, worker: str, start: Any, results: Any
) -> None:
    """One sender process: build the sender, wait for the start, drain, report."""
    settings = Settings(
        database_url=url,
        slack_bot_token="xoxb-bench",
        slack_signing_secret="bench",
        slack_api_url=api_url,
        workspace_rate_per_minute=rate,
    )
    logging.getLogger("delivery").setLevel(logging.ERROR)  # 429s are counted, not logged
    db = open_database(url)
    try:
        with db.engine.connect():
            pass  # the pool's first connection, before the clock starts
        sender = build_sender(
            settings,
            db,
            routes([slack_platform(build_slack_transport(settings))]),
            clock=SystemClock(),
            sleep=time.sleep,
            worker=worker,
        )
        start.wait(START_TIMEOUT_S)
        started, cpu = time.perf_counter(), time.process_time()
        result = sender.drain()
        results.put(
            {
                "worker": worker,
                "sent": result.sent,
                "failed": result.failed,
                "rate_limited": result.rate_limited,
                "stopped": result.stopped,
                "seconds": time.perf_counter() - started,
                "cpu_s": time.process_time() - cpu,
                "rss_mib": rss_peak(),  # VmHWM: ru_maxrss would count the parent at fork
            }
        )
    finally:
        db.dispose()


@dataclass
class Run:
    """One drain with ``senders`` processes, and what the fake saw."""

    senders: int
    rate: int
    delivered: int = 0
    seconds: float = 0.0
    limited: int = 0
    duplicates: int = 0
    lost: int = 0
    not_sent: int = 0
    rss_mib: float = 0.0
    cpu_s: float = 0.0
    per_sender: list[dict[str, Any]] = field(default_factory=list)

    @property
    def achieved(self) -> float:
        return self.delivered / self.seconds * 60 if self.seconds else 0.0

    @property
    def ratio(self) -> float:
        return self.achieved / self.rate

    @property
    def passed(self) -> bool:
        return self.ratio >= MIN_RATIO and not (self.duplicates or self.lost or self.not_sent)


def drain_with(
    db: Database, fake: FakeSlack, args: argparse.Namespace, senders: int, keys: set[str]
) -> Run:
    fake.reset()
    fake.enforce_rate_limits("chat.postMessage", per_minute=args.rate)
    run = Run(senders, args.rate)
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(senders + 1)
    results = context.Queue()
    processes = [
        context.Process(
            target=sender_process,
            args=(
                str(db.engine.url.render_as_string(hide_password=False)),
                fake.base_url,
                args.rate,
                f"bench-sender-{n}",
                start,
                results,
            ),
        )
        for n in range(senders)
    ]
    for process in processes:
        process.start()
    try:
        start.wait(START_TIMEOUT_S)
    except threading.BrokenBarrierError:
        for process in processes:
            process.kill()
        raise Refused(f"the sender processes did not start within {START_TIMEOUT_S:g} s") from None
    started = time.monotonic()
    for process in processes:
        process.join()
    crashed = [process.exitcode for process in processes if process.exitcode]
    if crashed:
        raise Refused(f"sender processes exited with status {crashed} (see their traceback)")
    run.per_sender = [results.get(timeout=10) for _ in processes]
    posts = fake.calls_to("chat.postMessage")
    delivered = fake.landed("chat.postMessage")
    counts = deliveries(fake)
    run.delivered = len(delivered)
    run.seconds = max(call.at for call in delivered) - started if delivered else 0.0
    run.limited = sum(1 for call in posts if call.status == 429)
    run.duplicates = sum(count - 1 for count in counts.values() if count > 1)
    run.lost = len(keys - set(counts))
    with db.engine.connect() as conn:
        run.not_sent = conn.execute(
            select(func.count()).select_from(_TABLE).where(_TABLE.c.status != OutboxStatus.SENT)
        ).scalar_one()
    run.rss_mib = max(result["rss_mib"] for result in run.per_sender)
    run.cpu_s = sum(result["cpu_s"] for result in run.per_sender)
    return run


# --- the report ----------------------------------------------------------------------


def report(runs: Sequence[Run]) -> str:
    header = (
        "senders",
        "delivered",
        "seconds",
        "msg/min",
        "allowed",
        "ratio",
        "429s",
        "duplicates",
        "lost",
        "not sent",
        "senders' CPU s",
        "sender RSS MiB",
    )
    lines = [
        (
            str(run.senders),
            f"{run.delivered:,}",
            f"{run.seconds:.1f}",
            f"{run.achieved:,.0f}",
            f"{run.rate:,}",
            f"{run.ratio:.3f}",
            f"{run.limited:,}",
            str(run.duplicates),
            str(run.lost),
            str(run.not_sent),
            f"{run.cpu_s:.1f}",
            f"{run.rss_mib:.0f}",
        )
        for run in runs
    ]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def fmt(row: Sequence[str]) -> str:
        return "  ".join(cell.rjust(widths[i]) for i, cell in enumerate(row))

    return "\n".join(
        [fmt(header), fmt(["-" * width for width in widths]), *(fmt(row) for row in lines)]
    )


def figures(runs: Sequence[Run], messages: int) -> list[Figure]:
    rows = []
    for run in runs:
        name = f"outbox drain, {run.senders} sender{'s' if run.senders > 1 else ''}"
        rows.append(
            Figure(
                f"{name}: {messages:,} messages, achieved / allowed rate",
                f"{run.achieved:,.0f} / {run.rate:,} a minute = {run.ratio:.2f} "
                f"({run.limited:,} 429s)",
                f">= {MIN_RATIO:.2f}",
                run.ratio >= MIN_RATIO,
            )
        )
        rows.append(
            Figure(
                f"{name}: duplicates, lost",
                f"{run.duplicates}, {run.lost + run.not_sent}",
                "0, 0",
                not (run.duplicates or run.lost or run.not_sent),
            )
        )
    rows.append(
        Figure(
            "outbox drain: peak memory (a sender process's RSS)",
            f"{max(run.rss_mib for run in runs):.0f} MiB",
        )
    )
    return rows


# --- the command ---------------------------------------------------------------------


def parse_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give counts like 1,2,3") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("sender counts must be at least 1")
    return counts


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.drain",
        description=__doc__.split("\n\n")[0],
        epilog="What is measured, and how: see the docstring of bench/drain.py.",
    )
    parser.add_argument(
        "--people", type=int, default=600, help="people, hence digest DMs (default 600)"
    )
    parser.add_argument("--posts", type=int, default=30, help="channel posts (default 30)")
    parser.add_argument("--channels", type=int, default=6, help="channels (default 6)")
    parser.add_argument(
        "--rate",
        type=int,
        default=1200,
        help="posts a minute the fake allows and the senders are configured for (default 1200)",
    )
    parser.add_argument(
        "--senders", type=parse_counts, default=[1, 2, 3], help="sender counts (default 1,2,3)"
    )
    parser.add_argument("--seed", type=int, default=1, help="organisation generator seed")
    parser.add_argument(
        "--day", default=DEFAULT_DAY, help=f"the day planned (default {DEFAULT_DAY})"
    )
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="programs YAML")
    parser.add_argument(
        "--database-url", help="default: $DATABASE_URL, else a temporary SQLite file"
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="drop learnbot's tables in that database first (deletes its data)",
    )
    add_json_option(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.people < 1 or args.channels < 1 or args.posts < 0 or args.rate < 1:
        print("error: --people, --channels and --rate must be at least 1", file=sys.stderr)
        return 2
    url = args.database_url or os.environ.get("DATABASE_URL", "").strip()
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="learnbot-bench-") as tmp:
        sqlite_file = None if url else Path(tmp) / "drain.db"
        db = open_database(url or f"sqlite:///{sqlite_file}")
        try:
            database = backend(db)
            say(
                f"learnbot bench: drain the outbox at {args.rate:,} posts a minute allowed; "
                f"database: {database}" + (f" ({db.url})" if url else ", temporary file")
            )
            prepare(db, reset=args.reset)
            started = time.perf_counter()
            order = fill_outbox(db, args)
            with db.engine.connect() as conn:
                keys = set(conn.execute(select(_TABLE.c.key)).scalars())
            say(
                f"set-up: {len(order):,} messages ({len(order) - args.posts:,} digest DMs, "
                f"{args.posts} posts to {args.channels} channels) in "
                f"{time.perf_counter() - started:.1f} s"
            )
            with FakeSlack() as fake:
                for senders in args.senders:
                    reset_outbox(db, order)
                    run = drain_with(db, fake, args, senders, keys)
                    runs.append(run)
                    say(
                        f"  {senders} sender(s): {run.delivered:,} delivered in "
                        f"{run.seconds:.1f} s = {run.achieved:,.0f}/min ({run.ratio:.2f} of "
                        f"{run.rate:,}), {run.limited:,} 429s, {run.duplicates} duplicates, "
                        f"{run.lost} lost, {run.not_sent} not sent"
                    )
        except Refused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            db.dispose()
            if sqlite_file:
                remove_sqlite(sqlite_file)
    say()
    say(report(runs))
    say()
    say(
        "msg/min: posts delivered / (last delivery - start) x 60; allowed: the fake's "
        "workspace budget, also each sender's configured rate (the fake allows bursts of "
        "a second's worth, so a ratio may pass 1 by a few %); not sent: outbox rows left in "
        "another status; CPU: the sender processes' user + system time while draining"
    )
    write_figures(args.json, "drain", database, figures(runs, len(order)))
    failed = [run for run in runs if not run.passed]
    for run in failed:
        print(
            f"FAIL: {run.senders} sender(s): ratio {run.ratio:.2f} (target >= "
            f"{MIN_RATIO}), {run.duplicates} duplicates, {run.lost + run.not_sent} lost",
            file=sys.stderr,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
