"""Modal submissions: the Done form of a nudge DM item."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from slack_bolt import Ack, App
from slack_sdk import WebClient
from sqlalchemy.exc import IntegrityError

from learning.actions import (
    DoneResult,
    InvalidInput,
    check_evidence_url,
    check_score,
    complete_assignment,
    record_feedback,
    unit_of_work,
)
from learning.errors import LearnbotError
from models import Person
from platforms.slack.identity import require_person
from platforms.slack.listeners.context import HandlerContext
from platforms.slack.listeners.digest_dm import update_digest_dm
from platforms.slack.listeners.replies import error_text, parse_id, refresh_home, tell
from platforms.slack.render import ids
from platforms.slack.render.certifications import trusted_score_note
from platforms.slack.render.modals import COMMENT_MAX, DoneForm, DoneModalMetadata, read_done_form
from platforms.slack.render.mrkdwn import md

log = logging.getLogger(__name__)

T = TypeVar("T")

COMPLETION_SOURCE = "slack"
RATING_NEEDED = "Pick how useful it was to send a comment with it."
NOT_A_LINK = "Give a web link starting with https:// or http://."
BROKEN_FORM = "This form is out of date; nothing was changed. Close it and click Done again."


def register(app: App, ctx: HandlerContext) -> None:
    """Add the modal submission listeners to ``app``."""

    @app.view(ids.DONE_MODAL)
    def handle_done_submitted(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        submit_done(ctx, ack=ack, body=body, view=view, client=client)


def done_form_errors(form: DoneForm) -> tuple[dict[str, str], float | None, str | None, int | None]:
    """Check the Done form without the database.

    Returns:
        ``(errors by block_id, score, evidence url, rating)``; errors is empty when the
        form is fine.
    """
    errors: dict[str, str] = {}
    score = url = rating = None
    try:
        score = check_score(form.score)
    except InvalidInput as error:
        errors[ids.DONE_SCORE_BLOCK] = str(error)
    try:
        url = check_evidence_url(form.evidence_url)
    except InvalidInput as error:
        errors[ids.DONE_EVIDENCE_BLOCK] = str(error)
    except ValueError:  # urlsplit refuses it, e.g. "http://[" (an unclosed IPv6 address)
        errors[ids.DONE_EVIDENCE_BLOCK] = NOT_A_LINK
    if form.rating:
        try:
            rating = int(form.rating)
        except ValueError:
            rating = 0
        if not 1 <= rating <= 5:
            errors[ids.DONE_RATING_BLOCK] = "Pick a rating from 1 to 5."
            rating = None
    elif form.comment:
        errors[ids.DONE_RATING_BLOCK] = RATING_NEEDED
    if len(form.comment) > COMMENT_MAX:
        errors[ids.DONE_COMMENT_BLOCK] = f"Keep it to {COMMENT_MAX} characters."
    # The comment arrives without control characters (NUL included: PostgreSQL cannot
    # store one); a link with a NUL is no link.
    if "\x00" in form.evidence_url:
        errors[ids.DONE_EVIDENCE_BLOCK] = NOT_A_LINK
    return errors, score, url, rating


def submit_done(
    ctx: HandlerContext, *, ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
) -> None:
    """Validate the Done form, then record the completion and feedback and update the DM.

    Form mistakes are answered in the modal (``response_action=errors``) before anything
    is written; everything else happens after the ack.
    """
    user_id = body["user"]["id"]
    try:
        metadata: DoneModalMetadata | None = DoneModalMetadata.load(
            view.get("private_metadata") or ""
        )
    except (ValueError, OverflowError):  # not what learnbot wrote (int(inf) overflows)
        metadata = None
    if metadata is None or parse_id(metadata.assignment_id) is None:
        log.warning("Done modal with broken metadata: %.100r", view.get("private_metadata"))
        ack(response_action="errors", errors={ids.DONE_EVIDENCE_BLOCK: BROKEN_FORM})
        return
    form = read_done_form(((view.get("state") or {}).get("values")) or {})
    errors, score, url, rating = done_form_errors(form)
    if errors:
        ack(response_action="errors", errors=errors)
        return
    ack()

    def record() -> tuple[Person, DoneResult]:
        with unit_of_work(ctx.database) as session:
            person = require_person(session, user_id)
            result = complete_assignment(
                session,
                actor=person,
                assignment_id=metadata.assignment_id,
                clock=ctx.clock,
                source=COMPLETION_SOURCE,
                evidence_url=url,
                score=score,
            )
            if rating is not None:
                record_feedback(
                    session,
                    person=person,
                    assignment_id=metadata.assignment_id,
                    rating=rating,
                    comment=form.comment or None,
                    clock=ctx.clock,
                )
            return person, result

    try:
        person, result = _retry_once_on_conflict(record)
    except LearnbotError as error:
        tell(client, user_id=user_id, channel_id=metadata.channel_id, text=error_text(error))
        return
    updated = update_digest_dm(
        client, ctx, person=person, channel_id=metadata.channel_id, ts=metadata.message_ts
    )
    if not updated:
        done = "was already marked done" if result.already_done else "is marked done"
        tell(
            client,
            user_id=user_id,
            channel_id=metadata.channel_id,
            text=md("✅ “{title}” {done}.", title=result.item_title, done=done),
        )
    if result.needs_trusted_score and score is not None:
        tell(
            client,
            user_id=user_id,
            channel_id=metadata.channel_id,
            text=trusted_score_note(score=score, titles=result.needs_trusted_score),
        )
    refresh_home(client, ctx, person)


def _retry_once_on_conflict(work: Callable[[], T]) -> T:
    """Run ``work``; if a concurrent twin won a unique key (a double submit), run it again.

    The second run sees the twin's completion and records nothing (``already_done``).
    """
    try:
        return work()
    except IntegrityError:
        log.info("unique key conflict (a concurrent double submit?); trying once more")
        return work()
