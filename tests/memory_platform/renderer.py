"""The memory platform's renderer: outbox kind + facts -> a plain dict.

A memory message is ``{"title": str, "lines": [str], "buttons": [{"label", "action",
"value"}]}``, handed to the transport as the one element of ``blocks`` (the structured
body of ``delivery.rendering.Rendered``), and ``text`` (its fallback) is the title and
lines joined. Action ids are the platform's own and neutral (``done``), never Slack's.

Memory text is plain: there is no markup to escape into, so supplied text is kept as
it is. What the renderer insists on is that it is handed *facts*: a payload holding
Block Kit (a ``blocks`` key, or a dict shaped like a Slack block) anywhere raises
``BlockKitInFacts``, which the sender does not swallow, so the drain (and the test)
fails instead of the row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from delivery.rendering import RenderContext
from learning import outbox_kinds
from learning.digest import Digest

BUTTON_DONE = "done"
"""The memory platform's action id of a digest item's Done button; value: assignment id."""
LEGACY_SLACK = "legacy_slack"  # rows queued before facts: only Slack renders them
_SLACK_BLOCK_TYPES = {"section", "actions", "context", "header", "divider", "mrkdwn"}


class BlockKitInFacts(AssertionError):
    """A payload carried a platform's markup where the domain promised facts."""


@dataclass(frozen=True)
class MemoryMessage:
    """A rendered memory message (``delivery.rendering.Rendered``)."""

    title: str
    lines: list[str]
    buttons: list[dict[str, str]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join([self.title, *self.lines])

    @property
    def blocks(self) -> list[dict[str, Any]]:
        return [{"title": self.title, "lines": self.lines, "buttons": self.buttons}]


def check_facts(value: Any, path: str = "payload") -> None:
    """Raise ``BlockKitInFacts`` if ``value`` holds Block Kit anywhere."""
    if isinstance(value, Mapping):
        if "blocks" in value:
            raise BlockKitInFacts(f"{path} has a 'blocks' key: facts, not Block Kit")
        if value.get("type") in _SLACK_BLOCK_TYPES:
            raise BlockKitInFacts(f"{path} is a Slack block ({value['type']!r})")
        for key, item in value.items():
            check_facts(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_facts(item, f"{path}[{index}]")


def fact_lines(value: Any, path: str = "") -> list[str]:
    """Every text or number the facts hold, as ``path: value`` lines (plain text): the
    rendering of the kinds this test does not drive, which have no form of their own."""
    if isinstance(value, Mapping):
        return [line for key, item in value.items() for line in fact_lines(item, _join(path, key))]
    if isinstance(value, list):
        return [line for i, item in enumerate(value) for line in fact_lines(item, f"{path}[{i}]")]
    if value is None or isinstance(value, bool):
        return []
    return [f"{path}: {value}"]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else str(key)


def _digest(facts: Mapping[str, Any]) -> MemoryMessage:
    digest = Digest.from_json(dict(facts["digest"]))
    lines, buttons = [], []
    for item in digest.items:
        line = f"{item.title}: due {item.due_date.isoformat()}"
        if item.overdue_working_days:
            line += f", {item.overdue_working_days} working days overdue"
        if item.next_notice_to and item.next_notice_on:
            line += f"; {item.next_notice_to} told on {item.next_notice_on.isoformat()}"
        lines.append(line)
        buttons.append(
            {
                "label": f"Done: {item.title}",
                "action": BUTTON_DONE,
                "value": str(item.assignment_id),
            }
        )
    title = f"{digest.first_name}, your learning for {digest.local_date.isoformat()}"
    return MemoryMessage(title, lines, buttons)


def _escalation(facts: Mapping[str, Any]) -> MemoryMessage:
    """The ladder's DM to a manager (or skip-level): who, what, how overdue."""
    lines = [
        f"{learner['name']}: {item['title']}, due {item['due_date']}, "
        f"{item['overdue_working_days']} working days overdue"
        for learner in facts["learners"]
        for item in learner["items"]
    ]
    return MemoryMessage(f"{facts['first_name']}, overdue in your team", lines)


def _award_holder(facts: Mapping[str, Any]) -> MemoryMessage:
    standing = facts["standing"]
    return MemoryMessage(
        f"{facts['name']}, you earned {facts['title']}",
        [f"Awarded {standing['awarded_on']}, valid until {standing['expires_on']}"],
    )


def _award_manager(facts: Mapping[str, Any]) -> MemoryMessage:
    # Picks names, not the ``holder_slack_id`` the facts also carry (see ``routing``).
    return MemoryMessage(
        f"{facts['manager_name']}, {facts['holder_name']} earned {facts['title']}",
        [f"Awarded {facts['standing']['awarded_on']}"],
    )


def _titled(title: str) -> Callable[[Mapping[str, Any]], MemoryMessage]:
    def render(facts: Mapping[str, Any]) -> MemoryMessage:
        return MemoryMessage(title, fact_lines(facts))

    return render


def _kinds() -> dict[str, Callable[[Mapping[str, Any]], MemoryMessage]]:
    """One render function per kind the domain writes (the planners' and workflows')."""
    table: dict[str, Callable[[Mapping[str, Any]], MemoryMessage]] = {
        kind: _titled(kind.replace("_", " "))
        for name, kind in vars(outbox_kinds).items()
        if name.isupper() and isinstance(kind, str)
    }
    table.update(
        digest=_digest,
        escalation=_escalation,
        weekly_manager=_titled("weekly manager digest"),
        plain=_titled("note"),
    )
    table[outbox_kinds.CERT_AWARD_HOLDER] = _award_holder
    table[outbox_kinds.CERT_AWARD_MANAGER] = _award_manager
    return table


class MemoryRenderer:
    """Renders every outbox kind but ``legacy_slack``; remembers what it was given."""

    def __init__(self) -> None:
        self.kinds = _kinds()
        self.received: list[tuple[str, dict[str, Any]]] = []

    def render(
        self, kind: str, facts: Mapping[str, Any], *, context: RenderContext
    ) -> MemoryMessage:
        check_facts(facts)
        self.received.append((kind, dict(facts)))
        render = self.kinds.get(kind)
        if render is None:
            raise ValueError(f"the memory platform cannot render {kind!r}")
        return render(facts)
