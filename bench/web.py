"""Benchmark: the web server through real HTTP, under attack and under load.

    python -m bench.web [--people 10000] [--clients 50] [--seconds 60] [--think-ms 2000]
                        [--database-url URL] [--reset] [--json PATH]

The bot runs as it does in production, ``python bot.py run`` in its own process
(uvicorn on 127.0.0.1), against the tests' fake Slack Web API served from this process.

Set-up (not measured): the ``bench.interactions`` organisation (``--people``, 20
assignments each, on a temporary SQLite file or ``--database-url``), and today's digest
DM posted to the fake for ``--learners`` learners, so that a Done click carries a real
message.

1. **Attack** (a web process, ``run --no-scheduler``): over raw sockets, a body declared
   as 300 MB, one with ``Content-Length: -1`` and a chunked 300 MB one, each streamed from
   a generator: the time from the first byte sent to the refusal (the status read, or the
   connection reset) and the bytes the client managed to send (the cap is 1 MB; the
   rest is the two kernels' socket buffers). The server's resident memory is sampled
   from ``/proc`` every 2 ms meanwhile: its growth over the value before. Then 500 idle
   connections are opened and held while 20 signed requests are timed, and malformed
   unsigned bodies are sent (each must get a 4xx).
2. **Load** (``run --tick-minutes 1``, the scheduler in the same process): once the
   scheduler's start-up pass (enrollment, planning, escalations: a one-off, like a
   deploy) has ended, ``--clients`` threads, each a person acting in Slack: it sends one
   signed request, waits for the answer, thinks a random 0 to 2x ``--think-ms``, and
   again, for ``--seconds``; the scheduler plans again and sends meanwhile (a tick of
   one minute). With the defaults that is 50 people acting at once, each about every 2
   s: up to 25 requests a second, three times the busiest minute expected at 10,000
   people (5% of them clicking Done in the minute their digest lands). Each request is
   drawn from ``MIX``: Done clicks
   (``block_actions``; the ack is empty, the modal opens after it) and ``/learn``
   commands, reading (summary, due, help, certs) and writing (snooze, done, kudos). A
   ``/learn`` command that reads answers in its ack (within
   ``LEARNBOT_ACK_BUDGET_SECONDS``); one that writes acks at once, empty, and answers
   through ``response_url`` (pointed at the fake, which timestamps each answer). Latency
   is from sending the request to reading the whole response (the ack), on a keep-alive
   connection per client; for writes also to the answer's arrival.

Targets (exit status 1 if missed): Done ack p99 and ``/learn`` p99 under 100 ms, each
refusal under 1 s, the server's memory growth during the refusals under 10 MB, every
request of the load answered 200, and no ERROR in the server's log.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier
from sqlalchemy import select

from bench.import_people import Refused, backend, prepare, remove_sqlite, say
from bench.interactions import (
    DEFAULT_CONFIG,
    Dm,
    Series,
    done_action,
    percentile,
    results_table,
    send_dms,
    set_up,
)
from bench.results import Figure, add_json_option, write_figures
from learning.clock import FrozenClock, SystemClock
from models import Assignment, AssignmentStatus, Item
from models.db import Database, open_database
from settings import Settings
from tests.fakes.slack_api import TEAM_ID, FakeSlack

BENCHMARK = True

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-signing-secret"
TARGET_P99_MS = 100.0
TARGET_REFUSAL_MS = 1000.0
TARGET_GROWTH_MB = 10.0
HUGE = 300 * 1000 * 1000
CHUNK = 64 * 1024
IDLE_CONNECTIONS = 500
START_WAIT_S = 120.0
STOP_WAIT_S = 30.0
ANSWERS = "response_url.answer"  # the fake's "method" that response_url posts reach
MB = 1000 * 1000

# The defined mix of the load: (kind, weight). Writes change the database.
MIX: tuple[tuple[str, int], ...] = (
    ("Done click", 40),
    ("/learn", 15),
    ("/learn due", 15),
    ("/learn help", 5),
    ("/learn certs", 5),
    ("/learn snooze ITEM 1d", 10),
    ("/learn done ITEM", 5),
    ("/learn kudos @someone for REASON", 5),
)
WRITES = frozenset(
    {"/learn snooze ITEM 1d", "/learn done ITEM", "/learn kudos @someone for REASON"}
)


# --- the bot process ------------------------------------------------------------------------


class Bot:
    """``python bot.py run ...`` in its own process, its log in a file."""

    def __init__(self, args: Sequence[str], *, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.role = " ".join(args) or "run"
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self._out = open(log_path.with_suffix(".out"), "wb")  # noqa: SIM115 - closed in stop()
        command = [sys.executable, str(ROOT / "bot.py"), "run", "--host", "127.0.0.1"]
        self.popen = subprocess.Popen(
            [*command, "--port", str(self.port), *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=self._log,
        )
        deadline = time.monotonic() + START_WAIT_S
        while not self._healthy():
            if self.popen.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise Refused(f"bot.py run did not start; its log:\n{self.log_tail()}")
            time.sleep(0.1)

    def _healthy(self) -> bool:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            connection.request("GET", "/health")
            return connection.getresponse().status == 200
        except OSError:
            return False

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def cpu_seconds(self) -> float:
        """User and system CPU time the process has used so far."""
        fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def metrics(self) -> dict[str, float]:
        from delivery.metrics import parse

        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request("GET", "/metrics")
        return parse(connection.getresponse().read().decode())

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self._log.close()
        self._out.close()
        return self.popen.returncode

    def wait_for_startup_pass(self) -> float:
        """Wait (bounded) for the scheduler's first enrollment and planning; seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < START_WAIT_S * 5:
            planned = self.metrics().get("learnbot_planning_duration_seconds_count", 0)
            enrolled = any('"schedules.enrollment"' in line for line in self.log_lines())
            if planned >= 1 and enrolled:
                return time.monotonic() - started
            time.sleep(0.2)
        raise Refused(f"the scheduler's first pass did not end; the log:\n{self.log_tail()}")

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()

    def errors(self) -> list[str]:
        found = []
        for line in self.log_lines():
            try:
                event = json.loads(line)
            except ValueError:
                found.append(f"not a JSON log line: {line[:200]}")
                continue
            if event.get("level") in ("ERROR", "CRITICAL"):
                found.append(f"{event.get('logger')}: {str(event.get('message'))[:200]}")
        return found

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_lines()[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bot_env(url: str, fake: FakeSlack, extra: Sequence[str] = ()) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LEARNBOT_"))}
    env.update(
        DATABASE_URL=url,
        SLACK_BOT_TOKEN="xoxb-bench",
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake.base_url,
        LOG_FORMAT="json",
        LEARNBOT_LOG_LEVEL="INFO",
    )
    env.update(item.split("=", 1) for item in extra)  # type: ignore[arg-type]
    return env


# --- signed requests --------------------------------------------------------------------------


_verifier = SignatureVerifier(SECRET)


def signed_headers(body: bytes, content_type: str) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": _verifier.generate_signature(timestamp=stamp, body=body) or "",
    }


def command_body(text: str, *, user_id: str, response_url: str, trigger: int) -> bytes:
    return urlencode(
        {
            "token": "legacy",
            "team_id": TEAM_ID,
            "team_domain": "acme",
            "channel_id": "D0CHANNEL",
            "channel_name": "directmessage",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": "/learn",
            "text": text,
            "api_app_id": "A0APP",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": f"trigger-{trigger}",
        }
    ).encode()


def click_body(dm: Dm, message: dict[str, Any], assignment_id: int, *, trigger: int) -> bytes:
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM_ID, "domain": "acme"},
        "api_app_id": "A0APP",
        "token": "legacy",
        "trigger_id": f"trigger-{trigger}",
        "user": {"id": dm.slack_user_id, "team_id": TEAM_ID},
        "actions": [{"action_ts": f"{time.time():.6f}", **done_action(assignment_id)}],
        "response_url": "https://hooks.slack.test/actions/1",
        "container": {"type": "message", "message_ts": dm.ts, "channel_id": dm.channel},
        "channel": {"id": dm.channel},
        "message": message,
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


# --- 1. attack ------------------------------------------------------------------------------


@dataclass
class Refusal:
    name: str
    ms: float
    sent: int
    status: int | None


class RssSampler:
    """The bot's resident memory every 2 ms, in a thread, while ``with`` lasts."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.before_kib = bot.rss_kib()
        self.peak_kib = self.before_kib
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            self.peak_kib = max(self.peak_kib, self.bot.rss_kib())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak_kib - self.before_kib) * 1024 / MB


def zeros(total: int) -> Iterator[bytes]:
    chunk = b"0" * CHUNK
    for _ in range(total // CHUNK):
        yield chunk


def chunked(total: int) -> Iterator[bytes]:
    for chunk in zeros(total):
        yield b"%x\r\n%s\r\n" % (len(chunk), chunk)
    yield b"0\r\n\r\n"


def refuse(port: int, name: str, head: bytes, body: Iterator[bytes]) -> Refusal:
    """Send ``head`` and stream ``body`` until the server refuses; time it."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sent = 0
    status: int | None = None
    started = time.perf_counter()
    try:
        sock.sendall(head)
        sock.setblocking(False)
        for chunk in body:
            reply = _poll_reply(sock)
            if reply is not None:
                status = reply
                break
            view = memoryview(chunk)
            while view:
                try:
                    view = view[sock.send(view) :]
                except BlockingIOError:
                    reply = _wait_reply(sock)
                    if reply is not None:
                        status = reply
                        raise _Done from None
            sent += len(chunk)
        else:
            status = _wait_reply(sock, timeout=30)
    except (_Done, ConnectionResetError, BrokenPipeError):
        pass
    elapsed = (time.perf_counter() - started) * 1000
    sock.close()
    return Refusal(name, elapsed, sent, status)


class _Done(Exception):
    pass


def _poll_reply(sock: socket.socket) -> int | None:
    try:
        data = sock.recv(4096)
    except BlockingIOError:
        return None
    if not data:
        raise _Done
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0


def _wait_reply(sock: socket.socket, timeout: float = 1.0) -> int | None:
    import select as select_module

    readable, _, _ = select_module.select([sock], [], [], timeout)
    return _poll_reply(sock) if readable else None


def attack(bot: Bot, results: Results) -> None:
    port = bot.port
    post = b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    with RssSampler(bot) as sampler:
        results.refusals = [
            refuse(
                port,
                "300 MB body (Content-Length)",
                post + b"Content-Length: %d\r\n\r\n" % HUGE,
                zeros(HUGE),
            ),
            refuse(port, "Content-Length: -1", post + b"Content-Length: -1\r\n\r\n", zeros(HUGE)),
            refuse(
                port,
                "300 MB chunked body",
                post + b"Transfer-Encoding: chunked\r\n\r\n",
                chunked(HUGE),
            ),
        ]
    results.growth_mb = sampler.growth_mb
    for refusal in results.refusals:
        if refusal.status not in (400, 413, None):
            results.problems.append(f"{refusal.name}: answered {refusal.status}")

    before = bot.rss_kib()
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(IDLE_CONNECTIONS)]
    try:
        series = Series(f"signed request, {IDLE_CONNECTIONS} idle connections open")
        body = json.dumps({"type": "url_verification", "challenge": "c", "token": "x"}).encode()
        for _ in range(20):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            started = time.perf_counter()
            connection.request(
                "POST", "/slack/events", body, signed_headers(body, "application/json")
            )
            status = connection.getresponse().status
            series.ms.append((time.perf_counter() - started) * 1000)
            connection.close()
            if status != 200:
                results.problems.append(f"signed request with idle connections: {status}")
        results.idle_growth_mb = (bot.rss_kib() - before) * 1024 / MB
        series.note = f"server RSS +{results.idle_growth_mb:.1f} MB for the idle connections"
        results.rows.append(series)
    finally:
        for sock in idle:
            sock.close()

    malformed = Series("malformed unsigned bodies (401)")
    for body, kind in (
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"payload=%7Bnot+json", "application/x-www-form-urlencoded"),
        (b"\xff\xfe", "application/json"),
    ):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        started = time.perf_counter()
        connection.request("POST", "/slack/events", body, {"Content-Type": kind})
        status = connection.getresponse().status
        malformed.ms.append((time.perf_counter() - started) * 1000)
        connection.close()
        if not 400 <= status < 500:
            results.problems.append(f"a malformed unsigned body got {status}")
    results.rows.append(malformed)


# --- 2. load --------------------------------------------------------------------------------


@dataclass
class Sample:
    kind: str
    ms: float
    status: int
    late: bool
    rid: int = 0  # the request's id in its response_url
    sent_at: float = 0.0  # time.monotonic() when it was sent (the fake's clock)


@dataclass
class Person:
    dm: Dm
    message: dict[str, Any]
    open_items: list[str]


class Workload:
    """Draws the next request of ``MIX`` for a client; thread-safe."""

    def __init__(self, people: Sequence[Person], response_url: str) -> None:
        self.people = people
        self.response_url = response_url
        self._lock = threading.Lock()
        self._trigger = 0
        kinds, weights = zip(*MIX, strict=True)
        self._kinds = list(kinds)
        self._weights = list(weights)

    def next(self, rng: random.Random, mine: Sequence[Person]) -> tuple[str, bytes, int]:
        kind = rng.choices(self._kinds, self._weights)[0]
        person = rng.choice(mine)
        with self._lock:
            self._trigger += 1
            trigger = self._trigger
            item = (
                person.open_items.pop()
                if kind == "/learn done ITEM" and person.open_items
                else None
            )
            snooze = rng.choice(person.open_items) if person.open_items else None
        if kind == "Done click":
            assignment_id = rng.choice(person.dm.clickable)[0]
            body = click_body(person.dm, person.message, assignment_id, trigger=trigger)
            return kind, body, trigger
        text = {
            "/learn": "",
            "/learn due": "due",
            "/learn help": "help",
            "/learn certs": "certs",
            "/learn snooze ITEM 1d": f"snooze {snooze or 'nothing'} 1d",
            "/learn done ITEM": f"done {item or 'nothing'}",
            "/learn kudos @someone for REASON": (
                f"kudos <@{rng.choice(self.people).dm.slack_user_id}> for helping with the release"
            ),
        }[kind]
        body = command_body(
            text,
            user_id=person.dm.slack_user_id,
            response_url=f"{self.response_url}?rid={trigger}",
            trigger=trigger,
        )
        return kind, body, trigger


def client(
    port: int,
    workload: Workload,
    mine: Sequence[Person],
    *,
    seed: int,
    think_s: float,
    start: threading.Barrier,
    deadline_box: list[float],
    samples: list[Sample],
    failures: list[str],
) -> None:
    rng = random.Random(seed)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    start.wait()
    time.sleep(rng.uniform(0, think_s))  # spread the first requests
    while time.perf_counter() < deadline_box[0]:
        kind, body, rid = workload.next(rng, mine)
        headers = signed_headers(body, "application/x-www-form-urlencoded")
        sent_at = time.monotonic()
        started = time.perf_counter()
        try:
            connection.request("POST", "/slack/events", body, headers)
            response = connection.getresponse()
            reply = response.read()
        except (OSError, http.client.HTTPException) as exc:
            failures.append(f"{kind}: {type(exc).__name__}: {exc}")
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        elapsed = (time.perf_counter() - started) * 1000
        samples.append(
            Sample(kind, elapsed, response.status, b"Working on it" in reply, rid, sent_at)
        )
        time.sleep(rng.uniform(0, 2 * think_s))
    connection.close()


def people_for(db: Database, dms: Sequence[Dm], fake: FakeSlack) -> list[Person]:
    """Each DM's learner with their open items' keys (for /learn done and snooze)."""
    by_person: dict[int, list[str]] = {dm.person_id: [] for dm in dms}
    with db.session() as session:
        for person_id, key in session.execute(
            select(Assignment.person_id, Item.key)
            .join(Item, Item.id == Assignment.item_id)
            .where(
                Assignment.person_id.in_(list(by_person)),  # type: ignore[attr-defined]
                Assignment.status == AssignmentStatus.OPEN,
            )
        ):
            by_person[person_id].append(key)
    return [Person(dm, fake.messages(dm.channel)[-1], by_person[dm.person_id]) for dm in dms]


@dataclass
class LoadRun:
    """One load phase: a layout, its samples, what the scheduler did meanwhile."""

    layout: str
    samples: list[Sample] = field(default_factory=list)
    seconds: float = 0.0
    planned: float = 0.0
    sent: float = 0.0
    answers: Series | None = None

    def ms(self, predicate: Callable[[Sample], bool]) -> list[float]:
        return [s.ms for s in self.samples if predicate(s)]


LAYOUTS = {
    # name: (the web process's arguments, the scheduler process's, or None: the same one)
    "single": (["--tick-minutes", "1"], None),
    "split": (["--no-scheduler"], ["--no-listener", "--tick-minutes", "1"]),
}
LAYOUT_LABELS = {
    "single": "one process: web + scheduler",
    "split": "web process + scheduler process",
}


def load(
    web: Bot,
    scheduler: Bot,
    fake: FakeSlack,
    people: list[Person],
    args: argparse.Namespace,
    run: LoadRun,
    results: Results,
) -> None:
    label = LAYOUT_LABELS[run.layout]
    waited = scheduler.wait_for_startup_pass()
    results.facts.append(
        f"{label}: the scheduler's start-up pass (enrollment, planning, escalations) ended "
        f"{waited:.1f} s after the server answered; the load started then"
    )
    workload = Workload(people, f"{fake.base_url}{ANSWERS}")
    samples: list[Sample] = []
    failures: list[str] = []
    start = threading.Barrier(args.clients + 1)
    deadline_box = [0.0]
    share = max(1, len(people) // args.clients)
    threads = [
        threading.Thread(
            target=client,
            args=(web.port, workload, people[i * share : (i + 1) * share] or people),
            kwargs={
                "seed": args.seed * 1000 + i,
                "think_s": args.think_ms / 1000,
                "start": start,
                "deadline_box": deadline_box,
                "samples": samples,
                "failures": failures,
            },
            daemon=True,
        )
        for i in range(args.clients)
    ]
    for thread in threads:
        thread.start()
    fake.clear_calls()
    before = scheduler.metrics()
    cpu_before = web.cpu_seconds()
    deadline_box[0] = time.perf_counter() + args.seconds
    started = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join(args.seconds + 60)
    elapsed = time.perf_counter() - started
    clicks = sum(1 for s in samples if s.kind == "Done click")
    writes = [s for s in samples if s.kind in WRITES]
    answered_later = writes + [s for s in samples if s.late]
    with contextlib.suppress(AssertionError):  # counted below
        fake.wait_for_calls("views.open", clicks, timeout=60)
        fake.wait_for_calls(ANSWERS, len(answered_later), timeout=60)
    arrived = {int(call.body["rid"]): call.at for call in fake.calls_to(ANSWERS)}
    opened = len([c for c in fake.calls_to("views.open") if c.ok])
    cpu = web.cpu_seconds() - cpu_before
    after = scheduler.metrics()
    run.seconds = elapsed
    run.samples = samples
    if args.keep_logs:
        (Path(args.keep_logs) / f"samples-{run.layout}.json").write_text(
            json.dumps([dataclasses.asdict(sample) for sample in samples])
        )
    run.planned = after.get("learnbot_planning_duration_seconds_count", 0) - before.get(
        "learnbot_planning_duration_seconds_count", 0
    )
    run.sent = after.get("learnbot_messages_sent_total", 0) - before.get(
        "learnbot_messages_sent_total", 0
    )
    pending = after.get('learnbot_outbox_messages{status="pending"}', 0)
    results.facts.append(
        f"{label}: {len(samples)} requests from {args.clients} clients in {elapsed:.1f} s "
        f"({len(samples) / elapsed:.0f}/s; think time 0-{2 * args.think_ms:.0f} ms); "
        f"{opened} modals opened for {clicks} Done clicks; "
        f"{sum(1 for s in samples if s.late)} /learn reads answered late; "
        f"{len(arrived)} answers through response_url for {len(answered_later)} expected; "
        f"web process CPU {cpu:.1f} s ({cpu / max(len(samples), 1) * 1000:.1f} ms a request); "
        f"the scheduler meanwhile: {run.planned:.0f} planning passes, {run.sent:.0f} messages "
        f"sent, {pending:.0f} pending at the end"
    )
    for kind, _ in MIX:
        note = "write: empty ack" if kind in WRITES else "answer in the ack"
        note = "modal after the ack" if kind == "Done click" else note
        results.rows.append(
            Series(f"{run.layout}: {kind}", run.ms(lambda s, k=kind: s.kind == k), note)
        )
    run.answers = Series(f"{run.layout}: /learn writes: answer", note="at response_url")
    run.answers.ms = [(arrived[s.rid] - s.sent_at) * 1000 for s in writes if s.rid in arrived]
    results.rows.append(run.answers)
    results.loads.append(run)
    if len(arrived) < len(answered_later):
        results.problems.append(
            f"{label}: {len(arrived)} answers reached response_url for {len(answered_later)}"
        )
    bad = [s for s in samples if s.status != 200]
    if bad:
        results.problems.append(f"{label}: {len(bad)} requests answered non-200, first {bad[0]}")
    if failures:
        results.problems.append(f"{label}: {len(failures)} requests failed: {failures[0]}")
    if opened < clicks:
        results.problems.append(f"{label}: {opened} modals opened for {clicks} Done clicks")


# --- the results -------------------------------------------------------------------------


@dataclass
class Results:
    rows: list[Series] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    growth_mb: float = 0.0
    idle_growth_mb: float = 0.0
    loads: list[LoadRun] = field(default_factory=list)

    def figures(self, args: argparse.Namespace) -> list[Figure]:
        rows = []
        for refusal in self.refusals:
            rows.append(
                Figure(
                    f"web: {refusal.name} refused (status {refusal.status or 'reset'}, "
                    f"client sent {refusal.sent / MB:.1f} MB)",
                    f"{refusal.ms:.1f} ms",
                    f"under {TARGET_REFUSAL_MS:.0f} ms",
                    refusal.ms < TARGET_REFUSAL_MS,
                )
            )
        if self.refusals:
            rows.append(
                Figure(
                    "web: server memory growth during the three refusals (RSS)",
                    f"{self.growth_mb:.1f} MB",
                    f"under {TARGET_GROWTH_MB:.0f} MB",
                    self.growth_mb < TARGET_GROWTH_MB,
                )
            )
        idle = next((r for r in self.rows if "idle connections" in r.name), None)
        if idle is not None and idle.ms:
            rows.append(
                Figure(
                    f"web: signed request with {IDLE_CONNECTIONS} idle connections p50 / max",
                    f"{idle.p50:.1f} / {idle.max:.1f} ms",
                )
            )
        groups = (
            ("Done ack", lambda s: s.kind == "Done click", True),
            ("/learn mix ack", lambda s: s.kind != "Done click", True),
            ("/learn writes ack", lambda s: s.kind in WRITES, False),
        )
        for run in self.loads:
            where = f"{args.clients} clients, {LAYOUT_LABELS[run.layout]}"
            for label, predicate, targeted in groups:
                values = run.ms(predicate)
                if not values:
                    continue
                p99 = percentile(values, 99)
                rows.append(
                    Figure(
                        f"web: {label} p50 / p99 ({len(values)} requests, {where})",
                        f"{percentile(values, 50):.1f} / {p99:.1f} ms",
                        f"p99 under {TARGET_P99_MS:.0f} ms" if targeted else "",
                        p99 < TARGET_P99_MS if targeted else None,
                    )
                )
            if run.answers is not None and run.answers.ms:
                rows.append(
                    Figure(
                        f"web: /learn writes: answer at response_url p50 / p99 ({where})",
                        f"{run.answers.p50:.1f} / {run.answers.p99:.1f} ms",
                    )
                )
            rows.append(
                Figure(
                    f"web: load ({where})",
                    f"{len(run.samples) / run.seconds:.0f} requests/s; scheduler meanwhile "
                    f"{run.planned:.0f} planning passes, {run.sent:.0f} messages sent",
                )
            )
        return rows


# --- the command -------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.web",
        description=__doc__.split("\n\n")[0],
        epilog="What is measured, and how: see the docstring of bench/web.py.",
    )
    parser.add_argument("--people", type=int, default=10_000, help="default 10000")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (50)")
    parser.add_argument("--seconds", type=float, default=60.0, help="load duration (60)")
    parser.add_argument(
        "--think-ms",
        type=float,
        default=2000.0,
        help="mean pause between a client's requests (2000)",
    )
    parser.add_argument(
        "--learners", type=int, default=400, help="learners with a digest DM who act (400)"
    )
    parser.add_argument("--assignments", type=int, default=20, help="per person (default 20)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--database-url", help="default: $DATABASE_URL, else a temporary SQLite file"
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="drop learnbot's tables in that database first (deletes its data)",
    )
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help=argparse.SUPPRESS)
    parser.add_argument("--skip-attack", action="store_true", help="only the load phase")
    parser.add_argument(
        "--layouts",
        type=lambda text: [name for name in text.split(",") if name],
        default=list(LAYOUTS),
        help="load phases to run: single (one bot.py run: web + scheduler), split (a web "
        "process and a scheduler process); default single,split; empty: no load phase",
    )
    parser.add_argument("--keep-logs", metavar="DIR", help="keep the bot processes' logs here")
    parser.add_argument(
        "--bot-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="what-if: a setting for the bot processes, e.g. LEARNBOT_HTTP_THREADS=8",
    )
    add_json_option(parser)
    return parser


def bench_args(people: int) -> list[str]:
    return ["--people", str(people)]


def run(db: Database, url: str, args: argparse.Namespace, logs: Path, results: Results) -> None:
    clock = FrozenClock(SystemClock().now())
    say(f"set-up: {args.people:,} people, {args.assignments} assignments each ...")
    org = set_up(db, args, clock)
    say(f"set-up: {org.people:,} people, {org.assignments:,} assignments in {org.seconds:.1f} s")
    with FakeSlack() as fake:
        settings = Settings(
            database_url=url,
            slack_bot_token="xoxb-bench",
            slack_signing_secret=SECRET,
            slack_api_url=fake.base_url,
        )
        dms = send_dms(
            db, fake, settings, org, args.learners, random.Random(args.seed), clock.now()
        )
        people = people_for(db, dms, fake)
        say(f"set-up: {len(dms)} digest DMs posted to the fake")
        db.dispose()
        env = bot_env(url, fake, args.bot_env)
        if not args.skip_attack:
            say("1. attack: a web process (run --no-scheduler) ...")
            bot = Bot(["--no-scheduler"], env=env, log_path=logs / "attack.log")
            try:
                attack(bot, results)
            finally:
                status = bot.stop()
            _check_bot(bot, status, "attack", results)
        for layout in args.layouts:
            say(f"2. load ({LAYOUT_LABELS[layout]}): {args.clients} clients, {args.seconds:g} s")
            web_args, scheduler_args = LAYOUTS[layout]
            bots = [Bot(web_args, env=env, log_path=logs / f"load-{layout}-web.log")]
            if scheduler_args is not None:
                bots.append(
                    Bot(scheduler_args, env=env, log_path=logs / f"load-{layout}-scheduler.log")
                )
            try:
                load(bots[0], bots[-1], fake, people, args, LoadRun(layout), results)
            finally:
                statuses = [bot.stop() for bot in bots]
            for bot, status in zip(bots, statuses, strict=True):
                _check_bot(bot, status, f"load ({layout}, {bot.role})", results)


def _check_bot(bot: Bot, status: int, phase: str, results: Results) -> None:
    stopped = any('"Finished server process' in line for line in bot.log_lines())
    if status != 0 and stopped and "--no-scheduler" not in bot.role:
        # The web server had stopped; the scheduler's send job was still in its paced
        # drain (it does not watch for SIGTERM), and the process waits for it to end.
        results.facts.append(
            f"{phase}: the web server stopped on SIGTERM, but the process did not exit within "
            f"{STOP_WAIT_S:.0f} s (the scheduler's send job was still draining; exit {status})"
        )
    elif status != 0:
        results.problems.append(f"{phase}: bot.py run exited {status} on SIGTERM")
    errors = bot.errors()
    if errors:
        results.problems.append(f"{phase}: {len(errors)} ERROR log lines, first: {errors[0]}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.people < 1000 or args.clients < 1 or args.seconds <= 0:
        print(
            "error: --people must be at least 1000, --clients and --seconds positive",
            file=sys.stderr,
        )
        return 2
    unknown = [name for name in args.layouts if name not in LAYOUTS]
    if unknown:
        print(f"error: unknown layout {unknown[0]!r}; known: {', '.join(LAYOUTS)}", file=sys.stderr)
        return 2
    url = args.database_url or os.environ.get("DATABASE_URL", "").strip()
    results = Results()
    say(f"learnbot bench: the web server, {args.people:,} people, {args.clients} clients")
    with tempfile.TemporaryDirectory(prefix="learnbot-bench-") as tmp:
        sqlite_file = None if url else Path(tmp) / "web.db"
        url = url or f"sqlite:///{sqlite_file}"
        logs = Path(args.keep_logs) if args.keep_logs else Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        db = open_database(url)
        try:
            database = backend(db)
            say(f"database: {database}")
            prepare(db, reset=args.reset)
            run(db, url, args, logs, results)
        except Refused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            db.dispose()
            if sqlite_file:
                remove_sqlite(sqlite_file)
    say()
    say(results_table(results.rows))
    say()
    for refusal in results.refusals:
        say(
            f"{refusal.name}: {refusal.ms:.1f} ms, status {refusal.status or 'reset'}, "
            f"client sent {refusal.sent:,} bytes"
        )
    say(f"server memory growth during the refusals: {results.growth_mb:.1f} MB")
    for fact in results.facts:
        say(fact)
    say(
        f"machine: {platform.platform()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs; database: {database}"
    )
    figures = results.figures(args)
    write_figures(args.json, "web", database, figures)
    for figure in figures:
        if figure.passed is not None:
            say(
                f"{figure.figure}: {figure.value} ({figure.target}): "
                f"{'PASS' if figure.passed else 'FAIL'}"
            )
    for problem in results.problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if results.problems or any(f.passed is False for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
