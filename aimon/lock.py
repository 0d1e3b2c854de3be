"""Lock files that keep two aimon processes from doing the same work at once (``filelock``).

Two ways to take one: without waiting (a cron tick that finds the lock held steps aside), or waiting up to a limit
(a stage run by hand waits for the tick that holds it). Either way the lock is released when the block ends, also on an
error, and a process that dies loses it with its file descriptor.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aimon.errors import StateError


@contextmanager
def try_lock(path: Path, wait: float = 0.0) -> Iterator[bool]:
    """Take the lock file ``path`` for the block: yields True while holding it, False when another process still held
    it after ``wait`` seconds (0: do not wait at all). A lock file that cannot be created is a :class:`StateError`."""
    from filelock import FileLock, Timeout

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(path, timeout=wait) if wait > 0 else FileLock(path, blocking=False)
        lock.acquire()
    except Timeout:
        yield False
        return
    except OSError as exc:
        raise StateError(f"cannot create the lock file {path} ({exc.strerror or exc}); make its folder writable.") from None
    try:
        yield True
    finally:
        lock.release()
