"""Limits hold when requests arrive at once, on SQLite and on PostgreSQL (issue 14, item 5).

Each test releases its requests together from a barrier, in threads, and then counts
what was stored and what reached the fake Slack. The kudos requests go through Bolt's
real signed pipeline (``/learn kudos`` and the Give-kudos form mixed); the mentor and
extension requests are concurrent units of work calling the domain, as the listeners do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, TypeVar

import pytest
from alembic import command
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from learning import mentoring
from learning.actions import unit_of_work
from learning.extensions import AlreadyRequested, request_extension
from learning.locks import take_write_lock
from learning.paths import current_settings
from models import (
    Certification,
    CertificationAward,
    ExtensionRequest,
    ExtensionStatus,
    Kudos,
    MentorPairing,
    OutboxMessage,
    Person,
)
from models.db import alembic_config, open_database
from platforms.slack.identity import admin_list
from platforms.slack.render import ids
from tests.chat_support import assignment
from tests.fakes.slack_api import FakeSlack
from tests.helpers import people_csv
from tests.outbox_support import make_sender
from tests.test_kudos_shortcut import BOBS_MESSAGE, KudosShortcut
from tests.test_kudos_shortcut import PEOPLE as KUDOS_PEOPLE
from tests.test_kudos_shortcut import PROGRAMS as KUDOS_PROGRAMS
from tests.test_kudos_shortcut import START as KUDOS_START
from tests.test_learn_command import make_learn, said
from tests.test_mentoring import PROGRAMS as MENTOR_PROGRAMS
from tests.test_mentoring import TUESDAY

T = TypeVar("T")
AT_ONCE = 12
BOUND_SECONDS = 120.0  # a bound for a hung thread, never a wait for something to happen


def at_once(calls: list[Callable[[], T]]) -> list[T | BaseException]:
    """Run ``calls`` in threads released together; each result, or what it raised."""
    barrier = threading.Barrier(len(calls))
    results: list[T | BaseException] = [RuntimeError("did not run")] * len(calls)

    def run(index: int, call: Callable[[], T]) -> None:
        barrier.wait(timeout=BOUND_SECONDS)
        try:
            results[index] = call()
        except BaseException as error:  # reported to the test, not lost in the thread
            results[index] = error

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=BOUND_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "a request never finished"
    return results


def count(db, model: Any, *where: Any) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


# --- kudos: the daily quota ---------------------------------------------------------------


@pytest.fixture
def kudo(db, clock, cli, write, fake) -> KudosShortcut:
    clock.set(KUDOS_START)
    programs = write("programs.yml", KUDOS_PROGRAMS)  # daily quota 3, "#wins"
    assert cli("load-config", programs).code == 0
    assert cli("import-people", write("people.csv", people_csv(*KUDOS_PEOPLE))).code == 0
    learn = make_learn(db, clock, cli, fake, programs_file=programs)
    return KudosShortcut(learn, learn.requests, fake)


@pytest.fixture
def fake(clock):
    with FakeSlack(time_source=lambda: clock.now().timestamp()) as server:
        yield server


def open_kudos_forms(kudo: KudosShortcut, user_id: str, n: int) -> list[dict[str, Any]]:
    """``n`` Give-kudos forms opened by ``user_id`` one after the other (not yet sent)."""
    forms = []
    for _ in range(n):
        kudo.fake.clear_calls()
        assert kudo.shortcut(user_id, BOBS_MESSAGE).status == 200
        forms.append(kudo.opened())
    return forms


def submit_form(kudo: KudosShortcut, user_id: str, form: dict[str, Any], reason: str) -> str:
    response = kudo.requests.view_submission(
        user_id=user_id,
        callback_id=form["callback_id"],
        private_metadata=form["private_metadata"],
        values={
            ids.KUDOS_RECIPIENT_BLOCK: {
                ids.KUDOS_RECIPIENT_ACTION: {"type": "users_select", "selected_user": "UBOB"}
            },
            ids.KUDOS_REASON_BLOCK: {
                ids.KUDOS_REASON_ACTION: {"type": "plain_text_input", "value": reason}
            },
        },
    )
    assert response.status == 200, response.body
    return response.body


def test_twelve_kudos_at_once_store_and_post_exactly_the_daily_quota(kudo, db, fake, clock):
    forms = open_kudos_forms(kudo, "UANN", AT_ONCE // 2)
    commands = [
        (lambda n=n: said(kudo.requests.command(f"kudos <@UBOB> for race {n}", user_id="UANN")))
        for n in range(AT_ONCE // 2)
    ]
    submissions = [
        (lambda form=form, n=n: submit_form(kudo, "UANN", form, f"form race {n}"))
        for n, form in enumerate(forms)
    ]

    answers = at_once(commands + submissions)

    assert not [a for a in answers if isinstance(a, BaseException)], answers
    assert (
        sum("Kudos sent" in a for a in answers[: AT_ONCE // 2])
        + sum('"update"' in a for a in answers[AT_ONCE // 2 :])
        == 3
    )
    assert sum("You have given your 3 kudos for today" in a for a in answers) == AT_ONCE - 3
    assert count(db, Kudos) == 3
    make_sender(db, fake, clock).drain()
    assert len(fake.messages("#wins")) == 3
    assert len(fake.messages("UBOB")) == 3


# --- mentors: the weekly cap, and a double click --------------------------------------------

LEARNERS = [f"l{n:02d}@m.io" for n in range(AT_ONCE)]
MENTOR_PEOPLE = (
    "max@m.io,Max Manager,,engineer,Ops,2026-03-02,Europe/London,UMAX",
    "cat@m.io,Cat London,,engineer,Web,2026-03-02,Europe/London,UCAT",
    "ola@m.io,Ola Helper,,engineer,Web,2026-03-02,Europe/London,UOLA",
    *(
        f"{email},Learner {n:02d},max@m.io,engineer,Ops,2026-03-02,Europe/London,UL{n:02d}"
        for n, email in enumerate(LEARNERS)
    ),
)


@pytest.fixture
def mentors(cli, write, clock, db):
    """Twelve learners, and Cat and Ola who hold Safe Deployer (weekly cap 2 each)."""
    clock.set(TUESDAY)
    assert cli("load-config", write("programs.yml", MENTOR_PROGRAMS)).code == 0
    assert cli("import-people", write("people.csv", people_csv(*MENTOR_PEOPLE))).code == 0
    with db.session() as session:
        cert_id = session.scalars(select(Certification.id)).one()
        for email in ("cat@m.io", "ola@m.io"):
            session.add(
                CertificationAward(
                    person_id=session.scalars(select(Person.id).where(Person.email == email)).one(),
                    certification_id=cert_id,
                    awarded_at=clock.now() - timedelta(days=7),
                    expires_at=clock.now() + timedelta(days=365),
                )
            )
        settings = current_settings(session)
    assert settings.mentoring.weekly_cap == 2


def find_mentor(db, clock, email: str, assignment_id: int) -> mentoring.MentorResult:
    with unit_of_work(db) as session:
        settings = current_settings(session)
        learner = session.scalars(select(Person).where(Person.email == email)).one()
        return mentoring.find_mentor(
            session, learner=learner, assignment_id=assignment_id, clock=clock, settings=settings
        )


def test_twelve_learners_at_once_never_push_a_mentor_past_the_weekly_cap(mentors, db, clock):
    asks = [
        (lambda e=e, a=assignment(db, e, "deploy").id: find_mentor(db, clock, e, a))
        for e in LEARNERS
    ]

    results = at_once(asks)

    assert not [r for r in results if isinstance(r, BaseException)], results
    with db.session() as session:
        by_mentor = dict(
            session.execute(
                select(Person.email, func.count())
                .join(MentorPairing, MentorPairing.mentor_id == Person.id)
                .group_by(Person.email)
            ).all()
        )
    assert by_mentor == {"cat@m.io": 2, "ola@m.io": 2}
    assert sum(isinstance(r, mentoring.NoMentorFound) for r in results) == AT_ONCE - 4


def test_twelve_clicks_of_one_learner_at_once_make_one_pairing(mentors, db, clock):
    learner = LEARNERS[0]
    deploy = assignment(db, learner, "deploy").id

    results = at_once([lambda: find_mentor(db, clock, learner, deploy)] * AT_ONCE)

    assert not [r for r in results if isinstance(r, BaseException)], results
    assert count(db, MentorPairing) == 1
    assert len({r.pairing_id for r in results}) == 1  # every click names the same pairing


# --- extension requests: one open request per item ------------------------------------------


def ask_for_time(db, clock, email: str, assignment_id: int, reason: str) -> Any:
    with unit_of_work(db) as session:
        learner = session.scalars(select(Person).where(Person.email == email)).one()
        return request_extension(
            session,
            learner=learner,
            assignment_id=assignment_id,
            proposed=date(2026, 3, 20),
            reason=reason,
            clock=clock,
            admins=admin_list(()),
        )


def test_twelve_extension_requests_at_once_store_one_and_ask_the_manager_once(mentors, db, clock):
    learner = LEARNERS[0]
    deploy = assignment(db, learner, "deploy").id

    results = at_once(
        [
            (lambda n=n: ask_for_time(db, clock, learner, deploy, f"on call, try {n}"))
            for n in range(AT_ONCE)
        ]
    )

    refused = [r for r in results if isinstance(r, AlreadyRequested)]
    stored = [r for r in results if not isinstance(r, BaseException)]
    assert (len(stored), len(refused)) == (1, AT_ONCE - 1), results
    assert count(db, ExtensionRequest, ExtensionRequest.status == ExtensionStatus.OPEN) == 1
    assert count(db, OutboxMessage, OutboxMessage.key.startswith("extension_request:")) == 1


def test_the_database_refuses_a_second_open_request_on_an_item(mentors, db, clock):
    """The partial unique index, for any writer that skips the lock."""
    learner_id = assignment(db, LEARNERS[0], "deploy").person_id
    deploy = assignment(db, LEARNERS[0], "deploy").id

    def open_request() -> ExtensionRequest:
        return ExtensionRequest(
            assignment_id=deploy,
            person_id=learner_id,
            proposed_due=date(2026, 3, 20),
            reason="x",
            requested_at=clock.now(),
            requested_on=clock.now().date(),
        )

    with db.session() as session:
        session.add(open_request())
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(open_request())
    with db.session() as session:  # a closed one next to the open one is fine
        session.add(
            ExtensionRequest(**{**open_request().model_dump(exclude={"id"}), "status": "declined"})
        )


# --- the lock itself -------------------------------------------------------------------------


def test_a_write_lock_on_sqlite_makes_a_second_writer_wait_until_commit(db):
    """While one unit holds ``take_write_lock``, another unit cannot even start its own."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL locks rows, not the database")
    holding, released = threading.Event(), threading.Event()
    order: list[str] = []

    def first() -> None:
        with db.session() as session:
            take_write_lock(session)
            holding.set()
            released.wait(BOUND_SECONDS)
            order.append("first commits")

    def second() -> None:
        holding.wait(BOUND_SECONDS)
        with db.session() as session:
            released.set()  # the first may commit only once we are about to wait
            take_write_lock(session)
            order.append("second has the lock")

    at_once([first, second])

    assert order == ["first commits", "second has the lock"]


def test_the_sqlite_driver_is_in_the_transaction_mode_the_lock_needs(db):
    with db.session() as session:
        take_write_lock(session)  # raises UnsupportedTransactionControl otherwise
        session.execute(text("SELECT 1"))


def test_upgrading_closes_all_but_the_first_of_two_open_requests(tmp_path):
    database = open_database(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(alembic_config(database.engine), "0008")
    with database.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO person (id, workspace_id, email, name, role, team, role_start_date, "
            "active, is_admin, created_at, updated_at) VALUES (1, 'default', 'a@x.io', 'Ann', "
            "'engineer', '', '2026-03-02', 1, 0, '2026-03-02 09:00:00', '2026-03-02 09:00:00')"
        )
        conn.exec_driver_sql(
            "INSERT INTO item (id, key, title, method, minutes, active) "
            "VALUES (1, 'intro', 'Intro', 'reading', 10, 1)"
        )
        conn.exec_driver_sql(
            "INSERT INTO assignment (id, person_id, item_id, cycle, required, status, "
            "assigned_at, due_date) VALUES (1, 1, 1, 0, 1, 'open', '2026-03-02 09:00:00', "
            "'2026-03-04')"
        )
        for request_id in (1, 2):
            conn.exec_driver_sql(
                "INSERT INTO extension_request (id, assignment_id, person_id, proposed_due, "
                "reason, status, requested_at, requested_on) VALUES "
                f"({request_id}, 1, 1, '2026-03-20', 'busy', 'open', "
                "'2026-03-03 09:00:00', '2026-03-03')"
            )

    database.upgrade()

    with database.session() as session:
        requests = list(session.scalars(select(ExtensionRequest).order_by(ExtensionRequest.id)))
    assert [(r.id, r.status) for r in requests] == [(1, "open"), (2, "expired")]
    assert requests[1].decided_by == "learnbot"
    assert "second open request" in (requests[1].decision_note or "")
