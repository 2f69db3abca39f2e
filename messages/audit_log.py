"""The audit log for a terminal (a plain-text table) and for spreadsheets (CSV)."""

from __future__ import annotations

import json

from learning.audit import AuditLine, AuditPage
from messages.csv_export import render_csv

COLUMNS = ("time (UTC)", "actor", "action", "person", "subject", "reason")
# Widest a cell may be in the table; longer values end in an ellipsis (the CSV has them whole).
_WIDEST = {"actor": 30, "action": 44, "person": 36, "subject": 40, "reason": 60}
CSV_HEADER = ("id", "at", "actor", "action", "person", "subject", "reason", "details")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _shorten(text: str, limit: int | None) -> str:
    if limit and len(text) > limit:
        return text[: limit - 1] + "…"
    return text


def _action(entry: AuditLine) -> str:
    """The action, with the ladder step when the action's name does not say it: an
    escalation told to the admins (nobody left in the chain) is ``escalation.admins``
    whichever step it was, and the step is what tells two such rows apart."""
    step = entry.details.get("step") if isinstance(entry.details, dict) else None
    if not isinstance(step, str) or not step or entry.action.endswith(f".{step}"):
        return entry.action
    return f"{entry.action} (step: {step})"


def _cells(entry: AuditLine) -> list[str]:
    values = [
        f"{entry.at:%Y-%m-%d %H:%M}",
        entry.actor,
        _action(entry),
        entry.person_email or "-",
        entry.subject or "-",
        entry.reason or "-",
    ]
    return [
        _shorten(_one_line(value), _WIDEST.get(name))
        for name, value in zip(COLUMNS, values, strict=True)
    ]


def cut_notice(page: AuditPage) -> str:
    """The line that says the listing is not everything, or "" when it is."""
    if not page.cut:
        return ""
    return f"(showing the last {len(page.entries)} of {page.total} entries; use --limit)"


def render_audit(page: AuditPage) -> str:
    """Oldest first, one line per entry, with a note when older entries were left out."""
    if not page.entries:
        wanted = page.filter.describe()
        return f"no audit entries {wanted}" if wanted else "the audit log is empty"
    rows = [list(COLUMNS), *(_cells(entry) for entry in page.entries)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    notice = cut_notice(page)
    if notice:
        lines.extend(["", notice])
    return "\n".join(lines)


def render_audit_csv(page: AuditPage) -> str:
    """Every field whole, ``at`` as ISO-8601 UTC and ``details`` as JSON; a header row first."""
    return render_csv(
        CSV_HEADER,
        (
            [
                entry.id,
                entry.at.isoformat(),
                entry.actor,
                entry.action,
                entry.person_email or "",
                entry.subject,
                entry.reason,
                json.dumps(entry.details, sort_keys=True, ensure_ascii=False, default=str),
            ]
            for entry in page.entries
        ),
    )
