"""A log writer that behaves like a Rust service under logrotate, and knows exactly what it wrote.

It appends ``tracing-subscriber`` JSON lines (mostly request INFO lines, and errors of a handful of kinds whose ids,
numbers, durations and user names vary) plus, now and then, a Rust panic printed to stderr (three lines). Some writes
stop in the middle of a line and finish it on the next write, as a buffered writer does. Between bursts it rotates:

- ``rotate_rename()``: logrotate's ``create`` mode — ``app.log.N`` → ``app.log.N+1``, ``app.log`` → ``app.log.1``, a new
  ``app.log``, and (``delaycompress``) ``app.log.2`` gzipped into ``app.log.2.gz``. The service reopens its log at once
  (the rename and the reopen happen with no write in between);
- ``rotate_copytruncate()``: logrotate's ``copytruncate`` — ``app.log`` copied to ``app.log.1`` (after shifting the
  others), then truncated to zero; the service keeps writing to the same file, from offset 0 (``O_APPEND``).

:attr:`LogWriter.truth` counts every error occurrence written, per kind: the ground truth the crash suite compares the
state file with. Everything random comes from the ``random.Random`` it is given, so a seed replays the same log.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

USERS = ("alice", "bob", "carol", "dave", "erin", "frank")
PANIC_FILE, PANIC_LINE = "src/handlers/orders.rs", 83


@dataclass(frozen=True)
class Kind:
    """One kind of error: its error code (how the suite recognises its fingerprints) and how a message is made."""

    name: str
    error_code: str | None
    target: str
    make: Callable[[random.Random], str]
    filename: str | None = None
    line: int | None = None


KINDS: tuple[Kind, ...] = (
    Kind("pool", "DB_POOL_TIMEOUT", "shop::handlers::orders",
         lambda r: f"timed out waiting for a connection from the pool after {r.choice((5000, 5001, 5003, 30000))}ms",
         "src/handlers/orders.rs", 26),
    Kind("upstream", "UPSTREAM_5XX", "shop::payments::client",
         lambda r: f"payment provider returned 503 Service Unavailable for https://payments.internal/v1/charges/"
                   f"ch_{r.getrandbits(40):010x} after {r.randint(900, 1500)}ms", "src/payments/client.rs", 142),
    Kind("unique", "DB_UNIQUE_VIOLATION", "shop::handlers::signup",
         lambda r: 'error returned from database: duplicate key value violates unique constraint "users_email_key" '
                   f"(email=user{r.randint(1, 99999)}@example.com)", "src/handlers/signup.rs", 57),
    Kind("missing", "ITEM_MISSING", "shop::inventory",
         lambda r: f"item {uuid.UUID(int=r.getrandbits(128))} not found in warehouse {r.randint(1, 40)} "
                   f"(peer 10.0.{r.randint(0, 255)}.{r.randint(1, 254)}:5432)"),
    # User names carry no digit: masking keeps them, learned grouping merges them (aliases) once enough are seen.
    Kind("session", "AUTH_SESSION", "shop::auth",
         lambda r: f"session expired for user {r.choice(USERS)} while refreshing the token"),
)
PANIC = Kind("panic", None, "", lambda r: "called `Option::unwrap()` on a `None` value", PANIC_FILE, PANIC_LINE)


class LogWriter:
    """Writes the log at ``path``; :meth:`burst` appends a few lines, the ``rotate_*`` methods rotate."""

    def __init__(self, path: Path, rnd: random.Random, *, error_share: float = 0.3, panic_share: float = 0.02) -> None:
        self.path = path
        self.rnd = rnd
        self.error_share = error_share
        self.panic_share = panic_share
        self.truth: Counter[str] = Counter()
        self.lines = 0
        self.rotations: list[str] = []
        self._pending = b""  # the second half of a line whose first half is already in the file
        self._fd = self._open()

    # -- writing -------------------------------------------------------------------------------------------------------

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]

    def burst(self, count: int | None = None) -> None:
        """Append ``count`` records (1–8 by default); sometimes leave the last line half-written."""
        data = self._pending
        self._pending = b""
        for _ in range(count if count is not None else self.rnd.randint(1, 8)):
            data += self._record()
        if self.rnd.random() < 0.15:
            cut = len(data) - self.rnd.randint(1, 40)
            data, self._pending = data[:cut], data[cut:]
        self._write(data)

    def finish(self) -> None:
        """Complete a half-written line and end with an INFO line (a panic block ends where the next record starts)."""
        self._write(self._pending + self._info(self._stamp()))
        self._pending = b""
        self.lines += 1

    def close(self) -> None:
        os.close(self._fd)

    def _stamp(self) -> str:
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def _record(self) -> bytes:
        stamp = self._stamp()
        roll = self.rnd.random()
        if roll < self.panic_share:
            self.truth[PANIC.name] += 1
            self.lines += 3
            return (f"thread 'tokio-runtime-worker' panicked at {PANIC_FILE}:{PANIC_LINE}:{self.rnd.randint(5, 40)}:\n"
                    f"{PANIC.make(self.rnd)}\n"
                    "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n").encode()
        self.lines += 1
        if roll < self.panic_share + self.error_share:
            kind = self.rnd.choice(KINDS)
            self.truth[kind.name] += 1
            return self._error(stamp, kind)
        return self._info(stamp)

    def _span(self) -> dict[str, str]:
        return {"method": "POST", "uri": "/orders", "request_id": f"{self.rnd.getrandbits(64):016x}", "name": "request"}

    def _info(self, stamp: str) -> bytes:
        span = self._span()
        record = {"timestamp": stamp, "level": "INFO",
                  "fields": {"message": "finished processing request", "latency": f"{self.rnd.randint(2, 90)} ms", "status": 200},
                  "target": "tower_http::trace::on_response", "span": span, "spans": [span],
                  "threadName": "tokio-runtime-worker", "threadId": f"ThreadId({self.rnd.randint(2, 9)})"}
        return json.dumps(record, separators=(",", ":")).encode() + b"\n"

    def _error(self, stamp: str, kind: Kind) -> bytes:
        span = self._span()
        fields: dict[str, object] = {"message": kind.make(self.rnd), "error_code": kind.error_code}
        record: dict[str, object] = {"timestamp": stamp, "level": "ERROR", "fields": fields, "target": kind.target}
        if kind.filename:
            record["filename"], record["line_number"] = kind.filename, kind.line
        record.update(span=span, spans=[span], threadName="tokio-runtime-worker", threadId=f"ThreadId({self.rnd.randint(2, 9)})")
        return json.dumps(record, separators=(",", ":")).encode() + b"\n"

    # -- rotating ------------------------------------------------------------------------------------------------------

    def _rotated(self) -> list[tuple[int, Path]]:
        found = []
        for entry in self.path.parent.iterdir():
            suffix = entry.name[len(self.path.name) + 1:] if entry.name.startswith(self.path.name + ".") else ""
            number = suffix.removesuffix(".gz")
            if number.isdigit():
                found.append((int(number), entry))
        return sorted(found, reverse=True)

    def _shift(self) -> None:
        for number, entry in self._rotated():
            entry.rename(entry.with_name(f"{self.path.name}.{number + 1}{'.gz' if entry.name.endswith('.gz') else ''}"))

    def _delaycompress(self) -> None:
        # As gzip(1) does: write app.log.2.gz (a reader may see it half-written), then remove app.log.2.
        second = self.path.with_name(self.path.name + ".2")
        if second.exists():
            with second.open("rb") as source, gzip.open(f"{second}.gz", "wb") as target:
                shutil.copyfileobj(source, target)
            second.unlink()

    def _complete_line(self) -> None:
        # A service flushes its buffered line before it reopens (or is copied): no line straddles two files.
        if self._pending:
            self._write(self._pending)
            self._pending = b""

    def rotate_rename(self) -> None:
        """logrotate ``create`` + ``delaycompress``; the service reopens its log right away."""
        self._complete_line()
        self._shift()
        os.rename(self.path, self.path.with_name(self.path.name + ".1"))
        os.close(self._fd)
        self._fd = self._open()
        self._delaycompress()
        self.rotations.append("rename")

    def rotate_copytruncate(self) -> None:
        """logrotate ``copytruncate``: copy, then truncate in place; the service writes on from offset 0."""
        self._complete_line()
        self._shift()
        shutil.copyfile(self.path, self.path.with_name(self.path.name + ".1"))
        os.truncate(self.path, 0)
        self.rotations.append("copytruncate")


class WriterThread(threading.Thread):
    """Runs a :class:`LogWriter` for ``seconds``: a burst every few ms, rotations at the planned moments."""

    def __init__(self, writer: LogWriter, seconds: float, rotations: list[tuple[float, str]], pause: tuple[float, float] = (0.005, 0.03)) -> None:
        super().__init__(daemon=True)
        self.writer, self.seconds, self.plan, self.pause = writer, seconds, sorted(rotations), pause
        self.stop_now = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            started = time.monotonic()
            plan = list(self.plan)
            while not self.stop_now.is_set() and time.monotonic() - started < self.seconds:
                self.writer.burst()
                while plan and time.monotonic() - started >= plan[0][0]:
                    _, how = plan.pop(0)
                    self.writer.rotate_rename() if how == "rename" else self.writer.rotate_copytruncate()
                time.sleep(self.writer.rnd.uniform(*self.pause))
            for _, how in plan:  # rotations not reached in time still happen: each is part of the proof
                self.writer.rotate_rename() if how == "rename" else self.writer.rotate_copytruncate()
                self.writer.burst()
            self.writer.finish()
        except BaseException as exc:  # reported by the test
            self.error = exc
