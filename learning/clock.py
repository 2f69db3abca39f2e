"""The one source of "now". Inject a ``Clock``; never call ``datetime.now`` elsewhere."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, aware UTC."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that stands still until moved: for tests, ``sweep --at`` and ``simulate``."""

    def __init__(self, at: datetime) -> None:
        self._at = ensure_utc(at)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = ensure_utc(at)

    def advance(self, delta: timedelta) -> None:
        self._at += delta


def ensure_utc(at: datetime) -> datetime:
    """``at`` as aware UTC; a naive datetime is refused, never guessed."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at.isoformat()}: give a time zone offset")
    return at.astimezone(UTC)


def parse_instant(text: str) -> datetime:
    """An ISO-8601 instant with offset (``2026-03-02T09:30:00+00:00`` or ``...Z``)."""
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO-8601 instant; write e.g. 2026-03-02T09:30:00Z"
        ) from None
    if at.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone; add Z or an offset such as +05:30")
    return at.astimezone(UTC)


def local_date(at: datetime, timezone: str) -> date:
    """The calendar date at instant ``at`` in the IANA ``timezone``."""
    return ensure_utc(at).astimezone(ZoneInfo(timezone)).date()


class OffsetClock:
    """Real time, shifted: starts at ``at`` and runs at wall-clock speed.

    For ``sweep --at``: the sweep acts as of ``at`` while the sender's pacing still
    waits in real seconds.
    """

    def __init__(self, at: datetime, *, base: Clock | None = None) -> None:
        self._base = base or SystemClock()
        self._offset = ensure_utc(at) - self._base.now()

    def now(self) -> datetime:
        return self._base.now() + self._offset
