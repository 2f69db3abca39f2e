"""Suggestions for mistyped names ("did you mean ...?") in error messages."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from functools import lru_cache
from zoneinfo import available_timezones

# Longer words are not typos of a name: no suggestion (and no slow comparison).
LONGEST_WORD = 80
# More choices than this and no suggestion: each one costs a comparison per unknown name.
MOST_CHOICES = 5000
# Suggestions for one file: a comparison with every known name costs up to tens of
# milliseconds, so a file with thousands of unknown names (a shifted column) stays quick;
# the first ones get them, and every mistake is still reported.
MOST_SUGGESTIONS = 20
TIME_ZONE_EXAMPLE = "use an IANA name such as Europe/London"


def closest(word: object, choices: Iterable[str]) -> str | None:
    """The choice closest to ``word`` (ignoring case), or None if none is close.

    A choice equal to ``word`` but for case counts as closest of all.
    """
    if not isinstance(word, str) or not word.strip() or len(word) > LONGEST_WORD:
        return None
    options = frozenset(choices)
    if len(options) > MOST_CHOICES:
        return None
    match = _closest(word.strip().lower(), options)
    return match if match != word else None


@lru_cache(maxsize=1024)
def _closest(wanted: str, choices: frozenset[str]) -> str | None:
    by_lower: dict[str, str] = {}
    for choice in sorted(choices):
        by_lower.setdefault(choice.lower(), choice)
    if wanted in by_lower:
        return by_lower[wanted]
    matches = difflib.get_close_matches(wanted, list(by_lower), n=1, cutoff=0.6)
    return by_lower[matches[0]] if matches else None


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """``"did you mean 'x'?"`` for the closest choice, or ``""``."""
    match = closest(word, choices)
    return f"did you mean {match!r}?" if match else ""


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def time_zone_hint(name: object) -> str:
    """What to say about an unknown time zone: the closest IANA name, else an example."""
    return did_you_mean(name, _time_zones()) or TIME_ZONE_EXAMPLE


class Suggester:
    """``did_you_mean`` and ``time_zone_hint`` for one file, the first ``most`` times."""

    def __init__(self, most: int = MOST_SUGGESTIONS) -> None:
        self.left = most

    def did_you_mean(self, word: object, choices: Iterable[str]) -> str:
        if self.left <= 0:
            return ""
        self.left -= 1
        return did_you_mean(word, choices)

    def time_zone_hint(self, name: object) -> str:
        return self.did_you_mean(name, _time_zones()) or TIME_ZONE_EXAMPLE
