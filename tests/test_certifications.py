"""Certifications: award once (however the completions arrive), shout-outs and privacy,
recertification windows, renewal, lapse, read-outs, and failed shout-outs.

The end-to-end tests run the real planner, escalation job, certification job, outbox and
sender against the fake Slack Web API on a frozen clock, as ``tests/test_escalation.py``
does; the expectations are the dates and channels a person would see.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update
from sqlmodel import Session

from learning import actions, completions
from learning.certifications import check_awards, list_holders, person_certifications
from learning.clock import FrozenClock
from learning.completions import Completion, record_completion
from learning.curriculum import ProgramSettings
from learning.digest import Digest
from learning.home import home_page
from learning.paths import current_settings, enroll
from learning.progress import person_status
from messages.certifications import validity
from messages.report import render_status
from models import (
    Assignment,
    AssignmentStatus,
    AuditEntry,
    CertificationAward,
    Item,
    OutboxMessage,
    OutboxStatus,
    Person,
)
from platforms.slack.listeners.commands import answer
from platforms.slack.listeners.context import HandlerContext
from platforms.slack.transport import metadata_key
from schedules.certifications import plan_certifications
from schedules.lock import SchedulerLock
from schedules.tick import sweep
from settings import Settings
from tests.conftest import ON_POSTGRES
from tests.fakes.slack_api import FakeSlack
from tests.helpers import people_csv
from tests.outbox_support import Shown, make_sender

PROGRAMS = """
organisation:
  name: Cert Co
  timezone: Europe/London
channels:
  recognition: "#wins"
  admins: "#learnbot-admins"
items:
  intro:
    title: Welcome and introductions
    method: reading
    minutes: 15
  safety:
    title: Safety training
    method: online
    minutes: 30
  safety-quiz:
    title: Safety quiz
    method: assessment
    minutes: 10
  shadow:
    title: Shadow a colleague
    method: shadowing
    minutes: 240
programs:
  engineer:
    title: Engineer
    tiers:
      - key: first-30
        title: First 30 days
        starts_on_day: 0
        items:
          - {item: intro, required: true, due: 0}
          - {item: safety, required: true, due: 3}
          - {item: safety-quiz, required: true, due: 5}
          - {item: shadow, due: 10}
certifications:
  safe-worker:
    title: Safe Worker
    # The Done form's score counts here, so these tests can pass the quiz in Slack; the
    # default (only an LMS or admin score counts) is tested with TRUSTED_PROGRAMS below.
    items: [safety, {item: safety-quiz, min_score: 80, self_reported_scores: true}]
    valid_for: 1y
    recertify_window: 30d
    grace: 14d
"""

# Lea and Pat report to Max; Pat keeps out of public posts. Everyone started Mon 2 Mar 2026.
PEOPLE = (
    "max@x.io,Max Manager,,engineer,Ops,2026-03-02,Europe/London,U0MAX",
    "lea@x.io,Lea Learner,max@x.io,engineer,Ops,2026-03-02,Europe/London,U0LEA",
    "pat@x.io,Pat Private,max@x.io,engineer,Ops,2026-03-02,Europe/London,U0PAT",
)
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
YEAR = timedelta(days=365)


@pytest.fixture
def org(cli, write, clock):
    clock.set(START)
    loaded = cli("load-config", write("programs.yml", PROGRAMS))
    assert loaded.code == 0, loaded.out + loaded.err
    imported = cli("import-people", write("people.csv", people_csv(*PEOPLE)))
    assert imported.code == 0, imported.out + imported.err


@pytest.fixture
def fake(clock):
    with FakeSlack(time_source=lambda: clock.now().timestamp()) as server:
        yield server


def person(db, email: str) -> Person:
    with db.session() as session:
        return session.scalars(select(Person).where(Person.email == email)).one()


def assignment(session: Session, email: str, item_key: str, cycle: int = 0) -> Assignment:
    return session.scalars(
        select(Assignment)
        .join(Person, Person.id == Assignment.person_id)
        .join(Item, Item.id == Assignment.item_id)
        .where(Person.email == email, Item.key == item_key, Assignment.cycle == cycle)
    ).one()


def done(db, clock, email: str, item_key: str, *, score: float | None = None, cycle: int = 0):
    """What the Done button and ``/learn done`` do: ``actions.complete_assignment``."""
    with actions.unit_of_work(db) as session:
        who = session.scalars(select(Person).where(Person.email == email)).one()
        target = assignment(session, email, item_key, cycle)
        return actions.complete_assignment(
            session,
            actor=who,
            assignment_id=target.id,
            clock=clock,
            source="slack_button",
            score=score,
        )


def awards(db, email: str | None = None) -> list[CertificationAward]:
    with db.session() as session:
        query = select(CertificationAward).order_by(CertificationAward.id)
        if email:
            query = query.join(Person, Person.id == CertificationAward.person_id).where(
                Person.email == email
            )
        return list(session.scalars(query))


def outbox(db, prefix: str = "") -> dict[str, Shown]:
    with db.session() as session:
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.key.startswith(prefix))
        ).all()
    return {row.key: Shown(row) for row in rows}


def public_posts(db) -> list[Shown]:
    """Everything learnbot planned for a channel rather than a person."""
    with db.session() as session:
        return [
            Shown(row)
            for row in session.scalars(
                select(OutboxMessage).where(OutboxMessage.recipient.startswith("#"))
            )
        ]


def text_of(payload: dict[str, Any]) -> str:
    parts = [payload.get("text", "")]
    for block in payload.get("blocks", []):
        if "text" in block:
            parts.append(block["text"]["text"])
        parts.extend(e.get("text", "") for e in block.get("elements", []))
    return "\n".join(parts)


# --- awarding ---------------------------------------------------------------------------


def test_the_last_requirement_awards_once_with_one_shout_out(org, db, clock):
    done(db, clock, "lea@x.io", "safety")
    assert awards(db) == []  # half-way: nothing yet
    assert outbox(db, "cert_award:") == {}

    clock.advance(timedelta(hours=1))
    done(db, clock, "lea@x.io", "safety-quiz", score=92)

    [award] = awards(db, "lea@x.io")
    assert (award.cycle, award.awarded_at, award.lapsed_at) == (0, clock.now(), None)
    assert award.expires_at == clock.now() + YEAR
    sent = outbox(db, f"cert_award:{award.id}:")
    assert set(sent) == {
        f"cert_award:{award.id}:holder",
        f"cert_award:{award.id}:manager",
        f"cert_award:{award.id}:shoutout",
    }
    assert sent[f"cert_award:{award.id}:holder"].channel == "U0LEA"
    assert sent[f"cert_award:{award.id}:manager"].channel == "U0MAX"
    shout = sent[f"cert_award:{award.id}:shoutout"]
    assert shout.channel == "#wins"
    words = text_of(shout.payload)
    assert "<@U0LEA> earned the *Safe Worker* certification" in words
    assert "Safety training" in words and "Safety quiz" in words
    assert "a score of 80 or more" in words
    assert "2 items, 40 min of learning" in words
    assert "valid until Tue 2 Mar 2027" in text_of(sent[f"cert_award:{award.id}:holder"].payload)

    # Again and again: the same click, a later check, another completion: nothing new.
    assert done(db, clock, "lea@x.io", "safety-quiz", score=92).already_done
    with db.session() as session:
        settings = current_settings(session)
        assert (
            check_awards(session, person_id=award.person_id, clock=clock, settings=settings) == []
        )
    done(db, clock, "lea@x.io", "intro")
    assert len(awards(db)) == 1
    assert [p.key for p in public_posts(db) if p.key.startswith("cert_award:")] == [
        f"cert_award:{award.id}:shoutout"
    ]
    with db.session() as session:
        logged = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.startswith("certification."))
        ).all()
    assert logged == ["certification.award"]


def test_an_assessment_below_the_minimum_score_does_not_award(org, db, clock, cli, write):
    done(db, clock, "lea@x.io", "safety")
    done(db, clock, "lea@x.io", "safety-quiz", score=79.5)
    assert awards(db) == []
    assert outbox(db, "cert_award:") == {}

    # A retake from the LMS with a passing score counts (the best score is kept).
    retake = "email,item,completed_at,score\nlea@x.io,safety-quiz,2026-03-02T09:30:00Z,85\n"
    assert cli("import-completions", write("retake.csv", retake)).code == 0
    [award] = awards(db)
    assert f"cert_award:{award.id}:shoutout" in outbox(db)


def test_an_assessment_without_a_score_does_not_meet_a_minimum(org, db, clock):
    done(db, clock, "lea@x.io", "safety")
    done(db, clock, "lea@x.io", "safety-quiz")
    assert awards(db) == []


def test_an_import_with_both_final_items_awards_once(org, db, cli, write, clock):
    csv = (
        "email,item,completed_at,score\n"
        "lea@x.io,safety,2026-03-01T15:00:00Z,\n"
        "lea@x.io,safety-quiz,2026-03-01T15:30:00Z,88\n"
    )
    path = write("lms.csv", csv)
    assert cli("import-completions", path).code == 0
    assert cli("import-completions", path).code == 0  # the same file again: nothing new
    [award] = awards(db)
    # Awarded when the work was done (the quiz, the last requirement), not on import day.
    assert award.awarded_at == datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
    assert award.expires_at == datetime(2027, 3, 1, 15, 30, tzinfo=UTC)
    shout_outs = [p for p in public_posts(db) if p.key.endswith(":shoutout")]
    assert [p.key for p in shout_outs] == [f"cert_award:{award.id}:shoutout"]


def test_a_dry_run_import_awards_nothing(org, db, cli, write):
    csv = (
        "email,item,completed_at,score\n"
        "lea@x.io,safety,2026-03-01,\nlea@x.io,safety-quiz,2026-03-01,88\n"
    )
    assert cli("import-completions", write("lms.csv", csv), "--dry-run").code == 0
    assert awards(db) == [] and outbox(db) == {}


def test_old_news_from_an_lms_history_import_is_awarded_silently(org, db, cli, write, clock):
    clock.set(datetime(2026, 9, 1, 10, 0, tzinfo=UTC))
    csv = (
        "email,item,completed_at,score\n"
        "lea@x.io,safety,2026-03-10,\nlea@x.io,safety-quiz,2026-03-11,90\n"
        "lea@x.io,intro,2026-03-02,\n"
    )
    imported = cli("import-completions", write("history.csv", csv))
    assert imported.code == 0
    assert "certifications: 1 awarded (1 recorded silently: old completions)" in imported.out
    [award] = awards(db)
    assert award.awarded_at == datetime(2026, 3, 11, tzinfo=ZoneInfo("Europe/London"))
    # No DM to Lea or Max, no shout-out, no milestone for March news in September.
    assert outbox(db) == {}


def test_two_final_completions_at_the_same_time_award_once(org, db, clock, monkeypatch):
    """Lea's last two items are completed at once, in two sessions on two threads.

    On PostgreSQL both transactions are held after writing their completion and before
    checking for awards, so both checks start before either commits: the person lock
    must make the second wait and then see the first's completion (without it, neither
    would award). SQLite runs one writer at a time; the threads still race to it.
    """
    start = threading.Barrier(2, timeout=20)
    if ON_POSTGRES:
        written = threading.Barrier(2, timeout=20)
        real_check = completions.check_awards

        def check_when_both_wrote(session: Session, **kwargs: Any) -> Any:
            written.wait()
            return real_check(session, **kwargs)

        monkeypatch.setattr(completions, "check_awards", check_when_both_wrote)
    errors: list[BaseException] = []

    def complete(item_key: str, score: float | None) -> None:
        try:
            start.wait()
            done(db, clock, "lea@x.io", item_key, score=score)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [
        threading.Thread(target=complete, args=("safety", None)),
        threading.Thread(target=complete, args=("safety-quiz", 95)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    with db.session() as session:
        statuses = [assignment(session, "lea@x.io", k).status for k in ("safety", "safety-quiz")]
    assert statuses == [AssignmentStatus.COMPLETED] * 2
    [award] = awards(db)
    assert [p.key for p in public_posts(db) if p.key.endswith(":shoutout")] == [
        f"cert_award:{award.id}:shoutout"
    ]


# --- privacy and milestones ---------------------------------------------------------------


def learn(db, clock, user: str, text: str) -> str:
    ctx = HandlerContext(database=db, clock=clock, settings=Settings())
    outcome = answer(ctx, user, text)
    return text_of({"text": outcome.message.text, "blocks": outcome.message.blocks})


def test_an_opted_out_person_is_never_named_in_public(org, db, clock):
    assert "will not name you in public posts" in learn(db, clock, "U0PAT", "privacy private")
    assert "does not name you" in learn(db, clock, "U0PAT", "privacy")
    assert person(db, "pat@x.io").public_posts is False

    for key in ("intro", "safety"):
        done(db, clock, "pat@x.io", key)
    done(db, clock, "pat@x.io", "safety-quiz", score=100)

    [award] = awards(db, "pat@x.io")
    # Pat and Max are told in private; nothing public names Pat (or mentions them at all).
    assert set(outbox(db, "cert_award:")) == {
        f"cert_award:{award.id}:holder",
        f"cert_award:{award.id}:manager",
    }
    assert public_posts(db) == []
    holder = text_of(outbox(db)[f"cert_award:{award.id}:holder"].payload)
    assert "celebrating" not in holder

    # Lea, public by default, gets both her shout-out and her milestone.
    for key in ("intro", "safety"):
        done(db, clock, "lea@x.io", key)
    done(db, clock, "lea@x.io", "safety-quiz", score=100)
    posts = public_posts(db)
    assert len(posts) == 2 and {p.channel for p in posts} == {"#wins"}
    assert all("U0PAT" not in text_of(p.payload) and "Pat" not in p.text for p in posts)
    assert "privacy private" in learn(db, clock, "U0LEA", "certs")


def test_the_first_tier_milestone_is_posted_once(org, db, clock):
    lea = person(db, "lea@x.io")
    done(db, clock, "lea@x.io", "intro")
    done(db, clock, "lea@x.io", "safety-quiz", score=50)  # no certification: too low
    assert outbox(db, "milestone:") == {}
    done(db, clock, "lea@x.io", "safety")  # the last required item of "First 30 days"

    [(key, post)] = outbox(db, "milestone:").items()
    assert key.startswith(f"milestone:{lea.id}:")
    assert post.channel == "#wins"
    words = text_of(post.payload)
    assert "<@U0LEA> finished their *First 30 days* path (Engineer)" in words
    assert "3 items, 55 min of learning" in words
    done(db, clock, "lea@x.io", "shadow")  # a suggested item later: no second milestone
    assert len(outbox(db, "milestone:")) == 1
    assert awards(db) == []


def test_privacy_can_be_switched_back_and_is_audited(org, db, clock):
    learn(db, clock, "U0LEA", "privacy private")
    assert "will be celebrated in #wins" in learn(db, clock, "U0LEA", "privacy public")
    assert "Say public or private." in learn(db, clock, "U0LEA", "privacy loud")
    with db.session() as session:
        changes = session.scalars(
            select(AuditEntry.details).where(AuditEntry.action == "person.privacy")
        ).all()
    assert changes == [{"public_posts": False}, {"public_posts": True}]


# --- read-outs ---------------------------------------------------------------------------


def test_validity_reads_valid_until_expires_in_or_lapsed_on():
    expires = date(2027, 3, 2)
    kwargs = {"window_opens_on": date(2027, 1, 31), "lapses_on": date(2027, 3, 16)}
    assert (
        validity(today=date(2026, 6, 1), expires_on=expires, **kwargs)
        == "valid until Tue 2 Mar 2027"
    )
    assert validity(today=date(2027, 1, 30), expires_on=expires, **kwargs).startswith("valid")
    assert validity(today=date(2027, 1, 31), expires_on=expires, **kwargs) == "expires in 30 days"
    assert validity(today=date(2027, 3, 1), expires_on=expires, **kwargs) == "expires in 1 day"
    assert validity(today=expires, expires_on=expires, **kwargs) == "expires today"
    assert (
        validity(today=date(2027, 3, 5), expires_on=expires, **kwargs)
        == "expired on Tue 2 Mar 2027, lapses on Tue 16 Mar 2027 unless renewed"
    )
    assert (
        validity(
            today=date(2027, 4, 1),
            expires_on=expires,
            lapsed_on=date(2027, 3, 16),
            **kwargs,
        )
        == "lapsed on Tue 16 Mar 2027"
    )


def test_certs_status_home_and_learn_certs_all_read_the_same(org, db, clock, cli):
    done(db, clock, "lea@x.io", "safety")
    done(db, clock, "lea@x.io", "safety-quiz", score=90)
    done(db, clock, "max@x.io", "safety")
    done(db, clock, "max@x.io", "safety-quiz", score=81)
    with db.session() as session:
        session.execute(
            update(CertificationAward)
            .where(
                CertificationAward.person_id
                == select(Person.id).where(Person.email == "max@x.io").scalar_subquery()
            )
            .values(expires_at=START + timedelta(days=20))
        )

    listed = cli("certs")
    assert listed.code == 0, listed.err
    lines = listed.out.splitlines()
    assert lines[0].split() == [
        "email",
        "name",
        "team",
        "certification",
        "cycle",
        "awarded",
        "state",
    ]
    assert "max@x.io" in lines[1] and "expires in 20 days" in lines[1]  # soonest first
    assert "lea@x.io" in lines[2] and "valid until Tue 2 Mar 2027" in lines[2]
    assert lines[-1] == "2 held"
    expiring = cli("certs", "--expiring", "30")
    assert "max@x.io" in expiring.out and "lea@x.io" not in expiring.out
    csv = cli("certs", "--csv").out.splitlines()
    assert csv[0] == "email,name,team,certification,cycle,awarded_on,expires_on,lapsed_on,state"
    assert "lea@x.io,Lea Learner,Ops,safe-worker,0,2026-03-02,2027-03-02,,valid until" in csv[2]
    assert cli("certs", "--expiring", "-1").code == 1

    assert "*Safe Worker* — valid until Tue 2 Mar 2027" in learn(db, clock, "U0LEA", "certs")
    assert "None yet." in learn(db, clock, "U0PAT", "certs")
    assert "Safe Worker: 0 of 2 requirements met" in learn(db, clock, "U0PAT", "certs")
    with db.session() as session:
        lea = session.scalars(select(Person).where(Person.email == "lea@x.io")).one()
        settings = current_settings(session)
        page = home_page(session, lea, clock=clock)
        standings = person_certifications(session, lea, settings=settings)
        status = render_status(
            person_status(session, "lea@x.io", clock=clock), certifications=standings
        )
    [held] = page.certifications
    assert (held.title, held.expires_on, held.window_opens_on) == (
        "Safe Worker",
        date(2027, 3, 2),
        date(2027, 1, 31),
    )
    assert page.goals == ()  # held and met: no longer a goal
    assert status.splitlines()[-2:] == [
        "Certifications",
        "  Safe Worker  valid until Tue 2 Mar 2027",
    ]


# --- recertification --------------------------------------------------------------------


def test_the_window_assigns_a_new_round_that_enrollment_keeps(org, db, clock):
    done(db, clock, "lea@x.io", "safety")
    done(db, clock, "lea@x.io", "safety-quiz", score=90)
    [award] = awards(db)
    clock.set(award.expires_at - timedelta(days=30, minutes=1))
    assert plan_certifications(db, clock).windows_opened == 0
    clock.advance(timedelta(minutes=1))
    plan = plan_certifications(db, clock)
    assert (plan.windows_opened, plan.assignments) == (1, 2)
    assert plan_certifications(db, clock).assignments == 0  # once

    with db.session() as session:
        recert = [
            assignment(session, "lea@x.io", key, cycle=1) for key in ("safety", "safety-quiz")
        ]
        assert {(a.status, a.required, a.tier_id, a.due_date) for a in recert} == {
            (AssignmentStatus.OPEN, True, None, date(2027, 3, 2))
        }
        # Re-enrollment (also after a role change) never closes a recertification round.
        session.execute(update(Person).where(Person.email == "lea@x.io").values(role="sales"))
        enroll(session, clock=clock, settings=current_settings(session) or ProgramSettings())
    with db.session() as session:
        for key in ("safety", "safety-quiz"):
            assert assignment(session, "lea@x.io", key, cycle=1).status == AssignmentStatus.OPEN

    # Renewing early never loses time (a calendar year from the old expiry, Thu 2 Mar
    # 2028: 366 days in a leap year); a renewal is not a public post.
    done(db, clock, "lea@x.io", "safety", cycle=1)
    done(db, clock, "lea@x.io", "safety-quiz", score=85, cycle=1)
    first, renewal = awards(db)
    assert first.expires_at == datetime(2027, 3, 2, 10, 0, tzinfo=UTC)
    assert renewal.cycle == 1 and renewal.expires_at == datetime(2028, 3, 2, 10, 0, tzinfo=UTC)
    assert f"cert_award:{renewal.id}:holder" in outbox(db)
    assert f"cert_award:{renewal.id}:shoutout" not in outbox(db)


def test_a_renewal_needs_the_new_round_not_the_old_completions(org, db, clock, cli, write):
    done(db, clock, "lea@x.io", "safety")
    done(db, clock, "lea@x.io", "safety-quiz", score=90)
    [award] = awards(db)
    clock.set(award.expires_at - timedelta(days=10))
    plan_certifications(db, clock)
    done(db, clock, "lea@x.io", "safety", cycle=1)
    assert len(awards(db)) == 1  # the quiz of round 1 is still open
    # A low retake does not renew either.
    done(db, clock, "lea@x.io", "safety-quiz", score=60, cycle=1)
    assert len(awards(db)) == 1


# --- end to end: two years of one holder -------------------------------------------------


ZONES = {"U0LEA": "Europe/London", "U0MAX": "Europe/London"}


def deliveries(fake: FakeSlack) -> list[tuple[date, str, str, dict[str, Any]]]:
    """(London date, channel, outbox key, body) of every delivered message, in order."""
    found = []
    for call in fake.delivered("chat.postMessage"):
        day = datetime.fromtimestamp(call.at, tz=ZoneInfo("Europe/London")).date()
        found.append((day, call.body["channel"], metadata_key(call.body) or "", call.body))
    return found


def days_of(sent, prefix: str, channel: str | None = None) -> list[date]:
    return [d for d, ch, key, _ in sent if key.startswith(prefix) and channel in (None, ch)]


@pytest.mark.slow
def test_two_years_of_one_holder_award_window_renewal_and_lapse(cli, write, clock, db, fake):
    clock.set(START)
    assert cli("load-config", write("programs.yml", PROGRAMS)).code == 0
    people = people_csv(*PEOPLE[:2])
    assert cli("import-people", write("people.csv", people)).code == 0
    sender = make_sender(db, fake, clock)
    lock = SchedulerLock(db)
    # What Lea does, by day (at 10:00 UTC, before that day's sweep).
    todo: dict[date, list[tuple[str, float | None, int]]] = {
        date(2026, 3, 2): [("intro", None, 0), ("safety", None, 0), ("safety-quiz", 90, 0)],
        date(2027, 2, 25): [("safety", None, 1), ("safety-quiz", 84, 1)],  # renews early
        # 2028: nothing. The round stays open, climbs the ladder and the award lapses.
    }
    day = START
    try:
        while day < datetime(2028, 3, 21, 10, 0, tzinfo=UTC):
            clock.set(day)
            for key, score, cycle in todo.get(day.date(), []):
                done(db, clock, "lea@x.io", key, score=score, cycle=cycle)
            plan_certifications(db, clock)
            sweep(db, clock, sender=sender, lock=lock)
            day += timedelta(days=1)
    finally:
        lock.release()

    first, renewal = awards(db)
    assert (first.cycle, first.awarded_at, first.expires_at) == (
        0,
        START,
        datetime(2027, 3, 2, 10, 0, tzinfo=UTC),
    )
    assert first.lapsed_at is None  # renewed in time: it never lapsed
    assert (renewal.cycle, renewal.awarded_at, renewal.expires_at) == (
        1,
        datetime(2027, 2, 25, 10, 0, tzinfo=UTC),
        datetime(2028, 3, 2, 10, 0, tzinfo=UTC),  # the old expiry plus a calendar year
    )
    assert renewal.lapsed_at == datetime(2028, 3, 16, 10, 0, tzinfo=UTC)  # plus 14 days' grace

    sent = deliveries(fake)
    # Year 1: the award, told to Lea and Max, celebrated once in #wins, with the milestone.
    assert days_of(sent, f"cert_award:{first.id}:holder", "U0LEA") == [date(2026, 3, 2)]
    assert days_of(sent, f"cert_award:{first.id}:manager", "U0MAX") == [date(2026, 3, 2)]
    assert days_of(sent, f"cert_award:{first.id}:shoutout", "#wins") == [date(2026, 3, 2)]
    assert days_of(sent, "milestone:", "#wins") == [date(2026, 3, 2)]
    # The window opened on Sun 31 Jan 2027 (30 days before expiry): the round was assigned
    # then, due on the expiry date; Lea was told on her next working morning.
    with db.session() as session:
        round1 = assignment(session, "lea@x.io", "safety", cycle=1)
        round2 = assignment(session, "lea@x.io", "safety-quiz", cycle=2)
    assert round1.assigned_at == datetime(2027, 1, 31, 10, 0, tzinfo=UTC)
    assert round1.due_date == date(2027, 3, 2) and round1.status == AssignmentStatus.COMPLETED
    assert days_of(sent, f"cert_window:{first.id}", "U0LEA") == [date(2027, 2, 1)]
    window_text = text_of(next(b for _, _, k, b in sent if k == f"cert_window:{first.id}"))
    assert "expires in 29 days (on Tue 2 Mar 2027)" in window_text
    # ...and the daily digest nudged her about the round once it was due within 5 working
    # days (Tue 23 Feb), until she renewed on Thu 25 Feb.
    nudged = [
        d
        for d, ch, key, body in sent
        if key.startswith("digest:") and round1.id in digest_assignments(db, key)
    ]
    assert nudged == [date(2027, 2, 23), date(2027, 2, 24)]
    # The renewal: told to Lea and Max that day, valid a year after the old expiry; no post.
    assert days_of(sent, f"cert_award:{renewal.id}:holder", "U0LEA") == [date(2027, 2, 25)]
    assert days_of(sent, f"cert_award:{renewal.id}:manager", "U0MAX") == [date(2027, 2, 25)]
    renewed = text_of(next(b for _, _, k, b in sent if k == f"cert_award:{renewal.id}:holder"))
    assert "You renewed *Safe Worker*. It is now valid until Thu 2 Mar 2028." in renewed

    # Year 2: the window opens Tue 1 Feb 2028; no renewal; due Thu 2 Mar 2028, the
    # ladder tells Max at 5 working days overdue (Thu 9 Mar); the award lapses after the
    # grace period, Thu 16 Mar 2028, and Lea and Max are told that day.
    assert days_of(sent, f"cert_window:{renewal.id}", "U0LEA") == [date(2028, 2, 1)]
    assert round2.due_date == date(2028, 3, 2) and round2.status == AssignmentStatus.OPEN
    assert date(2028, 3, 9) in days_of(sent, "escalation:", "U0MAX")
    assert days_of(sent, f"cert_lapsed:{renewal.id}:holder", "U0LEA") == [date(2028, 3, 16)]
    assert days_of(sent, f"cert_lapsed:{renewal.id}:manager", "U0MAX") == [date(2028, 3, 16)]
    lapsed = text_of(next(b for _, _, k, b in sent if k == f"cert_lapsed:{renewal.id}:holder"))
    assert "lapsed on Thu 16 Mar 2028" in lapsed

    # Public posts: only good news, only in #wins: besides the weekly game boards, only
    # the two of year 1 (renewals and lapses are told in DMs).
    public = [(d, ch, k) for d, ch, k, _ in sent if not ch.startswith("U")]
    assert {ch for _, ch, _ in public} <= {"#wins", "#learnbot-admins"}
    news = [(d, ch, k) for d, ch, k in public if not k.startswith("board:")]
    assert sorted((d, k.split(":")[0]) for d, ch, k in news if ch == "#wins") == [
        (date(2026, 3, 2), "cert_award"),
        (date(2026, 3, 2), "milestone"),
    ]
    # Every message went out exactly once, and the read-outs agree.
    keys = [k for _, _, k, _ in sent]
    assert len(keys) == len(set(keys))
    assert "lapsed on Thu 16 Mar 2028" in learn(db, clock, "U0LEA", "certs")
    assert "lapsed on Thu 16 Mar 2028" in cli("certs").out
    with db.session() as session:
        actions_logged = session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.action.startswith("certification."))
            .order_by(AuditEntry.id)
        ).all()
    assert actions_logged == [
        "certification.award",
        "certification.window",
        "certification.renew",
        "certification.window",
        "certification.lapse",
    ]


def digest_assignments(db, key: str) -> set[int]:
    with db.session() as session:
        row = session.scalars(select(OutboxMessage).where(OutboxMessage.key == key)).one()
    return {item.assignment_id for item in Digest.from_json(row.payload["digest"]).items}


# --- the recognition channel ----------------------------------------------------------------


def test_a_shout_out_the_bot_cannot_post_fails_alone_and_the_admins_are_told(
    org, db, clock, fake, cli
):
    fake.respond(
        "chat.postMessage",
        {"ok": False, "error": "not_in_channel"},
        when=lambda body: body.get("channel") == "#wins",
    )
    done(db, clock, "lea@x.io", "intro")
    done(db, clock, "lea@x.io", "safety")
    done(db, clock, "lea@x.io", "safety-quiz", score=90)
    [award] = awards(db)

    sender = make_sender(db, fake, clock)
    result = sender.drain()
    assert (result.sent, result.failed) == (2, 2)  # the DMs went; shout-out and milestone not
    rows = outbox(db)
    assert rows[f"cert_award:{award.id}:holder"].status == OutboxStatus.SENT
    assert rows[f"cert_award:{award.id}:manager"].status == OutboxStatus.SENT
    shout = rows[f"cert_award:{award.id}:shoutout"]
    assert (shout.status, shout.last_error) == (OutboxStatus.FAILED, "not_in_channel")

    failed = cli("outbox", "--status", "failed")
    assert f"cert_award:{award.id}:shoutout" in failed.out
    assert "not_in_channel" in failed.out

    plan = plan_certifications(db, clock)
    assert plan.failed_posts == 2
    assert plan_certifications(db, clock).failed_posts == 0  # told once
    sender.drain()
    told = [
        c for c in fake.delivered("chat.postMessage") if c.body["channel"] == "#learnbot-admins"
    ]
    assert len(told) == 2
    notice = text_of(told[0].body)
    assert "could not post in #wins" in notice and "not_in_channel" in notice
    assert "/invite @learnbot" in notice and "outbox --retry" in notice

    # Shout-outs only ever go to the configured channel.
    posted = {c.body["channel"] for c in fake.calls_to("chat.postMessage")}
    assert posted == {"U0LEA", "U0MAX", "#wins", "#learnbot-admins"}
    with db.session() as session:
        count = session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.recipient == "#wins")
        )
    assert count == 2


def test_awards_follow_every_completion_path_including_record_completion(org, db, clock):
    lea = person(db, "lea@x.io")
    items = {}
    with db.session() as session:
        for key in ("safety", "safety-quiz"):
            items[key] = session.scalars(select(Item.id).where(Item.key == key)).one()
    with db.session() as session:
        for key, score in (("safety", None), ("safety-quiz", 99)):
            record_completion(
                session,
                Completion(lea.id, items[key], clock.now(), "admin", f"t:{key}", score),
                clock=FrozenClock(clock.now()),
            )
    [award] = awards(db)
    with db.session() as session:
        holders = list_holders(session, clock=clock, settings=current_settings(session))
    assert [(h.email, h.standing.cycle) for h in holders] == [("lea@x.io", 0)]
    by_channel: dict[str, list[str]] = defaultdict(list)
    for key, row in outbox(db, f"cert_award:{award.id}").items():
        by_channel[row.channel].append(key)
    assert set(by_channel) == {"U0LEA", "U0MAX", "#wins"}


def test_without_an_admins_channel_the_admins_get_the_failure_by_dm(cli, write, db, clock, fake):
    clock.set(START)
    programs = PROGRAMS.replace('  admins: "#learnbot-admins"\n', "")
    assert cli("load-config", write("programs.yml", programs)).code == 0
    assert cli("import-people", write("people.csv", people_csv(*PEOPLE))).code == 0
    with db.session() as session:
        session.execute(update(Person).where(Person.email == "max@x.io").values(is_admin=True))
    fake.respond(
        "chat.postMessage",
        {"ok": False, "error": "channel_not_found"},
        when=lambda body: body.get("channel") == "#wins",
    )
    done(db, clock, "lea@x.io", "safety")
    done(db, clock, "lea@x.io", "safety-quiz", score=90)
    sender = make_sender(db, fake, clock)
    sender.drain()
    assert plan_certifications(db, clock).failed_posts == 1
    sender.drain()
    [shout] = [row for key, row in outbox(db).items() if key.endswith(":shoutout")]
    told = outbox(db, f"post_failed:{shout.id}:")
    assert [row.channel for row in told.values()] == ["U0MAX"]
    assert "channel_not_found" in text_of(told.popitem()[1].payload)
