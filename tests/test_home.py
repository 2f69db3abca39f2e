"""App Home: what learners, managers and admins see, published through Bolt's pipeline."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event, insert, select, update

from learning.home import (
    CertificationGoal,
    HeldCertification,
    HomeItem,
    HomePage,
    Welcome,
    home_for,
)
from learning.progress import CompletionReport, ItemLine, PersonStatus, ReportRow, TierLine
from learning.team import OverduePerson, TeamSummary, team_summary
from models import Assignment, AssignmentStatus, Item, Person
from platforms.slack.identity import caller
from platforms.slack.listeners.context import HandlerContext
from platforms.slack.listeners.home import publish_home
from platforms.slack.render import ids
from platforms.slack.render.home import (
    MAX_ITEMS,
    MAX_VIEW_BLOCKS,
    progress_bar,
    render_home,
    render_welcome,
)
from platforms.slack.render.limits import view_problems
from server.app import build_app
from settings import Settings
from tests.fakes.bolt_requests import SlackRequests
from tests.fakes.slack_api import FakeSlack
from tests.helpers import PROGRAMS, people_csv, slack_settings

SECRET = "test-signing-secret"
# Everyone but Sol started on 2 February: by 2 March their first tier is all overdue.
PEOPLE = (
    "boss@x.io,Bo Boss,,engineer,Exec,2026-02-02,Europe/London,U0BOSS",
    "m1@x.io,Mia Manager,boss@x.io,engineer,Web,2026-02-02,Europe/London,U0M1",
    "m2@x.io,Max Manager,boss@x.io,engineer,Apps,2026-02-02,Europe/London,U0M2",
    "a1@x.io,Ann Able,m1@x.io,engineer,Web,2026-02-02,Europe/London,U0A1",
    "a2@x.io,Abe Baker,m1@x.io,engineer,Web,2026-02-02,Europe/London,U0A2",
    "b1@x.io,Ben Cole,m2@x.io,engineer,Apps,2026-02-02,Europe/London,U0B1",
    "solo@x.io,Sol Solo,,sales,Field,2026-03-02,Europe/London,U0SOLO",
)


@pytest.fixture
def fake():
    with FakeSlack() as server:
        yield server


# Due dates as if learnbot had been running since February (an import dates them from today).
DUE = {
    "intro": date(2026, 2, 2),
    "safety": date(2026, 2, 5),
    "safety-quiz": date(2026, 2, 6),
    "shadow": date(2026, 2, 16),
}


@pytest.fixture
def org(cli, write, db):
    assert cli("load-config", write("programs.yml", PROGRAMS)).code == 0
    assert cli("import-people", write("people.csv", people_csv(*PEOPLE))).code == 0
    with db.session() as session:
        feb = select(Person.id).where(Person.role_start_date == date(2026, 2, 2))
        for key, due in DUE.items():
            item_id = select(Item.id).where(Item.key == key).scalar_subquery()
            session.execute(
                update(Assignment)
                .where(Assignment.item_id == item_id, Assignment.person_id.in_(feb))
                .values(due_date=due)
            )


def settings_for(fake: FakeSlack, admins=("u0solo",)) -> Settings:
    return slack_settings(fake.base_url, signing_secret=SECRET, admins=admins)


def open_home(db, clock, fake, user_id: str, *, admins=("u0solo",)) -> dict:
    """Open ``user_id``'s Home tab through the pipeline; the view Slack got."""
    app = build_app(
        settings_for(fake, admins), database=db, clock=clock, process_before_response=True
    )
    response = SlackRequests(app, signing_secret=SECRET).event(
        {"type": "app_home_opened", "user": user_id, "tab": "home", "channel": "D0HOME"}
    )
    assert response.status == 200
    fake.wait_for_calls("views.publish", where=lambda c: c.body.get("user_id") == user_id)
    view = fake.home_view(user_id)
    assert view is not None
    assert view_problems(view) == []
    return view


def text_of(view: dict) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def assignment_ids(db, email: str) -> dict[str, int]:
    with db.session() as session:
        return dict(
            session.execute(
                select(Item.key, Assignment.id)
                .join(Assignment, Assignment.item_id == Item.id)
                .join(Person, Person.id == Assignment.person_id)
                .where(Person.email == email)
            ).all()
        )


# --- a learner ---------------------------------------------------------------------------


def test_progress_bar_rounds_down_so_only_everything_done_is_full():
    assert progress_bar(1, 2) == "▓▓▓▓▓░░░░░ 50%"
    assert progress_bar(199, 200) == "▓▓▓▓▓▓▓▓▓░ 99%"
    assert progress_bar(3, 3) == "▓▓▓▓▓▓▓▓▓▓ 100%"
    assert progress_bar(0, 4) == "░░░░░░░░░░ 0%"


def test_a_learner_sees_progress_per_tier_and_their_items_with_the_digest_buttons(
    org, db, clock, fake
):
    ids_by_key = assignment_ids(db, "a1@x.io")
    with db.session() as session:
        session.execute(
            update(Assignment)
            .where(Assignment.id == ids_by_key["intro"])
            .values(status=AssignmentStatus.COMPLETED, completed_at=clock.now())
        )
    view = open_home(db, clock, fake, "U0A1")
    text = text_of(view)
    assert view["type"] == "home"
    assert "*First 30 days*\\n▓▓▓░░░░░░░ 33% · 1 of 3 required items done" in text
    assert "*Proficient*\\nstarts Thu 5 Mar" in text
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    safety = blocks[ids.item_actions_block_id(ids_by_key["safety"])]["elements"]
    assert [(e["action_id"], e.get("value")) for e in safety] == [
        (ids.DIGEST_DONE, ids.assignment_value(ids_by_key["safety"])),
        (ids.DIGEST_SNOOZE, None),
        (ids.DIGEST_OPEN, ids.assignment_value(ids_by_key["safety"])),
        # overdue and required: the learner can ask their manager for more time
        (ids.DIGEST_REQUEST_EXTENSION, ids.assignment_value(ids_by_key["safety"])),
    ]
    assert safety[1]["options"][0]["value"] == ids.snooze_value(ids_by_key["safety"], "1d")
    assert safety[2]["url"] == "https://lms.example.com/safety"
    assert "working days overdue" in text
    assert ids.item_block_id(ids_by_key["intro"]) not in blocks  # done: no buttons
    assert "My team" not in text and "Program overview" not in text


def test_snoozed_items_and_away_status_are_shown(org, db, clock, fake):
    ids_by_key = assignment_ids(db, "a1@x.io")
    with db.session() as session:
        session.execute(
            update(Assignment)
            .where(Assignment.id == ids_by_key["shadow"])
            .values(snoozed_until=datetime(2026, 3, 5, 0, 0, tzinfo=UTC))
        )
        session.execute(
            update(Person).where(Person.email == "a1@x.io").values(away_until=date(2026, 3, 10))
        )
    text = text_of(open_home(db, clock, fake, "U0A1"))
    assert "*Snoozed*\\n• Shadow a colleague — back on Thu 5 Mar" in text
    assert "You're away until Tue 10 Mar" in text
    assert ids.item_block_id(ids_by_key["shadow"]) not in text  # no buttons while snoozed


def test_certifications_show_none_held_and_what_the_person_works_towards(org, db, clock, fake):
    text = text_of(open_home(db, clock, fake, "U0A1"))
    assert "No certifications yet." in text
    assert "Safe Worker: 0 of 2 requirements met" in text


def test_a_person_without_a_role_is_told_an_admin_will_set_one(org, db, clock, fake):
    with db.session() as session:
        session.execute(update(Person).where(Person.email == "solo@x.io").values(role=""))
    text = text_of(open_home(db, clock, fake, "U0SOLO", admins=()))
    assert "You don't have a learning path yet" in text


def test_someone_learnbot_does_not_know_gets_a_welcome(org, db, clock, fake):
    text = text_of(open_home(db, clock, fake, "U0STRANGER"))
    assert "Welcome to learnbot" in text and "not enrolled yet" in text


def test_a_switched_off_person_is_told_so(org, db, clock, fake):
    with db.session() as session:
        session.execute(update(Person).where(Person.email == "a1@x.io").values(active=False))
    assert "switched off" in text_of(open_home(db, clock, fake, "U0A1"))


def test_the_messages_tab_publishes_nothing(org, db, clock, fake):
    app = build_app(settings_for(fake), database=db, clock=clock, process_before_response=True)
    requests = SlackRequests(app, signing_secret=SECRET)
    requests.event({"type": "app_home_opened", "user": "U0A1", "tab": "messages"})
    requests.event({"type": "app_home_opened", "user": "U0A2", "tab": "home"})
    fake.wait_for_calls("views.publish", where=lambda c: c.body.get("user_id") == "U0A2")
    assert fake.home_view("U0A1") is None


def test_publish_home_takes_a_person_too(org, db, clock, fake):
    ctx = HandlerContext(database=db, clock=clock, settings=settings_for(fake))
    app = build_app(settings_for(fake), database=db, clock=clock)
    with db.session() as session:
        ann = session.scalars(select(Person).where(Person.email == "a1@x.io")).one()
    assert publish_home(app.client, ctx, ann)
    assert fake.home_view("U0A1") is not None


# --- managers: only their own reporting chain --------------------------------------------


def team_names(view: dict) -> str:
    [team] = [
        b for b in view["blocks"] if b["type"] == "section" and "*Most overdue*" in json.dumps(b)
    ]
    return team["text"]["text"]


def test_a_manager_sees_only_their_own_reports(org, db, clock, fake):
    view = open_home(db, clock, fake, "U0M1")
    text = text_of(view)
    assert "My team" in text and "*People*\\n2" in text
    names = team_names(view)
    assert "Ann Able" in names and "Abe Baker" in names
    assert "Ben Cole" not in text and "Max Manager" not in text and "Bo Boss" not in names


def test_a_second_manager_sees_only_theirs(org, db, clock, fake):
    view = open_home(db, clock, fake, "U0M2")
    names = team_names(view)
    assert "Ben Cole" in names
    assert "Ann Able" not in text_of(view) and "Abe Baker" not in text_of(view)


def test_a_skip_level_manager_sees_the_whole_chain_below_them(org, db, clock, fake):
    view = open_home(db, clock, fake, "U0BOSS")
    assert "*People*\\n5" in text_of(view)
    names = team_names(view)
    for name in ("Mia Manager", "Max Manager", "Ann Able", "Abe Baker", "Ben Cole"):
        assert name in names
    assert "Sol Solo" not in text_of(view)


def test_someone_without_reports_has_no_team_section(org, db, clock, fake):
    assert "My team" not in text_of(open_home(db, clock, fake, "U0B1"))


def test_a_deactivated_report_drops_out_of_the_team(org, db, clock, fake):
    with db.session() as session:
        session.execute(update(Person).where(Person.email == "a2@x.io").values(active=False))
    view = open_home(db, clock, fake, "U0M1")
    assert "*People*\\n1" in text_of(view)
    assert "Abe Baker" not in text_of(view)


def test_team_summary_counts_required_items_and_orders_the_most_overdue_first(org, db, clock):
    ids_by_key = assignment_ids(db, "a2@x.io")
    with db.session() as session:
        # Abe finishes one item and has another waived: fewer overdue, not in the percent.
        session.execute(
            update(Assignment)
            .where(Assignment.id == ids_by_key["intro"])
            .values(status=AssignmentStatus.COMPLETED)
        )
        session.execute(
            update(Assignment)
            .where(Assignment.id == ids_by_key["safety"])
            .values(status=AssignmentStatus.WAIVED)
        )
        people = dict(session.execute(select(Person.email, Person.id)).all())
        summary = team_summary(
            session, person_ids=[people["a1@x.io"], people["a2@x.io"]], clock=clock
        )
    assert (summary.people, summary.done, summary.overdue, summary.waived) == (2, 1, 4, 1)
    assert summary.people_overdue == 2
    assert [p.name for p in summary.most_overdue] == ["Ann Able", "Abe Baker"]
    assert [p.overdue_items for p in summary.most_overdue] == [3, 1]
    assert summary.percent == pytest.approx(100 * 1 / 5)


# --- admins ---------------------------------------------------------------------------------


def test_an_admin_sees_the_program_overview(org, db, clock, fake):
    text = text_of(open_home(db, clock, fake, "U0SOLO"))
    assert "Program overview" in text and "*People*\\n7" in text
    assert "Teams most behind" in text


def test_an_admin_listed_only_by_slack_id_sees_the_overview_under_the_welcome(org, db, clock, fake):
    text = text_of(open_home(db, clock, fake, "U0ROOT", admins=("u0root",)))
    assert "Welcome to learnbot" in text and "Program overview" in text


def test_people_who_are_not_admins_see_no_overview(org, db, clock, fake):
    assert "Program overview" not in text_of(open_home(db, clock, fake, "U0BOSS"))


# --- within the 100-block limit, whatever the size --------------------------------------------


def huge_page() -> HomePage:
    today = date(2026, 3, 2)
    long = "A very long title " * 30
    items = tuple(
        HomeItem(
            assignment_id=n,
            key=f"item-{n}",
            title=f"{long} {n} <&>",
            url=f"https://lms.example.com/{'x' * 4000}" if n % 7 == 0 else f"https://l.io/{n}",
            method="online",
            minutes=90,
            required=n % 3 != 0,
            due_date=today + timedelta(days=n - 100),
            overdue=n < 100 and n % 3 != 0,
            overdue_working_days=max(0, 100 - n),
            snoozed_until=datetime(2026, 3, 9, tzinfo=UTC) if n % 5 == 0 else None,
        )
        for n in range(200)
    )
    tiers = [
        TierLine(
            f"Tier {t} {long}",
            today,
            [ItemLine(f"i{t}", "t", "online", 5, True, "done", today) for _ in range(4)],
        )
        for t in range(40)
    ]
    status = PersonStatus(
        "p@x.io", "P", "engineer", long, "Web", None, "Europe/London", today, True,
        date(2026, 3, 20), tiers, [],
    )  # fmt: skip
    team = TeamSummary(
        people=5000,
        done=12_000,
        due=3_000,
        overdue=5_000,
        waived=10,
        people_overdue=4_000,
        most_overdue=tuple(
            OverduePerson(n, f"{long} {n}", f"p{n}@x.io", None, 7, today, 30) for n in range(10)
        ),
    )
    rows = [ReportRow(f"Team {n} {long}", 10, n, 10, 5) for n in range(1000)]
    program = CompletionReport(datetime(2026, 3, 2, tzinfo=UTC), rows, rows, ReportRow("all"))
    return HomePage(
        status=status,
        items=items,
        certifications=tuple(HeldCertification(f"Cert {n} {long}", today) for n in range(30)),
        goals=tuple(CertificationGoal(f"Goal {n} {long}", 1, 3) for n in range(40)),
        team=team,
        program=program,
    )


def test_a_huge_path_team_and_program_stay_within_the_view_limits():
    view = render_home(huge_page()).to_dict()
    assert view_problems(view) == []
    assert len(view["blocks"]) <= MAX_VIEW_BLOCKS
    text = text_of(view)
    shown = sum(1 for b in view["blocks"] if b["type"] == "actions")
    assert shown == MAX_ITEMS
    assert f"…and {160 - MAX_ITEMS} more open items" in text
    assert "…and 3,990 more people with overdue items" in text
    assert "…and 995 more teams" in text


def test_the_welcome_views_are_within_the_limits():
    for welcome in (Welcome(), Welcome(inactive=True), Welcome(program=huge_page().program)):
        assert view_problems(render_welcome(welcome).to_dict()) == []


def test_a_200_item_path_published_through_the_pipeline_fits(cli, write, db, clock, fake):
    items = "\n".join(
        f"  item-{n}:\n    title: Item number {n}\n    method: online\n"
        f"    url: https://lms.example.com/{n}\n    minutes: 10"
        for n in range(200)
    )
    entries = "\n".join(
        f"          - {{item: item-{n}, required: {str(n % 2 == 0).lower()}, due: {n % 20}}}"
        for n in range(200)
    )
    config = (
        "organisation:\n  name: Big Co\n  timezone: Europe/London\n"
        f"items:\n{items}\n"
        "programs:\n  engineer:\n    title: Engineer\n    tiers:\n"
        "      - key: all\n        title: Everything\n        starts_on_day: 0\n"
        f"        items:\n{entries}\n"
    )
    assert cli("load-config", write("big.yml", config)).code == 0
    people = people_csv("big@x.io,Big Path,,engineer,Web,2026-02-02,Europe/London,U0BIG")
    assert cli("import-people", write("people.csv", people)).code == 0
    view = open_home(db, clock, fake, "U0BIG")
    assert len(view["blocks"]) <= MAX_VIEW_BLOCKS
    assert "more open items" in text_of(view)


def test_a_manager_of_5000_people_gets_a_summary_in_a_few_grouped_queries(org, db, clock, fake):
    with db.session() as session:
        boss_id = session.scalars(select(Person.id).where(Person.email == "solo@x.io")).one()
        item_ids = dict(session.execute(select(Item.key, Item.id)).all())
        now = clock.now()
        session.execute(
            insert(Person),
            [
                {
                    "workspace_id": "default",
                    "email": f"r{n}@x.io",
                    "name": f"Report {n:04d}",
                    "manager_id": boss_id,
                    "role": "sales",
                    "team": f"Team {n % 50}",
                    "role_start_date": date(2026, 1, 5),
                    "timezone": "Europe/London" if n % 2 else "Asia/Kolkata",
                    "active": True,
                    "is_admin": False,
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(5000)
            ],
        )
        report_ids = list(
            session.scalars(
                select(Person.id).where(Person.manager_id == boss_id).order_by(Person.id)
            )
        )
        session.execute(
            insert(Assignment),
            [
                {
                    "person_id": person_id,
                    "item_id": item_ids[key],
                    "cycle": 0,
                    "required": True,
                    "status": status,
                    "assigned_at": now,
                    # Report 0 is the most overdue; the rest are a day apart.
                    "due_date": date(2026, 2, 27) - timedelta(days=min(n, 60) if n else 90)
                    if status == "open"
                    else date(2026, 2, 1),
                }
                for n, person_id in enumerate(report_ids)
                for key, status in (("intro", "completed"), ("sales-101", "open"))
            ],
        )
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        with db.session() as session:
            summary = team_summary(session, person_ids=report_ids, clock=clock)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert (summary.people, summary.done, summary.overdue, summary.people_overdue) == (
        5000,
        5000,
        5000,
        5000,
    )
    assert summary.most_overdue[0].name == "Report 0000"
    assert len(summary.most_overdue) == 10
    assert len(statements) <= 6  # settings, zones, and four grouped queries for 5,000 ids
    view = open_home(db, clock, fake, "U0SOLO")
    assert len(view["blocks"]) <= MAX_VIEW_BLOCKS
    assert "*People*\\n5,000" in text_of(view)
    assert "…and 4,990 more people with overdue items" in text_of(view)


def test_home_for_gives_the_facts_without_slack(org, db, clock):
    with db.session() as session:
        page = home_for(session, caller=caller(session, "U0M1", admins=()), clock=clock)
    assert isinstance(page, HomePage)
    assert page.team is not None and page.team.people == 2
    assert page.program is None
    assert [item.key for item in page.items][:2] == ["intro", "safety"]
