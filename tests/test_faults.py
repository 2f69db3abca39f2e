"""Fault injection: whatever Slack, the database or the process does, each message arrives once.

The guarantee, per fault, always counted from the fake Slack server's log
(``tests.outbox_support.deliveries``: every ``chat.postMessage`` Slack stored, including
one whose answer was lost on the way back) and cross-checked against the messages the
fake holds: **every outbox key is delivered exactly once: zero lost, zero duplicated.**

1. **429 storms** (``test_a_429_storm_...``): every call rate-limited for stretches of
   virtual time, several hundred messages over DMs and channels. Also: no call reaches the
   workspace inside a ``Retry-After`` pause, the budget and per-channel spacing hold, and
   all waiting happens on the virtual clock. Random 429s mixed with 503s:
   ``tests/test_sender.py::test_under_random_429s_and_503s_...``.
2. **5xx bursts and dropped connections** (``test_5xx_bursts_and_dropped_connections_...``):
   bursts of 500/503 on every method, random 5xx, connections dropped before Slack saw the
   request and *after* it stored the message (``FakeSlack.store_then_drop``, the case
   that duplicates messages in real life), on posts and on the lookups that check for an
   earlier attempt, with the sender's default retry budget.
   ``test_every_answer_lost_once_...`` loses the answer of every first post (DMs, channel
   posts, thread replies, group DMs): each is found, none is resent. When an outage
   outlasts the budget the message fails; ``test_a_message_given_up_in_an_outage_...``:
   the operator's ``outbox --retry-all-failed`` looks for it in Slack before resending.
3. **PostgreSQL restarted in the middle of a sweep**
   (``test_postgresql_restarted_in_the_middle_of_a_sweep_...``, slow, PostgreSQL only: it
   restarts the ``.ci/pg.sh`` cluster, and skips with the reason elsewhere). A restart
   while Slack holds a post's answer is absorbed (a new connection); a stop that outlasts
   the post fails that tick like a crash, and the rows it had claimed are settled after
   their lease, looked up in Slack first.
4. **SIGKILL of a sender at random points, 20 times in one run**
   (``test_twenty_sigkills_...``, slow): ``bot.py drain`` processes against one fake
   Slack, killed while Slack holds a post's answer, just after posts, in the middle of
   the crash lookups, or while starting; then one clean drain. A single kill, and the
   unit cases of rows left ``sending``: ``tests/test_sender_crash.py``.
5. **The clock jumping forward 3 days** (an outage):
   ``tests/test_nudges_e2e.py::test_a_clock_jump_of_three_days_sends_one_digest_not_three``
   reads the delivered keys from the fake's log: Thursday's digest once, Tuesday's and
   Wednesday's never.

Set ``LEARNBOT_FAULT_SEED`` to replay the random choices of scenarios 2 and 4 with
another seed.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from slack_sdk import WebClient
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from delivery.outbox import NewMessage
from learning.clock import FrozenClock, SystemClock
from models.db import Database
from models.tables import OutboxMessage, OutboxStatus, RecipientKind
from platforms.slack.transport import metadata_key, outbox_metadata
from schedules.lock import SchedulerLock
from schedules.tick import sweep
from tests.conftest import ON_POSTGRES, ROOT, SERVER_URL
from tests.fakes.slack_api import Body, Call, FakeSlack
from tests.outbox_support import (
    deliveries,
    dms,
    make_sender,
    outbox_key,
    put,
    rows,
    text_message,
)

EPSILON = 1e-3  # call stamps are float seconds since the epoch
SEED = int(os.environ.get("LEARNBOT_FAULT_SEED", "20260302"))


@pytest.fixture
def fake(clock):
    """A fake Slack stamping calls (and message ts) with the test's virtual clock."""
    with FakeSlack(time_source=lambda: clock.now().timestamp()) as server:
        yield server


# --- the guarantee ---------------------------------------------------------------------


def assert_each_delivered_once(fake: FakeSlack, keys: Iterable[str]) -> None:
    """Zero lost, zero duplicated, per the fake's log, and the log agrees with its store."""
    wanted = set(keys)
    counted = deliveries(fake)
    lost = sorted(wanted - set(counted))
    duplicated = {key: n for key, n in counted.items() if n > 1}
    unexpected = sorted(set(counted) - wanted)
    assert (lost, duplicated, unexpected) == ([], {}, []), (
        f"{len(lost)} lost, {len(duplicated)} duplicated, {len(unexpected)} unexpected"
    )
    stored = Counter(
        metadata_key(message)
        for messages in fake.all_messages().values()
        for message in messages
        if metadata_key(message) is not None
    )
    assert stored == counted, "the fake's call log and its stored messages disagree"


def assert_all_sent(db: Database) -> None:
    statuses = Counter(row.status for row in rows(db).values())
    assert statuses == Counter({OutboxStatus.SENT: sum(statuses.values())}), statuses


def assert_no_call_inside_a_pause(calls: list[Call]) -> None:
    """After a 429 with ``Retry-After: r`` at ``t``, nothing reaches Slack before ``t + r``."""
    resume = float("-inf")
    for call in calls:
        assert call.at >= resume - EPSILON, (
            f"{call.method} at {call.at} inside a Retry-After pause until {resume}"
        )
        if call.status == 429:
            resume = max(resume, call.at + float(call.response_headers["Retry-After"]))


def channel_posts(channels: int, per_channel: int, *, at: datetime) -> list[NewMessage]:
    return [
        text_message(f"post:C0FAULT{c}:{n}", f"C0FAULT{c}", at=at)
        for c in range(channels)
        for n in range(per_channel)
    ]


def keys_of(messages: Iterable[NewMessage]) -> list[str]:
    return [message.key for message in messages]


def during(
    clock: FrozenClock, start: datetime, *windows: tuple[float, float]
) -> Callable[[Body], bool]:
    """A ``when`` predicate: true while the virtual clock is in one of ``windows`` (seconds
    after ``start``)."""

    def inside(_body: Body) -> bool:
        elapsed = (clock.now() - start).total_seconds()
        return any(begin <= elapsed < end for begin, end in windows)

    return inside


# --- 1. 429 storms -----------------------------------------------------------------------


def refuse_real_sleep(seconds: float) -> None:
    raise AssertionError(f"slept {seconds} s of real time: waits belong to the virtual clock")


def test_a_429_storm_delays_but_delivers_each_message_once_and_no_call_breaks_a_pause(
    db, clock, fake, monkeypatch
):
    start = clock.now()
    messages = [*dms(200, at=start), *channel_posts(10, 10, at=start)]
    put(db, messages, now=start)
    # Two storms on every method: a minute of Retry-After 7 s, then a short one whose
    # Retry-After (45 s) outlasts it; between and after them Slack is fine.
    fake.rate_limit("*", retry_after=7, times=None, when=during(clock, start, (20, 80)))
    fake.rate_limit("*", retry_after=45, times=None, when=during(clock, start, (110, 115)))
    monkeypatch.setattr(time, "sleep", refuse_real_sleep)

    result = make_sender(db, fake, clock).drain()

    assert_each_delivered_once(fake, keys_of(messages))
    assert_all_sent(db)
    calls = fake.calls
    limited = [call for call in calls if call.status == 429]
    assert result.rate_limited == len(limited) >= 60 // 7
    assert result.failed == 0 and result.retried == 0  # a 429 is not a failed attempt
    assert_no_call_inside_a_pause(calls)
    # The 45 s pause really held: nothing between the storm's first 429 and 45 s later.
    [long_pause] = [call for call in limited if call.response_headers["Retry-After"] == "45"]
    assert min(c.at for c in calls if c.at > long_pause.at) >= long_pause.at + 45 - EPSILON
    # Pacing survived the storm: the workspace budget in every minute, 1 s per channel.
    posts = [call for call in calls if call.method == "chat.postMessage"]
    stamps = [call.at for call in posts]
    assert max(sum(1 for t in stamps if s <= t < s + 60 - EPSILON) for s in stamps) <= 200
    by_channel: dict[str, list[float]] = defaultdict(list)
    for call in posts:
        by_channel[call.body["channel"]].append(call.at)
    for channel_stamps in by_channel.values():
        assert all(b - a >= 1 - EPSILON for a, b in itertools.pairwise(channel_stamps))
    # Minutes of waiting, all of it virtual (a real sleep fails the test).
    assert clock.now() - start >= timedelta(minutes=2, seconds=30)


# --- 2. 5xx bursts and dropped connections ---------------------------------------------


def test_5xx_bursts_and_dropped_connections_lose_and_duplicate_nothing(db, clock, fake):
    start = clock.now()
    messages = [*dms(250, at=start), *channel_posts(5, 10, at=start)]
    put(db, messages, now=start)
    # Bursts on every method (posts, lookups, conversations.open): 15 s of 503, 10 s of
    # dropped connections, 10 s of 500 ...
    fake.server_error("*", status=503, times=None, when=during(clock, start, (30, 45)))
    fake.drop_connection("*", times=None, when=during(clock, start, (70, 80)))
    fake.server_error("*", status=500, times=None, when=during(clock, start, (100, 110)))
    # ... and, all along, random faults on every call, including the answer of a stored
    # post being lost (and the same for the lookups that check for an earlier attempt).
    fake.fault_rate(
        "*",
        ratelimit=0.02,
        server_error=0.08,
        drop=0.05,
        store_then_drop=0.08,
        retry_after=2,
        seed=SEED,
    )

    # The production retry budget (Sender's defaults): it must outlast the bursts.
    result = make_sender(db, fake, clock).drain()

    assert_each_delivered_once(fake, keys_of(messages))
    assert_all_sent(db)
    posts = fake.calls_to("chat.postMessage")
    faults = Counter(
        "stored, answer lost"
        if call.dropped and call.landed
        else "dropped"
        if call.dropped
        else call.status
        for call in posts
        if not call.ok
    )
    assert faults["stored, answer lost"] >= 15 and faults["dropped"] >= 10, faults
    assert faults[500] >= 3 and faults[503] >= 10, faults
    lookups = fake.calls_to("conversations.history")
    assert sum(1 for call in lookups if not call.ok) >= 3
    # Every lost answer was found by the retry's lookup, never posted again.
    assert result.already_sent == faults["stored, answer lost"]
    assert result.sent + result.already_sent == len(messages)
    assert result.failed == 0
    assert_no_call_inside_a_pause(fake.calls)


def test_every_answer_lost_once_is_found_in_slack_and_never_posted_again(db, clock, fake):
    start = clock.now()
    put(db, [text_message("prompt:1", "C0COMMUNITY", at=start)], now=start)
    make_sender(db, fake, clock).drain()
    parent = rows(db)["prompt:1"].posted_message
    reply = NewMessage(
        key="intro:1",
        kind="plain",
        recipient_kind=RecipientKind.THREAD,
        recipient="C0COMMUNITY",
        thread_parent=parent,
        payload={"text": "in the thread"},
        not_before=start,
    )
    messages = [
        *dms(40, at=start),
        *channel_posts(3, 5, at=start),
        text_message("pair:1", "U0LEARN,U0MENTOR", at=start),
        reply,
    ]
    put(db, messages, now=start)

    def first_post(body: Body) -> bool:
        # Under the fake's lock: has Slack got this message already?
        key = metadata_key(body)
        return not any(metadata_key(m) == key for ms in fake.all_messages().values() for m in ms)

    fake.store_then_drop("chat.postMessage", times=None, when=first_post)

    result = make_sender(db, fake, clock).drain()

    assert_each_delivered_once(fake, ["prompt:1", *keys_of(messages)])
    assert (result.sent, result.already_sent, result.failed) == (0, len(messages), 0)
    assert all(call.dropped for call in fake.calls_to("chat.postMessage")[1:])
    stored = rows(db)
    assert {row.status for row in stored.values()} == {OutboxStatus.SENT}
    # The outbox points at the copy Slack has, found in the thread for the reply.
    [in_thread] = [m for m in fake.messages("C0COMMUNITY") if m.get("thread_ts") == parent]
    assert stored["intro:1"].posted_message == in_thread["ts"]
    assert fake.calls_to("conversations.replies")


def test_a_message_given_up_in_an_outage_is_looked_up_before_an_operator_resends_it(
    db, clock, fake, cli
):
    # Slack stores the first post but its answer is lost, then every lookup for it fails
    # until the sender gives up: Slack has the message, the outbox says "failed".
    put(db, dms(2, at=clock.now()), now=clock.now())
    fake.store_then_drop("chat.postMessage", when=lambda b: b.get("channel") == "U000")
    fake.server_error("conversations.history", times=None)
    result = make_sender(db, fake, clock, max_attempts=3).drain()
    assert (result.sent, result.failed) == (1, 1)
    [landed] = fake.messages("U000")
    fake.clear_faults()

    # The operator does what `outbox` suggests once Slack is fine again.
    retried = cli("outbox", "--retry-all-failed")
    assert retried.code == 0, retried.err
    result = make_sender(db, fake, clock).drain()

    assert (result.sent, result.already_sent) == (0, 1)
    assert_each_delivered_once(fake, ["dm:U000", "dm:U001"])
    assert rows(db)["dm:U000"].posted_message == landed["ts"]


def test_the_fake_can_store_a_post_then_lose_its_answer_or_hold_it(clock, fake):
    client = WebClient(token="xoxb-test", base_url=fake.base_url, retry_handlers=[])
    fake.store_then_drop("chat.postMessage")
    with pytest.raises(ConnectionError):  # not a SlackApiError: no answer at all
        client.chat_postMessage(channel="U1", text="one", metadata=outbox_metadata("k1"))
    [call] = fake.calls_to("chat.postMessage")
    assert call.dropped and call.landed and not call.ok and call.response is None
    assert call.unsent_response is not None and call.unsent_response["ok"] is True
    assert [m["text"] for m in fake.messages("U1")] == ["one"]

    seen: list[tuple[str, int]] = []
    fake.before_answer(
        "chat.postMessage", lambda c: seen.append((c.body["text"], len(fake.messages("U1"))))
    )
    answer = client.chat_postMessage(channel="U1", text="two", metadata=outbox_metadata("k2"))
    assert answer["ok"] and seen == [("two", 2)]  # the hook ran with the message stored
    assert deliveries(fake) == {"k1": 1, "k2": 1}
    assert [outbox_key(c) for c in fake.delivered()] == ["k2"]


# --- 3. PostgreSQL restarted in the middle of a sweep ----------------------------------


@dataclass(frozen=True)
class PgCluster:
    """The throwaway cluster ``.ci/pg.sh`` started (``PG_CI_DIR``), driven with ``pg_ctl``."""

    directory: Path
    bindir: Path
    port: int

    @classmethod
    def of_this_run(cls) -> PgCluster:
        """The cluster behind ``DATABASE_URL``, or ``pytest.skip`` saying why not."""
        if not ON_POSTGRES:
            pytest.skip("restarting PostgreSQL needs DATABASE_URL on the .ci/pg.sh cluster")
        directory = Path(os.environ.get("PG_CI_DIR", ""))
        if not os.environ.get("PG_CI_DIR") or not (directory / "data").is_dir():
            pytest.skip("PG_CI_DIR is not set: DATABASE_URL is not a .ci/pg.sh cluster")
        try:
            url = (directory / "url").read_text().strip()
            bindir = Path((directory / "bindir").read_text().strip())
        except OSError as exc:
            pytest.skip(f"{directory} is not a .ci/pg.sh cluster: {exc}")
        if make_url(url) != make_url(SERVER_URL):
            pytest.skip(f"DATABASE_URL is not the cluster in {directory}; not restarting it")
        if os.geteuid() == 0 and directory.owner() != "root" and not shutil.which("runuser"):
            pytest.skip("running as root without runuser: cannot run pg_ctl as postgres")
        port = make_url(url).port
        assert port is not None
        return cls(directory, bindir, port)

    def pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / "pg_ctl"), "-D", str(self.directory / "data"), *args]
        if os.geteuid() == 0 and self.directory.owner() != "root":
            command = ["runuser", "-u", self.directory.owner(), "--", *command]
        # -l sends the server's output to its log: a server writing to our pipe would keep
        # it open, and this call would never return.
        return subprocess.run(
            command, cwd=self.directory, capture_output=True, text=True, timeout=120, check=check
        )

    def restart(self) -> None:
        self.pg_ctl("-l", str(self.directory / "server.log"), "-m", "fast", "-w", "restart")

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "-w", "stop")

    def start(self) -> None:
        log = str(self.directory / "server.log")
        self.pg_ctl("-l", log, "-o", f"-p {self.port}", "-w", "start")

    def running(self) -> bool:
        return self.pg_ctl("status", check=False).returncode == 0


@pytest.mark.slow
def test_postgresql_restarted_in_the_middle_of_a_sweep_loses_and_duplicates_nothing(
    db, clock, fake
):
    cluster = PgCluster.of_this_run()
    assert cluster.running()
    start = clock.now()
    messages = [*dms(160, at=start), *channel_posts(4, 10, at=start)]
    put(db, messages, now=start)
    lease = timedelta(minutes=5)
    sender = make_sender(db, fake, clock, lease=lease, batch_size=20)
    lock = SchedulerLock(db)
    outages: list[str] = []

    def restart(call: Call) -> None:
        # Slack has stored this post and the sender waits for the answer: the server goes
        # away and comes back before the sender writes "sent" (a new connection is made).
        outages.append(f"restart during {outbox_key(call)}")
        cluster.restart()

    def stop(call: Call) -> None:
        # Down until after the answer: recording "sent" fails and the tick dies like a
        # crashed sender, leaving this row and the rest of its batch "sending".
        outages.append(f"stop during {outbox_key(call)}")
        cluster.stop()

    fake.before_answer("chat.postMessage", restart, when=lambda b: metadata_key(b) == "dm:U040")
    fake.before_answer("chat.postMessage", stop, when=lambda b: metadata_key(b) == "dm:U120")

    failed_ticks: list[str] = []
    reconciled = []
    try:
        # The scheduler: a sweep every minute; a tick that raises is logged and the next
        # one runs (APScheduler's behaviour), here once the server is back.
        for _ in range(30):
            try:
                result = sweep(db, clock, sender=sender, lock=lock)
            except DBAPIError as exc:
                failed_ticks.append(type(exc.orig).__name__)
                if not cluster.running():
                    cluster.start()
            else:
                assert result.delivery is not None
                reconciled.append(result.delivery.reconciled)
                if _count(db, OutboxStatus.SENT) == len(messages):
                    break
            clock.advance(timedelta(minutes=1))
        # The lock's session died with the restart (and the advisory lock with it): the
        # process noticed and took it again, so no other process could plan beside it.
        assert lock.acquire()
        assert not SchedulerLock(db).acquire()
    finally:
        if not cluster.running():
            cluster.start()
        lock.release()

    assert fake.errors == []  # pg_ctl did its part
    assert outages == ["restart during dm:U040", "stop during dm:U120"]
    assert len(failed_ticks) == 1, failed_ticks
    assert_each_delivered_once(fake, keys_of(messages))
    assert_all_sent(db)
    # dm:U120 was found in Slack after its lease, not posted again; the rest of its batch
    # was claimed but never tried: not in Slack, so sent now.
    found = sum(r.found_sent for r in reconciled)
    requeued = sum(r.requeued for r in reconciled)
    assert found == 1 and requeued >= 1, reconciled
    assert sum(r.unchecked + r.failed for r in reconciled) == 0


def _count(db: Database, status: str) -> int:
    with db.session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == status)
            )
            or 0
        )


# --- 4. SIGKILL of a sender at random points, 20 times ---------------------------------

KILL_ROUNDS = 20


@dataclass
class KillRound:
    """One ``bot.py drain`` process and where it was killed."""

    number: int
    mode: str
    at: int
    stored: int = 0  # posts Slack stored while it ran
    sending_after: int = 0  # rows it left "sending"

    def __str__(self) -> str:
        return (
            f"#{self.number} {self.mode}@{self.at}: {self.stored} stored, "
            f"{self.sending_after} left sending"
        )


class Killer:
    """Kills the current drain process from inside the fake, at its n-th matching call.

    The hook runs after Slack handled the call and before the answer is written, so a
    killed post is in Slack while its sender never learns so.
    """

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self._countdown: dict[str, int] = {}
        self._lock = threading.Lock()

    def arm(self, process: subprocess.Popen[bytes] | None, **countdown: int) -> None:
        with self._lock:
            self.process, self._countdown = process, dict(countdown)

    def hook(self, kind: str) -> Callable[[Call], None]:
        def on_call(_call: Call) -> None:
            with self._lock:
                left = self._countdown.get(kind)
                if left is None or self.process is None:
                    return
                self._countdown[kind] = left - 1
                if left > 1:
                    return
                process, self.process = self.process, None
            process.kill()
            process.wait(timeout=30)  # dead before its answer is written

        return on_call


@pytest.mark.slow
def test_twenty_sigkills_at_random_points_then_one_clean_drain_deliver_each_message_once(
    database_url, db, tmp_path
):
    rng = random.Random(SEED)
    now = SystemClock().now()
    # Enough that no process can finish by itself: a round stores at most ~12 posts.
    messages = [*dms(260, at=now), *channel_posts(4, 10, at=now)]
    put(db, messages, now=now)
    with FakeSlack(time_source=time.time) as fake:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": "x",
            "SLACK_API_URL": fake.base_url,
            "LEARNBOT_WORKSPACE_RATE_PER_MINUTE": "12000",
            "LEARNBOT_CHANNEL_INTERVAL_SECONDS": "0",
            # One sender at a time, and the last one is dead: its rows are stuck at once.
            "LEARNBOT_SEND_LEASE_SECONDS": "0",
        }
        command = [sys.executable, str(ROOT / "bot.py"), "drain"]
        killer = Killer()
        fake.before_answer("chat.postMessage", killer.hook("post"), times=None)
        fake.before_answer("conversations.history", killer.hook("lookup"), times=None)
        # Where each process dies (the order and the counts are drawn from the seed):
        #   in_flight  inside its n-th post, stored by Slack, the answer never read;
        #   after_post a moment after its n-th answered post: before or after it records
        #              "sent", while claiming, pacing or posting the next;
        #   in_lookup  inside its n-th crash lookup (conversations.history), i.e. while
        #              settling what the previous process left "sending";
        #   starting   a moment after it starts: importing, connecting, claiming.
        modes = ["in_flight"] * 6 + ["after_post"] * 6 + ["in_lookup"] * 4 + ["starting"] * 4
        rng.shuffle(modes)
        assert len(modes) == KILL_ROUNDS
        rounds: list[KillRound] = []
        for number, mode in enumerate(modes, 1):
            stored_before = sum(deliveries(fake).values())
            answered_before = len(fake.delivered())
            log = (tmp_path / f"drain-{number}.log").open("wb")
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
            log.close()
            at = rng.randint(1, 8)
            try:
                if mode == "in_flight":
                    killer.arm(process, post=at)
                elif mode == "in_lookup":
                    at = rng.randint(1, 3)
                    killer.arm(process, lookup=at, post=rng.randint(1, 4))  # posts: a backstop
                elif mode == "starting":
                    killer.arm(process, post=at)  # a backstop, should it start up quickly
                else:
                    killer.arm(process)
                if mode in ("after_post", "starting"):
                    if mode == "after_post":
                        fake.wait_for_calls(
                            "chat.postMessage", answered_before + at, timeout=60, where=_ok
                        )
                    # A random moment: up to 30 ms after that post, or 0.05-0.9 s after the
                    # start (waiting on the process, which is not expected to end by itself).
                    moment = (
                        rng.uniform(0, 0.03) if mode == "after_post" else rng.uniform(0.05, 0.9)
                    )
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        process.wait(timeout=moment)
                    process.kill()
                process.wait(timeout=60)
            finally:
                if process.poll() is None:  # a failed wait above: never leave it running
                    process.kill()
                    process.wait(timeout=30)
            this = KillRound(number, mode, at)
            this.stored = sum(deliveries(fake).values()) - stored_before
            this.sending_after = _count(db, OutboxStatus.SENDING)
            rounds.append(this)
            log_text = (tmp_path / f"drain-{number}.log").read_text(errors="replace")
            assert process.returncode == -signal.SIGKILL, f"{this}\n{log_text}"
        killer.arm(None)
        fake.clear_faults()

        final = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        history = "\n".join(map(str, rounds))
        assert final.returncode == 0, f"{final.stdout}{final.stderr}\n{history}"
        assert_each_delivered_once(fake, keys_of(messages))
        assert fake.errors == []
    assert_all_sent(db)
    # The kills left work behind for the next process to settle, including posts Slack
    # had stored without their sender knowing.
    assert sum(r.sending_after > 0 for r in rounds) >= 10, history
    assert sum(r.stored > 0 for r in rounds if r.mode == "in_flight") == 6, history


def _ok(call: Call) -> bool:
    return call.ok
