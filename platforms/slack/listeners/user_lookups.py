"""What Slack's ``users.info`` last said about each user, remembered for a while.

A refused ``/learn admin ...`` asks Slack whether the person became a workspace admin
(``handlers.commands``). Its answer is stored on the person, but a "no" changes nothing
stored, so without this every refused command would ask again: five refusals, five
calls against Slack's rate limit. An answer (any role) is remembered ``ANSWER_TTL``, a
failure (Slack down, an error) ``FAILURE_TTL``, per process, on the injected clock. A
role that changes in the meantime still arrives at once through ``user_change``.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from learning.clock import Clock

ANSWER_TTL = timedelta(minutes=10)
FAILURE_TTL = timedelta(minutes=1)


class UserLookups:
    """Per Slack user: whether ``users.info`` answered, until when that stands."""

    def __init__(
        self,
        clock: Clock,
        *,
        answer_ttl: timedelta = ANSWER_TTL,
        failure_ttl: timedelta = FAILURE_TTL,
    ) -> None:
        self._clock = clock
        self._ttl = {True: answer_ttl, False: failure_ttl}
        self._until: dict[str, tuple[datetime, bool]] = {}
        self._lock = threading.Lock()

    def recent(self, slack_user_id: str) -> bool | None:
        """True (Slack answered) or False (it failed) if still fresh; None: ask again."""
        key = slack_user_id.upper()
        with self._lock:
            entry = self._until.get(key)
            if entry is None:
                return None
            until, answered = entry
            if self._clock.now() >= until:
                del self._until[key]
                return None
            return answered

    def remember(self, slack_user_id: str, *, answered: bool) -> None:
        """Note that ``users.info`` for ``slack_user_id`` answered (or failed) just now."""
        now = self._clock.now()
        with self._lock:
            self._forget_expired(now)
            self._until[slack_user_id.upper()] = (now + self._ttl[answered], answered)

    def _forget_expired(self, now: datetime) -> None:
        for key in [key for key, (until, _) in self._until.items() if now >= until]:
            del self._until[key]
