"""``/learn mentor [on|off]``: whether learnbot may pair the person as a mentor."""

from __future__ import annotations

from sqlmodel import Session

from learning import command_parser as parser
from learning import mentoring
from learning.curriculum import ProgramSettings
from learning.paths import current_settings
from models import Person
from platforms.slack.listeners.context import HandlerContext
from platforms.slack.render import mentoring as text
from platforms.slack.render.rendered import RenderedMessage


def mentoring_reply(
    ctx: HandlerContext, session: Session, person: Person, command: parser.SetMentoring
) -> RenderedMessage:
    """Set (``on``/``off``) or show the person's mentoring availability; the reply."""
    changed = command.available is not None and mentoring.set_mentoring(
        session, person=person, available=command.available, clock=ctx.clock
    )
    spec = (current_settings(session) or ProgramSettings()).mentoring
    return text.mentoring_setting_message(
        available=person.mentoring,
        changed=changed,
        enabled=spec.enabled,
        weekly_cap=spec.weekly_cap,
    )
