"""``/learn leaderboard [join|leave]``: this week's game board so far, or opting in and out
of being named on it. The answer is the ephemeral ack (``handlers.commands``)."""

from __future__ import annotations

from sqlmodel import Session

from learning import command_parser as parser
from learning import game_board
from learning.curriculum import ProgramSettings
from learning.paths import current_settings
from models import Person
from platforms.slack.listeners.context import HandlerContext
from platforms.slack.render import game_board as replies
from platforms.slack.render.rendered import RenderedMessage


def leaderboard_reply(
    ctx: HandlerContext, session: Session, person: Person, command: parser.ShowLeaderboard
) -> RenderedMessage:
    """The answer to ``/learn leaderboard`` (``command.join`` None), ``join`` or ``leave``."""
    if command.join is not None:
        changed = game_board.set_on_leaderboard(
            session, person=person, join=command.join, clock=ctx.clock
        )
        return replies.membership_message(
            join=command.join, changed=changed, public_posts=person.public_posts
        )
    settings = current_settings(session) or ProgramSettings()
    if not settings.game_board.enabled:
        return replies.switched_off_message()
    board = game_board.current_board(session, now=ctx.clock.now(), settings=settings)
    return replies.leaderboard_message(board, game_board.your_place(session, person, board))
