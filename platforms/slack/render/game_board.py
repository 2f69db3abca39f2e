"""The weekly game board and ``/learn leaderboard``: Block Kit and fallback text.

Good news only: teams by the share of required items done (a rise is shown, a fall is
not), climbers, new certifications and kudos; nothing about overdue work. People come
from ``learning.game_board`` already filtered to those who chose to be named; the
fallback text names teams and counts, never people.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    PlainTextObject,
)

from learning.game_board import GameBoard, NamedPerson, Period, TeamStanding, YourPlace
from platforms.slack.render.mrkdwn import Mrkdwn, esc, lines, md, person
from platforms.slack.render.rendered import RenderedMessage, context, section, truncate

COMMAND = "/learn"
JOIN = f"`{COMMAND} leaderboard join` to appear by name"
LEAVE = f"`{COMMAND} leaderboard leave` to stop"
PUBLIC = f"`{COMMAND} privacy public`"
SECTION_MAX = 3000
HEADER_MAX = 150
TEAM_NAME_MAX = 60
PERSON_NAME_MAX = 80
CERTIFICATION_MAX = 80
FALLBACK_TEAMS = 3
MEDALS = (":first_place_medal:", ":second_place_medal:", ":third_place_medal:")


def _day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def _span(period: Period) -> str:
    if period.so_far:
        return f"this week so far (since {_day(period.first_day)})"
    return f"{_day(period.first_day)} – {_day(period.last_day)}"


def _clean(text: str, limit: int) -> Mrkdwn:
    return esc(truncate(" ".join(text.split()) or "-", limit))


def _who(name: str, slack_user_id: str | None) -> Mrkdwn:
    """A mention when the person is on Slack, else their name in bold."""
    return person(name, slack_user_id, limit=PERSON_NAME_MAX)


def percent_label(standing: TeamStanding) -> str:
    """``67%``; never 100% unless every item is done."""
    value = round(standing.percent)
    if value == 100 and standing.done < standing.owed:
        value = 99
    return f"{value}%"


def _rise(standing: TeamStanding) -> str:
    """``  ▲ 5 pts``, only for a rise of at least one point (good news only)."""
    if standing.change is None or round(standing.change) < 1:
        return ""
    return f"  ▲ {round(standing.change)} pts"


def _place(rank: int) -> str:
    return MEDALS[rank - 1] if rank <= len(MEDALS) else f"{rank}."


def team_line(standing: TeamStanding) -> Mrkdwn:
    return md(
        "{place} *{team}* — {percent} of required items done ({done} of {owed}){rise}",
        place=_place(standing.rank),
        team=_clean(standing.team, TEAM_NAME_MAX),
        percent=percent_label(standing),
        done=standing.done,
        owed=standing.owed,
        rise=_rise(standing),
    )


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def _sections(heading: Mrkdwn, shown: Sequence[Mrkdwn]) -> list[Block]:
    """``heading`` and the ``shown`` lines in as few sections as fit Slack's 3,000
    characters."""
    blocks: list[Block] = []
    current = heading
    for line in shown:
        line = truncate(line, SECTION_MAX - 10)
        if len(current) + 1 + len(line) > SECTION_MAX:
            blocks.append(section(current))
            current = line
        else:
            current = lines(current, line)
    blocks.append(section(current))
    return blocks


def _people(people: Iterable[NamedPerson], one: str, many: str | None = None) -> list[Mrkdwn]:
    return [
        md(
            "{place} {who} — {count}",
            place=_place(rank),
            who=_who(p.name, p.chat_user_id),
            count=_plural(p.count, one, many),
        )
        for rank, p in enumerate(people, start=1)
    ]


def board_blocks(board: GameBoard) -> list[Block]:
    """The board's blocks: header, teams, then whichever good news the period has."""
    blocks: list[Block] = [
        HeaderBlock(
            text=PlainTextObject(
                text=truncate(f":trophy: Game board — {_span(board.period)}", HEADER_MAX),
                emoji=True,
            )
        )
    ]
    if board.teams:
        blocks += _sections(
            md("*Teams* — by the share of their required items done"),
            [team_line(s) for s in board.teams],
        )
    else:
        blocks.append(
            section(
                md(
                    "*Teams* — no team of {size} or more people has required items yet.",
                    size=board.min_team_size,
                )
            )
        )
    if board.climbers:
        blocks += _sections(
            md("*Top climbers* — most items completed"), _people(board.climbers, "item")
        )
    if board.certifications_total:
        earned = [
            md(
                "• {who} — {certification}",
                who=_who(c.name, c.chat_user_id),
                certification=_clean(c.certification, CERTIFICATION_MAX),
            )
            for c in board.certifications
        ]
        more = board.certifications_total - len(board.certifications)
        if more and earned:
            earned.append(md("…and {more} more", more=more))
        elif more:
            earned.append(
                md(
                    "{colleagues} earned their first certification.",
                    colleagues=_plural(more, "colleague"),
                )
            )
        heading = md("*New certifications* :medal: {n}", n=board.certifications_total)
        blocks += _sections(heading, earned)
    if board.kudos:
        text = md("*Kudos* :clap: {n} given", n=board.kudos)
        thanked: list[Mrkdwn] = []
        if board.most_thanked:
            thanked = [md("Most thanked:"), *_people(board.most_thanked, "kudos", "kudos")]
        blocks += _sections(text, thanked)
    return blocks


def fallback_text(board: GameBoard) -> Mrkdwn:
    """The plain text: the span, the leading teams and the counts; no person's name.
    Team names are escaped here too: Slack reads ``<!channel>`` in ``text`` as well."""
    parts = [md("Game board, {span}", span=_span(board.period))]
    if board.teams:
        leaders = Mrkdwn(", ").join(
            md(
                "{rank}. {team} {percent}",
                rank=s.rank,
                team=_clean(s.team, TEAM_NAME_MAX),
                percent=percent_label(s),
            )
            for s in board.teams[:FALLBACK_TEAMS]
        )
        parts.append(md("teams by share of required items done: {leaders}", leaders=leaders))
    if board.certifications_total:
        parts.append(esc(_plural(board.certifications_total, "new certification")))
    if board.kudos:
        parts.append(esc(_plural(board.kudos, "kudos", "kudos") + " given"))
    return truncate(Mrkdwn("; ").join(parts) + md("."), SECTION_MAX)


def _how_to_join(board: GameBoard) -> ContextBlock:
    return context(
        md(
            "Teams of {size} or more always count; people are named only if they choose: {join}.",
            size=board.min_team_size,
            join=JOIN,
        )
    )


def render_game_board(board: GameBoard) -> RenderedMessage:
    """The weekly post in the recognition channel."""
    blocks = [*board_blocks(board), _how_to_join(board)]
    return RenderedMessage(text=fallback_text(board), blocks=[b.to_dict() for b in blocks])


def your_place_line(place: YourPlace) -> Mrkdwn:
    """The asker's team and whether they are named."""
    if not place.team:
        team = md("You have no team in the people file, so you are not on a team's ranking.")
    elif place.standing is not None:
        s = place.standing
        team = md(
            "Your team *{team}* is {ordinal} of {ranked}: {percent} of required items done "
            "({done} of {owed}){rise}.",
            team=_clean(place.team, TEAM_NAME_MAX),
            ordinal=_ordinal(s.rank),
            ranked=_plural(place.teams_ranked, "ranked team"),
            percent=percent_label(s),
            done=s.done,
            owed=s.owed,
            rise=_rise(s),
        )
    elif place.team_size < place.min_team_size:
        team = md(
            "Your team *{team}* is not ranked: teams need {size} or more active people.",
            team=_clean(place.team, TEAM_NAME_MAX),
            size=place.min_team_size,
        )
    else:
        team = md(
            "Your team *{team}* is not ranked yet: it has no required items.",
            team=_clean(place.team, TEAM_NAME_MAX),
        )
    if place.named:
        you = md("You are named on the board when you make it ({leave}).", leave=LEAVE)
    elif place.on_leaderboard:
        you = md(
            "You joined the board, but you keep out of public posts, so you stay unnamed "
            "until {public}.",
            public=PUBLIC,
        )
    else:
        you = md("You are not named on the board: {join}.", join=JOIN)
    return lines(team, you)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def leaderboard_message(board: GameBoard, place: YourPlace) -> RenderedMessage:
    """``/learn leaderboard``: this week's board so far, then where the asker stands."""
    blocks = [
        *board_blocks(board),
        section(truncate(your_place_line(place), SECTION_MAX)),
    ]
    return RenderedMessage(text=fallback_text(board), blocks=[b.to_dict() for b in blocks])


def membership_message(*, join: bool, changed: bool, public_posts: bool) -> RenderedMessage:
    """The answer to ``/learn leaderboard join|leave``."""
    if join:
        head = (
            ":tada: You joined the game board: it names you when you make it."
            if changed
            else "You are already on the game board."
        )
        note = LEAVE[0].upper() + LEAVE[1:] + "."
        if not public_posts:
            head = (
                ":tada: You joined the game board" if changed else "You are on the game board"
            ) + (", but you keep out of public posts: you stay unnamed until " + PUBLIC + ".")
    else:
        head = (
            ":wave: Done: the game board no longer names you. Your team still counts."
            if changed
            else "The game board does not name you. Your team still counts."
        )
        note = JOIN[0].upper() + JOIN[1:] + "."
    # Every piece above is a literal of this module: plain text, escaped here.
    blocks: list[Block] = [section(esc(head)), context(esc(note))]
    return RenderedMessage(text=esc(head.replace("`", "")), blocks=[b.to_dict() for b in blocks])


def switched_off_message() -> RenderedMessage:
    """``/learn leaderboard`` when ``game_board.enabled`` is false."""
    text = md("The game board is switched off here (game_board.enabled is false).")
    return RenderedMessage(text=text, blocks=[section(text).to_dict()])
