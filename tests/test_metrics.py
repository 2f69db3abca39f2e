"""GET /metrics over real HTTP: the outbox from the database, this process's counters."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlmodel import create_engine

from delivery import metrics, outbox
from delivery.metrics import Histogram
from learning.clock import FrozenClock
from models.db import Database
from server.app import build_app, health
from server.http import start_server
from tests.conftest import ON_POSTGRES
from tests.fakes.slack_api import FakeSlack
from tests.helpers import slack_settings
from tests.outbox_support import dms, make_sender, put


def serve(database: Database, clock: FrozenClock, fake: FakeSlack) -> Iterator[str]:
    """A web process as ``bot.py run --no-scheduler`` builds it, on a random port."""
    settings = slack_settings(fake.base_url, signing_secret="s")
    with start_server(
        settings=settings,
        host="127.0.0.1",
        port=0,
        health=lambda: health(database),
        metrics=lambda: metrics.render(database, now=clock.now()),
        slack=build_app(settings, database=database, clock=clock),
    ) as server:
        yield server.url


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as running:
        yield running


@pytest.fixture
def served(db, clock, fake) -> Iterator[str]:
    yield from serve(db, clock, fake)


def scrape(base: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        return metrics.parse(response.read().decode())


def test_metrics_is_a_valid_exposition_with_every_family(served):
    samples = scrape(served)
    assert samples["learnbot_database_up"] == 1
    assert {name.split("{")[0] for name in samples} >= {
        "learnbot_outbox_messages",
        "learnbot_outbox_oldest_due_seconds",
        "learnbot_messages_sent_total",
        "learnbot_message_retries_total",
        "learnbot_slack_rate_limited_total",
        "learnbot_messages_failed_total",
        "learnbot_planning_duration_seconds_bucket",
        "learnbot_planning_duration_seconds_sum",
        "learnbot_planning_duration_seconds_count",
    }


def test_outbox_depth_is_counted_by_status_from_the_database(served, db, clock):
    put(db, dms(6, at=clock.now()), now=clock.now())
    claimed = outbox.claim(db, worker="w", now=clock.now(), limit=3)
    outbox.mark_sent(db, claimed[0].id, conversation="D1", message="1.0", now=clock.now())
    outbox.mark_failed(db, claimed[1].id, error="channel_not_found")
    samples = scrape(served)
    depth = {
        name.split('"')[1]: value
        for name, value in samples.items()
        if name.startswith("learnbot_outbox_messages{")
    }
    # Sent rows are history, not depth: they are not counted on every scrape.
    assert depth == {"pending": 3, "sending": 1, "failed": 1}


def test_oldest_due_age_counts_pending_messages_that_are_due_only(served, db, clock):
    assert scrape(served)["learnbot_outbox_oldest_due_seconds"] == 0
    put(db, dms(1, at=clock.now() - timedelta(seconds=90), prefix="late"), now=clock.now())
    put(db, dms(1, at=clock.now() + timedelta(hours=3), prefix="later"), now=clock.now())
    assert scrape(served)["learnbot_outbox_oldest_due_seconds"] == 90
    clock.advance(timedelta(seconds=30))
    assert scrape(served)["learnbot_outbox_oldest_due_seconds"] == 120


def test_a_drain_counts_sends_retries_and_rate_limits_in_this_process(served, db, clock, fake):
    before = scrape(served)
    fake.rate_limit("chat.postMessage", retry_after=2, times=1)
    fake.server_error("chat.postMessage", times=1)
    put(db, dms(3, at=clock.now()), now=clock.now())
    result = make_sender(db, fake, clock).drain()
    assert (result.sent, result.retried, result.rate_limited) == (3, 1, 1)
    after = scrape(served)

    def grew(name: str) -> float:
        return after[name] - before[name]

    assert grew("learnbot_messages_sent_total") == 3
    assert grew("learnbot_message_retries_total") == 1
    assert grew("learnbot_slack_rate_limited_total") == 1
    assert grew("learnbot_messages_failed_total") == 0
    assert after['learnbot_outbox_messages{status="pending"}'] == 0


def test_a_message_given_up_counts_as_failed(served, db, clock, fake):
    before = scrape(served)["learnbot_messages_failed_total"]
    fake.respond("chat.postMessage", {"ok": False, "error": "channel_not_found"}, times=1)
    put(db, dms(1, at=clock.now()), now=clock.now())
    assert make_sender(db, fake, clock).drain().failed == 1
    assert scrape(served)["learnbot_messages_failed_total"] == before + 1


def test_metrics_still_answer_when_the_database_does_not(clock, fake, tmp_path):
    gone = Database(create_engine(f"sqlite:///{tmp_path}/no/such/dir/learnbot.db"))
    base = serve(gone, clock, fake)
    try:
        samples = scrape(next(base))
    finally:
        base.close()
    assert samples["learnbot_database_up"] == 0
    assert not any(name.startswith("learnbot_outbox") for name in samples)
    assert "learnbot_messages_sent_total" in samples


def test_a_histogram_keeps_cumulative_buckets_sum_and_count():
    histogram = Histogram("job_seconds", "How long.", (1.0, 5.0))
    ticks = iter([10.0, 10.5, 20.0, 23.0, 30.0, 37.0])
    for _ in range(3):
        with histogram.time(timer=lambda: next(ticks)):
            pass
    samples = metrics.parse("\n".join(histogram.exposition()) + "\n")
    assert samples == {
        'job_seconds_bucket{le="1"}': 1,
        'job_seconds_bucket{le="5"}': 2,
        'job_seconds_bucket{le="+Inf"}': 3,
        "job_seconds_sum": 10.5,
        "job_seconds_count": 3,
    }


def test_the_planning_histogram_is_exposed_per_process(served):
    before = scrape(served)["learnbot_planning_duration_seconds_count"]
    ticks = iter([0.0, 0.25])
    with metrics.PLANNING_SECONDS.time(timer=lambda: next(ticks)):
        pass
    samples = scrape(served)
    assert samples["learnbot_planning_duration_seconds_count"] == before + 1
    assert samples['learnbot_planning_duration_seconds_bucket{le="0.5"}'] >= 1


def test_a_counter_only_goes_up():
    with pytest.raises(ValueError):
        metrics.Counter("x_total", "x").inc(-1)


def test_the_parser_refuses_a_sample_without_a_declared_family():
    with pytest.raises(ValueError, match="line 1"):
        metrics.parse("stray_total 1\n")


@pytest.mark.skipif(ON_POSTGRES, reason="PostgreSQL plans from statistics; SQLite's is fixed")
def test_a_scrape_is_two_queries_answered_from_the_status_index(db, clock):
    statements: list[tuple[str, object]] = []

    def remember(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", remember)
    try:
        metrics.outbox_exposition(db, now=clock.now())
    finally:
        event.remove(db.engine, "before_cursor_execute", remember)
    assert len(statements) == 2
    with db.engine.connect() as conn:
        for statement, parameters in statements:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            details = [row[-1] for row in plan]
            assert all("USING COVERING INDEX ix_outbox_status_not_before" in d for d in details), (
                details
            )
