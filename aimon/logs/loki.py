"""Grafana Loki as a log source (``AIMON_SOURCE=loki``): many hosts ship their logs to Loki, one aimon reads Loki.

``query_range`` is read forward in pages from a nanosecond checkpoint. Loki's ``start`` is inclusive and ``end``
exclusive, and many lines can share one timestamp, so the checkpoint is the last timestamp read (``loki_ns``) plus the
hashes of the lines already read at exactly that timestamp (``loki_seen``): the next page (or tick) starts *at* that
timestamp and skips those lines, so no line is lost between pages or ticks and none is read twice. A page that starts
with lines already seen asks for that many more lines, so a crowd of lines at one timestamp never stalls the reader.

The end of a query is "now" minus a short settle delay, because log shippers deliver lines a little late. Each request
has a timeout and a bounded number of retries; when Loki stays down (5xx, timeout) the reader raises
:class:`~aimon.errors.RemoteError` and the checkpoint stays after the last page that was fully recorded.

The scan (:mod:`aimon.stages.scan.loki`) drives the reader and stores each page's cursor with what the page produced.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aimon.clock import Deadline
from aimon.config import Settings, hide_credentials
from aimon.errors import ConfigError, RemoteError
from aimon.state import checkpoints

QUERY_PATH = "/loki/api/v1/query_range"
PAGE_LIMIT = 1000  # lines per request
MAX_LIMIT = 5000  # Loki's default max_entries_limit_per_query
SETTLE_SECONDS = 5.0  # lines younger than this are left for the next tick (shippers deliver late)
INITIAL_LOOKBACK_SECONDS = 3600.0  # the first tick reads the last hour
MAX_WINDOW_NS = 24 * 3600 * 10**9  # one query never spans more than a day (Loki limits query length)
TIMEOUT = (5.0, 30.0)  # (connect, read) seconds
RETRIES = 2  # extra attempts after a 5xx, 429 or a timeout
BACKOFF_SECONDS = 0.5


def source_key(settings: Settings) -> str:
    """The ``checkpoints.source`` of the Loki query: a new query starts a new checkpoint."""
    return f"loki:{settings.sources.loki_query}"


def line_hash(labels: dict[str, str], line: str) -> str:
    """Identity of one entry at a given timestamp: its stream's labels and its text (Loki keeps one of each)."""
    digest = hashlib.sha256(json.dumps(labels, sort_keys=True).encode())
    digest.update(b"\n")
    digest.update(line.encode("utf-8", errors="surrogatepass"))
    return digest.hexdigest()[:20]


@dataclass(frozen=True)
class Cursor:
    """Where reading stopped: the last timestamp read, and the lines already read at exactly that timestamp."""

    ns: int
    seen: frozenset[str] = frozenset()

    def seen_json(self) -> str:
        return json.dumps(sorted(self.seen))

    @classmethod
    def load(cls, ns: int | None, seen: str | None) -> Cursor | None:
        if ns is None:
            return None
        return cls(int(ns), frozenset(json.loads(seen)) if seen else frozenset())


@dataclass(frozen=True)
class Entry:
    """One log line from Loki."""

    ns: int
    labels: dict[str, str]
    line: str


@dataclass
class Page:
    """New entries of one request, in time order, and the cursor after them (what to store with them)."""

    entries: list[Entry]
    cursor: Cursor
    skipped: int = 0  # lines given up on: more than MAX_LIMIT lines at one timestamp


@dataclass
class LokiReader:
    """Reads one LogQL query from Loki, page by page. Build with :meth:`from_settings`."""

    url: str
    query: str
    tenant: str = ""
    auth: tuple[str, str] | None = field(default=None, repr=False)  # holds the password: never in repr
    page_limit: int = PAGE_LIMIT
    max_limit: int = MAX_LIMIT
    timeout: tuple[float, float] = TIMEOUT
    retries: int = RETRIES
    backoff: float = BACKOFF_SECONDS
    sleep: Callable[[float], None] = time.sleep
    requests_made: int = 0
    _session: Any = field(default=None, repr=False)

    @property
    def shown_url(self) -> str:
        """The URL for messages: without any ``user:password@`` written into it."""
        return hide_credentials(self.url)

    @classmethod
    def from_settings(cls, settings: Settings) -> LokiReader:
        """The reader for ``AIMON_LOKI_*``; a :class:`ConfigError` says what is missing."""
        if not settings.sources.loki_url:
            raise ConfigError("AIMON_SOURCE=loki needs AIMON_LOKI_URL (e.g. http://loki:3100).")
        if not settings.sources.loki_query.strip():
            raise ConfigError('AIMON_LOKI_QUERY is empty: give a LogQL query such as {job="app"} |~ "(?i)error|panic".')
        if settings.sources.loki_password and not settings.sources.loki_username:
            raise ConfigError("AIMON_LOKI_PASSWORD is set without AIMON_LOKI_USERNAME: set both for basic auth.")
        auth = (settings.sources.loki_username, settings.sources.loki_password.reveal()) if settings.sources.loki_username else None
        # The module constants are read here (not frozen into the defaults) so an operator or a test can tune them.
        return cls(
            url=settings.sources.loki_url,
            query=settings.sources.loki_query,
            tenant=settings.sources.loki_tenant,
            auth=auth,
            page_limit=PAGE_LIMIT,
            max_limit=MAX_LIMIT,
            timeout=TIMEOUT,
            retries=RETRIES,
            backoff=BACKOFF_SECONDS,
        )

    def pages(self, cursor: Cursor, end_ns: int, deadline: Deadline) -> Iterator[Page]:
        """Every entry after ``cursor`` and before ``end_ns``, page by page; stops early when the deadline passes."""
        while cursor.ns < end_ns and not deadline.expired():
            window_end = min(end_ns, cursor.ns + MAX_WINDOW_NS)
            limit = min(self.max_limit, self.page_limit + len(cursor.seen))
            found = self._query(cursor.ns, window_end, limit, deadline)
            page = _advance(cursor, found)
            if len(found) >= limit and not page.entries:
                # More than max_limit lines at one timestamp: the ones past the limit cannot be paged to. Say so.
                page = Page([], Cursor(cursor.ns + 1), skipped=1)
            elif len(found) < limit and window_end < end_ns:
                page.cursor = Cursor(window_end)  # this window is read completely: move to the next one
            yield page
            if len(found) < limit and window_end >= end_ns:
                return
            cursor = page.cursor

    def _query(self, start: int, end: int, limit: int, deadline: Deadline) -> list[Entry]:
        params = {
            "query": self.query,
            "start": str(start),
            "end": str(end),
            "limit": str(limit),
            "direction": "forward",
        }
        data = self._get(params, deadline)
        if not isinstance(data, dict) or data.get("status") != "success":
            raise RemoteError(f"Loki at {self.shown_url} answered without status=success; will retry next tick.")
        result = (data.get("data") or {}).get("result") or []
        entries: list[tuple[int, int, int, Entry]] = []
        for index, stream in enumerate(result):
            labels = {str(k): str(v) for k, v in (stream.get("stream") or {}).items()}
            for position, value in enumerate(stream.get("values") or []):
                ns, line = int(value[0]), str(value[1])
                entries.append((ns, index, position, Entry(ns, labels, line)))
        # Loki sends each stream in order; interleave the streams by time, keeping each stream's own order.
        entries.sort(key=lambda item: item[:3])
        return [entry for *_, entry in entries]

    def _get(self, params: dict[str, str], deadline: Deadline) -> Any:
        import requests

        if self._session is None:
            self._session = requests.Session()
        headers = {"Accept": "application/json"}
        if self.tenant:
            headers["X-Scope-OrgID"] = self.tenant
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                pause = self.backoff * attempt
                if deadline.remaining() <= pause:
                    break
                self.sleep(pause)
            self.requests_made += 1
            try:
                # The read timeout shrinks with the tick's budget, so a slow Loki cannot hold the tick past it.
                read_timeout = min(self.timeout[1], max(1.0, deadline.remaining()))
                response = self._session.get(
                    self.url + QUERY_PATH, params=params, headers=headers, auth=self.auth,
                    timeout=(self.timeout[0], read_timeout),
                )
            except requests.Timeout:
                problem = f"timed out after {read_timeout:g}s"
                continue
            except requests.ConnectionError as exc:
                problem = f"cannot connect ({type(exc).__name__})"
                continue
            if response.status_code == 200:
                try:
                    return response.json()
                except ValueError:
                    raise RemoteError(
                        f"Loki at {self.shown_url} answered 200 with a body that is not JSON; will retry next tick."
                    ) from None
            detail = response.text.strip()[:200]
            if response.status_code in (401, 403):
                raise RemoteError(
                    f"Loki at {self.shown_url} refused the request ({response.status_code}: {detail}). Check AIMON_LOKI_USERNAME, "
                    "AIMON_LOKI_PASSWORD and AIMON_LOKI_TENANT."
                )
            if response.status_code == 400:
                raise ConfigError(f"Loki at {self.shown_url} rejected AIMON_LOKI_QUERY ({detail}). Fix the LogQL query.")
            problem = f"HTTP {response.status_code}: {detail}"
            if response.status_code != 429 and response.status_code < 500:
                break
        raise RemoteError(f"Loki at {self.shown_url}: {problem}; the checkpoint did not move, the next tick retries.")


def _advance(cursor: Cursor, found: list[Entry]) -> Page:
    """The entries of ``found`` not read yet, and the cursor after them."""
    ns, seen = cursor.ns, set(cursor.seen)
    new: list[Entry] = []
    for entry in found:
        if entry.ns < ns:
            continue  # cannot happen with start = cursor; a misbehaving proxy must not move us backwards
        key = line_hash(entry.labels, entry.line)
        if entry.ns == ns:
            if key in seen:
                continue
            seen.add(key)
        else:
            ns, seen = entry.ns, {key}
        new.append(entry)
    return Page(new, Cursor(ns, frozenset(seen)))


def now_ns() -> int:
    """The current time in nanoseconds since the epoch."""
    return time.time_ns()


def query_end(now: int | None = None, settle: float = SETTLE_SECONDS) -> int:
    """The exclusive end of a query: now minus the settle delay."""
    return (now_ns() if now is None else now) - int(settle * 1e9)


# ------------------------------------------------------------------------------------------------- the checkpoint


def load_cursor(conn: sqlite3.Connection, key: str) -> Cursor | None:
    """The stored checkpoint of the Loki source ``key``, if any."""
    found = checkpoints.load_loki_position(conn, key)
    return None if found is None else Cursor.load(found.ns, found.seen)


def save_cursor(conn: sqlite3.Connection, key: str, cursor: Cursor) -> None:
    """Write the checkpoint (inside the caller's transaction, with what the page produced)."""
    checkpoints.save_loki_position(conn, key, cursor.ns, cursor.seen_json())
