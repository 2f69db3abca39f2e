"""Serve the web app (``server.web``) with uvicorn, in a thread of the calling process.

Every learnbot process that has a port (``run`` in all its forms, ``drain --loop
--port``) serves it this way: the main thread keeps the process's own work and signal
handling (SIGTERM stops the process, which then stops the server), and one thread runs
uvicorn's event loop. Bolt's synchronous dispatch, ``/health`` and ``/metrics`` run in a
bounded thread pool (``LEARNBOT_HTTP_THREADS``), so the loop only moves bytes.

What uvicorn bounds, and what learnbot adds (docs/deploy.md, "Web server limits"):

- request headers: h11 refuses more than 16 KiB of them (400); learnbot's protocol adds
  a *header timeout*: a connection must send complete request headers within
  ``LEARNBOT_HTTP_HEADER_TIMEOUT_SECONDS`` of opening (or of its previous response),
  else it is closed. uvicorn's own keep-alive timeout only starts after a first response,
  and any byte restarts it, so a connection that never sends, or sends a byte at a
  time, would otherwise stay open;
- idle keep-alive connections: closed after ``LEARNBOT_HTTP_KEEPALIVE_SECONDS``;
- bodies, requests in flight and body time: ``server.web.RequestGuard``. uvicorn's
  ``limit_concurrency`` is not used: it counts idle connections too, so a few hundred
  idle sockets would make it refuse Slack's requests.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from types import TracebackType
from typing import Any

import h11
import uvicorn
from slack_bolt import App
from uvicorn.protocols.http.h11_impl import H11Protocol

from server.web import (
    EVENTS_PATH,
    HEALTH_PATH,
    METRICS_CONTENT_TYPE,
    METRICS_PATH,
    Limits,
    Services,
    build_web_app,
    thread_runner,
)
from settings import Settings

log = logging.getLogger(__name__)

__all__ = [
    "EVENTS_PATH",
    "HEALTH_PATH",
    "METRICS_CONTENT_TYPE",
    "METRICS_PATH",
    "WebServer",
    "start_server",
]

BACKLOG = 2048
STARTUP_WAIT_SECONDS = 30.0
SHUTDOWN_GRACE_SECONDS = 10.0


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request headers are late.

    The timer starts when the connection opens and again after each response; it stops
    once h11 has read a request's complete headers (the peer leaves the ``IDLE`` state).
    """

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self._header_timeout: float = getattr(config, "header_timeout_seconds", 10.0)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._headers_arrived()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:
            self._headers_arrived()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_headers()

    def _await_headers(self) -> None:
        if self._header_timer is None and self.conn.their_state is h11.IDLE:
            self._header_timer = self.loop.call_later(self._header_timeout, self._headers_late)

    def _headers_arrived(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        if self.conn.trailing_data[0]:  # part of a request: slow on purpose, or broken
            log.warning(
                "closed the connection of %s: no complete request headers within %g s",
                client,
                self._header_timeout,
            )
        else:  # opened and never used: pre-connecting proxies do that
            log.debug("closed an idle connection of %s", client)
        self.transport.close()


class _PlainMessages(logging.Filter):
    """Drops uvicorn's ``color_message`` extra (ANSI codes) from its records: learnbot's
    JSON log lines would carry it as a field."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.pop("color_message", None)
        return True


def _plain_uvicorn_logs() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _PlainMessages) for f in logger.filters):
        logger.addFilter(_PlainMessages())


class _Config(uvicorn.Config):
    """uvicorn's configuration plus the header timeout its protocol reads."""

    def __init__(self, *args: Any, header_timeout_seconds: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_seconds = header_timeout_seconds


class _Server(uvicorn.Server):
    """uvicorn's server, telling another thread when it accepts connections."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


class WebServer:
    """uvicorn serving ``app`` on a socket bound at construction, run by ``start``.

    ``pool``, the endpoints' thread pool, is shut down with the server.
    """

    def __init__(
        self, app: Any, *, host: str, port: int, settings: Settings, pool: Executor | None = None
    ) -> None:
        self._socket = _bind(host, port)
        self._pool = pool
        self.host = host
        config = _Config(
            app,
            http=HeaderTimeoutProtocol,
            ws="none",
            lifespan="off",
            log_config=None,  # learnbot's handler (logs.py) formats and masks every line
            access_log=False,
            server_header=False,
            timeout_keep_alive=settings.http_keepalive_seconds,  # type: ignore[arg-type]
            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,  # type: ignore[arg-type]
            backlog=BACKLOG,
            header_timeout_seconds=settings.http_header_timeout_seconds,
        )
        _plain_uvicorn_logs()
        self._server = _Server(config)
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)
        self._failure: BaseException | None = None

    @property
    def port(self) -> int:
        """The bound port (the one the system chose when asked for port 0)."""
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        """The base URL on the bound address, e.g. ``http://127.0.0.1:3000``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> WebServer:
        """Serve in a thread; return once connections are accepted."""
        self._thread.start()
        if not self._server.ready.wait(STARTUP_WAIT_SECONDS) or self._failure is not None:
            self.stop()
            raise RuntimeError(f"the web server did not start: {self._failure!r}")
        log.info("serving HTTP on %s:%d", self.host, self.port)
        return self

    def stop(self, timeout: float = SHUTDOWN_GRACE_SECONDS + 5) -> None:
        """Stop accepting, let requests in progress finish (10 s at most), close."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._socket.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> WebServer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as exc:  # logged here: a thread's traceback bypasses logs.py
            self._failure = exc
            log.exception("the web server stopped on an error")
            self._server.ready.set()


def _bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    # proto must say TCP: asyncio sets TCP_NODELAY only on sockets that do (accepted
    # sockets inherit it). Without it, Nagle's algorithm and the client's delayed ACK
    # hold each response's body back for 40 ms on a keep-alive connection.
    sock = socket.socket(family, kind, proto or socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def start_server(
    *,
    settings: Settings,
    host: str,
    port: int,
    health: Callable[[], dict[str, str]],
    metrics: Callable[[], str] | None = None,
    slack: App | None = None,
) -> WebServer:
    """Serve ``/health``, ``/metrics`` and (with ``slack``) ``/slack/events``; started.

    Args:
        settings: The limits (``LEARNBOT_HTTP_*``) and Slack's signing secret.
        host: Address to bind.
        port: Port to bind (0: any free port).
        health: Check results for ``GET /health``, each "ok" or a short reason.
        metrics: The Prometheus text for ``GET /metrics`` (``None``: 404).
        slack: The Bolt app answering ``POST /slack/events`` (``None``: 404).
    """
    pool = ThreadPoolExecutor(max_workers=settings.http_threads, thread_name_prefix="web")
    services = Services(
        run_blocking=thread_runner(pool),
        health=health,
        metrics=metrics,
        slack=slack,
        signing_secret=settings.slack_signing_secret,
    )
    limits = Limits(
        max_body_bytes=settings.http_max_body_bytes,
        max_requests=settings.http_max_requests,
        body_timeout_seconds=settings.http_body_timeout_seconds,
    )
    app = build_web_app(services, limits)
    return WebServer(app, host=host, port=port, settings=settings, pool=pool).start()
