"""The sender: drains the outbox through a transport, paced, retried, exactly once.

Each row is rendered at send time by its platform's renderer and posted through that
platform's transport: the sender gets one ``Route`` per platform name from the
composition root and imports no platform. One ``Sender`` serves one workspace's token
per platform. Several senders, in
threads or processes, may drain the same outbox: ``claim`` hands each row to one of them.
Time is read only from the injected clock and waited only with the injected ``sleep``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from delivery import metrics, outbox
from delivery.outbox import ReconcileResult
from delivery.pacing import Pacer
from delivery.rendering import Route, can_reconcile
from delivery.transport import (
    Fatal,
    OutgoingMessage,
    Permanent,
    RateLimited,
    Sent,
    Transient,
    Transport,
    TransportError,
)
from learning.clock import Clock
from models.db import Database
from models.tables import OutboxMessage

log = logging.getLogger(__name__)

MAX_RATE_LIMIT_RETRIES = 50


@dataclass
class DrainResult:
    """What one ``Sender.drain`` did.

    Attributes:
        sent: Messages delivered now.
        failed: Messages given up on (``failed`` in the outbox, with the reason).
        retried: Failed attempts scheduled again with backoff.
        rate_limited: HTTP 429 answers (each put its message back without counting).
        already_sent: Retries found already delivered by an earlier attempt.
        reconciled: What happened to rows a crashed sender left ``sending``.
        stopped: Why the workspace was stopped (e.g. ``invalid_auth``), if it was.
    """

    sent: int = 0
    failed: int = 0
    retried: int = 0
    rate_limited: int = 0
    already_sent: int = 0
    reconciled: ReconcileResult = field(default_factory=ReconcileResult)
    stopped: str | None = None

    @property
    def idle(self) -> bool:
        """Nothing was due: no post, no failure, no retry, no crash left to reconcile."""
        return not (
            self.sent
            or self.failed
            or self.retried
            or self.rate_limited
            or self.already_sent
            or self.reconciled.checked
            or self.stopped
        )

    def summary(self) -> str:
        parts = [
            f"sent {self.sent}",
            f"failed {self.failed}",
            f"retried {self.retried}",
            f"rate-limited {self.rate_limited}",
        ]
        if self.already_sent:
            parts.append(f"already delivered {self.already_sent}")
        rec = self.reconciled
        if rec.checked or rec.unchecked:
            parts.append(
                f"after a crash: {rec.found_sent} found delivered, {rec.requeued} resent, "
                f"{rec.failed} failed, {rec.unchecked} left to check"
            )
        if self.stopped:
            parts.append(f"STOPPED: {self.stopped}")
        return ", ".join(parts)


class Sender:
    """Drains due outbox rows through each platform's route.

    Args:
        database: The outbox's database.
        routes: Platform name (``OutboxMessage.platform``) -> its renderer and transport
            (one workspace's token). Rows of other platforms are left alone.
        clock: The only source of "now".
        sleep: The only way to wait, in seconds.
        rng: Draws the backoff jitter.
        worker: This sender's name in ``claimed_by`` (e.g. ``host:pid``).
        per_channel_interval: Seconds between posts to one channel (Slack: about 1).
        workspace_rate_per_minute: Posts a minute to the workspace.
        max_attempts: Failed attempts (5xx, timeouts) before a message is given up; the
            default, with the default backoff, keeps trying through a Slack incident of
            about 12 minutes (23 at most) instead of half a minute.
        backoff_base: First retry waits up to this many seconds, doubling each time.
        backoff_cap: Longest backoff, in seconds.
        batch_size: Rows claimed at a time.
        lease: How long a ``sending`` row may go untouched before it counts as stuck.
        workspace_id: Only drain this workspace's rows (default: all rows).
        max_rate_limit_retries: 429s one message may get in one drain before it fails.
    """

    def __init__(
        self,
        database: Database,
        routes: Mapping[str, Route],
        clock: Clock,
        *,
        sleep: Callable[[float], None],
        rng: random.Random,
        worker: str,
        per_channel_interval: float = 1.0,
        workspace_rate_per_minute: int = 200,
        max_attempts: int = 12,
        backoff_base: float = 2.0,
        backoff_cap: float = 300.0,
        batch_size: int = 20,
        lease: timedelta = timedelta(minutes=5),
        workspace_id: str | None = None,
        max_rate_limit_retries: int = MAX_RATE_LIMIT_RETRIES,
    ) -> None:
        if max_attempts < 1 or batch_size < 1:
            raise ValueError("max_attempts and batch_size must be at least 1")
        if not routes:
            raise ValueError("a sender needs at least one platform route")
        self._db = database
        self._routes = dict(routes)
        self._clock = clock
        self._rng = rng
        self._worker = worker
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._batch_size = batch_size
        self._lease = lease
        self._workspace_id = workspace_id
        self._max_rate_limits = max_rate_limit_retries
        self._pacer = Pacer(
            clock,
            sleep,
            per_channel_interval=per_channel_interval,
            rate_per_minute=workspace_rate_per_minute,
        )
        self._rate_limits: dict[int, int] = {}
        self._deferred: dict[int, datetime] = {}

    def drain(
        self, *, until: datetime | None = None, max_messages: int | None = None
    ) -> DrainResult:
        """Send what is due, waiting for this run's own retries, then return.

        Rows left ``sending`` by a crashed sender are reconciled first. Stops when nothing
        is due and no retry of this run is waiting, after ``max_messages`` deliveries, when
        the workspace refuses the token, or at ``until``: no post starts at or after it,
        and claimed rows that could not go by then are put back ``pending``.

        Args:
            until: Deadline for starting posts (e.g. the end of a send window).
            max_messages: Stop after this many deliveries.
        """
        result = DrainResult()
        self._deferred.clear()
        self._pacer.wait_for_workspace()
        result.reconciled = self._reconcile()
        if result.reconciled.fatal:
            return self._stop(result, result.reconciled.fatal)
        while result.stopped is None:
            now = self._clock.now()
            wanted = self._batch_size
            if max_messages is not None:
                wanted = min(wanted, max_messages - result.sent)
            if wanted <= 0 or (until is not None and now >= until):
                break
            rows = outbox.claim(
                self._db,
                worker=self._worker,
                now=now,
                limit=wanted,
                workspace_id=self._workspace_id,
                platforms=list(self._routes),
            )
            if not rows:
                retry_at = self._next_retry(now)
                if retry_at is None or (until is not None and retry_at > until):
                    break
                self._pacer.sleep_until(retry_at)
                continue
            if not self._send_batch(rows, result, until):
                break  # nothing claimed could start before the deadline
        log.log(  # an idle pass of `drain --loop` every few seconds is not news
            logging.DEBUG if result.idle else logging.INFO,
            "drain by %s: %s",
            self._worker,
            result.summary(),
        )
        return result

    def _reconcile(self) -> ReconcileResult:
        """``outbox.reconcile_stuck`` for each platform, summed; stops at a refused token."""
        total = ReconcileResult()
        for platform, route in self._routes.items():
            found = outbox.reconcile_stuck(
                self._db,
                _PacedLookups(route.transport, self._pacer),
                now=self._clock.now(),
                lease=self._lease,
                platform=platform,
                workspace_id=self._workspace_id,
            )
            total = replace(
                total,
                found_sent=total.found_sent + found.found_sent,
                requeued=total.requeued + found.requeued,
                failed=total.failed + found.failed,
                unchecked=total.unchecked + found.unchecked,
                fatal=found.fatal,
            )
            if found.fatal:
                break
        return total

    def _send_batch(
        self, rows: list[OutboxMessage], result: DrainResult, until: datetime | None
    ) -> int:
        """Deliver claimed ``rows``; return how many were tried (the rest go back)."""
        untried = {row.id: row for row in rows if row.id is not None}
        try:
            for row in rows:
                if result.stopped:
                    break
                if until is not None and self._pacer.post_ready_at(row.recipient) >= until:
                    continue  # its channel or the budget is not free before the deadline
                assert row.id is not None
                del untried[row.id]
                self._deferred.pop(row.id, None)
                self._deliver(row, result)
        finally:
            # Rows never tried go straight back, so another sender need not wait a lease.
            outbox.release(self._db, list(untried), worker=self._worker)
        return len(rows) - len(untried)

    def _deliver(self, row: OutboxMessage, result: DrainResult) -> None:
        assert row.id is not None
        route = self._routes[row.platform]
        try:
            rendered = route.renderer.render(row.kind, row.payload, context=route.context)
        except (ValueError, KeyError, TypeError) as exc:
            outbox.mark_failed(self._db, row.id, error=f"cannot render {row.kind}: {exc}")
            result.failed += 1
            metrics.MESSAGES_FAILED.inc()
            log.error("outbox %s (%s): cannot render: %s", row.id, row.key, exc)
            return
        message = OutgoingMessage(
            channel=row.recipient,
            text=rendered.text,
            blocks=rendered.blocks,
            key=row.key,
            kind=row.kind,
            thread_ts=row.thread_parent,
            recipient_kind=row.recipient_kind,
        )
        try:
            if row.attempts > 0 and self._delivered_earlier(row, route.transport, result):
                return
            self._pacer.wait_to_post(row.recipient)
            if not outbox.renew_claim(self._db, row.id, worker=self._worker, now=self._clock.now()):
                log.warning("outbox %s (%s) was taken back while waiting; skipped", row.id, row.key)
                return
            sent = route.transport.send(message)
        except TransportError as exc:
            self._handle_failure(row, exc, result)
            return
        outbox.mark_sent(
            self._db, row.id, conversation=sent.channel, message=sent.ts, now=self._clock.now()
        )
        result.sent += 1
        metrics.MESSAGES_SENT.inc()
        log.debug("outbox %s (%s) sent to %s ts %s", row.id, row.key, sent.channel, sent.ts)

    def _delivered_earlier(
        self, row: OutboxMessage, transport: Transport, result: DrainResult
    ) -> bool:
        """After a failed attempt (a timeout may still have posted it), look before
        resending; a transport that cannot look (``can_reconcile``) posts again."""
        assert row.id is not None
        if not can_reconcile(transport):
            return False
        self._pacer.wait_for_workspace()
        try:
            found: Sent | None = transport.find_sent(  # type: ignore[attr-defined]
                row.recipient, row.key, since=row.created_at, thread_ts=row.thread_parent
            )
        except Permanent as exc:
            raise Permanent(f"cannot check an earlier attempt: {exc.reason}") from exc
        if found is None:
            return False
        outbox.mark_sent(
            self._db, row.id, conversation=found.channel, message=found.ts, now=self._clock.now()
        )
        result.already_sent += 1
        log.info("outbox %s (%s): an earlier attempt arrived (ts %s)", row.id, row.key, found.ts)
        return True

    def _handle_failure(self, row: OutboxMessage, exc: TransportError, result: DrainResult) -> None:
        assert row.id is not None
        now = self._clock.now()
        if isinstance(exc, RateLimited):
            result.rate_limited += 1
            metrics.SLACK_RATE_LIMITED.inc()
            resume = self._pacer.pause(exc.retry_after)
            count = self._rate_limits[row.id] = self._rate_limits.get(row.id, 0) + 1
            if count > self._max_rate_limits:
                self._fail(row, f"rate limited {count} times; gave up", result)
                return
            outbox.mark_retry(
                self._db, row.id, not_before=resume, error=exc.reason, count_attempt=False
            )
            self._deferred[row.id] = resume
            log.warning("rate limited: pausing the workspace for %gs", exc.retry_after)
        elif isinstance(exc, Transient):
            attempts = row.attempts + 1
            if attempts >= self._max_attempts:
                self._fail(row, f"{exc.reason} (gave up after {attempts} attempts)", result)
                return
            ceiling = min(self._backoff_cap, self._backoff_base * 2 ** (attempts - 1))
            retry_at = now + timedelta(seconds=self._rng.uniform(0, ceiling))
            outbox.mark_retry(
                self._db, row.id, not_before=retry_at, error=exc.reason, count_attempt=True
            )
            self._deferred[row.id] = retry_at
            result.retried += 1
            metrics.MESSAGE_RETRIES.inc()
            log.warning(
                "outbox %s (%s): %s; retry %d at %s",
                row.id,
                row.key,
                exc.reason,
                attempts,
                retry_at.isoformat(),
            )
        elif isinstance(exc, Fatal):
            outbox.mark_retry(
                self._db, row.id, not_before=row.not_before, error=exc.reason, count_attempt=False
            )
            self._stop(result, exc.reason)
        else:
            self._fail(row, exc.reason, result)

    def _fail(self, row: OutboxMessage, error: str, result: DrainResult) -> None:
        assert row.id is not None
        outbox.mark_failed(self._db, row.id, error=error)
        result.failed += 1
        metrics.MESSAGES_FAILED.inc()
        log.warning("outbox %s (%s) to %s failed: %s", row.id, row.key, row.recipient, error)

    def _stop(self, result: DrainResult, reason: str) -> DrainResult:
        result.stopped = reason
        log.error(
            "Slack refused the bot token (%s): stopped sending; messages stay pending. "
            "Check SLACK_BOT_TOKEN and the app's installation.",
            reason,
        )
        return result

    def _next_retry(self, now: datetime) -> datetime | None:
        """When this run's earliest own retry is due; forget ones others have taken."""
        for message_id, at in list(self._deferred.items()):
            if at <= now:
                del self._deferred[message_id]
        return min(self._deferred.values(), default=None)


class _PacedLookups:
    """The transport, with each lookup waiting out a rate-limit pause and recording new ones.

    It looks up posts only if the transport it wraps can (``can_find_sent``)."""

    def __init__(self, transport: Transport, pacer: Pacer) -> None:
        self._transport = transport
        self._pacer = pacer
        self.can_find_sent = can_reconcile(transport)

    def send(self, message: OutgoingMessage) -> Sent:
        self._pacer.wait_to_post(message.channel)
        return self._transport.send(message)

    def find_sent(
        self, channel: str, key: str, since: datetime, *, thread_ts: str | None = None
    ) -> Sent | None:
        self._pacer.wait_for_workspace()
        try:
            return self._transport.find_sent(  # type: ignore[attr-defined,no-any-return]
                channel, key, since, thread_ts=thread_ts
            )
        except RateLimited as exc:
            metrics.SLACK_RATE_LIMITED.inc()
            self._pacer.pause(exc.retry_after)
            raise
