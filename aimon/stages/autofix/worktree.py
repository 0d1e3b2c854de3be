"""Git for autofix: a throw-away worktree of the user's checkout, the test command, the commit and the push.

The user's checkout is never touched: the worktree is detached (no local branch is created or moved), lives in a
temporary folder, and is removed whatever happens. The fix branch exists only on the remote, pushed as
``HEAD:refs/heads/<branch>``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from aimon.errors import ConfigError, RemoteError

GIT_TIMEOUT = 60.0  # seconds for local git commands
NETWORK_TIMEOUT = 120.0  # seconds for fetch, ls-remote and push
OUTPUT_TAIL = 4000  # characters of test output kept for the PR body

# Nothing git runs for us may ask for a password or open an editor: cron has no one to answer.
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_EDITOR": "true", "GIT_ASKPASS": "", "SSH_ASKPASS": "", "LC_ALL": "C"}


class GitError(Exception):
    """A git command failed; the message carries its (short) error output."""


def git(cwd: Path, *args: str, timeout: float = GIT_TIMEOUT, env: Mapping[str, str] | None = None) -> str:
    """Run ``git args`` in ``cwd`` and return its standard output; :class:`GitError` when it fails or times out."""
    full_env = {**os.environ, **_GIT_ENV, **(env or {})}
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} timed out after {timeout:.0f} s") from None
    except FileNotFoundError:
        raise ConfigError("git is not installed; autofix needs it (install git or set AIMON_AUTOFIX=off).") from None
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise GitError(f"git {args[0]} failed: {message[-1] if message else f'exit {done.returncode}'}")
    return done.stdout


def check_repo(repo_dir: Path | None) -> Path:
    """The top folder of the checkout at ``repo_dir``; a :class:`ConfigError` that says what to set otherwise."""
    if repo_dir is None:
        raise ConfigError("autofix needs the service's git checkout: set AIMON_REPO_DIR to it (or AIMON_AUTOFIX=off).")
    if not repo_dir.is_dir():
        raise ConfigError(f"AIMON_REPO_DIR={repo_dir} is not a folder. Point it at a git checkout of the service.")
    try:
        top = git(repo_dir, "rev-parse", "--show-toplevel").strip()
        git(repo_dir, "remote", "get-url", "origin")
    except GitError:
        raise ConfigError(
            f"AIMON_REPO_DIR={repo_dir} is not a git checkout with an 'origin' remote. Clone the service's repository "
            "there (autofix pushes its branch to origin)."
        ) from None
    return Path(top)


def default_branch(repo: Path, *, fetch: bool) -> tuple[str, str]:
    """``(branch name, commit)`` of the remote's default branch, fetched first when ``fetch`` is set."""
    try:
        if fetch:
            git(repo, "fetch", "--quiet", "origin", timeout=NETWORK_TIMEOUT)
        name = _remote_head(repo)
        commit = git(repo, "rev-parse", "--verify", f"refs/remotes/origin/{name}^{{commit}}").strip()
    except GitError as exc:
        raise RemoteError(f"cannot read the default branch of origin in {repo}: {exc}") from None
    return name, commit


def _remote_head(repo: Path) -> str:
    try:
        ref = git(repo, "symbolic-ref", "--quiet", "refs/remotes/origin/HEAD").strip()
        return ref.removeprefix("refs/remotes/origin/")
    except GitError:
        pass  # origin/HEAD is only set by clone; ask the remote itself
    listing = git(repo, "ls-remote", "--symref", "origin", "HEAD", timeout=NETWORK_TIMEOUT)
    match = re.search(r"^ref: refs/heads/(\S+)\s+HEAD", listing, re.MULTILINE)
    if not match:
        raise GitError("the remote does not say which branch is its default")
    return match.group(1)


def remote_branches(repo: Path, prefix: str) -> set[str]:
    """Names of the remote's branches that start with ``prefix`` (asked of the remote, not the local cache)."""
    try:
        listing = git(repo, "ls-remote", "--heads", "origin", f"refs/heads/{prefix}*", timeout=NETWORK_TIMEOUT)
    except GitError as exc:
        raise RemoteError(f"cannot list the branches of origin: {exc}") from None
    return {line.split("refs/heads/", 1)[1] for line in listing.splitlines() if "refs/heads/" in line}


@contextmanager
def worktree(repo: Path, commit: str) -> Iterator[Path]:
    """A detached worktree of ``repo`` at ``commit`` in a temporary folder, removed (and pruned) on exit."""
    holder = Path(tempfile.mkdtemp(prefix="aimon-autofix-"))
    path = holder / "worktree"
    try:
        git(repo, "worktree", "add", "--quiet", "--detach", str(path), commit)
        yield path
    finally:
        # It may not exist (add failed); the prune below forgets it either way.
        with suppress(GitError):
            git(repo, "worktree", "remove", "--force", str(path))
        shutil.rmtree(holder, ignore_errors=True)
        with suppress(GitError):
            git(repo, "worktree", "prune")


@dataclass(frozen=True)
class TestRun:
    """The outcome of the test command: passed or not, how long, and the tail of its combined output."""

    command: str
    passed: bool
    exit_code: int | None  # None: killed on timeout
    seconds: float
    output_tail: str
    timed_out: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "command": self.command,
            "passed": self.passed,
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 2),
            "timed_out": self.timed_out,
        }


# What a build and its tests need of the environment: where the toolchain is, and how to print text.
TEST_ENV_KEPT = (
    "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN",
    "CARGO_TARGET_DIR",
)
# Set for every test run (a name in the allowlist takes aimon's own value instead): cargo fetches nothing.
TEST_ENV_SET = {"CARGO_NET_OFFLINE": "true", "CARGO_TERM_COLOR": "never"}


def test_environment(environ: Mapping[str, str], passthrough: tuple[str, ...], hidden: tuple[str, ...]) -> dict[str, str]:
    """The clean environment of the test command: :data:`TEST_ENV_KEPT` and the ``passthrough`` names from
    ``environ``, over :data:`TEST_ENV_SET`; never a ``hidden`` name (aimon's credentials) nor an ``AIMON_*`` one.

    The code under test was written by a model: it gets no secret of aimon's and none of the service's (whatever the
    environment aimon runs in holds, DATABASE_URL included, is simply not there).
    """
    env = dict(TEST_ENV_SET)
    for name in (*TEST_ENV_KEPT, *passthrough):
        if name in environ and name not in hidden and not name.startswith("AIMON_"):
            env[name] = environ[name]
    return env


def run_tests(cwd: Path, command: str, timeout: float, env: Mapping[str, str]) -> TestRun:
    """Run ``command`` through the shell in ``cwd`` with exactly the environment ``env`` (see
    :func:`test_environment`); on timeout kill its whole process group."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            command, shell=True, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        timed_out = False
        try:
            code: int | None = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(process)
            code = None
        seconds = time.monotonic() - started
        output.seek(0, os.SEEK_END)
        output.seek(max(0, output.tell() - OUTPUT_TAIL * 4))
        tail = output.read().decode("utf-8", "replace")[-OUTPUT_TAIL:]
    return TestRun(command, code == 0, code, seconds, tail, timed_out)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    # The shell's children (cargo, rustc, test binaries) share its process group: end them all, not just the shell.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def commit_paths(cwd: Path, author: str, message: str, paths: Sequence[str]) -> str:
    """Commit the changes to ``paths`` only (never what the test command left around: ``target/``, caches, a lockfile
    it rewrote) as ``author`` (``Name <email>``), without hooks or signing; the commit id."""
    match = re.fullmatch(r"\s*(.+?)\s*<([^<>\s]+)>\s*", author)
    if not match:
        raise ConfigError(f"AIMON_GIT_AUTHOR={author!r} is not 'Name <email>'.")
    name, email = match.groups()
    identity = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}
    git(cwd, "add", "--", *paths)
    # Hooks and signing belong to the user's interactive setup: unattended, they could prompt or need a key.
    git(cwd, "-c", "commit.gpgsign=false", "commit", "--quiet", "--no-verify", "-m", message, env=identity)
    return git(cwd, "rev-parse", "HEAD").strip()


def push(cwd: Path, branch: str) -> None:
    """Push the worktree's HEAD to a new branch on origin (refusing to overwrite one that exists)."""
    try:
        # An empty expected value makes git refuse when the branch already exists, whatever it points at.
        lease = f"--force-with-lease=refs/heads/{branch}:"
        git(cwd, "push", "--quiet", "--no-verify", lease, "origin", f"HEAD:refs/heads/{branch}", timeout=NETWORK_TIMEOUT)
    except GitError as exc:
        raise RemoteError(f"pushing {branch} to origin failed: {exc}") from None


def delete_remote_branch(cwd: Path, branch: str) -> None:
    """Best effort: delete a branch we pushed moments ago and could not open a PR for."""
    with suppress(GitError):  # if it stays, the next attempt picks another name
        git(cwd, "push", "--quiet", "--no-verify", "origin", f":refs/heads/{branch}", timeout=NETWORK_TIMEOUT)
