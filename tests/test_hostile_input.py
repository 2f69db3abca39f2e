"""Hostile input: buttons, modals, CSV and YAML files that Slack or a person could send.

Property-based (hypothesis) tests through the real parts: signed requests through Bolt's
real pipeline (``process_before_response=True``, so a listener's exception is the HTTP
500 Slack would see), the real ``slack_sdk`` client against the fake Slack server, and
the real CLI commands on the test's database and frozen clock. Each property says: never
an HTTP 500 or a traceback, nothing half-written, and a clear message naming what was
wrong. Slash-command text is covered in ``tests/test_learn_command.py``.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import json
import logging
import math
import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from slack_bolt import App, BoltRequest
from sqlalchemy import func, select
from sqlmodel import SQLModel

from learning.accounts import user_ids_of
from learning.curriculum import load_curriculum
from learning.periods import later
from learning.plain_text import multiline
from logs import configure_logging, remove_logging
from models import (
    Assignment,
    AssignmentStatus,
    CompletionEvent,
    ExtensionRequest,
    Item,
    ItemFeedback,
    Kudos,
    OutboxMessage,
    Person,
)
from models.db import Database
from platforms.slack.listeners.replies import MAX_ID
from platforms.slack.render import extensions as extension_views
from platforms.slack.render import ids
from platforms.slack.render import members as member_views
from server.app import build_app
from settings import Settings
from tests.chat_support import SECRET, SEND_AT, send_digests, setup_org
from tests.conftest import BOOKKEEPING, EXAMPLES, ON_POSTGRES
from tests.fakes.bolt_requests import SlackRequests
from tests.fakes.slack_api import TEAM_ID, FakeSlack
from tests.helpers import PEOPLE_HEADER, PROGRAMS, slack_settings
from tests.outbox_support import make_sender

# Tuesday 10 March 2026, 10:00 in London: Dan's and Ben's first-week items are overdue.
TUESDAY = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
RESPOND = "respond.actions"  # the fake Slack "method" a response_url points at
DM_TS = "1772445600.000100"
STRANGER = "U0STRANGER"


HYPOTHESIS = functools.partial(
    settings,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# What a person may read: no traceback, no Python repr, no exception class, short.
UNCLEAR = re.compile(
    r"Traceback|File \"|\b[A-Z]\w*(Error|Exception)\b|object at 0x|\{'|\['|\('|\bNone\b"
)
QUOTED = re.compile(r"'[^'\n]*'|“[^”]*”|\"[^\"\n]*\"")  # what the person typed, echoed


def assert_clear(text: str) -> None:
    assert text.strip(), "an empty message"
    assert len(text) <= 1000, f"a message of {len(text)} characters"
    assert not UNCLEAR.search(QUOTED.sub("''", text)), f"not a clear message: {text!r}"


# --- shared: the org, Bolt, the database -------------------------------------------------


class Requests(SlackRequests):
    """Signed requests whose ``response_url`` points at the fake Slack server, so what
    ``respond`` says is recorded like any other call."""

    def __init__(self, app: App, *, response_url: str, signing_secret: str = SECRET) -> None:
        super().__init__(app, signing_secret=signing_secret)
        self.response_url = response_url

    def interaction(self, payload: dict[str, Any]) -> Any:
        if "response_url" in payload:
            payload = {**payload, "response_url": self.response_url}
        return super().interaction(payload)


class Tables:
    """Every row of every table, for before/after comparisons inside a hypothesis loop
    (plain ``SELECT *`` per table: reflecting or compiling each time would be slow)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.names = [
            table.name for table in SQLModel.metadata.sorted_tables if table.name not in BOOKKEEPING
        ]

    def snapshot(self, *, without: tuple[str, ...] = ()) -> dict[str, list[tuple[Any, ...]]]:
        result = {}
        with self.db.engine.connect() as conn:
            for name in self.names:
                if name not in without:
                    rows = conn.exec_driver_sql(f'SELECT * FROM "{name}"').all()
                    result[name] = sorted(tuple(map(repr, row)) for row in rows)
        return result


@pytest.fixture
def tables(db) -> Tables:
    return Tables(db)


@pytest.fixture
def fake(clock):
    with FakeSlack(time_source=lambda: clock.now().timestamp()) as server:
        server.respond(RESPOND, {"ok": True})
        yield server


@pytest.fixture
def slack(db, clock, fake) -> Requests:
    settings_ = slack_settings(fake.base_url, signing_secret=SECRET)
    app = build_app(settings_, database=db, clock=clock, process_before_response=True)
    return Requests(app, response_url=fake.base_url + RESPOND)


def people(db: Database) -> dict[str, Person]:
    """Everyone, by Slack user id."""
    with db.session() as session:
        ids = user_ids_of(session, session.scalars(select(Person.id)), "slack")
        return {ids[p.id]: p for p in session.scalars(select(Person)) if p.id in ids}


def assignments(db: Database) -> list[Assignment]:
    with db.session() as session:
        return list(session.scalars(select(Assignment).order_by(Assignment.id)))


def extension_requests(db: Database) -> list[ExtensionRequest]:
    with db.session() as session:
        return list(session.scalars(select(ExtensionRequest).order_by(ExtensionRequest.id)))


def form(due: str | None, reason: str | None) -> dict[str, Any]:
    return {
        extension_views.DUE_BLOCK: {
            extension_views.DUE_ACTION: {"type": "datepicker", "selected_date": due}
        },
        extension_views.REASON_BLOCK: {
            extension_views.REASON_ACTION: {"type": "plain_text_input", "value": reason}
        },
    }


def ask_for_time(slack: Requests, fake: FakeSlack, user_id: str, assignment_id: int) -> None:
    """A learner asks for more time on an overdue item, through the real modal."""
    click = {
        "type": "button",
        "action_id": ids.DIGEST_REQUEST_EXTENSION,
        "value": str(assignment_id),
    }
    slack.interaction(click_payload(user_id, click, "dm"))
    view = fake.calls_to("views.open")[-1].body["view"]
    response = slack.view_submission(
        user_id=user_id,
        callback_id=ids.EXTENSION_REQUEST_MODAL,
        values=form("2026-03-20", "Release week"),
        private_metadata=view["private_metadata"],
    )
    assert (response.status, response.body) == (200, "")


@pytest.fixture
def org(cli, write, clock, db, fake, slack) -> dict[str, Any]:
    """The chat_support org with Monday's digests sent; on Tuesday 10 March Dan and Ben
    (Ana manages Dan, Max manages Ben) each asked for more time on safety training."""
    setup_org(cli, write, clock)
    send_digests(db, fake, clock)
    clock.set(TUESDAY)
    by_slack = people(db)
    safety = {a.person_id: a.id for a in assignments(db) if a.item_id == _item_id(db, "safety")}
    ask_for_time(slack, fake, "U0DAN", safety[by_slack["U0DAN"].id])
    ask_for_time(slack, fake, "U0BEN", safety[by_slack["U0BEN"].id])
    make_sender(db, fake, clock).drain()
    assert len(extension_requests(db)) == 2
    fake.clear_calls()
    own: dict[str, list[int]] = defaultdict(list)
    slack_of = {p.id: slack_id for slack_id, p in by_slack.items()}
    for a in assignments(db):
        own[slack_of[a.person_id]].append(a.id)
    return {
        "people": by_slack,
        "own": own,
        "known": [a.id for a in assignments(db)] + [r.id for r in extension_requests(db)],
    }


def _item_id(db: Database, key: str) -> int:
    with db.session() as session:
        return session.scalars(select(Item.id).where(Item.key == key)).one()


def new_calls(fake: FakeSlack, mark: int) -> list[Any]:
    return [c for c in fake.calls[mark:] if c.method != "auth.test"]


def told(fake: FakeSlack, mark: int, user_id: str, *, updates: bool = False) -> list[str]:
    """What ``user_id`` was told since ``mark``: the text of each private message.

    Fails on anything else sent since: a message to someone else, a public one, an
    opened modal, or (unless ``updates``) an updated message. The person's own App Home
    may be refreshed.
    """
    texts = []
    for call in new_calls(fake, mark):
        body = call.body
        if call.method == "chat.postEphemeral":
            assert body["user"] == user_id
        elif call.method == "chat.postMessage":
            assert body["channel"] == user_id, f"a message to {body['channel']}"
        elif call.method == RESPOND:
            assert body.get("response_type") == "ephemeral"
            assert str(body.get("replace_original")).lower() == "false"
        elif call.method == "views.publish":
            assert body["user_id"] == user_id
            continue
        elif call.method == "chat.update" and updates:
            continue
        else:
            pytest.fail(f"unexpected {call.method}: {body}")
        texts.append(str(body.get("text") or ""))
    return texts


def as_id(text: str) -> int | None:
    """The id a listener would read from ``text`` (``int()`` accepts " +1_0 " too)."""
    try:
        return int(text)
    except ValueError:
        return None


# --- 1. buttons --------------------------------------------------------------------------

# Every action_id learnbot registers, checked against the app below.
ACTION_IDS = (
    ids.DIGEST_DONE,
    ids.DIGEST_SNOOZE,
    ids.DIGEST_OPEN,
    ids.DIGEST_REQUEST_EXTENSION,
    ids.DIGEST_FIND_MENTOR,
    ids.ESCALATION_REMIND,
    ids.ESCALATION_EXTEND,
    ids.ESCALATION_EXCUSE,
    ids.EXTENSION_APPROVE,
    ids.EXTENSION_DECLINE,
    ids.PEER_CAN_HELP,
    ids.PEER_LEARNING,
    member_views.ASSIGN_ROLE_ACTION,
)
OWN_ITEM = {
    ids.DIGEST_DONE,
    ids.DIGEST_SNOOZE,
    ids.DIGEST_REQUEST_EXTENSION,
    ids.DIGEST_FIND_MENTOR,
}
MANAGERS_ITEM = {ids.ESCALATION_REMIND, ids.ESCALATION_EXTEND, ids.ESCALATION_EXCUSE}
DECISION = {ids.EXTENSION_APPROVE, ids.EXTENSION_DECLINE}
CALLBACK_IDS = (
    ids.DONE_MODAL,
    ids.EXTEND_MODAL,
    ids.EXCUSE_MODAL,
    ids.EXTENSION_REQUEST_MODAL,
    ids.KUDOS_MODAL,
    member_views.ASSIGN_ROLE_CALLBACK,
)
# Ana manages Dan; Ben, Cat and Dan manage nobody; the stranger is not in learnbot.
CLICKERS = ("U0ANA", "U0BEN", "U0CAT", "U0DAN", STRANGER)
REPORTS = {"U0ANA": {"U0DAN"}}
CONTAINERS = ("dm", "home", "none", "no channel", "no message", "no response_url")

ODD_VALUES = (
    *("", " ", "abc", "None", "null", "[]", "{}", "1e3", "0x10", "1.0", "NaN", "-0", "+1"),
    *("1_0", "٣", "１", "\x00", "1\x00", "💥" * 50),
    "9" * 4301,  # over Python's int() digit limit
    *(str(2**31), str(2**63), str(2**64 + 7), str(10**40)),  # over INTEGER and BIGINT
)


def hostile_ids(known: list[int]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(known).map(str),
        st.integers(min_value=-(2**70), max_value=0).map(str),
        st.integers(min_value=10**6, max_value=10**40).map(str),
        st.integers(min_value=2**31 - 2, max_value=2**31 + 2).map(str),
        st.sampled_from(ODD_VALUES),
        st.text(max_size=40),
        st.text(min_size=2000, max_size=4000),
    )


def registered_interactions(db, clock, fake, monkeypatch) -> dict[str, set[str]]:
    """The action_ids and callback_ids the app's listeners register."""
    seen: dict[str, set[str]] = defaultdict(set)
    for kind in ("action", "view"):
        original = getattr(App, kind)

        def recording(self, constraint, *args, _kind=kind, _original=original, **kwargs):
            seen[_kind].add(constraint if isinstance(constraint, str) else repr(constraint))
            return _original(self, constraint, *args, **kwargs)

        monkeypatch.setattr(App, kind, recording)
    settings_ = slack_settings(fake.base_url, signing_secret=SECRET)
    build_app(settings_, database=db, clock=clock)
    return seen


def test_the_hostile_tests_cover_every_button_and_modal(db, clock, fake, monkeypatch):
    seen = registered_interactions(db, clock, fake, monkeypatch)
    assert seen["action"] == set(ACTION_IDS)
    assert seen["view"] == set(CALLBACK_IDS)


def click_payload(
    user_id: str, action: dict[str, Any], container: str, *, ts: str = DM_TS
) -> dict[str, Any]:
    channel = f"D{user_id[1:]}"
    message = {"type": "message", "ts": ts, "text": "Your learning"}
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user_id, "team_id": TEAM_ID},
        "actions": [{"action_ts": "1773136800.000001", "block_id": "b", **action}],
        "response_url": "set by Requests",
    }
    if container in ("dm", "no response_url"):
        payload["container"] = {"type": "message", "message_ts": ts, "channel_id": channel}
        payload["channel"] = {"id": channel}
        payload["message"] = message
    elif container == "home":
        payload["container"] = {"type": "view", "view_id": "V0HOME"}
        payload["view"] = {"id": "V0HOME", "type": "home"}
    elif container == "no channel":
        payload["container"] = {"type": "message", "message_ts": ts}
        payload["message"] = message
    elif container == "no message":
        payload["container"] = {"type": "message", "channel_id": channel}
        payload["channel"] = {"id": channel}
    if container == "no response_url":
        del payload["response_url"]
    return payload


def actionable(org: dict[str, Any], db: Database, user_id: str, action_id: str, target: int):
    """Whether ``user_id`` may really act on ``target`` with ``action_id``."""
    person = org["people"].get(user_id)
    if person is None:
        return False
    if action_id in OWN_ITEM:
        return any(a.id == target and a.person_id == person.id for a in assignments(db))
    if action_id in MANAGERS_ITEM:
        reports = {org["people"][r].id for r in REPORTS.get(user_id, ())}
        return any(a.id == target and a.person_id in reports for a in assignments(db))
    if action_id in DECISION:
        return any(r.id == target and r.approver_id == person.id for r in extension_requests(db))
    # Peer prompts: there are none, so every id is unknown. Assigning a role takes an
    # admin, and this app has none.
    return False


@HYPOTHESIS(max_examples=120)
@given(data=st.data())
def test_hostile_button_clicks_change_nothing_and_get_a_clear_private_answer(
    org, slack, fake, db, tables, data
):
    known = org["known"]
    action_id = data.draw(st.sampled_from(ACTION_IDS), label="action_id")
    user_id = data.draw(st.sampled_from(CLICKERS), label="user")
    container = data.draw(st.sampled_from(CONTAINERS), label="container")
    value = data.draw(hostile_ids(known), label="value")
    if action_id == ids.DIGEST_SNOOZE:
        choice = data.draw(st.sampled_from(["1d", "3d", "1w", "2y", "", ":1d"]), label="choice")
        option = data.draw(
            st.sampled_from(["option", "no option", "null option"]), label="selected_option"
        )
        selected = {"value": f"{value}:{choice}", "text": {"type": "plain_text", "text": "x"}}
        action = {
            "type": "static_select",
            "action_id": action_id,
            **({"selected_option": selected} if option == "option" else {}),
            **({"selected_option": None} if option == "null option" else {}),
        }
        target = as_id(value) if option == "option" and choice in ids.SNOOZE_LABELS else None
    else:
        action = {"type": "button", "action_id": action_id, "value": value}
        target = as_id(value)
    assume(target is None or not actionable(org, db, user_id, action_id, target))
    before = tables.snapshot(without=("audit_log",))
    mark = len(fake.calls)

    response = slack.interaction(click_payload(user_id, action, container))

    assert response.status == 200, response.body
    assert tables.snapshot(without=("audit_log",)) == before
    answers = told(fake, mark, user_id)
    for text in answers:
        assert_clear(text)
    if action_id != ids.DIGEST_OPEN:
        assert answers, "the clicker was told nothing"


# --- 2. modal submissions ----------------------------------------------------------------

GARBAGE_METADATA = (
    *("", "null", "[]", "{}", "1", '"a"', "not json", "x" * 3000),
    *('{"a": "x"}', '{"a": null}', '{"a": true}', '{"a": [1]}', '{"a": {"b": 1}}'),
    *('{"a": 1e400}', '{"a": Infinity}', '{"a": NaN}', '{"a": -1}', '{"a": 0}'),
    *('{"a": 99999999999999999999999}', '{"a": "' + "9" * 4301 + '"}'),
    '{"a": 1, "c": ["C1"], "ts": {"x": 1}}',
)


def metadata_strategy(known: list[int]) -> st.SearchStrategy[str]:
    """Private metadata as learnbot writes it (for any id, in any conversation) or not."""
    written = st.builds(
        lambda a, c, ts: json.dumps({"a": a, "c": c, "ts": ts}),
        st.one_of(st.sampled_from(known), st.integers(-(2**70), 2**70)),
        st.sampled_from(["", "D0ANA", "C0ELSEWHERE", "U0BEN"]),
        st.sampled_from(["", DM_TS, "not-a-ts"]),
    )
    return st.one_of(written, written, st.sampled_from(GARBAGE_METADATA), st.text(max_size=80))


def drawer(data: Any, fields: tuple[str, ...]):
    """``draw(name, good, hostile)``: a good value, except for the (at most two) fields
    hypothesis picked to corrupt, so well-formed submissions are tried too."""
    corrupt = data.draw(st.sets(st.sampled_from(fields), max_size=2), label="corrupt")

    def draw(name: str, good: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]) -> Any:
        return data.draw(hostile if name in corrupt else good, label=name)

    return draw


def own_metadata(ids_: list[int]) -> st.SearchStrategy[str]:
    return st.sampled_from(ids_).map(lambda a: json.dumps({"a": a, "c": "", "ts": ""}))


def metadata_id(metadata: str) -> int | None:
    """The row id modal metadata names, read as learnbot reads it; None if it names none."""
    try:
        number = int(json.loads(metadata)["a"])
    except (ValueError, TypeError, KeyError, OverflowError):
        return None
    return number if 0 < number <= MAX_ID else None


def field_errors(response: Any) -> dict[str, str] | None:
    """The modal's field errors, or None when the submission was accepted (empty ack)."""
    assert response.status == 200, response.body
    if not response.body:
        return None
    answer = json.loads(response.body)
    assert answer["response_action"] == "errors", answer
    assert answer["errors"], "errors without a field"
    for message in answer["errors"].values():
        assert_clear(message)
    return answer["errors"]


SCORES = st.one_of(
    st.none(),
    st.sampled_from(
        (
            *("", "0", "100", "85", " 70 ", "50%", "101", "-1", "-0", "1e400", "nan", "inf"),
            *("abc", "1_0", "٣", "0x10", "99.5", "1e2", "100.0000001", "1e-400", "\x00"),
        )
    ),
    st.text(max_size=20),
)
EVIDENCE = st.one_of(
    st.none(),
    st.sampled_from(
        (
            *("", "https://lms.example.com/c/1", "http://x.io", "ftp://x.io/a", "not a link"),
            *("https://", "http://[", "http://[::1", "http://[v1.x]/", "https://ex ample.com"),
            *("https://x.io/" + "a" * 600, "javascript:alert(1)", "https://exa\x00mple.com"),
            *("https://例え.jp/", "http://\u2100.com", "http://a\uff03b.com", "https://x.io:99999"),
        )
    ),
    st.text(max_size=60),
)
RATINGS = st.one_of(st.none(), st.sampled_from(["1", "5", "3", "0", "6", "-1", "abc", "", "٣"]))
TEXTS = st.one_of(
    st.none(),
    st.text(max_size=60),
    st.text(min_size=490, max_size=520),
    st.text(min_size=990, max_size=1100),
    st.sampled_from(["   ", "\x00", "a\x00b", "Fine", "<!channel> *bold*", "```x```"]),
)


def expected_done_errors(evidence, score, rating, comment) -> set[str]:
    """Form mistakes the Done modal must name, whatever else it names."""
    expected = set()
    typed = (score or "").strip()
    if typed:
        try:
            number = float(typed.rstrip("%"))
        except ValueError:
            number = math.nan
        if not 0 <= number <= 100:
            expected.add(ids.DONE_SCORE_BLOCK)
    link = (evidence or "").strip()
    if link and not re.match(r"https?://[^\s/]", link):
        expected.add(ids.DONE_EVIDENCE_BLOCK)
    if rating:
        try:
            ok = 1 <= int(rating) <= 5
        except ValueError:
            ok = False
        if not ok:
            expected.add(ids.DONE_RATING_BLOCK)
    elif multiline(comment):
        expected.add(ids.DONE_RATING_BLOCK)
    # A comment is kept as plain words: control characters (NUL too) are removed, not
    # refused (they used to refuse the form).
    if len(multiline(comment)) > 1000:
        expected.add(ids.DONE_COMMENT_BLOCK)
    if "\x00" in link:
        expected.add(ids.DONE_EVIDENCE_BLOCK)
    return expected


def done_values(evidence, score, rating, comment) -> dict[str, Any]:
    return {
        ids.DONE_EVIDENCE_BLOCK: {
            ids.DONE_EVIDENCE_ACTION: {"type": "url_text_input", "value": evidence}
        },
        ids.DONE_SCORE_BLOCK: {ids.DONE_SCORE_ACTION: {"type": "number_input", "value": score}},
        ids.DONE_RATING_BLOCK: {
            ids.DONE_RATING_ACTION: {
                "type": "radio_buttons",
                "selected_option": None if rating is None else {"value": rating},
            }
        },
        ids.DONE_COMMENT_BLOCK: {
            ids.DONE_COMMENT_ACTION: {"type": "plain_text_input", "value": comment}
        },
    }


@HYPOTHESIS(max_examples=120)
@given(data=st.data())
def test_hostile_done_forms_are_refused_by_field_or_applied_whole(
    org, slack, fake, db, tables, data
):
    draw = drawer(data, ("user", "metadata", "evidence", "score", "rating", "comment"))
    user_id = draw("user", st.just("U0ANA"), st.sampled_from(["U0BEN", STRANGER]))
    metadata = draw("metadata", own_metadata(org["own"]["U0ANA"]), metadata_strategy(org["known"]))
    evidence = draw(
        "evidence", st.sampled_from([None, "", "https://lms.example.com/c/1"]), EVIDENCE
    )
    score = draw("score", st.sampled_from([None, "", "85"]), SCORES)
    rating = draw("rating", st.sampled_from([None, "4"]), RATINGS)
    comment = draw("comment", st.sampled_from([None, "", "Short and useful"]), TEXTS)
    person = org["people"].get(user_id)
    target = next((a for a in assignments(db) if a.id == metadata_id(metadata)), None)
    mine = target is not None and person is not None and target.person_id == person.id
    before = tables.snapshot()
    mark = len(fake.calls)

    response = slack.view_submission(
        user_id=user_id,
        callback_id=ids.DONE_MODAL,
        values=done_values(evidence, score, rating, comment),
        private_metadata=metadata,
    )

    errors = field_errors(response)
    expected = expected_done_errors(evidence, score, rating, comment)
    if metadata_id(metadata) is None:  # not what learnbot wrote: nothing to act on
        assert errors is not None and "out of date" in errors[ids.DONE_EVIDENCE_BLOCK]
        expected = set()
    if errors is not None:
        event("done: refused in the modal")
        assert set(errors) <= {
            ids.DONE_EVIDENCE_BLOCK,
            ids.DONE_SCORE_BLOCK,
            ids.DONE_RATING_BLOCK,
            ids.DONE_COMMENT_BLOCK,
        }
        assert expected <= set(errors)
        assert tables.snapshot() == before
        assert new_calls(fake, mark) == []
        return
    assert not expected, f"accepted a form with mistakes in {expected}"
    answers = told(fake, mark, user_id, updates=mine)
    assert answers, "the person was told nothing"
    for text in answers:
        assert_clear(text)
    changed = {name for name, rows in tables.snapshot().items() if rows != before[name]}
    if not mine:
        event("done: refused")
        assert changed <= {"audit_log"}, f"{changed} changed for a form that is not theirs"
        return
    if target.status == AssignmentStatus.COMPLETED:  # a rating may still come later
        event("done: already done")
        assert changed <= {"audit_log", "item_feedback"}, changed
        return
    event("done: applied")
    # Applied: the completion, the score and link as checked, the rating with its comment.
    after = next(a for a in assignments(db) if a.id == target.id)
    assert after.status == AssignmentStatus.COMPLETED
    assert after.completion_source == "slack"
    assert after.score is None or (math.isfinite(after.score) and 0 <= after.score <= 100)
    assert after.evidence_url is None or re.match(r"https?://", after.evidence_url)
    with db.session() as session:
        events = session.scalar(
            select(func.count(CompletionEvent.id)).where(
                CompletionEvent.person_id == target.person_id,
                CompletionEvent.item_id == target.item_id,
            )
        )
        feedback = session.scalars(
            select(ItemFeedback).where(ItemFeedback.assignment_id == target.id)
        ).first()
    assert events == 1
    assert (feedback is not None) == bool(rating)


def expected_form_errors(callback_id: str, due: str | None, reason: str | None) -> set[str]:
    expected = set()
    if callback_id != ids.EXCUSE_MODAL:
        try:
            date.fromisoformat(due or "")
        except ValueError:
            expected.add(extension_views.DUE_BLOCK)
    why = " ".join((reason or "").split())
    if not why or len(why) > 500 or "\x00" in why:
        expected.add(extension_views.REASON_BLOCK)
    return expected


DUES = st.one_of(
    st.none(),
    st.sampled_from(
        (
            *("", "2026-03-20", "2026-03-11", "2026-03-10", "2026-03-09", "2027-03-10"),
            *("2027-03-11", "2026-02-30", "9999-12-31", "0001-01-01", "20260320", "2026-W12-5"),
            *("tomorrow", "２０２６-03-20", "2026-03-20T00:00", "\x00"),
        )
    ),
    st.dates().map(date.isoformat),
    st.text(max_size=20),
)


@HYPOTHESIS(max_examples=120)
@given(data=st.data())
def test_hostile_extension_forms_are_refused_by_field_or_applied_whole(
    org, slack, fake, db, tables, data
):
    callback_id = data.draw(
        st.sampled_from([ids.EXTEND_MODAL, ids.EXCUSE_MODAL, ids.EXTENSION_REQUEST_MODAL]),
        label="callback_id",
    )
    draw = drawer(data, ("user", "metadata", "due", "reason"))
    learner = callback_id == ids.EXTENSION_REQUEST_MODAL
    user_id = draw(
        "user",
        st.just("U0DAN" if learner else "U0ANA"),
        st.sampled_from(["U0ANA", "U0DAN", "U0CAT", STRANGER]),
    )
    metadata = draw("metadata", own_metadata(org["own"]["U0DAN"]), metadata_strategy(org["known"]))
    due = draw("due", st.sampled_from(["2026-03-20", "2026-04-01", "2026-05-04"]), DUES)
    reason = draw("reason", st.sampled_from(["Release week", "On leave"]), TEXTS)
    person = org["people"].get(user_id)
    target = next((a for a in assignments(db) if a.id == metadata_id(metadata)), None)
    before = tables.snapshot()
    mark = len(fake.calls)

    response = slack.view_submission(
        user_id=user_id,
        callback_id=callback_id,
        values=form(due, reason),
        private_metadata=metadata,
    )

    errors = field_errors(response)
    expected = expected_form_errors(callback_id, due, reason)
    if metadata_id(metadata) is None:  # not what learnbot wrote: nothing to act on
        assert errors is not None and "out of date" in errors[extension_views.REASON_BLOCK]
        expected = set()
    if errors is not None:
        event(f"{callback_id}: refused in the modal")
        assert set(errors) <= {extension_views.DUE_BLOCK, extension_views.REASON_BLOCK}
        assert expected <= set(errors)
        assert tables.snapshot() == before
        assert new_calls(fake, mark) == []
        return
    assert not expected, f"accepted a form with mistakes in {expected}"
    answers = told(fake, mark, user_id)
    assert answers, "the person was told nothing"
    for text in answers:
        assert_clear(text)
    changed = {name for name, rows in tables.snapshot().items() if rows != before[name]}
    if changed <= {"audit_log"}:
        event(f"{callback_id}: refused after the ack")
        return  # refused (and audited), or nothing to do
    event(f"{callback_id}: applied")
    # Applied: by someone allowed to, on an item that exists, all of it.
    assert target is not None and person is not None
    after = next(a for a in assignments(db) if a.id == target.id)
    if callback_id == ids.EXTEND_MODAL:
        assert org["people"]["U0DAN"].id == target.person_id and user_id == "U0ANA"
        assert after.due_date == date.fromisoformat(due)
    elif callback_id == ids.EXCUSE_MODAL:
        assert org["people"]["U0DAN"].id == target.person_id and user_id == "U0ANA"
        assert after.status == AssignmentStatus.WAIVED
        assert after.waived_reason == " ".join(reason.split())
    else:
        assert target.person_id == person.id
        [request] = [r for r in extension_requests(db) if r.assignment_id == target.id][-1:]
        assert (request.proposed_due, request.reason) == (
            date.fromisoformat(due),
            " ".join(reason.split()),
        )
    assert "outbox" in changed  # the other side is told, in the same transaction


def as_stored(reason: str | None) -> str:
    """A kudos reason as it is stored: one line, control characters as spaces."""
    return " ".join(re.sub(r"[\x00-\x1f\x7f-\x9f]", " ", reason or "").split())


@HYPOTHESIS(max_examples=60)
@given(data=st.data())
def test_hostile_kudos_forms_are_refused_by_field_or_given_whole(
    org, slack, fake, db, tables, data
):
    draw = drawer(data, ("user", "recipient", "reason", "metadata"))
    user_id = draw("user", st.sampled_from(["U0ANA", "U0BEN"]), st.just(STRANGER))
    recipient = draw(
        "recipient",
        st.sampled_from(["U0DAN", "U0CAT"]),
        st.one_of(
            st.none(),
            st.sampled_from([user_id, STRANGER, "", "u0dan", "<@U0DAN>"]),
            st.text(max_size=20),
        ),
    )
    reason = draw("reason", st.just("Thanks for the help"), TEXTS)
    metadata = draw(
        "metadata",
        st.just(json.dumps({"c": "C0GENERAL", "ts": DM_TS})),
        st.one_of(st.sampled_from(GARBAGE_METADATA), st.text(max_size=40)),
    )
    with db.session() as session:
        given_before = session.scalar(select(func.count(Kudos.id)))
    before = tables.snapshot()
    mark = len(fake.calls)

    response = slack.view_submission(
        user_id=user_id,
        callback_id=ids.KUDOS_MODAL,
        values={
            ids.KUDOS_RECIPIENT_BLOCK: {
                ids.KUDOS_RECIPIENT_ACTION: {"type": "users_select", "selected_user": recipient}
            },
            ids.KUDOS_REASON_BLOCK: {
                ids.KUDOS_REASON_ACTION: {"type": "plain_text_input", "value": reason}
            },
        },
        private_metadata=metadata,
    )

    assert response.status == 200, response.body
    answer = json.loads(response.body) if response.body else {}
    assert new_calls(fake, mark) == []  # the answer is the modal; messages go by the outbox
    event(f"kudos: {answer.get('response_action')}")
    if answer.get("response_action") == "errors":
        assert set(answer["errors"]) <= {ids.KUDOS_RECIPIENT_BLOCK, ids.KUDOS_REASON_BLOCK}
        for message in answer["errors"].values():
            assert_clear(message)
        if user_id != STRANGER and not as_stored(reason):
            assert ids.KUDOS_REASON_BLOCK in answer["errors"]
        assert tables.snapshot(without=("audit_log",)) == {
            k: v for k, v in before.items() if k != "audit_log"
        }
        return
    assert answer.get("response_action") == "update", answer
    with db.session() as session:
        kudos = session.scalars(select(Kudos).order_by(Kudos.id.desc())).first()
        assert session.scalar(select(func.count(Kudos.id))) == given_before + 1
        outbox = session.scalars(
            select(OutboxMessage).where(OutboxMessage.key.contains(f"kudos:{kudos.id}"))
        ).all()
    # The giver's words: control characters (NUL too) and whitespace runs as one space
    # (it used to be NUL alone).
    assert kudos.reason == as_stored(reason)
    assert outbox, "kudos given without the message that tells the recipient"


@HYPOTHESIS(max_examples=60)
@given(data=st.data())
def test_hostile_assign_role_forms_are_refused_by_field_or_applied_whole(
    org, db, clock, fake, tables, data
):
    settings_ = slack_settings(fake.base_url, signing_secret=SECRET, admins=("bea@x.io",))
    app = build_app(settings_, database=db, clock=clock, process_before_response=True)
    slack = Requests(app, response_url=fake.base_url + RESPOND)
    ids_ = sorted(p.id for p in org["people"].values())
    draw = drawer(data, ("user", "metadata", "role", "team"))
    user_id = draw("user", st.just("U0BEA"), st.sampled_from(["U0ANA", STRANGER]))
    metadata = draw(
        "metadata",
        st.sampled_from(ids_).map(str),
        st.one_of(st.sampled_from(GARBAGE_METADATA), hostile_ids(ids_)),
    )
    role = draw(
        "role",
        st.sampled_from(["engineer", "sales"]),
        st.one_of(st.sampled_from(["", "astronaut", "Engineer", "sales\x00"]), st.text()),
    )
    team = draw("team", st.sampled_from([None, "Web", "Platform"]), TEXTS)
    before = tables.snapshot(without=("audit_log",))
    mark = len(fake.calls)

    response = slack.view_submission(
        user_id=user_id,
        callback_id=member_views.ASSIGN_ROLE_CALLBACK,
        values={
            member_views.ROLE_BLOCK: {
                member_views.ROLE_INPUT: {
                    "type": "static_select",
                    "selected_option": {"value": role},
                }
            },
            member_views.TEAM_BLOCK: {
                member_views.TEAM_INPUT: {"type": "plain_text_input", "value": team}
            },
        },
        private_metadata=metadata,
    )

    errors = field_errors(response)
    assert {c.method for c in new_calls(fake, mark)} <= {"views.publish"}
    if errors is not None:
        event("assign role: refused in the modal")
        assert set(errors) <= {member_views.ROLE_BLOCK, member_views.TEAM_BLOCK}
        assert tables.snapshot(without=("audit_log",)) == before
        return
    event("assign role: applied")
    assert user_id == "U0BEA" and role in ("engineer", "sales")
    with db.session() as session:
        person = session.get(Person, int(metadata))
    assert person is not None and person.role == role
    if team is not None:
        assert person.team == team.strip()[:100]


# --- 3. CSV imports ----------------------------------------------------------------------

_files = itertools.count()
PROBLEM_LINE = re.compile(r"^  (?P<file>.+?):(?P<line>\d+): (?P<rest>.*)$")


def write_bytes(tmp_path: Path, name: str, content: bytes) -> str:
    path = tmp_path / f"{next(_files)}-{name}"
    path.write_bytes(content)
    return str(path)


def refusal_lines(err: str, path: str) -> list[re.Match[str]]:
    """The problem lines of a refused import, each checked to name file and line."""
    assert err.startswith("error: "), err
    assert "nothing was applied" in err.splitlines()[0], err
    lines = [line for line in err.splitlines()[1:] if line.strip()]
    assert lines, err
    matches = []
    for line in lines:
        if line.startswith(f"  {path}: --deactivate-missing: "):
            continue  # the mass-deactivation guard is about the whole file, not a line
        match = PROBLEM_LINE.match(line)
        assert match and match["file"] == path, f"no file and line in {line!r}"
        matches.append(match)
    return matches


def assert_names_the_field(match: re.Match[str], columns: tuple[str, ...]) -> None:
    """``FIELD: message``, but for a row of the wrong shape (no one field is at fault)
    and a file that is not UTF-8 text."""
    rest = match["rest"]
    if rest.startswith(("row has ", "not UTF-8 text", "not valid CSV")):
        return
    field, _, message = rest.partition(": ")
    assert field and message, f"no field in {rest!r}"
    assert field in columns or match["line"] == "1", f"{field!r} is not a column"


def csv_text(header: list[str], rows: list[list[str]], *, newline: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


PEOPLE_COLUMNS = tuple(PEOPLE_HEADER.split(","))
POOL = tuple(f"p{n}@x.io" for n in range(6))
HOSTILE_PEOPLE = {
    "email": st.one_of(
        st.sampled_from(["", "no-at", "a@b", "a b@x.io", "a@x.io;b@x.io", "a\x00@x.io"]),
        st.sampled_from(["x" * 300 + "@x.io", "ünï@x.io", "P0@X.IO", "p1@x.io"]),
        st.text(max_size=20),
    ),
    "name": st.one_of(
        st.sampled_from(["", "N" * 250, "A\x00B", "=HYPERLINK(1)", "  ", "Ann\nLee"]),
        st.text(max_size=30),
    ),
    "manager_email": st.one_of(st.sampled_from(["self", "nobody@x.io", "bad", *POOL]), st.text()),
    "role": st.one_of(st.sampled_from(["", "astronaut", "Engineer", " sales "]), st.text()),
    "team": st.one_of(st.sampled_from(["T" * 150, "\x00", ""]), st.text(max_size=30)),
    "role_start_date": st.one_of(
        st.sampled_from(["", "2026-02-30", "02/03/2026", "0001-01-01", "9999-12-31"]),
        st.sampled_from(["20260302", "2026-W10-1", "２０２６-03-02", "2026-03-02T00:00"]),
        st.dates().map(date.isoformat),
        st.text(max_size=12),
    ),
    "timezone": st.one_of(
        st.sampled_from(["Europe", "America", "a" * 300, "../etc/passwd", "Mars/Olympus"]),
        st.sampled_from(["Europe/London\x00", "/etc/localtime", "Europe//London", "UTC"]),
        st.text(max_size=20),
    ),
    "slack_user_id": st.one_of(
        st.sampled_from(["bob", "u0lower", "U" + "A" * 40, "U0P0", "u0p1", "W0P2"]),
        st.text(max_size=12),
    ),
}


@st.composite
def people_file(draw: Any) -> tuple[bytes, list[dict[str, str]]]:
    """A people CSV as bytes, and the rows it was written from."""
    count = draw(st.integers(1, 5), label="rows")
    rows = []
    for n in range(count):
        row = {
            "email": POOL[n],
            "name": f"Person {n}",
            "manager_email": POOL[n - 1] if n else "",
            "role": draw(st.sampled_from(["engineer", "sales"])),
            "team": "Web",
            "role_start_date": "2026-03-02",
            "timezone": draw(st.sampled_from(["", "Europe/London", "Asia/Kolkata"])),
            "slack_user_id": f"U0P{n}",
        }
        for column in draw(st.sets(st.sampled_from(PEOPLE_COLUMNS), max_size=2)):
            value = draw(HOSTILE_PEOPLE[column], label=f"row {n} {column}")
            row[column] = row["email"] if value == "self" else value
        rows.append(row)
    return draw(csv_file(PEOPLE_COLUMNS, rows)), rows


DAMAGE = (
    *("shuffle", "case", "bom", "crlf", "latin-1", "nul", "utf-16", "twice", "huge field"),
    *("extra column", "missing column", "short row", "long row", "blank lines"),
)


@st.composite
def csv_file(draw: Any, columns: tuple[str, ...], rows: list[dict[str, str]]) -> bytes:
    """``rows`` under a header, with the damage a file picks up on its way."""
    header = list(columns)
    damage = draw(st.sets(st.sampled_from(DAMAGE), max_size=3), label="damage")
    if "shuffle" in damage:
        header = draw(st.permutations(header))
    if "case" in damage:
        header = [column.upper() for column in header]
    cells = [[row[column.lower()] for column in header] for row in rows]
    if "extra column" in damage:
        header.append("nickname")
        cells = [[*row, "x"] for row in cells]
    if "missing column" in damage:
        header.pop(draw(st.integers(0, len(header) - 1)))
        cells = [row[: len(header)] for row in cells]
    if "twice" in damage:
        header.append(header[0])
        cells = [[*row, row[0]] for row in cells]
    at = draw(st.integers(0, len(cells) - 1))
    if "short row" in damage:
        cells[at] = cells[at][:-1]
    if "long row" in damage:
        cells[at] = [*cells[at], "surplus"]
    if "huge field" in damage:
        cells[at][0] = "h" * 140_000  # over the csv module's field limit
    if "blank lines" in damage:
        cells.insert(at, [])
        cells.append([""] * len(header))
    text = csv_text(header, cells, newline="\r\n" if "crlf" in damage else "\n")
    if "nul" in damage:
        text += "\x00"
    data = ("\ufeff" if "bom" in damage else "").encode() + text.encode()
    if "latin-1" in damage:
        data = data.replace(b"Person", "Pérson".encode("latin-1"), 1) + "é\n".encode("latin-1")
    if "utf-16" in damage:
        data = text.encode("utf-16")
    return data


def people_emails(db: Database) -> dict[str, Person]:
    with db.session() as session:
        return {p.email: p for p in session.scalars(select(Person))}


@pytest.fixture
def programs_loaded(cli, write, clock):
    clock.set(SEND_AT)
    assert cli("load-config", write("programs.yml", PROGRAMS)).code == 0


@HYPOTHESIS(max_examples=60)
@given(file=people_file(), dry_run=st.booleans(), deactivate=st.booleans())
def test_a_people_file_is_imported_whole_or_refused_line_by_line(
    programs_loaded, cli, db, tables, tmp_path, file, dry_run, deactivate
):
    content, rows = file
    path = write_bytes(tmp_path, "people.csv", content)
    before = tables.snapshot()
    flags = [*(["--dry-run"] if dry_run else []), *(["--deactivate-missing"] if deactivate else [])]

    result = cli("import-people", path, *flags)

    assert result.code in (0, 1), result.err
    assert "Traceback" not in result.err
    if result.code == 1 or dry_run:
        event(f"people: {'refused' if result.code else 'dry run'}")
        assert tables.snapshot() == before
    if result.code == 1:
        for match in refusal_lines(result.err, path):
            assert_names_the_field(match, PEOPLE_COLUMNS)
        return
    assert "error" not in result.err.lower(), result.err
    if dry_run:
        return
    event("people: applied")
    stored = people_emails(db)
    for row in rows:
        person = stored[row["email"].strip().lower()]
        assert (person.name, person.team, person.active) == (
            row["name"].strip(),
            row["team"].strip(),
            True,
        )
        manager = row["manager_email"].strip().lower()
        assert person.manager_id == (stored[manager].id if manager else None)


COMPLETION_COLUMNS = ("email", "item", "completed_at", "score")
HOSTILE_COMPLETIONS = {
    "email": st.one_of(
        st.sampled_from(["", "nobody@x.io", "ANA@X.IO", "a\x00@x.io", "x" * 500]), st.text()
    ),
    "item": st.one_of(st.sampled_from(["", "unknown", "INTRO", "intro ", "intro\x00"]), st.text()),
    "completed_at": st.one_of(
        st.sampled_from(["", "yesterday", "2026-02-30", "0001-01-01", "9999-12-31"]),
        st.sampled_from(["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"]),
        st.sampled_from(["2026-03-01T10:00:00+25:00", "2026-03-03", "2026-03-01 10:00"]),
        st.datetimes().map(datetime.isoformat),
        st.text(max_size=25),
    ),
    "score": st.one_of(
        st.sampled_from(["", "85", "nan", "inf", "1e400", "-1", "101", "abc", "50%", "٣"]),
        st.text(max_size=8),
    ),
}
PEOPLE_WITH_ZONES = (
    "ana@x.io,Ana,,engineer,Web,2026-03-02,Asia/Tokyo,U0ANA",
    "ben@x.io,Ben,,engineer,Web,2026-03-02,America/New_York,U0BEN",
)


@st.composite
def completions_file(draw: Any) -> tuple[bytes, list[dict[str, str]]]:
    rows = []
    for n in range(draw(st.integers(1, 4), label="rows")):
        row = {
            "email": draw(st.sampled_from(["ana@x.io", "ben@x.io"])),
            "item": draw(st.sampled_from(["intro", "safety", "safety-quiz", "shadow"])),
            "completed_at": f"2026-03-0{1 + n % 2}",
            "score": draw(st.sampled_from(["", "90"])),
        }
        for column in draw(st.sets(st.sampled_from(COMPLETION_COLUMNS), max_size=2)):
            row[column] = draw(HOSTILE_COMPLETIONS[column], label=f"row {n} {column}")
        rows.append(row)
    return draw(csv_file(COMPLETION_COLUMNS, rows)), rows


@HYPOTHESIS(max_examples=60)
@given(file=completions_file(), dry_run=st.booleans())
def test_a_completions_file_is_recorded_whole_or_refused_line_by_line(
    programs_loaded, cli, db, tables, tmp_path, write, file, dry_run
):
    if not people_emails(db):
        people = write("people.csv", "\n".join([PEOPLE_HEADER, *PEOPLE_WITH_ZONES]) + "\n")
        assert cli("import-people", people).code == 0
    content, rows = file
    path = write_bytes(tmp_path, "completions.csv", content)
    before = tables.snapshot()

    result = cli("import-completions", path, *(["--dry-run"] if dry_run else []))

    assert result.code in (0, 1), result.err
    assert "Traceback" not in result.err
    if result.code == 1 or dry_run:
        event(f"completions: {'refused' if result.code else 'dry run'}")
        assert tables.snapshot() == before
    if result.code == 1:
        for match in refusal_lines(result.err, path):
            assert_names_the_field(match, COMPLETION_COLUMNS)
        return
    assert "error" not in result.err.lower(), result.err
    if dry_run:
        return
    event("completions: applied")
    stored = people_emails(db)
    with db.session() as session:
        done = {
            (a.person_id, a.item_id)
            for a in session.scalars(
                select(Assignment).where(Assignment.status == AssignmentStatus.COMPLETED)
            )
        }
    for row in rows:
        person = stored[row["email"].strip().lower()]
        assert (person.id, _item_id(db, row["item"].strip())) in done


# --- 4. YAML programs files --------------------------------------------------------------

EXAMPLE_PROGRAMS = (EXAMPLES / "programs.yml").read_text(encoding="utf-8")
VALUE_LINE = re.compile(r"^(?P<indent>\s*(?:- )?)(?P<key>[\w-]+):(?P<gap>\s+)(?P<value>[^#\s].*)$")
HOSTILE_YAML_VALUES = (
    *("[1, 2]", "{a: 1}", "~", "yes", "-1", "1.5", "1e400", ".nan", "99999999999999999999"),
    *("9" * 5000, "2026-02-30", "2026-12-25 25:61:00", "@reserved", "`backtick", "'unterminated"),
    *("3x", "99999999999999999999d", "99999999999h", "-1d", "1.5h"),  # durations
    *("Mars/Olympus", "Europe", "'" + "a" * 300 + "'", '"\\x00"'),  # time zones
    *("funday", "MON", "[mon, funday]"),  # weekdays
    *("*undefined", "&anchor", "*bomb", "[" * 3000 + "]" * 3000),  # aliases, depth
    *("!!python/object:os.system {}", "!!binary aGVsbG8=", "!!set {a, b}"),  # tags
)
BOMB = "\n".join(
    ["x-bomb-0: &b0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"x-bomb-{n}: &b{n} [{', '.join([f'*b{n - 1}'] * 9)}]" for n in range(1, 8)]
    + ["x-bomb: &bomb [*b7, *b7, *b7, *b7, *b7, *b7, *b7, *b7, *b7]"]
)
CYCLES = (
    ("  dev-environment:\n", "  dev-environment:\n    requires: [on-call-shadow]\n"),
    ("requires: [secure-coding]", "requires: [secure-coding-exam]"),
    ("  product-tour:\n", "  product-tour:\n    requires: [ride-along]\n"),
)


@st.composite
def mutated_programs(draw: Any) -> str:
    """examples/programs.yml with one to three mistakes in it."""
    lines = EXAMPLE_PROGRAMS.splitlines()
    kinds = draw(
        st.lists(
            st.sampled_from(
                ["value", "unknown key", "tab", "drop", "repeat", "cycle", "bomb", "nul"]
            ),
            min_size=1,
            max_size=3,
        ),
        label="mutations",
    )
    text_changes = []
    for kind in kinds:
        valued = [n for n, line in enumerate(lines) if VALUE_LINE.match(line)]
        at = draw(st.sampled_from(valued), label="line")
        match = VALUE_LINE.match(lines[at])
        assert match is not None
        if kind in ("value", "bomb", "nul"):
            value = draw(st.sampled_from(HOSTILE_YAML_VALUES))
            value = {"bomb": "*bomb", "nul": '"A\\0B"'}.get(kind, value)
            lines[at] = f"{match['indent']}{match['key']}:{match['gap']}{value}"
        elif kind == "unknown key":  # a sibling of the key on that line
            lines.insert(at + 1, " " * len(match["indent"]) + "surprise: 1")
        elif kind == "tab":
            lines[at] = "\t" + lines[at].lstrip(" ")
        elif kind == "drop":
            del lines[at]
        elif kind == "repeat":
            lines.insert(at, lines[at])
        else:
            text_changes.append(draw(st.sampled_from(CYCLES)))
    text = "\n".join(lines) + "\n"
    for old, new in text_changes:
        text = text.replace(old, new, 1)
    if "bomb" in kinds or "*bomb" in text:
        text = BOMB + "\n" + text
    return text


def assert_usable(path: str) -> None:
    """An accepted file's durations fit in date arithmetic from any date learnbot sees."""
    config = load_curriculum(path).config
    far = datetime(2200, 1, 1, tzinfo=UTC)
    for cert in config.certifications.values():
        for period in (cert.valid_for, cert.recertify_window, cert.grace):
            far + timedelta(days=period.longest_days)
        later(later(far, cert.valid_for, "UTC"), cert.grace, "UTC")
    for minutes in (
        config.cadence.send_window,
        config.manager_digest.window,
        config.game_board.window,
        config.peer_prompts.window,
        config.peer_prompts.follow_up_after,
    ):
        far + timedelta(minutes=minutes)


@HYPOTHESIS(max_examples=40)
@given(text=mutated_programs())
def test_a_mistaken_programs_file_is_refused_with_file_line_and_field(
    cli, tables, tmp_path, clock, text
):
    clock.set(SEND_AT)
    path = write_bytes(tmp_path, "programs.yml", text.encode())
    before = tables.snapshot()

    dry = cli("load-config", path, "--dry-run")
    assert tables.snapshot() == before
    real = cli("load-config", path)

    for result in (dry, real):
        assert result.code in (0, 1), result.err
        assert "Traceback" not in result.err
    assert dry.code == real.code, (dry.err, real.err)
    if real.code == 0:
        event("programs: accepted")
        assert_usable(path)
        return
    event("programs: refused")
    assert tables.snapshot() == before
    for match in refusal_lines(real.err, path):
        rest = match["rest"]
        if not rest.startswith(("invalid YAML", "the anchors and aliases", "the file ")):
            field, _, message = rest.partition(": ")
            assert field and message, f"no field in {rest!r}"
        assert len(rest) < 400, f"a {len(rest)}-character problem line"


# --- 5. secrets --------------------------------------------------------------------------

BOT_TOKEN = "xoxb-1111-2222-hostileBotToken"
SIGNING_SECRET = "hostile-signing-secret-9f8e7d"
DB_PASSWORD = "hostile-db-password-5c4b"
SECRETS = (BOT_TOKEN, SIGNING_SECRET, DB_PASSWORD)


def assert_no_secret(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"a secret in {where}: {text[:2000]}"


@pytest.fixture
def logged(caplog):
    """learnbot's own log set-up (bot.py's) at DEBUG into a buffer, plus every raw record."""
    caplog.set_level(logging.DEBUG)
    buffer = io.StringIO()
    configure_logging(stream=buffer, level="DEBUG", log_format="text", secrets=SECRETS)
    yield buffer
    remove_logging()


@pytest.mark.parametrize("fault", ["invalid_auth", "http 500"])
def test_failing_slack_calls_and_bad_signatures_never_show_a_secret(
    org, db, clock, fake, logged, caplog, fault
):
    settings_ = Settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake.base_url,
        database_url=f"postgresql://learnbot:{DB_PASSWORD}@db.example.com/learnbot",
    )
    app = build_app(settings_, database=db, clock=clock, process_before_response=True)
    slack = Requests(app, response_url=fake.base_url + RESPOND, signing_secret=SIGNING_SECRET)
    for method in ("views.open", "chat.postEphemeral", "chat.postMessage", RESPOND):
        if fault == "invalid_auth":
            fake.respond(method, {"ok": False, "error": "invalid_auth"})
        else:
            fake.server_error(method, status=500, times=None)
    own = org["own"]["U0ANA"][0]
    responses = [
        slack.interaction(click_payload("U0ANA", {"type": "button", "action_id": a, "value": v}, c))
        for a, v, c in (
            (ids.DIGEST_DONE, str(own), "dm"),  # views.open fails
            (ids.DIGEST_DONE, "not-a-number", "dm"),  # chat.postEphemeral fails
            (ids.ESCALATION_REMIND, str(own), "home"),  # chat.postMessage fails
            (ids.PEER_CAN_HELP, "abc", "dm"),  # respond fails
        )
    ]
    body = urlencode({"payload": json.dumps(click_payload("U0ANA", {"action_id": "x"}, "dm"))})
    forged = app.dispatch(
        BoltRequest(
            body=body,
            headers={
                "content-type": ["application/x-www-form-urlencoded"],
                "x-slack-request-timestamp": [str(int(clock.now().timestamp()))],
                "x-slack-signature": ["v0=" + "0" * 64],
            },
        )
    )

    assert forged.status == 401
    assert fake.calls_to("views.open") and fake.calls_to("chat.postEphemeral")
    for response in [*responses, forged]:
        assert_no_secret(f"{response.status} {response.body} {response.headers}", "a response")
    for call in fake.calls:
        assert_no_secret(json.dumps(call.body, default=str), f"the {call.method} request")
    assert "listener failed" in logged.getvalue()  # the failures were logged...
    assert_no_secret(logged.getvalue(), "the log")  # ...without a secret
    assert_no_secret(caplog.text, "the raw log records")  # not even before masking


@pytest.mark.parametrize(
    "command",
    [
        ["import-people", "people.csv"],
        ["import-completions", "completions.csv"],
        ["load-config", "programs.yml"],
        ["load-config", "programs.yml", "--dry-run"],
    ],
)
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_import_commands_never_show_a_secret_when_they_fail(
    cli, write, database_url, command, log_format
):
    good = {  # the commands read these, then reach for the database
        "people.csv": write("people.csv", PEOPLE_HEADER + "\n"),
        "completions.csv": write("completions.csv", "email,item,completed_at\n"),
        "programs.yml": write("programs.yml", PROGRAMS),
    }
    mistaken = {  # the commands refuse these
        "people.csv": write("p.csv", PEOPLE_HEADER + "\nbad,A,,engineer,T,2026-03-02,,\n"),
        "completions.csv": write("c.csv", "email,item,completed_at\nnobody@x.io,intro,2026\n"),
        "programs.yml": write(
            "p.yml", EXAMPLE_PROGRAMS.replace("send_window: 4h", "send_window: 4x")
        ),
    }
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "LEARNBOT_LOG_LEVEL": "DEBUG",
        "LOG_FORMAT": log_format,
    }
    # A server that refuses the connection: the driver's error quotes where it went.
    unreachable = f"postgresql://learnbot:{DB_PASSWORD}@127.0.0.1:9/learnbot"
    refused = cli(
        *[good.get(arg, arg) for arg in command], env={**env, "DATABASE_URL": unreachable}
    )
    assert refused.code == 1
    assert "127.0.0.1" in refused.err
    assert_no_secret(refused.out + refused.err, "the output")
    # A database that works, reached with a password (PostgreSQL here trusts the test
    # user whatever the password), and a file with a mistake in it.
    reachable = (
        database_url.replace("postgresql://postgres@", f"postgresql://postgres:{DB_PASSWORD}@")
        if ON_POSTGRES
        else database_url
    )
    result = cli(
        *[mistaken.get(arg, arg) for arg in command], env={**env, "DATABASE_URL": reachable}
    )
    assert result.code == 1, result.err
    assert "nothing was applied" in result.err
    assert_no_secret(result.out + result.err, "the output")
