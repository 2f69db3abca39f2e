"""Tests of the fake Slack Web API server, driven through a real ``slack_sdk.WebClient``."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from urllib.error import URLError

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from tests.fakes.slack_api import BOT_ID, BOT_USER_ID, DROPPED, TEAM_ID, Call, FakeSlack

BLOCKS = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*Lesson 1*"}},
    {"type": "actions", "elements": [{"type": "button", "action_id": "done", "text": {}}]},
]
METADATA = {"event_type": "lesson_sent", "event_payload": {"lesson_id": 7, "person": "U123"}}
USERS = [
    {"id": f"U{n}", "name": f"user{n}", "profile": {"email": f"user{n}@example.com"}}
    for n in range(1, 6)
]


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as running:
        yield running


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=fake.base_url, timeout=5)


def _post_statuses(client: WebClient, count: int) -> list[int]:
    statuses = []
    for n in range(count):
        try:
            statuses.append(client.chat_postMessage(channel="C1", text=f"m{n}").status_code)
        except SlackApiError as exc:
            statuses.append(exc.response.status_code)
    return statuses


# ------------------------------------------------------------------------- server lifecycle


def test_binds_127_0_0_1_on_distinct_random_ports() -> None:
    with FakeSlack() as first, FakeSlack() as second:
        assert first.port != second.port
        assert first.base_url == f"http://127.0.0.1:{first.port}/api/"
        assert first._server is not None
        assert first._server.server_address[0] == "127.0.0.1"
        assert WebClient(base_url=second.base_url).api_test()["ok"] is True


def test_explicit_start_and_stop() -> None:
    fake = FakeSlack()
    with pytest.raises(RuntimeError, match="not running"):
        _ = fake.base_url
    fake.start()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            fake.start()
        client = WebClient(token="xoxb-test", base_url=fake.base_url, timeout=5)
        assert client.auth_test()["user_id"] == BOT_USER_ID
    finally:
        fake.stop()
    fake.stop()  # idempotent
    with pytest.raises(RuntimeError, match="not running"):
        _ = fake.port


# ------------------------------------------------------------------------- recording and parsing


def test_post_message_records_parsed_json_body_and_token(
    fake: FakeSlack, client: WebClient
) -> None:
    response = client.chat_postMessage(
        channel="C1", text="Lesson 1", blocks=BLOCKS, metadata=METADATA
    )

    assert response["ok"] is True
    assert response["channel"] == "C1"
    assert response["message"]["blocks"] == BLOCKS
    assert response["message"]["metadata"] == METADATA
    assert response["message"]["bot_id"] == BOT_ID
    [call] = fake.calls_to("chat.postMessage")
    assert call.body["blocks"] == BLOCKS
    assert call.body["metadata"] == METADATA
    assert call.body["text"] == "Lesson 1"
    assert call.token == "xoxb-test"
    assert call.status == 200
    assert call.ok
    assert call.response is not None and call.response["ts"] == response["ts"]
    assert fake.delivered() == [call]
    assert call.at <= time.monotonic()


def test_form_encoded_json_fields_are_decoded_but_text_is_not(
    fake: FakeSlack, client: WebClient
) -> None:
    client.api_call(
        "chat.postMessage",
        data={
            "channel": "C1",
            "text": "[1, 2]",
            "blocks": json.dumps(BLOCKS),
            "metadata": json.dumps(METADATA),
            "unfurl_links": False,
        },
    )

    [call] = fake.calls
    assert call.body == {
        "channel": "C1",
        "text": "[1, 2]",
        "blocks": BLOCKS,
        "metadata": METADATA,
        "unfurl_links": "0",
    }
    assert call.token == "xoxb-test"


def test_multipart_body_is_parsed(fake: FakeSlack, client: WebClient) -> None:
    response = client.api_call("api.test", data={"note": "hi"}, files={"file": b"\x00bytes"})

    assert response["args"] == {"note": "hi", "file": "<6 bytes>"}
    [call] = fake.calls_to("api.test")
    assert call.body == {"note": "hi", "file": b"\x00bytes"}


def test_get_query_string_is_parsed(fake: FakeSlack) -> None:
    url = fake.base_url + "api.test?foo=bar&blocks=%5B%7B%22type%22%3A%22divider%22%7D%5D"
    request = urllib.request.Request(url, headers={"Authorization": "Bearer xoxb-get"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert json.load(answer)["args"]["foo"] == "bar"

    [call] = fake.calls
    assert call.http_method == "GET"
    assert call.body == {"foo": "bar", "blocks": [{"type": "divider"}]}
    assert call.token == "xoxb-get"


def test_ts_values_are_unique_and_increasing(client: WebClient) -> None:
    stamps = [client.chat_postMessage(channel="C1", text=str(n))["ts"] for n in range(5)]

    assert stamps[0] == "1700000000.000100"
    assert len(set(stamps)) == 5
    assert [Decimal(ts) for ts in stamps] == sorted(Decimal(ts) for ts in stamps)


def test_unknown_method_answers_unknown_method(fake: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as raised:
        client.api_call("lessons.teach")

    assert raised.value.response.status_code == 200
    assert raised.value.response["error"] == "unknown_method"
    assert fake.calls_to("lessons.teach")[0].error == "unknown_method"


def test_auth_test_identifies_the_bot(client: WebClient) -> None:
    response = client.auth_test()

    assert (response["user_id"], response["team_id"], response["bot_id"]) == (
        BOT_USER_ID,
        TEAM_ID,
        BOT_ID,
    )


def test_require_token_rejects_other_tokens(fake: FakeSlack) -> None:
    fake.require_token = "xoxb-right"

    with pytest.raises(SlackApiError) as raised:
        WebClient(token="xoxb-wrong", base_url=fake.base_url).auth_test()
    assert raised.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as raised:
        WebClient(base_url=fake.base_url).auth_test()
    assert raised.value.response["error"] == "not_authed"
    assert WebClient(token="xoxb-right", base_url=fake.base_url).auth_test()["ok"] is True


# ------------------------------------------------------------------------- stored messages


def test_dm_to_user_is_readable_with_metadata_from_history(client: WebClient) -> None:
    posted = client.chat_postMessage(channel="U123", text="Hi", blocks=BLOCKS, metadata=METADATA)

    assert posted["channel"] == "D123"
    history = client.conversations_history(channel="D123", include_all_metadata=True)
    [message] = history["messages"]
    assert message["ts"] == posted["ts"]
    assert message["metadata"] == METADATA
    assert message["blocks"] == BLOCKS
    plain = client.conversations_history(channel="D123")
    assert "metadata" not in plain["messages"][0]
    by_user = client.conversations_history(channel="U123", include_all_metadata=True)
    assert by_user["messages"] == history["messages"]
    assert client.conversations_open(users="U123")["channel"]["id"] == "D123"


def test_history_is_newest_first_and_honours_oldest_and_limit(
    fake: FakeSlack, client: WebClient
) -> None:
    stamps = [client.chat_postMessage(channel="C1", text=f"m{n}")["ts"] for n in range(4)]
    client.chat_postMessage(channel="C1", text="reply", thread_ts=stamps[0])
    client.chat_postMessage(channel="C2", text="elsewhere")

    everything = client.conversations_history(channel="C1")["messages"]
    assert [m["text"] for m in everything] == ["m3", "m2", "m1", "m0"]
    after_first = client.conversations_history(channel="C1", oldest=stamps[0])["messages"]
    assert [m["text"] for m in after_first] == ["m3", "m2", "m1"]
    page = client.conversations_history(channel="C1", limit=2)
    assert [m["text"] for m in page["messages"]] == ["m3", "m2"]
    assert page["has_more"] is True
    assert len(fake.messages("C1")) == 5  # the thread reply is stored, not in history


def test_chat_update_changes_the_stored_message(client: WebClient) -> None:
    posted = client.chat_postMessage(channel="U7", text="before", metadata=METADATA)

    updated = client.chat_update(channel=posted["channel"], ts=posted["ts"], text="after")

    assert (updated["channel"], updated["ts"], updated["text"]) == ("D7", posted["ts"], "after")
    [message] = client.conversations_history(channel="D7", include_all_metadata=True)["messages"]
    assert message["text"] == "after"
    assert message["metadata"] == METADATA
    with pytest.raises(SlackApiError) as raised:
        client.chat_update(channel="D7", ts="1.000000", text="x")
    assert raised.value.response["error"] == "message_not_found"


def test_conversations_open_for_several_users_returns_group(client: WebClient) -> None:
    response = client.conversations_open(users=["U9", "U2"])

    assert response["channel"]["id"] == "G29"


def test_post_ephemeral_and_views(fake: FakeSlack, client: WebClient) -> None:
    assert client.chat_postEphemeral(channel="C1", user="U1", text="psst")["message_ts"]
    home = {"type": "home", "blocks": BLOCKS}

    published = client.views_publish(user_id="U1", view=home)["view"]
    republished = client.views_publish(user_id="U1", view=home)["view"]
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Quiz"}, "blocks": []}
    opened = client.views_open(trigger_id="123.456", view=modal)["view"]
    updated = client.views_update(view_id=opened["id"], view={**modal, "blocks": BLOCKS})["view"]

    assert published["id"] == republished["id"]
    assert published["id"].startswith("V")
    assert opened["id"] != published["id"]
    assert updated["id"] == opened["id"]
    assert updated["blocks"] == BLOCKS
    home_view = fake.home_view("U1")
    assert home_view is not None and home_view["blocks"] == BLOCKS
    with pytest.raises(SlackApiError):
        client.views_update(view_id="V404", view=modal)


# ------------------------------------------------------------------------- users


def test_users_list_pagination_returns_every_user(fake: FakeSlack, client: WebClient) -> None:
    fake.users = USERS

    # Iterating a SlackResponse re-fills the same object page by page.
    pages = [list(page["members"]) for page in client.users_list(limit=2)]

    assert [len(members) for members in pages] == [2, 2, 1]
    assert [u["id"] for members in pages for u in members] == [u["id"] for u in USERS]
    assert [c.body.get("cursor") is None for c in fake.calls_to("users.list")] == [
        True,
        False,
        False,
    ]
    with pytest.raises(SlackApiError) as raised:
        client.users_list(cursor="bogus")
    assert raised.value.response["error"] == "invalid_cursor"


def test_users_info_and_lookup_by_email(fake: FakeSlack, client: WebClient) -> None:
    fake.users = USERS

    assert client.users_info(user="U3")["user"]["name"] == "user3"
    assert client.users_lookupByEmail(email="USER4@example.com")["user"]["id"] == "U4"
    with pytest.raises(SlackApiError) as raised:
        client.users_info(user="U404")
    assert raised.value.response["error"] == "user_not_found"
    with pytest.raises(SlackApiError) as raised:
        client.users_lookupByEmail(email="nobody@example.com")
    assert raised.value.response["error"] == "users_not_found"


# ------------------------------------------------------------------------- canned answers


def test_canned_error_for_one_channel_only(fake: FakeSlack, client: WebClient) -> None:
    fake.respond(
        "chat.postMessage",
        {"ok": False, "error": "channel_not_found"},
        when=lambda body: body.get("channel") == "U999",
    )

    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="U999", text="hi")
    assert raised.value.response["error"] == "channel_not_found"
    assert client.chat_postMessage(channel="U1", text="hi")["channel"] == "D1"
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="U999", text="again")  # times=None: always

    assert [c.body["channel"] for c in fake.delivered()] == ["U1"]
    assert [c.error for c in fake.calls_to("chat.postMessage")] == [
        "channel_not_found",
        None,
        "channel_not_found",
    ]


def test_limited_rules_apply_in_order_then_the_default(fake: FakeSlack, client: WebClient) -> None:
    fake.respond("auth.test", {"ok": True, "user_id": "UOTHER"}, headers={"X-Fake": "1"})
    fake.rate_limit("chat.postMessage", retry_after=3, times=1)
    fake.server_error("chat.postMessage", status=500, times=1)
    fake.respond("chat.postMessage", {"ok": True, "ts": "1.0", "channel": "C1"}, times=1)

    assert _post_statuses(client, 4) == [429, 500, 200, 200]
    assert fake.calls_to("chat.postMessage")[2].response == {
        "ok": True,
        "ts": "1.0",
        "channel": "C1",
    }
    answer = client.auth_test()
    assert answer["user_id"] == "UOTHER"
    assert answer.headers["X-Fake"] == "1"


def test_rate_limit_raises_with_status_and_retry_after(fake: FakeSlack, client: WebClient) -> None:
    fake.rate_limit("chat.postMessage", retry_after=7, times=1)

    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C1", text="hi")

    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "7"
    assert raised.value.response["error"] == "ratelimited"
    [limited] = fake.calls_to("chat.postMessage")
    assert (limited.status, limited.response_headers) == (429, {"Retry-After": "7"})
    assert not limited.ok
    assert client.chat_postMessage(channel="C1", text="hi")["ok"] is True


def test_rate_limit_retry_handler_eventually_succeeds(fake: FakeSlack) -> None:
    # Retry-After: 0 keeps the handler's sleep (0 + random jitter) under a second.
    fake.rate_limit("chat.postMessage", retry_after=0, times=1)
    client = WebClient(
        token="xoxb-test",
        base_url=fake.base_url,
        timeout=5,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )

    assert client.chat_postMessage(channel="C1", text="hi")["ok"] is True

    first, second = fake.calls_to("chat.postMessage")
    assert (first.status, second.status) == (429, 200)
    assert second.at >= first.at + int(first.response_headers["Retry-After"])
    assert fake.delivered() == [second]


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_raises(fake: FakeSlack, client: WebClient, status: int) -> None:
    fake.server_error("chat.postMessage", status=status, times=1)

    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C1", text="hi")

    assert raised.value.response.status_code == status
    assert fake.calls_to("chat.postMessage")[0].status == status
    assert client.chat_postMessage(channel="C1", text="hi")["ok"] is True


def test_dropped_connection_raises_a_connection_error(fake: FakeSlack) -> None:
    fake.drop_connection("chat.postMessage", times=1)
    # WebClient's default ConnectionErrorRetryHandler would retry after a ~1 s backoff.
    client = WebClient(token="xoxb-test", base_url=fake.base_url, timeout=5, retry_handlers=[])

    with pytest.raises((URLError, ConnectionError)):
        client.chat_postMessage(channel="C1", text="hi")

    [dropped] = fake.calls_to("chat.postMessage")
    assert dropped.status == DROPPED
    assert dropped.dropped and dropped.response is None
    assert dropped.body["text"] == "hi"
    assert client.chat_postMessage(channel="C1", text="hi")["ok"] is True
    assert fake.messages("C1")[0]["text"] == "hi"
    assert len(fake.messages("C1")) == 1


def test_wildcard_rule_matches_every_method(fake: FakeSlack, client: WebClient) -> None:
    fake.server_error("*", times=2)

    with pytest.raises(SlackApiError):
        client.auth_test()
    with pytest.raises(SlackApiError):
        client.users_list()
    assert client.auth_test()["ok"] is True


def test_fault_rate_is_deterministic_for_a_seed() -> None:
    def run(seed: int) -> list[int]:
        with FakeSlack() as fake:
            fake.fault_rate("chat.postMessage", ratelimit=0.3, server_error=0.2, seed=seed)
            client = WebClient(token="xoxb-test", base_url=fake.base_url, timeout=5)
            statuses = _post_statuses(client, 40)
            assert [c.status for c in fake.calls_to("chat.postMessage")] == statuses
            assert len(fake.delivered()) == statuses.count(200)
            return statuses

    first = run(seed=1)

    assert run(seed=1) == first
    assert {429, 503, 200} <= set(first)
    assert run(seed=2) != first


def test_fault_rate_only_touches_matching_requests(fake: FakeSlack, client: WebClient) -> None:
    fake.fault_rate(
        "chat.postMessage", ratelimit=1.0, server_error=0.0, when=lambda b: b["channel"] == "C9"
    )

    assert client.chat_postMessage(channel="C1", text="hi")["ok"] is True
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C9", text="hi")
    assert raised.value.response.status_code == 429


def test_exception_in_predicate_is_reported(fake: FakeSlack, client: WebClient) -> None:
    fake.respond("auth.test", {"ok": True}, when=lambda body: body["missing"])

    with pytest.raises(SlackApiError) as raised:
        client.auth_test()

    assert raised.value.response.status_code == 500
    assert raised.value.response["error"] == "fake_internal_error"
    assert "KeyError" in fake.errors[0]


def test_reset_forgets_calls_rules_and_messages(fake: FakeSlack, client: WebClient) -> None:
    fake.users = USERS
    client.chat_postMessage(channel="C1", text="hi")
    fake.rate_limit("chat.postMessage", times=None)

    fake.reset()

    assert fake.calls == []
    assert fake.messages("C1") == []
    assert client.chat_postMessage(channel="C1", text="hi")["ts"] == "1700000000.000100"
    assert len(fake.users) == len(USERS)


# ------------------------------------------------------------------------- waiting


def test_wait_for_calls_returns_calls_made_from_another_thread(
    fake: FakeSlack, client: WebClient
) -> None:
    go = threading.Event()

    def post_three() -> None:
        go.wait(timeout=5)
        for n in range(3):
            client.chat_postMessage(channel="C1", text=f"m{n}")

    worker = threading.Thread(target=post_three)
    worker.start()
    go.set()
    try:
        calls = fake.wait_for_calls("chat.postMessage", 3, timeout=5.0)
    finally:
        worker.join(timeout=5)

    assert [c.body["text"] for c in calls] == ["m0", "m1", "m2"]
    assert all(isinstance(c, Call) for c in calls)
    assert fake.wait_for_calls("chat.postMessage", 2, where=lambda c: c.ok, timeout=0.1)


def test_wait_for_calls_gives_up_after_its_timeout_with_a_helpful_message(
    fake: FakeSlack, client: WebClient
) -> None:
    client.auth_test()

    with pytest.raises(AssertionError, match=r"1 call\(s\) to chat.postMessage; got 0") as raised:
        fake.wait_for_calls("chat.postMessage", 1, timeout=0.2)

    assert "auth.test=200" in str(raised.value)
