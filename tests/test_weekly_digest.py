"""The weekly manager digest: configuration, planning into the outbox, facts, rendering."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from sqlalchemy import select, update

from learning.curriculum import ProgramSettings, load_curriculum, parse_curriculum
from learning.errors import ValidationFailed
from learning.identity import reporting_chain_ids
from learning.paths import current_settings
from learning.team import team_summary
from models import Assignment, Certification, CertificationAward, OutboxMessage, Person
from platforms.slack.render.limits import block_kit_problems
from platforms.slack.render.weekly_digest import OPEN_TEAM_VIEW, fallback_text, render_weekly_digest
from schedules.weekly_digest import KIND, chain_facts, plan_weekly_digests
from tests.conftest import ROOT
from tests.helpers import PROGRAMS, drop_slack_account, people_csv
from tests.outbox_support import Shown


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# Everyone is an engineer who started on Mon 2 March 2026 (three required items, all due
# by Mon 9 March). Reporting lines:
#   Cleo (CEO, London) -> Val (London) -> Ian (London), Ivy (Kolkata)
#                      -> Lou (Los Angeles) -> Ike (Los Angeles)
#                      -> Sol (London, no reports)
#   Ola (London, another root) -> Ext (London)
PEOPLE = (
    "ceo@x.io,Cleo Chief,,engineer,Exec,2026-03-02,Europe/London,U0CEO",
    "vp@x.io,Val Vice,ceo@x.io,engineer,Web,2026-03-02,Europe/London,U0VP",
    "ian@x.io,Ian London,vp@x.io,engineer,Web,2026-03-02,Europe/London,U0IAN",
    "ivy@x.io,Ivy Kolkata,vp@x.io,engineer,Web,2026-03-02,Asia/Kolkata,U0IVY",
    "lou@x.io,Lou Angeles,ceo@x.io,engineer,US,2026-03-02,America/Los_Angeles,U0LOU",
    "ike@x.io,Ike Angeles,lou@x.io,engineer,US,2026-03-02,America/Los_Angeles,U0IKE",
    "sol@x.io,Sol Alone,ceo@x.io,engineer,Exec,2026-03-02,Europe/London,U0SOL",
    "ola@x.io,Ola Other,,engineer,Ops,2026-03-02,Europe/London,U0OLA",
    "ext@x.io,Ext Outside,ola@x.io,engineer,Ops,2026-03-02,Europe/London,U0EXT",
)
# Friday 13 March 2026 (Friday 6 March is a holiday in PROGRAMS). London is on GMT, Los
# Angeles on PDT (UTC-7) since 8 March, Kolkata on UTC+05:30.
FRIDAY = (2026, 3, 13)


@pytest.fixture
def org(cli, write, clock):
    def load(programs: str = PROGRAMS, people: tuple[str, ...] = PEOPLE) -> None:
        clock.set(utc(2026, 3, 2, 12, 0))
        assert cli("load-config", write("programs.yml", programs)).code == 0
        assert cli("import-people", write("people.csv", people_csv(*people))).code == 0

    return load


def plan(db, clock, at: datetime) -> int:
    clock.set(at)
    return plan_weekly_digests(db, clock).enqueued


def weekly_rows(db) -> dict[str, Shown]:
    """Weekly digests in the outbox, by the manager's Slack user id."""
    with db.session() as session:
        rows = [
            Shown(row)
            for row in session.scalars(select(OutboxMessage).where(OutboxMessage.kind == KIND))
        ]
        session.expunge_all()
    channels = [row.channel for row in rows]
    assert len(channels) == len(set(channels)), f"two digests to one manager: {channels}"
    return {row.channel: row for row in rows}


def person_id(db, email: str) -> int:
    with db.session() as session:
        return session.scalars(select(Person.id).where(Person.email == email)).one()


# --- configuration ------------------------------------------------------------------


def problems_of(text: str) -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        parse_curriculum(text, "programs.yml")
    return [str(problem) for problem in caught.value.problems]


def test_defaults_are_friday_15_00_for_4_hours():
    digest = ProgramSettings().manager_digest
    assert (digest.enabled, digest.weekday, digest.time, digest.window) == (
        True,
        "fri",
        time(15, 0),
        240,
    )
    assert parse_curriculum(PROGRAMS, "p.yml").config.settings().manager_digest == digest


def test_the_section_is_read_and_kept_in_the_settings():
    text = PROGRAMS + 'manager_digest:\n  weekday: thu\n  time: "16:30"\n  window: 90m\n'
    settings = parse_curriculum(text, "p.yml").config.settings()
    digest = settings.manager_digest
    assert (digest.weekday, digest.time, digest.window) == ("thu", time(16, 30), 90)
    # What the snapshot stores reads back the same.
    assert ProgramSettings.model_validate(settings.model_dump(mode="json")) == settings


def test_the_documented_example_has_the_section():
    config = load_curriculum(ROOT / "examples" / "programs.yml").config
    assert "manager_digest" in config.model_fields_set  # written out, not defaulted
    digest = config.settings().manager_digest
    assert (digest.weekday, digest.time, digest.window, digest.enabled) == (
        "fri",
        time(15, 0),
        240,
        True,
    )
    assert "manager_digest:" in (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("  weekday: friday\n", "manager_digest.weekday: 'friday' is not allowed: 'mon'"),
        ("  time: 15:00\n", "manager_digest.time: write the time in quotes as HH:MM"),
        ('  time: "25:00"\n', "manager_digest.time: bad time '25:00'"),
        ("  window: 0m\n", "manager_digest.window: window must be from 1m to 24h (got 0m)"),
        ("  window: 25h\n", "manager_digest.window: window must be from 1m to 24h (got 1500m)"),
        ("  window: 4\n", "manager_digest.window: bad duration 4: add a unit"),
        ("  enabeld: true\n", "manager_digest.enabeld: unknown key 'enabeld'"),
        ("  weekday: sat\n", "manager_digest.weekday: 'sat' is not in calendar.working_days"),
    ],
)
def test_mistakes_are_reported_with_line_and_field(section, expected):
    text = PROGRAMS + "manager_digest:\n" + section
    [problem] = problems_of(text)
    line = len(text.splitlines())  # the section's line is the file's last
    assert problem.startswith(f"programs.yml:{line}: "), problem
    assert expected in problem, problem


def test_a_disabled_digest_may_name_any_weekday():
    text = PROGRAMS + "manager_digest:\n  enabled: false\n  weekday: sat\n"
    assert parse_curriculum(text, "p.yml").config.settings().manager_digest.enabled is False


# --- when and to whom ---------------------------------------------------------------


def test_a_manager_gets_one_digest_on_the_weekday_at_their_local_time(org, db, clock):
    org()
    assert plan(db, clock, utc(*FRIDAY, 14, 0)) == 0  # an hour early in London
    assert plan(db, clock, utc(*FRIDAY, 14, 59)) == 0
    assert plan(db, clock, utc(*FRIDAY, 15, 0)) == 3
    rows = weekly_rows(db)
    assert sorted(rows) == ["U0CEO", "U0OLA", "U0VP"]  # London managers only
    assert rows["U0VP"].key == f"weekly:{person_id(db, 'vp@x.io')}:2026-W11"
    assert rows["U0VP"].person_id == person_id(db, "vp@x.io")
    assert rows["U0VP"].not_before == utc(*FRIDAY, 15, 0)
    # Planning again, later in the window, sends nothing twice.
    assert plan(db, clock, utc(*FRIDAY, 15, 5)) == 0
    assert plan(db, clock, utc(*FRIDAY, 18, 59)) == 0
    assert sorted(weekly_rows(db)) == ["U0CEO", "U0OLA", "U0VP"]


def test_other_days_and_times_get_nothing(org, db, clock):
    org()
    assert plan(db, clock, utc(2026, 3, 12, 15, 0)) == 0  # Thursday
    assert plan(db, clock, utc(2026, 3, 14, 15, 0)) == 0  # Saturday
    assert plan(db, clock, utc(2026, 3, 16, 15, 0)) == 0  # Monday
    assert plan(db, clock, utc(*FRIDAY, 19, 0)) == 0  # London's window has closed
    assert plan(db, clock, utc(*FRIDAY, 9, 30)) == 0  # the daily digest's time
    assert weekly_rows(db) == {}


def test_people_without_reports_get_none(org, db, clock):
    org()
    for at in (utc(*FRIDAY, 15, 0), utc(*FRIDAY, 22, 0), utc(*FRIDAY, 9, 30)):
        plan(db, clock, at)
    rows = weekly_rows(db)
    assert sorted(rows) == ["U0CEO", "U0LOU", "U0OLA", "U0VP"]
    assert not {"U0IAN", "U0IVY", "U0IKE", "U0SOL", "U0EXT"} & set(rows)


def test_a_manager_whose_reports_all_left_gets_none(org, db, clock):
    org()
    with db.session() as session:
        session.execute(update(Person).where(Person.email == "ext@x.io").values(active=False))
    plan(db, clock, utc(*FRIDAY, 15, 0))
    assert "U0OLA" not in weekly_rows(db)


def test_a_manager_in_another_zone_gets_theirs_at_their_own_local_time(org, db, clock):
    org()
    plan(db, clock, utc(*FRIDAY, 15, 0))  # London
    assert "U0LOU" not in weekly_rows(db)
    # 15:00 on Friday in Los Angeles (PDT) is 22:00 UTC.
    assert plan(db, clock, utc(*FRIDAY, 21, 59)) == 0
    assert plan(db, clock, utc(*FRIDAY, 22, 0)) == 1
    rows = weekly_rows(db)
    assert rows["U0LOU"].key == f"weekly:{person_id(db, 'lou@x.io')}:2026-W11"
    assert rows["U0LOU"].payload["local_date"] == "2026-03-13"
    assert plan(db, clock, utc(2026, 3, 14, 1, 59)) == 0  # still in the window: not twice


def test_the_weekday_time_and_window_come_from_the_programs_file(org, db, clock):
    org(PROGRAMS + 'manager_digest:\n  weekday: tue\n  time: "08:00"\n  window: 1h\n')
    assert plan(db, clock, utc(*FRIDAY, 15, 0)) == 0
    assert plan(db, clock, utc(2026, 3, 10, 7, 59)) == 0
    assert plan(db, clock, utc(2026, 3, 10, 9, 0)) == 0  # past the 1-hour window
    assert plan(db, clock, utc(2026, 3, 10, 8, 30)) == 3
    assert plan(db, clock, utc(2026, 3, 17, 8, 0)) == 3  # next week: a new ISO week key
    keys = {row.key for row in weekly_rows_all(db)}
    vp = person_id(db, "vp@x.io")
    assert {f"weekly:{vp}:2026-W11", f"weekly:{vp}:2026-W12"} <= keys


def weekly_rows_all(db) -> list[Shown]:
    with db.session() as session:
        rows = [
            Shown(row)
            for row in session.scalars(select(OutboxMessage).where(OutboxMessage.kind == KIND))
        ]
        session.expunge_all()
    return rows


def test_a_holiday_on_the_digest_day_skips_that_week(org, db, clock):
    org()
    # Friday 6 March is a holiday everywhere: no digest that week, not even later.
    assert plan(db, clock, utc(2026, 3, 6, 15, 0)) == 0
    assert plan(db, clock, utc(2026, 3, 6, 22, 0)) == 0
    assert plan(db, clock, utc(2026, 3, 9, 15, 0)) == 0  # not moved to Monday


def test_a_regional_holiday_skips_only_that_region(org, db, clock):
    # Wednesday 4 March is a holiday in India only.
    people = (*PEOPLE, "raj@x.io,Raj Kolkata,,engineer,Web,2026-03-02,Asia/Kolkata,U0RAJ")
    people = (*people, "ria@x.io,Ria Kolkata,raj@x.io,engineer,Web,2026-03-02,Asia/Kolkata,")
    org(PROGRAMS + 'manager_digest:\n  weekday: wed\n  time: "15:00"\n', people)
    plan(db, clock, utc(2026, 3, 4, 9, 30))  # 15:00 in Kolkata: a holiday there
    plan(db, clock, utc(2026, 3, 4, 15, 0))  # 15:00 in London
    assert sorted(weekly_rows(db)) == ["U0CEO", "U0OLA", "U0VP"]
    plan(db, clock, utc(2026, 3, 11, 9, 30))  # the next Wednesday in Kolkata
    assert "U0RAJ" in weekly_rows(db)


def test_disabled_means_no_digest(org, db, clock):
    org(PROGRAMS + "manager_digest:\n  enabled: false\n")
    assert plan(db, clock, utc(*FRIDAY, 15, 0)) == 0


def test_managers_without_a_slack_id_or_away_are_skipped(org, db, clock):
    org()
    with db.session() as session:
        drop_slack_account(session, "vp@x.io")
        session.execute(
            update(Person)
            .where(Person.email == "ola@x.io")
            .values(away_until=datetime(2026, 3, 13).date())
        )
    plan(db, clock, utc(*FRIDAY, 15, 0))
    assert sorted(weekly_rows(db)) == ["U0CEO"]


# --- the facts ----------------------------------------------------------------------


def complete_everything_of(db, email: str) -> None:
    with db.session() as session:
        session.execute(
            update(Assignment)
            .where(Assignment.person_id == person_id(db, email))
            .values(status="completed", completed_at=utc(2026, 3, 4, 10, 0))
        )


def test_the_payload_counts_the_whole_chain_and_nobody_else(org, db, clock):
    org()
    complete_everything_of(db, "ian@x.io")
    plan(db, clock, utc(*FRIDAY, 15, 0))
    plan(db, clock, utc(*FRIDAY, 22, 0))
    rows = weekly_rows(db)
    vp, ceo, lou, ola = (rows[c].payload for c in ("U0VP", "U0CEO", "U0LOU", "U0OLA"))

    # Val: Ian (3 of 3 done) and Ivy (2 overdue: her quiz waits for safety, so it has no
    # due date yet). Ivy's oldest item (Mon 2 March) is 7 working days late on her
    # calendar: 4 March (India) and 6 March are holidays.
    assert (vp["people"], vp["required_done"], vp["required_total"], vp["percent"]) == (
        2,
        3,
        6,
        50.0,
    )
    assert (vp["overdue_items"], vp["people_overdue"], vp["overdue_more"]) == (2, 1, 0)
    assert vp["overdue"] == [
        {
            "person_id": person_id(db, "ivy@x.io"),
            "name": "Ivy Kolkata",
            "overdue_items": 2,
            "overdue_working_days": 7,
            "oldest_due": "2026-03-02",
        }
    ]
    # Cleo (skip-level): her reports and their reports, never Ola's team.
    assert ceo["people"] == 6  # Val, Ian, Ivy, Lou, Ike, Sol
    assert (ceo["required_done"], ceo["required_total"]) == (3, 18)
    assert ceo["people_overdue"] == 5
    names = [p["name"] for p in ceo["overdue"]]
    assert set(names) == {"Val Vice", "Ivy Kolkata", "Lou Angeles", "Ike Angeles", "Sol Alone"}
    lateness = [p["overdue_working_days"] for p in ceo["overdue"]]
    assert lateness == sorted(lateness, reverse=True) and names[-1] == "Ivy Kolkata"
    assert (lou["people"], [p["name"] for p in lou["overdue"]]) == (1, ["Ike Angeles"])
    assert (ola["people"], [p["name"] for p in ola["overdue"]]) == (1, ["Ext Outside"])
    for payload, allowed in (
        (vp, {"Ian London", "Ivy Kolkata"}),
        (lou, {"Ike Angeles"}),
        (ola, {"Ext Outside"}),
    ):
        assert {p["name"] for p in payload["overdue"]} <= allowed


def test_the_payload_agrees_with_the_team_view(org, db, clock):
    org()
    complete_everything_of(db, "ivy@x.io")
    with db.session() as session:  # one of Ike's required items is waived
        first = session.scalars(
            select(Assignment.id)
            .where(Assignment.person_id == person_id(db, "ike@x.io"), Assignment.required)
            .order_by(Assignment.id)
            .limit(1)
        ).one()
        session.execute(update(Assignment).where(Assignment.id == first).values(status="waived"))
    clock.set(utc(*FRIDAY, 15, 0))
    with db.session() as session:
        settings = current_settings(session)
        managers = {email: person_id(db, email) for email in ("ceo@x.io", "vp@x.io", "lou@x.io")}
        facts = chain_facts(session, list(managers.values()), now=clock.now(), settings=settings)
        for manager_id in managers.values():
            chain = reporting_chain_ids(session, manager_id)
            expected = team_summary(session, person_ids=chain, clock=clock, settings=settings)
            got = facts[manager_id].summary
            assert (got.people, got.done, got.due, got.overdue, got.waived) == (
                expected.people,
                expected.done,
                expected.due,
                expected.overdue,
                expected.waived,
            )
            assert got.people_overdue == expected.people_overdue
            assert [p.person_id for p in got.most_overdue] == [
                p.person_id for p in expected.most_overdue
            ]
    assert facts[managers["lou@x.io"]].summary.waived == 1


def test_the_overdue_list_is_capped_and_says_how_many_more(org, db, clock):
    org()
    clock.set(utc(*FRIDAY, 15, 0))
    ceo = person_id(db, "ceo@x.io")
    with db.session() as session:
        settings = current_settings(session)
        facts = chain_facts(session, [ceo], now=clock.now(), settings=settings, overdue_listed=2)
    summary = facts[ceo].summary
    assert summary.people_overdue == 6
    assert len(summary.most_overdue) == 2
    assert all(p.overdue_working_days == 8 for p in summary.most_overdue)  # not Ivy (7)


def test_a_cycle_in_the_manager_links_does_not_loop(org, db, clock):
    org()
    with db.session() as session:  # Cleo now reports to Ian, who is below her
        session.execute(
            update(Person)
            .where(Person.email == "ceo@x.io")
            .values(manager_id=person_id(db, "ian@x.io"))
        )
    clock.set(utc(*FRIDAY, 15, 0))
    ceo, ian = person_id(db, "ceo@x.io"), person_id(db, "ian@x.io")
    with db.session() as session:
        facts = chain_facts(
            session, [ceo, ian], now=clock.now(), settings=current_settings(session)
        )
    # Cleo: Val, Ian, Ivy, Lou, Ike, Sol; Ian: Cleo and everyone below her but himself.
    assert facts[ceo].summary.people == 6
    assert facts[ian].summary.people == 6
    with db.session() as session:
        assert facts[ian].summary.people == len(reporting_chain_ids(session, ian))


def test_deactivated_people_do_not_count_but_their_reports_still_do(org, db, clock):
    org()
    with db.session() as session:  # Ian left; so did Lou, whose report Ike stays
        session.execute(
            update(Person).where(Person.email.in_(["ian@x.io", "lou@x.io"])).values(active=False)
        )
    clock.set(utc(*FRIDAY, 15, 0))
    ceo, vp = person_id(db, "ceo@x.io"), person_id(db, "vp@x.io")
    with db.session() as session:
        facts = chain_facts(session, [ceo, vp], now=clock.now(), settings=current_settings(session))
    assert (facts[vp].summary.people, facts[vp].summary.required_total) == (1, 3)  # Ivy
    assert facts[ceo].summary.people == 4  # Val, Ivy, Ike, Sol
    assert "Ike Angeles" in {p.name for p in facts[ceo].summary.most_overdue}
    assert not {"Ian London", "Lou Angeles"} & {p.name for p in facts[ceo].summary.most_overdue}


def add_awards(db) -> None:
    """Safe Worker awards around Friday 13 March 2026, 15:00 UTC."""
    with db.session() as session:
        cert = session.scalars(select(Certification.id)).one()

        def award(email, cycle, awarded, expires, lapsed=None):
            session.add(
                CertificationAward(
                    person_id=person_id(db, email),
                    certification_id=cert,
                    cycle=cycle,
                    awarded_at=awarded,
                    expires_at=expires,
                    lapsed_at=lapsed,
                )
            )

        # Ian renewed this week: the old award expiring in 7 days is not "expiring".
        award("ian@x.io", 0, utc(2025, 3, 20, 9), utc(2026, 3, 20, 9))
        award("ian@x.io", 1, utc(2026, 3, 11, 10), utc(2027, 3, 11, 10))
        # Ivy's award expires in 19 days.
        award("ivy@x.io", 0, utc(2025, 4, 1, 9), utc(2026, 4, 1, 9))
        # Ike earned a short one yesterday: earned and expiring (30 March).
        award("ike@x.io", 0, utc(2026, 3, 12, 18), utc(2026, 3, 30, 18))
        # Sol earned 8 days ago: not this week.
        award("sol@x.io", 0, utc(2026, 3, 5, 14), utc(2027, 3, 5, 14))
        # Val's award lapsed (revoked) though it would expire in 12 days: left out.
        award("vp@x.io", 0, utc(2025, 3, 25, 9), utc(2026, 3, 25, 9), utc(2026, 3, 12, 9))
        # Lou's expires in 38 days: not within 30.
        award("lou@x.io", 0, utc(2025, 4, 20, 9), utc(2026, 4, 20, 9))
        # Ext (Ola's team) earned one this week.
        award("ext@x.io", 0, utc(2026, 3, 13, 9), utc(2027, 3, 13, 9))


def test_certifications_earned_this_week_and_expiring_within_30_days(org, db, clock):
    org()
    add_awards(db)
    plan(db, clock, utc(*FRIDAY, 15, 0))
    plan(db, clock, utc(*FRIDAY, 22, 0))
    rows = weekly_rows(db)
    vp, ceo, lou, ola = (rows[c].payload for c in ("U0VP", "U0CEO", "U0LOU", "U0OLA"))

    def earned(payload):
        return [(a["name"], a["certification"], a["awarded_on"]) for a in payload["earned"]]

    def expiring(payload):
        return [(a["name"], a["expires_on"]) for a in payload["expiring"]]

    assert earned(vp) == [("Ian London", "Safe Worker", "2026-03-11")]
    assert expiring(vp) == [("Ivy Kolkata", "2026-04-01")]
    # Newest earned first, soonest expiring first.
    assert earned(ceo) == [
        ("Ike Angeles", "Safe Worker", "2026-03-12"),
        ("Ian London", "Safe Worker", "2026-03-11"),
    ]
    assert expiring(ceo) == [("Ike Angeles", "2026-03-30"), ("Ivy Kolkata", "2026-04-01")]
    assert (ceo["earned_count"], ceo["expiring_count"]) == (2, 2)
    # Dates are the manager's local dates: 18:00 UTC on 12 March is 11:00 in Los Angeles.
    assert earned(lou) == [("Ike Angeles", "Safe Worker", "2026-03-12")]
    assert expiring(lou) == [("Ike Angeles", "2026-03-30")]
    assert earned(ola) == [("Ext Outside", "Safe Worker", "2026-03-13")]
    assert expiring(ola) == []


def test_the_certification_lists_are_capped_with_the_full_count(org, db, clock):
    org()
    add_awards(db)
    clock.set(utc(*FRIDAY, 15, 0))
    ceo = person_id(db, "ceo@x.io")
    with db.session() as session:
        facts = chain_facts(
            session,
            [ceo],
            now=clock.now(),
            settings=current_settings(session),
            certifications_listed=1,
        )[ceo]
    assert [a.name for a in facts.earned] == ["Ike Angeles"] and facts.earned_count == 2
    assert [a.name for a in facts.expiring] == ["Ike Angeles"] and facts.expiring_count == 2


# --- rendering ----------------------------------------------------------------------


def payload(overdue: int = 0, certs: int = 0) -> dict:
    name = "Zoë <script> & Very-Long-Name " * 10
    return {
        "version": 1,
        "manager_id": 1,
        "first_name": "Cleo",
        "week": "2026-W11",
        "local_date": "2026-03-13",
        "people": overdue + 5,
        "required_done": 40,
        "required_total": 52,
        "percent": 76.9,
        "overdue_items": overdue * 3,
        "people_overdue": overdue,
        "overdue": [
            {
                "person_id": i,
                "name": f"{i:03d} {name}",
                "overdue_items": 3,
                "overdue_working_days": 500 - i,
                "oldest_due": "2026-01-02",
            }
            for i in range(overdue)
        ],
        "overdue_more": 0,
        "earned_count": certs,
        "earned": [
            {"person_id": i, "name": name, "certification": "C" * 300, "awarded_on": "2026-03-11"}
            for i in range(certs)
        ],
        "expiring_count": certs,
        "expiring": [
            {"person_id": i, "name": name, "certification": "C" * 300, "expires_on": "2026-04-01"}
            for i in range(certs)
        ],
    }


def all_text(message) -> str:
    return repr(message.blocks)


@pytest.mark.parametrize("overdue", [0, 1, 500])
def test_rendering_stays_inside_block_kit_limits(overdue):
    message = render_weekly_digest(payload(overdue, certs=overdue), home_url="slack://app?x=1")
    assert block_kit_problems(message) == []
    assert len(message.blocks) <= 10
    if overdue == 500:
        assert "…and " in all_text(message) and "more people" in all_text(message)
        assert "<script>" not in all_text(message)  # escaped
    if overdue == 0:
        assert "Nobody in your team is overdue" in all_text(message)


def test_a_long_list_names_the_most_overdue_and_counts_the_rest():
    message = render_weekly_digest(payload(500))
    overdue_block = next(b for b in message.blocks if "*Overdue*" in str(b.get("text")))
    text = overdue_block["text"]["text"]
    shown = text.count("\n• ")
    assert 0 < shown <= 15
    assert text.startswith("*Overdue* — 500 people with overdue required items")
    assert text.rstrip().endswith(f"…and {500 - shown} more people — see your team view")
    assert "• 000 Zoë" in text and "• 001 Zoë" in text  # the most overdue come first
    assert "• 499 Zoë" not in text


def test_the_button_opens_the_team_view_when_the_home_url_is_known():
    url = "slack://app?team=T1&id=A1&tab=home"
    with_url = render_weekly_digest(payload(2), home_url=url)
    [actions] = [b for b in with_url.blocks if b["type"] == "actions"]
    [button] = actions["elements"]
    assert (button["text"]["text"], button["url"]) == (OPEN_TEAM_VIEW, url)
    without = render_weekly_digest(payload(2))
    assert not [b for b in without.blocks if b["type"] == "actions"]
    assert "Home tab" in all_text(without)
    assert block_kit_problems(without) == []


def test_the_fallback_text_has_the_numbers_and_no_names():
    text = fallback_text(payload(3, certs=2))
    assert text == (
        "Your team this week: 77% of required items done (40 of 52); 3 of 8 people have "
        "overdue items; 2 certifications earned this week; 2 expiring within 30 days."
    )
    assert "Zoë" not in render_weekly_digest(payload(3)).text
    assert "nobody has overdue items" in fallback_text(payload(0))


def test_the_planned_row_renders(org, db, clock):
    org()
    add_awards(db)
    plan(db, clock, utc(*FRIDAY, 15, 0))
    row = weekly_rows(db)["U0VP"]
    message = render_weekly_digest(row.payload, home_url="slack://app?tab=home")
    assert block_kit_problems(message) == []
    text = all_text(message)
    assert "Ivy Kolkata" in text and "Ian London" in text and "Safe Worker" in text
    assert "2 people" in text and "0 of 6 done" in text
    assert "Ivy" not in message.text and "Ivy" not in row.text


def test_a_broken_payload_is_a_clear_error():
    broken = payload(1)
    broken["people"] = "many"
    with pytest.raises(ValueError, match="'people' must be a whole number"):
        render_weekly_digest(broken)
