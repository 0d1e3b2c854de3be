"""Log files: where to read next, exactly once, through rotation, truncation and compression.

A *source* is one configured path (``/var/log/app.log``); its checkpoint row holds the inode and device of the file
last read, a hash of that file's first line, and the byte offset just past the last complete line read. Each scan
plans its reads (:func:`plan_reads`) from that row and the files on disk:

* same inode, not shorter, same first line → read on from the offset;
* same inode but shorter than the offset, or another first line → *copytruncate*: the copy (``app.log.1`` or
  ``app.log.1.gz``, found by its first-line hash) is read from the offset to its end first, then the file from 0;
* another inode → *rename*: the old file is found among the siblings by its inode (or, compressed already, by its
  first-line hash in a ``.gz`` sibling), its rest is read first, then the new file from 0;
* the path is gone and the old inode too → nothing to read; the checkpoint stays until the file is back;
* any other rotated file whose first line was never read, written since the last scan that read all it planned
  began (several rotations between two scans, or the rotation of a file that was still empty at the last read) is
  read whole, oldest first, before the current file. The first-line hashes of files read (and of the rotated files
  present when a source is first seen) are remembered (:func:`aimon.state.meta.remember_heads`) so that no file is
  ever read twice from its start.

The rotated files of a source are those with a rotation's name (:mod:`aimon.logs.rotations`: ``app.log.1``,
``app.log-20240101``, ``app.log.2024-01-01``, ``app-20240101.log``…), never a neighbour such as ``app-worker.log``.

Known limit: a file truncated in place and refilled past the old offset *with the same first line* cannot be told from
the same file grown (nothing on disk says so).

Reading the planned stretches is :mod:`aimon.logs.reader`'s job.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import io
import os
import re
import stat
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aimon.logs.rotations import READABLE_COMPRESSIONS, rotation_kind, rotations_among
from aimon.state.checkpoints import Checkpoint

CHUNK_BYTES = 8 * 1024 * 1024
HEAD_BYTES = 1024
# Modification times are compared with the clock at a margin: some file systems keep them to the second (or two).
MTIME_SLACK_SECONDS = 2.0
_GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class ReadTask:
    """One stretch of one file to read: ``path`` from ``start`` to its end (``gz``: offsets in the decompressed data).

    ``final`` marks a rotated file that will not grow (an open panic at its end is finished, not held).
    ``inode``/``device``/``head_hash`` identify the file for the checkpoint written after this task.
    """

    path: Path
    start: int
    inode: int | None
    device: int | None
    head_hash: str | None
    gz: bool = False
    final: bool = False
    copy: tuple[int, int] | None = None  # (inode, device) of ``path`` when it is a copy read for another checkpoint

    def file_id(self) -> tuple[int | None, int | None]:
        """``(inode, device)`` of the file the plan found at ``path``: the checkpoint's own, or the copy's."""
        return self.copy or (self.inode, self.device)


@dataclass
class Plan:
    """What to read for one source, in order, and a note for the user when something unusual happened."""

    source: str
    tasks: list[ReadTask] = field(default_factory=list)
    note: str | None = None
    seen: list[str] = field(default_factory=list)  # first-line hashes to remember as read
    problem: str | None = None  # why the source cannot be seen at all (missing, unreadable): it is failing
    started: float = field(default_factory=time.time)  # when the plan looked at the files (wall clock, as mtimes)


# ---------------------------------------------------------------------------------------------------- finding files


def expand_paths(patterns: Sequence[str]) -> list[Path]:
    """Paths and globs → the files to watch (absolute, in order, without duplicates).

    A plain path is kept even when the file does not exist (yet, or any more): its checkpoint still matters. A glob
    match that is a rotated sibling of another match (``app.log.1`` next to ``app.log``) is left out: it is read
    through rotation handling, not as a source of its own.
    """
    found: list[Path] = []
    for pattern in patterns:
        expanded = os.path.expanduser(pattern)
        if _GLOB_CHARS.search(expanded):
            found.extend(Path(match).absolute() for match in sorted(glob.glob(expanded)) if os.path.isfile(match))
        else:
            found.append(Path(expanded).absolute())
    unique = list(dict.fromkeys(found))
    rotated = rotations_among(path.name for path in unique)
    return [path for path in unique if path.name not in rotated]


def is_glob(pattern: str) -> bool:
    """Whether ``pattern`` is a glob (``*``, ``?``, ``[…]``) rather than one path."""
    return bool(_GLOB_CHARS.search(os.path.expanduser(pattern)))


def unmatched_globs(patterns: Sequence[str]) -> list[str]:
    """The glob patterns among ``patterns`` that match no file: a watched source that does not exist."""
    return [
        pattern for pattern in patterns
        if _GLOB_CHARS.search(expanded := os.path.expanduser(pattern)) and not any(os.path.isfile(m) for m in glob.glob(expanded))
    ]


def rotated_siblings(path: Path, *, unreadable_too: bool = False) -> list[Path]:
    """Rotations of ``path`` in its folder, newest first: only the names logrotate and the common appenders give them
    (``app.log.1``, ``app.log.2.gz``, ``app.log-20240101``, ``app.log.2024-01-01``, ``app-20240101.log``; see
    :mod:`aimon.logs.rotations`), never a neighbour such as ``app-worker.log``. Rotations compressed in a way aimon
    does not read (``.xz``…) are left out unless ``unreadable_too``."""
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    siblings = []
    stem = path.name.rpartition(".")[0] or path.name
    for name in names:
        if not name.startswith(stem):  # every rotation's name does (a folder of many logs: most names are others)
            continue
        kind = rotation_kind(name, path.name)
        if kind is None or (not unreadable_too and kind[1] not in (None, *READABLE_COMPRESSIONS)):
            continue
        sibling = path.parent / name
        try:
            st = sibling.stat()
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            siblings.append((st.st_mtime, sibling))
    return [sibling for _, sibling in sorted(siblings, key=lambda pair: (-pair[0], str(pair[1])))]


def is_gz(path: Path) -> bool:
    return path.name.endswith(".gz")


def open_binary(path: Path, gz: bool | None = None) -> io.RawIOBase | gzip.GzipFile:
    """Open a log file for reading bytes, decompressing ``.gz`` files."""
    if is_gz(path) if gz is None else gz:
        return gzip.open(path, "rb")
    return open(path, "rb", buffering=0)


def head_hash(path: Path, gz: bool | None = None) -> str | None:
    """Hash of the file's first line (at most :data:`HEAD_BYTES`), or ``None`` while it has no complete line."""
    try:
        with open_binary(path, gz) as stream:
            head = stream.read(HEAD_BYTES) or b""
    except (OSError, EOFError, gzip.BadGzipFile):
        return None
    return first_line_hash(head)


def first_line_hash(head: bytes | bytearray | memoryview) -> str | None:
    """:func:`head_hash` of a file that starts with ``head`` (at least its first line or :data:`HEAD_BYTES`)."""
    head = bytes(head[:HEAD_BYTES])
    newline = head.find(b"\n")
    if newline >= 0:
        head = head[: newline + 1]
    elif len(head) < HEAD_BYTES:
        return None
    return hashlib.blake2b(head, digest_size=12).hexdigest()


# ---------------------------------------------------------------------------------------------------------- planning


def _task(path: Path, start: int, st: os.stat_result, *, gz: bool = False, final: bool = False) -> ReadTask:
    return ReadTask(path, start, st.st_ino, st.st_dev, head_hash(path, gz), gz=gz, final=final)


def _stat(path: Path) -> os.stat_result | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st if os.path.isfile(path) else None


def _holder(path: Path, st: os.stat_result | None, checkpoint: Checkpoint, siblings: list[Path]) -> tuple[Path, os.stat_result] | None:
    """The file that has the checkpoint's inode: the path itself, or a sibling it was renamed to."""
    if st is not None and (st.st_ino, st.st_dev) == (checkpoint.inode, checkpoint.device):
        return path, st
    for sibling in siblings:
        sibling_st = _stat(sibling)
        if sibling_st and not is_gz(sibling) and (sibling_st.st_ino, sibling_st.st_dev) == (checkpoint.inode, checkpoint.device):
            return sibling, sibling_st
    return None


def _copy_of(checkpoint: Checkpoint, siblings: list[Path], skip: Path | None) -> tuple[Path, os.stat_result, bool] | None:
    """A rotated file with the checkpoint's first line and at least its offset: a copy, or a compressed rotation."""
    if checkpoint.head_hash is None:
        return None
    for sibling in siblings:
        st = _stat(sibling)
        if st is None or sibling == skip:
            continue
        gz = is_gz(sibling)
        if not gz and st.st_size < checkpoint.offset:
            continue
        if head_hash(sibling, gz) == checkpoint.head_hash:
            return sibling, st, gz
    return None


def _unread_siblings(
    siblings: list[Path], checkpoint: Checkpoint, seen: set[str | None], skip: set[Path]
) -> list[tuple[Path, os.stat_result, bool, str]]:
    """Rotated files written since the last read whose first line was never read: several rotations (or a rotation
    of a file that was still empty at the last read) happened between two scans. Oldest first."""
    since = rotations_seen_before(checkpoint)
    found: dict[str, tuple[Path, os.stat_result, bool, str]] = {}
    for sibling in siblings:
        st = _stat(sibling)
        if st is None or since is None or st.st_mtime <= since or sibling in skip:
            continue
        gz = is_gz(sibling)
        head = head_hash(sibling, gz)
        # While a rotation is being compressed, app.log.2 and app.log.2.gz hold the same lines: read them once, from
        # the uncompressed file (the .gz may be half-written).
        if head is not None and head not in seen and (head not in found or found[head][2]):
            found[head] = (sibling, st, gz, head)
    return sorted(found.values(), key=lambda item: item[1].st_mtime)


def rotations_seen_before(checkpoint: Checkpoint) -> float | None:
    """Epoch seconds before which a rotated file of the checkpoint's source was seen by a scan (read, or history when
    aimon started): when the last scan that read its whole plan began, less :data:`MTIME_SLACK_SECONDS`.

    Not when the checkpoint was last written: a scan that stops part-way (a file rotated away under it, the tick
    budget, a kill) has committed the files it finished, and a rotation written before that commit may be one it never
    reached.
    """
    since = checkpoint.rotations_seen_before()
    return None if since is None else since - MTIME_SLACK_SECONDS


def unreadable(path: Path) -> str | None:
    """Why ``path`` exists but cannot be read as a log (a directory, no read permission), or None (readable or
    absent)."""
    try:
        path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    if path.is_dir():
        return "it is a directory"
    if not path.is_file():
        return "it is not a regular file"
    if not os.access(path, os.R_OK):
        return "permission denied"
    return None


def plan_reads(path: Path, checkpoint: Checkpoint | None, seen: Collection[str] = ()) -> Plan:
    """Decide what to read for one source (see the module docstring for the cases).

    ``seen`` holds the first-line hashes of the files this source has read (or that were there when it started):
    a rotated file with one of those is never read again from the start.
    """
    plan = Plan(str(path))
    problem = unreadable(path)
    if problem is not None:  # said, not skipped silently; read from the checkpoint once it can be
        plan.note = f"{path}: cannot read it ({problem}); nothing read, the checkpoint is kept"
        plan.problem = f"cannot read it ({problem})"
        return plan
    st = _stat(path)
    siblings = rotated_siblings(path)
    if checkpoint is None or checkpoint.inode is None:
        # What is already rotated when aimon starts is history it never promised to read: remember it as seen.
        plan.seen = [head for sibling in siblings if (head := head_hash(sibling)) is not None]
        if st is None:
            plan.note = f"{path}: no such file (yet)"
            plan.problem = "no such file"
        else:
            plan.tasks.append(_task(path, 0, st))
        return plan
    current_head = head_hash(path) if st is not None else None
    holder = _holder(path, st, checkpoint, siblings)
    holder_head = None if holder is None else current_head if holder[0] == path else head_hash(holder[0])
    resume = 0
    taken: set[Path] = set()
    if holder is not None and holder[1].st_size >= checkpoint.offset and checkpoint.head_hash in (None, holder_head):
        if holder[0] == path:
            resume = checkpoint.offset  # the usual case: the same file, grown
        else:
            plan.note = f"{path}: rotated; finishing {holder[0].name} first"
            plan.tasks.append(ReadTask(holder[0], checkpoint.offset, checkpoint.inode, checkpoint.device,
                                       checkpoint.head_hash, final=st is not None))
            taken.add(holder[0])
    else:
        # Truncated (copytruncate) or rotated away: the rest of what was being read is in a copy with its first line.
        copy = _copy_of(checkpoint, siblings, holder[0] if holder else None)
        kind = "truncated (copytruncate)" if holder is not None and holder[0] == path else "rotated"
        if copy is not None:
            plan.note = f"{path}: {kind}; finishing {copy[0].name} first"
            plan.tasks.append(ReadTask(copy[0], checkpoint.offset, checkpoint.inode, checkpoint.device,
                                       checkpoint.head_hash, gz=copy[2], final=True,
                                       copy=(copy[1].st_ino, copy[1].st_dev)))
            taken.add(copy[0])
        elif st is None:
            plan.note = f"{path}: the file is gone and its rotated copy was not found"
            plan.problem = "the file is gone and its rotated copy was not found"
        else:
            plan.note = f"{path}: {kind}; the rest of the old file was not found"
    between = _unread_siblings(siblings, checkpoint, {*seen, checkpoint.head_hash, current_head}, taken)
    for sibling, sibling_st, gz, head in between:
        plan.tasks.append(ReadTask(sibling, 0, sibling_st.st_ino, sibling_st.st_dev, head, gz=gz, final=True))
    if between:
        names = ", ".join(sibling.name for sibling, *_ in between)
        plan.note = _join(plan.note or f"{path}: rotated", f"reading {names} written since the last scan")
    if st is not None:
        plan.tasks.append(ReadTask(path, resume, st.st_ino, st.st_dev, current_head))
    return plan


def _join(first: str | None, second: str) -> str:
    return second if not first else f"{first}; {second}"


