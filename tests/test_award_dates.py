"""Award dates from the work: a certification is awarded on the local date its last
requirement was completed and is valid for calendar units from there; old news is
recorded silently; history replays into the right chain of awards, renewals and lapses;
a certification added later awards those who already qualify; and an operator can re-date
old awards from their completions.

The expectations are what a person would see: the dates in ``certs`` and DMs, and what
the fake Slack Web API received.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from learning.award_rules import (
    FIRST,
    REGAINED,
    RENEWAL,
    CertificationRule,
    CompletionFact,
    Requirement,
    award_chain,
)
from learning.periods import Period, add_months, earlier, later
from models import AuditEntry, CertificationAward, OutboxMessage, Person
from schedules.certifications import plan_certifications
from schedules.lock import SchedulerLock
from schedules.tick import sweep
from tests.fakes.slack_api import FakeSlack
from tests.helpers import people_csv
from tests.outbox_support import Shown, make_sender

LONDON = ZoneInfo("Europe/London")

PROGRAMS = """
organisation:
  name: Dates Co
  timezone: Europe/London
channels:
  recognition: "#wins"
items:
  intro:
    title: Welcome
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
"""
CERTIFICATION = """
certifications:
  safe-worker:
    title: Safe Worker
    items: [safety, {item: safety-quiz, min_score: 80}]
    valid_for: 1y
    recertify_window: 30d
    grace: 14d
"""
PEOPLE = (
    "max@x.io,Max Manager,,engineer,Ops,2024-01-08,Europe/London,U0MAX",
    "ana@x.io,Ana,max@x.io,engineer,Ops,2024-01-08,Europe/London,U0ANA",
    "ben@x.io,Ben,max@x.io,engineer,Ops,2024-01-08,Europe/London,U0BEN",
    "cai@x.io,Cai,max@x.io,engineer,Ops,2024-01-08,Europe/London,U0CAI",
    "dee@x.io,Dee,max@x.io,engineer,Ops,2024-01-08,Europe/London,U0DEE",
    "eve@x.io,Eve,max@x.io,engineer,Ops,2024-01-08,Europe/London,U0EVE",
    "sid@x.io,Sid,max@x.io,engineer,Ops,2024-01-08,Australia/Sydney,U0SID",
)
HEADER = "email,item,completed_at,score\n"


@pytest.fixture
def fake(clock):
    with FakeSlack(time_source=lambda: clock.now().timestamp()) as server:
        yield server


def load_org(cli, write, clock, *, at: datetime, certification: bool = True) -> None:
    clock.set(at)
    programs = PROGRAMS + (CERTIFICATION if certification else "")
    loaded = cli("load-config", write("programs.yml", programs))
    assert loaded.code == 0, loaded.err
    imported = cli("import-people", write("people.csv", people_csv(*PEOPLE)))
    assert imported.code == 0, imported.err


def awards_of(db) -> dict[tuple[str, int], CertificationAward]:
    """Every award row, by (holder's email, cycle)."""
    with db.session() as session:
        rows = session.execute(
            select(Person.email, CertificationAward).join(
                Person, Person.id == CertificationAward.person_id
            )
        ).all()
    return {(email, award.cycle): award for email, award in rows}


def outbox_keys(db) -> list[str]:
    with db.session() as session:
        return sorted(session.scalars(select(OutboxMessage.key)))


def local(at: datetime, zone: ZoneInfo = LONDON) -> date:
    return at.astimezone(zone).date()


# --- calendar periods ------------------------------------------------------------------


def test_a_year_is_the_same_date_next_year_and_29_february_becomes_28():
    year = Period(months=12)
    assert year.after(date(2026, 6, 4)) == date(2027, 6, 4)
    assert year.after(date(2028, 2, 29)) == date(2029, 2, 28)
    assert Period(months=24).after(date(2026, 6, 4)) == date(2028, 6, 4)  # not 730 days
    assert add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 12, 15), 3) == date(2027, 3, 15)
    assert Period(days=30).before(date(2027, 3, 2)) == date(2027, 1, 31)
    assert [str(p) for p in (year, Period(18), Period(days=14), Period(days=30))] == [
        "1y",
        "18mo",
        "2w",
        "30d",
    ]


def test_a_period_keeps_the_local_time_across_a_daylight_saving_change():
    # 09:00 in London on Sat 28 Mar 2026 (GMT); a day later the clocks have gone forward.
    at = datetime(2026, 3, 28, 9, 0, tzinfo=UTC)
    then = later(at, Period(days=1), "Europe/London")
    assert then.astimezone(LONDON).replace(tzinfo=None) == datetime(2026, 3, 29, 9, 0)
    assert then - at == timedelta(hours=23)
    assert earlier(then, Period(days=1), "Europe/London") == at


# --- the rules, as pure functions -------------------------------------------------------


def rule(*, valid: Period, window: Period, grace: Period = Period()) -> CertificationRule:
    return CertificationRule(
        1,
        "cert",
        "Cert",
        valid,
        window,
        grace,
        (
            Requirement(1, "course", "Course", "online", 30),
            Requirement(2, "quiz", "Quiz", "assessment", 10, min_score=80),
        ),
    )


def fact(item_id: int, day: date, score: float | None = None, *, recorded: date | None = None):
    at = datetime.combine(day, time(12), tzinfo=UTC)
    seen = datetime.combine(recorded, time(12), tzinfo=UTC) if recorded else at
    return CompletionFact(item_id, at, seen, score, "import")


def chain_of(cert: CertificationRule, facts, rounds=None) -> list[tuple[int, str, date, date]]:
    by_item: dict[int, list[CompletionFact]] = {}
    for f in facts:
        by_item.setdefault(f.item_id, []).append(f)
    planned = award_chain(cert, by_item, previous=None, rounds_assigned=rounds or {}, zone="UTC")
    return [(p.cycle, p.kind, p.awarded_at.date(), p.expires_at.date()) for p in planned]


def test_a_requirement_is_met_by_its_first_passing_completion_and_the_round_by_the_last():
    cert = rule(valid=Period(months=12), window=Period(days=30))
    facts = [
        fact(1, date(2026, 1, 5)),
        fact(2, date(2026, 1, 6), 70),  # a fail
        fact(2, date(2026, 1, 9), 90),  # the pass: the round is met here
        fact(2, date(2026, 1, 20), 95),  # a later retake changes nothing
    ]
    assert chain_of(cert, facts) == [(0, FIRST, date(2026, 1, 9), date(2027, 1, 9))]


def test_the_work_that_earned_a_round_never_earns_the_next():
    # A window as long as the validity would otherwise renew forever on the same work.
    cert = rule(valid=Period(days=30), window=Period(days=60))
    facts = [fact(1, date(2026, 1, 5)), fact(2, date(2026, 1, 5), 90)]
    assert chain_of(cert, facts) == [(0, FIRST, date(2026, 1, 5), date(2026, 2, 4))]


def test_a_back_dated_completion_of_an_assigned_round_renews_it():
    """The LMS reports, after the window job assigned the round, a quiz done just before
    the window opened: learnbot applied it to the round, so it renews."""
    cert = rule(valid=Period(months=12), window=Period(days=30), grace=Period(days=14))
    first = [fact(1, date(2026, 1, 5)), fact(2, date(2026, 1, 9), 90)]
    # The window opens on 10 Dec 2026; round 1 was assigned that day.
    assigned = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
    rounds = {(1, 1): assigned, (2, 1): assigned}
    renewal = [
        fact(1, date(2026, 12, 12)),
        fact(2, date(2026, 12, 1), 85, recorded=date(2026, 12, 15)),
    ]
    assert chain_of(cert, first + renewal, rounds) == [
        (0, FIRST, date(2026, 1, 9), date(2027, 1, 9)),
        (1, RENEWAL, date(2026, 12, 12), date(2028, 1, 9)),
    ]
    # Without the assigned round (history), work before the window is no renewal.
    assert chain_of(cert, first + renewal) == [(0, FIRST, date(2026, 1, 9), date(2027, 1, 9))]


def test_renewed_after_the_grace_period_is_regained_and_the_old_round_lapsed():
    cert = rule(valid=Period(months=12), window=Period(days=30), grace=Period(days=14))
    facts = [
        fact(1, date(2025, 3, 1)),
        fact(2, date(2025, 3, 1), 90),
        fact(1, date(2026, 3, 20)),  # expired 1 Mar 2026, lapsed 15 Mar
        fact(2, date(2026, 3, 20), 90),
    ]
    planned = chain_of(cert, facts)
    assert planned == [
        (0, FIRST, date(2025, 3, 1), date(2026, 3, 1)),
        (1, REGAINED, date(2026, 3, 20), date(2027, 3, 20)),
    ]


# --- acceptance: dates from the work -----------------------------------------------------


def test_a_completion_on_4_june_2026_is_valid_until_4_june_2027(cli, write, clock, db):
    load_org(cli, write, clock, at=datetime(2026, 6, 8, 10, 0, tzinfo=UTC))
    csv = (
        HEADER + "ana@x.io,safety,2026-06-01,\n"
        "ana@x.io,safety-quiz,2026-06-04T15:00:00+01:00,92\n"
        # Sid's quiz is on the evening of 3 June in UTC: 4 June in Sydney, where he is.
        "sid@x.io,safety,2026-06-01,\n"
        "sid@x.io,safety-quiz,2026-06-03T20:00:00Z,92\n"
    )
    imported = cli("import-completions", write("lms.csv", csv))
    assert imported.code == 0, imported.err
    assert "certifications: 2 awarded" in imported.out
    award = awards_of(db)[("ana@x.io", 0)]
    assert award.awarded_at == datetime(2026, 6, 4, 14, 0, tzinfo=UTC)
    assert local(award.expires_at) == date(2027, 6, 4)
    sid = awards_of(db)[("sid@x.io", 0)]
    assert local(sid.expires_at, ZoneInfo("Australia/Sydney")) == date(2027, 6, 4)

    listed = cli("certs").out
    assert "Thu 4 Jun 2026" in listed and "valid until Fri 4 Jun 2027" in listed
    csv_out = cli("certs", "--csv").out
    assert "ana@x.io,Ana,Ops,safe-worker,0,2026-06-04,2027-06-04,," in csv_out
    assert "sid@x.io,Sid,Ops,safe-worker,0,2026-06-04,2027-06-04,," in csv_out
    # Four days old is news: Ana hears it, with the date her work earned.
    with db.session() as session:
        holder = session.scalars(
            select(OutboxMessage).where(OutboxMessage.key == f"cert_award:{award.id}:holder")
        ).one()
    assert "valid until Fri 4 Jun 2027" in Shown(holder).text


def test_29_february_2028_plus_a_year_is_28_february_2029(cli, write, clock, db):
    load_org(cli, write, clock, at=datetime(2028, 3, 1, 10, 0, tzinfo=UTC))
    csv = HEADER + "ana@x.io,safety,2028-02-28,\nana@x.io,safety-quiz,2028-02-29,90\n"
    assert cli("import-completions", write("lms.csv", csv)).code == 0
    award = awards_of(db)[("ana@x.io", 0)]
    assert (local(award.awarded_at), local(award.expires_at)) == (
        date(2028, 2, 29),
        date(2029, 2, 28),
    )
    assert "valid until Wed 28 Feb 2029" in cli("certs").out


def test_two_years_of_history_post_nothing_and_award_or_lapse_each_person_once(
    cli, write, clock, db, fake
):
    # Wednesday morning: no weekly game board today, inside the send window.
    now = datetime(2026, 6, 3, 10, 0, tzinfo=UTC)
    load_org(cli, write, clock, at=now)
    history = [
        # Ana: certified May 2024, renewed in her window (Apr 2025), never again: the
        # renewal ran to 10 May 2026 and lapsed after 14 days' grace, on 24 May 2026.
        "ana@x.io,safety,2024-05-09,",
        "ana@x.io,safety-quiz,2024-05-10,88",
        "ana@x.io,safety,2025-04-20,",
        "ana@x.io,safety-quiz,2025-04-25,91",
        # Ben: certified in September 2025, valid until September 2026.
        "ben@x.io,safety,2025-09-01,",
        "ben@x.io,safety-quiz,2025-09-01,95",
        # Cai: certified June 2024, let it lapse (15 Jun 2025), certified again in October.
        "cai@x.io,safety,2024-05-30,",
        "cai@x.io,safety-quiz,2024-06-01,85",
        "cai@x.io,safety-quiz,2025-09-30,90",
        "cai@x.io,safety,2025-10-01,",
        # Dee: certified July 2024, never renewed: lapsed on 15 Jul 2025.
        "dee@x.io,safety,2024-07-01,",
        "dee@x.io,safety-quiz,2024-07-01,80",
        # Eve never passed the quiz; a retake of the safety course in the window is no
        # renewal for anyone.
        "eve@x.io,safety,2024-08-01,",
        "eve@x.io,safety-quiz,2024-08-02,65",
        "eve@x.io,intro,2024-08-01,",
        "ana@x.io,intro,2024-05-01,",
    ]
    # The LMS export is in no particular order: newest first here.
    csv = HEADER + "\n".join(reversed(history)) + "\n"
    imported = cli("import-completions", write("history.csv", csv))
    assert imported.code == 0, imported.err
    assert (
        "certifications: 6 awarded (6 recorded silently: old completions; 3 already lapsed)"
    ) in imported.out

    awards = awards_of(db)
    dated = {
        key: (local(a.awarded_at), local(a.expires_at), a.lapsed_at and local(a.lapsed_at))
        for key, a in awards.items()
    }
    assert dated == {
        ("ana@x.io", 0): (date(2024, 5, 10), date(2025, 5, 10), None),
        ("ana@x.io", 1): (date(2025, 4, 25), date(2026, 5, 10), date(2026, 5, 24)),
        ("ben@x.io", 0): (date(2025, 9, 1), date(2026, 9, 1), None),
        ("cai@x.io", 0): (date(2024, 6, 1), date(2025, 6, 1), date(2025, 6, 15)),
        ("cai@x.io", 1): (date(2025, 10, 1), date(2026, 10, 1), None),
        ("dee@x.io", 0): (date(2024, 7, 1), date(2025, 7, 1), date(2025, 7, 15)),
    }
    # Nothing to tell: no DM, no shout-out, no milestone.
    assert outbox_keys(db) == []

    # The scheduler's next tick (certification job, digests, delivery) posts nothing in
    # a channel and tells nobody about these lapses.
    lock = SchedulerLock(db)
    try:
        plan_certifications(db, clock)
        sweep(db, clock, sender=make_sender(db, fake, clock), lock=lock)
    finally:
        lock.release()
    posted = fake.calls_to("chat.postMessage")
    assert [c.body["channel"] for c in posted if not c.body["channel"].startswith("U")] == []
    assert not [k for k in outbox_keys(db) if k.startswith(("cert_", "milestone:"))]

    # The same file again records nothing and awards nothing.
    again = cli("import-completions", write("history.csv", csv))
    assert "0 recorded" in again.out and "certifications: 0 awarded" in again.out
    assert awards_of(db).keys() == awards.keys()
    with db.session() as session:
        logged = sorted(
            session.scalars(
                select(AuditEntry.action).where(AuditEntry.action.startswith("certification."))
            )
        )
    assert logged == sorted(
        ["certification.award"] * 4
        + ["certification.renew", "certification.regain"]
        + ["certification.lapse"] * 2  # Ana's and Dee's; Cai's first is in her regain
    )


def test_an_import_with_old_and_new_work_tells_only_the_news(cli, write, clock, db):
    load_org(cli, write, clock, at=datetime(2026, 6, 1, 10, 0, tzinfo=UTC))
    csv = (
        HEADER + "ana@x.io,safety,2025-06-01,\nana@x.io,safety-quiz,2025-06-01,90\n"
        # Renewed last week, inside her window: that is news, told in private.
        "ana@x.io,safety,2026-05-26,\nana@x.io,safety-quiz,2026-05-27,90\n"
        # Ben finished yesterday: a first award, celebrated.
        "ben@x.io,safety,2026-05-30,\nben@x.io,safety-quiz,2026-05-31,90\n"
    )
    imported = cli("import-completions", write("lms.csv", csv))
    assert "3 awarded (1 recorded silently: old completions)" in imported.out
    awards = awards_of(db)
    first, renewal, ben = awards[("ana@x.io", 0)], awards[("ana@x.io", 1)], awards[("ben@x.io", 0)]
    assert local(renewal.expires_at) == date(2027, 6, 1)  # from the old expiry
    assert outbox_keys(db) == sorted(
        [
            f"cert_award:{renewal.id}:holder",
            f"cert_award:{renewal.id}:manager",
            f"cert_award:{ben.id}:holder",
            f"cert_award:{ben.id}:manager",
            f"cert_award:{ben.id}:shoutout",
        ]
    )
    assert not [k for k in outbox_keys(db) if k.startswith(f"cert_award:{first.id}:")]


# --- a certification added later -------------------------------------------------------


def test_a_certification_added_by_load_config_awards_those_who_already_qualify(
    cli, write, clock, db
):
    load_org(cli, write, clock, at=datetime(2026, 6, 1, 10, 0, tzinfo=UTC), certification=False)
    csv = (
        HEADER + "ana@x.io,safety,2026-03-02,\nana@x.io,safety-quiz,2026-03-03,90\n"
        "ben@x.io,safety,2026-05-28,\nben@x.io,safety-quiz,2026-05-29,85\n"
        "cai@x.io,safety,2026-05-28,\ncai@x.io,safety-quiz,2026-05-29,50\n"  # too low
        "dee@x.io,safety,2026-05-28,\n"  # not finished
    )
    assert cli("import-completions", write("lms.csv", csv)).code == 0
    assert awards_of(db) == {}
    path = write("programs.yml", PROGRAMS + CERTIFICATION)

    dry = cli("load-config", path, "--dry-run")
    assert dry.code == 0, dry.err
    line = (
        "certifications awarded to people who already qualify: "
        "2 awarded (1 recorded silently: old completions)"
    )
    assert line in dry.out
    assert awards_of(db) == {} and outbox_keys(db) == []

    loaded = cli("load-config", path)
    assert line in loaded.out
    awards = awards_of(db)
    assert set(awards) == {("ana@x.io", 0), ("ben@x.io", 0)}
    ana, ben = awards[("ana@x.io", 0)], awards[("ben@x.io", 0)]
    assert (local(ana.awarded_at), local(ana.expires_at)) == (date(2026, 3, 3), date(2027, 3, 3))
    assert local(ben.awarded_at) == date(2026, 5, 29)
    # Ana's award is old news (March): silent. Ben's is from last week: told and celebrated.
    assert outbox_keys(db) == sorted(
        [
            f"cert_award:{ben.id}:holder",
            f"cert_award:{ben.id}:manager",
            f"cert_award:{ben.id}:shoutout",
        ]
    )
    # Loading the same file again awards nothing more.
    again = cli("load-config", path)
    assert "nothing to change" in again.out
    assert awards_of(db).keys() == awards.keys()


# --- re-dating old awards ------------------------------------------------------------------


def make_legacy(db, email: str, *, awarded_at: datetime) -> None:
    """Date an award as learnbot did before: on the day of the import, 365 days valid."""
    with db.session() as session:
        session.execute(
            update(CertificationAward)
            .where(
                CertificationAward.person_id
                == select(Person.id).where(Person.email == email).scalar_subquery()
            )
            .values(
                awarded_at=awarded_at,
                expires_at=awarded_at + timedelta(days=365),
                lapsed_at=None,
            )
        )


def test_redate_from_completions_is_explicit_audited_and_sends_nothing(cli, write, clock, db):
    imported_on = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    load_org(cli, write, clock, at=imported_on)
    csv = (
        HEADER + "ana@x.io,safety,2026-06-01,\nana@x.io,safety-quiz,2026-06-04,100\n"
        "dee@x.io,safety,2025-06-01,\ndee@x.io,safety-quiz,2025-06-02,90\n"
    )
    assert cli("import-completions", write("lms.csv", csv)).code == 0
    # As an older learnbot stored them: awarded on import day, valid 365 days.
    make_legacy(db, "ana@x.io", awarded_at=imported_on)
    make_legacy(db, "dee@x.io", awarded_at=imported_on)
    with db.session() as session:  # and one no recorded completion earns
        max_id = session.scalars(select(Person.id).where(Person.email == "max@x.io")).one()
        cert_id = session.scalars(select(CertificationAward.certification_id)).first()
        session.add(
            CertificationAward(
                person_id=max_id,
                certification_id=cert_id,
                awarded_at=imported_on,
                expires_at=imported_on + timedelta(days=365),
            )
        )
    assert "valid until Wed 1 Dec 2027" in cli("certs").out
    before = outbox_keys(db)

    dry = cli("certs", "--redate-from-completions", "--dry-run")
    assert dry.code == 0, dry.err
    assert (
        "ana@x.io safe-worker (cycle 0): awarded 2026-12-01 -> 2026-06-04, "
        "expires 2027-12-01 -> 2027-06-04"
    ) in dry.out
    # Dee's work of June 2025 ran out a year later: recorded as lapsed, 14 days on.
    assert (
        "dee@x.io safe-worker (cycle 0): awarded 2026-12-01 -> 2025-06-02, "
        "expires 2027-12-01 -> 2026-06-02, lapsed - -> 2026-06-16"
    ) in dry.out
    assert "max@x.io safe-worker (cycle 0): kept as it is" in dry.out
    assert "awards: 2 re-dated from their completions, 0 already right, 1 kept" in dry.out
    assert "dry run: nothing was applied" in dry.out
    assert "valid until Wed 1 Dec 2027" in cli("certs").out

    done = cli("--actor", "ops@x.io", "certs", "--redate-from-completions")
    assert done.code == 0, done.err
    listed = cli("certs").out
    assert "valid until Fri 4 Jun 2027" in listed and "Wed 1 Dec 2027" in listed  # Max's
    assert "lapsed on Tue 16 Jun 2026" in listed
    assert outbox_keys(db) == before  # nothing sent, nothing planned
    with db.session() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "certification.redate")
        ).all()
    assert {e.actor for e in entries} == {"ops@x.io"} and len(entries) == 2
    ana_entry = next(e for e in entries if e.details["awarded_at"][1].startswith("2026-06-0"))
    assert ana_entry.details["awarded_at"] == [
        "2026-12-01T12:00:00+00:00",
        "2026-06-03T23:00:00+00:00",  # midnight of 4 June in London
    ]
    # Done once, a second run changes nothing.
    assert (
        "awards: 0 re-dated from their completions, 2 already right"
        in cli("certs", "--redate-from-completions").out
    )


def test_redate_needs_its_own_flag_for_dry_run(cli, write, clock):
    load_org(cli, write, clock, at=datetime(2026, 6, 1, 10, 0, tzinfo=UTC))
    result = cli("certs", "--dry-run")
    assert result.code == 1 and "--redate-from-completions" in result.err
