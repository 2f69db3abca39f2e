"""Stable ``action_id`` / ``block_id`` names and value formats of interactive messages.

The listeners (issue 4) match on these strings, and Slack keeps old messages with their
buttons for ever: never change a value once it has shipped. Add new names instead.
"""

from __future__ import annotations

# action_id of the elements in each digest item's actions block.
DIGEST_DONE = "digest_done"
DIGEST_SNOOZE = "digest_snooze"
DIGEST_OPEN = "digest_open"

# Snooze choices: the code travels in the option value, the label is what people read.
SNOOZE_1D = "1d"
SNOOZE_3D = "3d"
SNOOZE_1W = "1w"
SNOOZE_CHOICES: tuple[tuple[str, str], ...] = (
    (SNOOZE_1D, "1 day"),
    (SNOOZE_3D, "3 days"),
    (SNOOZE_1W, "1 week"),
)
SNOOZE_LABELS: dict[str, str] = dict(SNOOZE_CHOICES)
SNOOZE_DAYS: dict[str, int] = {SNOOZE_1D: 1, SNOOZE_3D: 3, SNOOZE_1W: 7}

# The Done modal: its callback_id, and the block_id / action_id of each input.
DONE_MODAL = "digest_done_modal"
DONE_EVIDENCE_BLOCK = "evidence"
DONE_EVIDENCE_ACTION = "evidence_url"
DONE_SCORE_BLOCK = "score"
DONE_SCORE_ACTION = "score"
DONE_RATING_BLOCK = "rating"
DONE_RATING_ACTION = "rating"
DONE_COMMENT_BLOCK = "comment"
DONE_COMMENT_ACTION = "comment"

# The escalation ladder. A manager's escalation DM has, per overdue item, these three
# buttons; each value is the assignment id.
ESCALATION_REMIND = "escalation_remind"  # DM the learner: "your manager asked"
ESCALATION_EXTEND = "escalation_extend"  # opens EXTEND_MODAL
ESCALATION_EXCUSE = "escalation_excuse"  # opens EXCUSE_MODAL
EXTEND_MODAL = "escalation_extend_modal"
EXCUSE_MODAL = "escalation_excuse_modal"
# An overdue required item in the learner's digest has "Request extension" (value: the
# assignment id), which opens EXTENSION_REQUEST_MODAL; the approver's DM then has
# Approve / Decline (value: the extension request id).
DIGEST_REQUEST_EXTENSION = "digest_request_extension"
EXTENSION_REQUEST_MODAL = "extension_request_modal"
EXTENSION_APPROVE = "extension_approve"
EXTENSION_DECLINE = "extension_decline"

# block_id of a digest item: its section is ``item:<id>``, its buttons ``item:<id>:actions``.
ITEM_BLOCK_PREFIX = "item:"
ACTIONS_SUFFIX = ":actions"


def item_block_id(assignment_id: int) -> str:
    """The ``block_id`` of the section describing one assignment."""
    return f"{ITEM_BLOCK_PREFIX}{assignment_id}"


def item_actions_block_id(assignment_id: int) -> str:
    """The ``block_id`` of the actions block (Done, Snooze, Open) of one assignment."""
    return f"{ITEM_BLOCK_PREFIX}{assignment_id}{ACTIONS_SUFFIX}"


def assignment_value(assignment_id: int) -> str:
    """The value of a Done (and Open) button: the assignment id."""
    return str(assignment_id)


def snooze_value(assignment_id: int, choice: str) -> str:
    """The value of a snooze option, ``"<assignment_id>:<choice>"``.

    Raises:
        ValueError: ``choice`` is not one of the snooze codes.
    """
    if choice not in SNOOZE_LABELS:
        raise ValueError(f"unknown snooze choice {choice!r}")
    return f"{assignment_id}:{choice}"


def parse_assignment_value(value: str) -> int:
    """The assignment id carried by a Done (or Open) button value.

    Raises:
        ValueError: the value is not an assignment id.
    """
    return int(value)


def parse_snooze_value(value: str) -> tuple[int, str]:
    """The ``(assignment_id, choice)`` carried by a snooze option value.

    Raises:
        ValueError: the value is not ``"<assignment_id>:<choice>"`` with a known choice.
    """
    assignment, _, choice = value.partition(":")
    if choice not in SNOOZE_LABELS:
        raise ValueError(f"not a snooze value: {value!r}")
    return int(assignment), choice


# Peer-learning prompts in the community channel: two buttons whose value is the
# prompt id (learning.peer_prompts).
PEER_CAN_HELP = "peer_can_help"
PEER_LEARNING = "peer_learning"

# "Find a mentor" on a digest item (value: the assignment id; learning.mentoring).
DIGEST_FIND_MENTOR = "digest_find_mentor"

# The modal of the "Give kudos" message shortcut (its callback_id is in
# handlers.registry).
KUDOS_MODAL = "give_kudos_modal"
KUDOS_RECIPIENT_BLOCK = "recipient"
KUDOS_RECIPIENT_ACTION = "recipient"
KUDOS_REASON_BLOCK = "reason"
KUDOS_REASON_ACTION = "reason"
