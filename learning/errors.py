"""Typed domain errors with messages a person can act on."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One mistake in an input file: where it is and what is wrong."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"


class LearnbotError(Exception):
    """Base for errors whose message is meant for the user."""


class ValidationFailed(LearnbotError):
    """An input file has mistakes; nothing was applied."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0, p.field, p.message))
        count = len(self.problems)
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} found, nothing was applied:\n"
            + "\n".join(f"  {p}" for p in self.problems)
        )


class NotFound(LearnbotError):
    """A person, item or other thing the user named does not exist."""
