"""Import people from a CSV file: validate every row, then upsert in one transaction."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlmodel import Session

from learning import audit
from learning.clock import Clock
from learning.csv_source import CsvFile, CsvRow, read_csv
from learning.errors import Problem, ValidationFailed
from learning.paths import EnrollmentSummary, current_settings, enroll
from learning.suggest import Suggester
from models import DEFAULT_WORKSPACE, ChatAccount, Person, Program

NO_CONFIGURATION = "no configuration loaded yet: run `python bot.py load-config FILE` first"
REQUIRED_COLUMNS = ("email", "name", "manager_email", "role", "team", "role_start_date")
OPTIONAL_COLUMNS = ("timezone",)
EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")
# Role start dates learnbot can count working days from without leaving the calendar
# (date.max is 9999-12-31); anything outside is a typo.
EARLIEST_START = date(1900, 1, 1)
LATEST_START = date(2199, 12, 31)


def _max_length(column: str) -> int:
    length = Person.__table__.columns[column].type.length  # type: ignore[attr-defined]
    assert isinstance(length, int)
    return length


# What the person table holds (PostgreSQL refuses longer values; SQLite would keep them).
MAX_LENGTHS = {column: _max_length(column) for column in ("email", "name", "team")}
# --deactivate-missing may deactivate at most this share of active people, or this many,
# whichever is larger, unless --max-deactivate says more: a truncated HR export must not
# switch the company off.
DEACTIVATE_SHARE_DIVISOR = 10
DEACTIVATE_FLOOR = 5
NAMES_SHOWN = 10
FLAG = "--deactivate-missing"


@dataclass(frozen=True)
class AccountColumn:
    """A people-file column that holds a chat platform's user id (a chat account).

    The platform's adapter supplies it (Slack: ``slack_user_id``), so this module never
    knows what an id looks like.

    Attributes:
        column: The column's name in the file.
        platform: ``ChatAccount.platform``.
        label: How problems name the id ("Slack user id").
        problem: Why a cell is not a valid id (None when it is).
        key: The id as stored and compared (Slack: upper case).
    """

    column: str
    platform: str
    label: str
    problem: Callable[[str], str | None]
    key: Callable[[str], str] = str


@dataclass(frozen=True)
class PersonRow:
    """One validated row of the people file."""

    line: int
    email: str
    name: str
    manager_email: str | None
    role: str
    team: str
    role_start_date: date
    timezone: str | None
    # account column -> user id (an empty cell never erases a known account)
    accounts: dict[str, str] = field(default_factory=dict)


@dataclass
class PeopleImportResult:
    """What an import changed (or would change, in a dry run)."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    reactivated: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    deactivated_names: list[str] = field(default_factory=list)  # "Name <email>"
    re_enrolled: list[str] = field(default_factory=list)
    unchanged: int = 0
    enrollment: EnrollmentSummary = field(default_factory=EnrollmentSummary)

    def summary(self, *, dry_run: bool = False) -> str:
        return "\n".join(
            [
                f"people: {len(self.added)} added, {len(self.updated)} updated, "
                f"{len(self.reactivated)} reactivated, {len(self.deactivated)} deactivated, "
                f"{self.unchanged} unchanged",
                *([self._deactivated_line()] if self.deactivated else []),
                f"role or role start changed (tier clock restarted): {len(self.re_enrolled)}"
                + (
                    f" ({', '.join(self.re_enrolled[:10])}"
                    + (", ..." if len(self.re_enrolled) > 10 else "")
                    + ")"
                    if self.re_enrolled
                    else ""
                ),
                str(self.enrollment),
                *self.enrollment.redate_lines(dry_run=dry_run),
            ]
        )

    def _deactivated_line(self) -> str:
        names = sorted(self.deactivated_names, key=str.lower)
        return f"deactivated (not in the file): {_first(names)}"


def _first(labels: list[str]) -> str:
    more = len(labels) - NAMES_SHOWN
    return ", ".join(labels[:NAMES_SHOWN]) + (f" and {more} more" if more > 0 else "")


def deactivation_limit(active: int, max_deactivate: int | None = None) -> int:
    """How many of ``active`` people one import may deactivate."""
    if max_deactivate is not None:
        return max_deactivate
    return max(DEACTIVATE_FLOOR, active // DEACTIVATE_SHARE_DIVISOR)


def mass_deactivation_refusal(
    *,
    file: str,
    rows_in_file: int,
    missing: list[str],
    active: int,
    max_deactivate: int | None,
) -> Problem | None:
    """Why ``--deactivate-missing`` must not deactivate the ``missing`` people, if it must not.

    Args:
        file: the people file, for the message.
        rows_in_file: data rows in the file; none is always refused.
        missing: "Name <email>" of each active person absent from the file.
        active: how many people are active now.
        max_deactivate: the ``--max-deactivate`` the admin gave, if any.
    """
    if rows_in_file == 0:
        return Problem(
            file,
            None,
            FLAG,
            f"the file lists nobody: it would deactivate all {active} active people "
            "(a file with no rows is always refused; is the export complete?)",
        )
    limit = deactivation_limit(active, max_deactivate)
    if len(missing) <= limit:
        return None
    why = (
        f"--max-deactivate {max_deactivate}"
        if max_deactivate is not None
        else f"{100 // DEACTIVATE_SHARE_DIVISOR}% of active people or {DEACTIVATE_FLOOR}, "
        "whichever is larger"
    )
    return Problem(
        file,
        None,
        FLAG,
        f"would deactivate {len(missing)} of {active} active people, "
        f"more than the {limit} allowed ({why}): {_first(missing)}. Is the file complete? "
        f"If they all left, run again with --max-deactivate {len(missing)}",
    )


def parse_people(
    path: str | Path,
    *,
    known_roles: set[str],
    existing_managers: dict[str, str | None],
    deactivate_missing: bool = False,
    active_names: dict[str, str] | None = None,
    max_deactivate: int | None = None,
    account_columns: Sequence[AccountColumn] = (),
) -> list[PersonRow]:
    """Validate the people file; raise ``ValidationFailed`` listing every bad row.

    Args:
        path: the CSV file.
        known_roles: roles that have a program.
        existing_managers: email -> manager email of active people already stored, so a
            manager may be someone not in the file and cycles through them are found.
        deactivate_missing: people not in the file will be deactivated, so they cannot
            be anyone's manager; refused when too many would be (``max_deactivate``).
        active_names: email -> name of active people, to name whom a refusal would
            deactivate (default: ``existing_managers``' emails).
        max_deactivate: how many people ``deactivate_missing`` may deactivate (default:
            ``deactivation_limit``).
        account_columns: the chat platforms' user id columns the file may have.
    """
    optional = (*OPTIONAL_COLUMNS, *(c.column for c in account_columns))
    source = read_csv(path, required=REQUIRED_COLUMNS, optional=optional)
    problems = list(source.problems)
    if deactivate_missing:
        names = active_names if active_names is not None else {e: e for e in existing_managers}
        refusal = _deactivation_refusal(source, names, max_deactivate=max_deactivate)
        if refusal is not None:
            problems.append(refusal)
    rows = _unique_rows(source, known_roles, problems, account_columns)
    problems.extend(
        _manager_problems(
            rows, existing_managers, deactivate_missing=deactivate_missing, name=source.name
        )
    )
    problems.extend(_cycles(rows, existing_managers, source.name))
    if problems:
        raise ValidationFailed(problems)
    return rows


def _deactivation_refusal(
    source: CsvFile, names: dict[str, str], *, max_deactivate: int | None
) -> Problem | None:
    """The refusal when the file would deactivate too many of the active ``names``."""
    # Every row counts as "in the file", valid or not: the guard is about what the
    # file lists, and the row's own mistakes are reported with the rest.
    listed = {raw.values["email"].lower() for raw in source.rows}
    return mass_deactivation_refusal(
        file=source.name,
        rows_in_file=len(source.rows) + len(source.problems),
        missing=sorted(
            (f"{name} <{email}>" for email, name in names.items() if email not in listed),
            key=str.lower,
        ),
        active=len(names),
        max_deactivate=max_deactivate,
    )


def _unique_rows(
    source: CsvFile,
    known_roles: set[str],
    problems: list[Problem],
    account_columns: Sequence[AccountColumn],
) -> list[PersonRow]:
    """The valid rows, each email and chat account once (the first row keeps it)."""
    rows: list[PersonRow] = []
    first_line: dict[str, int] = {}
    first_account_line: dict[tuple[str, str], int] = {}
    suggester = Suggester()
    for raw in source.rows:
        row = _parse_row(raw, source.name, known_roles, problems, suggester, account_columns)
        if row is None:
            continue
        if row.email in first_line:
            problems.append(
                Problem(
                    source.name,
                    raw.line,
                    "email",
                    f"duplicate email {row.email} (first at line {first_line[row.email]})",
                )
            )
            continue
        first_line[row.email] = raw.line
        duplicate = _duplicate_account(row, account_columns, first_account_line, source.name)
        if duplicate is not None:
            problems.append(duplicate)
            continue
        rows.append(row)
    return rows


def _manager_problems(
    rows: list[PersonRow],
    existing_managers: dict[str, str | None],
    *,
    deactivate_missing: bool,
    name: str,
) -> list[Problem]:
    """Managers who are the person themselves, unknown, or about to be deactivated."""
    problems: list[Problem] = []
    in_file = {row.email: row for row in rows}
    for row in rows:
        manager = row.manager_email
        if manager is None:
            continue
        if manager == row.email:
            problems.append(
                Problem(name, row.line, "manager_email", "a person cannot be their own manager")
            )
        elif manager not in in_file and manager not in existing_managers:
            problems.append(
                Problem(
                    name,
                    row.line,
                    "manager_email",
                    f"unknown manager {manager}: not in this file nor already imported",
                )
            )
        elif manager not in in_file and deactivate_missing:
            problems.append(
                Problem(
                    name,
                    row.line,
                    "manager_email",
                    f"manager {manager} is not in this file and "
                    "--deactivate-missing would deactivate them",
                )
            )
    return problems


def _duplicate_account(
    row: PersonRow,
    account_columns: Sequence[AccountColumn],
    first_line: dict[tuple[str, str], int],
    file: str,
) -> Problem | None:
    """A user id a previous row already has: the platform sends one id per person, so
    a second row with it could never act."""
    keys = []
    for column in account_columns:
        user_id = row.accounts.get(column.column)
        if not user_id:
            continue
        key = (column.column, column.key(user_id))
        if key in first_line:
            return Problem(
                file,
                row.line,
                column.column,
                f"duplicate {column.label} {user_id} (first at line {first_line[key]})",
            )
        keys.append(key)
    first_line.update(dict.fromkeys(keys, row.line))
    return None


def _parse_row(
    raw: CsvRow,
    name: str,
    known_roles: set[str],
    problems: list[Problem],
    suggester: Suggester,
    account_columns: Sequence[AccountColumn] = (),
) -> PersonRow | None:
    values = raw.values
    before = len(problems)

    def bad(column: str, message: str) -> None:
        problems.append(Problem(name, raw.line, column, message))

    email = values["email"].lower()
    if not email:
        bad("email", "missing email")
    elif len(email) > MAX_LENGTHS["email"]:
        bad("email", f"an email has at most {MAX_LENGTHS['email']} characters")
    elif not EMAIL.match(email):
        bad("email", f"invalid email {values['email']!r}")
    if not values["name"]:
        bad("name", "missing name")
    for column in ("name", "team"):
        if len(values[column]) > MAX_LENGTHS[column]:
            limit, length = MAX_LENGTHS[column], len(values[column])
            bad(column, f"at most {limit} characters (this has {length})")
    manager = values["manager_email"].lower() or None
    if manager and not EMAIL.match(manager):
        bad("manager_email", f"invalid email {values['manager_email']!r}")
    role = _known_role(values["role"], known_roles)
    if not values["role"]:
        bad("role", "missing role")
    elif role is None:
        bad("role", _unknown_role(values["role"], known_roles, suggester))
    start: date | None = None
    try:
        start = date.fromisoformat(values["role_start_date"])
        if len(values["role_start_date"]) != 10:
            raise ValueError
    except ValueError:
        bad("role_start_date", f"bad date {values['role_start_date']!r}: write YYYY-MM-DD")
    if start is not None and not EARLIEST_START <= start <= LATEST_START:
        bad(
            "role_start_date",
            f"{start.isoformat()} is out of range: a role start date is from "
            f"{EARLIEST_START.year} to {LATEST_START.year}",
        )
        start = None
    zone = values["timezone"] or None
    if zone:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" is a folder
            shown = zone if len(zone) <= 60 else zone[:57] + "..."
            bad("timezone", f"unknown time zone {shown!r}: {suggester.time_zone_hint(zone)}")
    accounts: dict[str, str] = {}
    for account in account_columns:
        user_id = values.get(account.column) or ""
        why = account.problem(user_id) if user_id else None
        if why is not None:
            bad(account.column, why)
        elif user_id:
            accounts[account.column] = user_id
    if len(problems) > before or start is None or role is None:
        return None
    return PersonRow(
        raw.line, email, values["name"], manager, role, values["team"], start, zone, accounts
    )


def _known_role(written: str, known_roles: set[str]) -> str | None:
    """The program role ``written`` names, whatever its case (HR files say "Engineer")."""
    by_lower = {role.lower(): role for role in known_roles}
    return by_lower.get(written.lower()) if written else None


def _unknown_role(written: str, known_roles: set[str], suggester: Suggester) -> str:
    shown = written if len(written) <= 60 else written[:57] + "..."
    if not known_roles:
        hint = "no programs are loaded yet: run `python bot.py load-config FILE` first"
    else:
        guess = suggester.did_you_mean(written, known_roles)
        hint = (f"{guess} " if guess else "") + f"known roles: {', '.join(sorted(known_roles))}"
    return f"unknown role {shown!r} ({hint})"


def _cycles(rows: list[PersonRow], existing: dict[str, str | None], name: str) -> list[Problem]:
    manager_of = dict(existing)
    manager_of.update({row.email: row.manager_email for row in rows})
    problems = []
    reported: set[str] = set()
    for row in rows:
        chain = [row.email]
        current = manager_of.get(row.email)
        while current is not None and current not in chain:
            chain.append(current)
            current = manager_of.get(current)
        if current is None or current != row.email or row.email in reported:
            continue
        if row.manager_email == row.email:
            continue  # reported as "own manager"
        reported.update(chain)
        problems.append(
            Problem(
                name,
                row.line,
                "manager_email",
                "manager cycle: " + " -> ".join([*chain, row.email]),
            )
        )
    return problems


def _values(person: Person, email_of: dict[int, str], held: dict[str, str]) -> dict[str, object]:
    """What the audit compares; ``held``: the person's account column -> user id."""
    return {
        "name": person.name,
        "manager_email": email_of.get(person.manager_id) if person.manager_id else None,
        "role": person.role,
        "team": person.team,
        "role_start_date": person.role_start_date.isoformat(),
        "timezone": person.timezone,
        **held,
        "active": person.active,
    }


def _held_accounts(
    session: Session, columns: Sequence[AccountColumn], workspace_id: str
) -> dict[int, dict[str, str]]:
    """Person id -> account column -> user id, for the file's account columns."""
    by_platform = {c.platform: c.column for c in columns}
    held: dict[int, dict[str, str]] = {}
    for account in session.scalars(
        select(ChatAccount).where(
            ChatAccount.workspace == workspace_id,
            ChatAccount.platform.in_(by_platform),  # type: ignore[attr-defined]
        )
    ):
        held.setdefault(account.person_id, {})[by_platform[account.platform]] = account.user_id
    return held


def _account_conflicts(
    rows: list[PersonRow],
    columns: Sequence[AccountColumn],
    held: dict[int, dict[str, str]],
    email_of: dict[int, str],
    file: str,
) -> list[Problem]:
    """Rows giving a user id that somebody else keeps (nobody else in the file moves
    them to another id): it addresses one person."""
    in_file = {row.email: row for row in rows}
    problems = []
    for column in columns:
        holder = {
            column.key(ids[column.column]): email_of.get(pid)
            for pid, ids in held.items()
            if column.column in ids
        }
        for row in rows:
            user_id = row.accounts.get(column.column)
            owner = holder.get(column.key(user_id)) if user_id else None
            if owner is None or owner == row.email:
                continue
            moved = in_file.get(owner)
            if moved is not None and moved.accounts.get(column.column):
                continue  # its holder gets another id in the same file
            problems.append(
                Problem(file, row.line, column.column, f"{column.label} {user_id} is {owner}'s")
            )
    return problems


def _apply_accounts(
    session: Session,
    rows: list[PersonRow],
    stored: dict[str, Person],
    columns: Sequence[AccountColumn],
    workspace_id: str,
) -> None:
    """Give each row's person the accounts the file names (``_account_conflicts`` found
    no clash): old ids are let go first, so that two people may swap ids in one file."""
    platforms = {c.platform for c in columns}
    current = {
        (a.person_id, a.platform): a
        for a in session.scalars(
            select(ChatAccount).where(
                ChatAccount.workspace == workspace_id,
                ChatAccount.platform.in_(platforms),  # type: ignore[attr-defined]
            )
        )
    }
    new: list[ChatAccount] = []
    for column in columns:
        for row in rows:
            person_id = stored[row.email].id
            user_id = row.accounts.get(column.column)
            if not user_id or person_id is None:
                continue
            user_id = column.key(user_id)
            account = current.get((person_id, column.platform))
            if account is not None and account.user_id == user_id:
                continue
            if account is not None:
                session.delete(account)
            new.append(
                ChatAccount(
                    person_id=person_id,
                    platform=column.platform,
                    workspace=workspace_id,
                    user_id=user_id,
                    # what the platform said of the person, not of the id
                    is_admin=account is not None and account.is_admin,
                )
            )
    session.flush()
    session.add_all(new)
    session.flush()


def import_people(
    session: Session,
    path: str | Path,
    *,
    clock: Clock,
    actor: str = "cli",
    deactivate_missing: bool = False,
    max_deactivate: int | None = None,
    workspace_id: str = DEFAULT_WORKSPACE,
    account_columns: Sequence[AccountColumn] = (),
) -> PeopleImportResult:
    """Validate ``path`` and upsert its people by email in the caller's transaction.

    ``account_columns`` are the chat platforms' user id columns the file may have
    (the composition root passes each adapter's, e.g. Slack's ``slack_user_id``).

    A new person, a changed role, role start date or time zone, or a reactivation
    re-enrolls the person (a new role restarts the tier clock; completions of items the
    new path shares still count). Raises ``ValidationFailed`` before writing anything,
    also when ``deactivate_missing`` would deactivate more people than
    ``max_deactivate`` (default ``deactivation_limit``) or the file lists nobody.
    """
    settings = current_settings(session)
    stored = {
        p.email: p
        for p in session.scalars(select(Person).where(Person.workspace_id == workspace_id))
    }
    email_of = {p.id: p.email for p in stored.values() if p.id is not None}
    rows, held = _checked_rows(
        session,
        path,
        stored,
        email_of,
        deactivate_missing=deactivate_missing,
        max_deactivate=max_deactivate,
        workspace_id=workspace_id,
        account_columns=account_columns,
    )
    if settings is None:
        raise ValidationFailed([Problem(str(path), None, "", NO_CONFIGURATION)])
    now = clock.now()
    result = PeopleImportResult()
    before = {email: _values(p, email_of, held.get(p.id or 0, {})) for email, p in stored.items()}
    held = _upsert_people(
        session, rows, stored, account_columns, workspace_id=workspace_id, now=now
    )
    enroll_ids = _record_changes(
        session,
        rows,
        stored,
        before,
        held,
        result=result,
        clock=clock,
        now=now,
        actor=actor,
        path=path,
    )
    if deactivate_missing:
        _deactivate_missing(
            session, rows, stored, result=result, clock=clock, now=now, actor=actor, path=path
        )
    session.flush()
    result.enrollment = enroll(session, clock=clock, settings=settings, person_ids=enroll_ids)
    if result.added or result.updated or result.reactivated or result.deactivated:
        audit.record(
            session,
            clock=clock,
            actor=actor,
            action="people.import",
            subject=str(path),
            details={"summary": result.summary()},
        )
    return result


def _upsert_people(
    session: Session,
    rows: list[PersonRow],
    stored: dict[str, Person],
    account_columns: Sequence[AccountColumn],
    *,
    workspace_id: str,
    now: datetime,
) -> dict[int, dict[str, str]]:
    """Add the file's new people and update everyone's fields, chat accounts and
    managers; return the accounts each person now holds."""
    for row in rows:
        person = stored.get(row.email)
        if person is None:
            person = Person(
                workspace_id=workspace_id,
                email=row.email,
                name=row.name,
                role=row.role,
                role_start_date=row.role_start_date,
                created_at=now,
                updated_at=now,
            )
            session.add(person)
            stored[row.email] = person
        person.name, person.role, person.team = row.name, row.role, row.team
        person.role_start_date, person.timezone = row.role_start_date, row.timezone
        person.active = True
    session.flush()
    _apply_accounts(session, rows, stored, account_columns, workspace_id)
    held = _held_accounts(session, account_columns, workspace_id)
    for row in rows:
        person = stored[row.email]
        person.manager_id = stored[row.manager_email].id if row.manager_email else None
    return held


def _record_changes(
    session: Session,
    rows: list[PersonRow],
    stored: dict[str, Person],
    before: dict[str, dict[str, object]],
    held: dict[int, dict[str, str]],
    *,
    result: PeopleImportResult,
    clock: Clock,
    now: datetime,
    actor: str,
    path: str | Path,
) -> set[int]:
    """Count and audit what changed for each person in the file; the ids to enroll."""
    email_of = {p.id: p.email for p in stored.values() if p.id is not None}
    enroll_ids: set[int] = set()
    for row in rows:
        person = stored[row.email]
        assert person.id is not None
        old, new = before.get(row.email), _values(person, email_of, held.get(person.id, {}))
        if old is None:
            result.added.append(row.email)
            enroll_ids.add(person.id)
            continue
        changed = {k: [old.get(k), new.get(k)] for k in new if old.get(k) != new.get(k)}
        if not changed:
            result.unchanged += 1
            continue
        person.updated_at = now
        if "active" in changed:
            result.reactivated.append(row.email)
        else:
            result.updated.append(row.email)
        if {"role", "role_start_date"} & changed.keys():
            result.re_enrolled.append(row.email)
        if {"role", "role_start_date", "timezone", "active"} & changed.keys():
            enroll_ids.add(person.id)
        audit.record(
            session,
            clock=clock,
            actor=actor,
            action="person.update",
            subject=row.email,
            person_id=person.id,
            reason=f"import {path}",
            details={"changed": changed},
        )
    return enroll_ids


def _deactivate_missing(
    session: Session,
    rows: list[PersonRow],
    stored: dict[str, Person],
    *,
    result: PeopleImportResult,
    clock: Clock,
    now: datetime,
    actor: str,
    path: str | Path,
) -> None:
    """Deactivate (audited) the active people the file no longer lists."""
    in_file = {row.email for row in rows}
    for email, person in stored.items():
        if email not in in_file and person.active:
            person.active = False
            person.updated_at = now
            result.deactivated.append(email)
            result.deactivated_names.append(f"{person.name} <{email}>")
            audit.record(
                session,
                clock=clock,
                actor=actor,
                action="person.deactivate",
                subject=email,
                person_id=person.id,
                reason=f"not in {path} (--deactivate-missing)",
            )


def _checked_rows(
    session: Session,
    path: str | Path,
    stored: dict[str, Person],
    email_of: dict[int, str],
    *,
    deactivate_missing: bool,
    max_deactivate: int | None,
    workspace_id: str,
    account_columns: Sequence[AccountColumn],
) -> tuple[list[PersonRow], dict[int, dict[str, str]]]:
    """The file's rows, checked against each other and the database, and the chat
    accounts people hold now; ``ValidationFailed`` lists every problem."""
    known_roles = set(session.scalars(select(Program.role).where(Program.active)))
    existing_managers = {
        email: (email_of.get(p.manager_id) if p.manager_id else None)
        for email, p in stored.items()
        if p.active
    }
    rows = parse_people(
        path,
        known_roles=known_roles,
        existing_managers=existing_managers,
        deactivate_missing=deactivate_missing,
        active_names={p.email: p.name for p in stored.values() if p.active},
        max_deactivate=max_deactivate,
        account_columns=account_columns,
    )
    held = _held_accounts(session, account_columns, workspace_id)
    conflicts = _account_conflicts(rows, account_columns, held, email_of, str(path))
    if conflicts:
        raise ValidationFailed(conflicts)
    return rows, held
