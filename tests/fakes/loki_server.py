"""A small Loki-compatible HTTP server on 127.0.0.1 for tests.

It speaks the two endpoints aimon needs with Loki's documented JSON shapes:

- ``POST /loki/api/v1/push`` with ``{"streams": [{"stream": {labels}, "values": [["<ns>", "<line>"], ...]}]}``;
- ``GET /loki/api/v1/query_range?query=&start=&end=&limit=&direction=`` → ``{"status": "success", "data":
  {"resultType": "streams", "result": [{"stream": {labels}, "values": [["<ns>", "<line>"], ...]}]}}``.

Like Loki: ``start`` is inclusive and ``end`` exclusive (nanoseconds), ``limit`` caps the entries over all streams
(default 100), ``direction`` defaults to ``backward``, identical (timestamp, line) pairs pushed twice into one stream are
kept once. The query understands exact label matchers ``{k="v", ...}`` followed by ``|= "text"``, ``!= "text"``,
``|~ "re"`` and ``!~ "re"`` line filters, which is all aimon's queries use. Tests can require a tenant
(``X-Scope-OrgID``) and basic auth, and queue faults (an HTTP status, or a delay longer than the client's timeout).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.http import LoopbackServer, QuietHandler

_MATCHER_RE = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_FILTER_RE = re.compile(r'\s*(\|=|!=|\|~|!~)\s*"((?:[^"\\]|\\.)*)"')


@dataclass
class Fault:
    """One queued misbehaviour for the next query: an HTTP ``status`` with a body, and/or a ``delay`` in seconds."""

    status: int = 500
    delay: float = 0.0
    body: str = "internal error"


@dataclass
class Request:
    """What the server saw: method, path, query parameters (one value each), lower-cased headers."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class _Stream:
    labels: dict[str, str]
    entries: list[tuple[int, str]] = field(default_factory=list)
    keys: set[tuple[int, str]] = field(default_factory=set)


def _unquote(text: str) -> str:
    return json.loads(f'"{text}"')


def parse_query(query: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """``{job="app"} |~ "error"`` → ({"job": "app"}, [("|~", "error")])."""
    query = query.strip()
    if not query.startswith("{") or "}" not in query:
        raise ValueError("parse error: queries must start with a stream selector {...}")
    selector, rest = query[1:].split("}", 1)
    matchers: dict[str, str] = {}
    position = 0
    while position < len(selector.strip()):
        match = _MATCHER_RE.match(selector, position)
        if not match:
            raise ValueError(f"parse error: unsupported matcher in {{{selector}}}")
        matchers[match.group(1)] = _unquote(match.group(2))
        position = match.end()
    filters: list[tuple[str, str]] = []
    position = 0
    while rest[position:].strip():
        match = _FILTER_RE.match(rest, position)
        if not match:
            raise ValueError(f"parse error: unsupported pipeline stage {rest[position:].strip()!r}")
        filters.append((match.group(1), _unquote(match.group(2))))
        position = match.end()
    if not matchers:
        raise ValueError("parse error: queries require at least one matcher")
    return matchers, filters


def _keeps(line: str, filters: list[tuple[str, str]]) -> bool:
    for operator, operand in filters:
        if operator == "|=" and operand not in line:
            return False
        if operator == "!=" and operand in line:
            return False
        if operator == "|~" and not re.search(operand, line):
            return False
        if operator == "!~" and re.search(operand, line):
            return False
    return True


class FakeLoki(LoopbackServer):
    """Start with ``FakeLoki()``; :meth:`push` lines (or POST them), read :attr:`requests`, queue :meth:`fail`; ``close()``."""

    def __init__(self, *, tenant: str | None = None, username: str | None = None, password: str | None = None) -> None:
        self.tenant = tenant
        self.auth = (
            None if username is None else "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        )
        self.streams: dict[tuple[tuple[str, str], ...], _Stream] = {}
        self.requests: list[Request] = []
        self.faults: deque[Fault] = deque()
        self.lock = threading.Lock()
        super().__init__(self._handler())

    @property
    def url(self) -> str:
        return self.base

    def fail(self, status: int = 500, *, delay: float = 0.0, times: int = 1, body: str = "internal error") -> None:
        """The next ``times`` queries answer ``status`` (after ``delay`` seconds)."""
        for _ in range(times):
            self.faults.append(Fault(status=status, delay=delay, body=body))

    def push(self, labels: dict[str, str], values: list[tuple[int, str]]) -> None:
        """Store entries as ``POST /loki/api/v1/push`` would (duplicates of (ts, line) in a stream are dropped)."""
        with self.lock:
            key = tuple(sorted(labels.items()))
            stream = self.streams.setdefault(key, _Stream(dict(labels)))
            for ns, line in values:
                if (ns, line) in stream.keys:
                    continue
                stream.keys.add((ns, line))
                stream.entries.append((ns, line))
            # Loki keeps each stream ordered by time; entries with equal timestamps keep their push order.
            stream.entries.sort(key=lambda entry: entry[0])

    def query_range(
        self, query: str, start: int, end: int, limit: int = 100, direction: str = "backward"
    ) -> dict[str, Any]:
        """The ``data`` part of a query_range answer, computed like Loki does."""
        matchers, filters = parse_query(query)
        picked: list[tuple[int, int, int, str]] = []  # (ns, stream index, position, line)
        with self.lock:
            streams = list(self.streams.values())
            for index, stream in enumerate(streams):
                if any(stream.labels.get(name) != value for name, value in matchers.items()):
                    continue
                for position, (ns, line) in enumerate(stream.entries):
                    if start <= ns < end and _keeps(line, filters):
                        picked.append((ns, index, position, line))
        picked.sort(reverse=direction == "backward")
        picked = picked[:limit]
        result: dict[int, list[list[str]]] = {}
        for ns, index, _position, line in picked:
            result.setdefault(index, []).append([str(ns), line])
        return {
            "resultType": "streams",
            "result": [{"stream": streams[index].labels, "values": values} for index, values in result.items()],
            "stats": {},
        }

    def total(self) -> int:
        """How many entries are stored."""
        with self.lock:
            return sum(len(stream.entries) for stream in self.streams.values())

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(QuietHandler):
            def _send(self, status: int, body: Any) -> None:
                if isinstance(body, str):
                    self.send(status, body.encode(), "text/plain")
                else:
                    self.send(status, json.dumps(body).encode(), "application/json")

            def _record(self) -> Request:
                parts = urlsplit(self.path)
                params = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
                request = Request(self.command, parts.path, params, {k.lower(): v for k, v in self.headers.items()})
                fake.requests.append(request)
                return request

            def _refused(self, request: Request) -> bool:
                if fake.auth is not None and request.headers.get("authorization") != fake.auth:
                    self._send(401, "authentication required\n")
                    return True
                if fake.tenant is not None and request.headers.get("x-scope-orgid") != fake.tenant:
                    self._send(401, "no org id\n")
                    return True
                return False

            def do_GET(self) -> None:
                request = self._record()
                if request.path != "/loki/api/v1/query_range":
                    self._send(404, "404 page not found\n")
                    return
                if self._refused(request):
                    return
                if fake.faults:
                    fault = fake.faults.popleft()
                    if fault.delay:
                        time.sleep(fault.delay)
                    self._send(fault.status, fault.body)
                    return
                try:
                    data = fake.query_range(
                        request.params["query"],
                        int(request.params["start"]),
                        int(request.params["end"]),
                        int(request.params.get("limit", "100")),
                        request.params.get("direction", "backward"),
                    )
                except (KeyError, ValueError) as exc:
                    self._send(400, f"{exc}\n")
                    return
                self._send(200, {"status": "success", "data": data})

            def do_POST(self) -> None:
                request = self._record()
                if request.path != "/loki/api/v1/push":
                    self._send(404, "404 page not found\n")
                    return
                if self._refused(request):
                    return
                length = int(self.headers.get("content-length", "0"))
                try:
                    payload = json.loads(self.rfile.read(length) or b"{}")
                    for stream in payload["streams"]:
                        fake.push(stream["stream"], [(int(ns), line) for ns, line, *_ in stream["values"]])
                except (KeyError, ValueError, TypeError) as exc:
                    self._send(400, f"bad push payload: {exc}\n")
                    return
                self._send(204, "")

        return Handler
