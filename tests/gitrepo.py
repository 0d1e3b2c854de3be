"""Real git repositories for the autofix tests: a bare remote and a clone of it in a temp dir, with an empty git
configuration (no hooks, signing or identity from the machine running the tests)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def remote_and_clone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> Path:
    """``tmp_path/remote.git`` (bare, branch main) and its clone ``tmp_path/name``, which is returned."""
    empty = tmp_path / "gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for key in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{key}_NAME", "Dev")
        monkeypatch.setenv(f"GIT_{key}_EMAIL", "dev@example.com")
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", "remote.git")
    git(tmp_path, "clone", "--quiet", "remote.git", name)
    return tmp_path / name
