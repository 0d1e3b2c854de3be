"""What the loopback fakes of Discord, GitHub, Loki and OpenAI share: a threaded HTTP server on 127.0.0.1, and for
the JSON APIs, requests recorded with their arrival time and faults queued for the next matching request."""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit


class QuietServer(ThreadingHTTPServer):
    """A client that was killed (or gave up) mid-request is normal here, not an error to print."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class LoopbackServer:
    """Serves ``handler`` on a free port of 127.0.0.1 from a daemon thread until :meth:`close`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = QuietServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        return None

    def send(self, status: int, data: bytes, content_type: str | None, headers: Mapping[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            if content_type:
                self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


@dataclass
class Fault:
    """One queued misbehaviour for the next request matching ``method`` and ``path`` (a regex; None: any): a status
    with a body and headers, and/or a delay. ``late``: the request IS carried out, but answered only after ``delay``
    (a timeout after the remote did the work)."""

    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    method: str | None = None
    path: str | None = None
    late: bool = False


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


class JsonFake(LoopbackServer):
    """A fake JSON API: subclasses answer in :meth:`route` (``(status, body)``, body None for no content) and may
    refuse a request first in :meth:`refuse`; a queued :class:`Fault` answers instead of the route."""

    content_type = "application/json"
    fault_status = 500  # what fail() answers unless told
    headers: ClassVar[Mapping[str, str]] = {}  # sent with every routed answer

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.faults: deque[Fault] = deque()
        self.lock = threading.Lock()
        super().__init__(self._handler())

    def fail(self, status: int | None = None, *, body: Any = None, headers: dict[str, str] | None = None, delay: float = 0.0,
             times: int = 1, method: str | None = None, path: str | None = None) -> None:
        """The next ``times`` matching requests answer ``status`` (after ``delay`` seconds)."""
        for _ in range(times):
            self.faults.append(Fault(status or self.fault_status, body, dict(headers or {}), delay, method, path))

    def queue(self, fault: Fault, times: int = 1) -> None:
        for _ in range(times):
            self.faults.append(fault)

    def route(self, request: Request) -> tuple[int, Any]:
        raise NotImplementedError

    def refuse(self, request: Request) -> tuple[int, Any] | None:
        return None

    def fault_body(self, status: int) -> Any:
        """The body of a fault queued without one."""
        return {"message": "Server Error"}

    def answer(self, request: Request) -> tuple[int, Any, Mapping[str, str]]:
        refused = self.refuse(request)
        if refused is not None:
            return (*refused, {})
        fault = self._take_fault(request.method, request.path)
        if fault is None:
            return (*self.route(request), self.headers)
        if fault.late:
            status, body = self.route(request)
            time.sleep(fault.delay)
            return status, body, self.headers
        if fault.delay:
            time.sleep(fault.delay)
        return fault.status, self.fault_body(fault.status) if fault.body is None else fault.body, fault.headers

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for index, fault in enumerate(self.faults):
                if fault.method in (None, method) and (fault.path is None or re.search(fault.path, path)):
                    del self.faults[index]
                    return fault
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(QuietHandler):
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
                status, body, headers = fake.answer(request)
                request.status = status
                data = b"" if body is None else json.dumps(body).encode()
                self.send(status, data, None if body is None else fake.content_type, headers)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        return Handler
