"""Plain-text and CSV renderings of read-outs, for the terminal and exports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from learning.progress import CompletionReport, ItemLine, PersonStatus, ReportRow
from messages.csv_export import render_csv

STATUS_LABEL = {
    "done": "done",
    "waived": "waived",
    "open": "open",
    "overdue": "OVERDUE",
    "closed": "closed",
    "upcoming": "upcoming",
}


def format_day(day: object) -> str:
    """``Tue 3 Dec 2026`` style, the same everywhere a person reads a date."""
    from datetime import date

    assert isinstance(day, date)
    return f"{day:%a} {day.day} {day:%b %Y}"


def _item_row(item: ItemLine) -> list[str]:
    kind = "required" if item.required else "suggested"
    if item.status == "done":
        when = f"done {format_day(item.completed_on)}" if item.completed_on else "done"
        if item.score is not None:
            when += f" (score {item.score:g})"
    elif item.status == "overdue":
        days = item.overdue_working_days
        when = (
            f"due {format_day(item.due_date)}, {days} working day{'s' if days != 1 else ''} overdue"
        )
    elif item.waiting_for:
        when = "after " + " and ".join(item.waiting_for)  # no date until that is done
    elif item.due_date and item.required:
        when = f"due {format_day(item.due_date)}"
    else:
        when = ""  # a suggestion has no deadline
    return [STATUS_LABEL[item.status], item.key, item.title, item.method, kind, when]


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        indent
        + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def render_status(status: PersonStatus, *, certifications: Sequence[Any] = ()) -> str:
    """One person's path; ``certifications`` (``learning.certifications.Standing``) are
    listed at the end with their state ("valid until ...", "expires in N days"...)."""
    lines = [
        f"{status.name} <{status.email}>" + ("" if status.active else "  [inactive]"),
        f"role: {status.role} ({status.program_title or 'no program for this role'}), "
        f"team: {status.team or '-'}, manager: {status.manager or '-'}",
        f"time zone: {status.timezone}, today there: {format_day(status.today)}"
        + (f", away until {format_day(status.away_until)}" if status.away_until else ""),
    ]
    for tier in status.tiers:
        done, total = tier.required_done
        starts = (
            f"starts {format_day(tier.starts_on)}"
            if tier.starts_on and tier.starts_on > status.today
            else ""
        )
        lines.append("")
        lines.append(
            f"{tier.title}: {done}/{total} required done" + (f", {starts}" if starts else "")
        )
        lines.extend(_table([_item_row(item) for item in tier.items]))
    if status.other:
        lines.append("")
        lines.append("Other items")
        lines.extend(_table([_item_row(item) for item in status.other]))
    if certifications:
        from messages.certifications import status_lines  # it imports format_day from here

        lines.extend(status_lines(certifications, status.today))
    return "\n".join(lines)


HEADER = ["group", "people", "required done", "due", "overdue", "waived", "percent"]


def _row_cells(row: ReportRow) -> list[str]:
    return [
        row.group,
        str(row.people),
        str(row.done),
        str(row.due),
        str(row.overdue),
        str(row.waived),
        f"{row.percent:.0f}%",
    ]


def render_report(report: CompletionReport) -> str:
    lines = [f"Completion of required items as of {report.as_of:%Y-%m-%d %H:%M} UTC"]
    for title, rows in (("By team", report.by_team), ("By role", report.by_role)):
        lines.append("")
        lines.append(title)
        lines.extend(_table([HEADER, *(_row_cells(r) for r in rows)]))
    lines.append("")
    lines.extend(_table([HEADER, _row_cells(report.total)]))
    return "\n".join(lines)


def render_report_csv(report: CompletionReport) -> str:
    header = ["kind", "group", "people", "required_done", "due", "overdue", "waived", "percent"]
    groups = (("team", report.by_team), ("role", report.by_role), ("all", [report.total]))
    return render_csv(header, (_csv_cells(kind, row) for kind, rows in groups for row in rows))


def _csv_cells(kind: str, row: ReportRow) -> list[Any]:
    counts = [row.people, row.done, row.due, row.overdue, row.waived]
    return [kind, row.group, *counts, f"{row.percent:.1f}"]
