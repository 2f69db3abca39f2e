"""The ``/learn`` slash command's text, parsed into a typed command (pure, no I/O).

``parse_command`` turns whatever a person typed into one of the command dataclasses, or
raises ``UsageError`` carrying a message and the exact usage line of the subcommand. It
never raises anything else, whatever the input (a property test holds it to that).

The platform's markup (Slack escapes ``&``, ``<`` and ``>`` and writes mentions as
``<@U123|name>``) is read by its adapter through ``ChatText``: the parser gets plain
words, and mentions already resolved to people (``Mentioned``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from learning.errors import LearnbotError
from learning.plain_text import one_line

COMMAND = "/learn"
MIN_SNOOZE_DAYS = 1
MAX_SNOOZE_DAYS = 14
SHOWN_WORD_MAX = 40  # characters of an unknown word echoed back in an error
KUDOS_REASON_MAX = 500


@dataclass(frozen=True)
class Subcommand:
    """One subcommand as ``/learn help`` lists it."""

    name: str
    usage: str
    summary: str
    admin: bool = False


SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand("", f"{COMMAND}", "your learning path: progress per tier and what is next"),
    Subcommand("help", f"{COMMAND} help", "this list"),
    Subcommand("due", f"{COMMAND} due", "what is due and overdue, most urgent first"),
    Subcommand("done", f"{COMMAND} done ITEM", "mark an item done (its key or part of its title)"),
    Subcommand(
        "snooze",
        f"{COMMAND} snooze ITEM 3d",
        "remind me later: 1d to 14d, 1w or 2w (never past a required item's due date)",
    ),
    Subcommand("away", f"{COMMAND} away until YYYY-MM-DD", "pause reminders while you are away"),
    Subcommand("back", f"{COMMAND} back", "I'm back: resume reminders"),
    Subcommand("policy", f"{COMMAND} policy", "when reminders and escalations happen"),
    Subcommand("team", f"{COMMAND} team", "managers: your reports' progress, most overdue first"),
    Subcommand("certs", f"{COMMAND} certs", "your certifications: valid until when, or expiring"),
    Subcommand(
        "privacy",
        f"{COMMAND} privacy public|private",
        "whether your certifications and milestones may be celebrated in public",
    ),
    Subcommand(
        "kudos",
        f"{COMMAND} kudos @someone for REASON",
        "thank a colleague: they are told, and it is celebrated in the recognition channel",
    ),
    Subcommand(
        "leaderboard",
        f"{COMMAND} leaderboard [join|leave]",
        "this week's game board; join or leave it by name (teams always count)",
    ),
    Subcommand(
        "mentor",
        f"{COMMAND} mentor on|off",
        "whether learnbot may pair you with colleagues learning what you know",
    ),
    Subcommand(
        "admin reload",
        f"{COMMAND} admin reload",
        "reload the programs file and apply it",
        admin=True,
    ),
    Subcommand(
        "admin assign",
        f"{COMMAND} admin assign EMAIL ITEM [due YYYY-MM-DD]",
        "give someone an item, optionally with a due date",
        admin=True,
    ),
    Subcommand(
        "admin waive",
        f"{COMMAND} admin waive EMAIL ITEM REASON",
        "excuse someone from an item, with the reason (kept in the audit log)",
        admin=True,
    ),
    Subcommand(
        "admin report", f"{COMMAND} admin report", "completion by team and by role", admin=True
    ),
)
USAGE: dict[str, str] = {sub.name: sub.usage for sub in SUBCOMMANDS}
ADMIN_NAMES = tuple(sub.name.split()[1] for sub in SUBCOMMANDS if sub.admin)
ADMIN_USAGE = f"{COMMAND} admin " + "|".join(ADMIN_NAMES)


class UsageError(LearnbotError):
    """The text is not a valid ``/learn`` command.

    Attributes:
        message: What is wrong, in words the person can act on.
        usage: The usage line of the subcommand concerned, or None when the subcommand
            itself is unknown.
    """

    def __init__(self, message: str, usage: str | None = None) -> None:
        self.message = message
        self.usage = usage
        super().__init__(message if usage is None else f"{message}\nUsage: {usage}")


# --- the commands --------------------------------------------------------------------


@dataclass(frozen=True)
class ShowHelp:
    """``/learn help``."""


@dataclass(frozen=True)
class ShowSummary:
    """``/learn`` with no text: my path summary."""


@dataclass(frozen=True)
class ShowDue:
    """``/learn due``."""


@dataclass(frozen=True)
class MarkDone:
    """``/learn done ITEM``."""

    item: str


@dataclass(frozen=True)
class Snooze:
    """``/learn snooze ITEM 3d``."""

    item: str
    days: int


@dataclass(frozen=True)
class SetAway:
    """``/learn away until YYYY-MM-DD``."""

    until: date


@dataclass(frozen=True)
class SetBack:
    """``/learn back``."""


@dataclass(frozen=True)
class ShowPolicy:
    """``/learn policy``."""


@dataclass(frozen=True)
class ShowTeam:
    """``/learn team``."""


@dataclass(frozen=True)
class ShowCerts:
    """``/learn certs``."""


@dataclass(frozen=True)
class SetPrivacy:
    """``/learn privacy public|private``; ``public`` None (no word) shows the setting."""

    public: bool | None = None


@dataclass(frozen=True)
class Mentioned:
    """A person mentioned in a command, as the platform adapter resolved them."""

    person_id: int | None  # None: learnbot does not know them


class ChatText(Protocol):
    """How a platform's command text reads as words (its adapter implements it)."""

    def plain(self, text: str) -> str:
        """The text as the words of a command (keys, titles, emails)."""
        ...

    def words(self, text: str) -> str:
        """Typed text to store and show to others, as the person saw it (mentions as
        "@Name")."""
        ...

    def leading_mention(self, text: str) -> tuple[Mentioned, str] | None:
        """The mention ``text`` starts with, resolved, and the text after it; None when
        it does not start with one."""
        ...


class PlainText:
    """``ChatText`` for text without markup (no mentions)."""

    def plain(self, text: str) -> str:
        return text

    def words(self, text: str) -> str:
        return text

    def leading_mention(self, text: str) -> tuple[Mentioned, str] | None:
        return None


@dataclass(frozen=True)
class GiveKudos:
    """``/learn kudos @someone for REASON``; ``recipient`` is the person mentioned."""

    recipient: Mentioned
    reason: str


@dataclass(frozen=True)
class ShowLeaderboard:
    """``/learn leaderboard [join|leave]``; ``join`` None (no word) only shows the board."""

    join: bool | None = None


@dataclass(frozen=True)
class SetMentoring:
    """``/learn mentor on|off``; ``available`` None (no word) shows the setting."""

    available: bool | None = None


@dataclass(frozen=True)
class AdminReload:
    """``/learn admin reload``."""


@dataclass(frozen=True)
class AdminAssign:
    """``/learn admin assign EMAIL ITEM [due YYYY-MM-DD]``."""

    email: str
    item: str
    due: date | None = None


@dataclass(frozen=True)
class AdminWaive:
    """``/learn admin waive EMAIL ITEM REASON...``."""

    email: str
    item: str
    reason: str


@dataclass(frozen=True)
class AdminReport:
    """``/learn admin report``."""


Command = (
    ShowHelp
    | ShowSummary
    | ShowDue
    | MarkDone
    | Snooze
    | SetAway
    | SetBack
    | ShowPolicy
    | ShowTeam
    | ShowCerts
    | SetPrivacy
    | GiveKudos
    | ShowLeaderboard
    | SetMentoring
    | AdminReload
    | AdminAssign
    | AdminWaive
    | AdminReport
)
ADMIN_COMMANDS = (AdminReload, AdminAssign, AdminWaive, AdminReport)


def is_admin_command(command: Command) -> bool:
    """Whether only learnbot admins may run ``command``."""
    return isinstance(command, ADMIN_COMMANDS)


# --- parsing ---------------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s,;<>|]+@[^@\s,;<>|]+\.[^@\s,;<>|]+$")
_ISO_DAY = re.compile(r"^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})$", re.ASCII)
_DURATION = re.compile(r"^([0-9]{1,3})\s*([a-z]*)$", re.ASCII)
_DAY_UNITS = {"": 1, "d": 1, "day": 1, "days": 1, "w": 7, "wk": 7, "week": 7, "weeks": 7}
# Straight and typographic double quotes group words: done "safety quiz".
_TOKEN = re.compile(r"[\"“”„]([^\"“”„]*)[\"“”„]|(\S+)")


def _tokens(text: str) -> list[str]:
    found = (quoted or word for quoted, word in _TOKEN.findall(text))
    return [token.strip() for token in found if token.strip()]


def _shown(word: str) -> str:
    """A word of the person's text, short enough to echo back."""
    word = "".join(ch if ch.isprintable() else "?" for ch in word)
    return word if len(word) <= SHOWN_WORD_MAX else word[: SHOWN_WORD_MAX - 1] + "…"


def parse_day(text: str, usage: str) -> date:
    """A ``YYYY-MM-DD`` date, or ``UsageError`` naming the usage line."""
    match = _ISO_DAY.match(text.strip())
    if match:
        try:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            pass
    raise UsageError(f"'{_shown(text)}' is not a date; write it as YYYY-MM-DD.", usage)


def parse_snooze_days(text: str, usage: str = USAGE["snooze"]) -> int:
    """A snooze length: ``3``, ``3d``, ``3 days``, ``1w``, ``2w`` -> days (1 to 14)."""
    match = _DURATION.match(text.strip().lower())
    if not match or match.group(2) not in _DAY_UNITS:
        raise UsageError(
            f"'{_shown(text)}' is not a snooze length; write e.g. 3d, 1w or 2w.", usage
        )
    days = int(match.group(1)) * _DAY_UNITS[match.group(2)]
    if not MIN_SNOOZE_DAYS <= days <= MAX_SNOOZE_DAYS:
        raise UsageError(
            f"A snooze lasts {MIN_SNOOZE_DAYS} to {MAX_SNOOZE_DAYS} days (1w or 2w also work).",
            usage,
        )
    return days


def _email(text: str, usage: str) -> str:
    email = text.strip().lower()
    if not _EMAIL.match(email):
        raise UsageError(f"'{_shown(text)}' is not an email address.", usage)
    return email


def _no_arguments(name: str, args: list[str]) -> None:
    if args:
        raise UsageError(f"{COMMAND} {name} takes nothing after it.", USAGE[name])


def parse_command(text: str, *, chat: ChatText | None = None) -> Command:
    """Parse the text of a ``/learn`` command.

    Args:
        text: What followed ``/learn``, as the platform sent it.
        chat: The platform's reading of its markup (mentions resolved to people, a
            mention in a kudos reason as "@Their Name"); default: text without markup.

    Returns:
        The command, with its arguments checked and typed.

    Raises:
        UsageError: the text is not a valid command; the message says why and, for a
            known subcommand, ``usage`` is its usage line. Nothing else is ever raised.
    """
    if not isinstance(text, str):
        raise UsageError("The command text is missing.", USAGE["help"])
    chat = chat if chat is not None else PlainText()
    kudos = _KUDOS.match(text)
    if kudos:  # before unescaping: a mention's user id is in the escaped form only
        return _parse_kudos(kudos.group(1), chat=chat)
    words = _tokens(chat.plain(text))
    if not words:
        return ShowSummary()
    name, args = words[0].lower(), words[1:]
    if name == "help":
        return ShowHelp()  # "help anything" still helps
    if name in ("due", "back", "policy", "team"):
        _no_arguments(name, args)
        return {"due": ShowDue, "back": SetBack, "policy": ShowPolicy, "team": ShowTeam}[name]()  # type: ignore[return-value]
    if name == "certs":
        _no_arguments(name, args)
        return ShowCerts()
    if name == "privacy":
        return _parse_privacy(args)
    if name in ("leaderboard", "board"):
        return _parse_leaderboard(args)
    if name in ("mentor", "mentoring"):
        return _parse_mentor(args)
    if name == "done":
        if not args:
            raise UsageError("Which item? Give its key or part of its title.", USAGE["done"])
        return MarkDone(" ".join(args))
    if name == "snooze":
        return _parse_snooze(args)
    if name == "away":
        return _parse_away(args)
    if name == "admin":
        return _parse_admin(args)
    raise UsageError(f"Unknown command '{_shown(words[0])}'. Try {COMMAND} help")


_KUDOS = re.compile(r"^\s*kudos(?:\s+(.*))?$", re.IGNORECASE | re.DOTALL)
_FOR = re.compile(r"^for(?:\s+|$)", re.IGNORECASE)


def _parse_kudos(rest: str | None, *, chat: ChatText) -> GiveKudos:
    usage = USAGE["kudos"]
    rest = (rest or "").strip()
    if not rest:
        raise UsageError("Who are the kudos for, and why?", usage)
    mention = chat.leading_mention(rest)
    if mention is None:
        raise UsageError(
            f"'{_shown(chat.plain(rest.split()[0]))}' is not a mention: start typing @ and "
            "pick the person from Slack's list.",
            usage,
        )
    recipient, after = mention
    # The reason is the giver's words as plain text: mentions as "@Name", no markup,
    # no control characters (renderers escape it again wherever it is shown).
    reason = one_line(chat.words(after))
    reason = _FOR.sub("", reason, count=1).strip()
    if not reason:
        raise UsageError("Say what the kudos are for.", usage)
    if len(reason) > KUDOS_REASON_MAX:
        raise UsageError(
            f"Keep the reason to {KUDOS_REASON_MAX} characters (it has {len(reason)}).", usage
        )
    return GiveKudos(recipient, reason)


def _parse_snooze(args: list[str]) -> Snooze:
    usage = USAGE["snooze"]
    if len(args) < 2:
        raise UsageError("Say which item and for how long, e.g. 3d.", usage)
    # "3 days" is two words; "3d" one.
    if len(args) >= 3 and args[-1].lower() in _DAY_UNITS and args[-2].isascii():
        length, item_words = f"{args[-2]}{args[-1]}", args[:-2]
    else:
        length, item_words = args[-1], args[:-1]
    days = parse_snooze_days(length, usage)
    if len(item_words) > 1 and item_words[-1].lower() == "for":  # "snooze safety for 3d"
        item_words = item_words[:-1]
    return Snooze(" ".join(item_words), days)


def _parse_privacy(args: list[str]) -> SetPrivacy:
    if not args:
        return SetPrivacy()
    if len(args) == 1 and args[0].lower() in ("public", "private"):
        return SetPrivacy(args[0].lower() == "public")
    raise UsageError("Say public or private.", USAGE["privacy"])


def _parse_leaderboard(args: list[str]) -> ShowLeaderboard:
    if not args:
        return ShowLeaderboard()
    if len(args) == 1 and args[0].lower() in ("join", "leave"):
        return ShowLeaderboard(args[0].lower() == "join")
    raise UsageError("Say join or leave, or nothing to see the board.", USAGE["leaderboard"])


def _parse_mentor(args: list[str]) -> SetMentoring:
    if not args:
        return SetMentoring()
    if len(args) == 1 and args[0].lower() in ("on", "off"):
        return SetMentoring(args[0].lower() == "on")
    raise UsageError("Say on or off.", USAGE["mentor"])


def _parse_away(args: list[str]) -> SetAway:
    usage = USAGE["away"]
    if args and args[0].lower() == "until":
        args = args[1:]
    if len(args) != 1:
        raise UsageError("Say until when you are away.", usage)
    return SetAway(parse_day(args[0], usage))


def _parse_admin(args: list[str]) -> Command:
    if not args:
        raise UsageError(
            "Which admin command? One of: " + ", ".join(ADMIN_NAMES) + ".", ADMIN_USAGE
        )
    name, rest = args[0].lower(), args[1:]
    if name == "reload":
        _no_arguments("admin reload", rest)
        return AdminReload()
    if name == "report":
        _no_arguments("admin report", rest)
        return AdminReport()
    if name == "assign":
        return _parse_assign(rest)
    if name == "waive":
        return _parse_waive(rest)
    raise UsageError(
        f"Unknown admin command '{_shown(args[0])}'. One of: " + ", ".join(ADMIN_NAMES) + ".",
        ADMIN_USAGE,
    )


def _parse_assign(args: list[str]) -> AdminAssign:
    usage = USAGE["admin assign"]
    if len(args) < 2:
        raise UsageError("Say whose email and which item.", usage)
    email = _email(args[0], usage)
    item_words, due = args[1:], None
    marker = next((i for i, word in enumerate(item_words) if i and word.lower() == "due"), None)
    if marker is not None:
        rest = item_words[marker + 1 :]
        if not rest:
            raise UsageError("Give the due date after 'due', as YYYY-MM-DD.", usage)
        due = parse_day(" ".join(rest), usage)
        item_words = item_words[:marker]
    return AdminAssign(email, " ".join(item_words), due)


def _parse_waive(args: list[str]) -> AdminWaive:
    usage = USAGE["admin waive"]
    if len(args) < 3:
        raise UsageError("Say whose email, which item (its key) and why.", usage)
    return AdminWaive(_email(args[0], usage), args[1], " ".join(args[2:]))
