"""Certification states and the command line's certification tables, as plain text.

``validity`` is the one way a certification's state reads, in every platform's
messages and in ``bot.py status`` / ``certs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from learning.clock import local_date
from messages.csv_export import render_csv
from messages.report import format_day

if TYPE_CHECKING:
    from learning.award_redating import RedateResult
    from learning.certifications import HolderLine, Standing


# --- the one way a certification's state reads --------------------------------------


def validity(
    *,
    today: date,
    expires_on: date | None,
    lapsed_on: date | None = None,
    window_opens_on: date | None = None,
    lapses_on: date | None = None,
) -> str:
    """``valid until Tue 2 Mar 2027``, ``expires in 12 days``, ``lapsed on Mon 15 Mar 2027``.

    Args:
        today: The holder's local today.
        expires_on: The expiry date (holder's calendar); None: it does not expire.
        lapsed_on: Set once it lapsed (expired and not renewed within the grace period).
        window_opens_on: From this date on (the recertification window) it reads
            "expires in N days" instead of "valid until".
        lapses_on: Expiry plus grace: shown while it is expired but not yet lapsed.
    """
    if lapsed_on is not None:
        return f"lapsed on {format_day(lapsed_on)}"
    if expires_on is None:
        return "valid, does not expire"
    if today > expires_on:
        if lapses_on is not None and lapses_on > today:
            return (
                f"expired on {format_day(expires_on)}, "
                f"lapses on {format_day(lapses_on)} unless renewed"
            )
        return f"expired on {format_day(expires_on)}"
    if window_opens_on is not None and today >= window_opens_on:
        days = (expires_on - today).days
        if days == 0:
            return "expires today"
        return f"expires in {days} day{'' if days == 1 else 's'}"
    return f"valid until {format_day(expires_on)}"


def validity_of(standing: Any, today: date) -> str:
    """``validity`` of anything with ``expires_on`` (and optionally ``lapsed_on``,
    ``window_opens_on``, ``lapses_on``): a ``Standing`` or App Home's ``HeldCertification``."""
    return validity(
        today=today,
        expires_on=standing.expires_on,
        lapsed_on=getattr(standing, "lapsed_on", None),
        window_opens_on=getattr(standing, "window_opens_on", None),
        lapses_on=getattr(standing, "lapses_on", None),
    )


def status_lines(standings: Sequence[Standing], today: date) -> list[str]:
    """The "Certifications" part of ``bot.py status``."""
    if not standings:
        return []
    width = max(len(s.title) for s in standings)
    return ["", "Certifications"] + [
        f"  {s.title.ljust(width)}  {validity_of(s, today)}" for s in standings
    ]


HOLDERS_HEADER = ["email", "name", "team", "certification", "cycle", "awarded", "state"]


def render_holders(lines: Sequence[HolderLine], *, expiring: int | None = None) -> str:
    """``bot.py certs``: one line per person and certification, as a table."""
    if not lines:
        if expiring is not None:
            return f"No certification expires within {expiring} days."
        return "No certifications awarded yet."
    rows = [
        [
            line.email,
            line.name,
            line.team or "-",
            line.standing.title,
            str(line.standing.cycle),
            format_day(line.standing.awarded_on) if line.standing.awarded_on else "-",
            validity_of(line.standing, line.today),
        ]
        for line in lines
    ]
    table = [HOLDERS_HEADER, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(HOLDERS_HEADER))]
    rendered = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
    held = sum(1 for line in lines if line.standing.lapsed_on is None)
    lapsed = len(lines) - held
    scope = f" expiring within {expiring} days" if expiring is not None else ""
    rendered.append("")
    rendered.append(f"{held} held{scope}" + (f", {lapsed} lapsed" if lapsed else ""))
    return "\n".join(rendered)


def render_holders_csv(lines: Sequence[HolderLine]) -> str:
    """``bot.py certs --csv``: dates as ISO (the holder's calendar) plus the state text."""
    header = ["email", "name", "team", "certification", "cycle"]
    header += ["awarded_on", "expires_on", "lapsed_on", "state"]
    return render_csv(header, (_holder_cells(line) for line in lines))


def _holder_cells(line: HolderLine) -> list[Any]:
    s = line.standing
    return [
        line.email,
        line.name,
        line.team,
        s.key,
        s.cycle,
        s.awarded_on.isoformat() if s.awarded_on else "",
        s.expires_on.isoformat() if s.expires_on else "",
        s.lapsed_on.isoformat() if s.lapsed_on else "",
        validity_of(s, line.today),
    ]


REDATED_SHOWN = 50


def render_redate(result: RedateResult) -> str:
    """``bot.py certs --redate-from-completions``: each change (dates in the holder's
    calendar), then the summary."""
    lines = []
    for change in result.redated[:REDATED_SHOWN]:

        def day(value: datetime | None, zone: str = change.zone) -> str:
            return local_date(value, zone).isoformat() if value else "-"

        parts = [
            f"{change.email} {change.certification} (cycle {change.cycle}):",
            f"awarded {day(change.awarded_at[0])} -> {day(change.awarded_at[1])},",
            f"expires {day(change.expires_at[0])} -> {day(change.expires_at[1])}",
        ]
        if change.lapsed_at[0] != change.lapsed_at[1]:
            parts[-1] += ","
            parts.append(f"lapsed {day(change.lapsed_at[0])} -> {day(change.lapsed_at[1])}")
        lines.append(" ".join(parts))
    if len(result.redated) > REDATED_SHOWN:
        lines.append(f"...and {len(result.redated) - REDATED_SHOWN} more (see `audit`)")
    for kept in result.kept[:REDATED_SHOWN]:
        lines.append(
            f"{kept.email} {kept.certification} (cycle {kept.cycle}): kept as it is, "
            "its recorded completions do not earn it"
        )
    if len(result.kept) > REDATED_SHOWN:
        lines.append(f"...and {len(result.kept) - REDATED_SHOWN} more kept")
    lines.append(result.summary())
    return "\n".join(lines)
