"""Read-only triage (``scan --since``): which files hold one log's lines of a time window, and why each one.

The files are the log itself and its rotations (names as :mod:`aimon.logs.rotations` defines them), each last
written inside the window, and each checked by content before it is read:

* the same file twice (a symlink or hard link, e.g. a "latest" link beside dated files) is read once;
* the same first line twice (``app.log.1`` and ``app.log.1.gz`` while compression runs, a copy) is read once;
* when the log has a checkpoint (the incremental scan reads it), a rotation is read if its first-line hash is one the
  checkpoint has read (:func:`aimon.state.meta.seen_heads`, the rotations present when it started included) or if it
  was written since the last scan (the next tick will read it). Any other rotation-named file is one the incremental
  scan never took for this log's: triage leaves it too, and says so;
* without a checkpoint there is nothing to check a first line against: a rotation is taken by its name. Its format is
  not compared with the log's (a service that switched from text to JSON yesterday keeps its rotations).

Neighbours whose names only start alike (``app-worker.log`` beside ``app.log``) are never read; the first
:data:`OTHERS_LISTED` are named as "another file" so that a user sees why they are not counted.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from aimon.logs.files import ReadTask, head_hash, rotations_seen_before, unreadable
from aimon.logs.rotations import READABLE_COMPRESSIONS, is_near_name, rotation_kind
from aimon.state.checkpoints import Checkpoint

OTHERS_LISTED = 10


@dataclass
class WindowPlan:
    """The files to read for one log over a window (in order, each with why) and those left (with why).

    ``unlisted`` counts the neighbours beyond :data:`OTHERS_LISTED` that are not named in ``skipped``.
    """

    source: str
    reads: list[tuple[ReadTask, str]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unlisted: int = 0


@dataclass(frozen=True)
class _Candidate:
    path: Path
    st: os.stat_result
    kind: str | None  # None: the log itself
    compression: str | None


def plan_window(path: Path, since: float, checkpoint: Checkpoint | None, seen: Collection[str] = ()) -> WindowPlan:
    """Decide which files of the log ``path`` a read-only scan from ``since`` (epoch seconds) reads (module docstring).

    ``checkpoint`` and ``seen`` are the incremental scan's record of this log (``None`` and empty when it has none).
    Every task reads from 0; the caller seeks to the window's start in plain files.
    """
    plan = WindowPlan(str(path))
    candidates, others = _folder(path, plan)
    known = checkpoint is not None and checkpoint.inode is not None
    chain = {*seen, checkpoint.head_hash} if known and checkpoint is not None else set()
    last_scan = rotations_seen_before(checkpoint) if known and checkpoint is not None else None
    taken_inodes: dict[tuple[int, int], Path] = {}
    taken_heads: dict[str, Path] = {}
    base = path.name
    for candidate in candidates:
        rotation = "" if candidate.kind is None else f"{candidate.kind} rotation of {base}"
        if candidate.compression not in (None, *READABLE_COMPRESSIONS):
            plan.skipped.append((candidate.path, f"{rotation}, compressed as .{candidate.compression}, which aimon does not read"))
            continue
        if candidate.st.st_mtime < since:
            plan.skipped.append((candidate.path, "last written before the window"))
            continue
        same = taken_inodes.get((candidate.st.st_dev, candidate.st.st_ino))
        if same is not None:
            plan.skipped.append((candidate.path, f"the same file as {same.name} (a link)"))
            continue
        gz = candidate.compression == "gz"
        head = head_hash(candidate.path, gz)
        copy_of = taken_heads.get(head) if head is not None else None
        if copy_of is not None:
            plan.skipped.append((candidate.path, f"the same first line as {copy_of.name}: a copy of it"))
            continue
        if candidate.kind is None:
            why = "the file named"
        elif head is None:
            plan.skipped.append((candidate.path, f"{rotation}, but it holds no complete line"))
            continue
        elif not known:
            why = f"{rotation}, by its name (this log has no checkpoint to check its first line against)"
        elif head in chain:
            why = f"{rotation}, its first line is one the checkpoint has read"
        elif last_scan is not None and candidate.st.st_mtime > last_scan:
            why = f"{rotation}, written since the last scan"
        else:
            plan.skipped.append((candidate.path, f"{candidate.kind} rotation name, but not one of {base}'s: its first line "
                                 "is not one the checkpoint has read and it was last written before the last scan"))
            continue
        taken_inodes[(candidate.st.st_dev, candidate.st.st_ino)] = candidate.path
        if head is not None:
            taken_heads[head] = candidate.path
        st = candidate.st
        plan.reads.append((ReadTask(candidate.path, 0, st.st_ino, st.st_dev, head, gz=gz, final=True), why))
    plan.skipped += [(other, f"another file: its name is not a rotation of {base}") for other in others[:OTHERS_LISTED]]
    plan.unlisted = max(0, len(others) - OTHERS_LISTED)
    return plan


def _folder(path: Path, plan: WindowPlan) -> tuple[list[_Candidate], list[Path]]:
    """The log, then its rotations (plain ones newest first, then compressed ones newest first: a plain copy that is
    being compressed is the complete one), and the neighbours with names that start alike, newest first."""
    found: list[tuple[float, _Candidate]] = []
    others: list[tuple[float, Path]] = []
    me: _Candidate | None = None
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        entries = []
    for entry in entries:
        kind = rotation_kind(entry.name, path.name)
        if kind is None and entry.name != path.name and not is_near_name(entry.name, path.name):
            continue
        candidate_path = Path(entry.path)
        try:
            if entry.name != path.name and not entry.is_file():
                continue  # a folder named like a rotation is nobody's log
        except OSError:
            continue
        problem = unreadable(candidate_path)
        if problem is not None:
            plan.problems.append(f"{candidate_path}: cannot read it ({problem})")
            continue
        try:
            st = candidate_path.stat()
        except OSError:
            continue  # gone since the listing
        if entry.name == path.name:
            me = _Candidate(candidate_path, st, None, None)
        elif kind is None:
            others.append((st.st_mtime, candidate_path))
        else:
            found.append((st.st_mtime, _Candidate(candidate_path, st, kind[0], kind[1])))
    if me is None:
        problem = unreadable(path)  # the folder itself may be what cannot be read
        if problem is not None and not plan.problems:
            plan.problems.append(f"{path}: cannot read it ({problem})")
    found.sort(key=lambda pair: (pair[1].compression is not None, -pair[0], pair[1].path.name))
    others.sort(key=lambda pair: (-pair[0], pair[1].name))
    return [*([me] if me else []), *(candidate for _, candidate in found)], [other for _, other in others]
