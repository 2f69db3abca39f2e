"""A deterministic generator of realistic organisations, as rows of the people CSV.

The shape: a CEO, then VPs (one per function: Engineering, Sales, Support), then
directors (as many levels as the size needs), then front-line managers, then the
individual contributors who are most of the company. Every manager has about 6-10
direct reports (the CEO has whatever is left at the top, at most 10), so 10,000 people
are 6 levels deep (CEO -> VP -> senior director -> director -> manager -> IC) and
100,000 are 7. Rows come out level by level, so every manager comes before their
reports.

Columns are those of ``python bot.py import-people``: ``email, name, manager_email,
role, team, role_start_date, timezone, slack_user_id``. Roles come from
``examples/programs.yml`` (engineer, sales, support: a function's role). A front-line
manager and their reports share a team ("Payments EMEA 3"); VPs and directors are in
their function's team, the CEO in "Leadership". Teams sit mostly in one time zone
(seven zones on four continents, a few people with none, who get the organisation's);
role start dates are spread over the 400 days before ``as_of``, so people are in both
tiers of their path; about 80% have a Slack user id.

Streaming: ``iter_people`` keeps only one level of managers in memory, never the rows,
so 100,000 people (or a million) cost a few megabytes. The same ``n``, ``seed`` and
``as_of`` always give the same rows, on any platform.

    python -m bench.orggen 100000 /tmp/people.csv --as-of 2026-12-01
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import string
import sys
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

COLUMNS = (
    "email",
    "name",
    "manager_email",
    "role",
    "team",
    "role_start_date",
    "timezone",
    "slack_user_id",
)
DOMAIN = "acme.example"
MIN_SPAN, AVG_SPAN, MAX_SPAN = 6, 8, 10
START_WINDOW_DAYS = 400
SLACK_ID_SHARE = 0.8
SLACK_ID_CHARS = string.ascii_uppercase + string.digits
CEO_ZONE = "Europe/London"


@dataclass(frozen=True)
class Function:
    """A department under one VP: its role in programs.yml and its teams' names."""

    name: str
    role: str
    weight: float  # relative headcount
    areas: tuple[str, ...]


FUNCTIONS = (
    Function(
        "Engineering",
        "engineer",
        1.8,
        (
            "Platform",
            "Payments",
            "Mobile",
            "Web",
            "Data",
            "Infrastructure",
            "Search",
            "Identity",
            "Billing",
            "Developer Experience",
            "Security",
            "Reliability",
            "Growth",
            "Integrations",
        ),
    ),
    Function(
        "Sales",
        "sales",
        1.0,
        (
            "Enterprise",
            "Mid-Market",
            "SMB",
            "Partnerships",
            "Renewals",
            "Sales Development",
            "Solutions",
        ),
    ),
    Function(
        "Support",
        "support",
        1.0,
        (
            "Customer Care",
            "Technical Support",
            "Onboarding",
            "Escalations",
            "Billing Support",
            "Community",
        ),
    ),
)

# (zone, weight, region): where teams sit.
ZONES = (
    ("America/New_York", 24, "Americas"),
    ("Europe/London", 20, "EMEA"),
    ("America/Los_Angeles", 18, "Americas"),
    ("Asia/Kolkata", 16, "APAC"),
    ("Australia/Sydney", 8, "APAC"),
    ("America/Chicago", 8, "Americas"),
    ("Europe/Berlin", 6, "EMEA"),
)
_ZONE_NAMES = tuple(zone for zone, _, _ in ZONES)
_ZONE_WEIGHTS = tuple(weight for _, weight, _ in ZONES)
REGION = {zone: region for zone, _, region in ZONES}

FIRST_NAMES = (
    "Aaliyah",
    "Aarav",
    "Abebe",
    "Adaeze",
    "Aiko",
    "Alejandro",
    "Amara",
    "Ana",
    "Andrei",
    "Anika",
    "Arjun",
    "Astrid",
    "Ayesha",
    "Bilal",
    "Björn",
    "Carmen",
    "Chen",
    "Chiara",
    "Chloé",
    "Daniel",
    "Deepa",
    "Diego",
    "Divya",
    "Elena",
    "Emeka",
    "Emma",
    "Fatima",
    "Finn",
    "Freya",
    "Gabriel",
    "Grace",
    "Hana",
    "Hannah",
    "Hiro",
    "Ibrahim",
    "Ines",
    "Isabella",
    "Ivan",
    "Jamal",
    "James",
    "Ji-woo",
    "José",
    "Julia",
    "Kai",
    "Kavya",
    "Kenji",
    "Kofi",
    "Lars",
    "Leila",
    "Liam",
    "Lucas",
    "Maya",
    "Mei",
    "Mohammed",
    "Nadia",
    "Naledi",
    "Niamh",
    "Noah",
    "Olivia",
    "Omar",
    "Pia",
    "Priya",
    "Rafael",
    "Rahul",
    "Rania",
    "Ravi",
    "Sakura",
    "Samuel",
    "Santiago",
    "Sara",
    "Siobhan",
    "Sofia",
    "Søren",
    "Tariq",
    "Thandiwe",
    "Tom",
    "Valentina",
    "Vera",
    "Wei",
    "Yara",
    "Yusuf",
    "Zainab",
    "Zoë",
)
LAST_NAMES = (
    "Adeyemi",
    "Ahmed",
    "Alvarez",
    "Andersen",
    "Bauer",
    "Becker",
    "Brown",
    "Chen",
    "Cohen",
    "da Silva",
    "Dubois",
    "Dumitru",
    "Eriksson",
    "Fernandes",
    "Fischer",
    "Garcia",
    "Gonzalez",
    "Gupta",
    "Haddad",
    "Hansen",
    "Hernandez",
    "Ivanova",
    "Iyer",
    "Jackson",
    "Jensen",
    "Johnson",
    "Kapoor",
    "Khan",
    "Kim",
    "Kowalski",
    "Kumar",
    "Lee",
    "Li",
    "Lopez",
    "Martin",
    "Mbeki",
    "Mehta",
    "Müller",
    "Murphy",
    "Nakamura",
    "Nguyen",
    "Novak",
    "Nowak",
    "O'Brien",
    "Okafor",
    "Okonkwo",
    "Olsen",
    "Park",
    "Patel",
    "Pereira",
    "Petrov",
    "Reddy",
    "Rossi",
    "Sato",
    "Schmidt",
    "Shah",
    "Silva",
    "Singh",
    "Smith",
    "Suzuki",
    "Tanaka",
    "Taylor",
    "Thomas",
    "Tran",
    "Wang",
    "Williams",
    "Wilson",
    "Wu",
    "Yamamoto",
    "Yilmaz",
    "Zhang",
    "Zhou",
)
_ASCII_FOLD = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ß": "ss", "ł": "l"})


@dataclass(frozen=True)
class _Node:
    """What a person's reports inherit from them."""

    email: str
    function: Function | None
    team: str
    zone: str


def level_sizes(n: int) -> list[int]:
    """Headcount per level, top down: ``[1 (CEO), VPs, ..., managers, ICs]``.

    Built bottom up: each level above the ICs is ``ceil(level below / 8)`` until a
    level fits under the CEO (10 or fewer); the ICs are as many as makes ``n``.
    """
    if n < 0:
        raise ValueError(f"n must not be negative, got {n}")
    if n <= 1:
        return [n] if n else []
    rest = n - 1
    if rest <= MAX_SPAN:
        return [1, rest]

    def stack(ics: int) -> list[int]:
        sizes = [ics]
        while sizes[-1] > MAX_SPAN:
            sizes.append(math.ceil(sizes[-1] / AVG_SPAN))
        return sizes

    low, high = 1, rest  # the most ICs whose management chain still fits in n
    while low < high:
        middle = (low + high + 1) // 2
        if sum(stack(middle)) <= rest:
            low = middle
        else:
            high = middle - 1
    sizes = stack(low)
    sizes[0] += rest - sum(sizes)
    return [1, *reversed(sizes)]


def _spread(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` reports among managers: one each first, the rest by weight."""
    base = 1 if total >= len(weights) else 0
    extra = total - base * len(weights)
    scale = extra / sum(weights)
    quotas = [weight * scale for weight in weights]
    counts = [int(quota) for quota in quotas]
    by_remainder = sorted(range(len(weights)), key=lambda i: counts[i] - quotas[i])
    for i in by_remainder[: extra - sum(counts)]:
        counts[i] += 1
    return [base + count for count in counts]


class _People:
    """Names, unique emails, Slack ids, zones and team names, from one random stream."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._emails: dict[str, int] = {}
        self._slack_ids: set[str] = set()
        self._teams: dict[str, int] = {}
        self._areas: dict[str, int] = {}

    def name_and_email(self) -> tuple[str, str]:
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        base = f"{_ascii(first)}.{_ascii(last)}"
        seen = self._emails.get(base, 0) + 1
        self._emails[base] = seen
        return f"{first} {last}", f"{base}{seen if seen > 1 else ''}@{DOMAIN}"

    def slack_user_id(self) -> str:
        if self.rng.random() >= SLACK_ID_SHARE:
            return ""
        while True:
            candidate = "U" + "".join(self.rng.choices(SLACK_ID_CHARS, k=10))
            if candidate not in self._slack_ids:
                self._slack_ids.add(candidate)
                return candidate

    def zone(self) -> str:
        return self.rng.choices(_ZONE_NAMES, weights=_ZONE_WEIGHTS)[0]

    def team(self, function: Function, zone: str) -> str:
        """A new front-line team: the function's next area, in the zone's region."""
        turn = self._areas.get(function.name, 0)
        self._areas[function.name] = turn + 1
        name = f"{function.areas[turn % len(function.areas)]} {REGION.get(zone, 'Remote')}"
        seen = self._teams.get(name, 0) + 1
        self._teams[name] = seen
        return f"{name} {seen}" if seen > 1 else name


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.translate(_ASCII_FOLD))
    return "".join(c for c in folded if (c.isascii() and c.isalnum()) or c == "-").lower()


def iter_people(n: int, *, seed: int = 1, as_of: date) -> Iterator[dict[str, str]]:
    """Yield ``n`` people rows (all values strings, ``COLUMNS`` keys), managers first."""
    sizes = level_sizes(n)
    if not sizes:
        return
    rng = random.Random(seed)
    people = _People(rng)
    depth_of_ics = len(sizes) - 1

    def row(node: _Node, name: str, manager: str, role: str, timezone: str) -> dict[str, str]:
        start = as_of - timedelta(days=rng.randint(0, START_WINDOW_DAYS))
        return {
            "email": node.email,
            "name": name,
            "manager_email": manager,
            "role": role,
            "team": node.team,
            "role_start_date": start.isoformat(),
            "timezone": timezone,
            "slack_user_id": people.slack_user_id(),
        }

    name, email = people.name_and_email()
    ceo = _Node(email, None, "Leadership", CEO_ZONE)
    yield row(ceo, name, "", FUNCTIONS[0].role, CEO_ZONE)

    managers = [ceo]
    for depth in range(1, len(sizes)):
        is_ic_level = depth == depth_of_ics
        leads_ics = depth == depth_of_ics - 1
        weights = [
            rng.uniform(MIN_SPAN, MAX_SPAN)
            * (m.function.weight if depth == 2 and m.function else 1.0)
            for m in managers
        ]
        next_managers: list[_Node] = []
        for manager, reports in zip(managers, _spread(sizes[depth], weights), strict=True):
            for position in range(reports):
                function = manager.function or FUNCTIONS[position % len(FUNCTIONS)]
                name, email = people.name_and_email()
                draw = rng.random()
                if is_ic_level:  # most sit with their team; a few have no zone set
                    zone = manager.zone if draw < 0.85 else people.zone()
                    timezone = "" if draw > 0.95 else zone
                else:
                    zone = manager.zone if draw < 0.5 else people.zone()
                    timezone = "" if draw > 0.98 else zone
                if is_ic_level:
                    team = manager.team
                elif leads_ics:
                    team = people.team(function, zone)
                else:
                    team = function.name
                node = _Node(email, function, team, zone)
                yield row(node, name, manager.email, function.role, timezone)
                if not is_ic_level:
                    next_managers.append(node)
        managers = next_managers


def generate_people(n: int, *, seed: int = 1, as_of: date) -> list[dict[str, str]]:
    """``n`` people rows as a list; see ``iter_people`` to stream them instead."""
    return list(iter_people(n, seed=seed, as_of=as_of))


def write_people_csv(rows: Iterable[Mapping[str, str]], path: str | Path) -> int:
    """Write ``rows`` (a list or ``iter_people``'s stream) as a people CSV; return the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.orggen",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("people", type=int, help="how many people")
    parser.add_argument("out", help="CSV file to write")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--as-of",
        type=date.fromisoformat,
        default=date(2026, 12, 1),
        help="role start dates fall in the 400 days before (default 2026-12-01)",
    )
    args = parser.parse_args(argv)
    count = write_people_csv(iter_people(args.people, seed=args.seed, as_of=args.as_of), args.out)
    levels = "/".join(str(size) for size in level_sizes(args.people))
    print(f"{args.out}: {count} people, levels {levels} (CEO first)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
