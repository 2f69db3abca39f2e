"""The escalation ladder's actions in chat: modals, the approver's card and the DMs.

* Managers act on an escalation DM: Extend (``extend_modal``), Excuse (``excuse_modal``),
  Remind (a DM to the learner, ``reminder_text``).
* Learners ask for more time from their digest (``extension_request_modal``); the
  approver (or the admins) get ``request_card`` with Approve / Decline, which is
  updated in place once someone decided (``RequestCard.decided_*``).

Built with ``slack_sdk.models`` classes only. Action ids and callback ids are in
``messages.ids``; the block ids of the modals' inputs are below. Slack keeps old modals
and messages with their ids for ever: never change one that has shipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    DatePickerElement,
    InputBlock,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from learning.extensions import RequestCard
from platforms.slack.render import ids
from platforms.slack.render.digest import short_day
from platforms.slack.render.mrkdwn import Mrkdwn, esc, md
from platforms.slack.render.rendered import (
    RenderedMessage,
    check_view,
    context,
    section,
    text_object,
    truncate,
)

# block_id / action_id of the modals' inputs (the submissions read them back).
DUE_BLOCK = "extension_due"
DUE_ACTION = "due"
REASON_BLOCK = "extension_reason"
REASON_ACTION = "reason"

REASON_MAX = 500  # learning.actions.MAX_REASON
NAME_MAX = 80
TITLE_MAX = 150
QUOTE_MAX = 600  # the reason as quoted in a message (a reason is at most 500 characters)


def _plain_name(name: str) -> str:
    return truncate(" ".join(name.split()) or "someone", NAME_MAX)


def _name(name: str) -> Mrkdwn:
    return esc(_plain_name(name))


def _title(title: str) -> Mrkdwn:
    return esc(truncate(" ".join(title.split()) or "this item", TITLE_MAX))


def _quote(reason: str) -> Mrkdwn:
    text = esc(truncate(" ".join(reason.split()), QUOTE_MAX))
    return md("> {text}", text=text) if text else md("")


def _due_clause(due: date, today: date) -> str:
    """``due Thu 5 Mar`` or, when that has passed, ``which was due Thu 5 Mar``."""
    return f"{'which was ' if due < today else ''}due {short_day(due, today)}"


# --- modal metadata --------------------------------------------------------------------


@dataclass(frozen=True)
class ModalMetadata:
    """What a modal's submission needs: the subject's id and where the click came from.

    ``subject_id`` is an assignment id. ``channel_id`` and ``message_ts`` locate the
    message the button was on (empty from App Home), so the answer can go there.
    """

    subject_id: int
    channel_id: str = ""
    message_ts: str = ""

    def dump(self) -> str:
        return json.dumps(
            {"a": self.subject_id, "c": self.channel_id, "ts": self.message_ts},
            separators=(",", ":"),
        )

    @classmethod
    def load(cls, text: str) -> ModalMetadata:
        """Parse ``private_metadata``.

        Raises:
            ValueError: it is not what ``dump`` wrote.
        """
        try:
            data = json.loads(text)
            return cls(int(data["a"]), str(data.get("c") or ""), str(data.get("ts") or ""))
        except (TypeError, KeyError, ValueError) as error:
            raise ValueError(f"not escalation modal metadata: {text[:100]!r}") from error


# --- modals ----------------------------------------------------------------------------


def _date_input(label: str, hint: str) -> InputBlock:
    return InputBlock(
        block_id=DUE_BLOCK,
        label=label,
        hint=hint,
        element=DatePickerElement(action_id=DUE_ACTION, placeholder="Pick a date"),
    )


def _reason_input(label: str, placeholder: str) -> InputBlock:
    return InputBlock(
        block_id=REASON_BLOCK,
        label=label,
        element=PlainTextInputElement(
            action_id=REASON_ACTION,
            multiline=True,
            max_length=REASON_MAX,
            placeholder=placeholder,
        ),
    )


def _modal(
    *, callback_id: str, title: str, submit: str, metadata: ModalMetadata, blocks: list[Block]
) -> dict[str, Any]:
    return check_view(
        View(
            type="modal",
            callback_id=callback_id,
            title=PlainTextObject(text=title),
            submit=PlainTextObject(text=submit),
            close=PlainTextObject(text="Cancel"),
            private_metadata=metadata.dump(),
            blocks=blocks,
        )
    )


def extend_modal(
    *, learner_name: str, item_title: str, due: date, today: date, metadata: ModalMetadata
) -> dict[str, Any]:
    """A manager gives a learner a new due date for one item (``views.open`` view)."""
    return _modal(
        callback_id=ids.EXTEND_MODAL,
        title="Extend the deadline",
        submit="Extend",
        metadata=metadata,
        blocks=[
            section(
                md(
                    "*{title}* for {name}, {due}.",
                    title=_title(item_title),
                    name=_name(learner_name),
                    due=_due_clause(due, today),
                )
            ),
            _date_input("New due date", "After today and within a year."),
            _reason_input("Reason", "Why more time? It goes to them and to the audit log."),
        ],
    )


def excuse_modal(
    *, learner_name: str, item_title: str, due: date | None, today: date, metadata: ModalMetadata
) -> dict[str, Any]:
    """A manager excuses a learner from one item (``views.open`` view)."""
    when = f", {_due_clause(due, today)}" if due is not None else ""
    return _modal(
        callback_id=ids.EXCUSE_MODAL,
        title="Excuse from this item",
        submit="Excuse",
        metadata=metadata,
        blocks=[
            section(
                md(
                    "Excuse {name} from *{title}*{when}? It will no longer be owed or chased.",
                    name=_name(learner_name),
                    title=_title(item_title),
                    when=when,
                )
            ),
            _reason_input("Reason", "Why is it not needed? It goes to the audit log."),
        ],
    )


def extension_request_modal(
    *,
    item_title: str,
    due: date,
    today: date,
    approver_name: str | None,
    metadata: ModalMetadata,
) -> dict[str, Any]:
    """A learner asks for more time on one of their required items (``views.open`` view)."""
    who = _name(approver_name) if approver_name else md("the learnbot admins")
    return _modal(
        callback_id=ids.EXTENSION_REQUEST_MODAL,
        title="Ask for more time",
        submit="Send request",
        metadata=metadata,
        blocks=[
            section(
                md(
                    "*{title}*, {due}.\nYour request goes to {who}.",
                    title=_title(item_title),
                    due=_due_clause(due, today),
                    who=who,
                )
            ),
            _date_input("New date you propose", "After today and within a year."),
            _reason_input("Reason", "What is in the way?"),
        ],
    )


@dataclass(frozen=True)
class DateReasonForm:
    """A modal's answers as typed: the picked date (None if none) and the reason."""

    due: date | None
    due_text: str
    reason: str


def read_form(values: dict[str, Any]) -> DateReasonForm:
    """The answers in one of these modals' ``view.state.values`` (absent fields: empty)."""
    due_text = str(((values.get(DUE_BLOCK) or {}).get(DUE_ACTION) or {}).get("selected_date") or "")
    reason = str(((values.get(REASON_BLOCK) or {}).get(REASON_ACTION) or {}).get("value") or "")
    try:
        due = date.fromisoformat(due_text) if due_text else None
    except ValueError:
        due = None
    return DateReasonForm(due=due, due_text=due_text, reason=" ".join(reason.split()))


# --- the approver's card -----------------------------------------------------------------


def request_card(card: RequestCard) -> RenderedMessage:
    """The DM (or admins' channel message) asking for a decision on an extension request.

    Open: Approve / Decline buttons (value: the request id). Decided: the buttons give way
    to who decided and when, so an old copy cannot be acted on by mistake.
    """
    learner, title = _name(card.learner_name), _title(card.item_title)
    due = short_day(card.due, card.today)
    if card.overdue_working_days > 0:
        days = card.overdue_working_days
        due += f" ({days} working day{'s' if days != 1 else ''} overdue)"
    proposed = short_day(card.proposed, card.today)
    text = md(
        "{learner} asks for more time on “{title}”: until {proposed}.",
        learner=learner,
        title=title,
        proposed=proposed,
    )
    if card.decision == "approved":  # the due date is the proposed one now
        fields = [text_object(md("*New due date*\n{day}", day=proposed))]
    else:
        fields = [
            text_object(md("*Due*\n{day}", day=due)),
            text_object(md("*Proposed*\n{day}", day=proposed)),
        ]
    blocks: list[Block] = [
        SectionBlock(
            block_id=f"extension:{card.request_id}",
            text=text_object(
                md("*{learner}* asks for more time on *{title}*.", learner=learner, title=title)
            ),
            fields=fields,
        ),
    ]
    if card.reason.strip():
        blocks.append(section(md("*Reason*\n{quote}", quote=_quote(card.reason))))
    if card.to_admins:
        blocks.append(
            context(
                md(
                    "Nobody in {learner}'s management chain can take this right now, "
                    "so it came to the learnbot admins.",
                    learner=learner,
                )
            )
        )
    if card.decision:
        blocks.append(context(decision_line(card)))
    else:
        value = str(card.request_id)
        blocks.append(
            ActionsBlock(
                block_id=f"extension:{card.request_id}:actions",
                elements=[
                    ButtonElement(
                        text="Approve",
                        action_id=ids.EXTENSION_APPROVE,
                        value=value,
                        style="primary",
                    ),
                    ButtonElement(
                        text="Decline", action_id=ids.EXTENSION_DECLINE, value=value, style="danger"
                    ),
                ],
            )
        )
    return RenderedMessage(text=text, blocks=[block.to_dict() for block in blocks])


def decision_line(card: RequestCard) -> Mrkdwn:
    """``✅ Approved by Max on Tue 3 Mar`` and the like."""
    when = f" on {short_day(card.decided_on, card.today)}" if card.decided_on else ""
    by = _name(card.decided_by) if card.decided_by else md("someone")
    if card.decision == "approved":
        return md("✅ Approved by {by}{when}", by=by, when=when)
    if card.decision == "declined":
        return md("Declined by {by}{when}", by=by, when=when)
    if card.decision == "expired":
        return md("Lapsed{when}: nobody decided in time", when=when)
    return md("{decision}{when}", decision=card.decision.capitalize(), when=when)


# --- DMs to the learner --------------------------------------------------------------


def _relation(actor_name: str, relation: str) -> Mrkdwn:
    name = _name(actor_name)
    if relation == "manager":
        return md("Your manager, {name},", name=name)
    if relation == "chain":
        return md("{name}, from your management chain,", name=name)
    return md("{name}, a learnbot admin,", name=name)


def reminder_text(
    *, actor_name: str, relation: str, item_title: str, due: date, today: date
) -> Mrkdwn:
    """A manager's nudge: ``Your manager, Max, asked you to finish “X”, due Thu 5 Mar.``"""
    return md(
        "👋 {who} asked you to finish “{title}”, {due}. When it is done, tick it off with "
        "Done in your digest or `/learn done`.",
        who=_relation(actor_name, relation),
        title=_title(item_title),
        due=_due_clause(due, today),
    )


def extended_text(
    *,
    actor_name: str,
    item_title: str,
    due: date,
    today: date,
    reason: str,
    answered_request: bool,
) -> Mrkdwn:
    """A manager moved the learner's due date (also an approval of their own request)."""
    lead = (
        md("✅ {name} approved your request for more time", name=_name(actor_name))
        if answered_request
        else md("🗓️ {name} gave you more time", name=_name(actor_name))
    )
    quoted = _quote(reason)
    return md(
        "{lead}: “{title}” is now due {day}.{quoted}",
        lead=lead,
        title=_title(item_title),
        day=short_day(due, today),
        quoted=md("\n{quoted}", quoted=quoted) if quoted else md(""),
    )


def excused_text(*, actor_name: str, item_title: str, reason: str) -> Mrkdwn:
    """A manager excused the learner from an item."""
    quoted = _quote(reason)
    return md(
        "{name} excused you from “{title}”: nothing more to do there.{quoted}",
        name=_name(actor_name),
        title=_title(item_title),
        quoted=md("\n{quoted}", quoted=quoted) if quoted else md(""),
    )


def declined_text(*, actor_name: str, item_title: str, due: date, today: date) -> Mrkdwn:
    """The learner's request was declined."""
    return md(
        "{name} declined your request for more time on “{title}”. It stays {due}, and "
        "reminders continue.",
        name=_name(actor_name),
        title=_title(item_title),
        due=_due_clause(due, today),
    )


def expired_text(*, item_title: str, days: int, due: date, today: date) -> Mrkdwn:
    """Nobody decided on the learner's request in time."""
    return md(
        "Your request for more time on “{title}” got no decision in {days} day{s}, so it "
        "has lapsed; reminders continue. It stays {due}.",
        title=_title(item_title),
        days=days,
        s="s" if days != 1 else "",
        due=_due_clause(due, today),
    )


# --- private answers to the person who clicked ------------------------------------------


def reminded_text(learner_name: str, *, sent: bool) -> Mrkdwn:
    if sent:
        return md("Reminder sent to {name}.", name=_name(learner_name))
    return md(
        "You already reminded {name} today, so no second reminder was sent.",
        name=_name(learner_name),
    )


def unreachable_text(learner_name: str) -> Mrkdwn:
    return md(
        "{name} has no Slack account linked in learnbot, so no reminder could be sent.",
        name=_name(learner_name),
    )


def extended_confirmation(learner_name: str, item_title: str, due: date, today: date) -> Mrkdwn:
    return md(
        "Done: “{title}” is now due {day} for {name}, and they have been told.",
        title=_title(item_title),
        day=short_day(due, today),
        name=_name(learner_name),
    )


def excused_confirmation(learner_name: str, item_title: str) -> Mrkdwn:
    return md(
        "Done: {name} is excused from “{title}”, and they have been told.",
        name=_name(learner_name),
        title=_title(item_title),
    )


def requested_confirmation(
    *, item_title: str, proposed: date, today: date, approver_name: str | None, delivered: bool
) -> Mrkdwn:
    if not delivered:
        return md(
            "Your request for more time on “{title}” is recorded, but nobody can be asked "
            "right now (no manager or admin is reachable in learnbot). Please tell your "
            "manager yourself.",
            title=_title(item_title),
        )
    who = _name(approver_name) if approver_name else md("the learnbot admins")
    return md(
        "Your request for more time on “{title}” (until {day}) went to {who}. You will hear "
        "back here.",
        title=_title(item_title),
        day=short_day(proposed, today),
        who=who,
    )
