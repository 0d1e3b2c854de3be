"""A small Discord-webhook-compatible HTTP server on 127.0.0.1 for tests: aimon's real ``requests`` calls reach it.

It speaks what a webhook does (https://discord.com/developers/docs/resources/webhook):

- ``POST /api/webhooks/{id}/{token}?wait=true`` with an ``{"content", "embeds", "allowed_mentions"}`` body → ``200``
  and the created message (``{"id": "<snowflake>", ...}``); without ``wait=true`` → ``204`` and no body;
- ``PATCH /api/webhooks/{id}/{token}/messages/{message_id}`` → ``200`` and the edited message, or ``404`` with
  Discord's JSON error code ``10008`` (Unknown Message) for a message it never created;
- any other webhook id/token → ``404 {"message": "Unknown Webhook", "code": 10015}``.

Every request is recorded (:attr:`FakeDiscord.requests`, with the arrival time) and every created message kept
(:attr:`FakeDiscord.messages`). Tests queue faults with :meth:`FakeDiscord.fail`: an HTTP status with Discord's body
and headers (``429`` carries ``retry_after`` in the body and ``Retry-After`` in the headers, as Discord sends them), or a
delay longer than the client's timeout.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

WEBHOOK_ID = "112233445566778899"
WEBHOOK_TOKEN = "Fake-Webhook-Token_for-tests"
_POST_RE = re.compile(r"^/api/webhooks/(\d+)/([^/]+)$")
_EDIT_RE = re.compile(r"^/api/webhooks/(\d+)/([^/]+)/messages/(\d+)$")


@dataclass
class Fault:
    """One queued misbehaviour for the next matching request: a status with a body and headers, and/or a delay."""

    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    method: str | None = None  # None: any method


@dataclass
class Request:
    """What the server saw: method, path, query (one value each), lower-cased headers, JSON body, arrival time."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    at: float  # time.time() when the request arrived
    status: int = 0  # what the server answered


def rate_limited(retry_after: float, *, method: str | None = None) -> Fault:
    """Discord's 429: ``retry_after`` (seconds, a float) in the JSON body and ``Retry-After`` in the headers."""
    body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
    headers = {"Retry-After": f"{retry_after:g}", "X-RateLimit-Scope": "user"}
    return Fault(429, body, headers, method=method)



class QuietServer(ThreadingHTTPServer):
    """A client that was killed (or gave up) mid-request is normal here, not an error to print."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

class FakeDiscord:
    """Start with ``FakeDiscord()``; use :attr:`webhook_url`; read :attr:`requests`/:attr:`posts`; ``close()``."""

    def __init__(self, webhooks: tuple[tuple[str, str], ...] = ((WEBHOOK_ID, WEBHOOK_TOKEN),)) -> None:
        self.webhooks = set(webhooks)
        self.requests: list[Request] = []
        self.messages: dict[str, dict[str, Any]] = {}
        self.faults: deque[Fault] = deque()
        self.lock = threading.Lock()
        self._next_id = 1_180_000_000_000_000_000
        self.server = QuietServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    # -- for tests -----------------------------------------------------------------------------------------------------

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def webhook_url(self) -> str:
        """The URL to put in ``DISCORD_WEBHOOK_URL`` (the first webhook this server knows)."""
        webhook_id, token = sorted(self.webhooks)[0]
        return self.url_of(webhook_id, token)

    def url_of(self, webhook_id: str, token: str) -> str:
        return f"{self.base}/api/webhooks/{webhook_id}/{token}"

    def add_webhook(self, webhook_id: str, token: str) -> str:
        """Create another webhook (a user pasting a new URL after the old one was deleted); returns its URL."""
        with self.lock:
            self.webhooks.add((webhook_id, token))
        return self.url_of(webhook_id, token)

    def delete_webhook(self, webhook_id: str = WEBHOOK_ID, token: str = WEBHOOK_TOKEN) -> None:
        """From now on the webhook answers 404 Unknown Webhook."""
        with self.lock:
            self.webhooks.discard((webhook_id, token))

    def fail(self, status: int = 500, *, body: Any = None, headers: dict[str, str] | None = None, delay: float = 0.0,
             times: int = 1, method: str | None = None) -> None:
        """The next ``times`` requests (of ``method``, when given) answer ``status`` (after ``delay`` seconds)."""
        for _ in range(times):
            self.faults.append(Fault(status, body, dict(headers or {}), delay, method))

    def queue(self, fault: Fault, times: int = 1) -> None:
        for _ in range(times):
            self.faults.append(fault)

    @property
    def posts(self) -> list[Request]:
        """The POSTs that created a message (answered 2xx)."""
        return [r for r in self.requests if r.method == "POST" and 200 <= r.status < 300]

    @property
    def edits(self) -> list[Request]:
        return [r for r in self.requests if r.method == "PATCH" and 200 <= r.status < 300]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- the server ----------------------------------------------------------------------------------------------------

    def _take_fault(self, method: str) -> Fault | None:
        with self.lock:
            for index, fault in enumerate(self.faults):
                if fault.method in (None, method):
                    del self.faults[index]
                    return fault
        return None

    def _create(self, payload: Any) -> dict[str, Any]:
        with self.lock:
            self._next_id += 1
            message_id = str(self._next_id)
            message = {"id": message_id, "type": 0, "channel_id": "998877665544332211", "webhook_id": WEBHOOK_ID,
                       "content": (payload or {}).get("content", ""), "embeds": (payload or {}).get("embeds", [])}
            self.messages[message_id] = message
            return message

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    if body is not None:
                        self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("content-length", "0") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    payload = json.loads(raw) if raw else None
                except ValueError:
                    payload = raw.decode(errors="replace")
                query = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
                request = Request(self.command, parts.path, query, {k.lower(): v for k, v in self.headers.items()},
                                  payload, time.time())
                with fake.lock:
                    fake.requests.append(request)
                fault = fake._take_fault(self.command)
                if fault is not None:
                    if fault.delay:
                        time.sleep(fault.delay)
                    request.status = fault.status
                    body = fault.body if fault.body is not None else {"message": f"HTTP {fault.status}", "code": 0}
                    self._send(fault.status, body, fault.headers)
                    return
                status, body = self._route(request)
                request.status = status
                self._send(status, body)

            def _route(self, request: Request) -> tuple[int, Any]:
                post = _POST_RE.match(request.path)
                edit = _EDIT_RE.match(request.path)
                match = post or edit
                if match is None or (match.group(1), match.group(2)) not in fake.webhooks:
                    return 404, {"message": "Unknown Webhook", "code": 10015}
                if not isinstance(request.json, dict):
                    return 400, {"message": "Cannot send an empty message", "code": 50006}
                if post and request.method == "POST":
                    message = fake._create(request.json)
                    return (200, message) if request.query.get("wait") == "true" else (204, None)
                if edit and request.method == "PATCH":
                    with fake.lock:
                        found = fake.messages.get(edit.group(3))
                        if found is None:
                            return 404, {"message": "Unknown Message", "code": 10008}
                        found.update({k: v for k, v in request.json.items() if k in ("content", "embeds")})
                        return 200, dict(found)
                return 405, {"message": "405: Method Not Allowed", "code": 0}

            do_POST = do_PATCH = do_GET = do_DELETE = _serve

        return Handler


def fingerprint_of(payload: dict[str, Any]) -> str | None:
    """The fingerprint an alert payload is about (its ``Fingerprint`` embed field), or None (a digest)."""
    for embed in payload.get("embeds") or []:
        for item in embed.get("fields") or []:
            if item.get("name") == "Fingerprint":
                return str(item.get("value", "")).strip("`")
    return None
