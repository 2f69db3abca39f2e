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
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from learning.calendar import WEEKDAYS, WorkCalendar
from learning.errors import Problem, ValidationFailed
from learning.periods import Period
from learning.suggest import Suggester, did_you_mean, time_zone_hint
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
        hint = time_zone_hint(value)
        raise ValueError(f"unknown time zone {reprlib.repr(value)}: {hint}") from None
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


def _unwrap(annotation: Any) -> Any:
    """The type inside ``Annotated[...]`` and ``X | None``."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, UnionType):
            others = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(others) != 1:
                return annotation
            annotation = others[0]
        else:
            return annotation


def _keys_at(loc: tuple[str | int, ...]) -> list[str]:
    """The keys the file may write in the mapping at ``loc`` (empty if unknown)."""
    annotation: Any = ProgramConfig
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return []
            annotation = field.annotation
        elif get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        elif get_origin(annotation) is list and isinstance(part, int):
            annotation = get_args(annotation)[0]
        else:
            return []
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    loc = error["loc"]
    if kind == "extra_forbidden":
        hint = did_you_mean(loc[-1], _keys_at(loc[:-1]))
        return f"unknown key {_name(str(loc[-1]))}" + (f" ({hint})" if hint else "")
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
        hint = did_you_mean(error.get("input"), re.findall(r"'([^']*)'", allowed))
        return f"{shown} is not allowed: {allowed}" + (f" ({hint})" if hint else "")
    message = str(error["msg"]).removeprefix("Value error, ")
    if (
        "input" in error
        and kind not in ("value_error",)
        and not isinstance(error["input"], dict | list)
    ):
        message += f" (got {shown})"
    return message


def _schema_errors(exc: ValidationError) -> list[tuple[tuple[str | int, ...], str]]:
    """Each schema error's place in the file and what to say about it."""
    errors = []
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if not str(part).startswith("function-"))
        errors.append((loc, _message(error)))
    return errors


# --- checks across sections, on the file as written -------------------------------------
#
# They read the YAML data, not the validated model, so they run even when the schema
# check found mistakes: every problem is reported in one pass. A value of the wrong shape
# is skipped here (the schema check reports it), and a problem at or under a place the
# schema check already reported is dropped.

Path_ = tuple[str | int, ...]
_FLAG = TypeAdapter(bool)
_DEFAULT_WORKING_DAYS = ("mon", "tue", "wed", "thu", "fri")


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    """A name as the schema reads it (stripped), or None if it is not text."""
    return value.strip() if isinstance(value, str) else None


def _flag(value: Any, default: bool) -> bool | None:
    """A yes/no as the schema reads it; None if it is not one."""
    if value is None:
        return default
    try:
        return _FLAG.validate_python(value)
    except ValidationError:
        return None


def _entry_item(value: Any) -> str | None:
    """The item key of a tier entry or a certification requirement (text or mapping)."""
    return _text(value) if isinstance(value, str) else _text(_mapping(value).get("item"))


def _name(name: str) -> str:
    """A name as the file wrote it, quoted, at most about 64 characters."""
    return repr(name if len(name) <= 64 else name[:61] + "...")


class _CrossCheck:
    """The checks that span sections: references, cycles, duplicates."""

    def __init__(self, data: Any) -> None:
        self.data = _mapping(data)
        self.items = _mapping(self.data.get("items"))
        self.item_keys = {key for key in self.items if isinstance(key, str)}
        self.programs = _mapping(self.data.get("programs"))
        self.problems: list[tuple[Path_, str]] = []
        self.suggester = Suggester()

    def add(self, path: Path_, message: str) -> None:
        self.problems.append((path, message))

    def unknown(self, kind: str, name: str, known: Any, *, note: str = "") -> str:
        hint = "; ".join(part for part in (note, self.suggester.did_you_mean(name, known)) if part)
        return f"unknown {kind} {_name(name)}" + (f" ({hint})" if hint else "")

    def run(self) -> list[tuple[Path_, str]]:
        self.prerequisites()
        self.manager_digest()
        in_programs = self.program_entries()
        self.certifications(in_programs)
        return self.problems

    def requires(self, key: str) -> list[tuple[int, str]]:
        return [
            (index, name)
            for index, value in enumerate(_listed(_mapping(self.items[key]).get("requires")))
            if (name := _text(value)) is not None
        ]

    def prerequisites(self) -> None:
        graph: dict[str, list[str]] = {}
        for key in sorted(self.item_keys):
            graph[key] = []
            for index, needed in self.requires(key):
                path = ("items", key, "requires", index)
                if needed not in self.item_keys:
                    self.add(path, self.unknown("prerequisite", needed, self.item_keys))
                elif needed == key:
                    self.add(path, "an item cannot require itself")
                else:
                    graph[key].append(needed)
        for cycle in _cycles(graph):
            self.add(
                ("items", cycle[0], "requires"),
                "prerequisites form a cycle: " + " -> ".join([*cycle, cycle[0]]),
            )

    def manager_digest(self) -> None:
        # Only a section the file writes is checked, so a file written before the digest
        # existed keeps loading; its default Friday is simply never a digest day if Friday
        # is not a working day there (docs/configuration.md says so).
        if "manager_digest" not in self.data:
            return
        digest = _mapping(self.data["manager_digest"])
        weekday = _text(digest.get("weekday", "fri"))
        calendar = _mapping(self.data.get("calendar"))
        working = calendar.get("working_days", list(_DEFAULT_WORKING_DAYS))
        days = [_text(day) for day in _listed(working)]
        if (
            _flag(digest.get("enabled"), True)
            and weekday in WEEKDAYS
            and days
            and all(day in WEEKDAYS for day in days)
            and weekday not in days
        ):
            self.add(
                ("manager_digest", "weekday"),
                f"{weekday!r} is not in calendar.working_days, so the weekly manager "
                "digest would never be sent (pick a working day, or set enabled: false)",
            )

    def program_entries(self) -> set[str]:
        """Check each program's items; return every item some program has."""
        in_programs: set[str] = set()
        for role, program in self.programs.items():
            seen: dict[str, Path_] = {}
            tier_keys: set[str] = set()
            for t_index, tier in enumerate(_listed(_mapping(program).get("tiers"))):
                tier = _mapping(tier)
                tier_key = _text(tier.get("key"))
                if tier_key is not None and tier_key in tier_keys:
                    self.add(
                        ("programs", role, "tiers", t_index, "key"),
                        f"duplicate tier key {tier_key!r}",
                    )
                if tier_key is not None:
                    tier_keys.add(tier_key)
                for e_index, entry in enumerate(_listed(tier.get("items"))):
                    item = _text(_mapping(entry).get("item"))
                    if item is None:
                        continue
                    entry_path = ("programs", role, "tiers", t_index, "items", e_index)
                    if item not in self.item_keys:
                        self.add(
                            (*entry_path, "item"),
                            self.unknown(
                                "item",
                                item,
                                self.item_keys,
                                note="not in the items section",
                            ),
                        )
                    elif item in seen:
                        line = line_of(self.data, seen[item])
                        self.add(
                            (*entry_path, "item"),
                            f"item {item!r} is already in this program (line {line})",
                        )
                    else:
                        seen[item] = entry_path
                    in_programs.add(item)
        return in_programs

    def tiers(self) -> dict[str, list[Any]]:
        """``ROLE/TIER`` -> the tier's entries, for every tier the programs name."""
        found: dict[str, list[Any]] = {}
        for role, program in self.programs.items():
            for tier in _listed(_mapping(program).get("tiers")):
                key = _text(_mapping(tier).get("key"))
                if key is not None:
                    found.setdefault(f"{role}/{key}", _listed(_mapping(tier).get("items")))
        return found

    def certifications(self, in_programs: set[str]) -> None:
        for key, cert in _mapping(self.data.get("certifications")).items():
            cert = _mapping(cert)
            tier, items = cert.get("tier"), cert.get("items")
            if (tier is None) == (items is None):
                continue  # neither or both: the schema check says so
            if tier is not None:
                self.certification_tier(key, _text(tier))
            else:
                self.certification_items(key, items, in_programs)

    def certification_tier(self, key: str, tier: str | None) -> None:
        tiers = self.tiers()
        if tier is None:
            return
        path = ("certifications", key, "tier")
        if tier not in tiers:
            hint = self.suggester.did_you_mean(tier, tiers)
            self.add(
                path,
                f"unknown tier {_name(tier)}: write ROLE/TIER with keys from programs"
                + (f" ({hint})" if hint else ""),
            )
        elif not any(_flag(_mapping(entry).get("required"), False) for entry in tiers[tier]):
            self.add(path, f"tier {tier!r} has no required items")

    def certification_items(self, key: str, items: Any, in_programs: set[str]) -> None:
        if isinstance(items, list) and not items:
            self.add(("certifications", key, "items"), "a certification needs at least one item")
        seen: set[str] = set()
        for index, requirement in enumerate(_listed(items)):
            item = _entry_item(requirement)
            if item is None:
                continue
            path = ("certifications", key, "items", index)
            method = _text(_mapping(self.items.get(item)).get("method"))
            if item not in self.item_keys:
                self.add(path, self.unknown("item", item, self.item_keys))
            elif item not in in_programs:
                self.add(path, f"item {item!r} is in no program, so nobody could earn this")
            elif item in seen:
                self.add(path, f"item {item!r} is listed twice")
            elif (
                _mapping(requirement).get("min_score") is not None
                and method in METHODS
                and method != "assessment"
            ):
                self.add(path, f"min_score needs an assessment item; {item!r} is {method}")
            seen.add(item)


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Prerequisite cycles in ``graph`` (item -> the items it requires)."""
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


def _covered(path: Path_, reported: list[Path_]) -> bool:
    """Whether the schema check reported a problem at ``path`` or above it."""
    return any(path[: len(place)] == place for place in reported)


def parse_curriculum(text: str, filename: str) -> LoadedConfig:
    """Validate configuration ``text``; raise ``ValidationFailed`` with every problem:
    the schema's and those across sections (references, cycles), in one pass."""
    data, problems = load_yaml(text, filename)
    if data is None and not problems:
        problems = [Problem(filename, None, "", "the file is empty")]
    if problems:
        raise ValidationFailed(problems)
    if not isinstance(data, dict):
        raise ValidationFailed([Problem(filename, 1, "", "the file must be a mapping of sections")])
    config: ProgramConfig | None = None
    reported: list[Path_] = []
    try:
        config = ProgramConfig.model_validate(data)
    except ValidationError as exc:
        for loc, message in _schema_errors(exc):
            problems.append(Problem(filename, line_of(data, loc), _field_name(loc), message))
            reported.append(loc)
    for path, message in _CrossCheck(data).run():
        if not _covered(path, reported):
            problems.append(Problem(filename, line_of(data, path), _field_name(path), message))
    if problems or config is None:
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
