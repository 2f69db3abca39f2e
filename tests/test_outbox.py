"""The outbox: idempotent enqueue, exclusive claims, guarded state changes, retries."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlmodel import select

from delivery.outbox import (
    claim,
    count_by_status,
    list_messages,
    mark_failed,
    mark_retry,
    mark_sent,
    retry,
)
from learning.errors import LearnbotError
from models.tables import AuditEntry, OutboxStatus
from tests.outbox_support import dms, put, rows, text_message


def test_enqueueing_the_same_messages_twice_inserts_them_once(db, clock):
    now = clock.now()
    assert put(db, dms(5, at=now), now=now) == 5
    assert put(db, dms(5, at=now), now=now) == 0
    assert len(rows(db)) == 5


def test_enqueue_counts_only_the_new_keys_of_a_mixed_batch(db, clock):
    now = clock.now()
    put(db, dms(3, at=now), now=now)
    batch = [*dms(5, at=now), text_message("dm:U001", "U001", at=now, text="changed")]
    assert put(db, batch, now=now) == 2
    assert rows(db)["dm:U001"].payload == {"text": "hello from dm:U001"}


def test_enqueue_stores_the_payload_and_schedule(db, clock):
    later = clock.now() + timedelta(hours=2)
    put(db, [text_message("k", "C1", at=later, text="hi")], now=clock.now())
    row = rows(db)["k"]
    assert (row.status, row.attempts, row.payload) == (OutboxStatus.PENDING, 0, {"text": "hi"})
    assert row.not_before == later and row.created_at == clock.now()


def test_two_writers_enqueueing_the_same_keys_at_once_insert_each_once(db, clock):
    now = clock.now()
    barrier = threading.Barrier(2)
    inserted: list[int] = []
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            barrier.wait(timeout=10)
            inserted.append(put(db, dms(300, at=now), now=now))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(inserted) == 300
    assert len(rows(db)) == 300


def test_claim_takes_due_rows_oldest_first_and_marks_them_sending(db, clock):
    now = clock.now()
    put(
        db,
        [
            text_message("late", "C1", at=now - timedelta(minutes=1)),
            text_message("early", "C1", at=now - timedelta(minutes=5)),
            text_message("future", "C1", at=now + timedelta(minutes=1)),
        ],
        now=now,
    )
    claimed = claim(db, worker="w1", now=now, limit=10)
    assert [row.key for row in claimed] == ["early", "late"]
    assert all(row.status == OutboxStatus.SENDING for row in claimed)
    stored = rows(db)
    assert stored["early"].claimed_by == "w1" and stored["early"].claimed_at == now
    assert stored["future"].status == OutboxStatus.PENDING
    assert claim(db, worker="w2", now=now, limit=10) == []


def test_claim_respects_the_limit_and_the_workspace(db, clock):
    now = clock.now()
    other = text_message("other", "C1", at=now)
    put(db, [*dms(5, at=now), replace(other, workspace_id="T2")], now=now)
    assert len(claim(db, worker="w", now=now, limit=2)) == 2
    assert [r.key for r in claim(db, worker="w", now=now, limit=9, workspace_id="T2")] == ["other"]


def test_concurrent_workers_never_claim_the_same_row(db, clock):
    now = clock.now()
    put(db, dms(240, at=now), now=now)
    barrier = threading.Barrier(4)
    claimed: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        mine: list[int] = []
        try:
            barrier.wait(timeout=10)
            while batch := claim(db, worker=name, now=now, limit=7):
                mine.extend(row.id for row in batch)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        claimed[name] = mine

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    every = [message_id for ids in claimed.values() for message_id in ids]
    assert len(every) == len(set(every)) == 240
    owners = {row.id: row.claimed_by for row in rows(db).values()}
    assert all(owners[message_id] == name for name, ids in claimed.items() for message_id in ids)


def test_a_late_retry_or_failure_never_undoes_a_sent_row(db, clock):
    now = clock.now()
    put(db, [text_message("k", "U1", at=now)], now=now)
    [row] = claim(db, worker="w", now=now, limit=1)
    mark_sent(db, row.id, conversation="D1", message="1.000100", now=now)
    mark_retry(db, row.id, not_before=now, error="late", count_attempt=True)
    mark_failed(db, row.id, error="late")
    stored = rows(db)["k"]
    assert (stored.status, stored.posted_message, stored.posted_conversation) == (
        "sent",
        "1.000100",
        "D1",
    )
    assert stored.attempts == 0 and stored.sent_at == now


def test_mark_retry_counts_an_attempt_only_when_asked(db, clock):
    now = clock.now()
    put(db, [text_message("k", "U1", at=now)], now=now)
    later = now + timedelta(seconds=30)
    [row] = claim(db, worker="w", now=now, limit=1)
    mark_retry(db, row.id, not_before=later, error="rate limited", count_attempt=False)
    [row] = claim(db, worker="w", now=later, limit=1)
    mark_retry(db, row.id, not_before=later, error="HTTP 503", count_attempt=True)
    stored = rows(db)["k"]
    assert (stored.status, stored.attempts, stored.last_error) == ("pending", 1, "HTTP 503")
    assert stored.not_before == later and stored.claimed_by is None


def test_retrying_a_failed_message_resets_it_and_audits_the_error(db, clock):
    now = clock.now()
    put(db, dms(2, at=now), now=now)
    for row in claim(db, worker="w", now=now, limit=2):
        mark_failed(db, row.id, error="channel_not_found")
    failed_id = rows(db)["dm:U000"].id
    with db.session() as session:
        assert retry(session, clock=clock, actor="ana", message_id=failed_id) == 1
    stored = rows(db)
    # attempts 1: the sender looks in Slack before posting again (it may have arrived).
    assert (stored["dm:U000"].status, stored["dm:U000"].attempts) == ("pending", 1)
    assert stored["dm:U000"].last_error is None
    assert stored["dm:U001"].status == "failed"
    with db.session() as session:
        [entry] = session.exec(select(AuditEntry)).all()
    assert (entry.actor, entry.action, entry.subject) == ("ana", "outbox_retry", "dm:U000")
    assert entry.reason == "channel_not_found"
    assert entry.details == {"outbox_id": failed_id, "attempts": 1}


def test_retry_all_failed_revives_every_failed_message(db, clock):
    now = clock.now()
    put(db, dms(3, at=now), now=now)
    for row in claim(db, worker="w", now=now, limit=2):
        mark_failed(db, row.id, error="boom")
    with db.session() as session:
        assert retry(session, clock=clock, actor="cli", all_failed=True) == 2
        assert count_by_status(session)["pending"] == 3


def test_retry_refuses_a_message_that_has_not_failed(db, clock):
    now = clock.now()
    put(db, dms(1, at=now), now=now)
    with db.session() as session, pytest.raises(LearnbotError, match="is pending"):
        retry(session, clock=clock, actor="cli", message_id=rows(db)["dm:U000"].id)
    with db.session() as session, pytest.raises(LearnbotError, match="no outbox message 999"):
        retry(session, clock=clock, actor="cli", message_id=999)


def test_list_messages_filters_by_status_newest_first(db, clock):
    now = clock.now()
    put(db, dms(3, at=now), now=now)
    [row] = claim(db, worker="w", now=now, limit=1)
    mark_failed(db, row.id, error="user_not_found")
    with db.session() as session:
        assert [r.key for r in list_messages(session, status="failed")] == ["dm:U000"]
        assert [r.key for r in list_messages(session, limit=2)] == ["dm:U002", "dm:U001"]
        with pytest.raises(LearnbotError, match="unknown status"):
            list_messages(session, status="lost")
