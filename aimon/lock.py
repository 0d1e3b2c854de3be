"""Lock files that keep two aimon processes from doing the same work at once (``flock`` on the lock file).

Two ways to take one: without waiting (a cron tick that finds the lock held steps aside), or waiting up to a limit
(a stage run by hand waits for the tick that holds it). Either way the lock is released when the block ends, also on an
error, and a process that dies loses it with its file descriptor.

Whoever holds it says so in a small file beside it (``NAME.holder``: pid, command, since), removed on release: a
holder file whose process is gone is what a killed run leaves, and ``aimon status`` shows both.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aimon.errors import StateError


def lock_path(db_path: Path) -> Path:
    """The lock file of ``aimon run``: next to the state file (its real path, so that two names for one file, a
    symlink or another relative path, share one lock), and two state files never block each other."""
    real = db_path.resolve()
    return real.with_name(real.name + ".lock")


@contextmanager
def try_lock(path: Path, wait: float = 0.0, holder: str | None = None) -> Iterator[bool]:
    """Take the lock file ``path`` for the block: yields True while holding it, False when another process still held
    it after ``wait`` seconds (0: do not wait at all). A lock file that cannot be created is a :class:`StateError`.
    With ``holder`` (the command), the holder file says who holds it.

    An exclusive ``flock`` on the open file (what the ``filelock`` package does on Unix, so the two agree): the
    kernel drops it with the process, so a killed run never leaves a lock behind."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StateError(f"cannot create the lock file {path} ({exc.strerror or exc}); make its folder writable.") from None
    try:
        if not _flock(fd, wait):
            yield False
            return
        record = holder_path(path)
        if holder is not None:
            _write_holder(record, holder)
        try:
            yield True
        finally:
            if holder is not None:
                with suppress(OSError):
                    record.unlink()
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


_POLL_SECONDS = 0.05


def _flock(fd: int, wait: float) -> bool:
    """Take the exclusive lock of ``fd``, trying for up to ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(_POLL_SECONDS, max(0.0, deadline - time.monotonic())))


def holder_path(path: Path) -> Path:
    """The holder file of the lock file ``path``."""
    return path.with_name(path.name + ".holder")


def _write_holder(record: Path, command: str) -> None:
    data = {"pid": os.getpid(), "command": command, "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    partial = record.with_name(record.name + ".tmp")
    with suppress(OSError):  # who holds the lock is for people to read; the lock itself is what counts
        partial.write_text(json.dumps(data), encoding="utf-8")
        partial.replace(record)


def holder_of(path: Path) -> dict[str, Any] | None:
    """Who holds (or held, and died holding) the lock file ``path``: ``pid``, ``command``, ``since`` and ``alive``
    (whether that process still runs); None when nobody says so."""
    try:
        data = json.loads(holder_path(path).read_text(encoding="utf-8"))
        pid = int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return {"pid": pid, "command": str(data.get("command", "")), "since": data.get("since"), "alive": _alive(pid)}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it runs, as another user
    return True
