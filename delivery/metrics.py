"""Metrics for ``GET /metrics``, in the Prometheus text exposition format (0.0.4).

Two kinds of figures:

- **Counters and the planning histogram belong to this process** (module-level
  ``MESSAGES_SENT``, ``MESSAGE_RETRIES``, ``SLACK_RATE_LIMITED``, ``MESSAGES_FAILED``,
  ``PLANNING_SECONDS``). Each web, scheduler and sender process has its own and starts at
  zero; Prometheus scrapes every process and ``sum()`` adds them up.
- **The outbox depth is read from the database at scrape time** (one grouped query on the
  ``(status, not_before)`` index, for the rows pending, sending and failed), so every
  process reports the same shared figure: take ``max()`` across targets, not ``sum()``.

Written by hand rather than with ``prometheus_client``: the format is a few lines of text,
and learnbot's counters need no registry, multiprocess mode or push gateway.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import func, select

from models.db import Database
from models.tables import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")
PLANNING_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_TABLE = OutboxMessage.__table__  # type: ignore[attr-defined]
# Sent rows are history (kept for re-rendering DMs, never pruned): counting them would
# make every scrape grow with the years. Sending is measured by learnbot_messages_sent_total.
QUEUED = (OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.FAILED)


def _number(value: float) -> str:
    """A sample value as Prometheus writes it (integers without ``.0``)."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items()) + "}"


def _family(name: str, kind: str, help_text: str, samples: Sequence[str]) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]


class Counter:
    """A number that only goes up, for this process's lifetime. Thread-safe."""

    def __init__(self, name: str, help_text: str) -> None:
        self.name = name
        self.help = help_text
        self._value = 0.0
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        with self._lock:
            self._value += amount

    @property
    def value(self) -> float:
        with self._lock:
            return self._value

    def exposition(self) -> list[str]:
        return _family(self.name, "counter", self.help, [f"{self.name} {_number(self.value)}"])


class Histogram:
    """Observed durations in cumulative buckets, with their sum and count. Thread-safe."""

    def __init__(self, name: str, help_text: str, buckets: Sequence[float]) -> None:
        if list(buckets) != sorted(set(buckets)):
            raise ValueError("buckets must be distinct and in increasing order")
        self.name = name
        self.help = help_text
        self.buckets = tuple(buckets)
        self._counts = [0] * len(self.buckets)
        self._sum = 0.0
        self._count = 0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        with self._lock:
            self._sum += value
            self._count += 1
            for index, bound in enumerate(self.buckets):
                if value <= bound:
                    self._counts[index] += 1

    @contextmanager
    def time(self, timer: Callable[[], float] = time.perf_counter) -> Iterator[None]:
        """Observe how long the ``with`` block took (also when it raises)."""
        start = timer()
        try:
            yield
        finally:
            self.observe(timer() - start)

    @property
    def count(self) -> int:
        with self._lock:
            return self._count

    def exposition(self) -> list[str]:
        with self._lock:
            counts, total, count = list(self._counts), self._sum, self._count
        samples = [
            f'{self.name}_bucket{{le="{_number(bound)}"}} {n}'
            for bound, n in zip(self.buckets, counts, strict=True)
        ]
        samples += [
            f'{self.name}_bucket{{le="+Inf"}} {count}',
            f"{self.name}_sum {_number(total)}",
            f"{self.name}_count {count}",
        ]
        return _family(self.name, "histogram", self.help, samples)


MESSAGES_SENT = Counter("learnbot_messages_sent_total", "Messages this process posted to Slack.")
MESSAGE_RETRIES = Counter(
    "learnbot_message_retries_total",
    "Failed posts (5xx, timeouts, connection errors) this process scheduled again with backoff.",
)
SLACK_RATE_LIMITED = Counter(
    "learnbot_slack_rate_limited_total",
    "HTTP 429 answers from Slack to this process (each paused the workspace for Retry-After).",
)
MESSAGES_FAILED = Counter(
    "learnbot_messages_failed_total",
    "Messages this process gave up on (marked failed in the outbox).",
)
PLANNING_SECONDS = Histogram(
    "learnbot_planning_duration_seconds",
    "Duration of one planning pass (certifications, digests, escalations, weekly digests).",
    PLANNING_BUCKETS,
)
PROCESS_METRICS: tuple[Counter | Histogram, ...] = (
    MESSAGES_SENT,
    MESSAGE_RETRIES,
    SLACK_RATE_LIMITED,
    MESSAGES_FAILED,
    PLANNING_SECONDS,
)


def outbox_exposition(database: Database, *, now: datetime) -> list[str]:
    """The outbox gauges, read now: rows pending, sending and failed, and the age of the
    oldest due message.

    Both queries read only ``ix_outbox_status_not_before``, and only the entries of those
    statuses, so a scrape costs the same whatever the history. If the database cannot be
    read, ``learnbot_database_up`` is 0 and the outbox gauges are left out (a scrape never
    fails because of the database; the process's own counters still go out).
    """
    try:
        with database.session() as session:
            counts = dict(
                session.execute(
                    select(_TABLE.c.status, func.count())
                    .where(_TABLE.c.status.in_(QUEUED))
                    .group_by(_TABLE.c.status)
                ).all()
            )
            oldest = session.execute(
                select(func.min(_TABLE.c.not_before)).where(
                    _TABLE.c.status == OutboxStatus.PENDING, _TABLE.c.not_before <= now
                )
            ).scalar()
    except Exception as exc:  # report, never fail the scrape
        log.warning("metrics: cannot read the outbox: %s", type(exc).__name__)
        return _database_up(0)
    waiting = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    lines = _database_up(1)
    lines += _family(
        "learnbot_outbox_messages",
        "gauge",
        "Outbox rows waiting or stuck, by status (shared by all processes: use max, not sum).",
        [
            f"learnbot_outbox_messages{_labels({'status': status})} {counts.get(status, 0)}"
            for status in QUEUED
        ],
    )
    lines += _family(
        "learnbot_outbox_oldest_due_seconds",
        "gauge",
        "How long the oldest pending message has been due (0 when none is waiting).",
        [f"learnbot_outbox_oldest_due_seconds {_number(round(waiting, 3))}"],
    )
    return lines


def _database_up(value: int) -> list[str]:
    return _family(
        "learnbot_database_up",
        "gauge",
        "1 if the database answered this scrape.",
        [f"learnbot_database_up {value}"],
    )


def render(database: Database, *, now: datetime) -> str:
    """The whole ``/metrics`` page: the outbox gauges, then this process's own metrics."""
    lines = outbox_exposition(database, now=now)
    for metric in PROCESS_METRICS:
        lines += metric.exposition()
    return "\n".join(lines) + "\n"


def parse(text: str) -> dict[str, float]:
    """Read an exposition back: ``'name{labels}' -> value``, for checks and tests.

    Strict about what ``render`` writes: each family is declared once by ``# HELP`` and
    ``# TYPE`` before its samples, every sample belongs to a declared family, and the
    text ends with a line break.

    Raises:
        ValueError: The text breaks one of those rules; the message names the line.
    """
    samples: dict[str, float] = {}
    kinds: dict[str, str] = {}
    helped: set[str] = set()
    if not text.endswith("\n"):
        raise ValueError("the exposition does not end with a line break")
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            if name in helped:
                raise ValueError(f"line {number}: a second HELP for {name}")
            helped.add(name)
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            if name in kinds or name not in helped or kind not in ("counter", "gauge", "histogram"):
                raise ValueError(f"line {number}: unexpected {line!r}")
            kinds[name] = kind
        else:
            match = _SAMPLE.match(line)
            if match is None:
                raise ValueError(f"line {number}: not a sample: {line!r}")
            name = match.group(1)
            family = re.sub(r"_(bucket|sum|count)$", "", name)
            if name not in kinds and kinds.get(family) != "histogram":
                raise ValueError(f"line {number}: {name} has no HELP and TYPE before it")
            samples[name + (match.group(2) or "")] = float(match.group(3))
    return samples
