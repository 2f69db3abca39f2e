"""The weekly game board: fair team ranking, opt-in names, the weekly post in the
recognition channel (delivered by the real sender to the fake Slack server) and
``/learn leaderboard [join|leave]`` through Bolt's real pipeline, on a frozen clock."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from learning.game_board import (
    GameBoard,
    NamedPerson,
    NewCertification,
    Period,
    TeamStanding,
)
from models import (
    Assignment,
    AssignmentStatus,
    Certification,
    CertificationAward,
    Item,
    Kudos,
    OutboxMessage,
    Person,
)
from platforms.slack.render.game_board import render_game_board
from platforms.slack.render.limits import block_kit_problems
from schedules.game_board import plan_game_board
from tests.fakes.slack_api import FakeSlack
from tests.helpers import people_csv
from tests.outbox_support import make_sender
from tests.test_learn_command import make_learn, reply

PROGRAMS = """
organisation:
  name: Board Co
  timezone: America/New_York
channels:
  recognition: "#wins"
items:
  intro:
    title: Welcome and introductions
    method: reading
    minutes: 15
  safety:
    title: Safety training
    method: online
    minutes: 30
  ethics:
    title: Ethics
    method: online
    minutes: 30
  extra:
    title: Extra reading
    method: reading
    minutes: 20
programs:
  engineer:
    title: Engineer
    tiers:
      - key: first-30
        title: First 30 days
        starts_on_day: 0
        items:
          - {item: intro, required: true, due: 30}
          - {item: safety, required: true, due: 30}
          - {item: ethics, required: true, due: 30}
          - {item: extra, due: 30}
certifications:
  safe-worker:
    title: Safe Worker
    items: [safety]
    valid_for: 1y
"""
REQUIRED = ("intro", "safety", "ethics")

# Teams of 3 (Small), 10 (Mid) and 30 (Large), and Sol alone. In Small: Ann has joined
# the board; Pat joined but keeps out of public posts; Bob has not joined.
NAMED = {
    "ann@b.io": ("Annika Shown", "UANN"),
    "pat@b.io": ("Patience Hidden", "UPAT"),
    "bob@b.io": ("Bobbie Quiet", "UBOB"),
}
HIDDEN = ("Patience Hidden", "UPAT", "pat@b.io", "Bobbie Quiet", "UBOB", "bob@b.io")
PEOPLE = (
    *(
        f"{email},{name},,engineer,Small,2026-02-16,,{slack}"
        for email, (name, slack) in NAMED.items()
    ),
    *(f"m{i:02d}@b.io,Mid Member {i},,engineer,Mid,2026-02-16,,UM{i:02d}" for i in range(10)),
    *(f"l{i:02d}@b.io,Large Member {i},,engineer,Large,2026-02-16,,UL{i:02d}" for i in range(30)),
    "sol@b.io,Sol Alone,,engineer,Solo,2026-02-16,,USOL",
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# New York: EST (UTC-5) until Sunday 8 March 2026, EDT (UTC-4) from then. The board is
# posted on Mondays at 10:00 New York time: 15:00 UTC on 2 March, 14:00 UTC on 9 March.
IMPORTED = utc(2026, 2, 20, 15, 0)  # Friday before the first board's week
BEFORE_WEEK = utc(2026, 2, 21, 15, 0)  # Saturday: before the week of 23 February
IN_WEEK = utc(2026, 2, 25, 15, 0)  # Wednesday 25 February
POST_EST = utc(2026, 3, 2, 15, 0)  # Mon 2 Mar, 10:00 EST
IN_DST_WEEK = utc(2026, 3, 3, 15, 0)  # Tuesday 3 March
POST_EDT = utc(2026, 3, 9, 14, 0)  # Mon 9 Mar, 10:00 EDT


@pytest.fixture
def fake(clock):
    with FakeSlack(time_source=lambda: clock.now().timestamp()) as server:
        yield server


@pytest.fixture
def org(db, clock, cli, write):
    def load(programs: str = PROGRAMS) -> str:
        clock.set(IMPORTED)
        path = write("programs.yml", programs)
        assert cli("load-config", path).code == 0
        assert cli("import-people", write("people.csv", people_csv(*PEOPLE))).code == 0
        with db.session() as session:  # Ann and Pat joined the board; Pat is private
            session.execute(
                update(Person)
                .where(Person.email.in_(["ann@b.io", "pat@b.io"]))
                .values(on_leaderboard=True)
            )
            session.execute(
                update(Person).where(Person.email == "pat@b.io").values(public_posts=False)
            )
        return path

    return load


@pytest.fixture
def learn(org, db, clock, cli, fake):
    return make_learn(db, clock, cli, fake, programs_file=org())


def plan(db, clock, at: datetime) -> int:
    clock.set(at)
    return plan_game_board(db, clock).enqueued


def deliver(db, fake, clock) -> None:
    make_sender(db, fake, clock).drain()


def posts(fake) -> list[dict[str, Any]]:
    """Game boards posted in the recognition channel (kudos posts left out)."""
    return [m for m in fake.messages("#wins") if "Game board" in as_json(m)]


def as_json(message: Any) -> str:
    """The whole message as Slack got it, for "nobody else is named anywhere" checks."""
    return json.dumps(message, ensure_ascii=False)


def text_of(message: dict[str, Any]) -> str:
    parts = []
    for block in message.get("blocks", []):
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        parts.extend(e.get("text", "") for e in block.get("elements", []))
    return "\n".join(parts)


def complete(db, at: datetime, **done: tuple[str, ...]) -> None:
    """Mark items done at ``at``: ``complete(db, at, ann=("intro",))`` (email local part)."""
    with db.session() as session:
        for who, keys in done.items():
            person_id = session.scalars(
                select(Person.id).where(Person.email == f"{who}@b.io")
            ).one()
            item_ids = select(Item.id).where(Item.key.in_(keys))
            session.execute(
                update(Assignment)
                .where(Assignment.person_id == person_id, Assignment.item_id.in_(item_ids))
                .values(status=AssignmentStatus.COMPLETED, completed_at=at)
            )


def waive(db, who: str, key: str) -> None:
    with db.session() as session:
        person_id = session.scalars(select(Person.id).where(Person.email == f"{who}@b.io")).one()
        item_id = session.scalars(select(Item.id).where(Item.key == key)).one()
        session.execute(
            update(Assignment)
            .where(Assignment.person_id == person_id, Assignment.item_id == item_id)
            .values(status=AssignmentStatus.WAIVED, waived_reason="done elsewhere")
        )


def good_news_for_everyone_in_small(db, at: datetime) -> None:
    """Ann, Pat and Bob each complete items, earn their first certification and get
    kudos from Sol at ``at``; Bob does the most of each."""
    complete(db, at, ann=("intro",), pat=("intro", "safety"), bob=(*REQUIRED, "extra"))
    with db.session() as session:
        ids = dict(session.execute(select(Person.email, Person.id)).all())
        cert = session.scalars(select(Certification.id)).one()
        for email in NAMED:
            session.add(
                CertificationAward(
                    person_id=ids[email],
                    certification_id=cert,
                    awarded_at=at,
                    expires_at=at + timedelta(days=365),
                )
            )
        for email, times in (("ann@b.io", 1), ("pat@b.io", 2), ("bob@b.io", 3)):
            for n in range(times):
                session.add(
                    Kudos(
                        giver_id=ids["sol@b.io"],
                        recipient_id=ids[email],
                        reason=f"thanks {n}",
                        given_at=at,
                        giver_local_date=at.date(),
                    )
                )


# --- the ranking -----------------------------------------------------------------------


def test_teams_rank_by_share_of_required_items_done_not_by_count(org, db, fake, clock):
    org()
    # Small (3 people): 3 of 9 done before the week, 6 of 9 by its end: 67%, up 33 pts.
    complete(db, BEFORE_WEEK, ann=REQUIRED)
    complete(db, IN_WEEK, pat=REQUIRED)
    # Mid (10): 17 of 30 done, one item waived (it does not count): 17 of 29, 59%.
    complete(db, IN_WEEK, **{f"m{i:02d}": REQUIRED for i in range(5)}, m05=("intro", "safety"))
    waive(db, "m09", "ethics")
    # Large (30): 45 of 90 done, the most of any team, but only 50%.
    complete(db, IN_WEEK, **{f"l{i:02d}": REQUIRED for i in range(15)})
    # Sol alone has done everything, but a team of one is not ranked.
    complete(db, IN_WEEK, sol=REQUIRED)

    assert plan(db, clock, POST_EST) == 1
    deliver(db, fake, clock)
    [post] = posts(fake)
    text = text_of(post)
    assert "Mon 23 Feb – Sun 1 Mar" in text
    lines = [line for line in text.splitlines() if "of required items done (" in line]
    assert lines == [
        ":first_place_medal: *Small* — 67% of required items done (6 of 9)  ▲ 33 pts",
        ":second_place_medal: *Mid* — 59% of required items done (17 of 29)  ▲ 59 pts",
        ":third_place_medal: *Large* — 50% of required items done (45 of 90)  ▲ 50 pts",
    ]
    assert "Solo" not in as_json(post)
    assert post["text"].startswith("Game board, Mon 23 Feb – Sun 1 Mar; teams by share")
    assert "1. Small 67%, 2. Mid 59%, 3. Large 50%" in post["text"]


def test_the_board_shows_the_share_at_the_end_of_its_week(org, db, fake, clock):
    org()
    complete(db, IN_WEEK, ann=REQUIRED)
    # Done on the post day itself, before the post: next week's news, not this board's.
    complete(db, utc(2026, 3, 2, 12, 0), pat=REQUIRED, bob=REQUIRED)
    plan(db, clock, POST_EST)
    deliver(db, fake, clock)
    [post] = posts(fake)
    assert "*Small* — 33% of required items done (3 of 9)" in text_of(post)


# --- names: only people who chose to be named ------------------------------------------


def test_only_opted_in_people_are_named_in_the_weekly_post(org, db, fake, clock):
    org()
    good_news_for_everyone_in_small(db, IN_DST_WEEK)
    plan(db, clock, POST_EDT)
    deliver(db, fake, clock)
    [post] = posts(fake)
    whole = as_json(post)
    for hidden in HIDDEN:
        assert hidden not in whole
    text = text_of(post)
    assert "*Top climbers* — most items completed\n:first_place_medal: <@UANN> — 1 item" in text
    assert "*New certifications* :medal: 3\n• <@UANN> — Safe Worker\n…and 2 more" in text
    assert "*Kudos* :clap: 6 given" in text
    assert "Most thanked:\n:first_place_medal: <@UANN> — 1 kudos" in text
    assert "`/learn leaderboard join` to appear by name" in text


def test_only_opted_in_people_are_named_in_learn_leaderboard(learn, db, clock):
    good_news_for_everyone_in_small(db, IN_DST_WEEK)
    clock.set(IN_DST_WEEK + timedelta(days=1))
    for asker in ("UBOB", "UPAT", "UANN", "UL00"):
        body = reply(learn.requests.command("leaderboard", user_id=asker))
        whole = as_json(body)
        for hidden in HIDDEN:
            assert hidden not in whole, (asker, hidden)
        assert "<@UANN> — 1 item" in whole
        assert "this week so far (since Mon 2 Mar)" in whole


def test_learn_leaderboard_tells_you_your_teams_rank_and_whether_you_are_named(learn, db, clock):
    complete(db, IN_DST_WEEK, ann=REQUIRED, l00=REQUIRED)
    clock.set(IN_DST_WEEK)
    said = learn("UBOB", "leaderboard")
    assert "Your team *Small* is 1st of 3 ranked teams: 33% of required items done" in said
    assert "▲ 33 pts" in said
    assert "You are not named on the board: `/learn leaderboard join` to appear by name." in said
    assert "keep out of public posts" in learn("UPAT", "leaderboard")
    assert "You are named on the board when you make it" in learn("UANN", "leaderboard")
    assert "Your team *Solo* is not ranked: teams need 2 or more active people" in learn(
        "USOL", "leaderboard"
    )


def test_joining_names_you_on_the_board_and_leaving_stops_it(learn, db, fake, clock):
    complete(db, IN_DST_WEEK, bob=REQUIRED)
    clock.set(IN_DST_WEEK)
    assert "<@UBOB>" not in learn("UBOB", "leaderboard")

    said = learn("UBOB", "leaderboard join")
    assert "You joined the game board" in said and "leaderboard leave" in said
    assert "You are already on the game board" in learn("UBOB", "leaderboard join")
    [entry] = learn.audit("leaderboard.join")
    assert entry.actor == "bob@b.io" and entry.details["on_leaderboard"] is True
    assert ":first_place_medal: <@UBOB> — 3 items" in learn("UANN", "leaderboard")

    plan(db, clock, POST_EDT)
    deliver(db, fake, clock)
    [post] = posts(fake)
    assert ":first_place_medal: <@UBOB> — 3 items" in text_of(post)

    assert "no longer names you" in learn("UBOB", "leaderboard leave")
    assert [e.actor for e in learn.audit("leaderboard.leave")] == ["bob@b.io"]
    assert "UBOB" not in as_json(reply(learn.requests.command("leaderboard", user_id="UANN")))


def test_joining_while_private_stays_unnamed_until_privacy_public(learn, db, clock):
    complete(db, IN_DST_WEEK, bob=REQUIRED)
    clock.set(IN_DST_WEEK)
    learn("UBOB", "privacy private")
    said = learn("UBOB", "leaderboard join")
    assert "you stay unnamed until `/learn privacy public`" in said
    assert "UBOB" not in as_json(reply(learn.requests.command("leaderboard", user_id="UANN")))
    learn("UBOB", "privacy public")
    assert "<@UBOB> — 3 items" in learn("UANN", "leaderboard")


# --- the weekly post ---------------------------------------------------------------------


def test_a_week_without_kudos_or_certifications_still_gets_a_board(org, db, fake, clock):
    org()
    complete(db, IN_WEEK, m00=REQUIRED)
    plan(db, clock, POST_EST)
    deliver(db, fake, clock)
    [post] = posts(fake)
    text = text_of(post)
    assert ":first_place_medal: *Mid* — 10% of required items done (3 of 30)" in text
    assert "*Small* — 0% of required items done (0 of 9)" in text
    assert "Kudos" not in text and "certification" not in text.lower()
    assert "Top climbers" not in text  # Mid's members have not joined
    assert "overdue" not in as_json(post).lower()


def test_posted_once_a_week_at_the_configured_time_in_new_york_across_dst(org, db, fake, clock):
    org()
    # Monday 2 March: 10:00 EST is 15:00 UTC.
    assert plan(db, clock, utc(2026, 3, 2, 14, 59)) == 0
    assert plan(db, clock, utc(2026, 3, 2, 15, 0)) == 1
    assert plan(db, clock, utc(2026, 3, 2, 15, 1)) == 0  # the next tick
    assert plan(db, clock, utc(2026, 3, 2, 18, 59)) == 0  # still in the window
    deliver(db, fake, clock)
    # Monday 9 March, after the change to EDT: 10:00 is 14:00 UTC; the window closes at
    # 14:00 New York time (18:00 UTC).
    assert plan(db, clock, utc(2026, 3, 9, 13, 59)) == 0
    assert plan(db, clock, utc(2026, 3, 9, 14, 0)) == 1
    assert plan(db, clock, utc(2026, 3, 9, 14, 0)) == 0
    assert plan(db, clock, utc(2026, 3, 10, 14, 0)) == 0  # Tuesday
    deliver(db, fake, clock)
    deliver(db, fake, clock)
    # Monday 16 March: nobody planned during the window, so that week is skipped.
    assert plan(db, clock, utc(2026, 3, 16, 18, 0)) == 0

    boards = posts(fake)
    assert [text_of(p).splitlines()[0] for p in boards] == [
        ":trophy: Game board — Mon 23 Feb – Sun 1 Mar",
        ":trophy: Game board — Mon 2 Mar – Sun 8 Mar",
    ]
    with db.session() as session:
        keys = sorted(session.scalars(select(OutboxMessage.key)))
    assert keys == ["board:2026-W10", "board:2026-W11"]


def test_the_configured_weekday_and_time_are_followed(org, db, fake, clock):
    org(PROGRAMS + 'game_board:\n  weekday: fri\n  time: "16:30"\n  window: 30m\n')
    assert plan(db, clock, utc(2026, 3, 9, 14, 0)) == 0  # Monday
    assert plan(db, clock, utc(2026, 3, 13, 20, 29)) == 0  # Fri 16:29 EDT
    assert plan(db, clock, utc(2026, 3, 13, 20, 30)) == 1
    assert plan(db, clock, utc(2026, 3, 13, 21, 0)) == 0  # the window has closed
    deliver(db, fake, clock)
    [post] = posts(fake)
    assert "Fri 6 Mar – Thu 12 Mar" in text_of(post)


def test_no_recognition_channel_means_no_post(org, db, fake, clock):
    org(PROGRAMS.replace('channels:\n  recognition: "#wins"\n', ""))
    assert plan(db, clock, POST_EST) == 0
    deliver(db, fake, clock)
    assert fake.delivered() == []


def test_a_disabled_board_is_not_posted(org, db, fake, clock):
    org(PROGRAMS + "game_board:\n  enabled: false\n")
    assert plan(db, clock, POST_EST) == 0
    deliver(db, fake, clock)
    assert fake.delivered() == []


# --- rendering ---------------------------------------------------------------------------


def test_a_huge_board_stays_inside_slacks_limits():
    team = "Team <script> & *Very* Long Name " * 10
    name = "Zoë Person " * 20
    period = Period(utc(2026, 3, 2, 5), utc(2026, 3, 9, 4), date(2026, 3, 2), date(2026, 3, 8))
    board = GameBoard(
        period=period,
        ranking=tuple(TeamStanding(i, f"{i} {team}", 40, i, 1000, 12.0) for i in range(1, 200)),
        top_teams=25,
        min_team_size=2,
        climbers=tuple(NamedPerson(i, name, None, 999) for i in range(25)),
        certifications=tuple(NewCertification(i, name, None, "C" * 300) for i in range(10)),
        certifications_total=5000,
        kudos=12345,
        most_thanked=tuple(NamedPerson(i, name, None, 50) for i in range(3)),
    )
    message = render_game_board(board)
    assert block_kit_problems(message) == []
    whole = as_json(message.blocks)
    assert "<script>" not in whole and "&lt;script&gt;" in whole
    assert text_of({"blocks": message.blocks}).count("of required items done (") == 25
    assert "…and 4990 more" in whole and "12345 given" in whole
    assert "Zoë" not in message.text  # the fallback names teams, never people
    assert "<script>" not in message.text
