"""Source code for a diagnosis: the file a log or backtrace names, found under ``AIMON_REPO_DIR``; the lines around the
error from the enclosing ``fn``; the backtrace frames that belong to the service's own crate."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SNIPPET_BEFORE = 12  # source lines above the error line when no enclosing fn is near
SNIPPET_AFTER = 8
FN_SEARCH_LINES = 80  # how far up the enclosing `fn` is looked for
MAX_FRAMES = 15
MAX_CODE_CHARS = 400  # a minified or generated line is cut (with a marker)

_FN_RE = re.compile(
    r"^\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?(?:default\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?"
    r"(?:extern\s+\"[^\"]*\"\s+)?fn\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
)
_FRAME_FN_RE = re.compile(r"^(?P<n>\d+):\s+(?P<fn>.+)$")
_FRAME_AT_RE = re.compile(r"^at\s+(?P<path>.+?):(?P<line>\d+)(?::\d+)?$")
_FOREIGN_PATH = ("/rustc/", "/.cargo/registry/", "/.cargo/git/", "/.rustup/", "\\.cargo\\")
_FOREIGN_FN = ("std::", "core::", "alloc::", "tokio::", "hyper::", "axum::", "tower::", "futures", "__rust", "rust_begin_unwind",
               "<core::", "<alloc::", "<std::", "<tokio::", "<hyper::", "<axum::", "<tower::", "<F as ", "tracing::")


@dataclass
class SourceSnippet:
    """Source lines around an error location: ``lines`` are (number, text); ``fn_line`` is the enclosing fn's."""

    path: str
    line: int
    lines: list[tuple[int, str]]
    fn_name: str | None = None
    fn_line: int | None = None


def display_path(repo: Path, path: Path) -> str:
    """``path`` relative to ``repo`` (POSIX), or its name when it is not inside."""
    try:
        return path.resolve().relative_to(repo.resolve()).as_posix()
    except ValueError:
        return path.name


def resolve_source(repo: Path, file: str) -> Path | None:
    """The file under ``repo`` that ``file`` (as a log or backtrace names it) refers to, or None.

    Tries the path as given, then shorter and shorter suffixes (a build machine's absolute path ends in the
    repository's relative one); never leaves ``repo``; never answers for the toolchain's or a dependency's files.
    """
    if any(marker in file for marker in _FOREIGN_PATH):
        return None
    root = repo.resolve()
    parts = [part for part in Path(file.replace("\\", "/")).parts if part not in ("/", ".")]
    for index in range(len(parts)):
        suffix = parts[index:]
        if ".." in suffix or (index > 0 and len(suffix) < 2):
            continue
        candidate = root.joinpath(*suffix).resolve()
        if candidate.is_file() and candidate.is_relative_to(root):
            return candidate
    return None


def read_snippet(path: Path, line: int, display: str | None = None) -> SourceSnippet | None:
    """Lines around ``line`` of ``path``: from the enclosing ``fn`` when it is within :data:`FN_SEARCH_LINES`."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return None
    fn_line, fn_name = None, None
    indent = len(lines[line - 1]) - len(lines[line - 1].lstrip())
    for number in range(line, max(0, line - FN_SEARCH_LINES), -1):
        candidate = lines[number - 1]
        match = _FN_RE.match(candidate)
        if match and len(candidate) - len(candidate.lstrip()) <= indent:
            fn_line, fn_name = number, match.group("name")
            break
    first = fn_line if fn_line is not None else max(1, line - SNIPPET_BEFORE)
    last = min(len(lines), line + SNIPPET_AFTER)
    shown = [(number, _cap(lines[number - 1])) for number in range(first, last + 1)]
    return SourceSnippet(path=display or path.name, line=line, lines=shown, fn_name=fn_name, fn_line=fn_line)


def own_frames(backtrace: list[str], target: str | None, repo: Path | None) -> list[tuple[str, str | None, int | None]]:
    """The backtrace frames of the service's own crate: (text, file, line)."""
    crate = (target or "").split("::")[0].replace("-", "_")
    out: list[tuple[str, str | None, int | None]] = []
    pending: str | None = None
    for raw in backtrace:
        text = raw.strip()
        fn_match = _FRAME_FN_RE.match(text)
        if fn_match:
            if pending is not None and _own_fn(pending, crate):
                out.append((pending, None, None))
            pending = fn_match.group("fn").strip()
            continue
        at = _FRAME_AT_RE.match(text)
        if at and pending is not None:
            path, number = at.group("path"), int(at.group("line"))
            if _own_fn(pending, crate) or _own_path(path, repo):
                out.append((f"{pending} at {path}:{number}", path, number))
            pending = None
    if pending is not None and _own_fn(pending, crate):
        out.append((pending, None, None))
    return out[:MAX_FRAMES]


def _own_fn(name: str, crate: str) -> bool:
    if name.startswith(_FOREIGN_FN):
        return False
    bare = name.lstrip("<")
    return bool(crate) and (bare.startswith(f"{crate}::") or bare == crate)


def _own_path(path: str, repo: Path | None) -> bool:
    if any(marker in path for marker in _FOREIGN_PATH):
        return False
    if path.startswith(("./", "src/")):
        return True
    return repo is not None and resolve_source(repo, path) is not None


def _cap(text: str) -> str:
    return text if len(text) <= MAX_CODE_CHARS else f"{text[:MAX_CODE_CHARS]}…[+{len(text) - MAX_CODE_CHARS} chars]"
