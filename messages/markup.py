"""Chat text that is safe to send, as a type: the one way learnbot builds message text.

Anything a person, a Slack profile, the programs file or an LMS supplies is plain text.
A chat platform reads some characters of message text as markup (Slack: ``<!channel>``,
``<@U123>``, ``<https://x|y>``), so plain text must be escaped before it joins a
message. ``Markup`` is a ``str`` that is known to be safe for one platform's *dialect*,
and it can only be made by:

* ``Dialect``-specific literals written in the code: ``Mrkdwn("*Your team*")``. The
  constructor refuses any text holding the dialect's markup characters, so a literal can
  format (bold, quotes) but never mention, link or break out;
* ``escape(text)``, which turns plain text into markup that shows exactly that text;
* ``format`` / ``join`` / ``+`` on markup, which escape every plain ``str`` they are given
  and keep markup as it is;
* the builders of the dialect's module (a mention from a resolved person's id, a link to
  a validated http(s) url), the only code that writes the reserved characters.

Every other ``str`` operation (an f-string, ``.replace``, slicing, ``str.join``) returns
a plain ``str``, which ``RenderedMessage`` and the view checks refuse: forgetting to
escape is an error in the tests, not a ``<!channel>`` in production.

The type is platform-neutral: a dialect (Slack's mrkdwn in ``messages.mrkdwn``; Teams
later) implements the small ``Dialect`` interface, and markup of two dialects never mixes.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, LiteralString, Protocol, Self


class Dialect(Protocol):
    """How one chat platform writes text: what it escapes and how it mentions and links."""

    name: str

    def escape(self, text: str) -> str:
        """``text`` as markup that shows exactly ``text`` (control characters dropped)."""
        ...

    def is_plain_literal(self, text: str) -> bool:
        """Whether ``text`` holds none of the characters only the builders may write."""
        ...

    def cut(self, markup: str, limit: int, ellipsis: str) -> str:
        """``markup`` cut to at most ``limit`` characters, never inside an entity or a
        mention/link, ending with ``ellipsis`` when cut."""
        ...

    def neutralise(self, stored: str) -> str:
        """Markup read back from storage: the forms the builders make are kept, anything
        else is escaped."""
        ...


class Markup(str):
    """A string known to be safe in ``dialect`` (see the module docstring).

    Subclasses bind a dialect: ``class Mrkdwn(Markup): dialect = SLACK_MRKDWN``.
    """

    __slots__ = ()
    dialect: ClassVar[Dialect]

    def __new__(cls, literal: LiteralString = "") -> Self:
        """A literal written in the code; refused when it holds reserved characters.

        Raises:
            ValueError: ``literal`` holds markup only the builders may write (``<``, a bare
                ``&`` in Slack); escape it with ``escape`` or build it with a builder.
            TypeError: ``literal`` is markup of another dialect, or not text.
        """
        if isinstance(literal, Markup):
            return cls._same_dialect(literal)
        if not isinstance(literal, str):
            raise TypeError(f"{cls.__name__} takes text, not {type(literal).__name__}")
        if not cls.dialect.is_plain_literal(literal):
            raise ValueError(
                f"{cls.__name__}({literal[:60]!r}) holds reserved markup: escape text with "
                f"{cls.__name__}.escape() and build mentions and links with the builders"
            )
        return str.__new__(cls, literal)

    # --- ways in -----------------------------------------------------------------------

    @classmethod
    def _trusted(cls, text: str) -> Self:
        """``text`` as markup without a check: only for the dialect's builders."""
        return str.__new__(cls, text)

    @classmethod
    def escape(cls, text: str | int | float) -> Self:
        """Plain text (or a number) as markup that shows exactly it; markup stays as it is."""
        if isinstance(text, Markup):
            return cls._same_dialect(text)
        if isinstance(text, bool) or not isinstance(text, str | int | float):
            raise TypeError(f"cannot escape {type(text).__name__}; give text")
        return cls._trusted(cls.dialect.escape(str(text)))

    @classmethod
    def from_stored(cls, text: str) -> Self:
        """Markup read back from the database (an outbox payload a renderer wrote): the
        builders' forms are kept, anything else is escaped."""
        if isinstance(text, Markup):
            return cls._same_dialect(text)
        return cls._trusted(cls.dialect.neutralise(str(text)))

    @classmethod
    def _same_dialect(cls, markup: Markup) -> Self:
        if not isinstance(markup, cls):
            raise TypeError(
                f"{type(markup).__name__} markup cannot join {cls.__name__} markup: escape the "
                "plain text again for this platform"
            )
        return markup

    # --- building ------------------------------------------------------------------------

    def format(self, *args: Any, **kwargs: Any) -> Self:
        """``str.format`` that escapes every plain value and keeps markup as it is."""
        return self._trusted(_EscapingFormatter(type(self)).vformat(self, args, kwargs))

    def format_map(self, mapping: Mapping[str, Any]) -> Self:  # type: ignore[override]
        return self.format(**mapping)

    def join(self, parts: Iterable[str]) -> Self:
        """``parts`` joined by this markup; plain parts are escaped."""
        return self._trusted(str.join(self, [self.escape(part) for part in parts]))

    def __add__(self, other: str) -> Self:
        if not isinstance(other, str):
            return NotImplemented
        return self._trusted(str.__add__(self, self.escape(other)))

    def __radd__(self, other: str) -> Self:
        if not isinstance(other, str):
            return NotImplemented
        return self._trusted(str.__add__(self.escape(other), self))

    def __mod__(self, values: Any) -> str:
        raise TypeError("use Markup.format: %-formatting would not escape its values")

    def cut(self, limit: int, ellipsis: str = "…") -> Self:
        """At most ``limit`` characters, never cut inside an entity, mention or link."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        return self._trusted(self.dialect.cut(self, limit, ellipsis))

    # Markup is immutable and already checked: copies are the same object, and a
    # round trip through pickle does not run the literal check again.
    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), str(self)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str.__repr__(self)})"


def _restore(kind: type[Markup], text: str) -> Markup:
    return kind._trusted(text)


class _EscapingFormatter(string.Formatter):
    """Formats a markup template: markup values go in as they are, anything else escaped."""

    def __init__(self, kind: type[Markup]) -> None:
        self._kind = kind

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, Markup):
            if format_spec:
                raise ValueError("a format spec would change markup; format the plain text")
            return self._kind._same_dialect(value)
        return self._kind.dialect.escape(format(value, format_spec))

    def check_unused_args(
        self, used_args: set[int | str], args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> None:
        unused = set(kwargs) - {name for name in used_args if isinstance(name, str)}
        if unused:  # a misspelt field would silently drop text
            raise KeyError(f"template does not use {sorted(unused)}")
