"""The web server's limits, through the real server (uvicorn) on 127.0.0.1.

Huge bodies are streamed from generators (never held in memory) over raw sockets, and
the test counts what the client managed to send before the server refused and closed:
the cap (1 MB) plus what the kernel's socket buffers absorb, never the 300 MB. How fast
the refusals are, and what they cost in memory, are benchmark figures
(``python -m bench web``, docs/performance.md), not assertions here.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from slack_bolt import App
from slack_sdk.signature import SignatureVerifier

from server.app import build_app, health
from server.http import WebServer, start_server
from tests.fakes.slack_api import FakeSlack
from tests.helpers import slack_settings

SECRET = "test-signing-secret"
MB = 1_000_000
HUGE = 300 * MB
CHUNK = 64 * 1024
# What a client may push into the two kernels' socket buffers on loopback before the
# server's close reaches it (Linux autotunes the receive buffer up to 32 MiB).
KERNEL_BUFFERS = 40 * MB
WAIT = 30.0  # bound on any wait for the server; never reached when it behaves


@dataclass
class Served:
    server: WebServer
    app: App

    @property
    def url(self) -> str:
        return self.server.url


def serve(db, clock, fake: FakeSlack, **limits: object) -> Iterator[Served]:
    settings = slack_settings(fake.base_url, signing_secret=SECRET, **limits)
    app = build_app(settings, database=db, clock=clock)
    with start_server(
        settings=settings, host="127.0.0.1", port=0, health=lambda: health(db), slack=app
    ) as server:
        yield Served(server, app)


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as running:
        yield running


@pytest.fixture
def served(db, clock, fake) -> Iterator[Served]:
    yield from serve(db, clock, fake)


# --- raw HTTP -----------------------------------------------------------------------------


def connect(server: Served) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.server.port), timeout=WAIT)
    return sock


def stream(sock: socket.socket, chunks: Iterator[bytes]) -> int:
    """Send ``chunks`` until the server stops taking them; the bytes that went out."""
    sent = 0
    try:
        for chunk in chunks:
            sock.sendall(chunk)
            sent += len(chunk)
    except (ConnectionResetError, BrokenPipeError):
        pass
    return sent


def zeros(total: int) -> Iterator[bytes]:
    chunk = b"0" * CHUNK
    for _ in range(total // CHUNK):
        yield chunk


def chunked(total: int) -> Iterator[bytes]:
    for chunk in zeros(total):
        yield b"%x\r\n%s\r\n" % (len(chunk), chunk)
    yield b"0\r\n\r\n"


def status_of(sock: socket.socket) -> int | None:
    """The status of the response on ``sock``; None if the connection was reset first."""
    try:
        head = sock.recv(4096)
    except ConnectionResetError:
        return None
    return int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else None


def closed_by_server(sock: socket.socket) -> bool:
    """Read to the end: True once the server has closed (bounded by the socket timeout)."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return False
    return True


def head(method: str, path: str, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def signed(body: str | bytes, *, timestamp: str | None = None) -> dict[str, str]:
    stamp = timestamp or str(int(time.time()))
    raw = body.encode() if isinstance(body, str) else body
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=stamp, body=raw)
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature or ""}


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=WAIT) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def url_verification() -> bytes:
    return json.dumps({"type": "url_verification", "challenge": "c-42", "token": "x"}).encode()


def answer_signed(served: Served) -> tuple[int, str]:
    body = url_verification()
    return post(
        f"{served.url}/slack/events", body, {**signed(body), "Content-Type": "application/json"}
    )


def warnings_from(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.WARNING]


def no_errors(caplog: pytest.LogCaptureFixture) -> None:
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []


# --- bodies -------------------------------------------------------------------------------


def test_a_300_mb_body_is_refused_from_its_content_length_before_it_is_read(served, caplog):
    with connect(served) as sock:
        sock.sendall(head("POST", "/slack/events", Content_Length=str(HUGE)))
        assert status_of(sock) == 413
        sent = stream(sock, zeros(HUGE))
    assert sent < KERNEL_BUFFERS
    assert "Content-Length 300000000 is over 1000000" in caplog.text
    no_errors(caplog)


def test_a_content_length_of_minus_one_is_refused_before_the_body_is_read(served, caplog):
    with connect(served) as sock:
        sock.sendall(head("POST", "/slack/events", Content_Length="-1"))
        sent = stream(sock, zeros(HUGE))
        assert status_of(sock) in (400, None)  # None: reset before the 400 could be read
    assert sent < KERNEL_BUFFERS
    no_errors(caplog)


def test_a_chunked_300_mb_body_is_refused_once_past_the_cap(served, caplog):
    with connect(served) as sock:
        sock.sendall(head("POST", "/slack/events", Transfer_Encoding="chunked"))
        sent = stream(sock, chunked(HUGE))
        assert status_of(sock) in (413, None)
    assert MB < sent < MB + KERNEL_BUFFERS
    assert "body over 1000000 bytes" in caplog.text
    no_errors(caplog)


def test_a_body_longer_than_its_content_length_is_not_read_on(served):
    with connect(served) as sock:
        sock.sendall(head("POST", "/slack/events", Content_Length="10"))
        sent = stream(sock, zeros(HUGE))  # 10 bytes of body, then garbage as a "request"
    assert sent < KERNEL_BUFFERS


def test_a_refused_body_on_an_unknown_path_is_not_read_either(served):
    with connect(served) as sock:
        sock.sendall(head("POST", "/elsewhere", Transfer_Encoding="chunked"))
        sent = stream(sock, chunked(HUGE))
    assert sent < KERNEL_BUFFERS


def test_a_body_that_stops_arriving_is_refused_with_408(db, clock, fake, caplog):
    for served in serve(db, clock, fake, http_body_timeout_seconds=0.2):
        with connect(served) as sock:
            sock.sendall(head("POST", "/slack/events", Content_Length="100") + b"{")
            assert status_of(sock) == 408
            assert closed_by_server(sock)
        assert "body not received within 0.2 s" in caplog.text
    no_errors(caplog)


# --- connections --------------------------------------------------------------------------


def test_500_idle_connections_do_not_stop_a_signed_request_from_being_answered(served):
    idle = [connect(served) for _ in range(500)]
    try:
        status, reply = answer_signed(served)
        assert (status, json.loads(reply)["challenge"]) == (200, "c-42")
        assert get(f"{served.url}/health") == 200
    finally:
        for sock in idle:
            sock.close()


def test_a_connection_that_never_sends_its_headers_is_closed(db, clock, fake):
    for served in serve(db, clock, fake, http_header_timeout_seconds=0.2):
        with connect(served) as silent:
            assert closed_by_server(silent)
        # Waiting for one more byte of headers each time does not keep it open either.
        with connect(served) as slow:
            slow.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\n")
            assert closed_by_server(slow)


def test_an_idle_keep_alive_connection_is_closed(db, clock, fake):
    for served in serve(db, clock, fake, http_keepalive_seconds=0.2):
        with connect(served) as sock:
            sock.sendall(head("GET", "/health"))
            assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
            assert closed_by_server(sock)


def test_requests_in_flight_are_bounded_and_idle_connections_do_not_count(db, clock, fake):
    for served in serve(db, clock, fake, http_max_requests=1):
        idle = [connect(served) for _ in range(20)]
        with connect(served) as holder:
            # A request waiting for the rest of its body holds the only slot.
            holder.sendall(head("POST", "/slack/events", Content_Length="2") + b"{")
            statuses = set()
            for _ in range(500):  # bounded: until the server has admitted the holder
                statuses.add(get(f"{served.url}/health"))
                if 503 in statuses:
                    break
            assert 503 in statuses
            holder.sendall(b"}")
            assert status_of(holder) == 401  # answered (unsigned), and the slot is free
        assert get(f"{served.url}/health") == 200
        for sock in idle:
            sock.close()


def test_a_slow_listener_does_not_stall_other_requests(served):
    entered, release = threading.Event(), threading.Event()

    @served.app.command("/slow")
    def slow(ack) -> None:  # type: ignore[no-untyped-def]
        entered.set()
        release.wait(WAIT)
        ack()

    body = b"command=%2Fslow&text=&user_id=U1&team_id=T1&trigger_id=t1"
    headers = {**signed(body), "Content-Type": "application/x-www-form-urlencoded"}
    answers: list[tuple[int, str]] = []
    client = threading.Thread(
        target=lambda: answers.append(post(f"{served.url}/slack/events", body, headers))
    )
    client.start()
    try:
        assert entered.wait(WAIT)
        assert answer_signed(served)[0] == 200
        assert get(f"{served.url}/health") == 200
        assert answers == []  # the slow one is still being handled
    finally:
        release.set()
        client.join(WAIT)
    assert answers[0][0] == 200


# --- malformed requests -------------------------------------------------------------------

MALFORMED = [
    pytest.param(b"{not json", "application/json", id="broken-json"),
    pytest.param(b"[1, 2, 3]", "application/json", id="json-list"),
    pytest.param(b'"just a string"', "application/json", id="json-string"),
    pytest.param(b"payload=%7Bnot+json", "application/x-www-form-urlencoded", id="bad-payload"),
    pytest.param(b"payload=%5B1%5D", "application/x-www-form-urlencoded", id="payload-list"),
    pytest.param(b"\xff\xfe\x00garbage", "application/json", id="not-utf8"),
    pytest.param(b"", "application/json", id="empty"),
]


@pytest.mark.parametrize(("body", "content_type"), MALFORMED)
def test_a_malformed_unsigned_body_gets_401_and_one_warning(served, caplog, body, content_type):
    caplog.set_level(logging.INFO)
    status, reply = post(f"{served.url}/slack/events", body, {"Content-Type": content_type})
    assert status == 401
    assert "Slack signature" in json.loads(reply)["error"]
    [warning] = warnings_from(caplog)
    assert warning.name == "server.web" and "refused POST /slack/events" in warning.getMessage()
    no_errors(caplog)


# Slack signs UTF-8 text; a body that is not is refused as unsigned (above).
@pytest.mark.parametrize(
    ("body", "content_type"), [p for p in MALFORMED if p.id not in ("empty", "not-utf8")]
)
def test_a_malformed_body_with_a_valid_signature_gets_400_without_a_traceback(
    served, caplog, body, content_type
):
    caplog.set_level(logging.INFO)
    status, _ = post(
        f"{served.url}/slack/events", body, {**signed(body), "Content-Type": content_type}
    )
    assert status == 400
    assert len(warnings_from(caplog)) == 1
    no_errors(caplog)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Slack-Request-Timestamp": "not-a-number", "X-Slack-Signature": "v0=abc"},
        {"X-Slack-Request-Timestamp": "1", "X-Slack-Signature": "v0=abc"},
        {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=é"},
        {"X-Slack-Signature": "v0=abc"},
    ],
    ids=["timestamp-not-a-number", "timestamp-expired", "non-ascii-signature", "no-timestamp"],
)
def test_odd_signature_headers_get_401_without_a_traceback(served, caplog, headers):
    body = url_verification()
    status, _ = post(
        f"{served.url}/slack/events", body, {**headers, "Content-Type": "application/json"}
    )
    assert status == 401
    no_errors(caplog)


def test_a_request_line_that_is_no_http_gets_400_without_a_traceback(served, caplog):
    with connect(served) as sock:
        sock.sendall(b"\x16\x03\x01 hello, this is not HTTP\r\n\r\n")
        assert status_of(sock) in (400, None)
        assert closed_by_server(sock)
    no_errors(caplog)
