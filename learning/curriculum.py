"""The program configuration file (curriculum as code): schema and validation.

``load_curriculum`` turns a YAML file into a validated ``ProgramConfig`` or raises
``ValidationFailed`` listing every mistake with file, line and field. See
``docs/configuration.md`` and ``examples/programs.yml``.
"""

from __future__ import annotations

import hashlib
import re
import reprlib
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from learning.calendar import WEEKDAYS, WorkCalendar
from learning.errors import Problem, ValidationFailed
from learning.periods import Period
from learning.yaml_source import line_of, load_yaml

METHODS = ("online", "classroom", "reading", "video", "shadowing", "assessment")
KEY_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"

_DURATION = re.compile(r"^\s*(\d+)\s*([a-z]+)\s*$")
# Durations land in date arithmetic (a certificate's expiry, a send window's end): far
# below date.max from any date learnbot sees, far above any real program's needs.
MAX_DAYS = 36_500  # 100 years
MAX_MONTHS = 1_200  # 100 years
MAX_MINUTES = 31 * 24 * 60  # a month
# Certification periods count on the calendar: (months, days) per unit. Months are
# "mo", never "m": "m" means minutes in the windows of this file (send_window: 240m).
_PERIOD_UNITS = {
    "d": (0, 1),
    "day": (0, 1),
    "days": (0, 1),
    "w": (0, 7),
    "week": (0, 7),
    "weeks": (0, 7),
    "mo": (1, 0),
    "month": (1, 0),
    "months": (1, 0),
    "y": (12, 0),
    "year": (12, 0),
    "years": (12, 0),
}
PERIOD_HINT = "write a number and a unit: 30d, 2w, 6mo or 1y"
_NOT_PERIOD_UNITS = {
    "m": "'m' is ambiguous (it means minutes in send_window and other windows): "
    "write mo for months, e.g. 6mo",
    **dict.fromkeys(
        ("min", "mins", "minute", "minutes", "h", "hr", "hour", "hours", "s", "sec"),
        "a certification period counts days, weeks, months or years",
    ),
}
_MINUTE_UNITS = {"m": 1, "min": 1, "minutes": 1, "h": 60, "hour": 60, "hours": 60}


def _period(value: Any) -> Period:
    """A calendar period ("1y", "18mo", "2w", "30d") from the programs file."""
    if isinstance(value, Period):
        return value
    if isinstance(value, bool):
        raise ValueError(f"bad duration {value!r}: {PERIOD_HINT}")
    if isinstance(value, int):
        raise ValueError(f"bad duration {value}: add a unit, {PERIOD_HINT}")
    text = str(value)
    match = _DURATION.match(text.lower())
    if match and match.group(2) in _NOT_PERIOD_UNITS:
        raise ValueError(
            f"bad duration {reprlib.repr(text.strip())}: {_NOT_PERIOD_UNITS[match.group(2)]}"
        )
    if not match or match.group(2) not in _PERIOD_UNITS:
        raise ValueError(f"bad duration {reprlib.repr(value)}: {PERIOD_HINT}")
    months, days = _PERIOD_UNITS[match.group(2)]
    count = int(match.group(1)) if len(match.group(1)) <= 9 else MAX_DAYS + 1
    if count * months > MAX_MONTHS or count * days > MAX_DAYS:
        raise ValueError(f"duration {reprlib.repr(text.strip())} is too long: at most 100y")
    return Period(months=count * months, days=count * days)


# A certification's validity, recertification window or grace: calendar units.
CalendarPeriod = Annotated[
    Period,
    PlainValidator(_period),
    PlainSerializer(str, return_type=str),
]


def _duration(units: dict[str, int], hint: str, *, limit: int, most: str) -> Any:
    """A validator for "90m"-style durations, counted in the smallest of ``units``, at
    most ``limit`` of them (``most`` says it in words)."""

    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError(f"bad duration {value!r}: {hint}")
        if isinstance(value, int):
            raise ValueError(f"bad duration {value}: add a unit, {hint}")
        text = str(value)
        match = _DURATION.match(text.lower())
        if not match or match.group(2) not in units:
            raise ValueError(f"bad duration {reprlib.repr(value)}: {hint}")
        if len(match.group(1)) > 9 or int(match.group(1)) * units[match.group(2)] > limit:
            raise ValueError(f"duration {reprlib.repr(text.strip())} is too long: {most}")
        return int(match.group(1)) * units[match.group(2)]

    return BeforeValidator(parse)


Minutes = Annotated[
    int,
    _duration(
        _MINUTE_UNITS,
        "write a number and a unit: 90m or 4h",
        limit=MAX_MINUTES,
        most=f"at most {MAX_MINUTES // 60}h (31 days)",
    ),
    Field(ge=0),
    PlainSerializer(lambda minutes: f"{minutes}m", return_type=str),
]
Key = Annotated[str, Field(pattern=KEY_PATTERN)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _clock_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int):
        raise ValueError('write the time in quotes as HH:MM, e.g. "09:30"')
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", str(value).strip())
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ValueError(f'bad time {value!r}: write HH:MM in quotes, e.g. "09:30"')
    return time(int(match.group(1)), int(match.group(2)))


ClockTime = Annotated[
    time,
    BeforeValidator(_clock_time),
    PlainSerializer(lambda at: at.strftime("%H:%M"), return_type=str),
]


def _timezone(value: Any) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" is a folder
        raise ValueError(
            f"unknown time zone {reprlib.repr(value)}: use an IANA name such as Europe/London"
        ) from None
    return str(value)


TimeZoneName = Annotated[str, BeforeValidator(_timezone)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class ItemSpec(_Strict):
    title: str = Field(min_length=1, max_length=200)
    method: Literal["online", "classroom", "reading", "video", "shadowing", "assessment"]
    url: str | None = Field(default=None, pattern=r"^https?://\S+$", max_length=500)
    minutes: int = Field(default=0, ge=0, le=100_000)
    requires: list[Key] = Field(default_factory=list)


class TierEntry(_Strict):
    item: Key
    due: int = Field(ge=0, le=2000, description="working days from the tier's start")
    required: bool = False


class TierSpec(_Strict):
    key: Key
    title: str = Field(min_length=1, max_length=200)
    starts_on_day: int = Field(ge=0, le=3650)
    items: list[TierEntry] = Field(min_length=1)


class ProgramSpec(_Strict):
    title: str = Field(min_length=1, max_length=200)
    tiers: list[TierSpec] = Field(min_length=1, max_length=2)

    @model_validator(mode="after")
    def _tiers_in_order(self) -> ProgramSpec:
        if self.tiers[0].starts_on_day != 0:
            raise ValueError("the first tier must start on day 0 of the role")
        if len(self.tiers) == 2 and self.tiers[1].starts_on_day <= self.tiers[0].starts_on_day:
            raise ValueError("the second tier must start after the first")
        return self


class CertificationItem(_Strict):
    item: Key
    min_score: float | None = Field(default=None, ge=0, le=100)
    # A score the learner types (the Done form) counts towards min_score. Off by default:
    # only a score from a trusted source (learning.certifications.TRUSTED_SCORE_SOURCES).
    self_reported_scores: bool = False

    @model_validator(mode="after")
    def _self_reported_needs_a_minimum(self) -> CertificationItem:
        if self.self_reported_scores and self.min_score is None:
            raise ValueError(
                "self_reported_scores only matters with a min_score: "
                "without one, any completion counts"
            )
        return self


def _cert_item(value: Any) -> Any:
    return {"item": value} if isinstance(value, str) else value


class CertificationSpec(_Strict):
    title: str = Field(min_length=1, max_length=200)
    items: list[Annotated[CertificationItem, BeforeValidator(_cert_item)]] | None = None
    tier: str | None = Field(default=None, description="ROLE/TIER: the tier's required items")
    valid_for: CalendarPeriod
    recertify_window: CalendarPeriod = Period(days=30)
    grace: CalendarPeriod = Period()

    @model_validator(mode="after")
    def _one_source(self) -> CertificationSpec:
        if (self.items is None) == (self.tier is None):
            raise ValueError("give exactly one of 'items' (a list) or 'tier' (ROLE/TIER)")
        if not self.valid_for:
            raise ValueError("valid_for must be more than 0 days")
        return self


class Organisation(_Strict):
    name: str = "Our company"
    timezone: TimeZoneName = "UTC"


class Cadence(_Strict):
    send_time: ClockTime = time(9, 30)
    send_window: Minutes = 240
    lookahead_working_days: int = Field(default=5, ge=0, le=60)
    suggestions_weekday: Weekday = "mon"
    max_suggestions: int = Field(default=3, ge=0, le=10)


class ManagerDigest(_Strict):
    """When managers get their weekly digest: ``weekday`` from ``time`` for ``window``,
    in each manager's own time zone (see ``schedules.weekly_digest``)."""

    enabled: bool = True
    weekday: Weekday = "fri"
    time: ClockTime = time(15, 0)
    window: Minutes = 240

    @field_validator("window")
    @classmethod
    def _window_fits_a_day(cls, minutes: int) -> int:
        if not 1 <= minutes <= 24 * 60:
            raise ValueError(f"window must be from 1m to 24h (got {minutes}m)")
        return minutes


class Region(_Strict):
    timezones: list[TimeZoneName] = Field(min_length=1)
    dates: list[date] = Field(default_factory=list)


class Holidays(_Strict):
    everywhere: list[date] = Field(default_factory=list)
    regions: dict[Key, Region] = Field(default_factory=dict)


class CalendarSpec(_Strict):
    working_days: list[Weekday] = Field(default=["mon", "tue", "wed", "thu", "fri"], min_length=1)
    holidays: Holidays = Holidays()


class LadderStep(_Strict):
    after_overdue: int = Field(ge=0, le=365, description="working days past the due date")
    notify: Literal["learner", "manager", "skip_level"]


def _default_steps() -> list[LadderStep]:
    return [
        LadderStep(after_overdue=3, notify="learner"),
        LadderStep(after_overdue=5, notify="manager"),
        LadderStep(after_overdue=10, notify="skip_level"),
    ]


class Escalation(_Strict):
    remind_before_due: list[int] = Field(default=[3, 0])
    steps: list[LadderStep] = Field(default_factory=_default_steps)
    extension_pause_max_days: int = Field(default=5, ge=0, le=60)

    @field_validator("steps")
    @classmethod
    def _ascending(cls, steps: list[LadderStep]) -> list[LadderStep]:
        days = [step.after_overdue for step in steps]
        if days != sorted(days) or len(set(days)) != len(days):
            raise ValueError("steps must climb: each after_overdue larger than the one before")
        return steps


class Channels(_Strict):
    recognition: str | None = None
    community: str | None = None
    admins: str | None = None


class KudosSpec(_Strict):
    """``/learn kudos``: how many kudos one person may give per day (their local day);
    0 switches kudos off."""

    daily_quota: int = Field(default=3, ge=0, le=100)


class GameBoardSpec(_Strict):
    """The weekly game board in ``channels.recognition``: ``weekday`` at ``time`` in the
    organisation's time zone (see ``learning.game_board``)."""

    enabled: bool = True
    weekday: Weekday = "mon"
    time: ClockTime = time(10, 0)
    window: Minutes = 240
    top_teams: int = Field(default=10, ge=1, le=25)
    top_people: int = Field(default=5, ge=0, le=25)
    min_team_size: int = Field(default=2, ge=1, le=1000)


class PeerPromptsSpec(_Strict):
    """Peer-learning prompts in ``channels.community`` (see ``learning.peer_prompts``):
    on each of ``weekdays`` at ``time`` (organisation time zone), an item many people
    have due within ``due_within_days``, chosen in proportion to that count and never
    one prompted in the last ``no_repeat_weeks``. The thread follow-up introducing
    helpers to learners comes ``follow_up_after`` later."""

    enabled: bool = True
    weekdays: list[Weekday] = Field(default=["tue"], min_length=1)
    time: ClockTime = time(11, 0)
    window: Minutes = 240
    due_within_days: int = Field(default=14, ge=1, le=365)
    min_learners: int = Field(default=2, ge=1, le=10000)
    no_repeat_weeks: int = Field(default=6, ge=0, le=104)
    follow_up_after: Minutes = 24 * 60


class MentoringSpec(_Strict):
    """Mentor pairing (see ``learning.mentoring``): a mentor gets at most
    ``weekly_cap`` new learners in any 7 days, the same two people are not paired
    again within ``no_repeat_weeks``, and a certified mentor's award must stay valid
    for at least ``min_valid_days`` more days."""

    enabled: bool = True
    weekly_cap: int = Field(default=2, ge=1, le=50)
    no_repeat_weeks: int = Field(default=8, ge=0, le=104)
    min_valid_days: int = Field(default=30, ge=0, le=365)


class DueDatesSpec(_Strict):
    """How due dates are fixed (see ``learning.enrollment``): an item that waited for a
    prerequisite is due at least ``after_prerequisite`` working days after the learner's
    local day learnbot recorded the prerequisite done (and never before its own date)."""

    after_prerequisite: int = Field(default=3, ge=0, le=60)


class AwardsSpec(_Strict):
    """How certifications are told (see ``learning.certifications``): an award whose
    last requirement was completed more than ``silent_after`` before learnbot records it
    (an LMS history import, a certification added later) is recorded silently: no DM,
    no shout-out, no milestone post. The first-tier milestone follows the same rule."""

    silent_after: CalendarPeriod = Period(days=14)


class ProgramSettings(_Strict):
    """Everything in the file that is not the curriculum itself."""

    organisation: Organisation = Organisation()
    cadence: Cadence = Cadence()
    manager_digest: ManagerDigest = ManagerDigest()
    calendar: CalendarSpec = CalendarSpec()
    escalation: Escalation = Escalation()
    channels: Channels = Channels()
    kudos: KudosSpec = KudosSpec()
    game_board: GameBoardSpec = GameBoardSpec()
    peer_prompts: PeerPromptsSpec = PeerPromptsSpec()
    mentoring: MentoringSpec = MentoringSpec()
    awards: AwardsSpec = AwardsSpec()
    due_dates: DueDatesSpec = DueDatesSpec()

    def calendar_for(self, timezone: str | None) -> WorkCalendar:
        """The working calendar of someone in ``timezone``."""
        weekdays = frozenset(WEEKDAYS.index(day) for day in self.calendar.working_days)
        holidays = set(self.calendar.holidays.everywhere)
        zone = timezone or self.organisation.timezone
        for region in self.calendar.holidays.regions.values():
            if zone in region.timezones:
                holidays.update(region.dates)
        return WorkCalendar(weekdays, frozenset(holidays))


class ProgramConfig(ProgramSettings):
    """The whole validated file."""

    items: dict[Key, ItemSpec]
    programs: dict[Key, ProgramSpec]
    certifications: dict[Key, CertificationSpec] = Field(default_factory=dict)

    def settings(self) -> ProgramSettings:
        return ProgramSettings.model_validate(
            self.model_dump(include=set(ProgramSettings.model_fields))
        )

    def certification_items(self, key: str) -> list[CertificationItem]:
        """The items a certification needs, resolving ``tier: ROLE/TIER``."""
        spec = self.certifications[key]
        if spec.items is not None:
            return list(spec.items)
        role, _, tier_key = (spec.tier or "").partition("/")
        tier = next(t for t in self.programs[role].tiers if t.key == tier_key)
        return [CertificationItem(item=entry.item) for entry in tier.items if entry.required]


class LoadedConfig(BaseModel):
    """A validated file and where it came from."""

    model_config = ConfigDict(frozen=True)

    config: ProgramConfig
    source: str
    sha256: str


def _field_name(loc: tuple[str | int, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif part.startswith(("function-", "constrained-")) or part in ("str", "int"):
            continue
        else:
            parts.append(("." if parts else "") + part)
    return "".join(parts)


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    loc = error["loc"]
    if kind == "extra_forbidden":
        return f"unknown key {loc[-1]!r}"
    if kind == "missing":
        return f"missing required field {loc[-1]!r}"
    # The input is shown short: a mistaken value may be a long text or a large list.
    shown = reprlib.repr(error.get("input"))
    if kind == "string_pattern_mismatch" and "url" in loc:
        return f"not a web address: {shown} (write https://...)"
    if kind == "string_pattern_mismatch":
        return f"bad key {shown}: use lower-case letters, digits, '-', '_' or '.'"
    if kind == "literal_error":
        allowed = str(error["msg"]).removeprefix("Input should be ")
        return f"{shown} is not allowed: {allowed}"
    message = str(error["msg"]).removeprefix("Value error, ")
    if (
        "input" in error
        and kind not in ("value_error",)
        and not isinstance(error["input"], dict | list)
    ):
        message += f" (got {shown})"
    return message


def _schema_problems(exc: ValidationError, data: Any, filename: str) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if not str(part).startswith("function-"))
        problems.append(Problem(filename, line_of(data, loc), _field_name(loc), _message(error)))
    return problems


def _cross_check(config: ProgramConfig, data: Any, filename: str) -> list[Problem]:
    """Checks that span sections: references, cycles, duplicates."""
    problems: list[Problem] = []

    def add(path: tuple[str | int, ...], message: str) -> None:
        problems.append(Problem(filename, line_of(data, path), _field_name(path), message))

    for key, item in config.items.items():
        for index, needed in enumerate(item.requires):
            if needed not in config.items:
                add(("items", key, "requires", index), f"unknown prerequisite {needed!r}")
            elif needed == key:
                add(("items", key, "requires", index), "an item cannot require itself")

    for cycle in _prerequisite_cycles(config):
        add(
            ("items", cycle[0], "requires"),
            "prerequisites form a cycle: " + " -> ".join([*cycle, cycle[0]]),
        )

    # Only a section the file writes is checked, so a file written before the digest
    # existed keeps loading; its default Friday is simply never a digest day if Friday is
    # not a working day there (docs/configuration.md says so).
    digest = config.manager_digest
    if (
        "manager_digest" in config.model_fields_set
        and digest.enabled
        and digest.weekday not in config.calendar.working_days
    ):
        add(
            ("manager_digest", "weekday"),
            f"{digest.weekday!r} is not in calendar.working_days, so the weekly manager "
            "digest would never be sent (pick a working day, or set enabled: false)",
        )

    in_programs: set[str] = set()
    for role, program in config.programs.items():
        seen: dict[str, tuple[int, int]] = {}
        tier_keys: set[str] = set()
        for t_index, tier in enumerate(program.tiers):
            if tier.key in tier_keys:
                add(("programs", role, "tiers", t_index, "key"), f"duplicate tier key {tier.key!r}")
            tier_keys.add(tier.key)
            for e_index, entry in enumerate(tier.items):
                path: tuple[str | int, ...] = (
                    "programs",
                    role,
                    "tiers",
                    t_index,
                    "items",
                    e_index,
                    "item",
                )
                if entry.item not in config.items:
                    add(path, f"unknown item {entry.item!r} (not in the items section)")
                elif entry.item in seen:
                    first = seen[entry.item]
                    line = line_of(data, ("programs", role, "tiers", first[0], "items", first[1]))
                    add(path, f"item {entry.item!r} is already in this program (line {line})")
                else:
                    seen[entry.item] = (t_index, e_index)
                in_programs.add(entry.item)

    for key, cert in config.certifications.items():
        if cert.tier is not None:
            role, _, tier_key = cert.tier.partition("/")
            owner = config.programs.get(role)
            if owner is None or tier_key not in {t.key for t in owner.tiers}:
                add(
                    ("certifications", key, "tier"),
                    f"unknown tier {cert.tier!r}: write ROLE/TIER with keys from programs",
                )
            elif not config.certification_items(key):
                add(("certifications", key, "tier"), f"tier {cert.tier!r} has no required items")
            continue
        seen_items: set[str] = set()
        for index, requirement in enumerate(cert.items or []):
            path = ("certifications", key, "items", index)
            if requirement.item not in config.items:
                add(path, f"unknown item {requirement.item!r}")
            elif requirement.item not in in_programs:
                add(path, f"item {requirement.item!r} is in no program, so nobody could earn this")
            elif requirement.item in seen_items:
                add(path, f"item {requirement.item!r} is listed twice")
            elif (
                requirement.min_score is not None
                and config.items[requirement.item].method != "assessment"
            ):
                add(
                    path,
                    f"min_score needs an assessment item; {requirement.item!r} is "
                    f"{config.items[requirement.item].method}",
                )
            seen_items.add(requirement.item)
        if not cert.items:
            add(("certifications", key, "items"), "a certification needs at least one item")
    return problems


def _prerequisite_cycles(config: ProgramConfig) -> list[list[str]]:
    graph = {
        key: [r for r in item.requires if r in config.items and r != key]
        for key, item in config.items.items()
    }
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []
    # Depth-first without recursion: a chain of thousands of prerequisites is fine.
    for start in sorted(graph):
        if start in state:
            continue
        path: list[str] = [start]
        pending = [iter(graph[start])]
        state[start] = 1
        while pending:
            nxt = next(pending[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                pending.pop()
            elif state.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :])
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                pending.append(iter(graph[nxt]))
    return cycles


def parse_curriculum(text: str, filename: str) -> LoadedConfig:
    """Validate configuration ``text``; raise ``ValidationFailed`` with every problem."""
    data, problems = load_yaml(text, filename)
    if data is None and not problems:
        problems = [Problem(filename, None, "", "the file is empty")]
    if problems:
        raise ValidationFailed(problems)
    if not isinstance(data, dict):
        raise ValidationFailed([Problem(filename, 1, "", "the file must be a mapping of sections")])
    try:
        config = ProgramConfig.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(_schema_problems(exc, data, filename)) from None
    problems = _cross_check(config, data, filename)
    if problems:
        raise ValidationFailed(problems)
    return LoadedConfig(
        config=config, source=filename, sha256=hashlib.sha256(text.encode()).hexdigest()
    )


def load_curriculum(path: str | Path) -> LoadedConfig:
    """Read and validate the configuration file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationFailed([Problem(str(path), None, "", "file not found")]) from None
    except UnicodeDecodeError as exc:
        raise ValidationFailed([Problem(str(path), None, "", f"not UTF-8 text: {exc}")]) from None
    return parse_curriculum(text, str(path))
