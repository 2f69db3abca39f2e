"""Pacing for one workspace: per-channel spacing, a token bucket, rate-limit pauses.

All arithmetic is on ``datetime``/``timedelta`` (whole microseconds), so a frozen clock
advanced by the injected ``sleep`` lands exactly on the instants computed here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from learning.clock import Clock

_TICK = timedelta(microseconds=1)


class TokenBucket:
    """``rate_per_minute`` tokens a minute, at most ``capacity`` saved up (GCRA form).

    With ``capacity=1`` calls are spaced evenly, ``60 / rate_per_minute`` seconds apart.
    """

    def __init__(self, rate_per_minute: float, *, capacity: int = 1) -> None:
        if rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be positive")
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.interval = timedelta(microseconds=round(60_000_000 / rate_per_minute))
        self._tolerance = self.interval * (capacity - 1)
        self._theoretical: datetime | None = None

    def ready_at(self, now: datetime) -> datetime:
        """When the next token is available (``now`` or later)."""
        if self._theoretical is None:
            return now
        return max(now, self._theoretical - self._tolerance)

    def take(self, now: datetime) -> None:
        """Spend one token at ``now`` (call only once ``ready_at(now) <= now``)."""
        start = now if self._theoretical is None else max(self._theoretical, now)
        self._theoretical = start + self.interval


class Pacer:
    """Decides when the next call to one workspace may go, and waits for it.

    Args:
        clock: Where "now" comes from.
        sleep: How to wait (``time.sleep``, or a function advancing a frozen clock).
        per_channel_interval: Seconds between two posts to the same channel.
        rate_per_minute: The workspace's budget of posts a minute.
    """

    def __init__(
        self,
        clock: Clock,
        sleep: Callable[[float], None],
        *,
        per_channel_interval: float,
        rate_per_minute: float,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._channel_interval = timedelta(seconds=per_channel_interval)
        self._bucket = TokenBucket(rate_per_minute)
        self._channel_free_at: dict[str, datetime] = {}
        self.paused_until: datetime | None = None

    def pause(self, seconds: float) -> datetime:
        """Make no call before now + ``seconds`` (Slack's ``Retry-After``); returns that instant."""
        until = self._clock.now() + timedelta(seconds=seconds)
        if self.paused_until is None or until > self.paused_until:
            self.paused_until = until
        return self.paused_until

    def wait_for_workspace(self) -> None:
        """Wait out a rate-limit pause (for calls that are not posts, e.g. history)."""
        self._wait(lambda now: self.paused_until or now)

    def post_ready_at(self, channel: str, now: datetime | None = None) -> datetime:
        """The earliest instant a post to ``channel`` may go (``now`` or later)."""
        now = self._clock.now() if now is None else now
        return max(
            now,
            self.paused_until or now,
            self._channel_free_at.get(channel, now),
            self._bucket.ready_at(now),
        )

    def wait_to_post(self, channel: str) -> None:
        """Wait until ``channel``, the bucket and any pause allow a post, then book it."""
        now = self._wait(lambda now: self.post_ready_at(channel, now))
        self._bucket.take(now)
        self._channel_free_at[channel] = now + self._channel_interval

    def sleep_until(self, at: datetime) -> None:
        """Wait until ``at``."""
        self._wait(lambda now: at)

    def _wait(self, ready: Callable[[datetime], datetime]) -> datetime:
        while True:
            now = self._clock.now()
            at = ready(now)
            if at <= now:
                return now
            self._sleep(max(at - now, _TICK).total_seconds())
