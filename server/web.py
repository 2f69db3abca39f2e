"""The web app: a small Starlette app whose routes are listed in one place, ``ROUTES``.

Served by uvicorn (``server.http``). Every request passes ``RequestGuard`` first, which
bounds what one request may cost before any endpoint runs:

- at most ``max_requests`` requests are handled at once (idle connections do not count;
  over the bound: 503 at once);
- a body is capped *while it is read*: a ``Content-Length`` over the cap is refused
  before a byte of the body is read, and a body without one (chunked), or longer than it
  said, is refused as soon as it passes the cap (413);
- a body must arrive within ``body_timeout`` seconds (408).

Refusals close the connection (``Connection: close``), so the rest of a refused body is
never read, and are logged at WARNING in one line: method, path, client, reason, never
the body. Endpoints do blocking work (Bolt's ``App.dispatch``, database queries) in a
bounded thread pool, never on the event loop, so one slow listener holds one thread
and the loop keeps accepting and answering.

``POST /slack/events`` checks the Slack signature (and its 5-minute timestamp) before
it parses anything: an unsigned or forged body gets 401, a signed but malformed one 400,
both logged at WARNING without a traceback. Then Bolt's own pipeline runs as before.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypeVar

from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/health"
METRICS_PATH = "/metrics"
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

CLOSE = (b"connection", b"close")

T = TypeVar("T")
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Limits:
    """What one request may cost; the defaults are ``settings.Settings``'s."""

    max_body_bytes: int = 1_000_000
    max_requests: int = 100
    body_timeout_seconds: float = 10.0


@dataclass(frozen=True)
class Services:
    """What the endpoints serve; a route whose service is ``None`` is not served (404).

    Args:
        run_blocking: Runs a blocking function off the event loop (the bounded pool).
        health: Check results for ``GET /health``, each "ok" or a short reason.
        metrics: The Prometheus text for ``GET /metrics``.
        slack: The Bolt app answering ``POST /slack/events``.
        signing_secret: Slack's signing secret (needed with ``slack``).
    """

    run_blocking: Callable[[Callable[[], T]], Awaitable[T]]
    health: Callable[[], dict[str, str]]
    metrics: Callable[[], str] | None = None
    slack: App | None = None
    signing_secret: str | None = None


class Refused(Exception):
    """A request refused with ``status``; ``reason`` goes to the log and the client."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# --- the endpoints ------------------------------------------------------------------------


def health_endpoint(services: Services) -> Endpoint:
    async def health(request: Request) -> Response:
        checks = await services.run_blocking(services.health)
        ok = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unhealthy", **checks}, status_code=200 if ok else 503
        )

    return health


def metrics_endpoint(services: Services) -> Endpoint | None:
    render = services.metrics
    if render is None:
        return None

    async def metrics(request: Request) -> Response:
        text = await services.run_blocking(render)
        return Response(text, media_type=METRICS_CONTENT_TYPE)

    return metrics


def slack_events_endpoint(services: Services) -> Endpoint | None:
    app = services.slack
    if app is None:
        return None
    if not services.signing_secret:
        raise ValueError("serving /slack/events needs the signing secret")
    verifier = SignatureVerifier(services.signing_secret)

    async def slack_events(request: Request) -> Response:
        body = await request.body()
        if not _signed(verifier, body, request):
            raise Refused(401, "missing, expired or invalid Slack signature")
        bolt_request = _bolt_request(body, request)
        response: BoltResponse = await services.run_blocking(lambda: app.dispatch(bolt_request))
        headers = {
            name: value
            for name, value in response.first_headers_without_set_cookie().items()
            if name.lower() != "content-length"
        }
        return Response(response.body or "", status_code=response.status, headers=headers)

    return slack_events


def _signed(verifier: SignatureVerifier, body: bytes, request: Request) -> bool:
    try:
        return verifier.is_valid(
            body=body,
            timestamp=request.headers.get("x-slack-request-timestamp"),
            signature=request.headers.get("x-slack-signature"),
        )
    except (ValueError, TypeError):  # a timestamp that is no number, a non-ASCII signature
        return False


def _bolt_request(body: bytes, request: Request) -> BoltRequest:
    """Bolt's request for a signed body; ``Refused`` (400) if Bolt cannot read it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "the body is not UTF-8") from None
    headers = {name: request.headers.getlist(name) for name in request.headers}
    try:
        return BoltRequest(body=text, query=request.url.query, headers=headers)  # type: ignore[arg-type]
    except (ValueError, TypeError, AttributeError, KeyError):
        # Bolt parses the body in the constructor: malformed JSON, a JSON list, a
        # payload field that is not an object.
        raise Refused(400, "the body is not a Slack request Bolt can read") from None


# Every URL the web process serves: (method, path, endpoint factory). Adding an endpoint
# (Teams' /api/messages, an LMS webhook) is one line here, plus its service in Services.
ROUTES: tuple[tuple[str, str, Callable[[Services], Endpoint | None]], ...] = (
    ("GET", HEALTH_PATH, health_endpoint),
    ("GET", METRICS_PATH, metrics_endpoint),
    ("POST", EVENTS_PATH, slack_events_endpoint),
)


def build_web_app(services: Services, limits: Limits) -> Starlette:
    """The Starlette app serving every route of ``ROUTES`` that has its service."""
    routes = []
    for method, path, factory in ROUTES:
        endpoint = factory(services)
        if endpoint is not None:
            routes.append(Route(path, endpoint, methods=[method]))
    return Starlette(
        routes=routes,
        middleware=[Middleware(RequestGuard, limits=limits)],
        exception_handlers={404: _not_found},
    )


async def _not_found(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": "not found"}, status_code=404)


def thread_runner(executor: Executor) -> Callable[[Callable[[], T]], Awaitable[T]]:
    """``Services.run_blocking`` on ``executor`` (a bounded pool)."""

    async def run_blocking(function: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(executor, function)

    return run_blocking


# --- the guard ----------------------------------------------------------------------------


class RequestGuard:
    """ASGI middleware: bounds requests in flight, body size and body time (module doc)."""

    def __init__(self, app: ASGIApp, *, limits: Limits) -> None:
        self.app = app
        self.limits = limits
        self.in_flight = 0  # only touched on the event loop: no lock needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._admit(scope)
        except Refused as refusal:
            await _refuse(scope, send, refusal)
            return
        self.in_flight += 1
        body = _CappedBody(receive, self.limits, expected=_has_body(scope))
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if not body.complete:
                    # Answered before the body was read (a 404, a 401 on a huge body):
                    # close, or uvicorn would read and discard the rest to keep the
                    # connection alive.
                    message = {**message, "headers": [*message.get("headers", []), CLOSE]}
            await send(message)

        try:
            await self.app(scope, body.receive, watched_send)
        except Refused as refusal:
            if started:
                raise
            await _refuse(scope, send, refusal)
        except ClientDisconnect:
            log.debug("%s went away before sending its whole request", _client(scope))
        finally:
            self.in_flight -= 1

    def _admit(self, scope: Scope) -> None:
        if self.in_flight >= self.limits.max_requests:
            raise Refused(503, f"{self.in_flight} requests in flight, the most allowed")
        declared = _content_length(scope)
        if declared is not None and declared > self.limits.max_body_bytes:
            raise Refused(413, f"Content-Length {declared} is over {self.limits.max_body_bytes}")


class _CappedBody:
    """``receive`` that refuses a body past the byte cap or past its time (``Refused``)."""

    def __init__(self, receive: Receive, limits: Limits, *, expected: bool) -> None:
        self._receive = receive
        self._limits = limits
        self._deadline = time.monotonic() + limits.body_timeout_seconds
        self._received = 0
        self.complete = not expected

    async def receive(self) -> Message:
        remaining = self._deadline - time.monotonic()
        try:
            message = await asyncio.wait_for(self._receive(), timeout=max(remaining, 0))
        except TimeoutError:
            raise Refused(
                408, f"body not received within {self._limits.body_timeout_seconds:g} s"
            ) from None
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._received > self._limits.max_body_bytes:
                raise Refused(413, f"body over {self._limits.max_body_bytes} bytes")
            self.complete = not message.get("more_body", False)
        return message


def _has_body(scope: Scope) -> bool:
    """Whether the request says a body follows (chunked, or a length over 0)."""
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            if not text.isdigit():  # h11 refuses these before us; httptools too
                raise Refused(400, f"Content-Length {text[:20]!r} is not a number")
            return int(text)
    return None


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "a client"


async def _refuse(scope: Scope, send: Send, refusal: Refused) -> None:
    log.warning(
        "refused %s %s from %s with %d: %s",
        scope.get("method"),
        scope.get("path"),
        _client(scope),
        refusal.status,
        refusal.reason,
    )
    body = json.dumps({"error": refusal.reason}).encode()
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        # Close: the rest of a refused body is never read, and a client that floods
        # must reconnect.
        CLOSE,
    ]
    if refusal.status == 503:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
