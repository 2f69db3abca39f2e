"""A fake Slack Web API served over real HTTP on 127.0.0.1, for tests.

``FakeSlack`` runs a ``ThreadingHTTPServer`` on a random free port, so code under test talks to
it through an unmodified ``slack_sdk.WebClient`` (or Bolt app) pointed at ``fake.base_url``.
It answers the Web API methods learnbot uses with realistic payloads, keeps posted messages so
``conversations.history`` returns them, records every request as a ``Call``, and can inject
canned responses and faults (rate limits, server errors, dropped connections, a post stored
and its answer then dropped, a hook run between storing and answering) per method and, with a
``when`` predicate, per request body (for example one person's DM channel).

Example:
    ::

        with FakeSlack() as fake:
            fake.rate_limit("chat.postMessage", retry_after=1, times=1)
            client = WebClient(token="xoxb-test", base_url=fake.base_url)
            ...
            [call] = fake.wait_for_calls("chat.postMessage", 1)
            assert call.status == 429
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import email.parser
import email.policy
import json
import logging
import math
import random
import socketserver
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "BOT_ID",
    "BOT_USER_ID",
    "DROPPED",
    "TEAM_ID",
    "Call",
    "FakeSlack",
]

_log = logging.getLogger(__name__)

Body = dict[str, Any]
"""Parsed request parameters or a JSON response body."""

BodyPredicate = Callable[[Body], bool]
"""A predicate on a request's parsed parameters, e.g. ``lambda b: b.get("channel") == "U9"``."""

BOT_USER_ID = "U0BOT"
"""The bot's user id, as returned by ``auth.test``."""
TEAM_ID = "T0TEAM"
"""The workspace id, as returned by ``auth.test``."""
BOT_ID = "B0BOT"
"""The bot id, as returned by ``auth.test`` and set on posted messages."""
APP_ID = "A0APP"
"""The app id set on posted messages."""
DROPPED = 0
"""``Call.status`` of a request whose connection was closed without an answer."""

_FIRST_TS_MICROS = 1_700_000_000_000_100
_TS_STEP_MICROS = 100
_TRUE_STRINGS = frozenset({"1", "true", "yes", "on"})
_PLAIN_TEXT_FIELDS = frozenset({"text", "token"})
"""Fields never decoded as JSON: a message text like ``[1]`` stays a string."""


@dataclass(frozen=True)
class Call:
    """One request the fake received, recorded after it decided how to answer.

    Attributes:
        method: Web API method name, e.g. ``"chat.postMessage"``.
        body: Parsed parameters: query string merged with the form, multipart or JSON body.
            String values holding a JSON list or object (``blocks``, ``metadata``, ``view``) are
            decoded; uploaded files are ``bytes``.
        token: Bearer token from the ``Authorization`` header (or a ``token`` parameter).
        at: When the request was received, from the fake's ``time_source`` (by default
            ``time.monotonic()``).
        status: HTTP status answered, or ``DROPPED`` (0) if the connection was closed unanswered.
        response: JSON body answered, or ``None`` if dropped.
        response_headers: Extra headers answered, e.g. ``{"Retry-After": "1"}``.
        http_method: ``"POST"`` or ``"GET"``.
        unsent_response: For a request handled and then dropped (``store_then_drop``), the
            answer the fake computed (and whose effect it kept) but never sent.
    """

    method: str
    body: Body
    token: str | None
    at: float
    status: int
    response: Body | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    http_method: str = "POST"
    unsent_response: Body | None = None

    @property
    def ok(self) -> bool:
        """Whether the request was answered HTTP 200 with ``"ok": true``."""
        return self.status == 200 and self.response is not None and self.response.get("ok") is True

    @property
    def dropped(self) -> bool:
        """Whether the connection was closed without an answer."""
        return self.status == DROPPED

    @property
    def landed(self) -> bool:
        """Whether the request took effect: answered ``ok``, or handled (e.g. a message
        stored) and then dropped before the client saw the answer."""
        if self.ok:
            return True
        unsent = self.unsent_response
        return self.dropped and unsent is not None and unsent.get("ok") is True

    @property
    def error(self) -> str | None:
        """The Slack ``error`` code answered, if any."""
        if self.response is None:
            return None
        error = self.response.get("error")
        return error if isinstance(error, str) else None


@dataclass(frozen=True)
class _Reply:
    """How to answer one request; ``body=None`` closes the connection without answering.

    ``handle`` (set by a rule) runs the default behaviour first and keeps its effect: with
    ``body=None`` the computed answer is dropped (kept as ``unsent``), otherwise it is
    the answer. ``before_write`` runs in the request's thread, outside the fake's lock,
    after the call is recorded and before the answer is written.
    """

    status: int
    body: Body | None
    headers: dict[str, str] = field(default_factory=dict)
    handle: bool = False
    unsent: Body | None = None
    before_write: Callable[[Call], None] | None = None


class _BadRequest(Exception):
    """The request body could not be parsed; ``error`` is the Slack error code to answer."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class _Rule:
    """A canned answer or fault for matching requests.

    Args:
        method: Method name to match, or ``"*"`` for every method.
        when: Optional predicate on the parsed body.
        times: Number of matching requests to answer, or ``None`` for all of them.
        produce: Called for a matching request; returns the reply, or ``None`` to let later
            rules and the default behaviour answer (used by random faults).
    """

    def __init__(
        self,
        method: str,
        *,
        when: BodyPredicate | None,
        times: int | None,
        produce: Callable[[], _Reply | None],
    ) -> None:
        if times is not None and times < 1:
            raise ValueError(f"times must be a positive int or None, not {times!r}")
        self.method = method
        self.when = when
        self.remaining = times
        self.produce = produce

    def matches(self, method: str, body: Body) -> bool:
        if self.method not in ("*", method):
            return False
        return self.when is None or bool(self.when(body))


class _SlackLimits:
    """Slack-like limits on one method, on the fake's clock (see ``enforce_rate_limits``).

    Each limit is a token bucket in GCRA form: one token every ``interval`` seconds, at
    most ``burst`` saved up. A call that finds either bucket empty is answered 429 and
    takes no token.
    """

    def __init__(
        self, *, per_minute: float, per_channel_seconds: float, burst: int, channel_burst: int
    ) -> None:
        if per_minute <= 0 or per_channel_seconds < 0 or burst < 1 or channel_burst < 1:
            raise ValueError(
                "per_minute must be positive, per_channel_seconds not negative, "
                "and burst and channel_burst at least 1"
            )
        self._workspace = (60.0 / per_minute, burst)
        self._channel = (per_channel_seconds, channel_burst)
        self._free_at: dict[str | None, float] = {}  # theoretical arrival time per bucket

    def check(self, body: Body, now: float) -> _Reply | None:
        """``None`` (and the call takes its tokens) or the 429 to answer."""
        channel = _dm_channel(str(body.get("channel") or ""))
        buckets = ((None, self._workspace), (channel, self._channel))
        wait = max(self._wait(key, limit, now) for key, limit in buckets)
        if wait > 0:
            return _rate_limited(max(1, math.ceil(wait)))
        for key, (interval, _) in buckets:
            self._free_at[key] = max(self._free_at.get(key, now), now) + interval
        return None

    def _wait(self, key: str | None, limit: tuple[float, int], now: float) -> float:
        interval, burst = limit
        free_at = self._free_at.get(key)
        return 0.0 if free_at is None else free_at - interval * (burst - 1) - now


class _Server(ThreadingHTTPServer):
    """HTTP server bound to 127.0.0.1 on a random port, answering for one ``FakeSlack``."""

    daemon_threads = True

    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can stall
        # for seconds on machines without DNS; the fake never needs the host name.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


class _Handler(BaseHTTPRequestHandler):
    """Parses one request, asks the fake for the reply, and writes (or drops) it."""

    server: _Server
    server_version = "FakeSlack/1.0"
    protocol_version = "HTTP/1.0"

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("fake slack %s - " + format, self.address_string(), *args)

    def _handle(self) -> None:
        received_at = self.server.fake._time_source()
        url = urlsplit(self.path)
        raw = self._read_body()
        if not url.path.startswith("/api/") or url.path == "/api/":
            self._write(_Reply(404, {"ok": False, "error": "not_found"}))
            return
        method = url.path.removeprefix("/api/")
        parse_error: str | None = None
        try:
            body = _parse_params(url.query, self.headers.get("Content-Type"), raw)
        except _BadRequest as exc:
            body, parse_error = {}, exc.error
        token = _bearer_token(self.headers.get("Authorization"))
        if token is None and isinstance(body.get("token"), str):
            token = body["token"]
        reply, call = self.server.fake._answer(
            method=method,
            body=body,
            token=token,
            at=received_at,
            http_method=self.command,
            parse_error=parse_error,
        )
        delay = self.server.fake._latency_of(method)
        if delay > 0:
            time.sleep(delay)  # this request's thread only: concurrent calls overlap
        if reply.before_write is not None:
            try:
                reply.before_write(call)
            except Exception:
                self.server.fake._record_error(f"before_answer hook for {method}")
        self._write(reply)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _write(self, reply: _Reply) -> None:
        if reply.body is None:
            # Send nothing: the server closes the socket and the client sees the remote end
            # disconnect without a response.
            self.close_connection = True
            return
        data = json.dumps(reply.body).encode("utf-8")
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            _log.debug("fake slack: client went away before the reply was written")


class FakeSlack:
    """A fake Slack Web API server on ``127.0.0.1`` with recording and fault injection.

    Use it as a context manager, or call ``start()`` and ``stop()``. Point a client at
    ``base_url``. All public methods are thread-safe.

    Canned answers and faults (``respond``, ``rate_limit``, ``server_error``, ``fault_rate``,
    ``drop_connection``) are rules checked before the default behaviour. Rules limited with
    ``times`` are used first, in the order they were added, each answering its next ``times``
    matching requests; rules without a limit then apply, the most recently added first.

    Attributes:
        users: Members served by ``users.list``, ``users.info`` and ``users.lookupByEmail``.
            Each is a Slack user object dict with at least ``"id"``; email is looked up in
            ``profile.email`` (or a top-level ``email``).
        require_token: If set, requests with any other token get ``invalid_auth`` (or
            ``not_authed`` without a token) instead of the default answer.
    """

    def __init__(
        self,
        *,
        users: Iterable[Body] = (),
        require_token: str | None = None,
        time_source: Callable[[], float] | None = None,
    ) -> None:
        """Create a stopped fake.

        Args:
            users: Initial value of ``users``.
            require_token: Initial value of ``require_token``.
            time_source: Seconds since the epoch on the test's (virtual) clock, e.g.
                ``lambda: clock.now().timestamp()``. When given, it stamps ``Call.at`` and
                message ``ts`` values are at least its value, as Slack's are; by default
                calls are stamped with ``time.monotonic()`` and ``ts`` counts up from
                ``1700000000.000100``.
        """
        self._cond = threading.Condition(threading.RLock())
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._users: list[Body] = [dict(u) for u in users]
        self.require_token = require_token
        self._epoch_source = time_source
        self._time_source = time_source or time.monotonic
        self._init_state()

    def _init_state(self) -> None:
        self._calls: list[Call] = []
        self._errors: list[str] = []
        self._limited_rules: list[_Rule] = []
        self._unlimited_rules: list[_Rule] = []
        self._slack_limits: dict[str, _SlackLimits] = {}
        self._latency: dict[str, float] = {}
        self._messages: dict[str, list[Body]] = {}
        self._views: dict[str, Body] = {}
        self._home_view_ids: dict[str, str] = {}
        self._last_ts_micros = _FIRST_TS_MICROS - _TS_STEP_MICROS
        self._view_counter = 0

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        """Bind to a random free port on 127.0.0.1 and serve in a daemon thread.

        Returns:
            The fake itself.

        Raises:
            RuntimeError: If it is already running.
        """
        with self._cond:
            if self._server is not None:
                raise RuntimeError("FakeSlack is already running")
            self._server = _Server(self)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"FakeSlack:{self._server.server_port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket. Safe to call more than once."""
        with self._cond:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5.0)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The TCP port the fake listens on.

        Raises:
            RuntimeError: If the fake is not running.
        """
        with self._cond:
            if self._server is None:
                raise RuntimeError("FakeSlack is not running; call start() or use `with`")
            return self._server.server_port

    @property
    def base_url(self) -> str:
        """URL to pass as ``WebClient(base_url=...)``, e.g. ``http://127.0.0.1:PORT/api/``."""
        return f"http://127.0.0.1:{self.port}/api/"

    # ----------------------------------------------------------------- configuration

    @property
    def users(self) -> list[Body]:
        """A copy of the members served by the ``users.*`` methods."""
        with self._cond:
            return copy.deepcopy(self._users)

    @users.setter
    def users(self, users: Iterable[Body]) -> None:
        with self._cond:
            self._users = copy.deepcopy(list(users))

    def respond(
        self,
        method: str,
        body: Body,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        times: int | None = None,
        when: BodyPredicate | None = None,
    ) -> None:
        """Answer matching requests with a canned JSON body.

        Args:
            method: Method name, e.g. ``"chat.postMessage"``, or ``"*"`` for any method.
            body: JSON body to answer, e.g. ``{"ok": False, "error": "channel_not_found"}``.
            status: HTTP status to answer.
            headers: Extra response headers.
            times: Answer only the next ``times`` matching requests; ``None`` means always.
            when: Only match requests whose parsed body satisfies this predicate.
        """
        if not isinstance(body, dict):
            raise TypeError(f"body must be a dict, not {type(body).__name__}")
        reply = _Reply(status, copy.deepcopy(body), dict(headers or {}))
        self._add_rule(_Rule(method, when=when, times=times, produce=lambda: reply))

    def rate_limit(
        self,
        method: str,
        *,
        retry_after: int = 1,
        times: int | None = 1,
        when: BodyPredicate | None = None,
    ) -> None:
        """Answer matching requests with HTTP 429, ``Retry-After`` and ``ratelimited``.

        Args:
            method: Method name, or ``"*"`` for any method.
            retry_after: Seconds to send in the ``Retry-After`` header.
            times: Number of matching requests to rate-limit; ``None`` means always.
            when: Only match requests whose parsed body satisfies this predicate.
        """
        reply = _rate_limited(retry_after)
        self._add_rule(_Rule(method, when=when, times=times, produce=lambda: reply))

    def server_error(
        self,
        method: str,
        *,
        status: int = 503,
        times: int | None = 1,
        when: BodyPredicate | None = None,
    ) -> None:
        """Answer matching requests with an HTTP 5xx error.

        Args:
            method: Method name, or ``"*"`` for any method.
            status: HTTP status, e.g. 500 or 503.
            times: Number of matching requests to fail; ``None`` means always.
            when: Only match requests whose parsed body satisfies this predicate.
        """
        reply = _server_error(status)
        self._add_rule(_Rule(method, when=when, times=times, produce=lambda: reply))

    def drop_connection(
        self,
        method: str,
        *,
        times: int | None = 1,
        when: BodyPredicate | None = None,
    ) -> None:
        """Close the connection of matching requests without answering.

        The request body is read first, so the client sees the remote end disconnect (for
        urllib, ``http.client.RemoteDisconnected``, a ``ConnectionError``). The call is
        recorded with status ``DROPPED``.

        Args:
            method: Method name, or ``"*"`` for any method.
            times: Number of matching requests to drop; ``None`` means always.
            when: Only match requests whose parsed body satisfies this predicate.
        """
        reply = _Reply(DROPPED, None)
        self._add_rule(_Rule(method, when=when, times=times, produce=lambda: reply))

    def store_then_drop(
        self,
        method: str,
        *,
        times: int | None = 1,
        when: BodyPredicate | None = None,
    ) -> None:
        """Handle matching requests normally, then close the connection without answering.

        The request takes effect (a ``chat.postMessage`` is stored and shows up in
        ``conversations.history``) but the client sees the remote end disconnect, as when
        Slack's answer is lost on the way back: the case that makes a naive retry post a
        message twice. The call is recorded with status ``DROPPED``, the answer it would
        have had in ``Call.unsent_response``, and counts in ``landed()``.

        Args:
            method: Method name, or ``"*"`` for any method.
            times: Number of matching requests to treat so; ``None`` means always.
            when: Only match requests whose parsed body satisfies this predicate.
        """
        reply = _Reply(DROPPED, None, handle=True)
        self._add_rule(_Rule(method, when=when, times=times, produce=lambda: reply))

    def before_answer(
        self,
        method: str,
        hook: Callable[[Call], None],
        *,
        times: int | None = 1,
        when: BodyPredicate | None = None,
    ) -> None:
        """Handle matching requests normally, then call ``hook(call)`` before answering.

        The hook runs in the request's server thread, outside the fake's lock, after the
        request took effect and was recorded, while the client still waits for the answer:
        e.g. to kill the client process, or restart its database, at exactly that point.
        An exception in the hook is recorded in ``errors``; the answer is written anyway
        (a client that is gone by then is ignored).

        Args:
            method: Method name, or ``"*"`` for any method.
            hook: Called with the recorded ``Call``.
            times: Number of matching requests to hook; ``None`` means always.
            when: Only match requests whose parsed body satisfies this predicate.
        """
        reply = _Reply(200, {}, handle=True, before_write=hook)
        self._add_rule(_Rule(method, when=when, times=times, produce=lambda: reply))

    def fault_rate(
        self,
        method: str,
        *,
        ratelimit: float = 0.3,
        server_error: float = 0.1,
        drop: float = 0.0,
        store_then_drop: float = 0.0,
        retry_after: int = 1,
        status: int = 503,
        seed: int = 0,
        when: BodyPredicate | None = None,
    ) -> None:
        """Fail a random share of matching requests, deterministically for a seed.

        Each matching request draws once from ``random.Random(seed)``: it is rate-limited with
        probability ``ratelimit``, answered ``status`` with probability ``server_error``, its
        connection dropped unanswered with probability ``drop``, handled and then dropped
        (see ``store_then_drop``) with probability ``store_then_drop``, and otherwise
        answered normally. The same sequence of requests gets the same faults.

        Args:
            method: Method name, or ``"*"`` for any method.
            ratelimit: Probability of an HTTP 429 answer.
            server_error: Probability of an HTTP 5xx answer.
            drop: Probability of closing the connection before handling the request.
            store_then_drop: Probability of handling it, then closing unanswered.
            retry_after: Seconds to send in ``Retry-After`` with 429 answers.
            status: HTTP status of server errors.
            seed: Seed of the random generator.
            when: Only match requests whose parsed body satisfies this predicate.
        """
        shares = (ratelimit, server_error, drop, store_then_drop)
        if min(shares) < 0 or sum(shares) > 1:
            raise ValueError("fault probabilities must be >= 0 and sum to at most 1")
        rng = random.Random(seed)
        faults = [
            (ratelimit, _rate_limited(retry_after)),
            (server_error, _server_error(status)),
            (drop, _Reply(DROPPED, None)),
            (store_then_drop, _Reply(DROPPED, None, handle=True)),
        ]

        def produce() -> _Reply | None:
            draw = rng.random()
            for share, reply in faults:
                if draw < share:
                    return reply
                draw -= share
            return None

        self._add_rule(_Rule(method, when=when, times=None, produce=produce))

    def enforce_rate_limits(
        self,
        method: str = "chat.postMessage",
        *,
        per_minute: float,
        per_channel_seconds: float = 1.0,
        burst: int | None = None,
        channel_burst: int = 2,
    ) -> None:
        """Rate-limit ``method`` as Slack does, in real time (or on ``time_source``).

        Two limits, each a token bucket: the workspace may make ``per_minute`` calls a
        minute, with up to ``burst`` at once (default: one second's worth, at least 1),
        and each channel (a user id counts as the DM with that user) one call every
        ``per_channel_seconds``, with short bursts of ``channel_burst``. A call over
        either is answered HTTP 429 ``ratelimited`` with ``Retry-After`` (whole
        seconds until it would have been allowed, at least 1) and takes nothing from
        the budget. Canned answers and faults are decided first. Calling it again for
        ``method`` starts afresh; ``reset()`` removes the limits.

        Args:
            method: The method to limit.
            per_minute: The workspace's budget of calls a minute.
            per_channel_seconds: Seconds between calls to one channel (0: no limit).
            burst: Calls the workspace may make at once.
            channel_burst: Calls one channel may get at once.
        """
        limits = _SlackLimits(
            per_minute=per_minute,
            per_channel_seconds=per_channel_seconds,
            burst=burst if burst is not None else max(1, round(per_minute / 60)),
            channel_burst=channel_burst,
        )
        with self._cond:
            self._slack_limits[method] = limits

    def add_latency(self, method: str = "*", *, seconds: float) -> None:
        """Answer requests to ``method`` (``"*"``: any method) ``seconds`` late.

        Like a Slack that is far away: the request is decided and recorded on arrival
        (rate limits count it then), and the answer is written ``seconds`` later. The wait
        is in the request's own server thread, outside the fake's lock, so concurrent
        requests wait side by side: one client making one call at a time is bound by the
        latency, several clients overlap. A method's own latency wins over ``"*"``;
        ``seconds=0`` removes it, and ``reset()`` removes them all.
        """
        if seconds < 0:
            raise ValueError(f"seconds must not be negative, not {seconds!r}")
        with self._cond:
            if seconds:
                self._latency[method] = float(seconds)
            else:
                self._latency.pop(method, None)

    def _latency_of(self, method: str) -> float:
        with self._cond:
            return self._latency.get(method, self._latency.get("*", 0.0))

    def clear_faults(self) -> None:
        """Remove all canned responses and faults, keeping calls and stored state."""
        with self._cond:
            self._limited_rules.clear()
            self._unlimited_rules.clear()

    def clear_calls(self) -> None:
        """Forget the recorded calls, keeping rules and stored messages."""
        with self._cond:
            self._calls.clear()

    def reset(self) -> None:
        """Forget calls, rules, stored messages and views, and restart ``ts`` numbering.

        ``users`` and ``require_token`` are configuration and are kept.
        """
        with self._cond:
            self._init_state()

    def _add_rule(self, rule: _Rule) -> None:
        with self._cond:
            if rule.remaining is None:
                self._unlimited_rules.insert(0, rule)
            else:
                self._limited_rules.append(rule)

    # ----------------------------------------------------------------- inspection

    @property
    def calls(self) -> list[Call]:
        """A copy of every recorded call, in the order they were answered."""
        with self._cond:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        """Recorded calls to ``method``, in order.

        Args:
            method: Method name, e.g. ``"chat.postMessage"``.

        Returns:
            The matching calls, faulted ones included.
        """
        with self._cond:
            return [c for c in self._calls if c.method == method]

    def delivered(self, method: str = "chat.postMessage") -> list[Call]:
        """Calls to ``method`` that were answered HTTP 200 with ``"ok": true``.

        Args:
            method: Method name.

        Returns:
            The successful calls, in order.
        """
        return [c for c in self.calls_to(method) if c.ok]

    def landed(self, method: str = "chat.postMessage") -> list[Call]:
        """Calls to ``method`` that took effect, whether or not the client saw the answer.

        ``delivered()`` plus the calls handled and then dropped (``store_then_drop``): for
        ``chat.postMessage``, every message Slack stored, the count to check duplicates by.

        Args:
            method: Method name.

        Returns:
            Those calls, in order.
        """
        return [c for c in self.calls_to(method) if c.landed]

    @property
    def errors(self) -> list[str]:
        """Tracebacks of exceptions raised inside the fake (answered as HTTP 500)."""
        with self._cond:
            return list(self._errors)

    def messages(self, channel: str) -> list[Body]:
        """Messages stored in ``channel``, oldest first (a user id maps to its DM channel).

        Args:
            channel: Channel id, or a user id for the bot's DM with that user.

        Returns:
            Copies of the stored messages, thread replies included.
        """
        with self._cond:
            return copy.deepcopy(self._messages.get(_dm_channel(channel), []))

    def all_messages(self) -> dict[str, list[Body]]:
        """Every stored message, by conversation id, oldest first (thread replies included)."""
        with self._cond:
            return copy.deepcopy(self._messages)

    def home_view(self, user_id: str) -> Body | None:
        """The App Home view last published for ``user_id``, or ``None``."""
        with self._cond:
            view_id = self._home_view_ids.get(user_id)
            return copy.deepcopy(self._views[view_id]) if view_id else None

    def wait_for_calls(
        self,
        method: str,
        count: int = 1,
        *,
        timeout: float = 5.0,
        where: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        """Block until at least ``count`` calls to ``method`` have been recorded.

        Args:
            method: Method name.
            count: Number of calls to wait for.
            timeout: Seconds to wait at most.
            where: Only count calls satisfying this predicate, e.g. ``lambda c: c.ok``.

        Returns:
            All matching calls recorded so far (at least ``count``), in order.

        Raises:
            AssertionError: If fewer than ``count`` matching calls arrived within ``timeout``.
        """

        def matching() -> list[Call]:
            return [c for c in self._calls if c.method == method and (where is None or where(c))]

        with self._cond:
            if self._cond.wait_for(lambda: len(matching()) >= count, timeout=timeout):
                return matching()
            got = matching()
            seen = [f"{c.method}={c.status}" for c in self._calls]
        raise AssertionError(
            f"timed out after {timeout}s waiting for {count} call(s) to {method}"
            f"{' matching `where`' if where else ''}; got {len(got)}. "
            f"All calls so far ({len(seen)}): {', '.join(seen) or 'none'}"
        )

    # ----------------------------------------------------------------- request handling

    def _answer(
        self,
        *,
        method: str,
        body: Body,
        token: str | None,
        at: float,
        http_method: str,
        parse_error: str | None,
    ) -> tuple[_Reply, Call]:
        """Decide the reply to one request and record it (called from handler threads)."""
        with self._cond:
            try:
                reply = self._decide(method, body, token, parse_error)
            except Exception:
                error = traceback.format_exc()
                _log.error("fake slack failed answering %s:\n%s", method, error)
                self._errors.append(error)
                reply = _Reply(500, {"ok": False, "error": "fake_internal_error", "detail": error})
            call = Call(
                method=method,
                body=body,
                token=token,
                at=at,
                status=reply.status,
                response=copy.deepcopy(reply.body),
                response_headers=dict(reply.headers),
                http_method=http_method,
                unsent_response=copy.deepcopy(reply.unsent),
            )
            self._calls.append(call)
            self._cond.notify_all()
            return reply, call

    def _record_error(self, what: str) -> None:
        error = f"{what}:\n{traceback.format_exc()}"
        _log.error("fake slack: %s", error)
        with self._cond:
            self._errors.append(error)

    def _decide(
        self, method: str, body: Body, token: str | None, parse_error: str | None
    ) -> _Reply:
        reply = self._rule_reply(method, body)
        if reply is None:
            return self._default_reply(method, body, token, parse_error)
        if not reply.handle:
            return reply
        handled = self._default_reply(method, body, token, parse_error)
        if reply.body is None:  # handled, then dropped
            return dataclasses.replace(reply, handle=False, unsent=handled.body)
        return dataclasses.replace(handled, before_write=reply.before_write)

    def _rule_reply(self, method: str, body: Body) -> _Reply | None:
        for rule in list(self._limited_rules):
            if rule.matches(method, body):
                assert rule.remaining is not None
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._limited_rules.remove(rule)
                reply = rule.produce()
                if reply is not None:
                    return reply
        for rule in self._unlimited_rules:
            if rule.matches(method, body):
                reply = rule.produce()
                if reply is not None:
                    return reply
        return None

    def _default_reply(
        self, method: str, body: Body, token: str | None, parse_error: str | None
    ) -> _Reply:
        if parse_error is not None:
            return _Reply(200, _error(parse_error))
        if self.require_token is not None and token != self.require_token:
            return _Reply(200, _error("not_authed" if token is None else "invalid_auth"))
        limits = self._slack_limits.get(method)
        if limits is not None and (limited := limits.check(body, self._time_source())):
            return limited
        handler = self._handlers().get(method)
        if handler is None:
            return _Reply(200, _error("unknown_method"))
        return _Reply(200, handler(body))

    def _handlers(self) -> dict[str, Callable[[Body], Body]]:
        return {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "conversations.history": self._conversations_history,
            "conversations.open": self._conversations_open,
            "conversations.replies": self._conversations_replies,
            "views.publish": self._views_publish,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "users.list": self._users_list,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
        }

    def _next_ts(self) -> str:
        self._last_ts_micros += _TS_STEP_MICROS
        if self._epoch_source is not None:
            self._last_ts_micros = max(self._last_ts_micros, round(self._epoch_source() * 1e6))
        seconds, micros = divmod(self._last_ts_micros, 1_000_000)
        return f"{seconds}.{micros:06d}"

    # ----------------------------------------------------------------- default methods

    def _api_test(self, body: Body) -> Body:
        args = {
            key: f"<{len(value)} bytes>" if isinstance(value, bytes) else value
            for key, value in body.items()
            if key != "token"
        }
        return {"ok": True, "args": args}

    def _auth_test(self, body: Body) -> Body:
        return {
            "ok": True,
            "url": "https://fake-team.slack.com/",
            "team": "Fake Team",
            "user": "learnbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, body: Body) -> Body:
        channel = body.get("channel")
        if not channel or not isinstance(channel, str):
            return _error("channel_not_found")
        if not any(body.get(k) for k in ("text", "blocks", "attachments")):
            return _error("no_text")
        channel = _dm_channel(channel)
        ts = self._next_ts()
        message: Body = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "text": body.get("text") or "",
            "ts": ts,
        }
        for key in ("blocks", "attachments", "metadata", "thread_ts"):
            if body.get(key) is not None:
                message[key] = copy.deepcopy(body[key])
        if _truthy(body.get("reply_broadcast")):
            message["subtype"] = "thread_broadcast"
        self._messages.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": ts, "message": copy.deepcopy(message)}

    def _chat_update(self, body: Body) -> Body:
        channel, ts = body.get("channel"), body.get("ts")
        if not channel or not isinstance(channel, str):
            return _error("channel_not_found")
        channel = _dm_channel(channel)
        message = next((m for m in self._messages.get(channel, []) if m["ts"] == ts), None)
        if message is None:
            return _error("message_not_found")
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in body and body[key] is not None:
                message[key] = copy.deepcopy(body[key])
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": message.get("text", ""),
            "message": copy.deepcopy(message),
        }

    def _chat_post_ephemeral(self, body: Body) -> Body:
        if not body.get("channel"):
            return _error("channel_not_found")
        if not body.get("user"):
            return _error("user_not_found")
        if not any(body.get(k) for k in ("text", "blocks", "attachments")):
            return _error("no_text")
        return {"ok": True, "message_ts": self._next_ts()}

    def _conversations_history(self, body: Body) -> Body:
        channel = body.get("channel")
        if not channel or not isinstance(channel, str):
            return _error("channel_not_found")
        try:
            oldest = _ts_key(body.get("oldest") or "0")
            latest = _ts_key(body["latest"]) if body.get("latest") else None
        except ValueError:
            return _error("invalid_ts_oldest")
        inclusive = _truthy(body.get("inclusive"))

        def in_range(message: Body) -> bool:
            key = _ts_key(message["ts"])
            after = key >= oldest if inclusive else key > oldest
            before = latest is None or (key <= latest if inclusive else key < latest)
            return after and before

        messages = [
            m
            for m in reversed(self._messages.get(_dm_channel(channel), []))
            if in_range(m) and not _is_thread_reply(m)
        ]
        return _message_page(messages, body, pin_count=0)

    def _conversations_replies(self, body: Body) -> Body:
        """The thread of ``ts``: its parent first, then replies oldest first, as Slack does."""
        channel, parent = body.get("channel"), body.get("ts")
        if not channel or not isinstance(channel, str):
            return _error("channel_not_found")
        if not parent:
            return _error("invalid_arguments")
        stored = self._messages.get(_dm_channel(channel), [])
        if not any(m["ts"] == parent for m in stored):
            return _error("thread_not_found")
        try:
            oldest = _ts_key(body.get("oldest") or "0")
        except ValueError:
            return _error("invalid_ts_oldest")
        thread = [
            m
            for m in stored
            if m["ts"] == parent or (m.get("thread_ts") == parent and _ts_key(m["ts"]) > oldest)
        ]
        return _message_page(thread, body)

    def _conversations_open(self, body: Body) -> Body:
        if body.get("channel"):
            return {"ok": True, "channel": {"id": body["channel"]}}
        users = body.get("users")
        if isinstance(users, str):
            users = [u.strip() for u in users.split(",") if u.strip()]
        if not users:
            return _error("users_list_not_supplied")
        if len(users) == 1:
            return {"ok": True, "channel": {"id": _dm_channel(users[0])}}
        return {"ok": True, "channel": {"id": "G" + "".join(u[1:] for u in sorted(users))}}

    def _views_publish(self, body: Body) -> Body:
        user_id, view = body.get("user_id"), body.get("view")
        if not user_id:
            return _error("invalid_arguments")
        if not isinstance(view, dict):
            return _error("invalid_arguments")
        view_id = self._home_view_ids.get(user_id) or self._new_view_id()
        self._home_view_ids[user_id] = view_id
        return {"ok": True, "view": self._store_view(view_id, view, default_type="home")}

    def _views_open(self, body: Body) -> Body:
        view = body.get("view")
        if not body.get("trigger_id") and not body.get("interactivity_pointer"):
            return _error("invalid_arguments")
        if not isinstance(view, dict):
            return _error("invalid_arguments")
        return {"ok": True, "view": self._store_view(self._new_view_id(), view)}

    def _views_update(self, body: Body) -> Body:
        view = body.get("view")
        if not isinstance(view, dict):
            return _error("invalid_arguments")
        view_id = body.get("view_id")
        if not view_id and body.get("external_id"):
            view_id = next(
                (i for i, v in self._views.items() if v.get("external_id") == body["external_id"]),
                None,
            )
        if not view_id or view_id not in self._views:
            return _error("not_found")
        return {"ok": True, "view": self._store_view(view_id, view)}

    def _new_view_id(self) -> str:
        self._view_counter += 1
        return f"V{self._view_counter:08d}"

    def _store_view(self, view_id: str, view: Body, *, default_type: str = "modal") -> Body:
        stored = {"type": default_type, **copy.deepcopy(view), "id": view_id, "team_id": TEAM_ID}
        stored["hash"] = f"{self._next_ts()}.{view_id}"
        self._views[view_id] = stored
        return copy.deepcopy(stored)

    def _users_list(self, body: Body) -> Body:
        try:
            page, next_cursor = _paginate(self._users, body, default_limit=0)
        except ValueError:
            return _error("invalid_cursor")
        return {
            "ok": True,
            "members": copy.deepcopy(page),
            "cache_ts": int(time.time()),
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _users_info(self, body: Body) -> Body:
        user = next((u for u in self._users if u.get("id") == body.get("user")), None)
        if user is None:
            return _error("user_not_found")
        return {"ok": True, "user": copy.deepcopy(user)}

    def _users_lookup_by_email(self, body: Body) -> Body:
        email = str(body.get("email") or "").casefold()
        for user in self._users:
            profile = user.get("profile") or {}
            candidate = profile.get("email") or user.get("email") or ""
            if email and candidate.casefold() == email:
                return {"ok": True, "user": copy.deepcopy(user)}
        return _error("users_not_found")


# --------------------------------------------------------------------- helpers


def _error(code: str) -> Body:
    return {"ok": False, "error": code}


def _rate_limited(retry_after: int) -> _Reply:
    return _Reply(429, _error("ratelimited"), {"Retry-After": str(retry_after)})


def _server_error(status: int) -> _Reply:
    code = {500: "internal_error", 503: "service_unavailable"}.get(status, "fatal_error")
    return _Reply(status, _error(code))


def _dm_channel(channel: str) -> str:
    """Map a user id to the bot's DM channel with that user, as Slack does when posting."""
    return "D" + channel[1:] if channel.startswith("U") else channel


def _message_page(messages: list[Body], body: Body, **extra: Any) -> Body:
    """One page of ``messages`` as conversations.history/replies answer it (metadata only
    with ``include_all_metadata``)."""
    try:
        page, next_cursor = _paginate(messages, body, default_limit=100)
    except ValueError:
        return _error("invalid_cursor")
    page = copy.deepcopy(page)
    if not _truthy(body.get("include_all_metadata")):
        for message in page:
            message.pop("metadata", None)
    return {
        "ok": True,
        "messages": page,
        "has_more": bool(next_cursor),
        **extra,
        "response_metadata": {"next_cursor": next_cursor},
    }


def _is_thread_reply(message: Body) -> bool:
    thread_ts = message.get("thread_ts")
    return (
        thread_ts is not None
        and thread_ts != message["ts"]
        and message.get("subtype") != "thread_broadcast"
    )


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in _TRUE_STRINGS
    return bool(value)


def _ts_key(ts: Any) -> int:
    """A Slack timestamp as integer microseconds, for ordering."""
    try:
        return int(Decimal(str(ts)) * 1_000_000)
    except InvalidOperation as exc:
        raise ValueError(f"not a Slack timestamp: {ts!r}") from exc


def _paginate(items: list[Body], body: Body, *, default_limit: int) -> tuple[list[Body], str]:
    """One page of ``items`` for the ``limit`` and ``cursor`` params, and the next cursor.

    Raises:
        ValueError: If ``limit`` or ``cursor`` is malformed.
    """
    limit = int(body.get("limit") or default_limit)
    offset = _decode_cursor(body.get("cursor")) if body.get("cursor") else 0
    end = len(items) if limit <= 0 else offset + limit
    next_cursor = _encode_cursor(end) if end < len(items) else ""
    return items[offset:end], next_cursor


def _encode_cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode("ascii")


def _decode_cursor(cursor: Any) -> int:
    try:
        prefix, _, offset = base64.b64decode(str(cursor), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"invalid cursor {cursor!r}") from exc
    if prefix != "offset" or not offset.isdigit():
        raise ValueError(f"invalid cursor {cursor!r}")
    return int(offset)


def _bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _parse_params(query: str, content_type: str | None, raw: bytes) -> Body:
    """Merge the query string and the body (form, multipart or JSON) into one dict.

    Raises:
        _BadRequest: If the body is not valid for its content type.
    """
    params: Body = _form_fields(query) if query else {}
    media_type = (content_type or "").partition(";")[0].strip().lower()
    if raw.strip():
        if media_type == "application/json":
            try:
                data = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise _BadRequest("invalid_json") from exc
            if not isinstance(data, dict):
                raise _BadRequest("invalid_json")
            params.update(data)
        elif media_type == "multipart/form-data":
            params.update(_multipart_fields(content_type or "", raw))
        else:
            try:
                params.update(_form_fields(raw.decode("utf-8")))
            except UnicodeDecodeError as exc:
                raise _BadRequest("invalid_form_data") from exc
    return {
        key: value if key in _PLAIN_TEXT_FIELDS else _decode_json_value(value)
        for key, value in params.items()
    }


def _form_fields(encoded: str) -> Body:
    fields = parse_qs(encoded, keep_blank_values=True)
    return {k: v[0] if len(v) == 1 else v for k, v in fields.items()}


def _multipart_fields(content_type: str, raw: bytes) -> Body:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    if not message.is_multipart():
        raise _BadRequest("invalid_form_data")
    fields: Body = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if part.get_filename() is not None:
            fields[name] = data
        else:
            fields[name] = data.decode(part.get_content_charset() or "utf-8")
    return fields


def _decode_json_value(value: Any) -> Any:
    """Decode a string holding a JSON list or object (``blocks``, ``metadata``, ``view``)."""
    if isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            return value
        if isinstance(decoded, (list, dict)):
            return decoded
    return value
