"""The autofix guard: pure checks that run on a proposed change before anything is written, built or pushed.

The model's answer is untrusted (it read log lines an attacker can write), so every proposed edit must pass here:
the path stays inside the repository and inside ``AIMON_AUTOFIX_PATHS``, it is none of the files that decide what runs
on CI or at build time, what gets installed, or what is secret, the change is small, and the new code does not reach
for the environment, processes or the network. Each check returns the reason it refuses (``None`` when it passes).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

# Folders whose files configure CI, the forge or the toolchain: a change there runs code we never tested.
DENIED_DIRS = frozenset(
    {".git", ".github", ".gitlab", ".circleci", ".buildkite", ".ci", ".cargo", ".husky", ".devcontainer", ".vscode"}
)

# File names (case-insensitive globs), grouped by why they are denied.
DENIED_FILES: dict[str, tuple[str, ...]] = {
    "CI configuration": (
        ".gitlab-ci.yml", ".travis.yml", "jenkinsfile", "azure-pipelines.yml", "bitbucket-pipelines.yml",
        ".drone.yml", ".pre-commit-config.yaml", "codeowners", ".gitattributes", ".gitmodules",
    ),
    "a lockfile": (
        "*.lock", "package-lock.json", "npm-shrinkwrap.json", "pnpm-lock.yaml", "go.sum", "poetry.lock",
    ),
    "a manifest that declares dependencies": (
        "cargo.toml", "package.json", "pyproject.toml", "setup.py", "setup.cfg", "requirements*.txt", "pipfile",
        "go.mod", "gemfile", "composer.json", "pom.xml", "build.gradle*", "settings.gradle*", "rust-toolchain*",
        "deny.toml",
    ),
    "a secret or credential file": (
        ".env", ".env.*", "*.pem", "*.key", "*.p12", "*.pfx", "*.keystore", "id_rsa*", "id_ed25519*", "id_ecdsa*",
        ".npmrc", ".pypirc", ".netrc", "credentials*", "secrets.*", "*.secret", "*.secrets",
    ),
    "a build script": (
        "build.rs", "makefile", "gnumakefile", "*.mk", "*.sh", "*.bash", "*.zsh", "*.ps1", "*.bat", "*.cmd",
        "dockerfile*", "*.dockerfile", "justfile", "cmakelists.txt", "*.cmake", "conftest.py", "noxfile.py",
        "tox.ini",
    ),
}

# What a fix for a logged error never needs to introduce, and what injected instructions ask for: reading the
# environment (secrets live there), starting processes, opening network connections, or pulling files in at compile
# time. Matched only against text the replacement adds, so existing uses in the surrounding code do not block a fix.
SUSPICIOUS_CODE: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("reads environment variables", re.compile(r"\benv::var|\b(?:option_)?env!\(|\bos\.environ|\bgetenv\(")),
    ("starts a process", re.compile(r"\bprocess::Command|\bCommand::new|\bsubprocess\b|\bos\.system|\bos\.popen|\bos\.exec")),
    ("opens a network connection", re.compile(r"\bstd::net\b|\bTcpStream\b|\bUdpSocket\b|\breqwest\b|\bhyper::Client|\bsocket\.|\burllib\b|\brequests\.|\bhttp\.client")),
    ("includes files at compile time", re.compile(r"\binclude(?:_str|_bytes)?!\(")),
    ("evaluates code at run time", re.compile(r"\b(?:eval|exec|__import__)\(")),
    ("contains a redaction placeholder", re.compile(r"<(?:secret|email|card)-\d+>")),
)


@dataclass(frozen=True)
class Limits:
    """What a change may touch and how big it may be (``AIMON_AUTOFIX_PATHS``, ``_MAX_LINES``, ``_MAX_FILES``)."""

    allowed: tuple[str, ...] = ("src/**",)
    max_lines: int = 40
    max_files: int = 3


def glob_match(path: str, pattern: str) -> bool:
    """Whether a repository-relative POSIX path matches a glob where ``**`` spans folders and ``*`` does not."""
    return _glob_regex(pattern).fullmatch(path) is not None


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out = []
    parts = pattern.strip("/").split("/")
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            out.append(".*" if last else "(?:[^/]+/)*")
            continue
        piece = "".join("[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch) for ch in part)
        out.append(piece if last else piece + "/")
    return re.compile("".join(out))


def normalize(path: str) -> str | None:
    """The clean relative POSIX form of a path the model gave (``./src/a.rs`` → ``src/a.rs``), or None if unusable."""
    if not path or "\x00" in path or "\\" in path or path != path.strip():
        return None
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path) or path.startswith("~"):
        return None
    parts = [part for part in PurePosixPath(path).parts if part != "."]
    if not parts or any(part == ".." for part in parts):
        return None
    return "/".join(parts)


def check_path(root: Path, path: str, allowed: Sequence[str]) -> str | None:
    """Why ``path`` may not be edited in the repository at ``root`` (None: it may).

    Refuses absolute paths, ``..``, anything that resolves outside ``root`` or passes through a symlink (an edit
    must change the file it names), files outside the ``allowed`` globs, and the denied folders and files.
    """
    clean = normalize(path)
    if clean is None:
        return f"{path!r} is not a plain relative path inside the repository"
    denied = denied_reason(clean)
    if denied:
        return f"{clean} is {denied}, which autofix never changes"
    if not any(glob_match(clean, pattern) for pattern in allowed):
        return f"{clean} is outside the paths autofix may change ({', '.join(allowed)}; AIMON_AUTOFIX_PATHS)"
    base = root.resolve()
    target = base / clean
    walked = base
    for part in PurePosixPath(clean).parts:
        walked = walked / part
        if walked.is_symlink():
            return f"{clean} goes through the symlink {walked.relative_to(base)}, which autofix never follows"
    resolved = target.resolve()
    if not resolved.is_relative_to(base):
        return f"{clean} resolves outside the repository"
    if not resolved.is_file():
        return f"{clean} is not an existing file (autofix only edits existing files)"
    return None


def denied_reason(clean: str) -> str | None:
    """Which kind of protected file a clean relative path is (CI configuration, lockfile, …), or None."""
    parts = PurePosixPath(clean).parts
    for folder in parts[:-1]:
        if folder.lower() in DENIED_DIRS:
            return f"inside {folder}/ (CI, forge or toolchain configuration)"
    name = parts[-1].lower()
    for kind, patterns in DENIED_FILES.items():
        if any(fnmatchcase(name, pattern) for pattern in patterns):
            return kind
    return None


def changed_lines(before: str, after: str) -> int:
    """Lines added plus lines removed between two versions of a file."""
    count = 0
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0):
        if line.startswith(("+++", "---", "@@")):
            continue
        if line.startswith(("+", "-")):
            count += 1
    return count


def check_size(originals: Mapping[str, str], updated: Mapping[str, str], limits: Limits) -> str | None:
    """Why the change is too big (more files or changed lines than allowed), or None."""
    changed = [path for path, text in updated.items() if originals.get(path) != text]
    if len(changed) > limits.max_files:
        return f"the change touches {len(changed)} files, more than the {limits.max_files} allowed (AIMON_AUTOFIX_MAX_FILES)"
    lines = sum(changed_lines(originals[path], updated[path]) for path in changed)
    if lines > limits.max_lines:
        return f"the change has {lines} changed lines, more than the {limits.max_lines} allowed (AIMON_AUTOFIX_MAX_LINES)"
    return None


def check_code(search: str, replace: str) -> str | None:
    """Why a replacement's new text is refused (it reaches for the environment, processes, network…), or None."""
    search, replace = _squeeze(search), _squeeze(replace)
    for what, pattern in SUSPICIOUS_CODE:
        added = pattern.findall(replace)
        if len(added) > len(pattern.findall(search)):
            return f"the replacement {what} ({added[-1]!r}), which autofix never introduces"
    return None


def _squeeze(code: str) -> str:
    # Rust and Python allow blanks around `::`, `.`, `!` and before `(`: `std :: env :: var` must not slip through.
    return re.sub(r"\s*(::|\.|!|\()\s*", r"\1", code)


def check_edits(root: Path, edits: Iterable[tuple[str, str, str]], limits: Limits) -> str | None:
    """Every path and code check over ``(path, search, replace)`` edits, before any of them is applied."""
    for path, search, replace in edits:
        reason = check_path(root, path, limits.allowed) or check_code(search, replace)
        if reason:
            return reason
    return None
