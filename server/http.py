"""Serve a Bolt app over HTTP: ``POST /slack/events``, ``GET /health``, ``GET /metrics``.

A small adapter on the standard library's threading HTTP server, so the bot needs no
web framework. Requests go through Bolt's own pipeline (``App.dispatch``), which checks
the Slack signature and timestamp before any listener runs. Processes without a Slack
listener (the scheduler, senders, Socket Mode) serve only the health check and metrics.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from slack_bolt import App, BoltRequest

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/health"
METRICS_PATH = "/metrics"
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_BODY = 1_000_000  # Slack payloads are far smaller; refuse anything absurd


def make_server(
    app: App | None,
    *,
    host: str,
    port: int,
    health: Callable[[], dict[str, str]],
    metrics: Callable[[], str] | None = None,
) -> ThreadingHTTPServer:
    """An HTTP server for ``app`` (``None``: no ``/slack/events``).

    Args:
        app: The Bolt app answering ``POST /slack/events``, or ``None``.
        host: Address to bind.
        port: Port to bind (0: any free port).
        health: Check results for ``GET /health``, each "ok" or a short reason.
        metrics: The Prometheus text for ``GET /metrics`` (``None``: 404).
    """

    class Handler(BaseHTTPRequestHandler):
        server_version = "learnbot"

        def log_message(self, format: str, *args: object) -> None:
            log.debug("%s " + format, self.address_string(), *args)

        def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, data: dict[str, object]) -> None:
            self._reply(status, json.dumps(data).encode(), {"Content-Type": "application/json"})

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == METRICS_PATH and metrics is not None:
                self._reply(200, metrics().encode(), {"Content-Type": METRICS_CONTENT_TYPE})
                return
            if path != HEALTH_PATH:
                self._json(404, {"error": "not found"})
                return
            checks = health()
            ok = all(value == "ok" for value in checks.values())
            self._json(200 if ok else 503, {"status": "ok" if ok else "unhealthy", **checks})

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != EVENTS_PATH or app is None:
                self._json(404, {"error": "not found"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._json(413, {"error": "request too large"})
                return
            body = self.rfile.read(length).decode("utf-8", errors="replace")
            headers = {name.lower(): [value] for name, value in self.headers.items()}
            response = app.dispatch(BoltRequest(body=body, query=parts.query, headers=headers))
            reply_headers = {
                name: values[0]
                for name, values in response.headers.items()
                if values and name.lower() != "content-length"
            }
            self._reply(response.status, (response.body or "").encode(), reply_headers)

    return _Server((host, port), Handler)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # The standard library prints the traceback to stderr, past the log format and
        # the secret masking; log it instead.
        log.exception("error while serving %s", client_address)
